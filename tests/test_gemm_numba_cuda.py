"""Numba CUDA GEMM without a GPU: the kernel in the CUDA simulator on tiny shapes, and PTX for sm_90.

The simulator must be switched on before numba.cuda is first imported, so it runs in a subprocess.
"""

import re

import numpy as np
import pytest

from kernels.gemm import numba_cuda, verify
from kernels.runtime import cuda as cuda_runtime
from tests import nvrtc, simulator

SIMULATED = """
import json
import numpy as np
from kernels.gemm import numba_cuda as backend, verify
rng = np.random.default_rng(0)
out = {"available": backend.available(), "devices": [d.kind for d in backend.devices()], "checks": []}
# One block with partial tiles, M = 1, and a 2 x 2 grid whose K is not a multiple of BK.
for m, n, k in ((19, 33, 21), (1, 5, 3), (130, 129, 9)):
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    c = backend.matmul(a, b)
    out["checks"].append([m, n, k, verify.check(c, a, b, "fp32").ok, type(c).__name__])
a, b = rng.standard_normal((7, 11)), rng.standard_normal((11, 6))
resident = backend.matmul(backend.to_device(a), backend.to_device(b))
backend.synchronize()
out["resident"] = [type(resident).__name__, verify.check(backend.to_host(resident), a, b, "fp32").ok]
print(json.dumps(out))
"""


def test_kernel_in_the_cuda_simulator():
    out = simulator.run_script(SIMULATED)
    assert out["available"] == [True, ""] and out["devices"] == ["simulator"]
    for m, n, k, ok, kind in out["checks"]:
        assert ok, (m, n, k)
        assert kind == "ndarray"  # host in, host out
    assert out["resident"] == ["FakeCUDAArray", True]  # device in, device out


def _nvvm() -> tuple[bool, str]:
    try:
        from numba.cuda.cudadrv import nvvm

        return (True, "") if nvvm.is_available() else (False, "NVVM (libnvvm) not found")
    except Exception as exc:  # noqa: BLE001 - numba-cuda missing or broken
        return False, f"numba-cuda not usable: {exc}"


@pytest.mark.skipif(not _nvvm()[0], reason=_nvvm()[1])
def test_ptx_for_sm_90_uses_shared_tiles_and_register_fmas():
    ptx = numba_cuda.ptx((9, 0))
    assert re.search(r"^\.target sm_90\b", ptx, re.M)
    assert len(re.findall(r"\bfma\.rn\.f32\b", ptx)) >= numba_cuda.TM * numba_cuda.TN
    assert "ld.shared.f32" in ptx and "st.shared.f32" in ptx and "bar.sync" in ptx
    assert not re.search(r"\b(ld|st)\.local\b", ptx), "the register tile spilled to local memory"
    sass = nvrtc.link_like_numba(ptx)  # what numba-cuda loads: nvJitLink's cubin, no driver JIT
    assert sass.spill_bytes == 0 and sass.local_bytes == 0, sass.log


def _real_gpu() -> tuple[bool, str]:
    if cuda_runtime.simulator_enabled():
        return False, "NUMBA_ENABLE_CUDASIM is set: no real GPU"
    return cuda_runtime.numba_cuda_status()


@pytest.mark.gpu
@pytest.mark.skipif(not _real_gpu()[0], reason=f"needs a CUDA GPU: {_real_gpu()[1]}")
def test_real_gpu_matches_numpy():
    rng = np.random.default_rng(1)
    for m, n, k in ((1, 4096, 4096), (1000, 1030, 517), (2048, 2048, 2048)):
        a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
        result = verify.check(numba_cuda.matmul(a, b), a, b, "fp32")
        assert result.ok, result.what

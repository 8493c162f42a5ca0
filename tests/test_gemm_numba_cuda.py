"""Numba CUDA GEMM without a GPU: the kernel in the CUDA simulator on tiny shapes, and PTX for sm_90.

The simulator must be switched on before numba.cuda is first imported, so it runs in a subprocess.
"""

import re

import numpy as np
import pytest

from kernels.gemm import numba_cuda, verify
from kernels.runtime import cuda as cuda_runtime
from tests import nvrtc, sass, simulator

SIMULATED = """
import json
import numpy as np
from kernels.gemm import numba_cuda as backend, verify
rng = np.random.default_rng(0)
out = {"available": backend.available(), "devices": [d.kind for d in backend.devices()], "checks": []}
# One block with partial tiles, M = 1, a 2 x 2 grid whose K is not a multiple of BK, and five K slices
# (the two shared buffers taking turns).
for m, n, k in ((19, 33, 21), (1, 5, 3), (130, 129, 9), (40, 20, 37)):
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    c = backend.matmul(a, b)
    out["checks"].append([m, n, k, verify.check(c, a, b, "fp32").ok, type(c).__name__])
# The skinny kernel (M <= SKINNY_M): one row, a partial strip, all 16 rows, K split over the grid (atomics).
for m, n, k in ((1, 40, 70), (5, 3, 1), (16, 33, 20), (2, 33, 600)):
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    c = backend.matmul(a, b)
    split = backend.skinny_split(n, k, 4)
    out["checks"].append([m, n, k, verify.check(c, a, b, "fp32").ok, type(c).__name__])
    out.setdefault("splits", []).append(split)
a, b = rng.standard_normal((3, 9)), rng.standard_normal((9, 10))  # the tiled kernel on a skinny product
c = backend.to_device(np.zeros((3, 10), dtype=np.float32))
backend.launch(backend.to_device(a), backend.to_device(b), c, tiled=True)
out["tiled_skinny"] = verify.check(backend.to_host(c), a, b, "fp32").ok
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
    assert out["splits"] == [1, 1, 1, 2] and out["tiled_skinny"]  # the last skinny case split K in two


def test_skinny_split_fills_the_gpu_only_with_enough_k_per_block():
    assert numba_cuda.skinny_split(49152, 576, 132) == 1  # 1536 strips: plenty of blocks already
    assert numba_cuda.skinny_split(576, 576, 132) == 2  # 18 strips: split, but K/2 = 288 >= 256
    assert numba_cuda.skinny_split(576, 1536, 132) == 6  # 6 slices of 256
    assert numba_cuda.skinny_split(576, 100, 132) == 1  # too little K to split
    assert numba_cuda.skinny_split(32, 10**6, 132) == 528  # one strip: 4 blocks per multiprocessor


def test_skinny_rows_round_up_to_a_compiled_bucket():
    assert [numba_cuda.skinny_rows(m) for m in (1, 2, 3, 5, 8, 9, 16)] == [1, 2, 4, 8, 8, 16, 16]


def _nvvm() -> tuple[bool, str]:
    try:
        from numba.cuda.cudadrv import nvvm

        return (True, "") if nvvm.is_available() else (False, "NVVM (libnvvm) not found")
    except Exception as exc:  # noqa: BLE001 - numba-cuda missing or broken
        return False, f"numba-cuda not usable: {exc}"


@pytest.mark.skipif(not _nvvm()[0], reason=_nvvm()[1])
def test_skinny_ptx_for_sm_90_keeps_its_sums_in_registers():
    ptx = numba_cuda.ptx((9, 0), kernel="skinny")
    assert re.search(r"^\.target sm_90\b", ptx, re.M)
    assert "red.global.add.f32" in ptx or "atom.global.add.f32" in ptx  # the K split's atomic sums
    assert "st.shared.f32" in ptx and "bar.sync" in ptx
    assert not re.search(r"\b(ld|st)\.local\b", ptx), "the skinny accumulators spilled to local memory"
    sass = nvrtc.link_like_numba(ptx)
    assert sass.spill_bytes == 0 and sass.local_bytes == 0, sass.log


@pytest.mark.skipif(not _nvvm()[0], reason=_nvvm()[1])
def test_ptx_for_sm_90_uses_shared_tiles_and_register_fmas():
    ptx = numba_cuda.ptx((9, 0))
    assert re.search(r"^\.target sm_90\b", ptx, re.M)
    assert len(re.findall(r"\bfma\.rn\.f32\b", ptx)) >= numba_cuda.TM * numba_cuda.TN
    assert "ld.shared" in ptx and "st.shared.f32" in ptx and "bar.sync" in ptx
    assert not re.search(r"\b(ld|st)\.local\b", ptx), "the register tile spilled to local memory"
    sass = nvrtc.link_like_numba(ptx)  # what numba-cuda loads: nvJitLink's cubin, no driver JIT
    assert sass.spill_bytes == 0 and sass.local_bytes == 0, sass.log


@pytest.mark.skipif(not _nvvm()[0], reason=_nvvm()[1])
@pytest.mark.skipif(sass.disassembler() is None, reason="pip install nvidia-cuda-cuobjdump (the test extra)")
def test_main_loop_is_mostly_fma_with_vector_shared_loads():
    """One K slice of the tiled kernel in SASS, linked as numba-cuda links it (its register limit): the
    slice written out (8 steps of 64 FFMA), each step's 8 + 8 operands in four LDS.128, and little else
    (the first version, a rolled loop of scalar loads and index arithmetic, was 38% FFMA: 8 TFLOP/s)."""
    linked = nvrtc.link_like_numba(numba_cuda.ptx((9, 0)), max_registers=numba_cuda.MAX_REGISTERS)
    assert linked.spill_bytes == 0 and linked.registers <= numba_cuda.MAX_REGISTERS, linked.log
    functions = sass.disassemble(linked.cubin)
    body = sass.loop_body(next(ins for name, ins in functions.items() if "sgemm" in name))
    ops = [i.opcode + i.modifiers for i in body]
    steps = numba_cuda.BK
    assert ops.count("FFMA") == steps * numba_cuda.TM * numba_cuda.TN
    assert ops.count("LDS.128") == steps * 4 and "LDS" not in ops  # no scalar shared loads left
    assert ops.count("FFMA") / len(ops) >= 0.7, len(ops)  # 512 of 709 (2-D signed indices: 755)


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

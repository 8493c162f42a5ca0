"""Every CUDA C source the CuPy backends load compiles, as CuPy compiles it (NVRTC), for every GPU generation
in tests/gpu_targets.py: the SHA-256d scan, the WMMA GEMM and the decoder's fused ops. The site case runs
GB300 (sm_103), and lab machines have RTX cards (sm_86 / sm_89 / sm_120) with less shared memory per block,
so the own GEMM kernel that runs by default must fit there too. No GPU needed; nothing here is a timing."""

from __future__ import annotations

import pytest

from kernels.gemm import cupy_cuda as gemm
from kernels.inference import cuda_ops
from kernels.sha256 import cupy_cuda as sha
from tests import nvrtc
from tests.gpu_targets import ARCHS, SHARED_OPTIN

pytestmark = pytest.mark.skipif(nvrtc.nvrtc() is None,
                                reason="cuda-bindings (NVRTC) not installed; pip install 'numba-cuda[cu13]'")

SOURCES = {  # name -> (source, NVRTC options of its RawModule, entry points)
    "sha256d": (sha.module_source, sha.module_options, ("sha256d_scan", "sha256_batch")),
    "gemm_wmma": (lambda: gemm.SOURCE.read_text(encoding="utf-8"), lambda: gemm.WMMA_OPTIONS,
                  tuple(name for tile in ("wmma", "wmma-wide") for name in gemm.WMMA_TILES[tile].functions.values())),
    "decoder_ops": (lambda: cuda_ops.SOURCE.read_text(encoding="utf-8"), lambda: ("-std=c++17",),
                    ("rms_norm", "rope_store", "attend_one", "swiglu")),
}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_cuda_source_compiles_for_each_gpu_generation(name, arch):
    source, options, entries = SOURCES[name]
    built = nvrtc.compile_like_cupy(source(), options(), arch=arch)
    assert built.ok, (arch, built.options, built.log)
    assert built.cubin_bytes > 0 and f".target {arch}" in built.ptx
    for entry in entries:
        assert f".entry {entry}" in built.ptx, (arch, entry)
    assert "ld.local" not in built.ptx and "st.local" not in built.ptx, arch  # no stack arrays on any target

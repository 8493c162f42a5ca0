"""CuPy GEMM: the own tensor-core kernel compiles with nvcc for sm_90; bf16 conversion; cuBLAS and the
kernel for real where a GPU and CuPy exist (marked `gpu`)."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from kernels.gemm import cupy_cuda, verify
from tests import nvrtc
from tests.gpu_targets import SHARED_OPTIN

NVCC = shutil.which("nvcc")


@pytest.fixture(scope="module")
def sm90_ptx(tmp_path_factory):
    if NVCC is None:
        pytest.skip("nvcc not found (install the CUDA toolkit to compile-check the .cu source)")
    out = tmp_path_factory.mktemp("wmma")
    cmd = [NVCC, "-arch=sm_90", "-std=c++17", "-Xptxas", "-v", "-c", str(cupy_cuda.SOURCE), "-o", str(out / "k.o")]
    build = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    ptx = subprocess.run([NVCC, "-arch=sm_90", "-std=c++17", "-ptx", str(cupy_cuda.SOURCE), "-o", str(out / "k.ptx")],
                         capture_output=True, text=True, timeout=300)
    assert ptx.returncode == 0, ptx.stderr
    return build.stderr, (out / "k.ptx").read_text()


WMMA_NAMES = [name for tile in cupy_cuda.WMMA_TILES.values() if tile.source == cupy_cuda.SOURCE
              for name in tile.functions.values()]


def test_wmma_source_compiles_for_sm_90_without_spills(sm90_ptx):
    ptxas_log, _ = sm90_ptx
    for name in WMMA_NAMES:  # both tile shapes, bf16 and fp16
        assert f"Compiling entry function '{name}' for 'sm_90'" in ptxas_log
    assert "0 bytes spill stores, 0 bytes spill loads" in ptxas_log
    assert "bytes spill stores" in ptxas_log and not re.search(r"[1-9]\d* bytes spill", ptxas_log)
    registers = [int(n) for n in re.findall(r"Used (\d+) registers", ptxas_log)]
    assert len(registers) == len(WMMA_NAMES) and max(registers) <= 255, registers


def test_wmma_ptx_uses_tensor_cores_and_async_copies(sm90_ptx):
    _, ptx = sm90_ptx
    assert "wmma.mma.sync.aligned.row.row.m16n16k16.f32.bf16.bf16.f32" in ptx
    assert "wmma.mma.sync.aligned.row.row.m16n16k16.f32.f32" in ptx  # the fp16 kernel, fp32 accumulate
    assert "cp.async.cg.shared.global" in ptx and "cp.async.wait_group" in ptx


@pytest.mark.skipif(nvrtc.nvrtc() is None, reason="cuda-bindings (NVRTC) not installed; pip install 'numba-cuda[cu13]'")
def test_wmma_source_compiles_with_nvrtc_as_cupy_does():
    """CuPy's RawModule uses NVRTC and the CUDA headers next to libnvrtc (the pip wheels' include folder):
    <mma.h> there needs crt/mma.h from nvidia-cuda-crt, which the cuda and test extras install."""
    built = nvrtc.compile_like_cupy(cupy_cuda.SOURCE.read_text(encoding="utf-8"), cupy_cuda.WMMA_OPTIONS)
    assert built.ok, (built.options, built.log)
    assert built.cubin_bytes > 0
    for name in WMMA_NAMES:
        assert f".entry {name}" in built.ptx
    assert "wmma.mma.sync.aligned.row.row.m16n16k16.f32.bf16.bf16.f32" in built.ptx


@pytest.mark.parametrize(("kernel", "stages"), [("wmma", 3), ("wmma-wide", 4)])
def test_shared_memory_size_matches_the_tiles(kernel, stages):
    bm, bn, threads = cupy_cuda.WMMA_TILES[kernel].block
    bk, pad = 32, 8
    assert cupy_cuda.wmma_shared_bytes(kernel) == stages * (bm * (bk + pad) + bk * (bn + pad)) * 2
    assert cupy_cuda.wmma_shared_bytes(kernel) <= 227 * 1024  # fits an H100 block (opt-in maximum)
    assert threads == 256  # 8 warps, as gemm_wmma.cu's THREADS


@pytest.mark.skipif(nvrtc.nvrtc() is None, reason="cuda-bindings (NVRTC) not installed; pip install 'numba-cuda[cu13]'")
def test_wide_wmma_kernel_compiles_for_sm_100_too():
    built = nvrtc.compile_like_cupy(cupy_cuda.SOURCE.read_text(encoding="utf-8"), cupy_cuda.WMMA_OPTIONS,
                                    arch="sm_100")
    assert built.ok, (built.options, built.log)
    for name in cupy_cuda.WMMA_TILES["wmma-wide"].functions.values():
        assert f".entry {name}" in built.ptx


def test_bf16_rounds_to_nearest_even():
    x = np.array([1.0, -2.5, 1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-9, 3.0e38, 1e-40], dtype=np.float32)
    back = cupy_cuda.bf16_to_float32(cupy_cuda.bf16_bits(x))
    # 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even mantissa (1.0) wins; 1 + 3*2^-8 rounds up to even.
    np.testing.assert_array_equal(back[:5], np.array([1.0, -2.5, 1.0, 1 + 2**-6, 1.0], np.float32))
    assert abs(back[5] / x[5] - 1) <= 2**-8
    rng = np.random.default_rng(0)
    y = rng.standard_normal(10_000).astype(np.float32)
    rel = np.abs(cupy_cuda.bf16_to_float32(cupy_cuda.bf16_bits(y)) - y) / np.abs(y)
    assert rel.max() <= 2**-8  # half an ulp of an 8-bit significand


def test_16_bit_rows_are_padded_to_16_bytes():
    host = np.arange(15, dtype=np.float32).reshape(3, 5)
    padded = cupy_cuda._padded_host(host, "fp16")
    assert padded.shape == (3, 8) and padded.dtype == np.float16 and not padded[:, 5:].any()
    assert cupy_cuda._padded_host(host, "fp32") is host
    assert cupy_cuda._padded_host(host, "bf16").dtype == np.uint16


@pytest.mark.parametrize("cc", sorted(SHARED_OPTIN))
def test_own_kernels_run_where_their_target_and_shared_memory_allow(monkeypatch, cc):
    """Without a GPU: each generation's compute capability and opt-in shared memory faked. The default own
    kernel runs on every one; wmma-wide's 4 stages (106 KiB) not on the 99 KiB cards; wgmma on sm_90 alone;
    a kernel that cannot run is refused by name with the fix, before anything reaches the GPU."""
    monkeypatch.setattr(cupy_cuda, "_capability", lambda device: cc)
    monkeypatch.setattr(cupy_cuda, "shared_bytes_per_block", lambda device: SHARED_OPTIN[cc])
    assert cupy_cuda.kernel_problem(0, "wmma") is None and cupy_cuda.dtypes(0, "own") == cupy_cuda.WMMA_DTYPES
    wide = cupy_cuda.kernel_problem(0, "wmma-wide")
    assert (wide is None) == (SHARED_OPTIN[cc] >= cupy_cuda.wmma_shared_bytes("wmma-wide")), wide
    for kernel in cupy_cuda.HOPPER_KERNELS:
        assert (cupy_cuda.kernel_problem(0, kernel) is None) == (cc == 90)
        assert (cupy_cuda.dtypes(0, kernel) == cupy_cuda.WMMA_DTYPES) == (cc == 90)
    for kernel in (k for k in cupy_cuda.WMMA_TILES if cupy_cuda.kernel_problem(0, k)):
        with pytest.raises(ValueError, match=rf"cupy:0: {kernel} (runs|needs) .*kernel='own'"):
            cupy_cuda.matmul(np.ones((2, 2)), np.ones((2, 2)), dtype="bf16", kernel=kernel)
    if cc == 120:
        assert cupy_cuda.kernel_problem(0, "wmma-wide") == (
            "wmma-wide needs 108544 bytes of shared memory per block; this GPU (sm_120) allows 101376")


def test_cublas_types_are_explicit():
    assert cupy_cuda.CUBLAS_TYPES["fp32"][1] == cupy_cuda.CUBLAS_COMPUTE_32F  # never TF32 by accident
    assert cupy_cuda.CUBLAS_TYPES["tf32"][1] == cupy_cuda.CUBLAS_COMPUTE_32F_FAST_TF32
    assert {c for _, c in cupy_cuda.CUBLAS_TYPES.values()} <= {68, 77}


def test_unavailable_without_cupy_says_why():
    ok, reason = cupy_cuda.available()
    if not ok:
        assert "cupy" in reason and cupy_cuda.devices() == []


def _gpu() -> tuple[bool, str]:
    return cupy_cuda.available()


def _tried(kernel: str, dtype: str) -> None:
    """A Hopper kernel's first run on this GPU is its trial in a child process: a hang or a fault there
    fails this test with the reason instead of stopping or poisoning the test process."""
    problem = cupy_cuda.trial_problem(0, dtype, kernel)
    assert problem is None, f"{kernel} {dtype} failed its trial: {problem}"


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu()[0], reason=f"needs CuPy and a CUDA GPU: {_gpu()[1]}")
@pytest.mark.parametrize("kernel", cupy_cuda.KERNELS)
def test_real_gpu_matches_numpy(kernel):
    rng = np.random.default_rng(2)
    for dtype in cupy_cuda.dtypes(0, kernel):
        _tried(kernel, dtype)
        # the last: more 128 x 256 tiles than an H100 has SMs, so a persistent kernel's blocks take several
        for m, n, k in ((1, 4096, 4096), (37, 131, 67), (1000, 1030, 517), (2048, 2048, 2048), (2500, 3100, 300)):
            a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
            result = verify.check(cupy_cuda.matmul(a, b, dtype=dtype, kernel=kernel), a, b, dtype)
            assert result.ok, (kernel, dtype, result.what)


@pytest.mark.gpu
@pytest.mark.skipif(not _gpu()[0], reason=f"needs CuPy and a CUDA GPU: {_gpu()[1]}")
def test_real_gpu_resident_operands_chain():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((5, 300)), rng.standard_normal((300, 77))
    for kernel in (k for k in cupy_cuda.KERNELS if "bf16" in cupy_cuda.dtypes(0, k)):  # wgmma: Hopper only
        _tried(kernel, "bf16")
        wd = cupy_cuda.to_device(w, dtype="bf16")
        y = cupy_cuda.matmul(cupy_cuda.to_device(x, dtype="bf16"), wd, dtype="bf16", kernel=kernel)
        assert isinstance(y, cupy_cuda.CupyMatrix) and y.shape == (5, 77)
        z = cupy_cuda.matmul(y, cupy_cuda.to_device(np.eye(77), dtype="bf16"), dtype="bf16", kernel=kernel)
        np.testing.assert_array_equal(cupy_cuda.to_host(z), cupy_cuda.to_host(y))

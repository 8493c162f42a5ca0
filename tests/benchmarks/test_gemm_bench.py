"""GEMM benchmarks: numba-cpu and OpenCL against OpenBLAS in the same process, decode-shaped products with
resident weights, and (marked gpu) cuBLAS against the own CUDA kernels.

Targets (issue 4; figures, never assertions): numba-cpu fp32 2048^3 >= 0.5x OpenBLAS in the same run
(goal 0.8x); opencl on PoCL >= 30 GFLOP/s; H100: cuBLAS bf16 8192^3 >= 750 TFLOP/s, own tensor-core
kernel >= 0.5x cuBLAS bf16, numba-cuda fp32 >= 0.5x cuBLAS fp32. Run with
`pytest tests/benchmarks/test_gemm_bench.py --benchmark-enable` (the figures are printed at the end);
without it the same code runs once on small inputs, as a test. The vendor library is timed in the same
test, interleaved with ours (best of ROUNDS each), because the machine is shared and its speed drifts.
"""

import time

import numpy as np
import pytest

from kernels.gemm import numba_cpu, numpy_blas, opencl, verify
from tests import opencl_devices

ROUNDS = 5


def _best(call, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def _operands(m, n, k, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k), dtype=dtype), rng.standard_normal((k, n), dtype=dtype)


def _versus_blas(benchmark, figures, name, ours, blas, flop, rounds):
    """Benchmark `ours`, then time ours and BLAS interleaved; record both rates and their ratio."""
    benchmark.pedantic(ours, rounds=rounds, warmup_rounds=1)
    figures.rate(name, flop, "FLOP/s")
    if not benchmark.enabled:
        return
    ours_s, blas_s = float("inf"), float("inf")
    for _ in range(rounds):
        ours_s = min(ours_s, _best(ours, 1))
        blas_s = min(blas_s, _best(blas, 1))
    figures.record(f"{name}_interleaved", flop / ours_s, "FLOP/s")
    figures.record(f"{name}_openblas_interleaved", flop / blas_s, "FLOP/s")
    figures.record(f"{name}_ratio_to_openblas", blas_s / ours_s, "x")


@pytest.mark.parametrize("n_full", [1024, 2048])
@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
def test_numba_cpu_square_vs_openblas(benchmark, figures, size, n_full, dtype):
    n = size(96, n_full)
    a, b = _operands(n, n, n, verify.HOST[dtype])
    c = numba_cpu.matmul(a, b, dtype=dtype)  # compile or load from the cache
    assert verify.check(c, a, b, dtype).ok
    _versus_blas(benchmark, figures, f"numba_cpu_{dtype}_{n}", lambda: numba_cpu.matmul(a, b, dtype=dtype),
                 lambda: numpy_blas.matmul(a, b, dtype=dtype), 2 * n**3, size(1, ROUNDS))
    benchmark.extra_info["blas"] = numpy_blas.blas_info()


@pytest.mark.parametrize("m", [1, 16, 128])
def test_numba_cpu_llama_projection_with_resident_weight(benchmark, figures, size, m):
    """Llama-3-8B gate projection (4096 -> 14336) with the weight packed once, as the decoder runs it."""
    k, n = size((256, 512), (4096, 14336))
    x, w = _operands(m, n, k)
    resident = numba_cpu.to_device(w)
    assert verify.check(numba_cpu.matmul(x, resident), x, w, "fp32").ok
    _versus_blas(benchmark, figures, f"numba_cpu_resident_m{m}_{k}x{n}", lambda: numba_cpu.matmul(x, resident),
                 lambda: x @ w, 2 * m * n * k, size(1, ROUNDS))


@pytest.mark.parametrize("device", opencl_devices.params())
@pytest.mark.parametrize("n_full", [1024, 2048])
def test_opencl_square_vs_openblas(benchmark, figures, size, n_full, device):
    """Every OpenCL device that builds (target: >= 0.5x OpenBLAS at 2048^3 on the same CPU)."""
    device = opencl_devices.checked(device)
    n = size(96, n_full)
    a, b = _operands(n, n, n)
    ad, bd = opencl.to_device(a, device=device), opencl.to_device(b, device=device)
    assert verify.check(opencl.to_host(opencl.matmul(ad, bd, device=device)), a, b, "fp32").ok  # builds; packs B

    def ours():
        opencl.matmul(ad, bd, device=device)
        opencl.synchronize(device)

    _versus_blas(benchmark, figures, f"opencl{device}_fp32_{n}", ours, lambda: a @ b, 2 * n**3, size(1, ROUNDS))
    lay = opencl.layout(device)
    benchmark.extra_info["opencl_layout"] = lay.options or lay.variant
    benchmark.extra_info["opencl_device"] = next(d.driver for d in opencl.devices() if d.index == device)


# --- GPUs (run where a GPU machine is at hand) -----------------------------------------------------


def _cupy_gpu():
    from kernels.gemm import cupy_cuda

    return cupy_cuda.available()


def _gpu_rate(matmul, a, b, flop, rounds=10):
    """FLOP/s of `matmul(a, b)` on device operands, timed with CUDA events around `rounds` calls."""
    import cupy

    matmul(a, b)
    cupy.cuda.get_current_stream().synchronize()
    start, end = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    for _ in range(rounds):
        matmul(a, b)
    end.record()
    end.synchronize()
    return flop * rounds / (cupy.cuda.get_elapsed_time(start, end) / 1e3)


@pytest.mark.gpu
@pytest.mark.skipif(not _cupy_gpu()[0], reason=f"needs CuPy and a CUDA GPU: {_cupy_gpu()[1]}")
@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_cublas_vs_own_tensor_core_kernel(figures, size, benchmark, dtype):
    from kernels.gemm import cupy_cuda

    n = size(1024, 8192)
    a, b = _operands(n, n, n)
    ad, bd = cupy_cuda.to_device(a, dtype=dtype), cupy_cuda.to_device(b, dtype=dtype)
    kernels = [k for k in cupy_cuda.KERNELS if dtype in cupy_cuda.dtypes(0, k)]  # wgmma: Hopper only
    wrong = {}
    for kernel in kernels:  # cuBLAS, and each own kernel: every one checked before any is timed
        problem = cupy_cuda.trial_problem(0, dtype, kernel)  # a Hopper kernel's first run: a child process
        if problem is not None:
            wrong[kernel] = problem
            continue
        got = cupy_cuda.to_host(cupy_cuda.matmul(ad, bd, dtype=dtype, kernel=kernel))
        rows = verify.sample_rows(n, 64)
        error = verify.max_rel_error(got[rows], a[rows], b)
        if not error <= verify.tolerance(dtype, n):
            wrong[kernel] = error
    cublas = _gpu_rate(lambda x, y: cupy_cuda.matmul(x, y, dtype=dtype), ad, bd, 2 * n**3)
    figures.benchmark.extra_info["n"] = n
    figures.record(f"cublas_{dtype}_{n}", cublas, "FLOP/s")
    for kernel in cupy_cuda.WMMA_TILES:  # "wmma" (128 x 128), "wmma-wide" (128 x 256), "wgmma*" (Hopper)
        if kernel not in kernels or kernel in wrong:
            continue
        own = _gpu_rate(lambda x, y, k=kernel: cupy_cuda.matmul(x, y, dtype=dtype, kernel=k), ad, bd, 2 * n**3)
        figures.record(f"{kernel}_{dtype}_{n}", own, "FLOP/s")
        figures.record(f"{kernel}_{dtype}_ratio_to_cublas", own / cublas, "x")
    chosen = cupy_cuda.own_kernel(0, dtype)
    figures.record(f"own_{dtype}_kernel_is_wgmma", float(chosen in cupy_cuda.OWN_HOPPER_ORDER), "bool")
    figures.record(f"own_{dtype}_kernel_is_wgmma_tma", float(chosen == "wgmma-tma"), "bool")
    assert not wrong, f"wrong results (max relative error by kernel): {wrong}"


@pytest.mark.gpu
@pytest.mark.skipif(not _cupy_gpu()[0], reason=f"needs CuPy and a CUDA GPU: {_cupy_gpu()[1]}")
def test_numba_cuda_vs_cublas_fp32(figures, size, benchmark):
    from numba import cuda

    from kernels.gemm import cupy_cuda, numba_cuda

    n = size(1024, 8192)
    a, b = _operands(n, n, n)
    rows = verify.sample_rows(n, 64)
    nd_a, nd_b = numba_cuda.to_device(a), numba_cuda.to_device(b)
    assert verify.max_rel_error(numba_cuda.to_host(numba_cuda.matmul(nd_a, nd_b))[rows], a[rows], b) <= verify.tolerance("fp32", n)
    c = cuda.device_array((n, n), np.float32)
    ours = _gpu_rate(lambda x, y: numba_cuda.launch(x, y, c), nd_a, nd_b, 2 * n**3)
    cd_a, cd_b = cupy_cuda.to_device(a), cupy_cuda.to_device(b)
    cublas = _gpu_rate(lambda x, y: cupy_cuda.matmul(x, y), cd_a, cd_b, 2 * n**3)
    figures.record(f"numba_cuda_fp32_{n}", ours, "FLOP/s")
    figures.record(f"cublas_fp32_{n}", cublas, "FLOP/s")
    figures.record("numba_cuda_fp32_ratio_to_cublas", ours / cublas, "x")

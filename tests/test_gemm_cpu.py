"""The CPU GEMM backends for real: NumPy/BLAS and the Numba packed micro-kernel, on awkward shapes."""

import re

import numpy as np
import pytest

from kernels.gemm import numba_cpu, numpy_blas, verify
from kernels.runtime import cpu

BACKENDS = [numpy_blas, numba_cpu]
# Tile edges of the micro-kernel (8x32 / 8x16 on AVX-512, 6x16 / 6x8 on AVX2), M = 1 decode, K = 1, N = 1,
# narrow N, a K that spans several KC chunks, and rows left over after the last full row group.
SHAPES = [(1, 1, 1), (1, 1024, 512), (8, 32, 64), (9, 33, 65), (97, 131, 67), (5, 3, 7), (64, 1, 300),
          (300, 5, 40), (17, 40, 1), (3, 70, 600), (130, 260, 520)]


def _operands(m, n, k, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__.rsplit(".", 1)[1])
@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_matches_numpy_float64(backend, dtype, m, n, k):
    a, b = _operands(m, n, k)
    c = backend.matmul(a, b, dtype=dtype)
    assert c.shape == (m, n) and c.dtype == verify.HOST[dtype]
    result = verify.check(c, a, b, dtype)
    assert result.ok, result.what


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__.rsplit(".", 1)[1])
def test_non_contiguous_inputs_are_copied(backend):
    a, b = _operands(70, 45, 90)
    at, bt = np.asfortranarray(a), b.T.copy().T  # column-major A; B as a transposed view
    strided = np.zeros((140, 90))[::2]
    strided[:] = a
    for x, y in ((at, bt), (strided, b)):
        assert not x.flags.c_contiguous
        result = verify.check(backend.matmul(x, y, dtype="fp64"), a, b, "fp64")
        assert result.ok, result.what


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__.rsplit(".", 1)[1])
def test_resident_operands_give_the_same_product(backend):
    a, b = _operands(33, 100, 77, seed=3, dtype=np.float32)
    w = backend.to_device(b, dtype="fp32")
    x = backend.to_device(a, dtype="fp32")
    expected = backend.matmul(a, b)
    for lhs, rhs in ((a, w), (x, w), (x, b)):
        c = backend.to_host(backend.matmul(lhs, rhs, dtype="fp32"))
        np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(backend.to_host(w), b)
    backend.synchronize()


def test_numba_resident_b_is_packed_once_and_reused():
    a, b = _operands(1, 96, 64, dtype=np.float32)
    w = numba_cpu.to_device(b)
    nr = numba_cpu.NR["fp32"]
    assert w.packed.shape == (-(-96 // nr), 64, nr)  # 96 columns in NR-wide panels (32 on AVX-512, 16 on AVX2)
    w.packed[:] = 0  # the product must come from the packed panels, not from the array
    assert not numba_cpu.matmul(a, w).any()
    narrow = numba_cpu.to_device(b[:, :3])
    assert narrow.packed.shape == (3, 64)  # N <= NARROW_N: kept transposed for dot products
    with pytest.raises(ValueError, match="resident as fp32; call matmul with dtype='fp32'"):
        numba_cpu.matmul(a.astype(np.float64), w, dtype="fp64")


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.__name__.rsplit(".", 1)[1])
def test_bad_inputs_raise_value_errors_that_say_what(backend):
    a, b = _operands(4, 6, 5)
    name = "numpy" if backend is numpy_blas else "numba-cpu"
    with pytest.raises(ValueError, match=r"A is 4x5 but B is 4x5"):
        backend.matmul(a, a)
    with pytest.raises(ValueError, match=f"{name}:0 has no fp16; it has fp64, fp32"):
        backend.matmul(a, b, dtype="fp16")
    with pytest.raises(ValueError, match="unknown GEMM dtype 'float32'"):
        backend.matmul(a, b, dtype="float32")
    with pytest.raises(ValueError, match="2-D"):
        backend.matmul(a[None], b)
    with pytest.raises(ValueError, match="B has dtype complex128"):
        backend.matmul(a, b.astype(complex))
    with pytest.raises(ValueError, match=f"{name}: no device 3; devices here: {name}:0"):
        backend.matmul(a, b, device=3)


def test_cpu_backends_list_the_host():
    for backend in BACKENDS:
        assert backend.available() == (True, "")
        assert backend.devices() == cpu.devices()
        assert backend.dtypes() == ("fp64", "fp32")


def test_blas_info_names_the_library():
    info = numpy_blas.blas_info()
    assert "threads" in info or "unknown BLAS" in info


@pytest.mark.skipif("avx512f" not in cpu.cpu_flags(), reason="needs an AVX-512 CPU")
@pytest.mark.parametrize("dtype,suffix", [("fp32", "ps"), ("fp64", "pd")])
def test_micro_kernel_is_zmm_fma(dtype, suffix):
    asm = numba_cpu.micro_kernel_asm(dtype)
    fmas = re.findall(rf"vfmadd\w*{suffix}\s+%zmm\d+, %zmm\d+, %zmm\d+", asm)
    assert len(fmas) >= 2 * numba_cpu.MR  # one per zmm accumulator per step of K (LLVM may unroll)
    assert not re.search(r"vfmadd\w*\s+[^\n]*%ymm", asm)
    hot = asm[asm.index("vfmadd") : asm.rindex("vfmadd")]
    assert not re.search(r"\(%rsp\)[^\n]*%zmm|%zmm[^\n]*\(%rsp\)", hot), "accumulators spilled to the stack"


@pytest.mark.skipif(not ({"avx2", "fma"} <= set(cpu.cpu_flags()) and numba_cpu.PACKED_A),
                    reason="the IR tile's register check is for AVX2 hosts without AVX-512")
@pytest.mark.parametrize("dtype,suffix", [("fp32", "ps"), ("fp64", "pd")])
def test_ir_tile_is_ymm_fma_without_spills(dtype, suffix):
    """6 x 16 (fp32) / 6 x 8 (fp64) on AVX2: 12 ymm FMAs per step of K (LLVM may unroll), no accumulator
    on the stack (the scalar template spilled 166 moves on Zen 3), A broadcast from one packed pointer."""
    asm = numba_cpu.micro_kernel_asm(dtype)
    fmas = re.findall(rf"vfmadd\w*{suffix}\s+%ymm\d+, %ymm\d+, %ymm\d+", asm)
    assert len(fmas) >= 2 * numba_cpu.MR and len(fmas) % (2 * numba_cpu.MR) == 0
    hot = asm[asm.index("vfmadd") : asm.rindex("vfmadd")]
    assert not re.search(r"\(%rsp\)", hot), "the hot loop touches the stack"
    broadcasts = re.findall(r"vbroadcasts[sd]\s+(-?\d*)\((%r\w+)\)", hot)
    assert len({base for _, base in broadcasts}) == 1  # constant offsets from one pointer, no chain of adds


@pytest.mark.parametrize("width", [4, 8, 16])
@pytest.mark.parametrize("nbytes", [4, 8])
def test_ir_tile_computes_the_tile_at_every_width(width, nbytes):
    """cpu_tile on packed strips at 128-, 256- and 512-bit widths (LLVM splits what the host lacks), full
    and shorter heights on 6-wide strips, storing and adding, into a tile inside a larger C."""
    from numba import njit

    from kernels.gemm import cpu_tile

    dtype = np.float32 if nbytes == 4 else np.float64
    rng = np.random.default_rng(width + nbytes)
    kc, strip, nr = 37, 6, 2 * width
    a = rng.standard_normal((kc, strip)).astype(dtype)
    b = rng.standard_normal((kc, nr)).astype(dtype)
    for h in (6, 4, 1):
        tile = cpu_tile.make(h, width, nbytes, strip)
        run = njit(lambda kc, a, b, c, ci, cj, first: tile(kc, a, b, c, ci, cj, first))
        c = np.full((h + 3, nr + 5), 7.0, dtype)
        run(kc, a, b, c, 2, 3, True)
        want = a[:, :h].T.astype(np.float64) @ b
        np.testing.assert_allclose(c[2 : 2 + h, 3 : 3 + nr], want, rtol=1e-5, atol=1e-5)
        run(kc, a, b, c, 2, 3, False)
        np.testing.assert_allclose(c[2 : 2 + h, 3 : 3 + nr], 2 * want, rtol=1e-5, atol=1e-5)
        c[2 : 2 + h, 3 : 3 + nr] = 7.0
        assert (c == 7.0).all()  # nothing outside the tile was written
        run(0, a, b, c, 2, 3, True)  # an empty K chunk stores zeros
        assert not c[2 : 2 + h, 3 : 3 + nr].any()

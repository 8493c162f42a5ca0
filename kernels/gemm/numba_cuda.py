"""fp32 GEMM in Numba CUDA: shared-memory block tiles and a register tile per thread.

One block of 256 threads computes a 128 x 128 tile of C. K advances BK = 8 at a time through two shared
buffers: while the block multiplies slice t out of one, each thread already holds its 4 + 4 elements of
slice t+1 in registers (loaded before the FMAs, so their latency hides behind them) and stores them into
the other buffer after; one barrier per slice. A slice of A is stored transposed (rows padded by 4 floats
against bank conflicts), B as it is. Each thread owns an 8 x 8 register tile: rows 4ty..4ty+3 and
64+4ty..64+4ty+3, columns alike, so each of its 8 K steps reads its 8 + 8 operands as four 16-byte
shared loads (LDS.128; the arrays are 16-byte aligned and the thread indices masks and shifts, which is
what lets LLVM merge them) for 64 FMAs. The 8 steps are written out (`_unrolled`: a loop left rolled
recomputes every address per step). A and B are read as flat arrays through unsigned offsets worked out
once per thread (signed 2-D indices cost a wraparound check and 64-bit index arithmetic per load): SASS of
one slice is 512 FFMA of about 709 instructions, 128 registers (two blocks per SM). Loads past the edge
of A or B read zeros and stores past the edge of C are skipped, so any shape works.

A product with at most SKINNY_M rows (decode: one row per sequence of the batch) takes a GEMV-like
kernel instead (`_skinny_for`, compiled per row bucket 1/2/4/8/16): a block covers 32 columns of C with 32 x 8 threads, each warp reading 32
consecutive floats of one row of B (128 coalesced bytes) while its 8 thread rows split K; the rows of A
are broadcast loads. Partial sums meet in shared memory; when C has too few 32-column strips to fill
the GPU, K is also split over the grid (`skinny_split`) and the strips' sums are added atomically into
a zeroed C. It reads B once, which is all a small-M product can hope for.

numba-cuda is optional: it is imported inside functions. Set NUMBA_ENABLE_CUDASIM=1 before numba.cuda is
first imported to run this on the CPU simulator (slow: tiny shapes only). `ptx()` compiles the kernel
for a GPU architecture without needing a GPU.
"""

from __future__ import annotations

import inspect
import textwrap
from functools import lru_cache

import numpy as np
from numba import boolean, float32, int64, uint64

from kernels.gemm import shapes, verify
from kernels.runtime import Traits, parse_device_index
from kernels.runtime import cuda as runtime
from kernels.runtime.events import numba_event_timer

TRAITS = Traits("gpu", kernel="Numba CUDA shared-memory tiles, 8x8 per thread", event_timer=numba_event_timer,
                cuda=True, resident_operands=True, run_dtypes=("fp32",))

DTYPES = ("fp32",)
BM, BN, BK = 128, 128, 8  # C tile per block; K per shared-memory stage
TM, TN = 8, 8  # C values per thread (rows, columns)
TY, TX = BM // TM, BN // TN  # threads per block along rows and columns: 16 x 16
THREADS = TX * TY
PAD = 4  # extra floats per row of the transposed A tile: its stores then hit 32 different banks
A_TILE = BM + PAD  # (shared-array shapes must be plain constants)
SHARED_ALIGN = 16  # bytes: lets LLVM merge 4 adjacent shared loads into one ld.shared.v4 (LDS.128)
MAX_REGISTERS = 128  # per thread: two blocks of 256 threads fit an SM's 64 K registers (ptxas: no spills at 128)
LOADS = BM * BK // THREADS  # elements of A (and of B) each thread copies per K slice: 4
A_ROWS_PER_LOAD, B_ROWS_PER_LOAD = THREADS // BK, THREADS // BN  # 32 rows of A, 2 rows of B per round
CACHE_NAME = "gemm_sgemm"  # the generated kernel file's name in the kernel cache (kernels/runtime/cuda.py)
SKINNY_BUCKETS = (1, 2, 4, 8, 16)  # row counts the skinny kernel is compiled for
SKINNY_M = SKINNY_BUCKETS[-1]  # products with at most this many rows take the skinny kernel
GX, GY = 32, 8  # skinny kernel: threads along columns of C, and along K
SKINNY_MIN_K = 256  # K per block below which the skinny kernel does not split K over the grid


cuda = None  # the numba.cuda module, imported on first use by `_cuda()` (the simulator swaps it per kernel)


def _cuda():
    global cuda
    if cuda is None:
        from numba import cuda as module

        cuda = module
    return cuda


def _sgemm(a_flat, b_flat, c, k):
    """C = A @ B for float32 matrices, A (M x K) and B (K x N) given flat (row-major, as `launch` views
    them: the kernel computes their offsets itself); one block of THREADS threads per BM x BN tile of C."""
    m, n = c.shape
    tid = cuda.threadIdx.x
    tx, ty = tid & (TX - 1), tid >> 4  # (TX = 16: masks and shifts leave LLVM sure both are >= 0)
    row0, col0 = cuda.blockIdx.y * BM, cuda.blockIdx.x * BN
    a_s = cuda.shared.array((2, BK, A_TILE), float32, alignment=SHARED_ALIGN)  # a_s[buf, p, r] = A[row0 + r, t + p]
    b_s = cuda.shared.array((2, BK, BN), float32, alignment=SHARED_ALIGN)  # b_s[buf, p, q] = B[t + p, col0 + q]
    acc = cuda.local.array((TM, TN), float32)
    a_reg = cuda.local.array(TM, float32)
    b_reg = cuda.local.array(TN, float32)
    a_next = cuda.local.array(LOADS, float32)  # the next slice, held in registers while this one is used
    b_next = cuda.local.array(LOADS, float32)
    for i in range(TM):
        for j in range(TN):
            acc[i, j] = 0.0
    # This thread's copies: A[row0 + ar + 32l, t + ap] and B[t + bp + 2l, col0 + bq] for l < LOADS. Their
    # offsets in the flat arrays are fixed but for t (which moves A's by 1 and B's by n per K step), and
    # whether each row of A and the column of B exist is fixed too: worked out once, not per slice. The
    # offsets are unsigned, so that Numba adds no wraparound of negative indices to each load.
    ar, ap = tid // BK, tid % BK  # A: 8 consecutive threads read 8 consecutive k of a row
    bp, bq = tid // BN, tid % BN  # B: consecutive threads read consecutive columns
    uk, un = uint64(k), uint64(n)
    a_at, b_at = uint64(row0 + ar) * uk + uint64(ap), uint64(bp) * un + uint64(col0 + bq)
    a_step, b_step = uint64(A_ROWS_PER_LOAD) * uk, uint64(B_ROWS_PER_LOAD) * un  # from one load to the next
    a_row_ok = cuda.local.array(LOADS, boolean)
    for load in range(LOADS):
        a_row_ok[load] = row0 + ar + load * A_ROWS_PER_LOAD < m
    b_col_ok = col0 + bq < n
    # Slice 0 straight into buffer 0. (Folding this into the loop's prefetch, as a first step that only
    # loads, puts the FMAs under a branch: 136 bytes of spills and 17 local loads per slice in the SASS.)
    for load in range(LOADS):
        a_s[0, ap, ar + load * A_ROWS_PER_LOAD] = (a_flat[a_at + uint64(load) * a_step]
                                                   if a_row_ok[load] and ap < k else float32(0.0))
        gp = bp + load * B_ROWS_PER_LOAD
        b_s[0, gp, bq] = b_flat[b_at + uint64(load) * b_step] if b_col_ok and gp < k else float32(0.0)
    cuda.syncthreads()
    buf = 0
    for t in range(0, k, BK):
        more = t + BK < k
        if more:  # fetch slice t + BK now: its latency hides behind this slice's FMAs
            nt = t + BK
            a_k_ok = nt + ap < k
            a_next_at, b_next_at = a_at + uint64(nt), b_at + uint64(nt) * un
            for load in range(LOADS):
                a_next[load] = (a_flat[a_next_at + uint64(load) * a_step]
                                if a_row_ok[load] and a_k_ok else float32(0.0))
                b_next[load] = (b_flat[b_next_at + uint64(load) * b_step]
                                if b_col_ok and nt + bp + load * B_ROWS_PER_LOAD < k else float32(0.0))
        for p in range(BK):  # unrolled: `_unrolled` writes this loop out with p a constant in each copy
            for i in range(TM // 2):  # rows 4ty..4ty+3 and 64+4ty..: two runs of 4 adjacent floats
                a_reg[i] = a_s[buf, p, ty * 4 + i]
                a_reg[i + TM // 2] = a_s[buf, p, BM // 2 + ty * 4 + i]
            for j in range(TN // 2):
                b_reg[j] = b_s[buf, p, tx * 4 + j]
                b_reg[j + TN // 2] = b_s[buf, p, BN // 2 + tx * 4 + j]
            for i in range(TM):
                for j in range(TN):
                    acc[i, j] += a_reg[i] * b_reg[j]
        if more:  # the other buffer was last read before the previous barrier: free to fill
            for load in range(LOADS):
                a_s[1 - buf, ap, ar + load * A_ROWS_PER_LOAD] = a_next[load]
                b_s[1 - buf, bp + load * B_ROWS_PER_LOAD, bq] = b_next[load]
        cuda.syncthreads()
        buf = 1 - buf
    for i in range(TM):
        gr = row0 + ty * 4 + (i % 4) + (i // 4) * (BM // 2)
        if gr < m:
            for j in range(TN):
                gq = col0 + tx * 4 + (j % 4) + (j // 4) * (BN // 2)
                if gq < n:
                    c[gr, gq] = acc[i, j]


UNROLLED = "for p in range(BK):  # unrolled"


def _unrolled(function) -> str:
    """The source of `function` with its `for p in range(BK):  # unrolled` loop written out BK times, each
    copy after `p = <constant>`: every shared-memory address in it is then a fixed offset from one base,
    where a loop (which Numba's LLVM leaves rolled) recomputes 16 addresses per step."""
    lines = textwrap.dedent(inspect.getsource(function)).splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(UNROLLED))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    end = next((i for i in range(at + 1, len(lines)) if lines[i].strip() and not lines[i].startswith(indent + " ")),
               len(lines))
    body = [line[4:] if line.strip() else line for line in lines[at + 1:end]]
    copies = [text for p in range(BK) for text in (f"{indent}p = {p}", *body)]
    return "\n".join(lines[:at] + copies + lines[end:]) + "\n"


def _tiled_function():
    """`_sgemm` with its K loop unrolled, as a function Numba can compile, and whether its code can be
    cached on disk (a generated file, as kernels/runtime/cuda.py writes it; not under the simulator)."""
    source = _unrolled(_sgemm)
    constants = {name: value for name, value in globals().items() if name.isupper()}  # BM, BK, LOADS, ...
    names = {"cuda": _cuda(), "float32": float32, "boolean": boolean, "uint64": uint64, **constants}
    if runtime.simulator_enabled():
        namespace = dict(names, SHARED_ALIGN=None)  # the simulator refuses an alignment
        exec(compile(source, "<kernels.gemm.numba_cuda unrolled>", "exec"), namespace)  # noqa: S102
        return namespace["_sgemm"], False
    module = runtime.generated_module(CACHE_NAME, source)
    vars(module).update(names)
    return module._sgemm, module.__file__ is not None


def _skinny_for(rows: int):
    """The skinny kernel for A of at most `rows` rows (a compile-time constant: the sums stay registers)."""

    def skinny(a, b, c):
        """C (+)= A @ B; block (x, y) sums K slice y into columns 32x..32x+31."""
        m, k = a.shape
        n = b.shape[1]
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        col = cuda.blockIdx.x * GX + tx
        chunk = (k + cuda.gridDim.y - 1) // cuda.gridDim.y
        k0 = cuda.blockIdx.y * chunk
        k1 = min(k, k0 + chunk)
        acc = cuda.local.array(rows, float32)
        for i in range(rows):
            acc[i] = float32(0.0)
        if col < n:
            for p in range(k0 + ty, k1, GY):
                bv = b[p, col]
                for i in range(rows):
                    if i < m:
                        acc[i] += a[i, p] * bv
        part = cuda.shared.array((GY, rows, GX), float32)
        for i in range(rows):
            part[ty, i, tx] = acc[i]
        cuda.syncthreads()
        for out in range(ty * GX + tx, rows * GX, GX * GY):
            i, j = out // GX, out % GX
            gq = cuda.blockIdx.x * GX + j
            if i < m and gq < n:
                total = float32(0.0)
                for y in range(GY):
                    total += part[y, i, j]
                if cuda.gridDim.y == 1:
                    c[i, gq] = total
                else:
                    cuda.atomic.add(c, (i, gq), total)

    return skinny


def _zero(c):
    i, j = cuda.grid(2)
    if i < c.shape[0] and j < c.shape[1]:
        c[i, j] = float32(0.0)


def skinny_split(n: int, k: int, units: int) -> int:
    """Blocks along K for an n-column skinny product: enough blocks for ~4 per multiprocessor, each
    still summing at least SKINNY_MIN_K values of K (1: no split, no atomics)."""
    strips = -(-n // GX)
    wanted = -(-4 * units // strips)
    return max(1, min(wanted, k // SKINNY_MIN_K))


def skinny_rows(m: int) -> int:
    """The smallest of SKINNY_BUCKETS holding m rows: one compiled kernel per bucket."""
    return next(rows for rows in SKINNY_BUCKETS if rows >= m)


@lru_cache(maxsize=None)
def _skinny_kernel(rows: int):
    return _cuda().jit(_skinny_for(rows), cache=not runtime.simulator_enabled())


@lru_cache(maxsize=1)
def _zero_kernel():
    return _cuda().jit(_zero, cache=not runtime.simulator_enabled())


def _units() -> int:
    """Multiprocessors of the current device (4 on the simulator, so that tests see a split)."""
    if runtime.simulator_enabled():
        return 4
    return _multiprocessors(_cuda().get_current_device().id)


@lru_cache(maxsize=None)
def _multiprocessors(device_id: int) -> int:
    return int(_cuda().gpus[device_id].MULTIPROCESSOR_COUNT)


@lru_cache(maxsize=1)
def _kernel():
    """The kernel, its compiled code kept on disk by Numba (cache=True: beside this file, or in Numba's
    user-wide cache where the package folder is read-only) so that a new process need not recompile."""
    kernel, cachable = _tiled_function()
    limit = {} if runtime.simulator_enabled() else {"max_registers": MAX_REGISTERS}
    return _cuda().jit(kernel, cache=cachable, **limit)


def ptx(cc: tuple[int, int] = (9, 0), kernel: str = "tiled") -> str:
    """PTX of the tiled or the skinny kernel for compute capability `cc` (sm_90 = H100); needs NVVM, not a GPU."""
    matrix, flat = float32[:, ::1], float32[::1]
    if kernel == "tiled":
        function, signature = _tiled_function()[0], (flat, flat, matrix, int64)
    else:
        function, signature = _skinny_for(SKINNY_M), (matrix, matrix, matrix)
    text, _ = _cuda().compile_ptx(function, signature, cc=cc)
    return text


def available() -> tuple[bool, str]:
    return runtime.numba_cuda_status()


def devices():
    return runtime.numba_cuda_devices()


def dtypes(device: int = 0) -> tuple[str, ...]:
    parse_device_index(device, devices(), "numba-cuda")
    return DTYPES


def _is_device_array(x) -> bool:
    """A Numba device array (or the simulator's stand-in), told apart without importing numba.cuda."""
    return hasattr(x, "copy_to_host") and not isinstance(x, np.ndarray)


def _gpu(device: int):
    """Context manager that makes `device` current (a no-op on the simulator's single device)."""
    return _cuda().gpus[device]


def to_device(x, *, dtype: str = "fp32", device: int = 0):
    """Copy a host matrix to the GPU (a device array passes through)."""
    verify.check_dtype(dtype, dtypes(device), f"numba-cuda:{device}")
    if _is_device_array(x):
        if x.dtype != np.float32 or x.ndim != 2:
            raise ValueError(f"device operand must be a 2-D float32 array; got {x.ndim}-D {x.dtype}")
        return x
    host = verify.host_array(x, dtype, "operand")
    with _gpu(device):
        return _cuda().to_device(host)


def to_host(x) -> np.ndarray:
    return x.copy_to_host() if _is_device_array(x) else np.asarray(x)


def synchronize(device: int = 0) -> None:
    with _gpu(device):
        _cuda().synchronize()


def launch(a, b, c, *, tiled: bool = False, stream=0) -> None:
    """Enqueue C = A @ B on device arrays, on `stream` (a Numba stream; 0: the default stream): the skinny
    kernel for at most SKINNY_M rows (unless `tiled`), else the grid covers C in 128 x 128 tiles."""
    m, n = c.shape
    k = a.shape[1]
    if m <= SKINNY_M and not tiled:
        split = skinny_split(n, k, _units())
        if split > 1:
            _zero_kernel()[(-(-m // 16), -(-n // 16)), (16, 16), stream](c)
        _skinny_kernel(skinny_rows(m))[(-(-n // GX), split), (GX, GY), stream](a, b, c)
        return
    grid = (-(-n // BN), -(-m // BM))
    _kernel()[grid, THREADS, stream](a.reshape(a.size), b.reshape(b.size), c, k)  # flat views, no copies


def matmul(a, b, *, dtype: str = "fp32", device: int = 0):
    """C = A @ B; host arrays in -> host array out, a device array in -> a device array out."""
    verify.check_dtype(dtype, dtypes(device), f"numba-cuda:{device}")
    resident = _is_device_array(a) or _is_device_array(b)
    a_dev = to_device(a, dtype=dtype, device=device)
    b_dev = to_device(b, dtype=dtype, device=device)
    m, n, _ = shapes.check_operands(a_dev.shape, b_dev.shape)
    with _gpu(device):
        c = _cuda().device_array((m, n), dtype=np.float32)
        launch(a_dev, b_dev, c)
    return c if resident else c.copy_to_host()

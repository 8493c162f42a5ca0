"""BLIS-style GEMM in Numba for AVX-512 CPUs: packed B panels, cache blocking, a register-tiled micro-kernel.

How C = A @ B is computed (fp32; fp64 is the same with 16-wide tiles):
- B is packed once into panels of NR = 32 columns, each stored K-major (`panels[j, p, :]` is 32
  consecutive floats = two zmm registers). `to_device(B)` keeps B packed, so a resident weight matrix is
  never packed again (the inference decoder calls matmul(x, W) with M = 1 per token).
- A is read in place, 8 rows at a time; only a last partial group of rows is copied into a zero-padded
  K x h strip (h = 1, 2, 4 or 8), so M = 1 runs a 1x32 micro-kernel instead of wasting 7/8 of an 8x32 one.
- The micro-kernel keeps an 8x32 tile of C in 16 zmm accumulators (256 scalars that LLVM's SLP vectoriser
  packs into registers; a NumPy tile array would live in memory), does 16 FMAs per step of K and adds
  the tile into C once per K chunk (stores it on the first) with zmm loads and stores. It is
  generated from a template, because Numba has no vector types and a tile array is never put in registers.
- Work is split into MC x NC blocks of C and run in parallel (`prange`) over both cores; inside a block,
  K is walked in KC chunks so the A rows (KC x 8) stay in L1 and the B block (KC x NC) in L2.
- Shapes need not be multiples of the tile: B panels are zero-padded, and an edge tile is computed in a
  small per-block buffer of which only the valid part is added into C.
- A is not packed: with the A rows in L1 and B streaming from L2, each block would pack its rows of A
  again for every K chunk, costing more (measured, Zen 4) than the packed stream saves. Very narrow outputs (N <= NARROW_N) run as dot products;
  fewer than 8 rows times a host (unpacked) B stream B's rows once instead of packing it (`_few_rows`).
Settings from kernels/numba_env.py (SLP vectoriser on, 512-bit vectors preferred) are what make this fast;
`fastmath` is the flag set below, not fastmath=True, which lets LLVM vectorise the wrong loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import get_num_threads, njit, prange

from kernels.gemm import shapes, verify
from kernels.runtime import Traits, cpu, parse_device_index

TRAITS = Traits("cpu", kernel="Numba packed 8xNR micro-kernel", run_dtypes=("fp32", "fp64"))

DTYPES = ("fp64", "fp32")
FASTMATH = {"contract", "nnan", "ninf", "nsz", "arcp", "afn"}
MR = 8  # rows of the register tile
NR = {"fp32": 32, "fp64": 16}  # columns of the register tile: two zmm registers
SCALAR = {"fp32": "float32", "fp64": "float64"}
HEIGHTS = (8, 4, 2, 1)  # micro-kernel heights; a partial last row group uses the smallest that fits
KC = 512  # K chunk: 8 rows of A (16 KB fp32) stay in L1 while the tile sweeps the B block
MC = 128  # rows of C per parallel block
NC = {"fp32": 256, "fp64": 128}  # columns of C per parallel block: the KC x NC B block (512 KB) stays in L2
NARROW_N = 4  # N at or below this: dot products, since a 32-wide tile would be mostly padding
BLOCKS_PER_THREAD = 4  # at least this many blocks per thread when the shape allows, for balance


# --- the micro-kernel, generated --------------------------------------------------------------------


def _micro_source(name: str, h: int, nr: int, scalar: str) -> str:
    """Python source of an h x nr micro-kernel with one named accumulator per element of the tile.

    c[ci + r, cj + q] (+)= sum over p < kc of a[r, p] * b[p, q]: `a` is a view of the tile's rows of A (in
    place), `b` the chunk of a packed B panel, `c` all of C (or the edge buffer, at 0, 0); `first` stores
    instead of adding. Constant indices into contiguous row views let LLVM use zmm loads and stores: a 2-D
    view of the tile (a runtime column stride) or a flat tile buffer left 256 scalar adds per call, and
    starting the accumulators from C instead of zero kept LLVM from vectorising the fp64 kernel.
    """
    acc = [[f"c{r}_{q}" for q in range(nr)] for r in range(h)]
    body = [f"def {name}(kc, a, b, c, ci, cj, first):"]
    body += [f"    {x} = np.{scalar}(0.0)" for row in acc for x in row]
    body += ["    for p in range(kc):"]
    body += [f"        b{q} = b[p, {q}]" for q in range(nr)]
    for r in range(h):
        body += [f"        a{r} = a[{r}, p]"]
        body += [f"        {acc[r][q]} += a{r} * b{q}" for q in range(nr)]
    body += [f"    row{r} = c[ci + {r}, cj : cj + {nr}]" for r in range(h)]
    body += ["    if first:"]
    body += [f"        row{r}[{q}] = {acc[r][q]}" for r in range(h) for q in range(nr)]
    body += ["    else:"]
    body += [f"        row{r}[{q}] += {acc[r][q]}" for r in range(h) for q in range(nr)]
    return "\n".join(body) + "\n"


def _make_micro(h: int, nr: int, scalar: str, cache: bool = True):
    name = f"_micro_{scalar}_{h}x{nr}"
    namespace = {"np": np, "__name__": __name__}
    # Compiled under this file's name so Numba's on-disk cache can key it to this file's timestamp.
    exec(compile(_micro_source(name, h, nr, scalar), __file__, "exec"), namespace)
    return njit(fastmath=FASTMATH, cache=cache)(namespace[name])


def micro_kernel_asm(dtype: str = "fp32") -> str:
    """Assembly of the full MR x NR micro-kernel, compiled afresh (Numba cannot show cached code).

    On AVX-512 hosts its hot loop should be 2*MR zmm `vfmadd` instructions (16 for 8x32 fp32).
    """
    from numba import typeof

    verify.check_dtype(dtype, DTYPES, "numba-cpu")
    kernel = _make_micro(MR, NR[dtype], SCALAR[dtype], cache=False)
    a = np.zeros((MR, 2 * KC), verify.HOST[dtype])[:, :KC]  # a strided view, as `_blocked` passes it
    panels = np.zeros((1, KC, NR[dtype]), a.dtype)
    c = np.zeros((2 * MR, 2 * NR[dtype]), a.dtype)
    args = (KC, a, panels[0], c, MR, NR[dtype], False)
    signature = tuple(typeof(x) for x in args)
    kernel.compile(signature)
    return kernel.inspect_asm(signature)


def _make_family(nr: int, scalar: str):
    """One function that runs a tile: straight into C when it is whole, else through the edge buffer.

    The micro-kernel is picked by the tile's row count (a partial last row group uses a smaller one).
    """
    m8, m4, m2, m1 = (_make_micro(h, nr, scalar) for h in HEIGHTS)

    def micro(kc, a, b, c, ci, cj, mr, nr_valid, edge, first):
        if mr == 8 and nr_valid == nr:
            m8(kc, a, b, c, ci, cj, first)
            return
        if mr > 4:
            m8(kc, a, b, edge, 0, 0, True)
        elif mr > 2:
            m4(kc, a, b, edge, 0, 0, True)
        elif mr == 2:
            m2(kc, a, b, edge, 0, 0, True)
        else:
            m1(kc, a, b, edge, 0, 0, True)
        for r in range(mr):
            row = c[ci + r]
            for q in range(nr_valid):
                if first:
                    row[cj + q] = edge[r, q]
                else:
                    row[cj + q] += edge[r, q]

    return njit(fastmath=FASTMATH, cache=True)(micro)


_MICRO = {d: _make_family(NR[d], SCALAR[d]) for d in DTYPES}


# --- packing -----------------------------------------------------------------------------------------


@njit(parallel=True, cache=True)
def _pack_b(b, panels):
    """panels[j, p, q] = B[p, j*NR + q], zero past the last column; rows of B in parallel.

    Each row of B is read once, in order, and dealt out NR values per panel through 1-D views (indexing
    the 3-D array element by element instead ran 5x slower).
    """
    k, n = b.shape
    n_panels, _, nr = panels.shape
    full = n // nr
    for p in prange(k):
        src = b[p]
        for j in range(full):
            dst = panels[j, p]
            j0 = j * nr
            for q in range(nr):
                dst[q] = src[j0 + q]
        if full < n_panels:
            dst = panels[full, p]
            j0 = full * nr
            for q in range(nr):
                dst[q] = src[j0 + q] if j0 + q < n else 0


@njit(cache=True)
def _pack_rows(a, i0, strip):
    """strip[r, p] = A[i0 + r, p] for the rows that exist, zero below (the partial last row group)."""
    h, k = strip.shape
    rows = a.shape[0] - i0
    for r in range(h):
        for p in range(k):
            strip[r, p] = a[i0 + r, p] if r < rows else 0


# --- the blocked product -------------------------------------------------------------------------


def _blocked(a, strip, panels, c, n, mcp, ncp, kc):
    """C = A @ B over MC x NC blocks in parallel; A rows past the last full group of 8 come from `strip`.

    a: (M, K) A; strip: (h, K) copy of the last partial row group (0 rows if none); panels: packed B;
    mcp / ncp: row groups / panels per block.
    """
    m, k = a.shape
    n_panels, _, nr = panels.shape
    full_groups = m // MR
    groups = full_groups + (1 if m % MR else 0)
    mb = (groups + mcp - 1) // mcp
    nb = (n_panels + ncp - 1) // ncp
    for t in prange(mb * nb):
        edge = np.empty((MR, nr), dtype=c.dtype)
        g0 = (t // nb) * mcp
        g1 = min(g0 + mcp, groups)
        j0 = (t % nb) * ncp
        j1 = min(j0 + ncp, n_panels)
        for p0 in range(0, k, kc):
            kk = min(kc, k - p0)
            for g in range(g0, g1):
                mr = min(MR, m - g * MR)
                src, row = (a, g * MR) if g < full_groups else (strip, 0)
                av = src[row : row + MR, p0 : p0 + kk]
                for j in range(j0, j1):
                    nr_valid = min(nr, n - j * nr)
                    bp = panels[j, p0 : p0 + kk]
                    _micro(kk, av, bp, c, g * MR, j * nr, mr, nr_valid, edge, p0 == 0)  # noqa: F821 - bound per dtype by _specialise


def _specialise(func, dtype: str):
    """A copy of `func` bound to the dtype's micro-kernel family, compiled parallel and cached."""
    import types

    glb = {**func.__globals__, "_micro": _MICRO[dtype]}
    clone = types.FunctionType(func.__code__, glb, f"{func.__name__}_{dtype}", func.__defaults__)
    clone.__qualname__ = clone.__name__
    return njit(parallel=True, fastmath=FASTMATH, cache=True)(clone)


_BLOCKED = {d: _specialise(_blocked, d) for d in DTYPES}


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def _few_rows(a, b, c, parts):
    """C = A @ B for M < MR with B as it is (row-major): rows of B scaled into rows of C.

    Packing B would read and write all of it to save nothing: with so few rows each element of B is
    used M times, straight from the row just loaded. K is split into `parts` ranges, one per thread,
    so every thread streams whole rows of B in order; their partial sums (M x N each) are added last.
    """
    m, k = a.shape
    n = b.shape[1]
    partial = np.zeros((parts, m, n), c.dtype)
    step = (k + parts - 1) // parts
    for t in prange(parts):
        acc = partial[t]
        for p in range(t * step, min(k, (t + 1) * step)):
            brow = b[p]
            for i in range(m):
                aip = a[i, p]
                row = acc[i]
                for j in range(n):
                    row[j] += aip * brow[j]
    for i in range(m):
        for j in range(n):
            s = partial[0, i, j]
            for t in range(1, parts):
                s += partial[t, i, j]
            c[i, j] = s


@njit(parallel=True, fastmath=FASTMATH | {"reassoc"}, cache=True)
def _narrow(a, bt, c):
    """C[i, q] = dot(A[i, :], Bt[q, :]) for narrow N; reassociation lets the dot product vectorise."""
    m, k = a.shape
    n = bt.shape[0]
    for i in prange(m):
        for q in range(n):
            s = a[i, 0] * bt[q, 0]
            for p in range(1, k):
                s += a[i, p] * bt[q, p]
            c[i, q] = s


# --- public API ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resident:
    """An operand prepared once: B packed into panels (or transposed, for narrow N), A as it is."""

    array: np.ndarray  # the C-contiguous host matrix (used when the operand is A)
    packed: np.ndarray  # (panels, K, NR) packed B, or (N, K) B transposed when N <= NARROW_N
    dtype: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape


def available() -> tuple[bool, str]:
    return True, ""


def devices():
    return cpu.devices()


def dtypes(device: int = 0) -> tuple[str, ...]:
    parse_device_index(device, devices(), "numba-cpu")
    return DTYPES


def synchronize(device: int = 0) -> None:
    """Numba returns when the product is done: nothing to wait for."""


def _pack(b: np.ndarray, dtype: str) -> np.ndarray:
    k, n = b.shape
    if n <= NARROW_N:
        return np.ascontiguousarray(b.T)
    nr = NR[dtype]
    panels = np.empty(((n + nr - 1) // nr, k, nr), dtype=b.dtype)
    _pack_b(b, panels)
    return panels


def to_device(x, *, dtype: str = "fp32", device: int = 0) -> Resident:
    """Prepare an operand for repeated use: checked, converted, and packed as the B of A @ B."""
    verify.check_dtype(dtype, dtypes(device), f"numba-cpu:{device}")
    array = verify.host_array(x, dtype, "operand")
    return Resident(array, _pack(array, dtype), dtype)


def to_host(x) -> np.ndarray:
    return x.array if isinstance(x, Resident) else np.asarray(x)


def _operand(x, dtype: str, name: str) -> np.ndarray | Resident:
    if isinstance(x, Resident):
        if x.dtype != dtype:
            raise ValueError(f"{name} was made resident as {x.dtype}; call matmul with dtype={x.dtype!r} or to_device it again")
        return x
    return verify.host_array(x, dtype, name)


def _block_sizes(groups: int, n_panels: int, nr: int, nc: int) -> tuple[int, int]:
    """Row groups and panels per parallel block: MC x NC, made smaller until every thread has work."""
    mcp, ncp = max(1, MC // MR), max(1, nc // nr)
    target = BLOCKS_PER_THREAD * get_num_threads()
    while ncp > 1 and -(-groups // mcp) * -(-n_panels // ncp) < target:
        ncp = (ncp + 1) // 2
    while mcp > 1 and -(-groups // mcp) * -(-n_panels // ncp) < target:
        mcp = (mcp + 1) // 2
    return mcp, ncp


def matmul(a, b, *, dtype: str = "fp32", device: int = 0) -> np.ndarray:
    """C = A @ B; A and B are host arrays or `to_device` operands (B then is not packed again)."""
    verify.check_dtype(dtype, dtypes(device), f"numba-cpu:{device}")
    a = _operand(a, dtype, "A")
    b = _operand(b, dtype, "B")
    m, n, k = shapes.check_operands(a.shape, b.shape)
    a = to_host(a)
    c = np.empty((m, n), dtype=a.dtype)
    if m < MR and n > NARROW_N and not isinstance(b, Resident):
        _few_rows(a, b, c, min(get_num_threads(), k))
        return c
    packed = b.packed if isinstance(b, Resident) else _pack(b, dtype)
    if n <= NARROW_N:
        _narrow(a, packed, c)
        return c
    rest = m % MR
    height = next(h for h in reversed(HEIGHTS) if h >= rest) if rest else 0
    strip = np.empty((height, k), dtype=a.dtype)
    if rest:
        _pack_rows(a, m - rest, strip)
    mcp, ncp = _block_sizes(-(-m // MR), packed.shape[0], NR[dtype], NC[dtype])
    _BLOCKED[dtype](a, strip, packed, c, n, mcp, ncp, KC)
    return c

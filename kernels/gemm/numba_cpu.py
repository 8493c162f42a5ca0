"""BLIS-style GEMM in Numba for CPUs: packed B panels, cache blocking, a register-tiled micro-kernel.

The register tile is MR x NR, chosen from the CPU's vector width (`TILES`) so that its accumulators,
the NR-wide row of B and a broadcast of A fit the 16 architectural vector registers of x86:
- AVX-512: 8 x 32 fp32 (8 x 16 fp64): 16 zmm accumulators, two zmm of B per step of K;
- AVX2: 6 x 16 fp32 (6 x 8 fp64): 12 ymm accumulators, two ymm of B (the 8 x 32 tile needs 32 ymm and
  spilled 166 stack moves per call on Zen 3), the BLIS Haswell shape;
- 128-bit (SSE, Arm NEON): 6 x 8 fp32 (6 x 4 fp64), the same shape at half the width (not measured).

How C = A @ B is computed:
- B is packed once into panels of NR columns, each stored K-major (`panels[j, p, :]` is NR consecutive
  values = two vector registers). `to_device(B)` keeps B packed, so a resident weight matrix is never
  packed again (the inference decoder calls matmul(x, W) with M = 1 per token).
- AVX-512: A is read in place, MR rows at a time; only a last partial group of rows is copied into a
  zero-padded K x h strip (h from HEIGHTS), so M = 1 runs a 1 x NR micro-kernel instead of wasting most
  of a full one. Narrower vectors (`PACKED_A`): A is packed once per product into (groups, K, MR) strips,
  zero-padded, for the IR tile of kernels/gemm/cpu_tile.py (one pointer, constant offsets; a pass over A
  in parallel, about 2% of a 2048^3 product).
- The micro-kernel keeps an MR x NR tile of C in 2*MR vector accumulators, does 2*MR FMAs per step of K
  and adds the tile into C once per K chunk (stores it on the first) with vector loads and stores. On
  AVX-512 it is generated from a scalar template (scalars that LLVM's SLP vectoriser packs into registers;
  Numba has no vector types and a tile array is never put in registers); elsewhere it is written in IR
  (cpu_tile), since from the template LLVM spilled the 6 x 16 AVX2 tile.
- Work is split into MC x NC blocks of C and run in parallel (`prange`) over both cores; inside a block,
  K is walked in KC chunks, and which operand stays in L1 while the other streams from L2 is the loop
  order of the path (`ROWS_OUTER`, measured per path: see the blocking constants).
- Shapes need not be multiples of the tile: B panels are zero-padded, and an edge tile is computed in a
  small per-block buffer of which only the valid part is added into C.
- On AVX-512 A is not packed: with the A rows in L1 and B streaming from L2, each block would pack its
  rows of A again for every K chunk, costing more (measured, Zen 4) than the packed stream saves. Very narrow
  outputs (N <= NARROW_N) run as dot products; fewer than MR rows times a host (unpacked) B stream B's
  rows once instead of packing it (`_few_rows`).
Settings from kernels/numba_env.py (SLP vectoriser on, 512-bit vectors preferred) are what make this fast;
`fastmath` is the flag set below, not fastmath=True, which lets LLVM vectorise the wrong loop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from numba import get_num_threads, njit, prange

from kernels.gemm import cpu_tile, shapes, verify
from kernels.runtime import Traits, cpu, parse_device_index

# Register tile per vector width in bits: (rows MR, columns NR per dtype); NR is two vector registers.
TILES = {512: (8, {"fp32": 32, "fp64": 16}), 256: (6, {"fp32": 16, "fp64": 8}), 128: (6, {"fp32": 8, "fp64": 4})}
MR, NR = TILES[cpu.vector_bits()]
PACKED_A = cpu.vector_bits() < 512  # the IR tile on packed A (cpu_tile); AVX-512: the generated tile, A in place

TRAITS = Traits("cpu", kernel=f"Numba packed {MR}x{NR['fp32']} micro-kernel", run_dtypes=("fp32", "fp64"))

DTYPES = ("fp64", "fp32")
FASTMATH = {"contract", "nnan", "ninf", "nsz", "arcp", "afn"}
SCALAR = {"fp32": "float32", "fp64": "float64"}
HEIGHTS = tuple(sorted({MR, 4, 2, 1}, reverse=True))  # micro-kernel heights; a partial last row group uses the smallest that fits
# Cache blocking, measured per path (2048^3 fp32, alternating with OpenBLAS): K chunk KC, rows of C per
# parallel block MC (rounded down to whole row groups), columns NC per dtype, and the loop order inside a
# block. AVX-512 (Zen 4): row groups outside, MR rows of A (16 KB) in L1 while the tile sweeps the KC x NC
# B block (512 KB) from L2. Packed A (Zen 3): panels outside, BLIS's order: the B micro-panel (KC x NR,
# 32 KB) stays in L1 while the A strips of the block stream from L2 (0.86-1.0x OpenBLAS against
# 0.70-0.78x in the other order).
KC = 512
MC = 240 if PACKED_A else 128
NC = {"fp32": 64, "fp64": 32} if PACKED_A else {"fp32": 256, "fp64": 128}
ROWS_OUTER = not PACKED_A
NARROW_N = 4  # N at or below this: dot products, since an NR-wide tile would be mostly padding
BLOCKS_PER_THREAD = 4  # at least this many blocks per thread when the shape allows, for balance


# --- the micro-kernel, generated --------------------------------------------------------------------


def _micro_source(name: str, h: int, nr: int, scalar: str) -> str:
    """Python source of an h x nr micro-kernel with one named accumulator per element of the tile.

    c[ci + r, cj + q] (+)= sum over p < kc of a[r, p] * b[p, q]: `a` is a view of the tile's rows of A (in
    place), `b` the chunk of a packed B panel, `c` all of C (or the edge buffer, at 0, 0); `first` stores
    instead of adding. Constant indices into contiguous row views let LLVM use zmm loads and stores: a 2-D
    view of the tile (a runtime column stride) or a flat tile buffer left MR*NR scalar adds per call, and
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
    if PACKED_A:
        return cpu_tile.make(h, nr // cpu_tile.VECTORS, np.dtype(scalar).itemsize, MR)
    name = f"_micro_{scalar}_{h}x{nr}"
    namespace = {"np": np, "__name__": __name__}
    # Compiled under this file's name so Numba's on-disk cache can key it to this file's timestamp.
    exec(compile(_micro_source(name, h, nr, scalar), __file__, "exec"), namespace)
    return njit(fastmath=FASTMATH, cache=cache)(namespace[name])


def micro_kernel_asm(dtype: str = "fp32") -> str:
    """Assembly of the full MR x NR micro-kernel, compiled afresh (Numba cannot show cached code).

    Its hot loop should be 2*MR vector `vfmadd` instructions: 16 zmm for 8x32 fp32 on AVX-512, 12 ymm for
    6x16 on AVX2, with no accumulator on the stack.
    """
    from numba import typeof

    verify.check_dtype(dtype, DTYPES, "numba-cpu")
    kernel = _make_micro(MR, NR[dtype], SCALAR[dtype], cache=False)
    if PACKED_A:  # an intrinsic: called from a function compiled for the purpose
        tile = kernel
        kernel = njit(lambda kc, a, b, c, ci, cj, first: tile(kc, a, b, c, ci, cj, first))
        a = np.zeros((1, KC, MR), verify.HOST[dtype])[0]  # a packed strip
    else:
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
    made = {h: _make_micro(h, nr, scalar) for h in HEIGHTS}
    full, m4, m2, m1 = made[MR], made[4], made[2], made[1]

    def micro(kc, a, b, c, ci, cj, mr, nr_valid, edge, first):
        if mr == MR and nr_valid == nr:
            full(kc, a, b, c, ci, cj, first)
            return
        if mr > 4:
            full(kc, a, b, edge, 0, 0, True)
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


@njit(parallel=True, cache=True)
def _pack_a(a, packed):
    """packed[g, p, r] = A[g*MR + r, p], zero past the last row: MR-row strips, K-major, groups in parallel."""
    m, k = a.shape
    groups, _, mr = packed.shape
    for g in prange(groups):
        strip = packed[g]
        for r in range(mr):
            i = g * mr + r
            if i < m:
                row = a[i]
                for p in range(k):
                    strip[p, r] = row[p]
            else:
                for p in range(k):
                    strip[p, r] = 0


@njit(inline="always")
def _rows_in_place(a, strip, g, full_groups, p0, kk):
    """Row group g of A, K chunk p0..p0+kk, as an (MR, kk) view of A (the last partial group: of `strip`)."""
    src, row = (a, g * MR) if g < full_groups else (strip, 0)
    return src[row : row + MR, p0 : p0 + kk]


@njit(inline="always")
def _rows_packed(a, strip, g, full_groups, p0, kk):
    """Row group g of packed A (groups, K, MR), K chunk p0..p0+kk, as a (kk, MR) strip."""
    return a[g, p0 : p0 + kk]


@njit(cache=True)
def _pack_rows(a, i0, strip):
    """strip[r, p] = A[i0 + r, p] for the rows that exist, zero below (the partial last row group)."""
    h, k = strip.shape
    rows = a.shape[0] - i0
    for r in range(h):
        for p in range(k):
            strip[r, p] = a[i0 + r, p] if r < rows else 0


# --- the blocked product -------------------------------------------------------------------------


def _blocked(a, strip, panels, c, m, n, k, mcp, ncp, kc):
    """C = A @ B over MC x NC blocks in parallel; the tile's rows of A come from `_rows` (bound per variant).

    a: (M, K) A, its last partial row group copied into strip (h, K) (0 rows if none); or, with PACKED_A,
    A packed (groups, K, MR) and strip unused; panels: packed B; mcp / ncp: row groups / panels per block.
    """
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
            if ROWS_OUTER:  # a compile-time constant: one of the two orders is compiled (written out: a
                for g in range(g0, g1):  # loop over (u, v) with the order picked inside ran 15-20% slower)
                    av = _rows(a, strip, g, full_groups, p0, kk)  # noqa: F821 - bound by _specialise
                    for j in range(j0, j1):
                        _micro(kk, av, panels[j, p0 : p0 + kk], c, g * MR, j * nr, min(MR, m - g * MR),  # noqa: F821
                               min(nr, n - j * nr), edge, p0 == 0)
            else:
                for j in range(j0, j1):
                    bp = panels[j, p0 : p0 + kk]
                    for g in range(g0, g1):
                        _micro(kk, _rows(a, strip, g, full_groups, p0, kk), bp, c, g * MR, j * nr,  # noqa: F821
                               min(MR, m - g * MR), min(nr, n - j * nr), edge, p0 == 0)


def _specialise(func, dtype: str):
    """A copy of `func` bound to the dtype's micro-kernel family, compiled parallel and cached."""
    import types

    glb = {**func.__globals__, "_micro": _MICRO[dtype], "_rows": _rows_packed if PACKED_A else _rows_in_place}
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


_SCRATCH = threading.local()  # per thread: buffers a product packs its host operands into, kept for the next


def _scratch(name: str, shape: tuple, dtype) -> np.ndarray:
    """A buffer of `shape` reused across calls (grown when too small): fresh pages for 2 x 16 MB of packed
    operands per 2048^3 product cost thousands of page faults a call on these VMs."""
    need = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = getattr(_SCRATCH, name, None)
    if buf is None or buf.nbytes < need:
        buf = np.empty(need, np.uint8)
        setattr(_SCRATCH, name, buf)
    return buf[:need].view(dtype).reshape(shape)


def _pack(b: np.ndarray, dtype: str, scratch: bool = False) -> np.ndarray:
    """B packed into NR-wide panels (transposed for narrow N): a new array, or with `scratch` the reused
    buffer of this thread (valid until its next product)."""
    k, n = b.shape
    if n <= NARROW_N:
        return np.ascontiguousarray(b.T)
    nr = NR[dtype]
    shape = ((n + nr - 1) // nr, k, nr)
    panels = _scratch("panels", shape, b.dtype) if scratch else np.empty(shape, dtype=b.dtype)
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
    """Row groups and panels per parallel block: MC x NC, made smaller until every thread has work, and
    evened out."""
    mcp, ncp = max(1, MC // MR), max(1, nc // nr)
    target = BLOCKS_PER_THREAD * get_num_threads()
    while ncp > 1 and -(-groups // mcp) * -(-n_panels // ncp) < target:
        ncp = (ncp + 1) // 2
    while mcp > 1 and -(-groups // mcp) * -(-n_panels // ncp) < target:
        mcp = (mcp + 1) // 2
    return _even(groups, mcp), _even(n_panels, ncp)


def _even(total: int, per: int) -> int:
    """Per block, for as many blocks as `per` gives but of sizes as equal as they can be: prange hands each
    thread an equal run of blocks, so a short last block idles the other thread (2048 rows in 6-row groups:
    nine blocks of 38 groups, not eight of 40 and one of 22)."""
    return -(-total // -(-total // per))


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
    packed = b.packed if isinstance(b, Resident) else _pack(b, dtype, scratch=True)
    if n <= NARROW_N:
        _narrow(a, packed, c)
        return c
    mcp, ncp = _block_sizes(-(-m // MR), packed.shape[0], NR[dtype], NC[dtype])
    if PACKED_A:
        strips = _scratch("strips", (-(-m // MR), k, MR), a.dtype)
        _pack_a(a, strips)
        _BLOCKED[dtype](strips, strips, packed, c, m, n, k, mcp, ncp, KC)
        return c
    rest = m % MR
    height = next(h for h in reversed(HEIGHTS) if h >= rest) if rest else 0
    strip = np.empty((height, k), dtype=a.dtype)
    if rest:
        _pack_rows(a, m - rest, strip)
    _BLOCKED[dtype](a, strip, packed, c, m, n, k, mcp, ncp, KC)
    return c

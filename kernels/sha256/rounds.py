"""The SHA-256d round generator: one description of the GPU kernels, written out as Numba CUDA Python
(kernels/sha256/numba_cuda.py execs it) and as CUDA C (sha256d.cu, which kernels/sha256/cupy_cuda.py loads),
so that both CUDA backends run the same code.

What the scan kernel does per nonce, and why (an H100 is bound by its integer ALU pipe here: SHF, LOP3 and
IADD3 share it at half the issue rate, while IMAD runs on the FMA pipe beside it):
- the midstate, rounds 0..2 of the header's second block, and W16..W19 partly, once per scan on the host
  (device_scan.job); the kernel starts at round 3's end with the nonce word W3;
- every schedule word and state word that is a constant (the padding, zero words, H0) folded here, not left
  to the compiler, so that Numba lowers less code; K[t] + W[t] one literal where W[t] is known;
- the second hash stops at round 60's e half: H7 = H0[7] + e after round 60 alone decides a nonce (byte-
  swapped, it is the top word of the little-endian hash), and rounds 57..59 drop their a half, which
  nothing later reads;
- rotations as funnel shifts (SHF), Ch/Maj/Sigma in forms that are one LOP3 each;
- with `Tuning.imad`, the terms of each sum added by `mad(x, one, rest)`, inline PTX `mad.lo.u32` (opaque
  to LLVM, which would refactor x*one + y*one) with `one` a kernel parameter that ptxas cannot fold: IMAD
  on the FMA pipe instead of IADD3 on the saturated ALU pipe, which is then left with little but the SHF
  and LOP3 that only it can run (tests/test_sha256_sass.py counts them per nonce, with ceilings);
- with `Tuning.hi_shifts`, sigma0/sigma1's plain shifts as the high half of a multiply by a run-time power
  of two (IMAD.HI, the FMA pipe again); `Tuning.wide` does the same for rotations (IMAD.WIDE gives both
  halves), off by default: it would make the FMA pipe the busier one, by the counts.
`python -m kernels.sha256.rounds --write` regenerates sha256d.cu (a test keeps the file equal to this).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kernels.sha256 import device_scan as layout
from kernels.sha256 import reference as ref

MASK = 0xFFFFFFFF
K = [int(k) for k in ref.K]
H0 = [int(h) for h in ref.H0]
CUDA_FILE = Path(__file__).resolve().parent / "sha256d.cu"
SCAN_BLOCK = 256  # threads per block of the scan kernel (its __launch_bounds__)
# Numba's lowering is quadratic in a basic block's length: its rounds open a new block every so many rounds.
ROUNDS_PER_BLOCK = 16  # 16 lowered fastest of 2, 4, 8, 16, 32 and none (a shared 2-core machine)

Value = int | str  # a known 32-bit constant, or an expression (in the dialect's syntax) of uint32 variables


@dataclass(frozen=True)
class Tuning:
    """Choices of the generated scan kernel (counted by tests/sass.py; measured by scripts/gpu_check.sh)."""

    imad: int = 8  # terms of each sum added by mad(): IMAD (FMA pipe), not IADD3 (ALU pipe); 8 = all but one
    # Rotations per Sigma/sigma (of 3, the last ones) taken as both halves of x * 2**(32-n), a 64-bit
    # IMAD.WIDE on the FMA pipe, whose halves join the XOR (LOP3) in place of an SHF on the ALU pipe.
    wide: int = 0
    hi_shifts: bool = True  # sigma's x >> n as the high half of x * 2**(32-n) (IMAD.HI), not an SHF


DEFAULT = Tuning()
PLAIN = Tuning(imad=0, hi_shifts=False)  # the straightforward code: what ptxas makes of plain C


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & MASK


class Dialect:
    """How one target language writes literals, rotations, shifts, byte swaps and statements."""

    basic_blocks = False  # whether the rounds are cut into basic blocks (see ROUNDS_PER_BLOCK)

    def lit(self, c: int) -> str:
        raise NotImplementedError

    def rotr(self, x: str, n: int) -> str:
        raise NotImplementedError

    def shr(self, x: str, n: int) -> str:
        raise NotImplementedError

    def let(self, name: str, expr: str) -> str:
        raise NotImplementedError

    def set(self, name: str, expr: str) -> str:
        raise NotImplementedError

    def job(self, i: int) -> str:
        raise NotImplementedError

    def bswap(self, x: str) -> str:
        raise NotImplementedError


class NumbaDialect(Dialect):
    """Numba CUDA Python: uint32 casts after every statement (Numba widens uint32 arithmetic to 64 bits)."""

    basic_blocks = True

    def lit(self, c: int) -> str:
        return f"uint32({c:#010x})"

    def rotr(self, x: str, n: int) -> str:
        return f"rotr({x}, {n})"

    def shr(self, x: str, n: int) -> str:
        return f"({x} >> uint32({n}))"

    def let(self, name: str, expr: str) -> str:
        return f"{name} = uint32({expr})"

    set = let

    def job(self, i: int) -> str:
        return f"job[{i}]"

    def bswap(self, x: str) -> str:  # LLVM recognises the pattern: one PRMT
        return (f"(({x} << uint32(24)) | (({x} & uint32(0xFF00)) << uint32(8)) | (({x} >> uint32(8)) & uint32(0xFF00))"
                f" | ({x} >> uint32(24)))")


class CudaDialect(Dialect):
    """CUDA C: `uint` is 32 bits, so no casts; the job words are the kernel parameters j0..j23."""

    def lit(self, c: int) -> str:
        return f"{c:#010x}u"

    def rotr(self, x: str, n: int) -> str:
        return f"__funnelshift_r({x}, {x}, {n})"

    def shr(self, x: str, n: int) -> str:
        return f"({x} >> {n})"

    def let(self, name: str, expr: str) -> str:
        return f"const uint {name} = {expr};"

    def set(self, name: str, expr: str) -> str:
        return f"{name} = {expr};"

    def job(self, i: int) -> str:
        return f"j{i}"

    def bswap(self, x: str) -> str:
        return f"__byte_perm({x}, 0u, 0x0123u)"


@dataclass
class Writer:
    """Statements of one kernel body, each value folded when it is a constant and named once when not."""

    dialect: Dialect
    imad: int = 0  # Tuning.imad (the scan kernel has the parameter `one`; 0 elsewhere)
    wide: int = 0  # Tuning.wide
    hi_shifts: bool = False  # Tuning.hi_shifts
    powers: set[int] = field(default_factory=set)  # exponents e of the p<e> = one << e the code uses
    lines: list[tuple[int, str]] = field(default_factory=list)
    depth: int = 0  # extra indentation of the current Numba basic block

    # -- values --
    def name(self, name: str, value: Value) -> Value:
        """`value` bound to a new variable `name` (constants and bare names stay as they are)."""
        if isinstance(value, int) or value.isidentifier() or value.startswith("job["):
            return value
        self.lines.append((self.depth, self.dialect.let(name, value)))
        return name

    def assign(self, name: str, value: Value) -> None:
        """An existing variable set again (the batch kernel's running state)."""
        text = self.dialect.lit(value) if isinstance(value, int) else value
        self.lines.append((self.depth, self.dialect.set(name, text)))

    def new_block(self, label: str) -> None:
        """Numba: the following lines in a basic block of their own (see ROUNDS_PER_BLOCK)."""
        if self.dialect.basic_blocks:
            self.depth = 0
            self.lines.append((0, f"for _ in range(1):  # {label}: a new basic block"))
            self.depth = 1

    def text(self, v: Value) -> str:
        return self.dialect.lit(v) if isinstance(v, int) else v

    # -- operations, folded on constants --
    def rotr(self, x: Value, n: int) -> Value:
        return _rotr(x, n) if isinstance(x, int) else self.dialect.rotr(x, n)

    def shr(self, x: Value, n: int) -> Value:
        return x >> n if isinstance(x, int) else self.dialect.shr(x, n)

    def xor(self, *xs: Value) -> Value:
        const, terms = 0, []
        for x in xs:
            if isinstance(x, int):
                const ^= x
            else:
                terms.append(x)
        if not terms:
            return const
        if const:
            terms.append(self.dialect.lit(const))
        return terms[0] if len(terms) == 1 else "(" + " ^ ".join(terms) + ")"

    def and_(self, x: Value, y: Value) -> Value:
        if isinstance(x, int) and isinstance(y, int):
            return x & y
        if 0 in (x, y):
            return 0
        if MASK in (x, y):
            return y if x == MASK else x
        return f"({self.text(x)} & {self.text(y)})"

    def or_(self, x: Value, y: Value) -> Value:
        if isinstance(x, int) and isinstance(y, int):
            return x | y
        if 0 in (x, y):
            return y if x == 0 else x
        if MASK in (x, y):
            return MASK
        return f"({self.text(x)} | {self.text(y)})"

    def add(self, *xs: Value) -> Value:
        """The sum mod 2**32, constants folded; the first `imad` terms (list the ones computed last first)
        added one at a time as `mad(x, one, rest)`, outermost first, the others in one expression."""
        const, terms = 0, []
        for x in xs:
            if isinstance(x, int):
                const = (const + x) & MASK
            else:
                terms.append(x)
        if not terms:
            return const
        if const:
            terms.append(self.dialect.lit(const))
        mad = min(self.imad, len(terms) - 1)
        expr = terms[mad] if len(terms) == mad + 1 else "(" + " + ".join(terms[mad:]) + ")"
        for x in reversed(terms[:mad]):
            expr = f"mad({x}, one, {expr})"
        return expr

    def power(self, e: int) -> str:
        """The variable holding 2**e at run time (one << e, which ptxas cannot fold into a shift)."""
        self.powers.add(e)
        return f"p{e}"

    def sigma(self, x: Value, rotations: tuple[int, ...], shift: int | None = None) -> Value:
        """XOR of x's rotations (and x >> shift); with `wide`, the last rotations as the two halves of a
        64-bit multiply (disjoint bits, so XOR joins them), with `hi_shifts` the shift as a high half."""
        if isinstance(x, int):
            return self.xor(*(_rotr(x, n) for n in rotations), *(() if shift is None else (x >> shift,)))
        terms: list[Value] = []
        for i, n in enumerate(rotations):
            if i >= len(rotations) - self.wide:
                p = self.power(32 - n)
                terms += [f"mullo({x}, {p})", f"mulhi({x}, {p})"]
            else:
                terms.append(self.rotr(x, n))
        if shift is not None:
            terms.append(f"mulhi({x}, {self.power(32 - shift)})" if self.hi_shifts else self.shr(x, shift))
        return self.xor(*terms)

    # -- SHA-256 --
    def bsig0(self, x: Value) -> Value:
        return self.sigma(x, (2, 13, 22))

    def bsig1(self, x: Value) -> Value:
        return self.sigma(x, (6, 11, 25))

    def ssig0(self, x: Value) -> Value:
        return self.sigma(x, (7, 18), 3)

    def ssig1(self, x: Value) -> Value:
        return self.sigma(x, (17, 19), 10)

    def ch(self, e: Value, f: Value, g: Value) -> Value:
        return self.xor(g, self.and_(e, self.xor(f, g)))  # one LOP3

    def maj(self, a: Value, b: Value, c: Value) -> Value:
        return self.or_(self.and_(a, b), self.and_(c, self.or_(a, b)))  # one LOP3


@dataclass(frozen=True)
class Hash:
    """Variable names of one compression: A(t), E(t) are a and e before round t; W(t) the schedule word."""

    prefix: str

    def A(self, t: int) -> str:  # noqa: N802 - SHA-256's names
        return f"{self.prefix}a{t}"

    def E(self, t: int) -> str:  # noqa: N802
        return f"{self.prefix}e{t}"

    def W(self, t: int) -> str:  # noqa: N802
        return f"{self.prefix}w{t}"


def expand(wr: Writer, h: Hash, w: dict[int, Value], t: int) -> None:
    """w[t] from the 16 words before it (folded where they are constants)."""
    w[t] = wr.name(h.W(t), wr.add(wr.ssig1(w[t - 2]), wr.ssig0(w[t - 15]), w[t - 7], w[t - 16]))


def rounds(wr: Writer, h: Hash, s: list[Value], w: dict[int, Value], first: int, last: int, *,
           expand_from: int = 16, a_until: int = 64) -> list[Value]:
    """Rounds first..last-1 on the state s = [a..h]; schedule words t >= expand_from made just before use;
    the a half only in rounds t < a_until (later ones feed nothing that is read)."""
    for t in range(first, last):
        if (t - first) % ROUNDS_PER_BLOCK == 0:
            wr.new_block(f"{h.prefix} rounds {t}..")
        if t >= expand_from and t not in w:
            expand(wr, h, w, t)
        a, b, c, d, e, f, g, hh = s
        t1 = wr.name(f"{h.prefix}t{t}", wr.add(wr.bsig1(e), wr.ch(e, f, g), hh, w[t], K[t]))
        e_next = wr.name(h.E(t + 1), wr.add(t1, d))
        a_next = wr.name(h.A(t + 1), wr.add(t1, wr.bsig0(a), wr.maj(a, b, c))) if t < a_until else None
        s = [a_next, a, b, c, e_next, e, f, g]
    return s


def scan_body(wr: Writer) -> str:
    """Statements computing `h7` (H7 of sha256d of the header with nonce word `w3`); returns its variable."""
    job = wr.dialect.job
    one, two = Hash("p"), Hash("q")
    w: dict[int, Value] = {0: job(layout.TAIL), 1: job(layout.TAIL + 1), 2: job(layout.TAIL + 2), 3: "w3",
                           4: 0x80000000, **{t: 0 for t in range(5, 15)}, 15: 640}
    w[16], w[17] = job(layout.W16), job(layout.W17)
    w[18] = wr.name(one.W(18), wr.add(job(layout.W18_PART), wr.ssig0("w3")))
    w[19] = wr.name(one.W(19), wr.add(job(layout.W19_PART), "w3"))
    st = layout.STATE3
    s: list[Value] = [wr.name(one.A(4), wr.add(job(layout.A4_PART), "w3")), job(st), job(st + 1), job(st + 2),
                      wr.name(one.E(4), wr.add(job(layout.E4_PART), "w3")), job(st + 3), job(st + 4), job(st + 5)]
    s = rounds(wr, one, s, w, 4, 64, expand_from=20)
    wr.new_block("second hash")
    w2: dict[int, Value] = {i: wr.name(two.W(i), wr.add(v, job(layout.MID + i))) for i, v in enumerate(s)}
    w2.update({8: 0x80000000, **{t: 0 for t in range(9, 15)}, 15: 256})
    s = rounds(wr, two, list(H0), w2, 0, 60, a_until=57)
    expand(wr, two, w2, 60)
    _, _, _, d, e, f, g, hh = s  # round 60, its e half: e after it is h after round 63
    return wr.name("h7", wr.add(wr.bsig1(e), wr.ch(e, f, g), w2[60], d, hh, H0[7] + K[60]))


def block_body(wr: Writer, word) -> None:
    """s0..s7 absorb one 64-byte block whose word t is `word(t)` (the batch kernel: nothing is known)."""
    b = Hash("b")
    w: dict[int, Value] = {t: wr.name(b.W(t), word(t)) for t in range(16)}
    s = rounds(wr, b, [f"s{i}" for i in range(8)], w, 0, 64)
    for i, v in enumerate(s):
        wr.assign(f"s{i}", wr.add(f"s{i}", v))


def _lines(wr: Writer, depth: int) -> str:
    return "\n".join("    " * (depth + d) + line for d, line in wr.lines)


def numba_source(tuning: Tuning = DEFAULT) -> str:
    """Python source of `scan_kernel` and `batch_kernel` for numba.cuda.jit (names: cuda, uint32, rotr)."""
    scan = Writer(NumbaDialect(), imad=tuning.imad, wide=tuning.wide, hi_shifts=tuning.hi_shifts)
    h7 = scan_body(scan)
    powers = "".join(f"\n    p{e} = uint32(one << uint32({e}))" for e in sorted(scan.powers))
    batch = Writer(NumbaDialect())
    block_body(batch, lambda t: f"words[base + {t}]")
    h0 = ", ".join(f"uint32({x:#010x})" for x in H0)
    states = "\n".join(f"    states[i, {k}] = s{k}" for k in range(8))
    return f"""\
# Generated by kernels/sha256/rounds.py ({tuning}); mad(x, one, y) = x * one + y (one == 1);
# mullo / mulhi(x, p): the halves of the 64-bit x * p.
def scan_kernel(job, one, start, count, per_thread, hits, n_hits, capacity):
    # Nonces start + offset for offset < count: thread g takes offsets g + i * gridsize, i < per_thread.
    # `one` is 1: the IMAD adds multiply by it (see kernels/sha256/rounds.py).
    stride = cuda.gridsize(1)
    offset = cuda.grid(1)
    target_hi = job[{layout.TARGET_HI}]{powers}
    for _ in range(per_thread):
        if offset >= count:
            return
        nonce = uint32(start + offset)
        w3 = uint32({scan.dialect.bswap("nonce")})
{_lines(scan, 2)}
        if uint32({scan.dialect.bswap(h7)}) <= target_hi:
            slot = cuda.atomic.add(n_hits, 0, uint32(1))
            if slot < capacity:
                hits[slot] = nonce
        offset += stride


def batch_kernel(words, offsets, counts, states, n):
    # Message i = blocks offsets[i] .. offsets[i]+counts[i]-1 of `words`; its final state -> states[i].
    i = cuda.grid(1)
    if i >= n:
        return
    s0, s1, s2, s3, s4, s5, s6, s7 = {h0}
    for block in range(offsets[i], offsets[i] + counts[i]):
        base = block * 16
{_lines(batch, 2)}
{states}
"""


def cuda_source(tuning: Tuning = DEFAULT) -> str:
    """CUDA C of the kernels `sha256d_scan` and `sha256_batch` (no includes, no -D options needed)."""
    scan = Writer(CudaDialect(), imad=tuning.imad, wide=tuning.wide, hi_shifts=tuning.hi_shifts)
    h7 = scan_body(scan)
    powers = "".join(f"\n    const uint p{e} = one << {e};" for e in sorted(scan.powers))
    batch = Writer(CudaDialect())
    block_body(batch, lambda t: f"words[b * 16 + {t}]")
    params = ", ".join(f"const uint j{i}" for i in range(layout.JOB_WORDS))
    h0 = "\n".join(f"    uint s{i} = {x:#010x}u;" for i, x in enumerate(H0))
    states = "\n".join(f"    states[8 * i + {k}] = s{k};" for k in range(8))
    return f"""\
/* SHA-256 batch hashing and the SHA-256d nonce scan in CUDA C. GENERATED by kernels/sha256/rounds.py
 * ({tuning}); do not edit: `python -m kernels.sha256.rounds --write`.
 * kernels/sha256/cupy_cuda.py loads it with cupy.RawModule; it also compiles alone: nvcc -arch=sm_90 -cubin.
 * The job (device_scan.job) arrives as the kernel parameters j0..j{layout.JOB_WORDS - 1} (the constant bank),
 * as in the Numba kernel; `one` is 1, and the adds written mad(x, one, y) become IMAD (rounds.py says why). */

typedef unsigned int uint;

/* x * one + y as one PTX mad (IMAD in SASS): inline PTX, so that no compiler pass refactors the sums.
 * (Plain C off the device: tests/host_cuda.py runs these kernels with a host C++ compiler.) */
static __device__ __forceinline__ uint mad(const uint x, const uint one, const uint y)
{{
#ifdef __CUDA_ARCH__
    uint r;
    asm("mad.lo.u32 %0, %1, %2, %3;" : "=r"(r) : "r"(x), "r"(one), "r"(y));
    return r;
#else
    return x * one + y;
#endif
}}

/* The low and high halves of the 64-bit x * p (one IMAD.WIDE.U32 for both, when ptxas pairs them). */
static __device__ __forceinline__ uint mullo(const uint x, const uint p)
{{
#ifdef __CUDA_ARCH__
    uint r;
    asm("mul.lo.u32 %0, %1, %2;" : "=r"(r) : "r"(x), "r"(p));
    return r;
#else
    return x * p;
#endif
}}

static __device__ __forceinline__ uint mulhi(const uint x, const uint p)
{{
#ifdef __CUDA_ARCH__
    uint r;
    asm("mul.hi.u32 %0, %1, %2;" : "=r"(r) : "r"(x), "r"(p));
    return r;
#else
    return (uint)(((unsigned long long)x * p) >> 32);
#endif
}}

/* Scan nonces start + offset for offset < count; thread g tries offsets g + i * (threads in the grid),
 * i < per_thread. Candidates (top hash word <= the target's) go to hits[] through n_hits, which keeps
 * counting past `capacity`; the host re-verifies every candidate with hashlib. */
extern "C" __global__ void __launch_bounds__({SCAN_BLOCK}) sha256d_scan(
    {params},
    const uint one, const uint start, const uint count, const uint per_thread, uint *hits, uint *n_hits,
    const uint capacity)
{{
    const uint stride = gridDim.x * blockDim.x;
    const uint target_hi = j{layout.TARGET_HI};{powers}
    uint offset = blockIdx.x * blockDim.x + threadIdx.x;
    for (uint i = 0; i < per_thread && offset < count; i++, offset += stride) {{
        const uint nonce = start + offset;
        const uint w3 = {scan.dialect.bswap("nonce")};
{_lines(scan, 2)}
        if ({scan.dialect.bswap(h7)} <= target_hi) {{
            const uint slot = atomicAdd(n_hits, 1u);
            if (slot < capacity)
                hits[slot] = nonce;
        }}
    }}
}}

/* SHA-256 of n messages, one per thread: message i is blocks offsets[i] .. offsets[i]+counts[i]-1 of
 * `words` (padded big-endian words, reference.pack_messages); its final state goes to states[8i..8i+7]. */
extern "C" __global__ void sha256_batch(const uint *words, const long long *offsets, const long long *counts,
                                        uint *states, const uint n)
{{
    const uint i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
{h0}
    for (long long b = offsets[i], end = offsets[i] + counts[i]; b < end; b++) {{
{_lines(batch, 2)}
    }}
{states}
}}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write out the generated SHA-256d CUDA kernels.")
    parser.add_argument("--write", action="store_true", help=f"rewrite {CUDA_FILE.name} (else print the CUDA C)")
    parser.add_argument("--numba", action="store_true", help="print the Numba CUDA Python instead")
    args = parser.parse_args(argv)
    if args.write:
        CUDA_FILE.write_text(cuda_source(), encoding="utf-8")
    else:
        sys.stdout.write(numba_source() if args.numba else cuda_source())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

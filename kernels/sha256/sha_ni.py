"""SHA-256 compressions on the x86 SHA extensions (SHA-NI), as Numba intrinsics written in LLVM IR.

Where the CPU has SHA-NI but no 512-bit vectors (AMD Zen 1-3, Intel client cores), a core hashes nonces
on its SHA unit faster than in its AVX2 lanes: on a 2-core Zen 3 VM 43-48 MH/s against 18-19 for
numba_cpu's 8-lane kernel (and 38-40 for cpuminer-opt's SHA-NI loop). With 16 lanes of AVX-512 the lanes
did 60-92 MH/s on Zen 4 / Zen 5, so numba_cpu picks this path only where the vectors are narrower (see
numba_cpu.scan_kernel).

`sha256rnds2` does two rounds on the state held as two vectors, ABEF and CDGH (lane 0 = F and H), with
two message words plus K in the low lanes of its third operand; `sha256msg1` / `sha256msg2` extend the
schedule four words at a time. The state goes in and out as tuples of uint32, so LLVM keeps it in
registers and folds the constant padding words of a block header's last block and of the second hash.

One block's 32 `sha256rnds2` form a chain, each waiting for the result of the last, so
`compress_each` and `last_word_each` hash several blocks with their rounds interleaved. LLVM's scheduler
undid that interleaving for the intrinsic (one stream after the other), so there the instruction is
written as volatile inline assembly, which keeps the order written: one nonce at a time did 15.7-16.1 MH/s
on one Zen 3 thread, two interleaved 23.2-24.0 (three or four: slower than two).

compress_into reads and writes the state as two 128-bit vectors: returning all eight words as scalars
instead let LLVM's SLP pass put 256-bit AVX code beside the legacy-SSE SHA instructions, 5 us a block, not
40 ns, on Zen 3. The four functions numba_cpu calls come from kernels/sha256/sha_unit.py.
"""

from __future__ import annotations

import platform
from functools import lru_cache

from llvmlite import ir

from kernels.runtime import cpu
from kernels.sha256 import reference as ref
from kernels.sha256.sha_unit import V4, Unit, intrinsics, lane, shuffle, vector


KERNEL = "sha-ni"  # numba_cpu's name for the scan on this unit (SITEBENCH_SHA256_CPU)
INSTRUCTIONS = "the SHA extensions (SHA-NI)"


def available(features: set[str] | None = None) -> bool:
    """Whether Numba compiles for a target with SHA-NI here (x86-64 with '+sha' in its features)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    features = cpu.compile_features() if features is None else features
    return {"+sha", "+sse4.1"} <= features


def _sha(builder, name: str, *args):
    fn = builder.module.declare_intrinsic(f"llvm.x86.{name}", fnty=ir.FunctionType(V4, [V4] * len(args)))
    return builder.call(fn, args)


_RNDS2 = ir.InlineAsm(ir.FunctionType(V4, [V4] * 3), "sha256rnds2 $3, $2, $0", "=x,0,x,{xmm0}", side_effect=True)


@lru_cache(maxsize=1)
def _asm_parser() -> None:
    """Numba's LLVM reads no inline assembly until its parser is set up (once per process)."""
    import llvmlite.binding as llvm

    llvm.initialize_native_asmparser()


def _rnds2_in_order(builder, cdgh, abef, wk):
    """sha256rnds2 as volatile inline assembly (kept in the order written, see the module docstring)."""
    _asm_parser()
    return builder.call(_RNDS2, [cdgh, abef, wk])


def _packed(builder, state):
    """ABEF and CDGH from the scalars a..h."""
    a, b, c, d, e, f, g, h = state
    return vector(builder, [f, e, b, a]), vector(builder, [h, g, d, c])


def _unpacked(builder, abef, cdgh):
    """a..h from ABEF = [F, E, B, A] and CDGH = [H, G, D, C]."""
    return [lane(builder, abef, 3), lane(builder, abef, 2), lane(builder, cdgh, 3), lane(builder, cdgh, 2),
            lane(builder, abef, 1), lane(builder, abef, 0), lane(builder, cdgh, 1), lane(builder, cdgh, 0)]


def _rounds(builder, streams, rounds: int):
    """ABEF and CDGH of each independent (abef, cdgh, 16 message words) after `rounds` (even, <= 64) rounds,
    each step written for every stream before the next."""
    abef = [s[0] for s in streams]
    cdgh = [s[1] for s in streams]
    schedule = [[vector(builder, s[2][4 * i : 4 * i + 4]) for i in range(4)] for s in streams]
    if len(streams) == 1:
        rnds2 = lambda *a: _sha(builder, "sha256rnds2", *a)  # noqa: E731 - nothing to interleave
    else:
        rnds2 = lambda *a: _rnds2_in_order(builder, *a)  # noqa: E731
    for group in range(-(-rounds // 4)):
        k = ir.Constant(V4, [int(x) for x in ref.K[4 * group : 4 * group + 4]])
        wk = []
        for w in schedule:
            if group >= 4:  # W[t..t+3] from W[t-16..t-13], W[t-12..t-9], W[t-7..t-4], W[t-4..t-1]
                older, old, prev, last = (w[(group + j) % 4] for j in range(4))
                mixed = builder.add(_sha(builder, "sha256msg1", older, old), shuffle(builder, prev, last, [1, 2, 3, 4]))
                w[group % 4] = _sha(builder, "sha256msg2", mixed, last)
            wk.append(builder.add(w[group % 4], k))
        for half in (0, 1):
            if 4 * group + 2 * half >= rounds:
                break
            for i, x in enumerate(wk):
                x = shuffle(builder, x, x, [2, 3, 0, 1]) if half else x
                cdgh[i], abef[i] = abef[i], rnds2(cdgh[i], abef[i], x)
    return list(zip(abef, cdgh))


SHA_NI = Unit(
    name="sha_ni",
    rounds=_rounds,
    pack=_packed,
    unpack=_unpacked,
    # memory holds a b c d | e f g h; ABEF = [F, E, B, A], CDGH = [H, G, D, C]
    from_halves=lambda builder, low, high: (shuffle(builder, low, high, [5, 4, 1, 0]),
                                            shuffle(builder, low, high, [7, 6, 3, 2])),
    to_halves=lambda builder, abef, cdgh: (shuffle(builder, abef, cdgh, [3, 2, 7, 6]),
                                           shuffle(builder, abef, cdgh, [1, 0, 5, 4])),
    # the final h is round 60's e, which round 61 moves to f (lane 0 of ABEF): rounds 62 and 63 are skipped
    last_word_rounds=62,
    final_h=lambda builder, abef, cdgh: lane(builder, abef, 0),
)

compress_each, last_word_each, compress_into, compress_bytes_into = intrinsics(SHA_NI)

"""SHA-256 compressions on the x86 SHA extensions (SHA-NI), as Numba intrinsics written in LLVM IR.

Where the CPU has SHA-NI but no 512-bit vectors (AMD Zen 1-3, Intel client cores), one core hashes one
nonce at a time on its SHA unit faster than it hashes 8 nonces in the AVX2 lanes: on a 2-core Zen 3 VM a
plain C scan with these instructions did 28-29 MH/s against 18-20 for numba_cpu's 8-lane kernel. With
16 lanes of AVX-512 the lanes win (60-90 MH/s against about 30), so numba_cpu picks this path only where
the vectors are narrower (see numba_cpu.scan_kernel).

`sha256rnds2` does two rounds on the state held as two vectors, ABEF and CDGH (lane 0 = F and H), with
two message words plus K in the low lanes of its third operand; `sha256msg1` / `sha256msg2` extend the
schedule four words at a time. The state goes in and out as tuples of uint32, so LLVM keeps it in
registers and folds the constant padding words of a block header's last block and of the second hash.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from kernels.runtime import cpu
from kernels.sha256 import reference as ref

I32 = ir.IntType(32)
V4 = ir.VectorType(I32, 4)
STATE = types.UniTuple(types.uint32, 8)
BLOCK = types.UniTuple(types.uint32, 16)


def available(features: set[str] | None = None) -> bool:
    """Whether Numba compiles for a target with SHA-NI here (x86-64 with '+sha' in its features)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    features = cpu.compile_features() if features is None else features
    return {"+sha", "+sse4.1"} <= features


def _vector(builder, words):
    """<4 x i32> with words[0] in lane 0."""
    v = ir.Constant(V4, ir.Undefined)
    for lane, word in enumerate(words):
        v = builder.insert_element(v, word, ir.Constant(I32, lane))
    return v


def _lane(builder, v, lane: int):
    return builder.extract_element(v, ir.Constant(I32, lane))


def _shuffle(builder, a, b, lanes):
    return builder.shuffle_vector(a, b, ir.Constant(V4, lanes))


def _sha(builder, name: str, *args):
    fn = builder.module.declare_intrinsic(f"llvm.x86.{name}", fnty=ir.FunctionType(V4, [V4] * len(args)))
    return builder.call(fn, args)


def _packed(builder, state):
    """ABEF and CDGH from the scalars a..h."""
    a, b, c, d, e, f, g, h = state
    return _vector(builder, [f, e, b, a]), _vector(builder, [h, g, d, c])


def _rounds(builder, abef, cdgh, words, rounds: int):
    """ABEF and CDGH after `rounds` (an even number <= 64) rounds over `words` (16 scalars)."""
    schedule = [_vector(builder, words[4 * i : 4 * i + 4]) for i in range(4)]
    for group in range(-(-rounds // 4)):
        if group >= 4:  # W[t..t+3] from W[t-16..t-13], W[t-12..t-9], W[t-7..t-4], W[t-4..t-1]
            older, old, prev, last = (schedule[(group + i) % 4] for i in range(4))
            mixed = builder.add(_sha(builder, "sha256msg1", older, old), _shuffle(builder, prev, last, [1, 2, 3, 4]))
            schedule[group % 4] = _sha(builder, "sha256msg2", mixed, last)
        k = ir.Constant(V4, [int(x) for x in ref.K[4 * group : 4 * group + 4]])
        wk = builder.add(schedule[group % 4], k)
        cdgh, abef = abef, _sha(builder, "sha256rnds2", cdgh, abef, wk)
        if 4 * group + 2 < rounds:
            cdgh, abef = abef, _sha(builder, "sha256rnds2", cdgh, abef, _shuffle(builder, wk, wk, [2, 3, 0, 1]))
    return abef, cdgh


def _check(state, block):
    if state != STATE or block != BLOCK:
        raise TypingError(f"sha_ni takes (UniTuple(uint32, 8), UniTuple(uint32, 16)), got ({state}, {block})")


def _unpack(context, builder, sig, args):
    state = [builder.extract_value(args[0], i) for i in range(8)]
    words = [builder.extract_value(args[1], i) for i in range(16)]
    return state, words


@intrinsic
def compress(typingctx, state, block):
    """The SHA-256 chaining value after one 64-byte block: state (a..h) plus the 64 rounds over block."""
    _check(state, block)

    def codegen(context, builder, sig, args):
        start, words = _unpack(context, builder, sig, args)
        abef, cdgh = _rounds(builder, *_packed(builder, start), words, 64)
        # a..h from lanes: ABEF = [F, E, B, A], CDGH = [H, G, D, C]
        after = [_lane(builder, abef, 3), _lane(builder, abef, 2), _lane(builder, cdgh, 3), _lane(builder, cdgh, 2),
                 _lane(builder, abef, 1), _lane(builder, abef, 0), _lane(builder, cdgh, 1), _lane(builder, cdgh, 0)]
        out = ir.Constant(context.get_value_type(sig.return_type), ir.Undefined)
        for i, (x, y) in enumerate(zip(start, after)):
            out = builder.insert_value(out, builder.add(x, y), i)
        return out

    return STATE(state, block), codegen


@intrinsic
def last_word(typingctx, state, block):
    """Word H7 of the chaining value after one block, from 62 rounds: the final h is round 60's e, which
    round 61 moves to f (lane 0 of ABEF), so rounds 62 and 63 are not computed."""
    _check(state, block)

    def codegen(context, builder, sig, args):
        start, words = _unpack(context, builder, sig, args)
        abef, _ = _rounds(builder, *_packed(builder, start), words, 62)
        return builder.add(start[7], _lane(builder, abef, 0))

    return types.uint32(state, block), codegen


@intrinsic
def compress_into(typingctx, state, block):
    """compress on a state kept in memory: state (a uint32 array of 8, a..h) becomes the chaining value
    after `block`, read and written as two 128-bit vectors. Returning all eight words as scalars instead
    let LLVM's SLP pass put 256-bit AVX code beside the legacy-SSE SHA instructions: 5 us a block, not
    40 ns, on Zen 3."""
    if not (isinstance(state, types.Array) and state.dtype == types.uint32 and state.ndim == 1
            and state.layout == "C" and block == BLOCK):
        raise TypingError(f"compress_into takes (a C-contiguous uint32 array of 8, UniTuple(uint32, 16)), got "
                          f"({state}, {block})")

    def codegen(context, builder, sig, args):
        array = context.make_array(sig.args[0])(context, builder, args[0])
        base = builder.bitcast(array.data, V4.as_pointer())
        low_ptr, high_ptr = base, builder.gep(base, [ir.Constant(I32, 1)])
        low, high = builder.load(low_ptr, align=4), builder.load(high_ptr, align=4)  # a b c d, e f g h
        start_abef, start_cdgh = _shuffle(builder, low, high, [5, 4, 1, 0]), _shuffle(builder, low, high, [7, 6, 3, 2])
        words = [builder.extract_value(args[1], i) for i in range(16)]
        abef, cdgh = _rounds(builder, start_abef, start_cdgh, words, 64)
        abef, cdgh = builder.add(abef, start_abef), builder.add(cdgh, start_cdgh)
        builder.store(_shuffle(builder, abef, cdgh, [3, 2, 7, 6]), low_ptr, align=4)
        builder.store(_shuffle(builder, abef, cdgh, [1, 0, 5, 4]), high_ptr, align=4)
        return context.get_dummy_value()

    return types.none(state, block), codegen

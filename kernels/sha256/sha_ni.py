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
"""

from __future__ import annotations

import platform
from functools import lru_cache

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
    return _vector(builder, [f, e, b, a]), _vector(builder, [h, g, d, c])


def _unpacked(builder, abef, cdgh):
    """a..h from ABEF = [F, E, B, A] and CDGH = [H, G, D, C]."""
    return [_lane(builder, abef, 3), _lane(builder, abef, 2), _lane(builder, cdgh, 3), _lane(builder, cdgh, 2),
            _lane(builder, abef, 1), _lane(builder, abef, 0), _lane(builder, cdgh, 1), _lane(builder, cdgh, 0)]


def _rounds(builder, streams, rounds: int):
    """ABEF and CDGH of each independent (abef, cdgh, 16 message words) after `rounds` (even, <= 64) rounds,
    each step written for every stream before the next."""
    abef = [s[0] for s in streams]
    cdgh = [s[1] for s in streams]
    schedule = [[_vector(builder, s[2][4 * i : 4 * i + 4]) for i in range(4)] for s in streams]
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
                mixed = builder.add(_sha(builder, "sha256msg1", older, old), _shuffle(builder, prev, last, [1, 2, 3, 4]))
                w[group % 4] = _sha(builder, "sha256msg2", mixed, last)
            wk.append(builder.add(w[group % 4], k))
        for half in (0, 1):
            if 4 * group + 2 * half >= rounds:
                break
            for i, x in enumerate(wk):
                x = _shuffle(builder, x, x, [2, 3, 0, 1]) if half else x
                cdgh[i], abef[i] = abef[i], rnds2(cdgh[i], abef[i], x)
    return list(zip(abef, cdgh))


def _blocks(blocks) -> int:
    """How many blocks a UniTuple(BLOCK, n) holds; TypingError for anything else."""
    if not (isinstance(blocks, types.UniTuple) and blocks.dtype == BLOCK):
        raise TypingError(f"sha_ni takes a tuple of blocks, each UniTuple(uint32, 16), got {blocks}")
    return blocks.count


def _check_state(state):
    if state != STATE:
        raise TypingError(f"sha_ni takes a state of UniTuple(uint32, 8), got {state}")


def _streams(builder, args, count: int):
    """The state's scalars, and (abef, cdgh, words) for each of `count` blocks."""
    start = [builder.extract_value(args[0], i) for i in range(8)]
    packed = _packed(builder, start)
    blocks = [builder.extract_value(args[1], j) for j in range(count)]
    return start, [(*packed, [builder.extract_value(b, i) for i in range(16)]) for b in blocks]


def _tuple(context, builder, type_, values):
    out = ir.Constant(context.get_value_type(type_), ir.Undefined)
    for i, v in enumerate(values):
        out = builder.insert_value(out, v, i)
    return out


@intrinsic
def compress_each(typingctx, state, blocks):
    """The SHA-256 chaining value after each of n 64-byte blocks from one state (a..h): a tuple of n
    states, their rounds interleaved."""
    _check_state(state)
    count = _blocks(blocks)
    result = types.UniTuple(STATE, count)

    def codegen(context, builder, sig, args):
        start, streams = _streams(builder, args, count)
        states = []
        for abef, cdgh in _rounds(builder, streams, 64):
            after = [builder.add(x, y) for x, y in zip(start, _unpacked(builder, abef, cdgh))]
            states.append(_tuple(context, builder, STATE, after))
        return _tuple(context, builder, result, states)

    return result(state, blocks), codegen


@intrinsic
def last_word_each(typingctx, state, blocks):
    """Word H7 of the chaining value after each of n blocks, from 62 rounds: the final h is round 60's e,
    which round 61 moves to f (lane 0 of ABEF), so rounds 62 and 63 are not computed."""
    _check_state(state)
    count = _blocks(blocks)
    result = types.UniTuple(types.uint32, count)

    def codegen(context, builder, sig, args):
        start, streams = _streams(builder, args, count)
        words = [builder.add(start[7], _lane(builder, abef, 0)) for abef, _ in _rounds(builder, streams, 62)]
        return _tuple(context, builder, result, words)

    return result(state, blocks), codegen


@intrinsic
def compress_into(typingctx, states, blocks):
    """compress_each on states kept in memory: each of the n uint32 arrays of 8 (a..h) in `states` becomes
    its chaining value after its block, read and written as two 128-bit vectors. Returning all eight words
    as scalars instead let LLVM's SLP pass put 256-bit AVX code beside the legacy-SSE SHA instructions:
    5 us a block, not 40 ns, on Zen 3."""
    count = _blocks(blocks)
    if not (isinstance(states, types.UniTuple) and states.count == count and isinstance(states.dtype, types.Array)
            and states.dtype.dtype == types.uint32 and states.dtype.ndim == 1 and states.dtype.layout == "C"):
        raise TypingError(f"compress_into takes a tuple of {count} C-contiguous uint32 arrays of 8 and as many "
                          f"blocks, got ({states}, {blocks})")

    def codegen(context, builder, sig, args):
        pointers, streams = [], []
        for j in range(count):
            array = context.make_array(sig.args[0].dtype)(context, builder, builder.extract_value(args[0], j))
            base = builder.bitcast(array.data, V4.as_pointer())
            low_ptr, high_ptr = base, builder.gep(base, [ir.Constant(I32, 1)])
            low, high = builder.load(low_ptr, align=4), builder.load(high_ptr, align=4)  # a b c d, e f g h
            abef, cdgh = _shuffle(builder, low, high, [5, 4, 1, 0]), _shuffle(builder, low, high, [7, 6, 3, 2])
            block = builder.extract_value(args[1], j)
            pointers.append((low_ptr, high_ptr, abef, cdgh))
            streams.append((abef, cdgh, [builder.extract_value(block, i) for i in range(16)]))
        for (low_ptr, high_ptr, abef0, cdgh0), (abef, cdgh) in zip(pointers, _rounds(builder, streams, 64)):
            abef, cdgh = builder.add(abef, abef0), builder.add(cdgh, cdgh0)
            builder.store(_shuffle(builder, abef, cdgh, [3, 2, 7, 6]), low_ptr, align=4)
            builder.store(_shuffle(builder, abef, cdgh, [1, 0, 5, 4]), high_ptr, align=4)
        return context.get_dummy_value()

    return types.none(states, blocks), codegen

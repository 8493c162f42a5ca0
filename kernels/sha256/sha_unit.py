"""What the CPUs' SHA-256 units share: four Numba intrinsics built from one unit's round code.

A unit (x86 SHA-NI in sha_ni.py, Arm SHA2 in arm_sha2.py) holds the state in two 128-bit vectors in its
own order and runs the rounds of several independent blocks interleaved. `intrinsics(unit)` turns that
into the four functions numba_cpu calls, the same on either CPU:
- compress_each(state, blocks): the chaining value after each block, from one state (tuples of uint32, so
  LLVM keeps them in registers and folds constant padding words);
- last_word_each(state, blocks): only word H7 of each (the SHA-256d scan's early reject);
- compress_into(states, blocks): in place on uint32 arrays of 8 (hash_batch's chaining values);
- compress_bytes_into(states, data, starts): the same with each block loaded from memory (any alignment)
  as four byte-swapped 128-bit vectors (hash_batch's whole blocks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llvmlite import ir
from numba import types
from numba.core.errors import TypingError
from numba.extending import intrinsic

I32 = ir.IntType(32)
V4 = ir.VectorType(I32, 4)
STATE = types.UniTuple(types.uint32, 8)
BLOCK = types.UniTuple(types.uint32, 16)


def vector(builder, words):
    """<4 x i32> with words[0] in lane 0."""
    v = ir.Constant(V4, ir.Undefined)
    for lane, word in enumerate(words):
        v = builder.insert_element(v, word, ir.Constant(I32, lane))
    return v


def lane(builder, v, index: int):
    return builder.extract_element(v, ir.Constant(I32, index))


def shuffle(builder, a, b, lanes):
    return builder.shuffle_vector(a, b, ir.Constant(V4, lanes))


@dataclass(frozen=True)
class Unit:
    """One CPU's SHA-256 instructions, as LLVM IR builders. The state is a pair of <4 x i32> (x, y) in the
    unit's own order; a stream is (x, y, 16 message words)."""

    name: str
    rounds: Callable  # (builder, streams, count) -> [(x, y)] after `count` rounds, streams interleaved
    pack: Callable  # (builder, [a..h] scalars) -> (x, y)
    unpack: Callable  # (builder, x, y) -> [a..h] scalars
    from_halves: Callable  # (builder, a..d, e..h as loaded from memory) -> (x, y)
    to_halves: Callable  # (builder, x, y) -> (a..d, e..h) to store
    last_word_rounds: int  # rounds after which the final h is known
    final_h: Callable  # (builder, x, y) after last_word_rounds -> the final h (before the add of H7)


def _block_count(blocks, unit: Unit) -> int:
    """How many blocks a UniTuple(BLOCK, n) holds; TypingError for anything else."""
    if not (isinstance(blocks, types.UniTuple) and blocks.dtype == BLOCK):
        raise TypingError(f"{unit.name} takes a tuple of blocks, each UniTuple(uint32, 16), got {blocks}")
    return blocks.count


def _check_state(state, unit: Unit):
    if state != STATE:
        raise TypingError(f"{unit.name} takes a state of UniTuple(uint32, 8), got {state}")


def chaining_values(unit: Unit, builder, start, blocks) -> list[list]:
    """The eight words (a..h) of the chaining value after each block of `blocks` (lists of 16 message
    words) from the state `start` (eight scalars), the blocks' rounds interleaved."""
    x, y = unit.pack(builder, start)
    done = unit.rounds(builder, [(x, y, words) for words in blocks], 64)
    return [[builder.add(s, r) for s, r in zip(start, unit.unpack(builder, *xy))] for xy in done]


def last_words(unit: Unit, builder, start, blocks) -> list:
    """Word H7 of the chaining value after each block, from the fewest rounds that fix it."""
    x, y = unit.pack(builder, start)
    done = unit.rounds(builder, [(x, y, words) for words in blocks], unit.last_word_rounds)
    return [builder.add(start[7], unit.final_h(builder, *xy)) for xy in done]


def _block_words(builder, blocks, count: int) -> list[list]:
    """Each of the `count` blocks of a tuple of blocks, as its 16 words."""
    return [[builder.extract_value(builder.extract_value(blocks, j), i) for i in range(16)] for j in range(count)]


def _unpacked_args(builder, args, count: int):
    """The state tuple's eight scalars, and each of `count` blocks' 16 words."""
    return [builder.extract_value(args[0], i) for i in range(8)], _block_words(builder, args[1], count)


def _tuple(context, builder, type_, values):
    out = ir.Constant(context.get_value_type(type_), ir.Undefined)
    for i, v in enumerate(values):
        out = builder.insert_value(out, v, i)
    return out


def intrinsics(unit: Unit):
    """compress_each, last_word_each, compress_into and compress_bytes_into on `unit` (see the module
    docstring)."""

    @intrinsic
    def compress_each(typingctx, state, blocks):
        """The SHA-256 chaining value after each of n 64-byte blocks from one state (a..h): a tuple of n
        states, their rounds interleaved."""
        _check_state(state, unit)
        count = _block_count(blocks, unit)
        result = types.UniTuple(STATE, count)

        def codegen(context, builder, sig, args):
            states = chaining_values(unit, builder, *_unpacked_args(builder, args, count))
            return _tuple(context, builder, result, [_tuple(context, builder, STATE, words) for words in states])

        return result(state, blocks), codegen

    @intrinsic
    def last_word_each(typingctx, state, blocks):
        """Word H7 of the chaining value after each of n blocks, from the fewest rounds that fix it."""
        _check_state(state, unit)
        count = _block_count(blocks, unit)
        result = types.UniTuple(types.uint32, count)

        def codegen(context, builder, sig, args):
            return _tuple(context, builder, result, last_words(unit, builder, *_unpacked_args(builder, args, count)))

        return result(state, blocks), codegen

    @intrinsic
    def compress_into(typingctx, states, blocks):
        """compress_each on states kept in memory: each of the n uint32 arrays of 8 (a..h) in `states`
        becomes its chaining value after its block, read and written as two 128-bit vectors."""
        count = _block_count(blocks, unit)
        _check_states(states, count, "compress_into", blocks)

        def codegen(context, builder, sig, args):
            _compress_states(unit, context, builder, sig.args[0], args[0], _block_words(builder, args[1], count))
            return context.get_dummy_value()

        return types.none(states, blocks), codegen

    @intrinsic
    def compress_bytes_into(typingctx, states, data, starts):
        """compress_into with each block read straight from memory: the 64 bytes of the uint8 array `data`
        from byte starts[j] (any alignment), as four 128-bit loads byte-swapped in their vectors, instead of
        16 big-endian words staged through scalars (hash_batch's whole blocks)."""
        if not (isinstance(starts, types.UniTuple) and isinstance(starts.dtype, types.Integer)):
            raise TypingError(f"compress_bytes_into takes a tuple of byte offsets, got {starts}")
        if not (isinstance(data, types.Array) and data.dtype == types.uint8 and data.ndim == 1 and data.layout == "C"):
            raise TypingError(f"compress_bytes_into reads a C-contiguous 1-D uint8 array, got {data}")
        count = starts.count
        _check_states(states, count, "compress_bytes_into", starts)

        def codegen(context, builder, sig, args):
            base = context.make_array(sig.args[1])(context, builder, args[1]).data
            bswap = builder.module.declare_intrinsic("llvm.bswap.v4i32", fnty=ir.FunctionType(V4, [V4]))
            block_words = []
            for j in range(count):
                first = builder.bitcast(builder.gep(base, [builder.extract_value(args[2], j)]), V4.as_pointer())
                vectors = [builder.call(bswap, [builder.load(builder.gep(first, [ir.Constant(I32, q)]), align=1)])
                           for q in range(4)]
                block_words.append([lane(builder, v, i) for v in vectors for i in range(4)])
            _compress_states(unit, context, builder, sig.args[0], args[0], block_words)
            return context.get_dummy_value()

        return types.none(states, data, starts), codegen

    return compress_each, last_word_each, compress_into, compress_bytes_into


def _check_states(states, count: int, name: str, blocks) -> None:
    if not (isinstance(states, types.UniTuple) and states.count == count and isinstance(states.dtype, types.Array)
            and states.dtype.dtype == types.uint32 and states.dtype.ndim == 1 and states.dtype.layout == "C"):
        raise TypingError(f"{name} takes a tuple of {count} C-contiguous uint32 arrays of 8 and as many blocks, "
                          f"got ({states}, {blocks})")


def _compress_states(unit: Unit, context, builder, states_type, states, block_words) -> None:
    """Each state array of the tuple `states` (a..h in memory, read and written as two 128-bit vectors)
    becomes its chaining value after its block of 16 message words, the blocks' rounds interleaved."""
    pointers, streams = [], []
    for j, words in enumerate(block_words):
        array = context.make_array(states_type.dtype)(context, builder, builder.extract_value(states, j))
        low_ptr = builder.bitcast(array.data, V4.as_pointer())
        high_ptr = builder.gep(low_ptr, [ir.Constant(I32, 1)])
        x, y = unit.from_halves(builder, builder.load(low_ptr, align=4), builder.load(high_ptr, align=4))
        pointers.append((low_ptr, high_ptr, x, y))
        streams.append((x, y, words))
    for (low_ptr, high_ptr, x0, y0), (x, y) in zip(pointers, unit.rounds(builder, streams, 64)):
        low, high = unit.to_halves(builder, builder.add(x, x0), builder.add(y, y0))
        builder.store(low, low_ptr, align=4)
        builder.store(high, high_ptr, align=4)

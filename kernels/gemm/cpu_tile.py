"""A GEMM register tile written in LLVM IR as a Numba intrinsic, for packed A: the micro-kernel of
numba-cpu on CPUs with 256- and 128-bit vectors (AVX2, SSE, Arm NEON).

Why IR: on AVX2 the tile that fits the 16 vector registers is 6 x 16 fp32 (12 accumulators, two
vectors of B, one broadcast of A; BLIS's Haswell shape), and from the scalar template that numba_cpu
generates for AVX-512, LLVM's SLP vectoriser hoisted all six broadcasts of a step above the FMAs and
spilled accumulators (0.43x OpenBLAS at 2048^3 on Zen 3, against 0.78-0.80x for this kernel reading A in
place). Reading A in place also left a serial chain of pointer adds (LLVM's loop strength reduction walks
one pointer down the six rows), one per FMA pair; with A packed as (K, MR) the six loads are constant
offsets from one pointer, advanced once per step of K.

`make(mr, width, nbytes, strip)` gives tile(kc, a, b, c, ci, cj, first): c[ci + r, cj + q] (+)= sum
over p < kc of a[p, r] * b[p, q] for r < mr, q < 2 * width, where `a` is a packed (kc, strip) strip
(strip >= mr: a partial row group runs a shorter tile on the same strips), `b` a packed
(kc, 2 * width) panel chunk (both C-contiguous: the caller guarantees it) and `c` any 2-D array whose
rows hold the tile; `first` stores instead of adding. Target-independent IR (`llvm.fma.*` vectors):
LLVM splits or widens the vectors for the host.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
VECTORS = 2  # vectors of B per step of K: NR = VECTORS * width


def make(mr: int, width: int, nbytes: int, strip: int | None = None):
    """The intrinsic for an mr x (VECTORS * width) tile of float32 (nbytes 4) or float64 (8) on A strips
    `strip` values wide (default mr)."""
    strip = mr if strip is None else strip
    scalar = ir.FloatType() if nbytes == 4 else ir.DoubleType()
    vec = ir.VectorType(scalar, width)
    accumulators = mr * VECTORS

    def tile(typingctx, kc, a, b, c, ci, cj, first):
        def codegen(context, builder, sig, args):
            kc_v, _, _, _, ci_v, cj_v, first_v = args
            arrays = [context.make_array(sig.args[i])(context, builder, args[i]) for i in (1, 2, 3)]
            a_base, b_base, c_base = (builder.bitcast(x.data, I8.as_pointer()) for x in arrays)
            b_step = builder.extract_value(arrays[1].strides, 0)
            c_rows, c_cols = (builder.extract_value(arrays[2].strides, i) for i in (0, 1))
            fma = builder.module.declare_intrinsic(f"llvm.fma.v{width}f{8 * nbytes}",
                                                   fnty=ir.FunctionType(vec, [vec] * 3))
            zero = ir.Constant(vec, [0.0] * width)
            splat_mask = ir.Constant(ir.VectorType(I32, width), [0] * width)
            entry = builder.block
            loop = builder.append_basic_block("tile.loop")
            done = builder.append_basic_block("tile.done")
            builder.cbranch(builder.icmp_signed(">", kc_v, ir.Constant(kc_v.type, 0)), loop, done)

            builder.position_at_end(loop)  # phi nodes first: step, A and B pointers, accumulators
            p = builder.phi(kc_v.type)
            a_ptr, b_ptr = builder.phi(a_base.type), builder.phi(b_base.type)
            acc = [builder.phi(vec) for _ in range(accumulators)]
            row = [builder.load(builder.bitcast(builder.gep(b_ptr, [ir.Constant(I64, q * width * nbytes)]),
                                                vec.as_pointer()), align=nbytes) for q in range(VECTORS)]
            new = []
            for r in range(mr):
                x = builder.load(builder.bitcast(builder.gep(a_ptr, [ir.Constant(I64, r * nbytes)]), scalar.as_pointer()))
                x = builder.shuffle_vector(builder.insert_element(ir.Constant(vec, ir.Undefined), x, ir.Constant(I32, 0)),
                                           ir.Constant(vec, ir.Undefined), splat_mask)
                new += [builder.call(fma, [x, row[q], acc[r * VECTORS + q]]) for q in range(VECTORS)]
            p_next = builder.add(p, ir.Constant(p.type, 1))
            for phi, start, step in ((p, ir.Constant(p.type, 0), p_next),
                                     (a_ptr, a_base, builder.gep(a_ptr, [ir.Constant(I64, strip * nbytes)])),
                                     (b_ptr, b_base, builder.gep(b_ptr, [b_step])),
                                     *((acc[i], zero, new[i]) for i in range(accumulators))):
                phi.add_incoming(start, entry)
                phi.add_incoming(step, loop)
            builder.cbranch(builder.icmp_signed("<", p_next, kc_v), loop, done)

            builder.position_at_end(done)
            sums = []
            for i in range(accumulators):
                phi = builder.phi(vec)
                phi.add_incoming(zero, entry)
                phi.add_incoming(new[i], loop)
                sums.append(phi)
            ptrs = []
            for r in range(mr):
                start = builder.add(builder.mul(builder.add(ci_v, ir.Constant(ci_v.type, r)), c_rows),
                                    builder.mul(cj_v, c_cols))
                row_ptr = builder.gep(c_base, [start])
                ptrs += [builder.bitcast(builder.gep(row_ptr, [ir.Constant(I64, q * width * nbytes)]), vec.as_pointer())
                         for q in range(VECTORS)]
            with builder.if_else(first_v) as (store, add):
                with store:
                    for ptr, value in zip(ptrs, sums):
                        builder.store(value, ptr, align=nbytes)
                with add:
                    for ptr, value in zip(ptrs, sums):
                        builder.store(builder.fadd(builder.load(ptr, align=nbytes), value), ptr, align=nbytes)
            return context.get_dummy_value()

        return types.none(kc, a, b, c, ci, cj, types.boolean), codegen

    tile.__name__ = tile.__qualname__ = f"tile_{mr}x{VECTORS * width}_f{8 * nbytes}_of_{strip}"
    return intrinsic(tile)

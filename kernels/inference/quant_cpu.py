"""Fused dequantise-and-dot kernels in Numba for Q8_0 and Q4_1 weights, and the decoder's layer pass.

Layout ("lanes"): rows are taken 16 at a time (`LANES`: one zmm of int32 or float32 sums). Inside a group
a block is chunks of 64 bytes in which lane r holds 4 consecutive quants of row r (see vnni.py), and its
fp16 scales (and Q4_1 minimums) of the 16 rows sit together, exactly the file's bytes rearranged. A group
dot then needs no horizontal sums: per block, one `vpdpbusd` per chunk (8 in all) multiplies the quants
by the broadcast int8 activations into 16 int32 lanes, which are scaled into 16 float32 accumulators
(d_w * d_x * sum, plus m_w * s_x for Q4_1) with the scales widened in registers. On hosts whose Numba
target lacks AVX-512 VNNI the same layout runs through plain loops (correct, much slower: LLVM gathers
the strided bytes). From plain loops over the file's own layout LLVM emitted `vpmaddwd` (Q4_1) and
`vpmulld` (Q8_0), never `vpdpbusd`, 2.6x slower; hence the intrinsics in vnni.py.

Activations are quantised per 32-block to int8 (quant.quantize_activations is the NumPy reference), as
llama.cpp does. `layers_forward` runs every layer of a forward pass in one call: per layer RMSNorm and
activation quantisation, the fused QKV product, rotary embedding, KV-cache store and attention, the
output product with its residual, the gate/up product with SwiGLU applied in the same loop (gate and up
row groups interleaved), and the down product with its residual.

A decode step (fewer than `PARALLEL_ROWS` activation rows) enters 3 parallel regions (`prange`) per layer,
each a fork and join of the thread team: the QKV product; attention with the O product (`attend_project`:
a part per thread takes whole heads, quantises their outputs, whose blocks are its own, and multiplies
them by the same K-range of W_o); the whole feed-forward block (`ffn`: a part per thread takes a slice of
the FFN width, gate/up, SwiGLU, quantisation and that slice's K-range of W_down). The parts' partial
products, d values per row each, are added to the residual serially after the region (`add_parts`).
Prefill (`PARALLEL_ROWS` or more rows) splits each product's rows over the threads (no partial sums) in a
region of its own, and attention too; for Q8_0 and Q4_1 also the two norms and two activation
quantisations: 9 regions per layer (5 for bf16w), few beside the work of many rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from kernels.inference import quant, vnni

LANES = 16
QK = quant.QK
FASTMATH = {"contract", "nnan", "ninf", "nsz", "arcp", "afn"}
PARALLEL_ROWS = 8  # activation rows from which norms and attention run in parallel too


def _variant(kind: str, isa: str) -> str:
    """Part of every generated function's name: Numba's on-disk cache keys on the name, and the variants
    share signatures (same array types), so equal names would load each other's machine code."""
    return f"{kind}_{isa}"


def _exec(source: str, names, suffix: str, namespace: dict) -> dict:
    for name in names:
        source = source.replace(f"def {name}(", f"def {name}_{suffix}(")
    exec(compile(source, __file__, "exec"), namespace)  # under this file's name: Numba's cache keys on it
    return {name: namespace[f"{name}_{suffix}"] for name in names}


# --- weights in lanes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lanes:
    """A quantised matrix in the kernels' layout; `rows` of them valid (the last group is zero-padded)."""

    kind: str
    q: np.ndarray  # (groups, blocks, 256 | 512) uint8: chunks of 64 bytes, 4 per lane (kernels/inference/vnni.py)
    s: np.ndarray  # (groups, blocks, 32 | 16) uint16: fp16 scales of the 16 rows (Q4_1: 16 d, then 16 m)
    rows: int

    @property
    def nbytes(self) -> int:
        """What a pass over the matrix reads: the file's bytes (plus any zero padding of the last group)."""
        return int(self.q.nbytes + self.s.nbytes)


def _padded(a: np.ndarray, groups: int) -> np.ndarray:
    pad = groups * LANES - a.shape[0]
    return np.concatenate([a, np.zeros((pad,) + a.shape[1:], a.dtype)]) if pad else a


def _scales(parts, groups: int) -> np.ndarray:
    """(rows, blocks) fp16 arrays -> (groups, blocks, LANES * len(parts)) fp16 bits, part after part."""
    lanes = [_padded(p, groups).view(np.uint16).reshape(groups, LANES, -1).transpose(0, 2, 1) for p in parts]
    return np.ascontiguousarray(np.concatenate(lanes, axis=-1))


def _chunks(q: np.ndarray, groups: int) -> np.ndarray:
    """(rows, blocks, bytes) uint8 -> (groups, blocks, bytes/4 * 4 * LANES): lane r's 4 bytes side by side."""
    q = _padded(q, groups)
    nb, width = q.shape[1], q.shape[2]
    q = q.reshape(groups, LANES, nb, width // 4, 4).transpose(0, 2, 3, 1, 4)  # (g, block, chunk, lane, byte)
    return np.ascontiguousarray(q).reshape(groups, nb, width * LANES)


def to_lanes(w: quant.QuantMatrix) -> Lanes:
    rows = w.shape[0]
    groups = -(-rows // LANES)
    if w.kind == "bf16w":  # (groups, blocks, 32 positions x LANES) bfloat16 bits, no scales
        q = _padded(w.q, groups).reshape(groups, LANES, -1, QK).transpose(0, 2, 3, 1)
        return Lanes(w.kind, np.ascontiguousarray(q).reshape(groups, -1, QK * LANES),
                     np.zeros((groups, w.q.shape[1], 0), np.uint16), rows)
    if w.kind == "q4_1":
        return Lanes(w.kind, _chunks(w.q, groups), _scales([w.d, w.m], groups), rows)
    unsigned = w.q.view(np.uint8) ^ np.uint8(0x80)  # q + 128, as vpdpbusd wants its first operand
    return Lanes(w.kind, _chunks(unsigned, groups), _scales([w.d], groups), rows)


def interleave_groups(a: Lanes, b: Lanes) -> Lanes:
    """Groups a0, b0, a1, b1, ...: one loop iteration reads gate group i and up group i together."""
    if a.kind != b.kind or a.q.shape != b.q.shape:
        raise ValueError("interleave_groups needs two matrices of one kind and shape")
    mix = lambda x, y: np.ascontiguousarray(np.stack([x, y], axis=1).reshape((2 * x.shape[0],) + x.shape[1:]))
    return Lanes(a.kind, mix(a.q, b.q), mix(a.s, b.s), a.rows + b.rows)


def stack_layers(parts: list[Lanes]) -> tuple[np.ndarray, np.ndarray]:
    """The same matrix of every layer as (layers, ...) arrays for one kernel call."""
    return tuple(np.ascontiguousarray(np.stack([getattr(p, f) for p in parts])) for f in ("q", "s"))


# --- the group dot products, generated --------------------------------------------------------------


def _group_source(kind: str, isa: str) -> str:
    """dst[r] = dot(row r of the group, activation row t) for the LANES rows of one group.

    With an int8 dot instruction set (vnni.ISAS) each block is one intrinsic (vnni.py) on a tuple of 16
    float32 accumulators, bound as block_<kind> for that set; without (vnni.PLAIN), loops
    over the same layout that LLVM vectorises as it can, fp16 scales widened one at a time.
    """
    L = LANES
    body = [f"def group_{kind}(wq, ws, xq, xd, xs, xi, t, dst):"]
    if kind == "bf16w":  # float32 activations; bfloat16 widened by a shift (vpmovzxwd, vpslld), then FMAs
        body += [f"    a{r} = np.float32(0.0)" for r in range(L)]
        body += ["    for blk in range(wq.shape[0]):", "        wb = wq[blk]", "        xb = xq[t, blk]",
                 f"        for k in range({QK}):", "            xk = xb[k]", f"            base = k * {L}"]
        body += [f"            a{r} += vnni.float_from_bits(np.int32(np.int32(wb[base + {r}]) << 16)) * xk" for r in range(L)]
        body += [f"    dst[{r}] = a{r}" for r in range(L)]
        return "\n".join(body) + "\n"
    if isa != vnni.PLAIN:
        body += ["    acc = (" + ", ".join(["np.float32(0.0)"] * L) + ",)"]
        body += ["    for blk in range(wq.shape[0]):"]
        if kind == "q4_1":
            body += ["        acc = block_q4_1(acc, wq[blk], ws[blk], xq[t, blk], xd[t, blk], xs[t, blk])"]
        else:
            body += ["        acc = block_q8_0(acc, wq[blk], ws[blk], xq[t, blk], xd[t, blk], xi[t, blk])"]
        body += [f"    dst[{r}] = acc[{r}]" for r in range(L)]
        return "\n".join(body) + "\n"
    body += [f"    a{r} = np.float32(0.0)" for r in range(L)]
    body += ["    for blk in range(wq.shape[0]):", "        wb = wq[blk]", "        xb = xq[t, blk]", "        sb = ws[blk]"]
    body += [f"        s{r} = np.int32(0)" for r in range(L)]
    chunks = 4 if kind == "q4_1" else 8
    body += [f"        for c in range({chunks}):", "            for k in range(4):"]
    body += ["                x0 = np.int32(xb[4 * c + k])"]
    if kind == "q4_1":
        body += ["                x1 = np.int32(xb[16 + 4 * c + k])"]
    body += ["                base = 64 * c + k"]
    for r in range(L):
        body += [f"                q{r} = np.int32(wb[base + {4 * r}])"]
        if kind == "q4_1":
            body += [f"                s{r} = np.int32(s{r} + (q{r} & 15) * x0 + (q{r} >> 4) * x1)"]
        else:
            body += [f"                s{r} = np.int32(s{r} + q{r} * x0)"]
    body += ["        dx = xd[t, blk]"]
    if kind == "q4_1":
        body += ["        sx = xs[t, blk]"]
        body += [f"        a{r} += vnni.widen_half(sb, {r}) * dx * np.float32(s{r}) + vnni.widen_half(sb, {L + r}) * sx"
                 for r in range(L)]
    else:
        body += ["        offset = 128 * xi[t, blk]  # the +128 of the unsigned quants"]
        body += [f"        a{r} += vnni.widen_half(sb, {r}) * dx * np.float32(s{r} - offset)" for r in range(L)]
    body += [f"    dst[{r}] = a{r}" for r in range(L)]
    return "\n".join(body) + "\n"


def _namespace(isa: str, **names) -> dict:
    """Globals of generated source: the intrinsics of `isa` under their plain names, and `names`."""
    return {"np": np, "vnni": vnni, **vnni.INTRINSICS.get(isa, {}), "__name__": __name__, **names}


def _make_group(kind: str, isa: str, cache: bool = True):
    namespace = _namespace(isa)
    source = _group_source(kind, isa).replace(f"def group_{kind}(", f"def group_{_variant(kind, isa)}(")
    exec(compile(source, __file__, "exec"), namespace)  # under this file's name: Numba's cache keys on it
    return njit(fastmath=FASTMATH, cache=cache)(namespace[f"group_{_variant(kind, isa)}"])


def _rows_source(kind: str, isa: str) -> str:
    """dots(..., n, count, dst): dst[i] = the group's 16 dots with activation row n + i, i < count <= 4.
    With an int8 dot instruction set four rows share each weight chunk's load and unpacking (rows4_*)."""
    R, L = vnni.ROWS, LANES
    body = ["def dots(wq, ws, xq, xd, xs, xi, n, count, dst):"]
    if kind == "bf16w":  # each widened weight feeds the 4 rows' FMAs
        body += [f"    if count == {R}:"]
        body += [f"        a{i}_{r} = np.float32(0.0)" for i in range(R) for r in range(L)]
        body += ["        for blk in range(wq.shape[0]):", "            wb = wq[blk]", f"            for k in range({QK}):",
                 f"                base = k * {L}"]
        body += [f"                w{r} = vnni.float_from_bits(np.int32(np.int32(wb[base + {r}]) << 16))" for r in range(L)]
        for i in range(R):
            body += [f"                x{i} = xq[n + {i}, blk, k]"]
            body += [f"                a{i}_{r} += w{r} * x{i}" for r in range(L)]
        body += [f"        dst[{i}, {r}] = a{i}_{r}" for i in range(R) for r in range(L)]
        body += ["        return"]
    if isa != vnni.PLAIN and kind in quant.INT8_KINDS:
        third = "xs" if kind == "q4_1" else "xi"
        body += [f"    if count == {R}:", "        z = (" + ", ".join(["np.float32(0.0)"] * L) + ",)",
                 "        acc = (" + ", ".join(["z"] * R) + ",)",
                 "        for blk in range(wq.shape[0]):",
                 f"            acc = rows4_{kind}(acc, wq[blk], ws[blk], xq[n:n + {R}, blk], xd[n:n + {R}, blk], "
                 f"{third}[n:n + {R}, blk])"]
        body += [f"        a{i} = acc[{i}]" for i in range(R)]
        body += [f"        dst[{i}, {r}] = a{i}[{r}]" for i in range(R) for r in range(L)]
        body += ["        return"]
    body += ["    for i in range(count):", "        group(wq, ws, xq, xd, xs, xi, n + i, dst[i])"]
    return "\n".join(body) + "\n"


def _make_rows(kind: str, isa: str, group):
    namespace = _namespace(isa, group=group)
    dots = _exec(_rows_source(kind, isa), ("dots",), _variant(kind, isa), namespace)["dots"]
    return njit(fastmath=FASTMATH, cache=True)(dots)


def _sample_args(kind: str, blocks: int = 18, tokens: int = 1):
    """Arguments of the types a group dot product is called with, for compiling it alone."""
    if kind == "bf16w":
        weights = (np.zeros((blocks, QK * LANES), np.uint16), np.zeros((blocks, 0), np.uint16))
    else:
        width, scales = (256, 2 * LANES) if kind == "q4_1" else (512, LANES)
        weights = (np.zeros((blocks, width), np.uint8), np.zeros((blocks, scales), np.uint16))
    return weights + (np.zeros((tokens, blocks, QK), ACTIVATION_DTYPE[kind]), np.zeros((tokens, blocks), np.float32),
                      np.zeros((tokens, blocks), np.float32), np.zeros((tokens, blocks), np.int32), 0,
                      np.zeros(LANES, np.float32))


def group_dot_asm(kind: str, isa: str | None = None) -> str:
    """Assembly of one group dot product, compiled afresh (Numba cannot show cached code)."""
    from numba import typeof

    kernel = _make_group(kind, ISA if isa is None else isa, cache=False)
    args = _sample_args(kind)
    signature = tuple(typeof(a) for a in args)
    kernel.compile(signature)
    return kernel.inspect_asm(signature)


ISA = vnni.host_isa()  # the int8 dot products the kernels use here: avx512vnni, avx2, neon_dotprod or plain
ACTIVATION_DTYPE = {"q8_0": np.int8, "q4_1": np.int8, "bf16w": np.float32}
_GROUP = {k: _make_group(k, ISA) for k in quant.KINDS}


# --- activation rows ----------------------------------------------------------------------------------


@njit(fastmath=FASTMATH, cache=True)
def fast_exp(x):
    """exp(x) in float32 from 2^n times a degree-6 polynomial of the fraction (relative error below 4e-6):
    unlike libm's expf, loops over it vectorise (SwiGLU's and softmax's exponentials were a third of a
    prefill)."""
    t = min(max(x, np.float32(-87.0)), np.float32(88.0)) * np.float32(1.4426950408889634)
    n = np.floor(t + np.float32(0.5))
    f = t - n  # in [-0.5, 0.5]
    p = np.float32(1.5353362e-4)
    p = p * f + np.float32(1.3398874e-3)
    p = p * f + np.float32(9.6181291e-3)
    p = p * f + np.float32(5.5504109e-2)
    p = p * f + np.float32(2.4022650e-1)
    p = p * f + np.float32(6.9314718e-1)
    p = p * f + np.float32(1.0)
    return p * vnni.float_from_bits(np.int32((np.int32(n) + 127) << 23))


@njit(fastmath=FASTMATH, cache=True)
def _rms_norm_row(x, w, eps, out):
    """out = RMSNorm(x) * w in float32."""
    k = x.shape[0]
    ss = np.float32(0.0)
    for i in range(k):
        ss += x[i] * x[i]
    inv = np.float32(1.0) / np.sqrt(ss / np.float32(k) + np.float32(eps))
    for i in range(k):
        out[i] = x[i] * inv * w[i]


@njit(fastmath=FASTMATH, cache=True)
def _norm_quantise_row(x, w, eps, out, xq, xd, xs, xi):
    """out = RMSNorm(x) * w (float32) and its int8 blocks (q, d, d * sum q), as quant.quantize_activations."""
    _rms_norm_row(x, w, eps, out)
    _quantise_row(out, xq, xd, xs, xi)


@njit(fastmath=FASTMATH, cache=True)
def _quantise_row(x, xq, xd, xs, xi):
    nb = xq.shape[0]
    for b in range(nb):
        amax = np.float32(0.0)
        for j in range(QK):
            amax = max(amax, abs(x[b * QK + j]))
        d = amax / np.float32(127.0)
        inv = np.float32(1.0) / d if d != 0 else np.float32(0.0)
        total = 0
        for j in range(QK):
            q = np.int32(np.rint(x[b * QK + j] * inv))
            xq[b, j] = q
            total += q
        xd[b] = d
        xs[b] = d * np.float32(total)
        xi[b] = total


@njit(fastmath=FASTMATH, cache=True)
def _rows_norm_quantise(x, w, eps, out, xq, xd, xs, xi):
    for n in range(x.shape[0]):
        _norm_quantise_row(x[n], w, eps, out[n], xq[n], xd[n], xs[n], xi[n])


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def _rows_norm_quantise_parallel(x, w, eps, out, xq, xd, xs, xi):
    for n in prange(x.shape[0]):
        _norm_quantise_row(x[n], w, eps, out[n], xq[n], xd[n], xs[n], xi[n])


@njit(cache=True)
def norm_quantise(x, w, eps, out, xq, xd, xs, xi):
    """Every row of x (N, K): in parallel when there are many."""
    if x.shape[0] >= PARALLEL_ROWS:
        _rows_norm_quantise_parallel(x, w, eps, out, xq, xd, xs, xi)
    else:
        _rows_norm_quantise(x, w, eps, out, xq, xd, xs, xi)


@njit(parallel=True, cache=True)
def _quantise_rows_parallel(x, xq, xd, xs, xi):
    for n in prange(x.shape[0]):
        _quantise_row(x[n], xq[n], xd[n], xs[n], xi[n])


@njit(fastmath=FASTMATH, cache=True)
def _copy_row(x, xq, xd, xs, xi):
    """The float32 activations as they are, in blocks (xq float32): what the bf16w products take."""
    for b in range(xq.shape[0]):
        for j in range(QK):
            xq[b, j] = x[b * QK + j]


@njit(fastmath=FASTMATH, cache=True)
def _norm_copy_row(x, w, eps, out, xq, xd, xs, xi):
    """out = RMSNorm(x) * w, and its float32 blocks for the bf16 path."""
    _rms_norm_row(x, w, eps, out)
    _copy_row(out, xq, xd, xs, xi)


@njit(cache=True)
def copy_rows(x, xq, xd, xs, xi):
    for n in range(x.shape[0]):
        _copy_row(x[n], xq[n], xd[n], xs[n], xi[n])


@njit(cache=True)
def norm_copy(x, w, eps, out, xq, xd, xs, xi):
    for n in range(x.shape[0]):
        _norm_copy_row(x[n], w, eps, out[n], xq[n], xd[n], xs[n], xi[n])


@njit(cache=True)
def quantise_rows(x, xq, xd, xs, xi):
    """int8 blocks of every row of x (N, K): in parallel when there are many."""
    if x.shape[0] >= PARALLEL_ROWS:
        _quantise_rows_parallel(x, xq, xd, xs, xi)
    else:
        for n in range(x.shape[0]):
            _quantise_row(x[n], xq[n], xd[n], xs[n], xi[n])


# --- attention ------------------------------------------------------------------------------------------


@njit(fastmath=FASTMATH, cache=True)
def _rope_store_row(qkv, n, b, pos, cos, sin, kc, vc, q_out, n_heads, n_kv, hd):
    """Rotate Q and K of activation row n (rotate-half pairs), store K and V at `pos` of sequence b."""
    half = hd // 2
    d = n_heads * hd
    kvd = n_kv * hd
    for h in range(n_heads + n_kv):
        base = h * hd
        for i in range(half):
            c, s = cos[pos, i], sin[pos, i]
            x1, x2 = qkv[n, base + i], qkv[n, base + i + half]
            r1, r2 = x1 * c - x2 * s, x2 * c + x1 * s
            if h < n_heads:
                q_out[n, base + i], q_out[n, base + i + half] = r1, r2
            else:
                kh = h - n_heads
                kc[b, kh, pos, i], kc[b, kh, pos, i + half] = r1, r2
    for kh in range(n_kv):
        for i in range(hd):
            vc[b, kh, pos, i] = qkv[n, d + kvd + kh * hd + i]


@njit(fastmath=FASTMATH | {"reassoc"}, cache=True)  # reassociation lets the q . k sums vectorise
def _attend(q, n, h, kv, length, kc_b, vc_b, scale, scores, out):
    """out[n, head h] = softmax(q . K[:length] * scale) @ V[:length] for one query row and head."""
    hd = kc_b.shape[2]
    qv = q[n, h * hd : (h + 1) * hd]
    ov = out[n, h * hd : (h + 1) * hd]
    keys, values = kc_b[kv], vc_b[kv]
    top = np.float32(-np.inf)
    for j in range(length):
        krow = keys[j]
        s = np.float32(0.0)
        for i in range(hd):
            s += qv[i] * krow[i]
        s *= scale
        scores[j] = s
        top = max(top, s)
    total = np.float32(0.0)
    for j in range(length):
        e = fast_exp(scores[j] - top)
        scores[j] = e
        total += e
    inv = np.float32(1.0) / total
    ov[:] = 0
    for j in range(length):
        p = scores[j] * inv
        vrow = values[j]
        for i in range(hd):
            ov[i] += p * vrow[i]


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def _attention_parallel(q, kc, vc, T, start, n_heads, group, scale, out):
    rows = q.shape[0]
    for job in prange(rows * n_heads):
        n, h = job // n_heads, job % n_heads
        b, t = n // T, n % T
        scores = np.empty(start + T, np.float32)
        _attend(q, n, h, h // group, start + t + 1, kc[b], vc[b], scale, scores, out)


# --- the products, parallel over row groups, and the fused decode kernels ---------------------------------


_PRODUCT = '''
def {name}(wq, ws, xq, xd, xs, xi, out, rows{extra}):
    """{doc}"""
    for g in {groups}:
        buf = np.empty((ROWS, LANES), np.float32)
        r0 = g * LANES
        valid = min(LANES, rows - r0)
        for n in range(0, xq.shape[0], ROWS):
            count = min(ROWS, xq.shape[0] - n)
            dots({operands}, n, count, buf)
            for i in range(count):
                for r in range(valid):
                    out[n + i, r0 + r] {op} buf[i, r]
'''

_SWIGLU = '''
def {name}(wq, ws, xq, xd, xs, xi, out, rows{extra}):
    """{doc}"""
    for p in {pairs}:
        gate = np.empty((ROWS, LANES), np.float32)
        up = np.empty((ROWS, LANES), np.float32)
        r0 = p * LANES
        valid = min(LANES, rows - r0)
        for n in range(0, xq.shape[0], ROWS):
            count = min(ROWS, xq.shape[0] - n)
            dots(wq[2 * p], ws[2 * p], xq, xd, xs, xi, n, count, gate)
            dots(wq[2 * p + 1], ws[2 * p + 1], xq, xd, xs, xi, n, count, up)
            for i in range(count):
                for r in range(valid):
                    g = gate[i, r]
                    out[n + i, r0 + r] = g / (np.float32(1.0) + fast_exp(-g)) * up[i, r]
'''

_FUSED = '''
def attend_project(q, kc, vc, T, start, n_heads, group, scale, att, xq, xd, xs, xi, wq, ws, parts):
    """Attention of rows q (sequences of T at positions start..) and the O product, one region over groups of
    heads: part p attends its heads, turns their outputs into activation blocks (a head is whole blocks) and
    multiplies them by the same blocks of W_o into parts[p]; the caller adds the parts to the residual."""
    hd = kc.shape[3]
    per = hd // QK  # blocks per head
    P = parts.shape[0]
    for p in prange(P):
        h0, h1 = p * n_heads // P, (p + 1) * n_heads // P
        b0, b1 = h0 * per, h1 * per
        scores = np.empty(start + T, np.float32)
        for n in range(q.shape[0]):
            b, t = n // T, n % T
            for h in range(h0, h1):
                _attend(q, n, h, h // group, start + t + 1, kc[b], vc[b], scale, scores, att)
            quantise_row(att[n, b0 * QK:b1 * QK], xq[n, b0:b1], xd[n, b0:b1], xs[n, b0:b1], xi[n, b0:b1])
        matvec_part(wq, ws, xq, xd, xs, xi, parts[p], parts.shape[2], b0, b1)


def ffn(wq, ws, xq, xd, xs, xi, act, fq, fd, fs, fi, dq, ds, parts):
    """The feed-forward block but the residual, one region over slices of its width: part p takes whole
    blocks of it (two gate/up group pairs each), applies SwiGLU, makes activation blocks of the slice and
    multiplies them by the same blocks of W_down into parts[p]; the caller adds the parts to the residual."""
    nb = fq.shape[1]
    P = parts.shape[0]
    per = QK // LANES  # gate/up group pairs per block
    for p in prange(P):
        b0, b1 = p * nb // P, (p + 1) * nb // P
        swiglu_part(wq, ws, xq, xd, xs, xi, act, act.shape[1], per * b0, per * b1)
        for n in range(act.shape[0]):
            quantise_row(act[n, b0 * QK:b1 * QK], fq[n, b0:b1], fd[n, b0:b1], fs[n, b0:b1], fi[n, b0:b1])
        matvec_part(dq, ds, fq, fd, fs, fi, parts[p], parts.shape[2], b0, b1)
'''

_WHOLE = "wq[g], ws[g], xq, xd, xs, xi"
_BLOCKS = "wq[g, b0:b1], ws[g, b0:b1], xq[:, b0:b1], xd[:, b0:b1], xs[:, b0:b1], xi[:, b0:b1]"


def _matvec_source() -> str:
    """The products as source. Parallel over row groups: matvec and matvec_add (they differ only in storing
    or adding the result) and matvec_swiglu. The serial parts the fused decode kernels run inside their
    region (one block range of W, or a range of gate/up pairs), and those kernels (_FUSED)."""
    return (_PRODUCT.format(name="matvec", doc="out[n, :rows] = W @ activation row n, for every row n.", extra="",
                            groups="prange(wq.shape[0])", operands=_WHOLE, op="=")
            + _PRODUCT.format(name="matvec_add", doc="out[n, :rows] += W @ activation row n: the residual added in the "
                              "same loop.", extra="", groups="prange(wq.shape[0])", operands=_WHOLE, op="+=")
            + _PRODUCT.format(name="matvec_part", doc="out[n, :rows] = W[:, blocks b0:b1] @ the same blocks of "
                              "activation row n: one part of a product split along K, serial.", extra=", b0, b1",
                              groups="range(wq.shape[0])", operands=_BLOCKS, op="=")
            + _SWIGLU.format(name="matvec_swiglu", doc="out[n, i] = silu(gate_i . x_n) * (up_i . x_n), gate and up "
                             "groups interleaved (interleave_groups).", extra="", pairs="prange(wq.shape[0] // 2)")
            + _SWIGLU.format(name="swiglu_part", doc="matvec_swiglu for the group pairs p0..p1 only, serial.",
                             extra=", p0, p1", pairs="range(p0, p1)")
            + _FUSED)


PARALLEL_KERNELS = ("matvec", "matvec_add", "matvec_swiglu", "attend_project", "ffn")
SERIAL_PARTS = ("matvec_part", "swiglu_part")


def specialise_products(kind: str, isa: str | None = None) -> dict:
    """The products and the fused decode kernels bound to a group dot product (`isa`, default the host's):
    the serial parts are compiled first and put where the kernels' source names them."""
    isa = ISA if isa is None else isa
    group = _GROUP[kind] if isa == ISA else _make_group(kind, isa)
    namespace = {"np": np, "prange": prange, "LANES": LANES, "QK": QK, "ROWS": vnni.ROWS,
                 "dots": _make_rows(kind, isa, group), "fast_exp": fast_exp, "_attend": _attend,
                 "quantise_row": _quantise_row if kind in quant.INT8_KINDS else _copy_row, "__name__": __name__}
    made = _exec(_matvec_source(), PARALLEL_KERNELS + SERIAL_PARTS, _variant(kind, isa), namespace)
    serial, parallel = njit(fastmath=FASTMATH, cache=True), njit(parallel=True, fastmath=FASTMATH, cache=True)
    for name in SERIAL_PARTS:
        namespace[name] = made[name] = serial(made[name])
    return {name: parallel(made[name]) if name in PARALLEL_KERNELS else made[name] for name in made}


PRODUCTS = {k: specialise_products(k) for k in quant.KINDS}


@njit(fastmath=FASTMATH, cache=True)
def add_parts(parts, x):
    """x += parts[0] + parts[1] + ...: the partial products of a reduction split along K, added serially
    after their region (parts (P, N, d), x (N, d))."""
    for p in range(parts.shape[0]):
        for n in range(x.shape[0]):
            for i in range(x.shape[1]):
                x[n, i] += parts[p, n, i]


DECODE_REGIONS_PER_LAYER = 3  # QKV | attention + O | gate/up, SwiGLU, down


def _layers_source() -> str:
    return '''
def layers_forward(x, T, start, attn_norm, ffn_norm, qkv, o, gu, down, kcache, vcache, cos, sin,
                   n_heads, n_kv, eps, threads):
    """Every layer on activation rows x (B*T, d), in place; sequences of T rows at positions start..
    Fewer than PARALLEL_ROWS rows (decode): 3 parallel regions a layer, the O and down products split along
    K into a part per thread (`threads`: numba.get_num_threads() of the caller, which called inside would
    keep this function out of Numba's cache); more (prefill): a region per product, parallel norms and
    attention."""
    N, d = x.shape
    hd = d // n_heads
    kvd = n_kv * hd
    group = n_heads // n_kv
    scale = np.float32(1.0 / np.sqrt(hd))
    nb = d // QK
    d_ffn = gu[0].shape[1] * LANES // 2
    h = np.empty((N, d), np.float32)
    xq = np.empty((N, nb, QK), ACT)
    xd = np.empty((N, nb), np.float32)
    xs = np.empty((N, nb), np.float32)
    xi = np.empty((N, nb), np.int32)
    qkv_out = np.empty((N, d + 2 * kvd), np.float32)
    q_rot = np.empty((N, d), np.float32)
    att = np.empty((N, d), np.float32)
    act = np.empty((N, d_ffn), np.float32)
    fq = np.empty((N, d_ffn // QK, QK), ACT)
    fd = np.empty((N, d_ffn // QK), np.float32)
    fs = np.empty((N, d_ffn // QK), np.float32)
    fi = np.empty((N, d_ffn // QK), np.int32)
    o_parts = np.empty((min(threads, n_heads), N, d), np.float32)  # one part per thread, whole heads each
    ffn_parts = np.empty((min(threads, d_ffn // QK), N, d), np.float32)
    for layer in range(attn_norm.shape[0]):
        kc, vc = kcache[layer], vcache[layer]
        norm_quantise(x, attn_norm[layer], eps, h, xq, xd, xs, xi)
        matvec(qkv[0][layer], qkv[1][layer], xq, xd, xs, xi, qkv_out, d + 2 * kvd)
        for n in range(N):
            _rope_store_row(qkv_out, n, n // T, start + n % T, cos, sin, kc, vc, q_rot, n_heads, n_kv, hd)
        if N >= PARALLEL_ROWS:
            _attention_parallel(q_rot, kc, vc, T, start, n_heads, group, scale, att)
            quantise_rows(att, xq, xd, xs, xi)
            matvec_add(o[0][layer], o[1][layer], xq, xd, xs, xi, x, d)
        else:
            attend_project(q_rot, kc, vc, T, start, n_heads, group, scale, att, xq, xd, xs, xi, o[0][layer],
                           o[1][layer], o_parts)
            add_parts(o_parts, x)
        norm_quantise(x, ffn_norm[layer], eps, h, xq, xd, xs, xi)
        if N >= PARALLEL_ROWS:
            matvec_swiglu(gu[0][layer], gu[1][layer], xq, xd, xs, xi, act, d_ffn)
            quantise_rows(act, fq, fd, fs, fi)
            matvec_add(down[0][layer], down[1][layer], fq, fd, fs, fi, x, d)
        else:
            ffn(gu[0][layer], gu[1][layer], xq, xd, xs, xi, act, fq, fd, fs, fi, down[0][layer], down[1][layer],
                ffn_parts)
            add_parts(ffn_parts, x)
'''


def _specialise_layers(kind: str):
    """layers_forward bound to `kind`'s kernels and activation helpers."""
    products = PRODUCTS[kind]
    int8 = kind in quant.INT8_KINDS
    namespace = {"np": np, "QK": QK, "LANES": LANES, "PARALLEL_ROWS": PARALLEL_ROWS, "ACT": ACTIVATION_DTYPE[kind],
                 "norm_quantise": norm_quantise if int8 else norm_copy, "quantise_rows": quantise_rows if int8 else copy_rows,
                 "_rope_store_row": _rope_store_row, "_attention_parallel": _attention_parallel, "add_parts": add_parts,
                 "__name__": __name__, **products}
    forward = _exec(_layers_source(), ("layers_forward",), _variant(kind, ISA), namespace)["layers_forward"]
    return njit(fastmath=FASTMATH, cache=True)(forward)


LAYERS = {k: _specialise_layers(k) for k in quant.KINDS}


def activation_buffers(n: int, k: int, kind: str = "q8_0"):
    """Empty blocks of n activation rows of k values: quants (int8; float32 for bf16w), scales, d * sums,
    integer sums."""
    nb = k // QK
    return (np.empty((n, nb, QK), ACTIVATION_DTYPE[kind]), np.empty((n, nb), np.float32), np.empty((n, nb), np.float32),
            np.empty((n, nb), np.int32))


def prepare_rows(kind: str):
    """The function that turns activation rows into what `kind`'s products take (int8 blocks or a copy)."""
    return quantise_rows if kind in quant.INT8_KINDS else copy_rows


def project(kind: str, lanes: tuple, x: np.ndarray, norm: np.ndarray, eps: float, rows: int) -> np.ndarray:
    """Logits (N, rows) of activation rows x (N, d): final RMSNorm, activation blocks, the head product."""
    h = np.empty_like(x)
    act = activation_buffers(*x.shape, kind)
    (norm_quantise if kind in quant.INT8_KINDS else norm_copy)(x, norm, np.float32(eps), h, *act)
    out = np.empty((x.shape[0], rows), np.float32)
    PRODUCTS[kind]["matvec"](*lanes, *act, out, rows)
    return out


def product(w: Lanes, x: np.ndarray, products: dict | None = None) -> np.ndarray:
    """x (N, cols) float32 @ W.T -> (N, rows): activations quantised to int8 blocks, then the fused dot."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    act = activation_buffers(*x.shape, w.kind)
    prepare_rows(w.kind)(x, *act)
    out = np.empty((x.shape[0], w.rows), np.float32)
    (products or PRODUCTS[w.kind])["matvec"](w.q, w.s, *act, out, w.rows)
    return out

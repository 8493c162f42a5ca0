"""Fused dequantise-and-dot kernels in Numba for Q8_0 and Q4_1 weights, and the decoder's layer pass.

Layout ("lanes"): rows are taken 16 at a time (`LANES`, one zmm of int32 or float32), and inside a group
the quants of one position of a block for all 16 rows are adjacent: `q[group, block, j, lane]`. A group
dot then needs no horizontal sums: for each of the block's positions j one 16-byte load feeds 16 integer
multiply-adds against the broadcast int8 activation, and after the block its 16 int32 sums are scaled
into 16 float32 accumulators (`d_w * d_x * sum`, plus `m_w * s_x` for Q4_1's minimum). The code is
generated with one named accumulator per lane (as kernels/gemm/numba_cpu.py does for its tile), which
LLVM's SLP vectoriser packs into registers; with NUMBA_SLP_VECTORIZE=1 and 512-bit vectors preferred
(kernels/numba_env.py) the products become `vpmaddwd` (or `vpdpwssd` with VNNI) on AVX-512 hosts
(`group_dot_asm` shows it). Scales are widened from the file's fp16 to float32 once at load (Numba has no
fp16 on the CPU): 24 bytes a Q4_1 block instead of the file's 20, 36 a Q8_0 block instead of 34;
`Lanes.nbytes` counts what the kernels really read.

Activations are quantised per 32-block to int8 (quant.quantize_activations is the NumPy reference), as
llama.cpp does. `layers_forward` runs every layer of a forward pass in one call: per layer RMSNorm and
activation quantisation, the fused QKV product, rotary embedding, KV-cache store and attention, the
output product with the residual added in the same loop, the gate/up product with SwiGLU applied in the
same loop (gate and up row groups interleaved), and the down product with its residual: 4 parallel
regions (`prange`) per layer for a decode step, 5 with a parallel attention when there are many queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from kernels.inference import quant

LANES = 16
QK = quant.QK
FASTMATH = {"contract", "nnan", "ninf", "nsz", "arcp", "afn"}
PARALLEL_ROWS = 8  # activation rows from which norms and attention run in parallel too


# --- weights in lanes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lanes:
    """A quantised matrix in the kernels' layout; `rows` of them valid (the last group is zero-padded)."""

    kind: str
    q: np.ndarray  # (groups, blocks, 32 | 16, LANES) int8 | uint8
    d: np.ndarray  # (groups, blocks, LANES) float32
    m: np.ndarray  # (groups, blocks, LANES) float32; Q4_1 minimums, an empty array for Q8_0
    rows: int

    @property
    def nbytes(self) -> int:
        return int(self.q.nbytes + self.d.nbytes + self.m.nbytes)

    @property
    def cols(self) -> int:
        return self.q.shape[1] * QK


def _group_major(a: np.ndarray, groups: int) -> np.ndarray:
    """(rows, blocks, ...) padded to groups * LANES rows and moved to (groups, blocks, ..., LANES)."""
    pad = groups * LANES - a.shape[0]
    if pad:
        a = np.concatenate([a, np.zeros((pad,) + a.shape[1:], a.dtype)])
    a = a.reshape((groups, LANES) + a.shape[1:])
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def to_lanes(w: quant.QuantMatrix) -> Lanes:
    rows = w.shape[0]
    groups = -(-rows // LANES)
    d = _group_major(w.d.astype(np.float32), groups)
    m = (_group_major(w.m.astype(np.float32), groups) if w.m is not None
         else np.zeros((groups, 0, LANES), np.float32))  # Q8_0: no minimums, but one (empty) view per group
    return Lanes(w.kind, _group_major(w.q, groups), d, m, rows)


def interleave_groups(a: Lanes, b: Lanes) -> Lanes:
    """Groups a0, b0, a1, b1, ...: one loop iteration reads gate group i and up group i together."""
    if a.kind != b.kind or a.q.shape != b.q.shape:
        raise ValueError("interleave_groups needs two matrices of one kind and shape")
    mix = lambda x, y: np.ascontiguousarray(np.stack([x, y], axis=1).reshape((2 * x.shape[0],) + x.shape[1:]))  # noqa: E731
    m = mix(a.m, b.m)
    return Lanes(a.kind, mix(a.q, b.q), mix(a.d, b.d), m, a.rows + b.rows)


def stack_layers(parts: list[Lanes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same matrix of every layer as (layers, ...) arrays for one kernel call."""
    return tuple(np.ascontiguousarray(np.stack([getattr(p, f) for p in parts])) for f in ("q", "d", "m"))


# --- the group dot products, generated --------------------------------------------------------------


def _group_source(kind: str) -> str:
    """dst[r] = dot(row g*LANES + r, activation row t) for the LANES rows of group g (see module docstring)."""
    L = LANES
    body = [f"def group_{kind}(wq, wd, wm, xq, xd, xs, t, dst):"]
    body += [f"    a{r} = np.float32(0.0)" for r in range(L)]
    body += ["    nb = wq.shape[0]", "    for blk in range(nb):"]
    body += [f"        s{r} = np.int32(0)" for r in range(L)]
    body += ["        wb = wq[blk]", "        xb = xq[t, blk]"]
    if kind == "q4_1":
        body += ["        for j in range(16):", "            x0 = np.int32(xb[j])", "            x1 = np.int32(xb[j + 16])",
                 "            row = wb[j]"]
        for r in range(L):
            body += [f"            q{r} = np.int32(row[{r}])",
                     f"            s{r} = np.int32(s{r} + (q{r} & 15) * x0 + (q{r} >> 4) * x1)"]
        body += ["        dx = xd[t, blk]", "        sx = xs[t, blk]", "        dr = wd[blk]", "        mr = wm[blk]"]
        body += [f"        a{r} += dr[{r}] * dx * np.float32(s{r}) + mr[{r}] * sx" for r in range(L)]
    else:
        body += ["        for j in range(32):", "            xj = np.int32(xb[j])", "            row = wb[j]"]
        body += [f"            s{r} = np.int32(s{r} + np.int32(row[{r}]) * xj)" for r in range(L)]
        body += ["        dx = xd[t, blk]", "        dr = wd[blk]"]
        body += [f"        a{r} += dr[{r}] * dx * np.float32(s{r})" for r in range(L)]
    body += [f"    dst[{r}] = a{r}" for r in range(L)]
    return "\n".join(body) + "\n"


def _make_group(kind: str, cache: bool = True):
    namespace = {"np": np, "__name__": __name__}
    exec(compile(_group_source(kind), __file__, "exec"), namespace)  # under this file's name: Numba's cache keys on it
    return njit(fastmath=FASTMATH, cache=cache)(namespace[f"group_{kind}"])


def _sample_args(kind: str, blocks: int = 18, tokens: int = 1):
    depth = 16 if kind == "q4_1" else 32
    qtype = np.uint8 if kind == "q4_1" else np.int8
    return (np.zeros((blocks, depth, LANES), qtype), np.zeros((blocks, LANES), np.float32),
            np.zeros((blocks, LANES) if kind == "q4_1" else (0, 0), np.float32),
            np.zeros((tokens, blocks, QK), np.int8), np.zeros((tokens, blocks), np.float32),
            np.zeros((tokens, blocks), np.float32), 0, np.zeros(LANES, np.float32))


def group_dot_asm(kind: str) -> str:
    """Assembly of one group dot product, compiled afresh (Numba cannot show cached code)."""
    from numba import typeof

    kernel = _make_group(kind, cache=False)
    args = _sample_args(kind)
    signature = tuple(typeof(a) for a in args)
    kernel.compile(signature)
    return kernel.inspect_asm(signature)


_GROUP = {k: _make_group(k) for k in quant.KINDS}


# --- activation rows ----------------------------------------------------------------------------------


@njit(fastmath=FASTMATH, cache=True)
def _norm_quantise_row(x, w, eps, out, xq, xd, xs):
    """out = RMSNorm(x) * w (float32) and its int8 blocks (q, d, d * sum q), as quant.quantize_activations."""
    k = x.shape[0]
    ss = np.float32(0.0)
    for i in range(k):
        ss += x[i] * x[i]
    inv = np.float32(1.0) / np.sqrt(ss / np.float32(k) + np.float32(eps))
    for i in range(k):
        out[i] = x[i] * inv * w[i]
    _quantise_row(out, xq, xd, xs)


@njit(fastmath=FASTMATH, cache=True)
def _quantise_row(x, xq, xd, xs):
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


@njit(fastmath=FASTMATH, cache=True)
def _rows_norm_quantise(x, w, eps, out, xq, xd, xs):
    for n in range(x.shape[0]):
        _norm_quantise_row(x[n], w, eps, out[n], xq[n], xd[n], xs[n])


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def _rows_norm_quantise_parallel(x, w, eps, out, xq, xd, xs):
    for n in prange(x.shape[0]):
        _norm_quantise_row(x[n], w, eps, out[n], xq[n], xd[n], xs[n])


@njit(cache=True)
def norm_quantise(x, w, eps, out, xq, xd, xs):
    """Every row of x (N, K): in parallel when there are many."""
    if x.shape[0] >= PARALLEL_ROWS:
        _rows_norm_quantise_parallel(x, w, eps, out, xq, xd, xs)
    else:
        _rows_norm_quantise(x, w, eps, out, xq, xd, xs)


@njit(cache=True)
def quantise_rows(x, xq, xd, xs):
    for n in range(x.shape[0]):
        _quantise_row(x[n], xq[n], xd[n], xs[n])


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


@njit(fastmath=FASTMATH, cache=True)
def _attend(q, n, h, kv, length, kc_b, vc_b, scale, scores, out):
    """out[n, head h] = softmax(q . K[:length] * scale) @ V[:length] for one query row and head."""
    hd = kc_b.shape[2]
    base = h * hd
    top = np.float32(-np.inf)
    for j in range(length):
        s = np.float32(0.0)
        for i in range(hd):
            s += q[n, base + i] * kc_b[kv, j, i]
        s *= scale
        scores[j] = s
        top = max(top, s)
    total = np.float32(0.0)
    for j in range(length):
        e = np.exp(scores[j] - top)
        scores[j] = e
        total += e
    for i in range(hd):
        out[n, base + i] = 0
    for j in range(length):
        p = scores[j] / total
        for i in range(hd):
            out[n, base + i] += p * vc_b[kv, j, i]


@njit(fastmath=FASTMATH, cache=True)
def _attention_serial(q, kc, vc, T, start, n_heads, group, scale, out):
    scores = np.empty(start + T, np.float32)
    for n in range(q.shape[0]):
        b, t = n // T, n % T
        for h in range(n_heads):
            _attend(q, n, h, h // group, start + t + 1, kc[b], vc[b], scale, scores, out)


@njit(parallel=True, fastmath=FASTMATH, cache=True)
def _attention_parallel(q, kc, vc, T, start, n_heads, group, scale, out):
    rows = q.shape[0]
    for job in prange(rows * n_heads):
        n, h = job // n_heads, job % n_heads
        b, t = n // T, n % T
        scores = np.empty(start + T, np.float32)
        _attend(q, n, h, h // group, start + t + 1, kc[b], vc[b], scale, scores, out)


# --- the products, parallel over row groups --------------------------------------------------------------


def _matvec_source() -> str:
    return '''
def matvec(wq, wd, wm, xq, xd, xs, out, rows):
    """out[n, :rows] = W @ activation row n, for every row n."""
    for g in prange(wq.shape[0]):
        buf = np.empty(LANES, np.float32)
        r0 = g * LANES
        valid = min(LANES, rows - r0)
        for n in range(xq.shape[0]):
            group(wq[g], wd[g], wm[g], xq, xd, xs, n, buf)
            for r in range(valid):
                out[n, r0 + r] = buf[r]


def matvec_add(wq, wd, wm, xq, xd, xs, out, rows):
    """out[n, :rows] += W @ activation row n: the residual added in the same loop."""
    for g in prange(wq.shape[0]):
        buf = np.empty(LANES, np.float32)
        r0 = g * LANES
        valid = min(LANES, rows - r0)
        for n in range(xq.shape[0]):
            group(wq[g], wd[g], wm[g], xq, xd, xs, n, buf)
            for r in range(valid):
                out[n, r0 + r] += buf[r]


def matvec_swiglu(wq, wd, wm, xq, xd, xs, out, rows):
    """out[n, i] = silu(gate_i . x_n) * (up_i . x_n), gate and up groups interleaved (interleave_groups)."""
    for p in prange(wq.shape[0] // 2):
        gate = np.empty(LANES, np.float32)
        up = np.empty(LANES, np.float32)
        r0 = p * LANES
        valid = min(LANES, rows - r0)
        for n in range(xq.shape[0]):
            group(wq[2 * p], wd[2 * p], wm[2 * p], xq, xd, xs, n, gate)
            group(wq[2 * p + 1], wd[2 * p + 1], wm[2 * p + 1], xq, xd, xs, n, up)
            for r in range(valid):
                g = gate[r]
                out[n, r0 + r] = g / (np.float32(1.0) + np.exp(-g)) * up[r]
'''


def _specialise(kind: str) -> dict:
    namespace = {"np": np, "prange": prange, "LANES": LANES, "group": _GROUP[kind], "__name__": __name__}
    exec(compile(_matvec_source(), __file__, "exec"), namespace)
    jit = njit(parallel=True, fastmath=FASTMATH, cache=True)
    return {name: jit(namespace[name]) for name in ("matvec", "matvec_add", "matvec_swiglu")}


PRODUCTS = {k: _specialise(k) for k in quant.KINDS}


def _layers_source() -> str:
    return '''
def layers_forward(x, T, start, attn_norm, ffn_norm, qkv, o, gu, down, kcache, vcache, cos, sin,
                   n_heads, n_kv, eps):
    """Every layer on activation rows x (B*T, d), in place; sequences of T rows at positions start.."""
    N, d = x.shape
    hd = d // n_heads
    kvd = n_kv * hd
    group = n_heads // n_kv
    scale = np.float32(1.0 / np.sqrt(hd))
    nb = d // QK
    d_ffn = gu[0].shape[1] * LANES // 2
    h = np.empty((N, d), np.float32)
    xq = np.empty((N, nb, QK), np.int8)
    xd = np.empty((N, nb), np.float32)
    xs = np.empty((N, nb), np.float32)
    qkv_out = np.empty((N, d + 2 * kvd), np.float32)
    q_rot = np.empty((N, d), np.float32)
    att = np.empty((N, d), np.float32)
    act = np.empty((N, d_ffn), np.float32)
    fq = np.empty((N, d_ffn // QK, QK), np.int8)
    fd = np.empty((N, d_ffn // QK), np.float32)
    fs = np.empty((N, d_ffn // QK), np.float32)
    for layer in range(attn_norm.shape[0]):
        kc, vc = kcache[layer], vcache[layer]
        norm_quantise(x, attn_norm[layer], eps, h, xq, xd, xs)
        matvec(qkv[0][layer], qkv[1][layer], qkv[2][layer], xq, xd, xs, qkv_out, d + 2 * kvd)
        for n in range(N):
            _rope_store_row(qkv_out, n, n // T, start + n % T, cos, sin, kc, vc, q_rot, n_heads, n_kv, hd)
        if N >= PARALLEL_ROWS:
            _attention_parallel(q_rot, kc, vc, T, start, n_heads, group, scale, att)
        else:
            _attention_serial(q_rot, kc, vc, T, start, n_heads, group, scale, att)
        quantise_rows(att, xq, xd, xs)
        matvec_add(o[0][layer], o[1][layer], o[2][layer], xq, xd, xs, x, d)
        norm_quantise(x, ffn_norm[layer], eps, h, xq, xd, xs)
        matvec_swiglu(gu[0][layer], gu[1][layer], gu[2][layer], xq, xd, xs, act, d_ffn)
        quantise_rows(act, fq, fd, fs)
        matvec_add(down[0][layer], down[1][layer], down[2][layer], fq, fd, fs, x, d)
'''


def _specialise_layers(kind: str):
    products = PRODUCTS[kind]
    namespace = {"np": np, "QK": QK, "LANES": LANES, "PARALLEL_ROWS": PARALLEL_ROWS, "norm_quantise": norm_quantise,
                 "quantise_rows": quantise_rows, "_rope_store_row": _rope_store_row,
                 "_attention_parallel": _attention_parallel, "_attention_serial": _attention_serial,
                 "__name__": __name__, **products}
    exec(compile(_layers_source(), __file__, "exec"), namespace)
    return njit(fastmath=FASTMATH, cache=True)(namespace["layers_forward"])


LAYERS = {k: _specialise_layers(k) for k in quant.KINDS}


@njit(cache=True)
def _head_rows(x, w, eps, h, xq, xd, xs):
    norm_quantise(x, w, eps, h, xq, xd, xs)


def project(kind: str, lanes: tuple, x: np.ndarray, norm: np.ndarray, eps: float, rows: int) -> np.ndarray:
    """Logits (N, rows) of activation rows x (N, d): final RMSNorm, int8 blocks, the head product."""
    n, d = x.shape
    h = np.empty_like(x)
    xq = np.empty((n, d // QK, QK), np.int8)
    xd = np.empty((n, d // QK), np.float32)
    xs = np.empty((n, d // QK), np.float32)
    _head_rows(x, norm, np.float32(eps), h, xq, xd, xs)
    out = np.empty((n, rows), np.float32)
    PRODUCTS[kind]["matvec"](*lanes, xq, xd, xs, out, rows)
    return out


def product(w: Lanes, x: np.ndarray) -> np.ndarray:
    """x (N, cols) float32 @ W.T -> (N, rows): activations quantised to int8 blocks, then the fused dot."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    nb = x.shape[1] // QK
    xq, xd, xs = np.empty((n, nb, QK), np.int8), np.empty((n, nb), np.float32), np.empty((n, nb), np.float32)
    quantise_rows(x, xq, xd, xs)
    out = np.empty((n, w.rows), np.float32)
    PRODUCTS[w.kind]["matvec"](w.q, w.d, w.m, xq, xd, xs, out, w.rows)
    return out

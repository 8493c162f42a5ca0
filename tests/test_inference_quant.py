"""Quantised weights: GGUF block formats (kernels/inference/quant.py) against gguf's own code, the fused
Numba kernels (quant_cpu.py) against exact NumPy arithmetic, and the quantised decoder (quant_model.py)
against the float64 reference of the same dequantised weights (tight) and of the float32 ones (loose)."""

from __future__ import annotations

import types
from collections import Counter

import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

from kernels.inference import (
    config,
    generate,
    gguf_loader,
    llama_cpp_peer,
    quant,
    quant_cpu,
    quant_weights,
    reference,
    vnni,
    weights,
)
from kernels.inference.quant_model import QuantModel
from kernels.runtime import cpu

gguf_quants = pytest.importorskip("gguf.quants")
from gguf import GGMLQuantizationType

TINY = config.SMOLLM2_135M.with_(n_layers=2, vocab=200, max_context=32)  # 200: a partly filled last row group


def relative(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))


@pytest.fixture(scope="module")
def tiny_weights():
    return weights.random_weights(TINY, seed=5)


@pytest.mark.parametrize("kind", quant.KINDS)
def test_quantiser_writes_the_bytes_gguf_writes_and_dequantises_as_gguf(kind):
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((40, 96)) * rng.random((40, 1)) * 3).astype(np.float32)
    w[3, :32] = 0  # an all-zero block: scale 0
    ours = quant.quantize(w, kind)
    ggml = getattr(GGMLQuantizationType, quant.GGML_TYPE[kind])
    raw = gguf_quants.quantize(w, ggml)
    np.testing.assert_array_equal(quant.to_gguf_bytes(ours), raw.reshape(40, -1).view(np.uint8))
    np.testing.assert_array_equal(ours.dequantize(), gguf_quants.dequantize(raw, ggml).reshape(40, 96))
    again = quant.from_gguf_bytes(kind, raw.reshape(40, -1).view(np.uint8))
    assert again.shape == (40, 96) and again.nbytes == raw.nbytes
    np.testing.assert_array_equal(quant.to_gguf_bytes(again), raw.reshape(40, -1).view(np.uint8))


@pytest.mark.skipif(not gguf_loader.available()[0], reason=gguf_loader.available()[1])
def test_file_tensors_split_and_dequantise_as_gguf():
    wanted = {"token_embd.weight": "q8_0", "blk.0.ffn_down.weight": "q4_1"}
    for t in gguf_loader.reader().tensors:
        if t.name in wanted:
            w = quant.from_gguf_bytes(wanted[t.name], np.asarray(t.data))
            np.testing.assert_array_equal(w.dequantize(), gguf_quants.dequantize(t.data, t.tensor_type))
            assert w.nbytes == t.data.nbytes


def test_activation_quantiser_in_numba_equals_the_numpy_reference():
    x = np.random.default_rng(2).standard_normal((3, 128)).astype(np.float32) * 5
    x[1, 32:64] = 0
    q, d, s, sums = quant.quantize_activations(x)
    nq, nd, ns, nsums = quant_cpu.activation_buffers(*x.shape)
    quant_cpu.quantise_rows(x, nq, nd, ns, nsums)
    np.testing.assert_array_equal(nq, q)
    np.testing.assert_array_equal(nsums, sums)
    np.testing.assert_allclose(nd, d, rtol=1e-7)
    np.testing.assert_allclose(ns, s, rtol=1e-6)
    assert np.abs(q).max() == 127 and (q[1, 1] == 0).all() and d[1, 1] == 0


@pytest.mark.parametrize("kind", quant.KINDS)
def test_fused_product_is_the_exact_integer_dot_of_the_blocks(kind):
    rng = np.random.default_rng(3)
    w = quant.quantize(rng.standard_normal((53, 160)).astype(np.float32), kind)  # 53 rows: a padded group
    x = rng.standard_normal((5, 160)).astype(np.float32)  # 4 rows through vnni.rows4_*, then 1 alone
    lanes = quant_cpu.to_lanes(w)
    assert lanes.nbytes == w.nbytes + (64 - 53) * w.nbytes // 53  # the file's bytes, plus the padded rows
    out = quant_cpu.product(lanes, x)
    np.testing.assert_allclose(out, exact_product(w, x), rtol=2e-5, atol=2e-5)
    assert relative(out, x.astype(np.float64) @ w.dequantize().T) < 2e-2  # int8 activations cost this much


def exact_product(w, x):
    """float64 product of the dequantised weights with the activations as the kernel sees them: int8
    blocks for Q8_0 / Q4_1, float32 as they are for bf16w."""
    if w.kind in quant.INT8_KINDS:
        q, d, _, _ = quant.quantize_activations(x)
        x = (q.astype(np.float64) * d[..., None]).reshape(len(x), -1)
    return np.asarray(x, np.float64) @ w.dequantize().astype(np.float64).T


def test_fast_exp_is_close_to_exp_and_vectorises():
    from numba import njit

    @njit(fastmath=quant_cpu.FASTMATH)
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = quant_cpu.fast_exp(x[i])

    x = np.linspace(-87, 88, 100001).astype(np.float32)
    out = np.empty_like(x)
    apply(x, out)
    np.testing.assert_allclose(out, np.exp(x.astype(np.float64)), rtol=5e-6)
    apply(np.array([-1e4, 1e4], np.float32), out[:2])
    assert out[0] < 1e-37 and np.isfinite(out[1])  # clamped, never inf or nan
    assert "vfmadd" in apply.inspect_asm(apply.signatures[0])


@pytest.mark.parametrize("kind", quant.KINDS)
def test_gate_up_product_applies_swiglu_in_the_same_loop(kind):
    rng = np.random.default_rng(4)
    gate, up = (quant.quantize(rng.standard_normal((64, 96)).astype(np.float32), kind) for _ in range(2))
    fused = quant_cpu.interleave_groups(quant_cpu.to_lanes(gate), quant_cpu.to_lanes(up))
    x = rng.standard_normal((2, 96)).astype(np.float32)
    out = np.empty((2, 64), np.float32)
    act = quant_cpu.activation_buffers(*x.shape, kind)
    quant_cpu.prepare_rows(kind)(x, *act)
    quant_cpu.PRODUCTS[kind]["matvec_swiglu"](fused.q, fused.s, *act, out, 64)
    g = quant_cpu.product(quant_cpu.to_lanes(gate), x)
    u = quant_cpu.product(quant_cpu.to_lanes(up), x)
    np.testing.assert_allclose(out, g / (1 + np.exp(-g)) * u, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", quant_weights.MODES)
def test_quantised_decoder_matches_the_float64_reference_of_its_own_weights(mode, tiny_weights):
    qw = quant_weights.from_weights(tiny_weights, mode)
    m = QuantModel(qw)
    tokens = np.random.default_rng(6).integers(0, TINY.vocab, (2, 9))
    cache = m.new_cache(2, 9)
    pre = m.prefill(tokens[:, :8], cache, all_logits=True)
    dec = m.decode(tokens[:, 8], cache, 8)
    same = reference.forward_many(qw.dequantized(), tokens)
    tight = 1e-2 if mode in quant.INT8_KINDS else 1e-5  # what is left: int8 activations, or float32 rounding
    assert relative(pre, same[:, :8]) < tight and relative(dec, same[:, 8]) < tight
    fp32 = reference.forward_many(tiny_weights, tokens)
    loose = {"q8_0": 2e-2, "q4_1": 1e-1, "bf16w": 5e-3}[mode]
    assert relative(dec, fp32[:, 8]) < loose  # the weights' own quantisation on top
    assert m.weight_bytes < 4 * TINY.matmul_params() / {"q8_0": 3, "q4_1": 5, "bf16w": 1.9}[mode]


def test_decode_step_equals_the_prefill_of_the_longer_sequence(tiny_weights):
    m = QuantModel(quant_weights.from_weights(tiny_weights, "q4_1"))
    tokens = np.random.default_rng(7).integers(0, TINY.vocab, (3, 12))
    full = m.prefill(tokens, m.new_cache(3, 12), all_logits=True)  # 36 rows: parallel norms and attention
    cache = m.new_cache(3, 12)
    m.prefill(tokens[:, :11], cache)
    # one row against 36 sums in another order: float32 rounding, which scales with the largest logit (~430
    # here, where an ulp is 3e-5), not with each logit; a small logit left by cancellation differs by ~1e-5
    rounding = 1e-6 * float(np.max(np.abs(full)))
    np.testing.assert_allclose(m.decode(tokens[:, 11], cache, 11), full[:, -1], rtol=1e-5, atol=rounding)
    alone = m.prefill(tokens[1:2], m.new_cache(1, 12), all_logits=True)
    np.testing.assert_allclose(alone[0], full[1], rtol=1e-5, atol=1e-5)  # sequences of a batch stay apart


def counting(fn, entered: list, memo: dict | None = None):
    """fn run as Python with each parallel Numba kernel it reaches, however deep, swapped for a wrapper that
    notes the kernel's name in `entered` and runs it compiled: a note per parallel region entered (each is
    one prange loop). Compiled functions that reach none stay compiled; dicts of kernels are swapped whole."""
    memo = {} if memo is None else memo
    if id(fn) in memo:
        return memo[id(fn)] or fn  # None: being swapped further up (a cycle)
    memo[id(fn)] = None
    if isinstance(fn, Dispatcher) and fn.targetoptions.get("parallel"):
        def swapped(*args, kernel=fn):
            entered.append(kernel.py_func.__name__)
            return kernel(*args)
    elif isinstance(fn, dict):
        swapped = {k: counting(v, entered, memo) for k, v in fn.items()}
        swapped = fn if all(swapped[k] is v for k, v in fn.items()) else swapped
    elif isinstance(fn, Dispatcher) or (isinstance(fn, types.FunctionType) and fn.__module__.startswith("kernels")):
        py = fn.py_func if isinstance(fn, Dispatcher) else fn
        names = [n for n in py.__code__.co_names if n in py.__globals__]
        changed = {n: counting(py.__globals__[n], entered, memo) for n in names}
        changed = {n: v for n, v in changed.items() if v is not py.__globals__[n]}
        swapped = types.FunctionType(py.__code__, {**py.__globals__, **changed}, py.__name__, py.__defaults__,
                                     py.__closure__) if changed else fn
    else:
        swapped = fn
    memo[id(fn)] = swapped
    return swapped


def test_a_decode_step_enters_the_parallel_regions_the_model_reports(tiny_weights, monkeypatch):
    """Counted on a real step, not assumed: the layer pass and the head run as Python over the compiled
    kernels, every parallel one noted (norm_quantise, say, turns parallel itself for many rows)."""
    m = QuantModel(quant_weights.from_weights(tiny_weights, "q4_1"))
    tokens = np.random.default_rng(10).integers(0, TINY.vocab, (2, 9))
    compiled, entered = m.layers_forward, []
    m.layers_forward = counting(compiled, entered)
    monkeypatch.setattr(quant_cpu, "project", counting(quant_cpu.project, entered))
    cache = m.new_cache(2, 9)
    m.prefill(tokens[:, :8], cache)  # 16 rows: a region for each norm, quantisation, attention, product
    assert len(entered) == 9 * TINY.n_layers + 1
    entered.clear()
    logits = m.decode(tokens[:, 8], cache, 8)
    suffix = "_" + quant_cpu._variant("q4_1", quant_cpu.ISA)
    assert Counter(name.removesuffix(suffix) for name in entered) == {
        "matvec": TINY.n_layers + 1, "attend_project": TINY.n_layers, "ffn": TINY.n_layers}
    assert len(entered) == m.parallel_regions_per_decode == 3 * TINY.n_layers + 1
    monkeypatch.undo()
    m.layers_forward = compiled
    cache = m.new_cache(2, 9)
    m.prefill(tokens[:, :8], cache)
    np.testing.assert_allclose(m.decode(tokens[:, 8], cache, 8), logits, rtol=1e-6, atol=1e-6)  # what was counted


ISAS = (vnni.PLAIN,) + vnni.usable_isas()  # every int8 dot path this host can run, the plain loops included


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kind", quant.KINDS)
def test_fused_decode_kernels_equal_the_regions_they_replace(kind, isa):
    """attend_project and ffn, parts added, against attention, activation blocks and products one region
    each; 4 parts split 6 heads 1, 2, 1, 2 and the FFN's 10 blocks 2, 3, 2, 3."""
    rng = np.random.default_rng(11)
    kernels = quant_cpu.PRODUCTS[kind] if isa == quant_cpu.ISA else quant_cpu.specialise_products(kind, isa)
    n_heads, n_kv, hd, d_ffn, rows, start = 6, 2, 64, 320, 3, 4
    d = n_heads * hd
    lanes = lambda r, c: quant_cpu.to_lanes(quant.quantize(rng.standard_normal((r, c)).astype(np.float32), kind))
    wo, down = lanes(d, d), lanes(d, d_ffn)
    gu = quant_cpu.interleave_groups(lanes(d_ffn, d), lanes(d_ffn, d))
    q, x, h = (rng.standard_normal((rows, d)).astype(np.float32) for _ in range(3))
    kc, vc = (rng.standard_normal((rows, n_kv, 8, hd)).astype(np.float32) for _ in range(2))
    attention = (q, kc, vc, 1, start, n_heads, n_heads // n_kv, np.float32(hd ** -0.5))
    blocks = lambda a: quant_cpu.activation_buffers(*a.shape, kind)

    def prepared(a):
        out = blocks(a)
        quant_cpu.prepare_rows(kind)(a, *out)
        return out

    att, want_o = np.empty_like(q), x.copy()
    quant_cpu._attention_parallel(*attention, att)
    kernels["matvec_add"](wo.q, wo.s, *prepared(att), want_o, d)
    h_blocks = prepared(h)
    act, want_f = np.empty((rows, d_ffn), np.float32), x.copy()
    kernels["matvec_swiglu"](gu.q, gu.s, *h_blocks, act, d_ffn)
    kernels["matvec_add"](down.q, down.s, *prepared(act), want_f, d)

    for parts in (np.empty((1, rows, d), np.float32), np.empty((4, rows, d), np.float32)):
        fused_att, got_o = np.empty_like(q), x.copy()
        kernels["attend_project"](*attention, fused_att, *blocks(att), wo.q, wo.s, parts)
        quant_cpu.add_parts(parts, got_o)
        fused_act, got_f = np.empty_like(act), x.copy()
        kernels["ffn"](gu.q, gu.s, *h_blocks, fused_act, *blocks(act), down.q, down.s, parts)
        quant_cpu.add_parts(parts, got_f)
        np.testing.assert_allclose(fused_att, att, rtol=1e-6, atol=1e-6)  # reassociated sums: the order may differ
        np.testing.assert_allclose(fused_act, act, rtol=1e-6, atol=1e-6)
        assert relative(got_o, want_o) < 1e-6 and relative(got_f, want_f) < 1e-6  # only the parts' sums differ


def test_quantised_decoder_refuses_bad_input_like_the_float_model(tiny_weights):
    m = QuantModel(quant_weights.from_weights(tiny_weights, "q8_0"))
    cache = m.new_cache(1, 8)
    with pytest.raises(ValueError, match="token ids"):
        m.prefill([[TINY.vocab]], cache)
    with pytest.raises(ValueError, match="do not fit the cache"):
        m.prefill([[1] * 9], cache)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("kind", quant.KINDS)
def test_every_int8_dot_path_gives_the_exact_products(kind, isa):
    """VNNI, AVX2 and the plain loops run the same layout; each must give the exact integer dot, for 1 to 5
    activation rows (4 through rows4_*, the rest one at a time), quantised weights at the int8 extremes
    (Q8_0 quants of -127 and 127: AVX2's int16 pairs must not saturate) and a padded last group."""
    rng = np.random.default_rng(8)
    raw = rng.standard_normal((40, 128)).astype(np.float32)
    raw[:, ::7] *= 40  # outliers: many quants at +-127 in their blocks
    w = quant.quantize(raw, kind)
    lanes = quant_cpu.to_lanes(w)
    products = quant_cpu.specialise_products(kind, isa)
    for rows in (1, 3, 5):
        x = rng.standard_normal((rows, 128)).astype(np.float32)
        x[:, ::5] *= 30
        assert relative(quant_cpu.product(lanes, x, products), exact_product(w, x)) < 1e-6  # float32 sums of exact int dots


@pytest.mark.skipif("avx512vnni" not in vnni.usable_isas(), reason="this host (or NUMBA_CPU_FEATURES) has no avx512vnni")
@pytest.mark.parametrize("kind", quant.INT8_KINDS)
def test_group_dot_compiles_to_vpdpbusd_with_fp16_scales_widened_in_registers(kind):
    asm = quant_cpu.group_dot_asm(kind, "avx512vnni")
    count = asm.count("vpdpbusd")  # 8 per block; LLVM unrolls the block loop on some CPUs (3x seen on Zen 4)
    assert count >= 8 and count % 8 == 0 and "vcvtph2ps" in asm and "zmm" in asm


@pytest.mark.skipif(vnni.host_isa() != "avx2", reason="the AVX2 path runs (and is compiled as it runs) on AVX2 hosts "
                    "without VNNI; tests/test_int8_dot_codegen.py checks its blocks for Haswell on any host")
@pytest.mark.parametrize("kind", quant.INT8_KINDS)
def test_avx2_group_dot_is_maddubs_and_madd_with_signs_for_q8_0(kind):
    """Per block 8 dot steps on two 32-byte halves: 16 vpmaddubsw and 16 vpmaddwd (a multiple where LLVM
    unrolls); Q8_0 also 2 vpsignb per half (|w| and x with w's sign); the scales widened by vcvtph2ps.
    Compiled with this host's features, so only where this path is the one that runs: on an AVX-512 VNNI
    host LLVM fuses vpmaddwd and the add into vpdpwssd and joins the halves into zmm (seen on Zen 4)."""
    asm = quant_cpu.group_dot_asm(kind, "avx2")
    maddubs, madd, signs = asm.count("vpmaddubsw"), asm.count("vpmaddwd"), asm.count("vpsignb")
    assert maddubs >= 16 and maddubs % 16 == 0 and madd == maddubs and "vcvtph2ps" in asm
    assert signs == (2 * maddubs if kind == "q8_0" else 0) and "vpdpbusd" not in asm


@pytest.mark.skipif("avx512f" not in cpu.cpu_flags(),
                    reason="the 512-bit check is for AVX-512 hosts")
def test_bf16_group_dot_widens_by_shift_into_512_bit_fmas():
    asm = quant_cpu.group_dot_asm("bf16w")
    assert "vpslld" in asm and "vfmadd" in asm and "zmm" in asm


@pytest.mark.skipif(not gguf_loader.available()[0], reason=gguf_loader.available()[1])
def test_file_weights_as_stored_run_and_answer():
    from kernels.inference import tokenizer

    qw = quant_weights.from_gguf(config.SMOLLM2_135M, "q4_1")
    assert qw.layer_kind == "q4_1" and qw.head.kind == "q8_0"
    two = quant_weights.from_gguf(config.SMOLLM2_135M.with_(n_layers=2), "q4_1")
    np.testing.assert_array_equal(two.dequantized().layers[1].wq, gguf_loader.load_weights(
        config.SMOLLM2_135M.with_(n_layers=2)).layers[1].wq)  # rows unpermuted as the float loader does
    tok = tokenizer.load()
    out = generate.greedy(QuantModel(qw), [tokenizer.chat_prompt_ids()], 16, tok.stop_ids)[0]
    assert "Paris" in tok.decode(out)


@pytest.mark.skipif(not llama_cpp_peer.available()[0], reason=llama_cpp_peer.available()[1])
def test_greedy_tokens_equal_llama_cpp_on_the_same_file_and_prompt():
    from kernels.inference import tokenizer

    tok = tokenizer.load()
    ids = tokenizer.chat_prompt_ids()
    peer = llama_cpp_peer.Peer(n_ctx=128, threads=2)
    try:
        theirs = peer.greedy(ids, 16, tok.stop_ids)
    finally:
        peer.close()
    ours = generate.greedy(QuantModel(quant_weights.from_gguf(config.SMOLLM2_135M, "q4_1")), [ids], 16, tok.stop_ids)[0]
    assert ours == theirs, (tok.decode(ours), tok.decode(theirs))


@pytest.mark.skipif(not gguf_loader.available()[0], reason=gguf_loader.available()[1])
def test_file_in_bf16_is_bf16_everywhere_and_tight():
    cfg = config.SMOLLM2_135M.with_(n_layers=2)
    qw = quant_weights.from_gguf(cfg, "bf16w")
    assert {qw.layer_kind, qw.head.kind} == {"bf16w"}  # no product left with int8 activations
    tokens = np.random.default_rng(9).integers(0, cfg.vocab, 6)
    m = QuantModel(qw)
    out = m.prefill(tokens[None, :], m.new_cache(1, 6))
    assert relative(out[0], reference.forward(qw.dequantized(), tokens)[-1]) < 1e-5

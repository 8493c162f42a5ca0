"""The decoder on the GEMM backends vs the float64 reference, the KV cache, RoPE and GQA from formulas."""

from __future__ import annotations

import numpy as np
import pytest

from bench import backends
from kernels.inference import config, generate, model, reference, weights
from kernels.inference.model import Model
from tests import opencl_devices

# SmolLM2's layer shapes (d 576, 9 query / 3 KV heads of 64, ffn 1536) with 2 layers and a small vocabulary.
SMALL = config.SMOLLM2_135M.with_(n_layers=2, vocab=512, max_context=64)
# A different grouping (4 query heads per KV head), an untied LM head and odd sizes.
OTHER = config.ModelConfig("other", n_layers=3, d_model=96, d_ffn=200, n_heads=8, n_kv_heads=2, vocab=301,
                           rope_theta=10000.0, tied_embeddings=False, max_context=40)
# The host backends, and OpenCL on every device that builds (index None: skipped, or a failure in CI).
CPU_BACKENDS = [("numpy", 0), ("numba-cpu", 0)] + [
    pytest.param(("opencl", p.values[0]), id=f"opencl-{p.id}", marks=p.marks) for p in opencl_devices.params()]


def on_device(spec: tuple[str, int | None]) -> dict:
    """Model(...) keyword arguments for a (backend, device) of CPU_BACKENDS."""
    name, index = spec
    return {"gemm": gemm(name), "device": opencl_devices.checked(index) if name == "opencl" else index}


def gemm(name: str):
    mod = backends.module("inference", name)
    if mod is None:
        pytest.skip(f"kernels/gemm for {name} has not landed")
    ok, reason = mod.available()
    if not ok:
        pytest.skip(f"{name}: {reason}")
    return mod


@pytest.fixture(scope="module")
def small_weights():
    return weights.random_weights(SMALL, seed=1)


def test_random_weights_are_the_same_on_any_number_of_cores(monkeypatch, small_weights):
    """Each array has its own stream of the seed: how many threads draw them changes nothing."""
    monkeypatch.setattr(weights.os, "cpu_count", lambda: 1)
    one_core = weights.random_weights(SMALL, seed=1)
    arrays = lambda w: [w.embed, w.final_norm, w.lm_head, *(getattr(layer, name) for layer in w.layers  # noqa: E731
                                                            for name in weights.LAYER_MATRICES)]
    assert all(np.array_equal(a, b) for a, b in zip(arrays(one_core), arrays(small_weights), strict=True))
    assert not np.array_equal(one_core.layers[0].wq, one_core.layers[1].wq)  # a stream each, not one repeated
    assert not np.array_equal(weights.random_weights(SMALL, seed=2).embed, one_core.embed)


def rel_err(got, ref) -> float:
    return float(np.max(np.abs(np.asarray(got, np.float64) - ref)) / np.max(np.abs(ref)))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("cfg", [SMALL, OTHER], ids=["smollm2-shape", "other"])
def test_prefill_logits_match_float64_reference(backend, cfg):
    w = weights.random_weights(cfg, seed=3)
    m = Model(w, **on_device(backend))
    tokens = np.random.default_rng(0).integers(0, cfg.vocab, (3, 11))
    logits = m.prefill(tokens, m.new_cache(3, 16), all_logits=True)
    assert logits.shape == (3, 11, cfg.vocab)
    for b in range(3):
        assert rel_err(logits[b], reference.forward(w, tokens[b])) < 1e-5


@pytest.mark.parametrize("backend", ["numpy", "numba-cpu"])
def test_fp64_matches_reference_closely(backend, small_weights):
    m = Model(small_weights, gemm(backend), dtype="fp64")
    tokens = np.arange(9)[None] * 7
    logits = m.prefill(tokens, m.new_cache(1, 9))
    assert rel_err(logits[0], reference.forward(small_weights, tokens[0])[-1]) < 1e-6  # fp32 elementwise ops


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_kv_cache_decode_equals_recomputing_the_sequence(backend, small_weights):
    m = Model(small_weights, **on_device(backend))
    seq = np.random.default_rng(5).integers(0, SMALL.vocab, (2, 12))
    cache = m.new_cache(2, 12)
    m.prefill(seq[:, :7], cache)
    for pos in range(7, 12):
        step = m.decode(seq[:, pos], cache, pos)
    full = m.prefill(seq, m.new_cache(2, 12))
    assert np.max(np.abs(step - full)) <= 1e-5 * np.max(np.abs(full))
    for b in range(2):
        assert rel_err(step[b], reference.forward(small_weights, seq[b])[-1]) < 1e-5


def test_decode_repeated_at_one_position_is_stable(small_weights):
    """The benchmark repeats a decode step at the same position; each repeat overwrites the same slot."""
    m = Model(small_weights, gemm("numpy"))
    seq = np.arange(10)[None]
    cache = m.new_cache(1, 10)
    m.prefill(seq[:, :9], cache)
    first = m.decode(seq[:, 9], cache, 9)
    again = m.decode(seq[:, 9], cache, 9)
    np.testing.assert_array_equal(first, again)


def test_batch_rows_are_independent(small_weights):
    m = Model(small_weights, gemm("numpy"))
    seqs = np.random.default_rng(2).integers(0, SMALL.vocab, (4, 6))
    together = m.prefill(seqs, m.new_cache(4, 6))
    alone = np.concatenate([m.prefill(seqs[i : i + 1], m.new_cache(1, 6)) for i in range(4)])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-4 * np.abs(alone).max())


# --- the pieces against direct formulas --------------------------------------------------------------


def test_rope_is_a_rotation_of_each_pair_i_and_i_plus_half():
    rng = np.random.default_rng(0)
    hd, theta, positions = 8, 10000.0, np.array([0, 1, 5, 17])
    x = rng.standard_normal((4, 3, hd)).astype(np.float32)
    cos, sin = model.rope_tables(hd, 32, theta)
    got = model.rope(x, cos[positions], sin[positions])
    for t, p in enumerate(positions):
        for h in range(3):
            for i in range(hd // 2):
                a = p * theta ** (-2 * i / hd)
                rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
                want = rot @ np.array([x[t, h, i], x[t, h, i + hd // 2]])
                np.testing.assert_allclose([got[t, h, i], got[t, h, i + hd // 2]], want, rtol=1e-5, atol=1e-5)


def test_rope_scores_depend_only_on_relative_position():
    rng = np.random.default_rng(1)
    hd = 16
    q, k = rng.standard_normal((2, 1, 1, hd))
    cos, sin = model.rope_tables(hd, 64, 10000.0)
    score = lambda m, n: float(np.sum(model.rope(q, cos[[m]], sin[[m]]) * model.rope(k, cos[[n]], sin[[n]])))  # noqa: E731
    assert score(7, 3) == pytest.approx(score(40, 36), rel=1e-4)
    assert score(0, 0) == pytest.approx(float(np.sum(q * k)), rel=1e-5)


def test_grouped_query_attention_equals_attention_with_repeated_kv_heads():
    """Query head h reads KV head h // group: the same as copying each KV head group times."""
    rng = np.random.default_rng(2)
    B, T, start, n_heads, n_kv, hd = 2, 3, 4, 6, 2, 8
    length = start + T
    q = rng.standard_normal((B, T, n_heads, hd)).astype(np.float32)
    k_cache = rng.standard_normal((B, n_kv, 10, hd)).astype(np.float32)
    v_cache = rng.standard_normal((B, n_kv, 10, hd)).astype(np.float32)
    got = model.attention(q, k_cache, v_cache, start).reshape(B, T, n_heads, hd)
    group = n_heads // n_kv
    for b in range(B):
        for h in range(n_heads):
            k = k_cache[b, h // group, :length]
            v = v_cache[b, h // group, :length]
            for t in range(T):
                s = k[: start + t + 1] @ q[b, t, h]  # causal: keys up to its own position
                p = np.exp(s - s.max())
                want = (p / p.sum()) @ v[: start + t + 1]
                np.testing.assert_allclose(got[b, t, h], want, rtol=1e-5, atol=1e-5)


def test_rms_norm_and_swiglu_formulas():
    x = np.array([[3.0, 4.0]], dtype=np.float32)
    np.testing.assert_allclose(model.rms_norm(x, np.array([1.0, 2.0], np.float32), 0.0), [[3 / 12.5**0.5, 8 / 12.5**0.5]],
                               rtol=1e-6)
    gu = np.array([[0.0, 2.0, 5.0, 7.0]], dtype=np.float32)
    np.testing.assert_allclose(model.swiglu(gu, 2), [[0.0, 2 / (1 + np.exp(-2)) * 7]], rtol=1e-6)


# --- generation ---------------------------------------------------------------------------------


def test_greedy_generation_equals_reference_greedy(small_weights):
    m = Model(small_weights, gemm("numpy"))
    prompt = [3, 14, 15, 92, 65]
    out = generate.greedy(m, [prompt], 8)[0]
    assert len(out) == 8
    np.testing.assert_array_equal(out, reference.greedy_predictions(small_weights, prompt, out))


def test_greedy_stops_at_a_stop_id(small_weights):
    m = Model(small_weights, gemm("numpy"))
    first = generate.greedy(m, [[1, 2, 3]], 1)[0][0]
    assert generate.greedy(m, [[1, 2, 3]], 10, stop_ids=(first,))[0] == [first]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes,words",
    [
        ({"n_heads": 7}, ["n_heads=7", "d_model=576"]),
        ({"n_kv_heads": 2}, ["n_kv_heads=2", "n_heads=9"]),
        ({"d_model": 585}, ["odd"]),  # 585 / 9 = 65: rotary pairs need an even head size
        ({"n_layers": 0}, ["n_layers", "positive"]),
    ],
)
def test_bad_configs_raise_value_error_naming_the_problem(changes, words):
    with pytest.raises(ValueError) as err:
        config.SMOLLM2_135M.with_(**changes)
    for word in words:
        assert word in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "spec,words",
    [
        ("gpt-9", ["unknown model", "smollm2-135m"]),
        ("smollm2-135m:heads=3", ["bad model override", "n_heads"]),
        ("smollm2-135m:n_layers=two", ["not a whole number"]),
        ("smollm2-135m:n_heads=7", ["does not divide"]),
    ],
)
def test_model_spec_parsing_errors(spec, words):
    with pytest.raises(ValueError) as err:
        config.parse(spec)
    for word in words:
        assert word in str(err.value)


def test_model_spec_overrides():
    cfg = config.parse("smollm2-135m:n_layers=4, max_context=128")
    assert (cfg.n_layers, cfg.max_context, cfg.d_model) == (4, 128, 576)
    assert config.parse("llama3-8b-4l") is config.LLAMA3_8B_4L


def test_unknown_backend_raises_value_error(small_weights):
    with pytest.raises(ValueError, match="not a GEMM backend module"):
        Model(small_weights, "quantum")


def test_dtype_the_backend_lacks_raises_value_error(small_weights):
    with pytest.raises(ValueError, match="fp32"):
        Model(small_weights, gemm("numpy"), dtype="bf16")


def test_prompt_longer_than_the_context_raises_value_error(small_weights):
    m = Model(small_weights, gemm("numpy"))
    with pytest.raises(ValueError, match="context"):
        m.prefill(np.zeros((1, SMALL.max_context + 1), dtype=int), m.new_cache(1))
    with pytest.raises(ValueError, match="context"):
        generate.greedy(m, [[1] * 60], 10)
    with pytest.raises(ValueError, match="longer than the context"):
        reference.forward(small_weights, np.zeros(SMALL.max_context + 1, dtype=int))


def test_token_ids_out_of_range_raise_value_error(small_weights):
    m = Model(small_weights, gemm("numpy"))
    with pytest.raises(ValueError, match="0..511"):
        m.prefill(np.array([[1, 512]]), m.new_cache(1, 4))


def test_weights_of_the_wrong_shape_raise_value_error(small_weights):
    import dataclasses

    bad = dataclasses.replace(small_weights, config=SMALL.with_(d_ffn=1000))
    with pytest.raises(ValueError, match="w_gate"):
        Model(bad, gemm("numpy"))


def test_parameter_counts():
    # SmolLM2-135M: 134.5M weights (tied embedding counted once); Llama-3-8B has 218M per layer.
    assert config.SMOLLM2_135M.params() == 134_515_008
    assert config.LLAMA3_8B_4L.layer_params() == 218_112_000


def test_reference_over_several_sequences_equals_one_at_a_time(small_weights):
    tokens = np.random.default_rng(3).integers(0, SMALL.vocab, size=(3, 7))
    many = reference.forward_many(small_weights, tokens)
    for b in range(3):
        # to BLAS rounding: OpenBLAS may sum a batch's product in another order than one row's (Zen 3: 1e-13)
        np.testing.assert_allclose(many[b], reference.forward(small_weights, tokens[b]), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("last", [1, 2, 7, 9])
def test_reference_of_the_last_positions_equals_those_of_all(small_weights, last):
    """Only the LM head is spared: the last positions still attend to every earlier one."""
    tokens = np.random.default_rng(4).integers(0, SMALL.vocab, size=(2, 7))
    tail = reference.forward_many(small_weights, tokens, last=last)
    assert tail.shape == (2, min(last, 7), SMALL.vocab)
    np.testing.assert_allclose(tail, reference.forward_many(small_weights, tokens)[:, -last:], rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("scratch_rows", [1, 3, 7, 40])
def test_product_through_a_small_scratch_equals_the_whole_float64_product(scratch_rows):
    """The reference converts weights a block of rows at a time: any block size (a remainder block included,
    a scratch larger than the matrix too) gives the product of the whole float64 matrix."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((6, 16)), rng.standard_normal((20, 16)).astype(np.float32)
    out = reference.times_transposed(x, w, np.empty(scratch_rows * 16 + 5))
    np.testing.assert_allclose(out, x @ w.astype(np.float64).T, rtol=1e-13, atol=1e-13)

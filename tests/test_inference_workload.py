"""bench/workloads/inference.py: request validation (exit 2 at the CLI), cases, verification, figures."""

from __future__ import annotations

import numpy as np
import pytest

from bench import backends
from bench.errors import UsageError
from bench.timing import measure
from bench.workloads import inference as wl
from kernels.inference import config, gguf_loader, quant_cpu

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
    dtypes = ["fp32"] + (list(wl.QUANT) if backend == "numba-cpu" else [])  # numba-cpu: Q8_0, Q4_1, bf16w too
    assert sorted({c.params["dtype"] for c in found}) == sorted(dtypes) and len(found) == 4 * len(dtypes)
    weight_bytes = {}
    for case in found:
        dtype, phase = case.params["dtype"], case.params["phase"]
        step = case.prepare()
        timing = measure(step, budget_s=0.05, min_repeats=2, max_repeats=3, min_sample_s=0.001)
        ok, what = case.verify(timing.output)
        assert ok, what
        assert "float64 NumPy reference" in what and "tolerance" in what
        extra = case.extra(timing.stats.median)
        assert extra["max_rel_error"] < wl.TOLERANCE[dtype]
        assert extra["flop_per_s"] > 0
        assert (extra["bytes_per_s"] is None) == (phase == "prefill")
        tokens = case.work_per_call
        assert extra["bytes_per_token"] == pytest.approx(extra["bytes_per_call"] / tokens)
        assert extra["achieved_gb_per_s"] == pytest.approx(extra["bytes_per_call"] / timing.stats.median / 1e9)
        if phase == "decode":
            assert extra["fraction_of_measured_bandwidth"] == pytest.approx(extra["bytes_per_s"] / 2e10)
        weight_bytes[dtype] = extra["bytes_per_call"]
        if dtype == "fp32":
            assert extra["weights"] == "random seed 2024" and extra["fraction_of_measured_blas"] > 0
        else:
            assert extra["weights"] == f"random seed 2024 quantised to {dtype.upper()}"
            assert "dequantised weights" in what and "float32 weights" in what
            assert 0 < extra["max_rel_error_vs_fp32_weights"] < 0.2  # loose: reported, not judged
            assert extra["parallel_regions_per_decode_step"] == 3 * 2 + 1  # 3 per layer and the head
            assert extra["dot_instructions"] == (quant_cpu.ISA if dtype != "bf16w" else "fp32 FMA on widened bf16")
    if backend == "numba-cpu":  # bytes read: fp32 > bf16 > Q8_0 > Q4_1 (scales included)
        assert weight_bytes["fp32"] > weight_bytes["bf16w"] > weight_bytes["q8_0"] > weight_bytes["q4_1"]


def test_quantised_cases_are_shown_as_a_ratio_to_numpy_without_the_peer():
    selected = backends.require("inference", "numba-cpu") + numpy_selected()
    found = wl.cases(selected, quick=True, model=TINY, prompt=8, batches=(1,))
    numpy_decode = next(c for c in found if c.backend == "numpy" and c.params["phase"] == "decode")
    q41 = next(c for c in found if c.params["dtype"] == "q4_1" and c.params["phase"] == "decode")
    assert q41.reference == numpy_decode.key


def test_verification_fails_on_wrong_logits():
    case = wl.cases(numpy_selected(), quick=True, model=TINY, prompt=4, batches=(2,))[1]
    out = np.array(case.prepare()())
    out[1, 7] += 0.01 * np.abs(out[1]).max()  # an error of 1% of sequence 1's largest logit
    ok, what = case.verify(out)
    assert not ok and "= 1.00e-02" in what
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


# --- the llama.cpp peer, with the stand-in child process (tests/fixtures/fake_llama_child.py) ----------


@pytest.mark.skipif(not gguf_loader.available()[0], reason=gguf_loader.available()[1])
def test_peer_cases_run_in_their_own_process_and_are_verified(monkeypatch, tmp_path):
    from tests.test_inference_peer import FAKE_CHILD

    bench = wl.Workbench(config.SMOLLM2_135M.with_(n_layers=2), 8, 1, "gguf")  # the first 2 layers: quick
    ref = bench.reference(0, 1, "q4_1")  # what a correct llama.cpp would return: prefill, then decode
    np.save(tmp_path / "logits.npy", ref.astype(np.float32))
    monkeypatch.setenv("FAKE_LLAMA_LOGITS", str(tmp_path / "logits.npy"))
    monkeypatch.setattr(wl.llama_cpp_peer, "CHILD", FAKE_CHILD)
    monkeypatch.setattr(wl.llama_cpp_peer, "available", lambda: (True, ""))
    monkeypatch.setattr(wl.llama_cpp_peer.Peer, "greedy", lambda self, ids, n, stop=(): [int(np.argmax(ref[0]))])
    device = numpy_selected()[0].device
    peers = wl._peer_cases(bench, device)
    assert [(c.backend, c.params["phase"], c.params["dtype"], c.is_reference) for c in peers] == [
        ("llama.cpp", "prefill", "q4_1", True), ("llama.cpp", "decode", "q4_1", True)]
    for case in peers:
        step = case.prepare()
        timing = measure(step, timer=case.timer(), budget_s=0.05, min_repeats=2, max_repeats=3, min_sample_s=0.001)
        ok, what = case.verify(timing.output)
        assert ok and "own process" in what and "greedy tokens" in what, what
        extra = case.extra(timing.stats.median)
        assert extra["setup"] == "llama.cpp defaults" and extra["max_rel_error"] < 1e-6
        assert extra["bytes_per_call"] >= gguf_loader.matmul_weight_bytes()
    _ids, theirs = bench.peer_greedy()
    assert theirs == [int(np.argmax(ref[0]))]


def test_cli_unknown_backend_for_inference_exits_2_with_one_line():
    from tests.cli import assert_usage_error, run_cli

    assert_usage_error(run_cli("run", "--workload", "inference", "--backend", "quantum"), "unknown backend")

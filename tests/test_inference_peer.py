"""The llama.cpp peer in its own process: a clean environment, the child's own clock, the fallback without
weight repacking; a stand-in child (tests/fixtures/fake_llama_child.py) where llama-cpp-python is absent,
the real one where it is installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.timing import measure
from kernels.inference import config, gguf_loader, llama_cpp_peer, tokenizer

FAKE_CHILD = Path(__file__).parent / "fixtures" / "fake_llama_child.py"
SUITE_SETTINGS = {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2",
                  "NUMBA_SLP_VECTORIZE": "1", "OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": "Haswell",
                  "MKL_NUM_THREADS": "1", "GOMP_SPINCOUNT": "0", "KMP_BLOCKTIME": "0"}


def test_peer_process_environment_carries_none_of_the_suite_thread_settings(monkeypatch):
    import os


    assert os.environ.get("OMP_WAIT_POLICY") and os.environ.get("NUMBA_SLP_VECTORIZE")
    for name, value in SUITE_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SITEBENCH_HARMLESS", "kept")
    env = llama_cpp_peer.child_environment()  # os.environ as the real child process sees it
    leaked = sorted(k for k in env if k.startswith(("OMP_", "GOMP_", "KMP_", "NUMBA_", "OPENBLAS_", "MKL_")))
    assert leaked == []
    assert env["SITEBENCH_HARMLESS"] == "kept" and env.get("PATH") == os.environ.get("PATH")


def test_every_setting_the_suite_makes_is_one_the_peer_drops():
    from kernels import numba_env

    assert all(llama_cpp_peer.is_thread_setting(name) for name in numba_env.SETTINGS)
    assert not llama_cpp_peer.is_thread_setting("PATH") and not llama_cpp_peer.is_thread_setting("HOME")


def test_child_does_not_import_the_suite():
    """The child must not configure Numba/OpenMP for itself: it imports nothing from `kernels`."""
    source = llama_cpp_peer.CHILD.read_text()
    assert "import kernels" not in source and "from kernels" not in source


@pytest.fixture
def fake_peer(monkeypatch, tmp_path):
    """Peers built in this test run the stand-in child; its logits: row 0 after a prompt, row 1 after a token."""
    vocab = 64
    table = np.random.default_rng(0).standard_normal((2, vocab)).astype(np.float32)
    np.save(tmp_path / "logits.npy", table)
    monkeypatch.setenv("FAKE_LLAMA_LOGITS", str(tmp_path / "logits.npy"))
    monkeypatch.setattr(llama_cpp_peer, "CHILD", FAKE_CHILD)
    monkeypatch.setattr(gguf_loader, "gguf_path", lambda: Path("/nowhere/model.gguf"))
    return table


def test_peer_returns_its_own_clock_and_logits(fake_peer):
    peer = llama_cpp_peer.Peer(n_ctx=32, threads=2)
    try:
        assert peer.setup == "llama.cpp defaults" and peer.vocab == fake_peer.shape[1]
        step = peer.prefill([1, 2, 3])
        assert step.argmax == int(fake_peer[0].argmax()) and step.seconds > 0
        np.testing.assert_array_equal(peer.logits(), fake_peer[0])
        before = peer.clock
        clock = llama_cpp_peer.ChildClock(peer)
        timing = measure(lambda: peer.decode(5, 3), timer=clock, min_sample_s=0.001, min_repeats=3, max_repeats=3,
                         budget_s=1.0)
        np.testing.assert_array_equal(peer.logits(), fake_peer[1])
        assert timing.output.argmax == int(fake_peer[1].argmax())
        # every figure the harness saw is the child's own clock: first call, warm-up and samples add up to it
        seen = timing.first_call_s + timing.warmup_s + sum(timing.seconds) * timing.calls_per_sample
        assert seen == pytest.approx(peer.clock - before, rel=1e-9) and len(timing.seconds) == 3
    finally:
        peer.close()
    assert peer.process.proc.poll() is not None  # the child is gone


def test_peer_falls_back_to_no_repacking_when_the_child_dies(fake_peer, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_CRASH_WITH_REPACK", "1")
    peer = llama_cpp_peer.Peer(n_ctx=32, threads=1)
    try:
        assert peer.setup.startswith("weight repacking off") and "died" in peer.setup
        assert peer.prefill([1, 2, 3, 4]).argmax == int(fake_peer[0].argmax())
    finally:
        peer.close()


def test_errors_in_the_child_come_back_as_peer_errors(fake_peer):
    with llama_cpp_peer.PeerProcess() as child:
        with pytest.raises(llama_cpp_peer.PeerError, match="unknown op"):
            child.request("fly")
        with pytest.raises(llama_cpp_peer.PeerError, match="no position evaluated"):
            child.request("logits")
        assert "environ" in child.request("environ")  # still serving


def test_a_silent_child_is_killed_not_waited_on(fake_peer, monkeypatch):
    monkeypatch.setattr(llama_cpp_peer, "REPLY_TIMEOUT_S", 0.5)
    monkeypatch.setenv("FAKE_LLAMA_SLEEP_S", "30")
    with llama_cpp_peer.PeerProcess() as child:
        with pytest.raises(llama_cpp_peer.PeerError, match="no answer"):
            child.request("probe")
        assert child.proc.poll() is not None


def test_unavailable_says_why(monkeypatch):
    monkeypatch.setattr(llama_cpp_peer.importlib.util, "find_spec", lambda name: None)
    ok, why = llama_cpp_peer.available()
    assert not ok and "llama-cpp-python" in why


real = pytest.mark.skipif(not llama_cpp_peer.available()[0], reason=llama_cpp_peer.available()[1])


@real
def test_real_peer_generates_the_capital_of_france():
    tok = tokenizer.load()
    peer = llama_cpp_peer.Peer(n_ctx=256, threads=2)
    try:
        out = peer.greedy(tokenizer.chat_prompt_ids(), 16, tok.stop_ids)
        assert "Paris" in tok.decode(out)
        step = peer.decode(out[0], len(tokenizer.chat_prompt_ids()))
        logits = peer.logits()
        assert logits.shape == (config.SMOLLM2_135M.vocab,) and int(logits.argmax()) == step.argmax
    finally:
        peer.close()

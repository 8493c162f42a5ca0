"""AI-inference benchmarks: SmolLM2-135M prefill and decode tok/s per backend (fp32; Q8_0 and Q4_1 on
numba-cpu's quantised decoder), and the llama.cpp peer in its own process.

Targets (issue 6; figures, never assertions) on the 2-core dev machine: decode batch 1 >= 25 tok/s,
prefill >= 300 tok/s with the best CPU backend (llama.cpp on the Q4_1 file: decode 100-240, prefill ~320);
on an H100 decode batch 1 >= 500 tok/s, prefill >= 20k tok/s (cupy, numba-cuda; skipped without a GPU).
Also recorded: the fraction of this machine's measured read bandwidth (decode) and BLAS FLOP/s (prefill),
and for the quantised decoder the bytes read per token and the GB/s achieved. Issue 16's targets (figures,
never assertions): Q4_1 decode batch 1 >= 1.0x llama.cpp (goal 1.5x), prefill >= 1.5x llama.cpp.
With benchmarks disabled (the normal test run) a 2-layer model runs once, still verified.
Run: `pytest tests/benchmarks/test_inference_bench.py --benchmark-enable`.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import backends
from bench.workloads import inference as wl
from kernels.inference import (
    config,
    gguf_loader,
    llama_cpp_peer,
    quant_weights,
    sources,
    weights,
)
from kernels.inference.model import Model
from kernels.inference.quant_model import QuantModel

PROMPT = 64


@pytest.fixture(scope="module")
def bench_weights(request):
    opt = request.config.getoption
    if opt("benchmark_disable", False) and not opt("benchmark_enable", False):  # pytest-benchmark's own rule
        return weights.random_weights(config.SMOLLM2_135M.with_(n_layers=2, vocab=2048), seed=0)
    source = "gguf" if gguf_loader.available()[0] else "random"
    return sources.load(config.SMOLLM2_135M, source)


def backend_module(name):
    mod = backends.module("inference", name)
    if mod is None or not mod.available()[0]:
        pytest.skip(f"{name} GEMM backend is not available here")
    if all(d.kind == "simulator" for d in mod.devices()):
        pytest.skip(f"{name} runs in the CUDA simulator here: nothing to benchmark")
    return mod


def check(w, tokens, logits, phase, dtype="fp32"):
    """Verified against the float64 reference of `w` (for a block format: the dequantised weights)."""
    bench = wl.Workbench(w.config, PROMPT, len(tokens), "random")
    bench._shared[(w.config, "random", wl.Workbench.flavour(dtype))] = w
    bench.tokens = tokens
    ok, what, _ = bench.verify(logits, len(tokens), phase, dtype)
    assert ok, what


def record(figures, name, tokens, flop, nbytes, backend):
    rate = figures.rate(name, tokens, "tok/s")
    if rate is None or backend in ("cupy", "numba-cuda"):  # the host's BLAS and bandwidth say nothing of a GPU
        return
    m = wl.host_measured()
    seconds = tokens / rate
    figures.record(f"{name}_fraction_of_measured_blas", flop / seconds / m["measured_blas_flop_per_s"], "")
    if nbytes:
        figures.record(f"{name}_fraction_of_measured_bandwidth", nbytes / seconds / m["measured_read_bytes_per_s"], "")


GPU = pytest.mark.gpu  # the GPU ones skip without a GPU; `pytest -m gpu` selects them
BACKENDS = ["numpy", "numba-cpu", "opencl", pytest.param("cupy", marks=GPU), pytest.param("numba-cuda", marks=GPU)]


def synced(m, call):
    """call(), then wait for the device: GPU calls return before their work is done."""

    def run(*args):
        out = call(*args)
        m.synchronize()
        return out

    return run


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch", [1, 16])
def test_decode(benchmark, figures, bench_weights, backend, batch):
    cfg = bench_weights.config
    m = Model(bench_weights, backend_module(backend))
    tokens = np.random.default_rng(1).integers(0, cfg.vocab, (batch, PROMPT + 1))
    cache = m.new_cache(batch, PROMPT + 1)
    m.prefill(tokens[:, :PROMPT], cache)
    logits = benchmark.pedantic(synced(m, m.decode), (tokens[:, PROMPT], cache, PROMPT), rounds=20, warmup_rounds=2)
    check(bench_weights, tokens, m.to_host(logits), "decode")
    record(figures, f"decode_b{batch}", batch, wl.flop_per_call(cfg, "decode", batch, PROMPT),
           wl.decode_bytes(cfg, batch, PROMPT, 4 * cfg.matmul_params()), backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch", [1, 16])
def test_prefill(benchmark, figures, bench_weights, backend, batch):
    cfg = bench_weights.config
    m = Model(bench_weights, backend_module(backend))
    tokens = np.random.default_rng(2).integers(0, cfg.vocab, (batch, PROMPT + 1))
    cache = m.new_cache(batch, PROMPT)
    logits = benchmark.pedantic(synced(m, m.prefill), (tokens[:, :PROMPT], cache), rounds=5, warmup_rounds=1)
    check(bench_weights, tokens, m.to_host(logits), "prefill")
    record(figures, f"prefill_b{batch}", batch * PROMPT, wl.flop_per_call(cfg, "prefill", batch, PROMPT), None, backend)


@pytest.fixture(scope="module")
def quantised(request, bench_weights):
    """Quantised weights per block format: the GGUF's own where the full model runs, else the small random
    weights quantised."""
    full = bench_weights.config == config.SMOLLM2_135M and gguf_loader.available()[0]
    cache = {}

    def get(mode):
        if mode not in cache:
            cache[mode] = (quant_weights.from_gguf(config.SMOLLM2_135M, mode) if full
                           else quant_weights.from_weights(bench_weights, mode))
        return cache[mode]

    return get


@pytest.mark.parametrize("mode", quant_weights.MODES)
@pytest.mark.parametrize("batch", [1, 16])
def test_decode_quantised(benchmark, figures, quantised, mode, batch):
    qw = quantised(mode)
    cfg = qw.config
    m = QuantModel(qw)
    tokens = np.random.default_rng(1).integers(0, cfg.vocab, (batch, PROMPT + 1))
    cache = m.new_cache(batch, PROMPT + 1)
    m.prefill(tokens[:, :PROMPT], cache)
    logits = benchmark.pedantic(m.decode, (tokens[:, PROMPT], cache, PROMPT), rounds=20, warmup_rounds=2)
    check(qw.dequantized(), tokens, logits, "decode", mode)
    nbytes = wl.decode_bytes(cfg, batch, PROMPT, m.weight_bytes)
    record(figures, f"decode_b{batch}_{mode}", batch, wl.flop_per_call(cfg, "decode", batch, PROMPT), nbytes, "numba-cpu")
    rate = figures.rate(f"decode_b{batch}_{mode}", batch, "tok/s")
    if rate is not None:
        figures.record(f"decode_b{batch}_{mode}_bytes_per_token", nbytes / batch, "B")
        figures.record(f"decode_b{batch}_{mode}_achieved", nbytes * rate / batch, "B/s")


@pytest.mark.parametrize("mode", quant_weights.MODES)
def test_prefill_quantised(benchmark, figures, quantised, mode):
    qw = quantised(mode)
    cfg = qw.config
    m = QuantModel(qw)
    tokens = np.random.default_rng(2).integers(0, cfg.vocab, (1, PROMPT + 1))
    cache = m.new_cache(1, PROMPT)
    logits = benchmark.pedantic(m.prefill, (tokens[:, :PROMPT], cache), rounds=5, warmup_rounds=1)
    check(qw.dequantized(), tokens, logits, "prefill", mode)
    record(figures, f"prefill_b1_{mode}", PROMPT, wl.flop_per_call(cfg, "prefill", 1, PROMPT), None, "numba-cpu")


@pytest.mark.skipif(not llama_cpp_peer.available()[0], reason=llama_cpp_peer.available()[1])
@pytest.mark.parametrize("phase", ["decode", "prefill"])
def test_llama_cpp_peer(benchmark, figures, phase):
    """llama.cpp in its own process (no suite thread settings). pytest-benchmark's figure includes the pipe
    round trip; `..._own_clock` is the seconds llama.cpp itself spent, the figure the suite reports."""
    peer = llama_cpp_peer.Peer(n_ctx=256, threads=backends.module("inference", "numpy").devices()[0].units or 1)
    try:
        tokens = np.random.default_rng(1).integers(0, config.SMOLLM2_135M.vocab, PROMPT + 1)
        peer.prefill(tokens[:PROMPT])
        seconds = []

        def step():
            out = peer.decode(tokens[PROMPT], PROMPT) if phase == "decode" else peer.prefill(tokens[:PROMPT])
            seconds.append(out.seconds)
            return out

        rounds = 20 if phase == "decode" else 5
        benchmark.pedantic(step, rounds=rounds, warmup_rounds=2)
        assert np.isfinite(peer.logits()).all()
        work = 1 if phase == "decode" else PROMPT
        figures.rate(f"llama_cpp_{phase}_b1", work, "tok/s")
        if benchmark.enabled:
            figures.record(f"llama_cpp_{phase}_b1_own_clock", work / float(np.median(seconds[-rounds:])), "tok/s")
        figures.record("llama_cpp_setup_is_default", float(peer.setup == "llama.cpp defaults"), "")
    finally:
        peer.close()

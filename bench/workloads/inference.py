"""AI inference: a Llama-style decoder (kernels/inference) on each selected GEMM backend/device.

Cases per backend/device, model and dtype: prefill (a prompt of `prompt` tokens per sequence from
position 0) and decode (one new token per sequence after that prompt, repeated at the same position)
at several batch sizes; metric tokens/s. Every case is verified before its timing counts: the logits it
produced are compared with the float64 NumPy reference forward on the same tokens (kernels/inference/
reference.py) within a dtype tolerance. `extra()` gives achieved FLOP/s (2 x weights per token plus
attention), decode bytes/s (weights + KV cache read per step), each against the device's roofline from
its hardware profile where one exists, and on CPUs against this machine's measured BLAS FLOP/s and
memory read bandwidth. Every case also carries the bytes one call reads (per call and per token) and the
GB/s it achieved (`bound_figures`). On numba-cpu the decoder also runs on quantised weights (Q8_0, Q4_1,
and bfloat16 "bf16w":
kernels/inference/quant_model.py), verified against the float64 forward of the same dequantised weights,
its error against the float32 weights reported. Where llama_cpp is importable, llama.cpp runs the same
GGUF as the peer, in its own process without the suite's thread settings (kernels/inference/llama_cpp_peer.py).
"""

from __future__ import annotations

import functools
import time
import weakref
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bench import backends, profiles
from bench.backends import parse_spec
from bench.errors import UsageError
from bench.workloads import Case
from kernels.inference import config as configs
from kernels.inference import (
    generate,
    gguf_loader,
    llama_cpp_peer,
    quant_model,
    quant_weights,
    reference,
    tokenizer,
)
from kernels.inference import sources as weight_sources
from kernels.inference.config import ModelConfig
from kernels.inference.model import Model
from kernels.inference.quant_model import QuantModel

# Largest |logit - reference| over the largest |reference logit| of a row (whole network, not one GEMM).
# Quantised weights are compared with the float64 forward of the same dequantised weights; what is left
# is the int8 quantisation of activations (per 32-block, as llama.cpp): 2e-3..6e-2 seen on SmolLM2, and
# llama.cpp's own logits differ from that reference by 4.9e-2.
# bfloat16 weights ("bf16w", numba-cpu) take float32 activations: only float32 rounding is left.
TOLERANCE = {"fp64": 1e-9, "fp32": 1e-4, "tf32": 1e-2, "fp16": 2e-2, "bf16": 5e-2, "q8_0": 0.1, "q4_1": 0.1,
             "bf16w": 1e-4}
BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2}
QUANT = quant_weights.MODES  # block formats the numba-cpu quantised decoder runs
SEED = 2024
VERIFY_ROWS = 4  # sequences of a batch compared with the reference (first, last and evenly between)
PEER_GREEDY_TOKENS = 16


@dataclass(frozen=True)
class Sizes:
    models: tuple[str, ...]
    dtypes: tuple[str, ...]  # tried in this order; those the backend lacks are left out
    prompt: int  # prompt tokens per sequence (= the decode step's context)
    prefill_batches: tuple[int, ...]
    decode_batches: tuple[int, ...]
    quantised: tuple[str, ...] = ()  # block formats, for backends with a quantised decoder (quant_model.runs_on)


SIZES = {
    ("cpu", False): Sizes(("smollm2-135m",), ("fp32",), 64, (1, 4, 16), (1, 4, 16), QUANT),
    ("cpu", True): Sizes(("smollm2-135m",), ("fp32",), 16, (1, 4), (1, 4), QUANT),
    ("gpu", False): Sizes(("smollm2-135m", "llama3-8b-4l"), ("fp32", "bf16"), 512, (1, 4, 16), (1, 4, 16, 64, 256)),
    ("gpu", True): Sizes(("smollm2-135m",), ("fp32",), 128, (1, 16), (1, 16, 64)),
}


def sizes_for(kind: str, quick: bool) -> Sizes:
    return SIZES[("gpu" if kind == "gpu" else "cpu", quick)]


# --- input checks the CLI turns into exit 2 ---------------------------------------------------------


def validate(model: str | ModelConfig = "smollm2-135m", *, batches=(1,), prompt: int = 16, backends=()) -> ModelConfig:
    """The model config for a request, or UsageError (one line) naming what is wrong and how to fix it.

    `model` is a name or 'NAME:FIELD=N,...' (kernels.inference.config.parse); the prompt plus the one
    decoded token must fit the context; backends are 'NAME[:INDEX]' specs.
    """
    for spec in backends:
        parse_spec(spec)
    try:
        cfg = configs.parse(model) if isinstance(model, str) else model.validate()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for b in batches:
        if not isinstance(b, int) or b < 1:
            raise UsageError(f"batch must be a whole number >= 1 (got {b!r})")
    if not isinstance(prompt, int) or prompt < 1:
        raise UsageError(f"prompt must be a whole number of tokens >= 1 (got {prompt!r})")
    if prompt + 1 > cfg.max_context:
        raise UsageError(
            f"a prompt of {prompt} tokens plus one decoded token is longer than the context of model "
            f"{cfg.name} ({cfg.max_context}); use a prompt of at most {cfg.max_context - 1} tokens"
        )
    return cfg


# --- what every case of one model shares -------------------------------------------------------------


class Workbench:
    """Weights, tokens, reference logits and the one live model, shared by the cases of one model.

    Weights come in flavours: "fp32" (the float32 weights of the source) and each block format of
    quant_weights (the same source kept quantised); each flavour's float64 reference is its own.
    """

    def __init__(self, cfg: ModelConfig, prompt: int, max_batch: int, source: str, shared: dict | None = None):
        self.cfg, self.prompt, self.source = cfg, prompt, source
        self._shared = {} if shared is None else shared  # weights by (config, source, flavour), across benches
        rng = np.random.default_rng(SEED)
        self.tokens = rng.integers(0, cfg.vocab, size=(max_batch, prompt + 1))  # prompt, then the decoded token
        self._ref: dict[tuple[str, int], np.ndarray] = {}
        self._model_key = None
        self._model = None
        self.peer_greedy = None  # set by the llama.cpp peer's cases: () -> (prompt ids, its greedy tokens)

    @property
    def weights(self):
        return self.weights_for("fp32")

    @staticmethod
    def flavour(dtype: str) -> str:
        return dtype if dtype in QUANT else "fp32"

    def weights_for(self, dtype: str):
        """float32 Weights for float dtypes; for a block format the dequantised values of the quantised ones."""
        flavour = self.flavour(dtype)
        key = (self.cfg, self.source, flavour)
        if key not in self._shared:
            if flavour == "fp32":
                self._shared[key] = weight_sources.load(self.cfg, self.source, seed=SEED)
            else:
                self._shared[key] = self.quantised(flavour).dequantized()
        return self._shared[key]

    def quantised(self, mode: str) -> quant_weights.QuantWeights:
        key = (self.cfg, self.source, mode, "blocks")
        if key not in self._shared:
            fp32 = None if self.source == "gguf" else self.weights
            self._shared[key] = quant_weights.load(self.cfg, self.source, mode, fp32, seed=SEED)
        return self._shared[key]

    def model(self, gemm, dtype: str, device: int) -> Model:
        """One live model at a time (the previous one is released): cases run one after another."""
        key = (gemm.__name__, dtype, device)
        if self._model_key != key:
            self._model = None
            if dtype in QUANT:
                self._model = QuantModel(self.quantised(dtype))
            else:
                self._model = Model(self.weights, gemm, dtype=dtype, device=device)
            self._model_key = key
        return self._model

    def reference(self, row: int, batch: int, dtype: str = "fp32") -> np.ndarray:
        """float64 logits (2, vocab) of sequence `row`: after its prompt, and after its decoded token.

        The rows this batch and the largest batch verify are computed together (one float64 pass over the
        weights) and kept for the other cases.
        """
        flavour = self.flavour(dtype)
        if (flavour, row) not in self._ref:
            wanted = set(self.verify_rows(batch)) | set(self.verify_rows(len(self.tokens))) | {row}
            todo = sorted(r for r in wanted if (flavour, r) not in self._ref)
            logits = reference.forward_many(self.weights_for(flavour), self.tokens[todo], last=2)
            for r, last_two in zip(todo, logits):
                self._ref[(flavour, r)] = last_two
        return self._ref[(flavour, row)]

    def error(self, logits_row, row: int, batch: int, phase: str, dtype: str) -> float:
        ref = self.reference(row, batch, dtype)[0 if phase == "prefill" else 1]
        return float(np.max(np.abs(np.asarray(logits_row, np.float64) - ref)) / max(np.max(np.abs(ref)), 1e-30))

    def verify(self, logits, batch: int, phase: str, dtype: str) -> tuple[bool, str, float]:
        """Compare rows of (batch, vocab) logits with the reference; (ok, what was compared, error)."""
        logits = np.asarray(logits, dtype=np.float64)
        if logits.shape != (batch, self.cfg.vocab):
            return False, f"logits have shape {logits.shape}, expected {(batch, self.cfg.vocab)}", float("inf")
        rows = self.verify_rows(batch)
        err = max(self.error(logits[r], r, batch, phase, dtype) for r in rows)
        tol = TOLERANCE[dtype]
        ok = bool(np.isfinite(logits).all()) and err <= tol
        weights = "the same tokens and dequantised weights" if dtype in QUANT else "the same tokens"
        what = (f"logits of sequences {','.join(map(str, rows))} of {batch} vs float64 NumPy reference forward on "
                f"{weights}: max |diff| / max |ref| = {err:.2e} (tolerance {tol:g} for {dtype})")
        return ok, what, err

    def verify_rows(self, batch: int) -> list[int]:
        n = 1 if self.cfg.params() > 1e9 else min(batch, VERIFY_ROWS)
        return sorted({int(round(x)) for x in np.linspace(0, batch - 1, n)})


# --- work and bytes per call --------------------------------------------------------------------------


def flop_per_call(cfg: ModelConfig, phase: str, batch: int, prompt: int) -> float:
    """2 x weights per token through the layers, attention (QK^T and PV: 4 x d x keys per layer), LM head."""
    layer = 2 * (cfg.layer_params() - 2 * cfg.d_model)
    head = 2 * cfg.vocab * cfg.d_model
    if phase == "prefill":
        keys = prompt * (prompt + 1) / 2  # position t attends to t+1 keys
        return batch * (prompt * cfg.n_layers * layer + 4 * cfg.d_model * cfg.n_layers * keys + head)
    return batch * (cfg.n_layers * layer + 4 * cfg.d_model * cfg.n_layers * (prompt + 1) + head)


def decode_bytes(cfg: ModelConfig, batch: int, prompt: int, weight_bytes: float) -> float:
    """Bytes one decode step reads: every weight matrix once, plus K and V of prompt+1 positions."""
    kv = cfg.n_layers * batch * 2 * cfg.kv_dim * (prompt + 1) * 4
    return weight_bytes + kv


def call_bytes(cfg: ModelConfig, phase: str, batch: int, prompt: int, weight_bytes: float) -> float:
    """Bytes one call moves at least: decode as `decode_bytes`; prefill the weights once plus the K and V
    it writes (prompt positions of every sequence)."""
    if phase == "decode":
        return decode_bytes(cfg, batch, prompt, weight_bytes)
    return weight_bytes + cfg.n_layers * batch * 2 * cfg.kv_dim * prompt * 4


def bound_figures(nbytes: float, tokens: int, seconds: float) -> dict:
    """Bytes read per call and per token, and the GB/s achieved: how close a call is to the memory bound."""
    return {"bytes_per_call": nbytes, "bytes_per_token": nbytes / tokens, "achieved_gb_per_s": nbytes / seconds / 1e9}


@lru_cache(maxsize=1)
def host_measured() -> dict:
    """This machine's own ceilings, measured once per process: NumPy/BLAS SGEMM 2048^3 FLOP/s and the
    read bandwidth of BLAS SGEMV over a 256 MB matrix (best of 5 each)."""
    rng = np.random.default_rng(0)
    a = rng.random((2048, 2048), dtype=np.float32)
    big = rng.random((8192, 8192), dtype=np.float32)
    x = rng.random(8192, dtype=np.float32)

    def best(f):
        f()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        return min(times)

    gemm_s = best(lambda: a @ a)
    gemv_s = best(lambda: big @ x)
    return {"measured_blas_flop_per_s": 2 * 2048**3 / gemm_s, "measured_read_bytes_per_s": big.nbytes / gemv_s,
            "measured_how": "NumPy/BLAS SGEMM 2048^3 and SGEMV over 256 MB, best of 5, in this process"}


def _profile(device):
    """The device's hardware profile (bench.profiles), or None where none matches or profiles are absent."""
    try:
        return profiles.for_device(device)
    except (UsageError, ValueError):
        return None


def roofline(device, dtype: str, flop_s: float, bytes_s: float | None) -> dict:
    """Fractions of the profile's peaks (never invented: None where the profile has no figure) and, on a
    CPU, of this machine's measured read bandwidth and (fp32 only) BLAS FLOP/s."""
    out: dict = {"fraction_of_peak_flops": None, "fraction_of_peak_bandwidth": None, "peak_source": None}
    p = _profile(device)
    if p is not None:
        if getattr(p, "peak_tflops", None) and dtype in p.peak_tflops:
            out["fraction_of_peak_flops"] = flop_s / (p.peak_tflops[dtype] * 1e12)
        elif getattr(p, "peak_gflops", None) and dtype in p.peak_gflops:
            out["fraction_of_peak_flops"] = flop_s / (p.peak_gflops[dtype] * 1e9)
        if bytes_s is not None and getattr(p, "memory_tbs", None):
            out["fraction_of_peak_bandwidth"] = bytes_s / (p.memory_tbs * 1e12)
        out["peak_source"] = f"profile {p.id}" + (" (derived, not measured)" if getattr(p, "derived", False) else "")
    if device.kind == "cpu" and (dtype == "fp32" or dtype in QUANT):
        m = host_measured()
        out.update(m)
        if dtype == "fp32":
            out["fraction_of_measured_blas"] = flop_s / m["measured_blas_flop_per_s"]
        if bytes_s is not None:
            out["fraction_of_measured_bandwidth"] = bytes_s / m["measured_read_bytes_per_s"]
    return out


# --- cases --------------------------------------------------------------------------------------------


def launch_path(model, phase: str) -> str | None:
    """How a GPU step reaches the device: one CUDA graph, or kernel by kernel (and why); None on the host."""
    if not model.on_device:
        return None
    kernels = "fused kernels" if model.ops.fused else "array kernels"
    if phase == "decode" and model.use_graphs:
        return f"CUDA graph replay ({kernels})"
    why = model.graph_error or model.graph_reason if phase == "decode" else "prefill is launched eagerly"
    return f"kernel by kernel ({kernels}; {why})"


def _case(sel, bench: Workbench, phase: str, batch: int, dtype: str, reference_key: str | None) -> Case:
    cfg, prompt = bench.cfg, bench.prompt
    state: dict = {"weight_bytes": cfg.matmul_params() * BYTES.get(dtype, 4)}
    flop = flop_per_call(cfg, phase, batch, prompt)
    tokens = batch * (prompt if phase == "prefill" else 1)

    def prepare():
        model = bench.model(sel.module, dtype, sel.device.index)
        state["model"] = weakref.ref(model)
        if isinstance(model, QuantModel):  # the bytes its kernels read, scales included
            state["weight_bytes"] = model.weight_bytes
            state["regions"] = model.parallel_regions_per_decode
            state["dot"] = model.dot_instructions
        state["launches"] = launch_path(model, phase)
        # Only the step holds the model, so its (GPU) memory goes once the case is measured.
        state["to_host"] = model.xp.asnumpy if model.on_device else np.asarray
        state["sync"] = functools.partial(sel.module.synchronize, sel.device.index)
        prompts = bench.tokens[:batch, :prompt]  # host token ids, as a server gets them: checked there, then copied
        cache = model.new_cache(batch, prompt + 1)
        if phase == "prefill":
            return lambda: model.prefill(prompts, cache)
        model.prefill(prompts, cache)
        nxt = bench.tokens[:batch, prompt]
        return lambda: model.decode(nxt, cache, prompt)

    def verify(output):
        ok, what, err = bench.verify(state["to_host"](output), batch, phase, dtype)
        state["error"] = err
        if dtype in QUANT:
            state["error_vs_fp32"] = bench.error(np.asarray(output)[0], 0, batch, phase, "fp32")
            what += (f"; vs the float32 weights' reference {state['error_vs_fp32']:.2e} (reported, not judged)"
                     + _greedy_vs_peer(bench, state))
        model = state["model"]() if "model" in state else None
        if model is not None:  # a graph capture that failed during timing fell back to kernel launches
            state["launches"] = launch_path(model, phase)
        return ok, what

    def sync():
        if "sync" in state:
            state["sync"]()

    def extra(seconds: float) -> dict:
        flop_s = flop / seconds
        nbytes = call_bytes(cfg, phase, batch, prompt, state["weight_bytes"])
        bytes_s = nbytes / seconds if phase == "decode" else None
        source = bench.quantised(dtype).source if dtype in QUANT else bench.weights.source
        out = {"weights": source, "prompt_tokens": prompt, "flop_per_call": flop, "flop_per_s": flop_s,
               "bytes_per_s": bytes_s, "max_rel_error": state.get("error"), "tolerance": TOLERANCE[dtype],
               "launches": state.get("launches"), **bound_figures(nbytes, tokens, seconds),
               **roofline(sel.device, dtype, flop_s, bytes_s)}
        if dtype in QUANT:
            out.update(max_rel_error_vs_fp32_weights=state.get("error_vs_fp32"),
                       activations="float32" if dtype == "bf16w" else "int8 per 32-block",
                       parallel_regions_per_decode_step=state.get("regions"), dot_instructions=state.get("dot"),
                       greedy_vs_llama_cpp=state.get("greedy_vs_peer"))
        return out

    # Events on the case's own GPU, from the backend's traits. Numba's events also time the CuPy work between
    # the products (both run on the default stream), and need no CuPy where numba-cuda runs without it.
    events = sel.module.TRAITS.event_timer
    timer = functools.partial(events, sel.device.index) if sel.device.kind == "gpu" and events else None
    return Case(
        workload="inference", backend=sel.backend, device=sel.device,
        params={"model": cfg.name, "phase": phase, "batch": batch, "dtype": dtype, "prompt": prompt},
        metric="tokens_per_s", unit="tok/s", work_per_call=batch * (prompt if phase == "prefill" else 1),
        prepare=prepare, verify=verify, sync=sync, timer=timer, reference=reference_key, extra=extra,
        label=f"{cfg.name} {phase} batch {batch} {dtype}",
    )


def _greedy_vs_peer(bench: Workbench, state: dict) -> str:
    """Our quantised model's greedy tokens on the chat prompt against llama.cpp's, where the peer runs."""
    model = state["model"]() if "model" in state else None
    if bench.peer_greedy is None or model is None or bench.source != "gguf":
        return ""
    if "greedy_vs_peer" not in state:
        ids, theirs = bench.peer_greedy()
        ours = generate.greedy(model, [ids], len(theirs), tokenizer.load().stop_ids)[0]
        same = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        state["greedy_vs_peer"] = (same, len(theirs))
    same, n = state["greedy_vs_peer"]
    return f"; greedy tokens on the chat prompt equal llama.cpp's for the first {same} of {n}"


def _peer_cases(bench: Workbench, device) -> list[Case]:
    """llama.cpp on the same GGUF, batch 1, prefill and decode: the peer our CPU figures stand beside.

    It runs in its own process (kernels/inference/llama_cpp_peer.py) without the suite's thread settings;
    its figure is the seconds llama.cpp itself spent (`ChildClock`), on the same tokens and positions.
    """
    ok, _ = llama_cpp_peer.available()
    if not ok or bench.cfg.name != configs.SMOLLM2_135M.name or bench.source != "gguf":
        return []
    cfg, prompt = bench.cfg, bench.prompt
    state: dict = {}
    weight_bytes = gguf_loader.matmul_weight_bytes()

    def peer() -> llama_cpp_peer.Peer:
        if "peer" not in state:
            state["peer"] = llama_cpp_peer.Peer(n_ctx=max(prompt + 1, 256), threads=device.units or 1)
        return state["peer"]

    def agreement() -> str:
        if "agree" not in state:
            tok = tokenizer.load()
            ids = tokenizer.chat_prompt_ids()
            theirs = peer().greedy(ids, PEER_GREEDY_TOKENS, tok.stop_ids)
            ours = reference.greedy_predictions(bench.weights, ids, theirs)
            same = int(np.argmin(np.append(ours == np.asarray(theirs), False)))
            state["agree"] = (same, len(theirs))
            state["greedy"] = (ids, theirs)
        same, n = state["agree"]
        return f"its greedy tokens on the chat prompt equal our float64 reference's for the first {same} of {n}"

    bench.peer_greedy = lambda: (agreement(), state["greedy"])[1]

    def make(phase: str) -> Case:
        def prepare():
            p = peer()
            seq = bench.tokens[0]
            if phase == "prefill":
                return lambda: p.prefill(seq[:prompt])
            p.prefill(seq[:prompt])
            return lambda: p.decode(seq[prompt], prompt)

        def verify(output):
            out = peer().logits()
            ok = out.shape == (cfg.vocab,) and bool(np.isfinite(out).all()) and int(out.argmax()) == output.argmax
            ok_ref, what, err = bench.verify(out[None, :], 1, phase, "q4_1")
            state["error"] = err
            return ok and ok_ref, f"llama.cpp (own process) {what}; {agreement()}"

        def extra(seconds: float) -> dict:
            flop_s = flop_per_call(cfg, phase, 1, prompt) / seconds
            nbytes = call_bytes(cfg, phase, 1, prompt, weight_bytes)
            bytes_s = nbytes / seconds if phase == "decode" else None
            return {"weights": f"{gguf_loader.FILENAME} as stored (quantised)", "prompt_tokens": prompt,
                    "flop_per_s": flop_s, "bytes_per_s": bytes_s, "greedy_agreement": state.get("agree"),
                    "max_rel_error": state.get("error"), "tolerance": TOLERANCE["q4_1"],
                    "process": "own (python -I, without the suite's thread settings)", "threads": peer().threads,
                    "setup": peer().setup, **bound_figures(nbytes, 1 if phase == "decode" else prompt, seconds),
                    **roofline(device, "q4_1", flop_s, bytes_s)}

        return Case(
            workload="inference", backend="llama.cpp", device=device,
            params={"model": cfg.name, "phase": phase, "batch": 1, "dtype": "q4_1", "prompt": prompt},
            metric="tokens_per_s", unit="tok/s", work_per_call=prompt if phase == "prefill" else 1,
            prepare=prepare, verify=verify, timer=lambda: llama_cpp_peer.ChildClock(peer()), is_reference=True,
            extra=extra, label=f"llama.cpp {phase} batch 1",
        )

    return [make("prefill"), make("decode")]


def cases(selected, *, quick: bool, model: str | None = None, prompt: int | None = None,
          batches: tuple[int, ...] | None = None) -> list[Case]:
    """Cases for every selected backend/device; `model`, `prompt`, `batches` override the defaults
    (checked by `validate`, so bad values are a UsageError). CPU backends compare with the numpy backend's
    case of the same parameters, or with llama.cpp where it runs (batch 1)."""
    found: list[Case] = []
    benches: dict[tuple, Workbench] = {}
    shared_weights: dict = {}
    order = sorted(selected, key=lambda s: (s.device.kind != "cpu", s.module.TRAITS.reference_for != s.device.kind))
    for sel in order:
        plan = sizes_for(sel.device.kind, quick)
        names = (model,) if model else plan.models
        p = prompt or plan.prompt
        for name in names:
            cfg = validate(name, batches=batches or (1,), prompt=p)
            pre, dec = (batches, batches) if batches else (plan.prefill_batches, plan.decode_batches)
            key = (cfg, p)
            if key not in benches:
                real = cfg == configs.SMOLLM2_135M and not quick and gguf_loader.available()[0]
                benches[key] = Workbench(cfg, p, max(max(pre), max(dec)), "gguf" if real else "random", shared_weights)
                if sel.device.kind == "cpu":
                    found += _peer_cases(benches[key], sel.device)
            bench = benches[key]
            have = sel.module.dtypes(sel.device.index)
            quantised = plan.quantised if quant_model.runs_on(sel.module) else ()
            for dtype in [d for d in plan.dtypes if d in have] + list(quantised):
                for phase, sizes in (("prefill", pre), ("decode", dec)):
                    for batch in sizes:
                        ref = _reference_key(found, sel, cfg.name, phase, batch, dtype, p)
                        found.append(_case(sel, bench, phase, batch, dtype, ref))
    return found


def _reference_key(found: list[Case], sel, model: str, phase: str, batch: int, dtype: str, prompt: int) -> str | None:
    """The key of the case this one is shown as a ratio to: llama.cpp (batch 1) or the numpy backend."""
    for c in found:
        same = c.params["model"] == model and c.params["phase"] == phase and c.params["batch"] == batch
        if not same or c.device.kind != sel.device.kind or c.params["prompt"] != prompt:
            continue
        if c.backend == "llama.cpp":
            return c.key
        baseline = backends.module("gemm", c.backend) if c.backend in backends.BACKENDS else None
        is_baseline = baseline is not None and baseline.TRAITS.reference_for == c.device.kind
        if is_baseline and c.backend != sel.backend and (c.params["dtype"] == dtype or dtype in QUANT):
            return c.key
    return None

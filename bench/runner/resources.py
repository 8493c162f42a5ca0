"""Will it fit? GEMM shapes, prompt lengths and batch sizes against memory, before anything is allocated.

Two pure checks, both raising UsageError (exit 2, one line naming the flag, the need and the memory):

- `check_options(options, host_bytes)` before planning (the plan already allocates a batch's tokens): the
  host-side lower bound of what `--shape`, `--prompt` and `--batch` must hold (GEMM operands and the float64
  product the check compares with; inference tokens and one row of logits per sequence brought back to verify).
- `check_cases(cases, host_bytes)` after planning, per device: GEMM operands in the case's dtype, inference
  weights plus the KV cache of the batch at the prompt's length, against the device's own memory.

Each figure is a lower bound of what the case allocates, so a refusal is certain; a case that passes may
still need more (the workload's own scratch), which it reports as an error of that case as before.
"""

from __future__ import annotations

from bench.errors import UsageError
from bench.workloads import Case
from kernels.gemm import shapes
from kernels.inference import config as models
from kernels.runtime import cpu

DTYPE_BYTES = {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "q4_1": 1}
DEFAULT_MODEL = "smollm2-135m"
USABLE = 0.9  # of a device's memory; the rest is the runtime's, the OS's and the other operands'


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def gemm_bytes(m: int, n: int, k: int, itemsize: int) -> int:
    """A (m x k), B (k x n) and C (m x n) in one dtype."""
    return (m * k + k * n + m * n) * itemsize


def gemm_host_bytes(m: int, n: int, k: int, itemsize: int) -> int:
    """Host operands A, B in the dtype and the float64 product every result is verified against."""
    return (m * k + k * n) * itemsize + m * n * 8


def kv_cache_bytes(cfg: models.ModelConfig, batch: int, tokens: int, itemsize: int) -> int:
    """Keys and values of every layer for `batch` sequences of `tokens` positions."""
    return 2 * cfg.n_layers * batch * tokens * cfg.kv_dim * itemsize


def inference_host_bytes(cfg: models.ModelConfig, batch: int, prompt: int) -> int:
    """The batch's token ids (int64) and one float32 row of logits per sequence."""
    return batch * (prompt + 1) * 8 + batch * cfg.vocab * 4


def _refuse(flag: str, what: str, need: int, where: str, have: int, fix: str) -> None:
    raise UsageError(f"{flag} {what} needs at least {_gib(need)} but {where} has {_gib(have)}; {fix}")


def check_options(options, host_bytes: int | None = None) -> None:
    """The host-side lower bound of the requested sizes, before any case is planned."""
    host = cpu.memory_bytes() if host_bytes is None else host_bytes
    if not host:
        return
    limit = host * USABLE
    for text in options.shapes or []:
        try:
            s = shapes.parse_shape(text)
        except ValueError:
            continue  # the workload says what is wrong with it
        smallest = min((DTYPE_BYTES.get(d, 2) for d in options.dtypes or ["bf16"]), default=2)
        need = gemm_host_bytes(s.m, s.n, s.k, smallest)
        if need > limit:
            _refuse("--shape", text, need, "this machine", host, "choose a smaller shape")
    if options.batches or options.prompt:
        try:
            cfg = models.parse(options.model or DEFAULT_MODEL)
        except ValueError:
            return  # the workload names the bad model
        prompt = options.prompt or 1  # the workload's own default prompt is longer: a lower bound
        for batch in options.batches or [1]:
            if not isinstance(batch, int) or batch < 1:
                continue  # the workload's own check says so
            need = inference_host_bytes(cfg, batch, prompt)
            if need > limit:
                what = f"{batch}" + (f" at --prompt {options.prompt}" if options.prompt else "")
                _refuse("--batch", what, need, "this machine", host, "choose a smaller --batch or --prompt")


def case_bytes(case: Case) -> tuple[int, int]:
    """(device bytes, host bytes) a case certainly allocates; (0, 0) for workloads without a model here."""
    p = case.params or {}
    itemsize = DTYPE_BYTES.get(str(p.get("dtype")), 4)
    if case.workload == "gemm" and {"m", "n", "k"} <= p.keys():
        m, n, k = int(p["m"]), int(p["n"]), int(p["k"])
        return gemm_bytes(m, n, k, itemsize), gemm_host_bytes(m, n, k, itemsize)
    if case.workload == "inference" and {"model", "batch", "prompt"} <= p.keys():
        try:
            cfg = models.parse(str(p["model"]))
        except ValueError:
            return 0, 0
        batch, prompt = int(p["batch"]), int(p["prompt"])
        device = cfg.params() * itemsize + kv_cache_bytes(cfg, batch, prompt + 1, itemsize)
        return device, inference_host_bytes(cfg, batch, prompt)
    return 0, 0


def check_cases(cases: list[Case], host_bytes: int | None = None) -> None:
    """Every planned case against its device's memory (and the host's), before the first is prepared."""
    host = cpu.memory_bytes() if host_bytes is None else host_bytes
    for case in cases:
        device_need, host_need = case_bytes(case)
        flag = "--shape" if case.workload == "gemm" else "--batch/--prompt"
        what = f"{case.label or case.key} on {case.backend}:{case.device.index}"
        memory = case.device.memory_bytes
        if memory and device_need > memory * USABLE:
            _refuse(flag, what, device_need, case.device.name, memory, "choose smaller sizes or another device")
        if host and host_need > host * USABLE:
            _refuse(flag, what, host_need, "this machine", host, "choose smaller sizes")

"""The peer: llama.cpp (llama-cpp-python) on the same GGUF, in its own process with its own settings.

Why a process of its own: importing `kernels` sets OMP_WAIT_POLICY=PASSIVE, GOMP_SPINCOUNT and Numba's
code-generation variables for the suite's kernels (kernels/numba_env.py). In the same process those throttle llama.cpp's
OpenMP threads (decode fell from 101-146 to 31-39 tok/s on a 2-core Zen 5). So the peer runs
kernels/inference/llama_cpp_child.py as a script under `python -I`, in an environment without the suite's
thread settings (`peer_environment`), warm and reused for every call. The child times llama.cpp's own
evaluation with its own clock; `ChildClock` hands those seconds to the harness, so a peer figure carries
no pipe or JSON time and lands in the same run beside ours. `available()` says why it cannot run.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import select
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kernels.inference import gguf_loader

CHILD = Path(__file__).with_name("llama_cpp_child.py")
# What the suite sets (or a user set for the suite) to steer its own threads; the peer gets none of them.
THREAD_SETTING_PREFIXES = ("OMP_", "GOMP_", "KMP_", "NUMBA_", "OPENBLAS_", "GOTO_", "MKL_", "BLIS_", "VECLIB_")
THREAD_SETTINGS = ("NUMEXPR_NUM_THREADS", "LLAMA_ARG_THREADS")
REPLY_TIMEOUT_S = 300.0  # a peer that answers nothing for this long is killed, never waited on forever


class PeerError(RuntimeError):
    """The peer process failed or answered with an error; the message carries its reason."""


def is_thread_setting(name: str) -> bool:
    return name.startswith(THREAD_SETTING_PREFIXES) or name in THREAD_SETTINGS


def peer_environment(base: dict | None = None) -> dict:
    """`base` (default os.environ) without any thread or code-generation setting meant for the suite."""
    env = dict(os.environ if base is None else base)
    return {k: v for k, v in env.items() if not is_thread_setting(k)}


class PeerProcess:
    """One child process speaking JSON lines (kernels/inference/llama_cpp_child.py)."""

    def __init__(self, env: dict | None = None):
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(CHILD)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, env=peer_environment() if env is None else env, text=True, bufsize=1,
        )

    def request(self, op: str, **fields) -> dict:
        if self.proc.poll() is not None:
            raise PeerError(f"the llama.cpp peer process has exited ({self.proc.returncode}){self._tail()}")
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], REPLY_TIMEOUT_S)
        if not ready:
            self.proc.kill()
            self.proc.wait()
            raise PeerError(f"the llama.cpp peer gave no answer to {op!r} within {REPLY_TIMEOUT_S:g} s; killed it")
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=5)
            raise PeerError(f"the llama.cpp peer process died during {op!r} ({self.proc.returncode}){self._tail()}")
        reply = json.loads(line)
        if "error" in reply:
            raise PeerError(f"llama.cpp peer, {op}: {reply['error']}")
        return reply

    def _tail(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().strip().splitlines()
        return f": {text[-1]}" if text else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def child_environment() -> dict:
    """The os.environ the peer process actually sees (what the environment test checks)."""
    with PeerProcess() as child:
        return child.request("environ")["environ"]


def available() -> tuple[bool, str]:
    """Whether llama_cpp imports in a peer process here, and the GGUF is installed; the reason if not."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False, "llama_cpp is not importable (pip install llama-cpp-python, a source build here)"
    ok, why = gguf_loader.available()
    if not ok:
        return ok, why
    return _probe()


_PROBED: list[tuple[bool, str]] = []


def _probe() -> tuple[bool, str]:
    if not _PROBED:
        try:
            with PeerProcess() as child:
                reply = child.request("probe")
            _PROBED.append((bool(reply["ok"]), reply["reason"]))
        except (PeerError, OSError, ValueError) as exc:
            _PROBED.append((False, f"the llama.cpp peer process does not start: {exc}"))
    return _PROBED[0]


@dataclass(frozen=True)
class Step:
    """One evaluation in the peer: its own seconds and the argmax of the last position's logits."""

    seconds: float
    argmax: int


class Peer:
    """One llama.cpp context on the GGUF in its own process, reused for prefill, decode steps and greedy runs.

    llama.cpp's defaults first; where its repacked-weight path (AMX, ...) kills the process on the first
    evaluation (a general-protection fault in libggml-cpu, seen on a Sapphire Rapids VM), a fresh process
    without weight repacking, and `setup` says so.
    """

    def __init__(self, n_ctx: int, threads: int):
        self.threads = threads
        self.clock = 0.0  # sum of the peer's own seconds, read by ChildClock
        try:
            self._start(n_ctx, repack=True)
            self.setup = "llama.cpp defaults"
        except PeerError as first:
            self._start(n_ctx, repack=False)
            self.setup = f"weight repacking off (with it the peer process died: {first})"

    def _start(self, n_ctx: int, repack: bool) -> None:
        self.process = PeerProcess()
        try:
            self.vocab = int(self.process.request("load", path=str(gguf_loader.gguf_path()), n_ctx=n_ctx,
                                                  threads=self.threads, repack=repack)["vocab"])
            self.process.request("prefill", tokens=list(range(min(64, n_ctx))))  # where a bad path fails
        except Exception:
            self.process.close()
            raise

    def _step(self, reply: dict) -> Step:
        step = Step(float(reply["seconds"]), int(reply["argmax"]))
        self.clock += step.seconds
        return step

    def prefill(self, tokens) -> Step:
        """The prompt from position 0."""
        return self._step(self.process.request("prefill", tokens=[int(t) for t in tokens]))

    def decode(self, token: int, position: int) -> Step:
        """One token at `position`, dropping anything cached after it (repeatable for timing)."""
        return self._step(self.process.request("decode", token=int(token), position=int(position)))

    def logits(self) -> np.ndarray:
        """The last evaluated position's logits (vocab,) float32."""
        raw = base64.b64decode(self.process.request("logits")["logits_f32_b64"])
        return np.frombuffer(raw, dtype=np.float32).copy()

    def greedy(self, prompt, max_new_tokens: int, stop_ids=()) -> list[int]:
        reply = self.process.request("greedy", prompt=[int(t) for t in prompt], max_new=int(max_new_tokens),
                                     stop_ids=[int(s) for s in stop_ids])
        return [int(t) for t in reply["tokens"]]

    def close(self) -> None:
        self.process.close()

    def __del__(self):
        process = getattr(self, "process", None)
        if process is not None and process.proc.poll() is None:
            process.close()


class ChildClock:
    """A harness timer (bench.timing's start/stop) that reads the peer's own clock: the seconds llama.cpp
    spent evaluating between start() and stop(), without the pipe round trips around them."""

    def __init__(self, peer: Peer):
        self.peer = peer

    def start(self) -> None:
        self._t0 = self.peer.clock

    def stop(self) -> float:
        return self.peer.clock - self._t0

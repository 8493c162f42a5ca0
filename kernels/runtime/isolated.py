"""Call a function in a child Python process, with a deadline: for a GPU kernel's first run on a GPU.

A kernel that has never run on this GPU can hang (a synchronisation that never completes) or fault, and a
fault leaves the CUDA context of the process that ran it unusable for everything after it. Trying it in a
child process first keeps both out of the run: the child's result comes back as JSON, and a hang, a crash
or an exception comes back as a one-line reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the `kernels` package
RESULT_MARK = "isolated-result:"  # the child's line carrying the result, whatever else it prints

_CHILD = f"""
import importlib, json, sys
module, function, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
result = getattr(importlib.import_module(module), function)(*args)
print({RESULT_MARK!r} + json.dumps(result), flush=True)
"""


class IsolatedError(RuntimeError):
    """The child did not return a result: it hung, crashed or raised (the message says which)."""


class IsolatedHang(IsolatedError):
    """The child did not finish before the deadline and was stopped."""


def call(module: str, function: str, args: tuple, timeout_s: float):
    """`module.function(*args)` in a child process (the same interpreter, environment and package); its
    JSON-able result, or IsolatedError with the reason."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(PROJECT_ROOT), env.get("PYTHONPATH"))))
    command = [sys.executable, "-c", _CHILD, module, function, json.dumps(list(args))]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise IsolatedHang(f"{module}.{function} did not finish in {timeout_s:g} s in a child process "
                            "(a hang) and was stopped") from exc
    except OSError as exc:
        raise IsolatedError(f"could not start a child process for {module}.{function}: {exc}") from exc
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    last = (done.stderr.strip().splitlines() or [f"no output, exit code {done.returncode}"])[-1]
    raise IsolatedError(f"{module}.{function} failed in a child process (exit code {done.returncode}): {last}")

"""Run code in Numba's CUDA simulator: it must be switched on before numba.cuda is first imported, so
the code runs in a fresh Python process with NUMBA_ENABLE_CUDASIM=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.cli import ROOT


def run(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    """`python ARGS...` in the simulator, from the repository root; output captured as text."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=timeout)


def run_script(script: str, timeout: float = 600) -> dict:
    """Run `script` in the simulator; it must succeed and print a JSON object as its last line."""
    proc = run(["-c", script], timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])

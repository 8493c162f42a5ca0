"""Run `python -m bench` as a user would, in a subprocess, and capture what it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Completed:
    code: int
    out: str
    err: str


def run_cli(*args: str, env: dict | None = None, timeout: float = 600) -> Completed:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "160", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=timeout,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)


def assert_usage_error(result: Completed, *words: str) -> None:
    """Exit 2, exactly one line on stderr, no traceback, and the line names the problem."""
    assert result.code == 2, (result.code, result.err)
    assert "Traceback" not in result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    for word in words:
        assert word.lower() in lines[0].lower(), (word, lines[0])

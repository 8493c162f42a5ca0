"""Suite-wide pytest hooks: pytest-benchmark's machine_info gets the GPUs, BLAS and the git commit.

pytest-benchmark already records the CPU (py-cpuinfo), Python and the host; a benchmark figure is only
comparable with another taken on the same GPU and driver, so those go into every saved benchmark too.
"""

from __future__ import annotations


def pytest_benchmark_update_machine_info(config, machine_info):
    from bench import metadata

    machine_info["gpus"] = metadata.gpus()
    machine_info["blas"] = metadata.blas()
    machine_info["sitebench_git"] = metadata.git_commit()
    machine_info["packages"] = metadata.package_versions()


import signal as _signal  # noqa: E402

import pytest  # noqa: E402

_STOP_SIGNALS = [s for s in (_signal.SIGINT, _signal.SIGTERM, getattr(_signal, "SIGHUP", None)) if s is not None]


@pytest.fixture(autouse=True)
def _restore_stop_signals():
    """A run stopped in-process leaves SIGINT/SIGTERM/SIGHUP counted (bench.signals); give them back after."""
    saved = {s: _signal.getsignal(s) for s in _STOP_SIGNALS}
    yield
    for s, handler in saved.items():
        _signal.signal(s, handler)

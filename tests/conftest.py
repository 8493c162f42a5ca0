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


# --- the default run in parallel (pytest-xdist) ---------------------------------------------------------

import os  # noqa: E402

WORKERS = 2  # the suite is sized for 2 cores (CI's machine); `-n N` picks another count, `-n 0` one process
# Files that compile the same Numba CPU kernels in-process: one worker runs them all, so each kernel is
# compiled once (each worker has a Numba cache of its own, see below).
NUMBA_CPU_FILES = {
    "tests/benchmarks/test_gemm_bench.py", "tests/benchmarks/test_inference_bench.py",
    "tests/benchmarks/test_sha256_bench.py", "tests/test_gemm_cpu.py", "tests/test_inference_model.py",
    "tests/test_inference_quant.py", "tests/test_inference_real.py", "tests/test_inference_workload.py",
    "tests/test_sha256_backends.py", "tests/test_sha256_numba_cpu.py",
}


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The whole suite as the README runs it (`python -m pytest`: no paths given, benchmarks disabled) is
    spread over WORKERS processes, a test file at a time, where pytest-xdist is installed and the host has
    the cores. Named paths, `-n`, `--pdb` and benchmark runs (`--benchmark-enable`: timing wants the machine
    to itself) keep pytest's one process."""
    opt = config.option
    if not config.pluginmanager.hasplugin("xdist") or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    benchmarks_off = getattr(opt, "benchmark_disable", False) and not getattr(opt, "benchmark_enable", False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if (opt.numprocesses is None and opt.dist == "no" and config.args_source == pytest.Config.ArgsSource.TESTPATHS
            and benchmarks_off and not opt.usepdb and not opt.collectonly and cores >= WORKERS):
        opt.numprocesses, opt.dist = WORKERS, "loadfile"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile with NUMBA_CPU_FILES as one unit of work."""
    try:
        from xdist.scheduler import LoadFileScheduling
    except ImportError:  # another layout of pytest-xdist: its own scheduler
        return None
    if config.option.dist != "loadfile":
        return None

    class Scheduling(LoadFileScheduling):
        def _split_scope(self, nodeid):
            path = super()._split_scope(nodeid)
            return "numba-cpu" if path in NUMBA_CPU_FILES else path

    return Scheduling(config, log)


_WORKER_FIGURES: list = []  # (nodeid, line) of tests/benchmarks/figures.py, from the xdist workers


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    _WORKER_FIGURES.extend(getattr(node, "workeroutput", {}).get("benchmark_figures", []))


def pytest_sessionfinish(session):
    """An xdist worker prints no summary: its figures go to the main process, which prints them."""
    if hasattr(session.config, "workeroutput"):
        from tests.benchmarks import figures

        session.config.workeroutput["benchmark_figures"] = figures.RECORDED


def pytest_terminal_summary(terminalreporter):
    """The benchmark figures recorded in this process, or by the workers (by test, in recorded order)."""
    from tests.benchmarks import figures

    recorded = sorted(_WORKER_FIGURES, key=lambda figure: figure[0]) + figures.RECORDED
    if recorded:
        terminalreporter.section("benchmark figures")
        for nodeid, line in recorded:
            terminalreporter.write_line(f"{nodeid}: {line}")


def _numba_cache_per_worker() -> None:
    """An xdist worker (and the runs it starts) keeps Numba's compiled kernels in a folder of its own: Numba's
    cache is not safe for two processes saving different signatures of one function at once (both may pick
    the same data file name), which two workers compiling on a cold cache could do. A user's setting wins."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or os.environ.get("NUMBA_CACHE_DIR"):
        return
    from kernels import numba_env
    from kernels.runtime import cache

    os.environ["NUMBA_CACHE_DIR"] = str(cache.cache_dir(f"numba-{worker}"))
    numba_env.configure()  # checks the folder; makes an already imported Numba read it


_numba_cache_per_worker()

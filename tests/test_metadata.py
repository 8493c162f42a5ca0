import datetime as dt
import json

from bench import metadata
from tests import conftest


def test_collect_names_the_machine_and_the_code():
    run = metadata.collect()
    json.dumps(run)  # plain JSON
    assert run["hostname"] and run["os"] and run["python"].startswith(("CPython", "PyPy"))
    assert run["cpu"]["model"] and run["cpu"]["cores"] >= 1 and isinstance(run["cpu"]["flags"], list)
    assert isinstance(run["gpus"], list)  # [] on a machine without NVML/CuPy
    assert {"numpy", "numba", "rich"} <= set(run["packages"])
    assert len(run["git"]["commit"]) in (0, 40)
    assert dt.datetime.fromisoformat(run["timestamp"]).tzinfo is not None


def test_folder_names_sort_by_time_and_are_safe():
    t = dt.datetime(2026, 1, 12, 9, 30, tzinfo=dt.timezone.utc)
    assert metadata.folder_name(t, "lab-box.local") == "20260112T093000Z-lab-box.local"
    assert metadata.folder_name(t, "../../etc/x y") == "20260112T093000Z-.._.._etc_x_y"
    assert "/" not in metadata.folder_name(t, "a/b")


def test_benchmark_machine_info_gets_gpus_blas_and_commit():
    info = {}
    conftest.pytest_benchmark_update_machine_info(None, info)
    assert set(info) == {"gpus", "blas", "sitebench_git", "packages"}
    json.dumps(info)


def test_commit_of_a_copy_without_git_history_comes_from_the_environment(monkeypatch):
    from bench import metadata

    monkeypatch.setenv("SITEBENCH_COMMIT", "0123456789abcdef")
    assert metadata.git_commit() == {"commit": "0123456789abcdef", "dirty": None}


def test_thread_settings_name_what_the_kernels_ran_under(monkeypatch):
    """The suite's OpenMP/Numba settings as the environment holds them, a user's own value included, and
    Numba's threading layer once a parallel kernel has run (tbb, omp or workqueue)."""
    from numba import njit, prange

    from kernels import numba_env

    @njit(parallel=True)
    def fill(a):
        for i in prange(a.shape[0]):
            a[i] = i

    fill(__import__("numpy").zeros(4))
    monkeypatch.setenv("GOMP_SPINCOUNT", "123")
    settings = metadata.thread_settings()
    assert settings["GOMP_SPINCOUNT"] == "123" and settings["OMP_WAIT_POLICY"]
    assert set(numba_env.SETTINGS) - {"NUMBA_CPU_FEATURES"} <= set(settings)
    assert settings["numba_threading_layer"] in {"tbb", "omp", "workqueue"}
    json.dumps(settings)  # goes into the run file as it is

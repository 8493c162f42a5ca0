"""The on-disk cache of compiled CUDA kernels (kernels/runtime/cuda.py), on the CPU: where it lives, what
names a cached source, when it is invalidated, the file written once, and Numba's cache finding that file.
Loading a cached cubin needs a GPU: scripts/gpu_check.sh times a cold and a warm `bench mine` apart."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from kernels.runtime import cuda as runtime
from tests import nvrtc

SOURCE = "def twice(x):\n    return 2 * x\n"
VERSIONS = ("numba 0.68.1", "numba-cuda 0.30.4")


def test_cache_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(runtime.CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert runtime.kernel_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(runtime.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.kernel_cache_dir() == tmp_path / "xdg" / "sitebench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert runtime.kernel_cache_dir() == tmp_path / "home" / ".cache" / "sitebench"


def test_the_key_changes_with_the_source_and_every_compiler_version():
    key = runtime.source_key(SOURCE, VERSIONS)
    assert key == runtime.source_key(SOURCE, VERSIONS) and len(key) == 20
    others = {runtime.source_key(SOURCE + " ", VERSIONS), runtime.source_key(SOURCE, ("numba 0.68.2", VERSIONS[1])),
              runtime.source_key(SOURCE, (VERSIONS[0], "numba-cuda 0.31.0")), runtime.source_key(SOURCE, VERSIONS[:1])}
    assert key not in others and len(others) == 4


def test_compiler_versions_name_each_distribution():
    versions = runtime.compiler_versions()
    assert [v.split()[0] for v in versions] == list(runtime.COMPILER_DISTRIBUTIONS)
    assert all(len(v.split()) == 2 for v in versions)


def test_generated_module_is_written_once_and_imported(tmp_path):
    module = runtime.generated_module("twice", SOURCE, VERSIONS, folder=tmp_path)
    assert module.twice(21) == 42
    path = Path(module.__file__)
    assert path.parent == tmp_path / "numba-cuda" and path.name == f"twice_{runtime.source_key(SOURCE, VERSIONS)}.py"
    assert path.read_text() == SOURCE
    os.utime(path, (1_000_000, 1_000_000))  # Numba stamps the file by size and time: it must not be rewritten
    again = runtime.generated_module("twice", SOURCE, VERSIONS, folder=tmp_path)
    assert again.__file__ == module.__file__ and path.stat().st_mtime == 1_000_000
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left behind


def test_a_new_source_or_compiler_gets_a_new_file(tmp_path):
    first = runtime.generated_module("twice", SOURCE, VERSIONS, folder=tmp_path)
    changed = runtime.generated_module("twice", SOURCE.replace("2 *", "3 *"), VERSIONS, folder=tmp_path)
    upgraded = runtime.generated_module("twice", SOURCE, ("numba 0.69.0", VERSIONS[1]), folder=tmp_path)
    assert len({first.__file__, changed.__file__, upgraded.__file__}) == 3
    assert (first.twice(1), changed.twice(1), upgraded.twice(1)) == (2, 3, 2)


def test_a_damaged_file_is_written_again(tmp_path):
    path = Path(runtime.generated_module("twice", SOURCE, VERSIONS, folder=tmp_path).__file__)
    path.write_text("def twice(x):\n    return 0\n")  # e.g. truncated by a full disk
    assert runtime.generated_module("twice", SOURCE, VERSIONS, folder=tmp_path).twice(5) == 10


def test_concurrent_writers_leave_one_whole_file(tmp_path):
    source = SOURCE + "# padding\n" * 20000
    results, errors = [], []

    def load():
        try:
            results.append(runtime.generated_module("twice", source, VERSIONS, folder=tmp_path).twice(4))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [8] * 8
    assert [p.suffix for p in (tmp_path / "numba-cuda").iterdir()] == [".py"]


def test_a_cache_folder_that_cannot_be_written_builds_the_module_in_memory(tmp_path):
    (tmp_path / "numba-cuda").write_text("a file where the folder should be")  # mkdir fails, as read-only would
    module = runtime.generated_module("twice", SOURCE, VERSIONS, folder=tmp_path)
    assert module.twice(4) == 8 and module.__file__ is None
    assert "not writable" in module.twice.__code__.co_filename


@pytest.mark.skipif(not nvrtc.nvvm_status()[0], reason=nvrtc.nvvm_status()[1])
def test_numba_caches_the_sha256_kernels_beside_their_generated_file(monkeypatch, tmp_path):
    from numba.cuda.dispatcher import CUDACache

    from kernels.sha256 import numba_cuda, rounds

    monkeypatch.setenv(runtime.CACHE_DIR_ENV, str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    from numba.core import config
    from numba.cuda.core import config as cuda_config

    for numba_config in {config, cuda_config}:  # read at import: unset in Numba too (xdist workers set it)
        monkeypatch.setattr(numba_config, "CACHE_DIR", "")
    for cached in (numba_cuda._source, numba_cuda._kernels):
        cached.cache_clear()
    try:
        kernels = numba_cuda._kernels()
        for dispatcher in (kernels.scan, kernels.batch):
            source_file = Path(dispatcher.py_func.__code__.co_filename)
            assert source_file.parent == tmp_path / "numba-cuda" and source_file.read_text() == rounds.numba_source()
            assert isinstance(dispatcher._cache, CUDACache)  # cache=True took: not Numba's NullCache
            assert Path(dispatcher._cache._cache_path) == tmp_path / "numba-cuda" / "__pycache__"
        stats = numba_cuda.cache_stats()
        assert stats["scan"] == {"cache_path": str(tmp_path / "numba-cuda" / "__pycache__"), "hits": 0, "misses": 0}
        for cached in (numba_cuda._source, numba_cuda._kernels):
            cached.cache_clear()
        blocker = tmp_path / "blocker"
        blocker.write_text("a file, not a folder")
        monkeypatch.setenv(runtime.CACHE_DIR_ENV, str(blocker))
        kernels = numba_cuda._kernels()
        assert not isinstance(kernels.scan._cache, CUDACache) and not kernels.cachable  # compiles, uncached
        assert numba_cuda.cache_stats()["scan"]["cache_path"] is None
    finally:
        for cached in (numba_cuda._source, numba_cuda._kernels):
            cached.cache_clear()

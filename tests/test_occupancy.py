"""The driver's count of resident clusters (kernels/runtime/occupancy.py) without a GPU: CUlaunchConfig as
ctypes lays it out against cuda.h as the host compiler lays it out, and the call against a stand-in driver."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from kernels.gemm import cupy_cuda
from kernels.runtime import occupancy
from tests import host_cuda

FIELDS = [name for name, _ in occupancy.LaunchConfig._fields_]


def _cuda_h_include():
    return next((include for include in cupy_cuda.toolkit_include_dirs() if (include / "cuda.h").is_file()), None)


def test_launch_config_matches_cuda_h(tmp_path):
    include = _cuda_h_include()
    if host_cuda.compiler() is None or include is None:
        pytest.skip("needs a host C++ compiler and cuda.h (the test extra's CUDA wheels bring it)")
    offsets = "".join(f"    out[{i}] = offsetof(CUlaunchConfig, {name});\n" for i, name in enumerate(FIELDS))
    code = ("#include <cstddef>\n#include <cuda.h>\nextern \"C\" void layout(size_t *out)\n{\n" + offsets
            + f"    out[{len(FIELDS)}] = sizeof(CUlaunchConfig);\n}}\n")
    library = host_cuda.shared_library(code, tmp_path, "layout", (f"-I{include}",))
    found = np.zeros(len(FIELDS) + 1, np.uintp)
    library.layout(np.ctypeslib.as_ctypes(found))
    assert [getattr(occupancy.LaunchConfig, name).offset for name in FIELDS] == found[:-1].tolist()
    assert ctypes.sizeof(occupancy.LaunchConfig) == found[-1]


class StandInDriver:
    """cuOccupancyMaxActiveClusters as a Python function: records the config, answers (status, count)."""

    def __init__(self, status: int, count: int):
        self.status, self.count, self.calls = status, count, []

    def __call__(self, count_ref, function, config_ref):
        config = config_ref._obj
        self.calls.append((function.value, {name: getattr(config, name) for name in FIELDS}))
        count_ref._obj.value = self.count
        return self.status


def test_asks_for_one_cluster_of_the_kernel_with_its_threads_and_shared_memory():
    driver = StandInDriver(0, 66)
    assert occupancy.max_active_clusters(0xABC, 2, 384, 197696, driver) == 66
    (function, config), = driver.calls
    assert function == 0xABC
    assert (config["gridDimX"], config["gridDimY"], config["gridDimZ"]) == (2, 1, 1)
    assert (config["blockDimX"], config["blockDimY"], config["blockDimZ"]) == (384, 1, 1)
    assert config["sharedMemBytes"] == 197696 and config["numAttrs"] == 0 and not config["attrs"]


@pytest.mark.parametrize(("status", "count"), [(1, 66), (0, 0)])  # an error (CUDA_ERROR_INVALID_VALUE); none
def test_no_answer_where_the_driver_gives_none(status, count):
    assert occupancy.max_active_clusters(1, 2, 384, 1024, StandInDriver(status, count)) is None


def test_no_answer_without_a_driver(monkeypatch):
    monkeypatch.setattr(occupancy, "_driver_function", lambda: None)
    assert occupancy.max_active_clusters(1, 2, 384, 1024) is None


@pytest.mark.parametrize(("driver_says", "blocks"), [(None, 132), (60, 120), (80, 132)])
def test_a_persistent_cluster_kernel_runs_as_many_clusters_as_the_driver_says_fit(monkeypatch, driver_says, blocks):
    """Where it cannot say, a cluster per two SMs; never more blocks than SMs."""
    monkeypatch.setattr(cupy_cuda, "multiprocessors", lambda device: 132)
    monkeypatch.setattr(cupy_cuda, "resident_clusters", lambda device, dtype, kernel: driver_says)
    assert cupy_cuda.resident_blocks(0, "bf16", "wgmma-tma-cluster-persistent") == blocks
    assert cupy_cuda.resident_blocks(0, "bf16", "wgmma-tma-persistent") == 132
    assert cupy_cuda.launch_grid("wgmma-tma-cluster-persistent", 8192, 8192, blocks) == (blocks,)

"""The cupy SHA-256 backend end to end without a GPU: its host code (job as kernel parameters, launch
geometry, hit buffer, reruns) drives the generated CUDA C, built for the CPU (tests/host_cuda.py), through a
stand-in CuPy whose RawModule compiles the same source with a host C++ compiler."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from kernels.runtime import cuda as runtime
from kernels.sha256 import cupy_cuda, device_scan, rounds
from kernels.sha256 import reference as ref
from tests import headers as H
from tests import host_cuda
from tests.test_gpu_host import fake_cupy, install

pytestmark = pytest.mark.skipif(host_cuda.compiler() is None, reason="no host C++ compiler (g++ or clang++)")
GENESIS = ref.parse_header_hex(H.GENESIS)
BLOCK_125552 = ref.parse_header_hex(H.BLOCK_125552)


class DeviceArray(np.ndarray):
    """A CuPy array stand-in: host memory, with `.get()`."""

    def get(self):
        return np.array(self)


def _array(values, dtype=None):
    return np.array(values, dtype=dtype).view(DeviceArray)


class Function:
    def __init__(self, lib, name):
        self.lib, self.name, self.kernel = lib, name, type("CUfunction", (), {"ptr": 1234})()
        self.launches = []

    def __call__(self, grid, block, args):
        self.launches.append((grid, block, len(args)))
        if self.name == "sha256d_scan":
            job, (one, start, count, per_thread, hits, n_hits, capacity) = args[:24], args[24:]
            assert one == 1 and all(isinstance(a, np.uint32) for a in job)
            u32 = ctypes.c_uint32
            self.lib.run_scan(np.ctypeslib.as_ctypes(np.array(job, dtype=np.uint32)), u32(grid[0]), u32(block[0]),
                              u32(int(start)), u32(int(count)), u32(int(per_thread)), np.ctypeslib.as_ctypes(hits),
                              np.ctypeslib.as_ctypes(n_hits), u32(int(capacity)))
        else:
            words, offsets, counts, states, n = args
            self.lib.run_batch(*(np.ctypeslib.as_ctypes(a) for a in (words, offsets, counts, states)),
                               ctypes.c_uint32(int(n)))


@pytest.fixture
def host_cupy(monkeypatch, tmp_path):
    """CuPy with two H100 stand-ins whose kernels run the generated CUDA C on the CPU."""
    built = {}

    class RawModule:
        def __init__(self, code, options):
            assert options == cupy_cuda.module_options()
            built["kernels"] = host_cuda.HostKernels(code, tmp_path)
            built["functions"] = {}

        def get_function(self, name):
            return built["functions"].setdefault(name, Function(built["kernels"].lib, name))

    cupy = fake_cupy([])
    cupy.RawModule = RawModule
    cupy.uint32 = np.uint32
    cupy.cuda.driver = type("driver", (), {"occupancyMaxActiveBlocksPerMultiprocessor": staticmethod(
        lambda ptr, threads, smem: 1)})

    def empty(shape, dtype):
        return np.zeros(shape, dtype=dtype).view(DeviceArray)

    cupy.empty, cupy.zeros = empty, empty
    cupy.asarray = lambda a: _array(a)
    install(monkeypatch, cupy)
    caches = (runtime.cupy_status, runtime._cupy_devices, cupy_cuda._module, cupy_cuda._scan_for)
    for cache in caches:
        cache.cache_clear()
    yield built
    for cache in caches:
        cache.cache_clear()


def _function(built, name):
    return built["functions"][name]


def test_scan_finds_real_nonces_in_small_windows(host_cupy):
    assert cupy_cuda.scan(GENESIS, H.GENESIS_NONCE - 300, 600, ref.header_target(GENESIS)) == [H.GENESIS_NONCE]
    target = ref.header_target(BLOCK_125552)
    assert cupy_cuda.scan(BLOCK_125552, H.BLOCK_125552_NONCE - 50, 100, target, device=1) == [H.BLOCK_125552_NONCE]
    grid, block, n_args = _function(host_cupy, "sha256d_scan").launches[0]
    assert (grid, block, n_args) == ((132,), (cupy_cuda.BLOCK,), device_scan.JOB_WORDS + 7)  # 132 SMs x 1 resident


def test_scan_with_more_hits_than_its_buffer_reruns_and_matches_the_reference(host_cupy):
    easy = 1 << 255  # half the nonces pass: 1500 hits of 3000, more than the 1024 one launch keeps
    start, count = 2**32 - 3000, 3000
    assert cupy_cuda.scan(GENESIS, start, count, easy) == ref.scan(GENESIS, start, count, easy)
    assert len(_function(host_cupy, "sha256d_scan").launches) == 2  # the window again, with room for every hit


def test_hash_batch_matches_hashlib(host_cupy):
    messages = [b"", b"abc", bytes(range(200)), b"a" * 1000]
    assert cupy_cuda.hash_batch(messages) == [ref.sha256(m) for m in messages]


def test_scan_runs_another_tuning_of_the_generated_kernel(host_cupy):
    target = ref.header_target(GENESIS)
    assert cupy_cuda.scan(GENESIS, H.GENESIS_NONCE - 8, 16, target, tuning=rounds.PLAIN) == [H.GENESIS_NONCE]
    assert cupy_cuda._module.cache_info().currsize == 1  # the plain variant's module, built for this scan

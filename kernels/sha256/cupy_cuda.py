"""SHA-256 and the SHA-256d nonce scan on NVIDIA GPUs with CuPy: the CUDA C of sha256d.cu as a RawModule.

The CUDA C is written out by kernels/sha256/rounds.py, the generator that also writes the Numba kernels,
so both CUDA backends run the same code. NVRTC compiles the module once per device (CuPy also caches the
binary on disk). A scan passes the job as kernel parameters (the constant bank, as Numba does), enqueues
its launches back to back and synchronises once, reading the hit counter. The launch is sized from the
device: multiprocessors x resident blocks per multiprocessor (occupancy).
`import kernels.sha256.cupy_cuda` works without CuPy; CuPy is imported on first use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kernels.runtime import Traits, parse_device_index
from kernels.runtime import cuda as runtime
from kernels.runtime.events import cupy_event_timer
from kernels.sha256 import device_scan, rounds
from kernels.sha256 import reference as ref

TRAITS = Traits("gpu", kernel="generated CUDA C RawKernel (rounds.py -> sha256d.cu)", event_timer=cupy_event_timer,
                cuda=True)

BLOCK = rounds.SCAN_BLOCK  # threads per block; the scan kernel is declared __launch_bounds__(BLOCK)
BATCH_BLOCK = 128
LAUNCH_NONCES = 1 << 30  # nonces per launch: ~0.13 s on an H100, short enough for any watchdog
ONE = np.uint32(1)  # the scan kernel's `one` (rounds.py: adds through IMAD)


def available() -> tuple[bool, str]:
    return runtime.cupy_status()


def devices():
    return runtime.cupy_devices()


def module_options() -> tuple[str, ...]:
    """NVRTC options of the RawModule (CuPy adds -arch for the device)."""
    return ("--std=c++14",)


def module_source(tuning: rounds.Tuning = rounds.DEFAULT) -> str:
    """The CUDA C the RawModule compiles (sha256d.cu holds the default tuning's text)."""
    return rounds.cuda_source(tuning)


@lru_cache(maxsize=4)
def _module(tuning: rounds.Tuning = rounds.DEFAULT):
    import cupy

    return cupy.RawModule(code=module_source(tuning), options=module_options())


@dataclass
class _Scan:
    """One device's scan kernel, launch geometry and reusable buffers."""

    kernel: object
    blocks: int
    hits: object  # cupy uint32[HIT_CAPACITY]
    n_hits: object  # cupy uint32[1]


def _check_device(device: int) -> int:
    return parse_device_index(device, devices(), "cupy")


@lru_cache(maxsize=None)
def _scan_for(device: int, tuning: rounds.Tuning = rounds.DEFAULT) -> _Scan:
    import cupy

    with cupy.cuda.Device(device):
        kernel = _module(tuning).get_function("sha256d_scan")
        units = cupy.cuda.runtime.getDeviceProperties(device)["multiProcessorCount"]
        resident = cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(kernel.kernel.ptr, BLOCK, 0)
        return _Scan(
            kernel=kernel,
            blocks=int(units) * max(1, int(resident)),
            hits=cupy.empty(device_scan.HIT_CAPACITY, dtype=cupy.uint32),
            n_hits=cupy.zeros(1, dtype=cupy.uint32),
        )


def _launcher(device: int, job: tuple, tuning: rounds.Tuning):
    """launch(start, count, capacity) -> (found, hits) for device_scan.collect, the job words as parameters."""
    import cupy

    s = _scan_for(device, tuning)
    threads = s.blocks * BLOCK

    def launch(start: int, count: int, capacity: int) -> tuple[int, np.ndarray]:
        with cupy.cuda.Device(device):
            hits = s.hits if capacity <= device_scan.HIT_CAPACITY else cupy.empty(capacity, dtype=cupy.uint32)
            s.n_hits.fill(0)
            for offset in range(0, count, LAUNCH_NONCES):
                n = min(LAUNCH_NONCES, count - offset)
                args = (*job, ONE, np.uint32(start + offset), np.uint32(n), np.uint32(math.ceil(n / threads)),
                        hits, s.n_hits, np.uint32(capacity))
                s.kernel((s.blocks,), (BLOCK,), args)
            found = int(s.n_hits.get()[0])  # the one sync of the scan
            return found, hits[: min(found, capacity)].get()

    return launch


def scan(header: bytes, start: int, count: int, target: int, *, device: int = 0,
         tuning: rounds.Tuning = rounds.DEFAULT) -> list[int]:
    """Every nonce in [start, start+count) whose sha256d, as a little-endian integer, is <= target
    (`tuning`: another variant of the generated kernel, for benchmarks that compare them)."""
    header = ref.validate_header(header)
    ref.validate_range(start, count)
    job = tuple(np.uint32(x) for x in device_scan.job(header, target))
    device = _check_device(device)
    candidates = device_scan.collect(_launcher(device, job, tuning), start, count)
    return ref.verified_hits(header, candidates, target, start, count)


def hash_batch(messages, *, device: int = 0) -> list[bytes]:
    """SHA-256 of each message (any lengths), one message per thread; equal to hashlib's digests."""
    messages = ref.message_list(messages)
    if not messages:
        return []
    import cupy

    device = _check_device(device)
    words, offsets, counts = ref.pack_messages(messages)
    n = len(messages)
    with cupy.cuda.Device(device):
        kernel = _module().get_function("sha256_batch")
        states = cupy.empty((n, 8), dtype=cupy.uint32)
        args = (cupy.asarray(words), cupy.asarray(offsets), cupy.asarray(counts), states, np.uint32(n))
        kernel((math.ceil(n / BATCH_BLOCK),), (BATCH_BLOCK,), args)
        return ref.digests_from_states(states.get())

"""SHA-256 and the SHA-256d nonce scan in OpenCL (PyOpenCL): CPU runtimes (PoCL, Intel's) and GPU drivers.

The kernels are in sha256d.cl with the round code of sha256d_core.h. How a device scans follows from what
its compiler does (`scan_variant`):
- PoCL does not vectorise across work-items: each work-item carries 16 nonces in uint16 lanes (8 without
  AVX-512), one work-item per lane-group, few work-items per core.
- GPUs, and Intel's CPU runtime (whose compiler vectorises across work-items itself), get one nonce per
  work-item in wide work-groups: on a Sapphire Rapids VM Intel's runtime scanned 68 MH/s this way against
  55 with explicit uint16 lanes.
Programs are built once per device (kernels.runtime.opencl caches them), and every launch on a device uses the
same global and local sizes, so each kernel is compiled once.

PoCL's LLVM may not know the host CPU (this PyPI PoCL sees a Zen 4 as znver3 and emits AVX2 only). On a
host with AVX-512 the scan loop is then compiled for AVX-512 through a function attribute (-DAVX512=1):
2.0x faster on Zen 4 than PoCL's own AVX2 code (AVX-512 rotates and 3-input logic ops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kernels.runtime import Traits, cpu
from kernels.runtime import opencl as runtime
from kernels.sha256 import device_scan
from kernels.sha256 import reference as ref

TRAITS = Traits("any", kernel="OpenCL sha256d.cl", kernel_by_device={
    "cpu": "OpenCL sha256d.cl: uint16 lanes (PoCL) or one nonce per work-item (Intel)",
    "gpu": "OpenCL sha256d.cl: one nonce per work-item"})

SOURCE = "sha256d.cl"
AVX512_FLAGS = {"avx512f", "avx512vl", "avx512bw", "avx512dq"}
CPU_ITEMS_PER_UNIT = 4  # work-items (of 8 or 16 lanes) per compute unit: a few per core even out a busy machine
WIDE_ITEMS_PER_UNIT = 2048  # work-items per compute unit: enough resident warps/wavefronts to hide latency
WIDE_LOCAL = 256
BATCH_LOCAL_CPU, BATCH_LOCAL_GPU = 8, 64
LAUNCH_NONCES = 1 << 28  # nonces per kernel launch: bounded so that a display GPU's watchdog never fires


def available() -> tuple[bool, str]:
    return runtime.available()


def devices():
    return runtime.devices()


def unusable_devices():
    """Devices found that cannot build kernels here, each with why (bench backends lists them)."""
    return runtime.unusable()


@dataclass(frozen=True)
class Variant:
    """How sha256d.cl is built and launched on a device."""

    lanes: int  # nonces per work-item (explicit vector lanes for compilers that do not vectorise across items)
    wide: bool  # one nonce per work-item in wide work-groups, rotate() builtin: GPUs, Intel's CPU compiler
    avx512: bool = False  # the scan loop compiled for AVX-512 whatever CPU PoCL's LLVM assumes

    def options(self) -> str:
        flags = [f"-DLANES={self.lanes}", f"-DWIDE={int(self.wide)}", f"-DAVX512={int(self.avx512)}"]
        return " ".join(flags + device_scan.layout_defines())


def scan_variant(device: int) -> Variant:
    """The scan kernel's variant for a device (see the module docstring for why each)."""
    if not runtime.is_cpu(device) or runtime.platform_kind(device) == "intel":
        return Variant(lanes=1, wide=True)
    avx512 = AVX512_FLAGS <= set(cpu.cpu_flags())
    return Variant(lanes=16 if avx512 else 8, wide=False, avx512=avx512 and runtime.platform_kind(device) == "pocl")


def _program(device: int, variant: Variant):
    return runtime.program(device, device_scan.source(SOURCE), variant.options())


@dataclass
class _Scan:
    """One device's scan kernel, launch geometry and reusable buffers."""

    kernel: object
    lanes: int
    global_size: int
    local_size: int
    hits: object  # device buffer of device_scan.HIT_CAPACITY nonces
    n_hits: object  # device uint32 counter


@lru_cache(maxsize=None)
def _scan_for(device: int) -> _Scan:
    cl = runtime.pyopencl()
    ctx, _ = runtime.context_and_queue(device)
    dev = runtime.device(device)
    variant = scan_variant(device)
    kernel = cl.Kernel(_program(device, variant), "sha256d_scan")
    units = int(dev.max_compute_units)
    if not variant.wide:
        local_size, global_size = 1, units * CPU_ITEMS_PER_UNIT
    else:
        fits = kernel.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE, dev)
        local_size = min(WIDE_LOCAL, int(fits))
        global_size = units * WIDE_ITEMS_PER_UNIT // local_size * local_size
    mf = cl.mem_flags
    hits = cl.Buffer(ctx, mf.WRITE_ONLY, 4 * device_scan.HIT_CAPACITY)
    n_hits = cl.Buffer(ctx, mf.READ_WRITE, 4)
    return _Scan(kernel, variant.lanes, global_size, local_size, hits, n_hits)


def _launcher(device: int, job: np.ndarray):
    """launch(start, count, capacity) -> (found, hits) for device_scan.collect, for one job."""
    cl = runtime.pyopencl()
    ctx, queue = runtime.context_and_queue(device)
    s = _scan_for(device)
    job_buf = cl.Buffer(ctx, cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR, hostbuf=job)
    per_launch = s.lanes * s.global_size

    def launch(start: int, count: int, capacity: int) -> tuple[int, np.ndarray]:
        hits = s.hits if capacity <= device_scan.HIT_CAPACITY else cl.Buffer(ctx, cl.mem_flags.WRITE_ONLY, 4 * capacity)
        cl.enqueue_fill_buffer(queue, s.n_hits, np.uint32(0), 0, 4)
        for offset in range(0, count, LAUNCH_NONCES):
            n = min(LAUNCH_NONCES, count - offset)
            s.kernel(
                queue, (s.global_size,), (s.local_size,),
                job_buf, np.uint32(start + offset), np.uint32(n), np.uint32(math.ceil(n / per_launch)),
                hits, s.n_hits, np.uint32(capacity),
            )
        found = np.zeros(1, dtype=np.uint32)
        cl.enqueue_copy(queue, found, s.n_hits)  # blocking: the one sync of the scan
        out = np.zeros(min(int(found[0]), capacity), dtype=np.uint32)
        if len(out):
            cl.enqueue_copy(queue, out, hits)
        return int(found[0]), out

    return launch


def scan(header: bytes, start: int, count: int, target: int, *, device: int = 0) -> list[int]:
    """Every nonce in [start, start+count) whose sha256d, as a little-endian integer, is <= target."""
    header = ref.validate_header(header)
    ref.validate_range(start, count)
    job = device_scan.job(header, target)
    candidates = device_scan.collect(_launcher(device, job), start, count)
    return ref.verified_hits(header, candidates, target, start, count)


@lru_cache(maxsize=None)
def _batch_kernel(device: int):
    return runtime.pyopencl().Kernel(_program(device, Variant(lanes=1, wide=not runtime.is_cpu(device))), "sha256_batch")


def hash_batch(messages, *, device: int = 0) -> list[bytes]:
    """SHA-256 of each message (any lengths), one message per work-item; equal to hashlib's digests."""
    messages = ref.message_list(messages)
    if not messages:
        return []
    cl = runtime.pyopencl()
    ctx, queue = runtime.context_and_queue(device)
    kernel = _batch_kernel(device)
    words, offsets, counts = ref.pack_messages(messages)
    n = len(messages)
    mf = cl.mem_flags
    words_buf = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=words)
    offsets_buf = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=offsets)
    counts_buf = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=counts)
    states = np.empty((n, 8), dtype=np.uint32)
    states_buf = cl.Buffer(ctx, mf.WRITE_ONLY, states.nbytes)
    local = BATCH_LOCAL_CPU if runtime.is_cpu(device) else BATCH_LOCAL_GPU
    kernel(queue, (math.ceil(n / local) * local,), (local,), words_buf, offsets_buf, counts_buf, states_buf, np.uint32(n))
    cl.enqueue_copy(queue, states, states_buf)
    return ref.digests_from_states(states)

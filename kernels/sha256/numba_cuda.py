"""SHA-256 and the SHA-256d nonce scan on NVIDIA GPUs with Numba CUDA (or the CUDA simulator, for tests).

The kernels are written out by kernels/sha256/rounds.py, the generator that also writes the CUDA C the
cupy backend runs (so both run the same code; its docstring lists the techniques). Here: the job
(device_scan.job) passed as a tuple of kernel parameters, which CUDA keeps in the constant bank; rotations
as funnel shifts (`shf.r.wrap`, from a small intrinsic); candidates through an atomic counter into a
small buffer; the launch sized by the occupancy API.

Straight-line generated code, not a loop: NVVM does not fully unroll a 64-round loop, and a rolled loop
keeps the message schedule in local memory, while straight-line code on scalars keeps every word in a
register. Under NUMBA_ENABLE_CUDASIM=1 the same kernels run in Numba's simulator with a plain-Python rotate.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from types import SimpleNamespace

import numpy as np

from kernels.runtime import Traits, parse_device_index
from kernels.runtime import cuda as runtime
from kernels.runtime.events import numba_event_timer
from kernels.sha256 import device_scan as job_layout
from kernels.sha256 import reference as ref
from kernels.sha256 import rounds

TRAITS = Traits("gpu", kernel="Numba CUDA from the round generator (rounds.py): one nonce per thread, early reject",
                event_timer=numba_event_timer, cuda=True)

BLOCK = rounds.SCAN_BLOCK  # threads per block
SIM_BLOCKS, SIM_BLOCK = 2, 32  # the simulator runs one Python thread per CUDA thread: keep it small
LAUNCH_NONCES = 1 << 30  # nonces per launch: well under a second on any recent GPU
ONE = np.uint32(1)  # the scan kernel's `one` (rounds.py: adds through IMAD)
CACHE_NAME = "sha256d"  # the generated module's file under runtime.kernel_cache_dir()


def available() -> tuple[bool, str]:
    return runtime.numba_cuda_status()


def devices():
    return runtime.numba_cuda_devices()


def _ptx_intrinsics():
    """rotr(x, n) for a literal n as `shf.r.wrap.b32` (LLVM turns a shift/or rotate into `shf.l`), and
    mad(x, one, y) as `mad.lo.u32` in inline PTX, which LLVM cannot refactor (x*one + y*one -> (x+y)*one);
    mullo / mulhi(x, p), the halves of x * p, likewise."""
    from llvmlite import ir
    from numba.cuda import types
    from numba.cuda.extending import intrinsic

    i32 = ir.IntType(32)

    def word(builder, value):
        return builder.trunc(value, i32) if value.type != i32 else value

    def codegen_for(text: str, arity: int):
        def codegen(context, builder, signature, values):
            asm = ir.InlineAsm(ir.FunctionType(i32, [i32] * arity), text, "=r" + ",r" * arity)
            return builder.call(asm, [word(builder, v) for v in values])

        return codegen

    @intrinsic
    def mad(typingctx, x, one, y):
        return types.uint32(x, one, y), codegen_for("mad.lo.u32 $0, $1, $2, $3;", 3)

    @intrinsic
    def mullo(typingctx, x, p):
        return types.uint32(x, p), codegen_for("mul.lo.u32 $0, $1, $2;", 2)

    @intrinsic
    def mulhi(typingctx, x, p):
        return types.uint32(x, p), codegen_for("mul.hi.u32 $0, $1, $2;", 2)

    @intrinsic
    def rotr(typingctx, x, n):
        if not isinstance(n, types.IntegerLiteral):
            return None
        amount = n.literal_value

        def codegen(context, builder, signature, args):
            asm = ir.InlineAsm(ir.FunctionType(i32, [i32]), f"shf.r.wrap.b32 $0, $1, $1, {amount};", "=r,r")
            return builder.call(asm, [word(builder, args[0])])

        return types.uint32(x, n), codegen

    return rotr, mad, mullo, mulhi


@lru_cache(maxsize=4)
def _source(tuning: rounds.Tuning = rounds.DEFAULT) -> SimpleNamespace:
    """The generated kernels as Python functions with their signatures, not yet compiled."""
    from numba import cuda, uint32
    from numba.cuda import types

    simulated = runtime.simulator_enabled()
    if simulated:

        def rotr(x, n):
            return uint32((x >> uint32(n)) | (x << uint32(32 - n)))

        def mad(x, one, y):
            return uint32(uint32(x) * one + uint32(y))

        def mullo(x, p):
            return uint32(int(x) * int(p) & 0xFFFFFFFF)

        def mulhi(x, p):
            return uint32(int(x) * int(p) >> 32)

    else:
        rotr, mad, mullo, mulhi = _ptx_intrinsics()
    names = {"cuda": cuda, "uint32": uint32, "rotr": rotr, "mad": mad, "mullo": mullo, "mulhi": mulhi}
    cachable = False
    if simulated:
        namespace = dict(names)
        exec(compile(rounds.numba_source(tuning), "<kernels.sha256.rounds generated>", "exec"), namespace)  # noqa: S102
    else:  # a file Numba's on-disk cache can stamp (kernels/runtime/cuda.py)
        module = runtime.generated_module(CACHE_NAME, rounds.numba_source(tuning))
        vars(module).update(names)
        namespace, cachable = vars(module), module.__file__ is not None
    scan_sig = (types.UniTuple(types.uint32, job_layout.JOB_WORDS), types.uint32, types.uint32, types.uint32,
                types.uint32, types.uint32[::1], types.uint32[::1], types.uint32)
    batch_sig = (types.uint32[::1], types.int64[::1], types.int64[::1], types.uint32[:, ::1], types.uint32)
    return SimpleNamespace(scan=namespace["scan_kernel"], batch=namespace["batch_kernel"], scan_sig=scan_sig,
                           batch_sig=batch_sig, cuda=cuda, simulated=simulated, cachable=cachable)


@lru_cache(maxsize=4)
def _kernels(tuning: rounds.Tuning = rounds.DEFAULT) -> SimpleNamespace:
    """The kernels, compiled lazily for the device they first run on, or loaded from the on-disk cache."""
    src = _source(tuning)
    jit = src.cuda.jit
    cache = src.cachable
    return SimpleNamespace(scan=jit(src.scan, cache=cache), batch=jit(src.batch, cache=cache), cuda=src.cuda,
                           simulated=src.simulated, scan_sig=src.scan_sig, cachable=src.cachable)


def cache_stats() -> dict[str, dict]:
    """Per kernel: where its compiled code is cached, and the cache hits and misses of this process."""
    kern = _kernels()
    stats = {}
    for name in ("scan", "batch"):
        dispatcher = getattr(kern, name)
        if not kern.cachable:
            stats[name] = {"cache_path": None, "hits": 0, "misses": 0}
            continue
        s = dispatcher.stats
        stats[name] = {"cache_path": s.cache_path, "hits": sum(s.cache_hits.values()),
                       "misses": sum(s.cache_misses.values())}
    return stats


@lru_cache(maxsize=8)
def ptx(kernel: str = "scan", cc: tuple[int, int] = (9, 0)) -> str:
    """PTX of the scan or batch kernel for compute capability `cc`; needs no GPU (tests, inspection)."""
    src = _source()
    if src.simulated:
        raise ValueError("no PTX under NUMBA_ENABLE_CUDASIM=1; unset it to compile for a real GPU")
    if kernel not in ("scan", "batch"):
        raise ValueError(f"kernel must be 'scan' or 'batch', got {kernel!r}")
    fn, sig = (src.scan, src.scan_sig) if kernel == "scan" else (src.batch, src.batch_sig)
    return src.cuda.compile_ptx(fn, sig, cc=cc)[0]


def _check_device(device: int) -> int:
    return parse_device_index(device, devices(), "numba-cuda")


@lru_cache(maxsize=None)
def _geometry(device: int, tuning: rounds.Tuning = rounds.DEFAULT) -> tuple[int, int]:
    """(blocks, threads per block) filling the device: multiprocessors x resident blocks (occupancy)."""
    kern = _kernels(tuning)
    if kern.simulated:
        return SIM_BLOCKS, SIM_BLOCK
    cuda = kern.cuda
    with cuda.gpus[device]:
        compiled = kern.scan.compile(kern.scan_sig)
        resident = cuda.current_context().get_active_blocks_per_multiprocessor(compiled.library.get_cufunc(), BLOCK, 0)
        return cuda.get_current_device().MULTIPROCESSOR_COUNT * max(1, int(resident)), BLOCK


def scan(header: bytes, start: int, count: int, target: int, *, device: int = 0,
         tuning: rounds.Tuning = rounds.DEFAULT) -> list[int]:
    """Every nonce in [start, start+count) whose sha256d, as a little-endian integer, is <= target
    (`tuning`: another variant of the generated kernel, for benchmarks that compare them)."""
    header = ref.validate_header(header)
    ref.validate_range(start, count)
    job = tuple(np.uint32(x) for x in job_layout.job(header, target))
    device = _check_device(device)
    kern = _kernels(tuning)
    cuda = kern.cuda
    blocks, threads = _geometry(device, tuning)

    def launch(first: int, n_total: int, capacity: int) -> tuple[int, np.ndarray]:
        with cuda.gpus[device]:
            hits = cuda.device_array(capacity, dtype=np.uint32)
            n_hits = cuda.to_device(np.zeros(1, dtype=np.uint32))
            for offset in range(0, n_total, LAUNCH_NONCES):
                n = min(LAUNCH_NONCES, n_total - offset)
                per_thread = math.ceil(n / (blocks * threads))
                args = (job, ONE, np.uint32(first + offset), np.uint32(n), np.uint32(per_thread), hits, n_hits,
                        np.uint32(capacity))
                kern.scan[blocks, threads](*args)
            found = int(n_hits.copy_to_host()[0])  # the one sync of the scan
            return found, hits.copy_to_host()[: min(found, capacity)]

    with warnings.catch_warnings():
        if kern.simulated:
            warnings.simplefilter("ignore", RuntimeWarning)
        candidates = job_layout.collect(launch, start, count)
    return ref.verified_hits(header, candidates, target, start, count)


def hash_batch(messages, *, device: int = 0) -> list[bytes]:
    """SHA-256 of each message (any lengths), one message per thread; equal to hashlib's digests."""
    messages = ref.message_list(messages)
    if not messages:
        return []
    device = _check_device(device)
    kern = _kernels()
    cuda = kern.cuda
    words, offsets, counts = ref.pack_messages(messages)
    n = len(messages)
    threads = SIM_BLOCK if kern.simulated else BLOCK
    with cuda.gpus[device], warnings.catch_warnings():
        if kern.simulated:
            warnings.simplefilter("ignore", RuntimeWarning)
        states = cuda.device_array((n, 8), dtype=np.uint32)
        args = (cuda.to_device(words), cuda.to_device(offsets), cuda.to_device(counts), states, np.uint32(n))
        kern.batch[math.ceil(n / threads), threads](*args)
        return ref.digests_from_states(states.copy_to_host())

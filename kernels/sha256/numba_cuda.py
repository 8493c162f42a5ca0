"""SHA-256 and the SHA-256d nonce scan on NVIDIA GPUs with Numba CUDA (or the CUDA simulator, for tests).

Same technique as the CUDA C kernel (sha256d.cu): one nonce per thread in a grid-stride loop; the job
(midstate and nonce-independent words, kernels/sha256/device_scan.py) passed as a tuple of kernel
parameters, which CUDA keeps in constant memory; rotations as funnel shifts (`shf.r.wrap`, from a small
intrinsic); early rejection on H7 after round 60 of the second hash; candidates through an atomic counter
into a small buffer; the launch sized by the occupancy API.

The rounds are written out by a generator (`kernel_source()`): NVVM does not fully unroll a 64-round
loop, and a rolled loop keeps the message schedule in local memory, while straight-line code on scalars
keeps every word in a register. Under NUMBA_ENABLE_CUDASIM=1 the same generated kernels run in Numba's
simulator with a plain-Python rotate.
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

TRAITS = Traits("gpu", kernel="Numba CUDA: one nonce per thread, midstate and early reject",
                event_timer=numba_event_timer, cuda=True)

BLOCK = 256  # threads per block
SIM_BLOCKS, SIM_BLOCK = 2, 32  # the simulator runs one Python thread per CUDA thread: keep it small
LAUNCH_NONCES = 1 << 30  # nonces per launch: well under a second on any recent GPU
# Numba's lowering scans a basic block once per variable defined in it (quadratic in the block's
# length): the generated rounds open a new block every ROUNDS_PER_BLOCK rounds; NVVM merges them again.
ROUNDS_PER_BLOCK = 8
H0_7 = int(ref.H0[7])


def available() -> tuple[bool, str]:
    return runtime.numba_cuda_status()


def devices():
    return runtime.numba_cuda_devices()


def _bsig0(x: str) -> str:
    return f"(rotr({x}, 2) ^ rotr({x}, 13) ^ rotr({x}, 22))"


def _bsig1(x: str) -> str:
    return f"(rotr({x}, 6) ^ rotr({x}, 11) ^ rotr({x}, 25))"


def _ssig0(x: str) -> str:
    return f"(rotr({x}, 7) ^ rotr({x}, 18) ^ ({x} >> uint32(3)))"


def _ssig1(x: str) -> str:
    return f"(rotr({x}, 17) ^ rotr({x}, 19) ^ ({x} >> uint32(10)))"


class _Hash:
    """Names of one compression's values, in single-assignment form (each defined once, as Numba likes).

    Round t reads a..h = A(t), A(t-1), A(t-2), A(t-3), E(t), E(t-1), E(t-2), E(t-3) and defines A(t+1)
    and E(t+1); the schedule word t is W(t).
    """

    def __init__(self, prefix: str):
        self.prefix = prefix

    def A(self, t: int) -> str:  # noqa: N802 - SHA-256's names
        return f"{self.prefix}a{t + 3}"

    def E(self, t: int) -> str:  # noqa: N802
        return f"{self.prefix}e{t + 3}"

    def W(self, t: int) -> str:  # noqa: N802
        return f"{self.prefix}w{t}"

    def state(self, t: int) -> list[str]:
        """a..h before round t."""
        return [self.A(t), self.A(t - 1), self.A(t - 2), self.A(t - 3),
                self.E(t), self.E(t - 1), self.E(t - 2), self.E(t - 3)]

    def t1(self, t: int) -> str:
        """h + Sigma1(e) + Ch(e, f, g) + K[t] + w[t] of round t."""
        _, _, _, _, e, f, g, h = self.state(t)
        return f"{h} + {_bsig1(e)} + ({g} ^ ({e} & ({f} ^ {g}))) + uint32({int(ref.K[t]):#010x}) + {self.W(t)}"

    def rounds(self, first: int, last: int, expand_from: int) -> list[str]:
        """Straight-line rounds first..last-1; schedule words t >= expand_from made just before use."""
        lines, W = [], self.W  # noqa: N806
        for t in range(first, last):
            a, b, c, d = self.state(t)[:4]
            if (t - first) % ROUNDS_PER_BLOCK == 0:
                lines.append("for _ in range(1):  # a new basic block (ROUNDS_PER_BLOCK)")
            if t >= expand_from:
                lines.append(f"    {W(t)} = uint32({_ssig1(W(t - 2))} + {W(t - 7)} + {_ssig0(W(t - 15))} + {W(t - 16)})")
            lines.append(f"    t1_{self.prefix}{t} = uint32({self.t1(t)})")
            lines.append(f"    {self.E(t + 1)} = uint32({d} + t1_{self.prefix}{t})")
            lines.append(f"    {self.A(t + 1)} = uint32(t1_{self.prefix}{t} + {_bsig0(a)} + (({a} & {b}) | ({c} & ({a} | {b}))))")
        return lines


def _bswap(x: str) -> str:
    return f"uint32(({x} << 24) | (({x} & 0xFF00) << 8) | (({x} >> 8) & 0xFF00) | ({x} >> 24))"


def _indent(lines: list[str], depth: int) -> str:
    return "\n".join("    " * depth + line for line in lines)


def _last_word_lines() -> list[str]:
    """h7 = H7 of sha256d(header with nonce word w3): rounds 4..63 of the first hash, 0..60 of the second."""
    d = job_layout
    one, two = _Hash("p"), _Hash("q")
    w = one.W
    lines = [f"{w(i)} = job[{d.TAIL + i}]" for i in range(3)] + [f"{w(3)} = w3", f"{w(4)} = uint32(0x80000000)"]
    lines += [f"{w(i)} = uint32(0)" for i in range(5, 15)] + [f"{w(15)} = uint32(640)"]
    lines += [f"{w(16)} = job[{d.W16}]", f"{w(17)} = job[{d.W17}]",
              f"{w(18)} = uint32(job[{d.W18_PART}] + {_ssig0('w3')})", f"{w(19)} = uint32(job[{d.W19_PART}] + w3)"]
    start = [f"uint32(job[{d.A4_PART}] + w3)", *(f"job[{d.STATE3 + i}]" for i in range(3)),
             f"uint32(job[{d.E4_PART}] + w3)", *(f"job[{d.STATE3 + i}]" for i in range(3, 6))]
    lines += [f"{v} = {x}" for v, x in zip(one.state(4), start)] + one.rounds(4, 64, 20)
    w = two.W
    lines += [f"{w(i)} = uint32({v} + job[{d.MID + i}])" for i, v in enumerate(one.state(64))]
    lines += [f"{w(8)} = uint32(0x80000000)"] + [f"{w(i)} = uint32(0)" for i in range(9, 15)]
    lines += [f"{w(15)} = uint32(256)"] + [f"{v} = uint32({int(x):#010x})" for v, x in zip(two.state(0), ref.H0)]
    lines += two.rounds(0, 60, 16)
    lines += [f"{w(60)} = uint32({_ssig1(w(58))} + {w(53)} + {_ssig0(w(45))} + {w(44)})",
              f"h7 = uint32({H0_7:#010x} + {two.state(60)[3]} + {two.t1(60)})  # H0[7] + e after round 60"]
    return lines


def _block_lines() -> list[str]:
    """s0..s7 absorb the block words[base:base+16]."""
    blk = _Hash("b")
    lines = [f"{blk.W(t)} = words[base + {t}]" for t in range(16)]
    lines += [f"{v} = s{i}" for i, v in enumerate(blk.state(0))] + blk.rounds(0, 64, 16)
    return lines + [f"s{i} = uint32(s{i} + {v})" for i, v in enumerate(blk.state(64))]


def kernel_source() -> str:
    """Python source of the two kernels, every round written out (see the module docstring)."""
    h0 = ", ".join(f"uint32({int(x):#010x})" for x in ref.H0)
    states = "\n".join(f"    states[i, {k}] = s{k}" for k in range(8))
    return f"""\
def scan_kernel(job, start, count, per_thread, hits, n_hits, capacity):
    # Nonces start + offset for offset < count: thread g takes offsets g + i * gridsize, i < per_thread.
    stride = cuda.gridsize(1)
    offset = cuda.grid(1)
    target_hi = job[{job_layout.TARGET_HI}]
    for _ in range(per_thread):
        if offset >= count:
            return
        nonce = uint32(start + offset)
        w3 = {_bswap("nonce")}
{_indent(_last_word_lines(), 2)}
        if {_bswap("h7")} <= target_hi:
            slot = cuda.atomic.add(n_hits, 0, uint32(1))
            if slot < capacity:
                hits[slot] = nonce
        offset += stride


def batch_kernel(words, offsets, counts, states, n):
    # Message i = blocks offsets[i] .. offsets[i]+counts[i]-1 of `words`; its final state -> states[i].
    i = cuda.grid(1)
    if i >= n:
        return
    s0, s1, s2, s3, s4, s5, s6, s7 = {h0}
    for block in range(offsets[i], offsets[i] + counts[i]):
        base = block * 16
{_indent(_block_lines(), 2)}
{states}
"""


def _funnel_rotr():
    """rotr(x, n) for a literal n as `shf.r.wrap.b32`: LLVM turns a shift/or rotate into `shf.l`."""
    from llvmlite import ir
    from numba.cuda import types
    from numba.cuda.extending import intrinsic

    @intrinsic
    def rotr(typingctx, x, n):
        if not isinstance(n, types.IntegerLiteral):
            return None
        amount = n.literal_value

        def codegen(context, builder, signature, args):
            i32 = ir.IntType(32)
            value = builder.trunc(args[0], i32) if args[0].type != i32 else args[0]
            asm = ir.InlineAsm(ir.FunctionType(i32, [i32]), f"shf.r.wrap.b32 $0, $1, $1, {amount};", "=r,r")
            return builder.call(asm, [value])

        return types.uint32(x, n), codegen

    return rotr


@lru_cache(maxsize=1)
def _source() -> SimpleNamespace:
    """The generated kernels as Python functions with their signatures, not yet compiled."""
    from numba import cuda, uint32
    from numba.cuda import types

    simulated = runtime.simulator_enabled()
    if simulated:

        def rotr(x, n):
            return uint32((x >> uint32(n)) | (x << uint32(32 - n)))

    else:
        rotr = _funnel_rotr()
    namespace = {"cuda": cuda, "uint32": uint32, "rotr": rotr}
    exec(compile(kernel_source(), "<kernels.sha256.numba_cuda generated>", "exec"), namespace)  # noqa: S102
    scan_sig = (types.UniTuple(types.uint32, job_layout.JOB_WORDS), types.uint32, types.uint32, types.uint32,
                types.uint32[::1], types.uint32[::1], types.uint32)
    batch_sig = (types.uint32[::1], types.int64[::1], types.int64[::1], types.uint32[:, ::1], types.uint32)
    return SimpleNamespace(scan=namespace["scan_kernel"], batch=namespace["batch_kernel"], scan_sig=scan_sig,
                           batch_sig=batch_sig, cuda=cuda, simulated=simulated)


@lru_cache(maxsize=1)
def _kernels() -> SimpleNamespace:
    """The kernels compiled once per process (lazily, for the device they first run on)."""
    src = _source()
    jit = src.cuda.jit
    return SimpleNamespace(scan=jit(src.scan), batch=jit(src.batch), cuda=src.cuda, simulated=src.simulated,
                           scan_sig=src.scan_sig)


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
def _geometry(device: int) -> tuple[int, int]:
    """(blocks, threads per block) filling the device: multiprocessors x resident blocks (occupancy)."""
    kern = _kernels()
    if kern.simulated:
        return SIM_BLOCKS, SIM_BLOCK
    cuda = kern.cuda
    with cuda.gpus[device]:
        compiled = kern.scan.compile(kern.scan_sig)
        resident = cuda.current_context().get_active_blocks_per_multiprocessor(compiled.library.get_cufunc(), BLOCK, 0)
        return cuda.get_current_device().MULTIPROCESSOR_COUNT * max(1, int(resident)), BLOCK


def scan(header: bytes, start: int, count: int, target: int, *, device: int = 0) -> list[int]:
    """Every nonce in [start, start+count) whose sha256d, as a little-endian integer, is <= target."""
    header = ref.validate_header(header)
    ref.validate_range(start, count)
    job = tuple(np.uint32(x) for x in job_layout.job(header, target))
    device = _check_device(device)
    kern = _kernels()
    cuda = kern.cuda
    blocks, threads = _geometry(device)

    def launch(first: int, n_total: int, capacity: int) -> tuple[int, np.ndarray]:
        with cuda.gpus[device]:
            hits = cuda.device_array(capacity, dtype=np.uint32)
            n_hits = cuda.to_device(np.zeros(1, dtype=np.uint32))
            for offset in range(0, n_total, LAUNCH_NONCES):
                n = min(LAUNCH_NONCES, n_total - offset)
                per_thread = math.ceil(n / (blocks * threads))
                args = (job, np.uint32(first + offset), np.uint32(n), np.uint32(per_thread), hits, n_hits,
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

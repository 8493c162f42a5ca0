"""Run the generated CUDA C (kernels/sha256/rounds.py, what CuPy compiles) on the CPU, without a GPU.

The kernels use only 32-bit integer C plus a few CUDA names; a prelude defines those for a host C++
compiler (`__funnelshift_r`, `__byte_perm` for the byte swap, `atomicAdd`, the thread and block indices,
the qualifiers) and `extern "C"` drivers launch the kernels on a one-dimensional grid, one thread after
another. What this checks is the generated round code and the kernels' parameter order; the inline PTX
`mad` falls back to plain C off the device, and the GPU's own instructions are checked by NVRTC and the
SASS tests.
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from kernels.sha256 import device_scan

PRELUDE = """\
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
struct Dim3 { unsigned x; };
static Dim3 blockIdx, threadIdx, gridDim, blockDim;
static inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned n)
{
    n &= 31;
    return n ? (lo >> n) | (hi << (32 - n)) : lo;
}
static inline unsigned __byte_perm(unsigned x, unsigned, unsigned selector)
{
    return selector == 0x0123u ? __builtin_bswap32(x) : 0xdeadbeefu; /* the kernels only swap bytes */
}
static inline unsigned atomicAdd(unsigned *p, unsigned v)
{
    const unsigned old = *p;
    *p += v;
    return old;
}
"""

JOB_ARGS = ", ".join(f"job[{i}]" for i in range(device_scan.JOB_WORDS))
DRIVERS = f"""
static void launch_1d(unsigned blocks, unsigned threads, unsigned i)
{{
    gridDim.x = blocks; blockDim.x = threads; blockIdx.x = i / threads; threadIdx.x = i % threads;
}}

extern "C" void run_scan(const unsigned *job, unsigned blocks, unsigned threads, unsigned start, unsigned count,
                         unsigned per_thread, unsigned *hits, unsigned *n_hits, unsigned capacity)
{{
    for (unsigned i = 0; i < blocks * threads; i++) {{
        launch_1d(blocks, threads, i);
        sha256d_scan({JOB_ARGS}, 1u, start, count, per_thread, hits, n_hits, capacity);
    }}
}}

extern "C" void run_batch(const unsigned *words, const long long *offsets, const long long *counts,
                          unsigned *states, unsigned n)
{{
    for (unsigned i = 0; i < n; i++) {{
        launch_1d(n, 1, i);
        sha256_batch(words, offsets, counts, states, n);
    }}
}}
"""


def definition(source: str, name: str) -> str:
    """The text of the definition of function or struct `name` in CUDA C `source` (its template line
    included; a one-line body or one ending in a "}" at the line's start), to build it on the host."""
    head = rf"^(?:template <[^\n]*>\n)?(?:__device__[^\n]*\b{name}\(|struct (?:alignas\(\d+\) )?{name} \{{)"
    found = re.search(head + r"(?:[^\n]*}\n|.*?\n};?\n)", source, re.M | re.S)
    assert found, f"the source defines no {name}"
    return found.group(0)


def constants(source: str) -> str:
    """The `constexpr int` lines of `source`, as written there."""
    return "\n".join(re.findall(r"^constexpr int [^;]+;", source, re.M)) + "\n"


def compiler() -> str | None:
    return shutil.which("g++") or shutil.which("clang++")


def shared_library(code: str, folder: Path, name: str = "kernels", flags: tuple[str, ...] = ()) -> ctypes.CDLL:
    """C++ `code` built by the host compiler (with `flags`) into `folder`/`name`.so and loaded (RuntimeError:
    its errors)."""
    src, lib = folder / f"{name}.cpp", folder / f"{name}.so"
    src.write_text(code, encoding="utf-8")
    build = subprocess.run([compiler(), "-O1", "-shared", "-fPIC", *flags, "-o", str(lib), str(src)],
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        raise RuntimeError(build.stderr[-3000:])
    return ctypes.CDLL(str(lib))


class HostKernels:
    """The CUDA C `source` built into a shared library in `folder`, its kernels callable from Python."""

    def __init__(self, source: str, folder: Path):
        self.lib = shared_library(PRELUDE + source + DRIVERS, folder)

    def scan(self, job: np.ndarray, start: int, count: int, *, blocks: int = 2, threads: int = 4,
             capacity: int = 64) -> tuple[int, list[int]]:
        """(hit counter, candidates kept) of one launch over [start, start+count)."""
        job = np.ascontiguousarray(job, dtype=np.uint32)
        hits = np.zeros(capacity, dtype=np.uint32)
        n_hits = np.zeros(1, dtype=np.uint32)
        per_thread = -(-count // (blocks * threads))
        u32, ptr = ctypes.c_uint32, np.ctypeslib.as_ctypes
        self.lib.run_scan(ptr(job), u32(blocks), u32(threads), u32(start), u32(count), u32(per_thread), ptr(hits),
                          ptr(n_hits), u32(capacity))
        found = int(n_hits[0])
        return found, sorted(int(h) for h in hits[: min(found, capacity)])

    def batch(self, words: np.ndarray, offsets: np.ndarray, counts: np.ndarray) -> np.ndarray:
        n = len(offsets)
        states = np.zeros((n, 8), dtype=np.uint32)
        ptr = np.ctypeslib.as_ctypes
        self.lib.run_batch(ptr(np.ascontiguousarray(words, dtype=np.uint32)),
                           ptr(np.ascontiguousarray(offsets, dtype=np.int64)),
                           ptr(np.ascontiguousarray(counts, dtype=np.int64)), ptr(states), ctypes.c_uint32(n))
        return states

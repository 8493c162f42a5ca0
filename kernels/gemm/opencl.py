"""fp32 GEMM in OpenCL (PyOpenCL): float16-vector tiles on CPU devices, local-memory tiles on GPUs.

The kernels are in gemm.cl. Operands are uploaded into zero-padded buffers (rows to a multiple of the
kernel's tile height, columns to a multiple of its tile width), so the kernels need no edge code in M
or N; the padding is written during the upload that happens anyway. On CPU devices B is also packed
into K-major panels on the device, once per DeviceMatrix (a resident weight is packed on first use).
`to_device` returns a `DeviceMatrix` that stays on the device; `matmul` with one returns another,
and `to_host` reads it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kernels.gemm import shapes, verify
from kernels.runtime import Traits, cpu, parse_device_index
from kernels.runtime import opencl as runtime

TRAITS = Traits("any", kernel="OpenCL kernel (gemm.cl)", resident_operands=True, run_dtypes=("fp32",),
                kernel_by_device={"cpu": "OpenCL float16-vector kernel (gemm.cl)",
                                  "gpu": "OpenCL local-memory tiled kernel (gemm.cl)"})

SOURCE = Path(__file__).with_name("gemm.cl")
AVX512_FLAGS = {"avx512f", "avx512vl", "avx512bw", "avx512dq"}
DTYPES = ("fp32",)
# LLVM CPU names with AVX-512 (PoCL names the CPU it compiles for in the device version, "HSTR: ...").
AVX512_CPUS = ("avx512", "cascadelake", "cooperlake", "icelake", "tigerlake", "rocketlake", "cannonlake",
               "sapphirerapids", "emeraldrapids", "graniterapids", "znver4", "znver5", "knl", "knm")


@dataclass(frozen=True)
class Layout:
    """Which kernel runs, the C tile of one work-group (= the padding of rows and columns), its options."""

    variant: str  # "cpu" | "gpu"
    rows: int
    cols: int
    local: tuple[int, int]  # work-group size (along N, along M)
    options: str


def _cpu_tile(device: int) -> tuple[int, int]:
    """(rows, float16 vectors per row) of the CPU tile: 8x32 with AVX-512, 6x16 with AVX2's 16 registers.

    PoCL compiles for the CPU its LLVM names in the device version ("HSTR: ...-znver3"), which may lack the
    host's AVX-512; other CPU runtimes (Intel's) compile for the host itself, so its flags decide. On a
    Sapphire Rapids VM Intel's runtime ran 2048^3 at 186 GFLOP/s with 8x32 tiles and 129 with 6x16.
    """
    if runtime.platform_kind(device) == "pocl":
        avx512 = any(name in runtime.device(device).version.lower() for name in AVX512_CPUS)
    else:
        avx512 = AVX512_FLAGS <= set(cpu.cpu_flags())
    return (8, 2) if avx512 else (6, 1)


def layout(device: int = 0, variant: str | None = None) -> Layout:
    """The device's own layout: 'cpu' on CPU devices, 'gpu' elsewhere (`variant` forces one, for tests)."""
    variant = variant or ("cpu" if runtime.is_cpu(device) else "gpu")
    if variant == "cpu":
        rows, vecs = _cpu_tile(device)
        return Layout("cpu", rows, 16 * vecs, (1, 1), f"-DCPU_ROWS={rows} -DCPU_VECS={vecs}")
    if variant == "gpu":
        return Layout("gpu", 64, 64, (16, 16), "")
    raise ValueError(f"unknown OpenCL GEMM variant {variant!r}; choose cpu or gpu")


@dataclass
class DeviceMatrix:
    """A row-major fp32 matrix in a zero-padded device buffer (plus its packed panels once used as B)."""

    buffer: object  # pyopencl.Buffer of padded_rows x ld floats
    rows: int
    cols: int
    padded_rows: int
    ld: int  # padded row length
    device: int
    layout: Layout
    panels: object = None  # CPU layout: B packed K-major in panels of `layout.cols`, made on first use

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols


def available() -> tuple[bool, str]:
    return runtime.available()


def devices():
    return runtime.devices()


def unusable_devices():
    """Devices found that cannot build kernels here, each with why (bench backends lists them)."""
    return runtime.unusable()


def dtypes(device: int = 0) -> tuple[str, ...]:
    parse_device_index(device, devices(), "opencl")
    return DTYPES


@lru_cache(maxsize=None)
def _kernel(device: int, lay: Layout, name: str):
    program = runtime.program(device, SOURCE.read_text(encoding="utf-8"), f"-cl-mad-enable {lay.options}".strip())
    return getattr(program, name)


def _round_up(x: int, to: int) -> int:
    return -(-x // to) * to


def _check(dtype: str, device: int) -> None:
    verify.check_dtype(dtype, dtypes(device), f"opencl:{device}")


def _buffer(nbytes: int, device: int, host=None):
    cl = runtime.pyopencl()
    ctx, _ = runtime.context_and_queue(device)
    if host is None:
        return cl.Buffer(ctx, cl.mem_flags.READ_WRITE, nbytes)
    return cl.Buffer(ctx, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=host)


def to_device(x, *, dtype: str = "fp32", device: int = 0, variant: str | None = None) -> DeviceMatrix:
    """Upload a host matrix into a zero-padded buffer laid out for the device's kernel."""
    if isinstance(x, DeviceMatrix):
        return x
    _check(dtype, device)
    host = verify.host_array(x, dtype, "operand")
    lay = layout(device, variant)
    rows, cols = host.shape
    padded_rows, ld = _round_up(rows, lay.rows), _round_up(cols, lay.cols)
    if (padded_rows, ld) != (rows, cols):
        padded = np.zeros((padded_rows, ld), np.float32)
        padded[:rows, :cols] = host
        host = padded
    return DeviceMatrix(_buffer(host.nbytes, device, host), rows, cols, padded_rows, ld, device, lay)


def to_host(x) -> np.ndarray:
    if not isinstance(x, DeviceMatrix):
        return np.asarray(x)
    cl = runtime.pyopencl()
    _, queue = runtime.context_and_queue(x.device)
    out = np.empty((x.padded_rows, x.ld), np.float32)
    cl.enqueue_copy(queue, out, x.buffer)
    return out[: x.rows, : x.cols].copy() if out.shape != x.shape else out


def synchronize(device: int = 0) -> None:
    runtime.context_and_queue(device)[1].finish()


def _empty(rows: int, cols: int, device: int, lay: Layout) -> DeviceMatrix:
    padded_rows, ld = _round_up(rows, lay.rows), _round_up(cols, lay.cols)
    return DeviceMatrix(_buffer(4 * padded_rows * ld, device), rows, cols, padded_rows, ld, device, lay)


def _panels(b: DeviceMatrix):
    """B packed into K-major panels for the CPU kernel, made once per DeviceMatrix on the device."""
    if b.panels is None:
        _, queue = runtime.context_and_queue(b.device)
        b.panels = _buffer(4 * b.rows * b.ld, b.device)
        pack = _kernel(b.device, b.layout, "pack_panels")
        pack(queue, (b.ld // b.layout.cols, b.rows), None, np.int32(b.rows), b.buffer, np.int32(b.ld), b.panels)
    return b.panels


def launch(a: DeviceMatrix, b: DeviceMatrix, c: DeviceMatrix):
    """Enqueue C = A @ B on device matrices of one layout; returns the pyopencl event."""
    lay, i32 = c.layout, np.int32
    _, queue = runtime.context_and_queue(c.device)
    groups = (c.ld // lay.cols, c.padded_rows // lay.rows)
    global_size = (groups[0] * lay.local[0], groups[1] * lay.local[1])
    if lay.variant == "cpu":
        kernel = _kernel(c.device, lay, "gemm_cpu")
        return kernel(queue, global_size, lay.local, i32(a.cols), a.buffer, i32(a.ld), _panels(b), c.buffer, i32(c.ld))
    kernel = _kernel(c.device, lay, "gemm_gpu")
    return kernel(queue, global_size, lay.local, i32(a.cols), a.buffer, i32(a.ld), b.buffer, i32(b.ld), c.buffer, i32(c.ld))


def matmul(a, b, *, dtype: str = "fp32", device: int = 0, variant: str | None = None):
    """C = A @ B; numpy in -> numpy out, a DeviceMatrix in -> a DeviceMatrix out (left on the device)."""
    _check(dtype, device)
    resident = isinstance(a, DeviceMatrix) or isinstance(b, DeviceMatrix)
    for x in (a, b):
        if isinstance(x, DeviceMatrix) and x.device != device:
            raise ValueError(f"operand is on opencl:{x.device}, not opencl:{device}; to_device it there")
    lay = next((x.layout for x in (a, b) if isinstance(x, DeviceMatrix)), None) or layout(device, variant)
    a_dev = to_device(a, dtype=dtype, device=device, variant=lay.variant)
    b_dev = to_device(b, dtype=dtype, device=device, variant=lay.variant)
    if a_dev.layout != b_dev.layout:
        raise ValueError(f"A is laid out for the {a_dev.layout.variant} kernel, B for the {b_dev.layout.variant} kernel")
    m, n, _ = shapes.check_operands(a_dev.shape, b_dev.shape)
    c = _empty(m, n, device, lay)
    launch(a_dev, b_dev, c)
    return c if resident else to_host(c)

"""GEMM through CuPy: cuBLAS (the GPU vendor baseline) with explicit compute types, and own tensor-core
RawKernels (bf16/fp16 in, fp32 accumulate): WMMA (gemm_wmma.cu, sm_80+) and wgmma (gemm_wgmma.cu, Hopper).

`matmul(..., kernel="cublas")` (the default) calls cublasGemmEx with the data and compute types named
below, so fp32 never silently runs as TF32 and fp16/bf16 always accumulate in fp32:

    dtype  A/B/C storage   compute type
    fp32   float32         CUBLAS_COMPUTE_32F            (FFMA, no tensor cores)
    tf32   float32         CUBLAS_COMPUTE_32F_FAST_TF32  (inputs rounded to TF32 on tensor cores)
    fp16   float16         CUBLAS_COMPUTE_32F
    bf16   bfloat16        CUBLAS_COMPUTE_32F

The own kernels (fp16, bf16), by `kernel=`:
    "wmma"       WMMA 16x16x16 on 128 x 128 tiles, a 3-stage cp.async pipeline (sm_80 and newer);
    "wmma-wide"  the same on 128 x 256 tiles with 4 stages (compile-checked; not yet measured on a GPU);
    "wgmma"      Hopper's warpgroup MMA, m64n256k16 from 128-byte-swizzled shared memory, 128 x 256 tiles,
                 4 stages filled by cp.async (sm_90a only; compile- and layout-checked, not yet run on a GPU);
    "wgmma-tma"  the same tiles and MMAs, the stages filled by TMA from a producer warpgroup through
                 mbarriers (tensor maps: kernels/gemm/tensor_map.py; not yet run on a GPU);
    "wgmma-tma-persistent"  the TMA kernel with one block per SM computing tiles in turn, its pipeline
                 running on across tiles (not yet run on a GPU; measured beside the others, not chosen);
    "wgmma-tma-cluster"  the TMA kernel in clusters of two blocks, tiles one above the other, that share
                 B's slices by multicast TMA (a third less L2 traffic; likewise not yet run, not chosen);
    "wgmma-tma-cluster-persistent"  both: one cluster per two SMs computing cluster tiles in turn
                 (likewise);
    "own"        what the harness runs as this backend's own kernel: on a compute capability 9.0 GPU the
                 first of OWN_HOPPER_ORDER that passes a self-check there (a small GEMM with ragged edges
                 against NumPy, run first in a child process: `trial`), else WMMA; `own_kernel_text` names
                 which one ran, and why any was passed over.
Row-major C = A @ B is computed as the column-major C^T = B^T A^T by cuBLAS, so no operand is transposed.
CuPy has no bfloat16 dtype: bf16 matrices are held as their uint16 bit patterns and rounded to nearest-even
from float32 on the host. Matrices of 16-bit types get rows padded with zeros to a multiple of 8 elements
(16 bytes), which the own kernels' copies need. cupy is optional: it is imported inside functions.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kernels.gemm import layout_probe, shapes, tensor_map, verify
from kernels.runtime import Traits, cublas_capture, first_line, parse_device_index
from kernels.runtime import cuda as runtime
from kernels.runtime import isolated, occupancy, trials
from kernels.runtime.events import cupy_event_timer

TRAITS = Traits("gpu", kernel="own tensor-core RawKernel, fp32 accumulate: wgmma (gemm_wgmma.cu) on Hopper, "
                "else WMMA (gemm_wmma.cu)", event_timer=cupy_event_timer, cuda=True, resident_operands=True,
                own_kernel="own",
                reference_for="gpu", reference_name="cublas", reference_kernel="cublas")

SOURCE = Path(__file__).with_name("gemm_wmma.cu")
WGMMA_SOURCE = Path(__file__).with_name("gemm_wgmma.cu")
KERNELS = ("cublas", "own", "wmma", "wmma-wide", "wgmma", "wgmma-tma", "wgmma-tma-persistent", "wgmma-tma-cluster",
           "wgmma-tma-cluster-persistent")
WMMA_DTYPES = ("fp16", "bf16")


@dataclass(frozen=True)
class WmmaTile:
    """One own tensor-core kernel: its functions per dtype, launch shape, shared memory and target."""

    functions: dict
    block: tuple[int, int, int]  # C tile rows, columns, threads per block (the .cu file's BM, BN, THREADS)
    smem_name: str  # the SMEM_... line of the .cu file that states its dynamic shared memory
    source: Path = SOURCE
    capabilities: tuple[int, int] = (80, 10**4)  # compute capabilities it runs on (lowest, highest)
    arch_options: tuple[str, ...] = ()  # NVRTC options naming the target, before the -arch CuPy appends
    linear_grid: bool = False  # one block index over all tiles (the kernel orders the tiles itself)
    tma_box_k: int = 0  # > 0: the kernel takes TMA tensor maps of A and B, copying K this many at a time
    persistent: bool = False  # one block per SM at most, each computing tiles in turn (with linear_grid)
    cluster_m: int = 1  # blocks per cluster (the kernel's __cluster_dims__), tiles one above the other

    def runs_on(self, capability: int) -> bool:
        return self.capabilities[0] <= capability <= self.capabilities[1]


# wgmma and the other sm_90a instructions exist on compute capability 9.0 alone. NVRTC compiles for the
# first -arch it is given, so "-arch=sm_90a" ahead of CuPy's own "-arch=sm_90" selects the 'a' target
# (tests/test_gemm_wgmma.py compiles it exactly so and finds HGMMA in the SASS).
HOPPER = {"source": WGMMA_SOURCE, "capabilities": (90, 90), "arch_options": ("-arch=sm_90a",), "linear_grid": True}


def _tma_tile(variant: str = "", **traits) -> WmmaTile:
    """A TMA kernel of gemm_wgmma.cu, gemm_wgmma_tma<variant>_f16 / _bf16: 128 x 256 tiles, 384 threads."""
    return WmmaTile({"fp16": f"gemm_wgmma_tma{variant}_f16", "bf16": f"gemm_wgmma_tma{variant}_bf16"},
                    (128, 256, 384), "SMEM_BYTES_WGMMA_TMA", tma_box_k=64, **HOPPER, **traits)


WMMA_TILES = {
    "wmma": WmmaTile({"fp16": "gemm_wmma_f16", "bf16": "gemm_wmma_bf16"}, (128, 128, 256), "SMEM_BYTES"),
    "wmma-wide": WmmaTile({"fp16": "gemm_wmma_wide_f16", "bf16": "gemm_wmma_wide_bf16"}, (128, 256, 256),
                          "SMEM_BYTES_WIDE"),
    "wgmma": WmmaTile({"fp16": "gemm_wgmma_f16", "bf16": "gemm_wgmma_bf16"}, (128, 256, 256), "SMEM_BYTES_WGMMA",
                      **HOPPER),
    "wgmma-tma": _tma_tile(),
    "wgmma-tma-persistent": _tma_tile("_persistent", persistent=True),
    "wgmma-tma-cluster": _tma_tile("_cluster", cluster_m=2),
    "wgmma-tma-cluster-persistent": _tma_tile("_cluster_persistent", persistent=True, cluster_m=2),
}
TMA_BOX_N = 64  # columns of B per TMA copy: one 128-byte swizzle row (four copies make a 256-column slice)
WMMA_FUNCTIONS = WMMA_TILES["wmma"].functions
WMMA_BLOCK = WMMA_TILES["wmma"].block

# cudaDataType (library_types.h) and cublasComputeType_t (cublas_api.h) values.
CUDA_R_32F, CUDA_R_16F, CUDA_R_16BF = 0, 2, 14
CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32 = 68, 77
CUBLAS_OP_N, CUBLAS_GEMM_DEFAULT = 0, -1
CUBLAS_TYPES = {  # dtype -> (data type of A, B and C, compute type)
    "fp32": (CUDA_R_32F, CUBLAS_COMPUTE_32F),
    "tf32": (CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32),
    "fp16": (CUDA_R_16F, CUBLAS_COMPUTE_32F),
    "bf16": (CUDA_R_16BF, CUBLAS_COMPUTE_32F),
}
STORAGE = {"fp32": np.float32, "tf32": np.float32, "fp16": np.float16, "bf16": np.uint16}
ROW_ALIGN = {"fp32": 1, "tf32": 1, "fp16": 8, "bf16": 8}  # elements per padded row multiple


@dataclass
class CupyMatrix:
    """A row-major matrix on a GPU: `data` is rows x ld of the dtype's storage, columns cols..ld-1 zero."""

    data: object  # cupy.ndarray
    rows: int
    cols: int
    dtype: str
    device: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.cols

    @property
    def ld(self) -> int:
        return int(self.data.shape[1])


def _cupy():
    import cupy

    return cupy


def _cupy_version() -> str:
    return str(_cupy().__version__)


def reference_kernel_text(dtype: str) -> str:
    """What runs as the GPU baseline in this dtype, for the report."""
    data, compute = CUBLAS_TYPES[dtype]
    return f"cublasGemmEx data type {data}, compute type {compute}"


def available() -> tuple[bool, str]:
    """CuPy with a GPU, and cuBLAS: `matmul`'s default kernel and the inference decoder need it."""
    return runtime.cublas_status()


def devices():
    return runtime.cupy_devices()


def _capability(device: int) -> int:
    found = devices()
    parse_device_index(device, found, "cupy")
    return int(found[device].compute.removeprefix("sm_"))


@lru_cache(maxsize=None)
def shared_bytes_per_block(device: int) -> int | None:
    """The most dynamic shared memory one block may opt in to on this GPU (227 KiB on sm_90 and sm_100,
    163 KiB on sm_80, 99 KiB on the sm_86 / sm_89 / sm_120 cards); None where CuPy cannot say."""
    try:
        return int(_cupy().cuda.Device(device).attributes["MaxSharedMemoryPerBlockOptin"])
    except Exception:  # noqa: BLE001 - no CuPy, or a CuPy without the attribute: the launch will tell
        return None


def kernel_problem(device: int, kernel: str) -> str | None:
    """Why own kernel `kernel` (one of WMMA_TILES) cannot run on this GPU, or None: its target (WMMA from
    sm_80, wgmma on sm_90 alone) or its shared memory (wmma-wide's 4 stages exceed a 99 KiB card's)."""
    tile, cc = WMMA_TILES[kernel], _capability(device)
    if not tile.runs_on(cc):
        low, high = (f"sm_{c}" for c in tile.capabilities)
        where = f"on {low} alone" if low == high else f"from {low}"
        return f"{kernel} runs {where}; this GPU is sm_{cc}"
    need, allowed = wmma_shared_bytes(kernel), shared_bytes_per_block(device)
    if allowed is not None and need > allowed:
        return f"{kernel} needs {need} bytes of shared memory per block; this GPU (sm_{cc}) allows {allowed}"
    return None


def dtypes(device: int = 0, kernel: str = "cublas") -> tuple[str, ...]:
    """cuBLAS: fp32 everywhere, fp16 from sm_53, tf32 and bf16 from sm_80; the own kernels fp16 and bf16
    where they run (`kernel_problem`)."""
    cc = _capability(device)
    if kernel == "own":
        kernel = "wmma"  # wgmma where it runs, else WMMA: the same dtypes
    if kernel in WMMA_TILES:
        return WMMA_DTYPES if kernel_problem(device, kernel) is None else ()
    if kernel != "cublas":
        raise ValueError(f"unknown cupy GEMM kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    return tuple(d for d, need in (("fp32", 0), ("tf32", 80), ("fp16", 53), ("bf16", 80)) if cc >= need)


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounded to nearest, ties to even."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) >> 16).astype(np.uint16)


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _padded_host(host: np.ndarray, dtype: str) -> np.ndarray:
    """Host array in the dtype's storage with rows zero-padded to its alignment."""
    stored = bf16_bits(host) if dtype == "bf16" else host.astype(STORAGE[dtype], copy=False)
    rows, cols = stored.shape
    ld = -(-cols // ROW_ALIGN[dtype]) * ROW_ALIGN[dtype]
    if ld == cols:
        return stored
    padded = np.zeros((rows, ld), stored.dtype)
    padded[:, :cols] = stored
    return padded


def to_device(x, *, dtype: str = "fp32", device: int = 0) -> CupyMatrix:
    """Upload a host matrix (float arrays are converted to the dtype's storage on the host)."""
    if isinstance(x, CupyMatrix):
        if x.dtype != dtype:
            raise ValueError(f"operand is resident as {x.dtype}; call with dtype={x.dtype!r} or to_device it again")
        return x
    verify.check_dtype(dtype, dtypes(device), f"cupy:{device}")
    host = verify.host_array(x, "fp32" if dtype == "bf16" else dtype, "operand")
    cp = _cupy()
    with cp.cuda.Device(device):
        data = cp.asarray(_padded_host(host, dtype))
    return CupyMatrix(data, host.shape[0], host.shape[1], dtype, device)


def to_host(x) -> np.ndarray:
    """A numpy array of the logical shape (bf16 comes back as float32, fp16 as float16)."""
    if not isinstance(x, CupyMatrix):
        return np.asarray(x)
    host = x.data.get()[:, : x.cols]
    return bf16_to_float32(host) if x.dtype == "bf16" else np.ascontiguousarray(host)


def synchronize(device: int = 0) -> None:
    cp = _cupy()
    with cp.cuda.Device(device):
        cp.cuda.get_current_stream().synchronize()


def _empty(rows: int, cols: int, dtype: str, device: int) -> CupyMatrix:
    cp = _cupy()
    ld = -(-cols // ROW_ALIGN[dtype]) * ROW_ALIGN[dtype]
    alloc = cp.zeros if ld != cols else cp.empty  # padding columns must read as zeros
    with cp.cuda.Device(device):
        return CupyMatrix(alloc((rows, ld), dtype=STORAGE[dtype]), rows, cols, dtype, device)


def cublas_gemm(a: CupyMatrix, b: CupyMatrix, c: CupyMatrix) -> None:
    """Enqueue cublasGemmEx for C = A @ B with the dtype's data and compute types."""
    cp = _cupy()
    from cupy.cuda import cublas

    data_type, compute_type = CUBLAS_TYPES[c.dtype]
    alpha, beta = np.ones(1, np.float32), np.zeros(1, np.float32)  # host scalars, fp32 for COMPUTE_32F*
    m, n, k = c.rows, c.cols, a.cols
    # Column-major view: C^T (n x m) = B^T (n x k) @ A^T (k x m).
    args = (CUBLAS_OP_N, CUBLAS_OP_N, n, m, k,
            alpha.ctypes.data, b.data.data.ptr, data_type, b.ld,
            a.data.data.ptr, data_type, a.ld,
            beta.ctypes.data, c.data.data.ptr, data_type, c.ld,
            compute_type, CUBLAS_GEMM_DEFAULT)
    with cp.cuda.Device(c.device):
        handle = cp.cuda.device.get_cublas_handle()
        stream = cp.cuda.get_current_stream().ptr
        if cublas_capture.enabled():  # inside a CUDA graph capture, which CuPy's bindings refuse
            cublas_capture.gemm_ex(handle, stream, *args)
        else:
            cublas.setStream(handle, stream)  # CuPy sets it only in its own calls
            cublas.gemmEx(handle, *args)


@lru_cache(maxsize=None)
def wmma_shared_bytes(kernel: str = "wmma") -> int:
    """Dynamic shared memory an own kernel needs, as stated in its .cu file (read once, not per launch)."""
    tile = WMMA_TILES[kernel]
    return int(re.search(rf"{tile.smem_name} = .* = (\d+)", tile.source.read_text(encoding="utf-8")).group(1))


WMMA_OPTIONS = ("-std=c++17",)  # NVRTC options of the RawModule (CuPy adds -arch and the CUDA include dir)
HEADERS_HINT = ("NVRTC could not find a CUDA header that gemm_wmma.cu includes (mma.h needs crt/mma.h): "
                "pip install 'cuda-toolkit[crt]==13.*' (part of pip install -e '.[cuda]'), or point CUDA_PATH "
                "at a full CUDA toolkit")


def _cuda_major(include: Path) -> int | None:
    """CUDA_VERSION's major number from include/cuda.h (13000 -> 13); None when unreadable."""
    try:
        found = re.search(r"#define\s+CUDA_VERSION\s+(\d+)", (include / "cuda.h").read_text(errors="replace"))
    except OSError:
        return None
    return int(found.group(1)) // 1000 if found else None


def toolkit_include_dirs() -> list[Path]:
    """Include folders of full CUDA toolkits here: $CUDA_HOME, $CUDA_PATH, beside nvcc, /usr/local/cuda."""
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc")
    roots += [str(Path(nvcc).resolve().parent.parent) if nvcc else None, "/usr/local/cuda"]
    seen, out = set(), []
    for root in filter(None, roots):
        include = Path(root) / "include"
        if include.is_dir() and include.resolve() not in seen:
            seen.add(include.resolve())
            out.append(include)
    return out


def wmma_options(cupy_include: Path | None, nvrtc_major: int, candidates: list[Path] | None = None) -> tuple[str, ...]:
    """NVRTC options for gemm_wmma.cu: WMMA_OPTIONS, plus -I a toolkit's include folder when CuPy's own
    (`cupy_include`, e.g. the pip CUDA wheels without nvidia-cuda-crt, as in PyTorch images) lacks
    crt/mma.h. Only a toolkit of NVRTC's major version is used, so mma.h and crt/mma.h stay one release.
    """
    if cupy_include is not None and (cupy_include / "crt" / "mma.h").is_file():
        return WMMA_OPTIONS
    for include in toolkit_include_dirs() if candidates is None else candidates:
        if (include / "crt" / "mma.h").is_file() and _cuda_major(include) == nvrtc_major:
            return (*WMMA_OPTIONS, f"-I{include}")
    return WMMA_OPTIONS  # NVRTC will name the missing header; _wmma_function adds HEADERS_HINT


@lru_cache(maxsize=1)
def _wmma_module_options() -> tuple[str, ...]:
    cp = _cupy()
    root = cp.cuda.get_cuda_path()
    try:
        major = cp.cuda.nvrtc.getVersion()[0]
    except Exception:  # an NVRTC without the query: the runtime CuPy was built for
        major = cp.cuda.runtime.runtimeGetVersion() // 1000
    return wmma_options(Path(root) / "include" if root else None, major)


@lru_cache(maxsize=None)
def _wmma_function(device: int, dtype: str, kernel: str = "wmma"):
    cp = _cupy()
    with cp.cuda.Device(device):
        tile = WMMA_TILES[kernel]
        module = cp.RawModule(code=tile.source.read_text(encoding="utf-8"),
                              options=tile.arch_options + _wmma_module_options())
        try:
            function = module.get_function(tile.functions[dtype])
        except cp.cuda.compiler.CompileException as exc:
            if "cannot open source file" in str(exc) or "could not open source file" in str(exc):
                raise RuntimeError(f"{HEADERS_HINT}; NVRTC said: {str(exc).strip().splitlines()[0]}") from exc
            raise
        function.max_dynamic_shared_size_bytes = wmma_shared_bytes(kernel)
    return function


def _kernel_args(a: CupyMatrix, b: CupyMatrix, c: CupyMatrix, tile: WmmaTile) -> tuple:
    """The launch arguments: operand pointers and leading dimensions, or for a TMA kernel the tensor maps
    of A (boxes of BK x BM) and B (boxes of TMA_BOX_N x BK) in their place."""
    i32 = np.int32
    shape = (c.data, i32(c.ld), i32(c.rows), i32(c.cols), i32(a.cols))
    if not tile.tma_box_k:
        return (a.data, i32(a.ld), b.data, i32(b.ld)) + shape
    rows, _, _ = tile.block
    a_map = tensor_map.tiled(a.data.data.ptr, a.rows, a.cols, a.ld, rows, tile.tma_box_k, a.dtype)
    b_map = tensor_map.tiled(b.data.data.ptr, b.rows, b.cols, b.ld, tile.tma_box_k, TMA_BOX_N, b.dtype)
    return (tensor_map.encode(a_map), tensor_map.encode(b_map)) + shape


def multiprocessors(device: int) -> int:
    """Streaming multiprocessors of the GPU: a persistent kernel's blocks at most."""
    return devices()[device].units


def resident_blocks(device: int, dtype: str, kernel: str) -> int:
    """Blocks of persistent `kernel` that can run at once on the GPU: one per SM (its shared memory allows
    no more), in whole clusters, as many as the driver says can be resident; where it cannot say, every SM's
    (SMs come in pairs, one GPC each, so clusters of two cover them all)."""
    tile = WMMA_TILES[kernel]
    sms = multiprocessors(device)
    if tile.cluster_m == 1:
        return sms
    clusters = resident_clusters(device, dtype, kernel) or sms // tile.cluster_m
    return min(clusters, sms // tile.cluster_m) * tile.cluster_m


@lru_cache(maxsize=None)
def resident_clusters(device: int, dtype: str, kernel: str) -> int | None:
    """Clusters of `kernel` that the driver says can run at once on the GPU, or None where it cannot say."""
    tile = WMMA_TILES[kernel]
    function = _wmma_function(device, dtype, kernel)
    with _cupy().cuda.Device(device):
        return occupancy.max_active_clusters(function.kernel.ptr, tile.cluster_m, tile.block[2],
                                             wmma_shared_bytes(kernel))


def launch_grid(kernel: str, m: int, n: int, resident: int) -> tuple[int, ...]:
    """The grid of own kernel `kernel` for an M x N product of C: blocks (x: tile columns, y: tile rows),
    or one linear block index over them; whole clusters of tile rows (a cluster's rows past M stay idle);
    for a persistent kernel, at most the `resident` blocks that can run at once, in whole clusters."""
    tile = WMMA_TILES[kernel]
    rows, cols, _ = tile.block
    clusters_m = -(-m // (rows * tile.cluster_m))
    grid = (-(-n // cols), clusters_m * tile.cluster_m)
    if tile.linear_grid:
        grid = (grid[0] * grid[1],)
    if tile.persistent:
        grid = (min(grid[0], max(resident // tile.cluster_m, 1) * tile.cluster_m),)
    return grid


def wmma_gemm(a: CupyMatrix, b: CupyMatrix, c: CupyMatrix, kernel: str = "wmma") -> None:
    """Enqueue an own tensor-core kernel (`kernel`, see WMMA_TILES) for C = A @ B (fp16 or bf16)."""
    cp = _cupy()
    tile = WMMA_TILES[kernel]
    grid = launch_grid(kernel, c.rows, c.cols, resident_blocks(c.device, c.dtype, kernel) if tile.persistent else 0)
    with cp.cuda.Device(c.device):
        _wmma_function(c.device, c.dtype, kernel)(grid, (tile.block[2],), _kernel_args(a, b, c, tile),
                                                  shared_mem=wmma_shared_bytes(kernel))


def matmul(a, b, *, dtype: str = "fp32", device: int = 0, kernel: str = "cublas"):
    """C = A @ B; host arrays in -> numpy out, a CupyMatrix in -> a CupyMatrix out (left on the GPU)."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown cupy GEMM kernel {kernel!r}; choose one of {', '.join(KERNELS)}")
    problem = kernel_problem(device, kernel) if kernel in WMMA_TILES else None
    if problem:
        raise ValueError(f"cupy:{device}: {problem}; use kernel='own' (the best own kernel that runs here) or "
                         "'cublas'")
    verify.check_dtype(dtype, dtypes(device, kernel), f"cupy:{device} ({kernel})")
    resident = isinstance(a, CupyMatrix) or isinstance(b, CupyMatrix)
    for x in (a, b):
        if isinstance(x, CupyMatrix) and x.device != device:
            raise ValueError(f"operand is on cupy:{x.device}, not cupy:{device}; to_device it there")
    a_dev = to_device(a, dtype=dtype, device=device)
    b_dev = to_device(b, dtype=dtype, device=device)
    m, n, _ = shapes.check_operands(a_dev.shape, b_dev.shape)
    c = _empty(m, n, dtype, device)
    if kernel == "own":
        kernel = own_kernel(device, dtype)
    if kernel in WMMA_TILES:
        wmma_gemm(a_dev, b_dev, c, kernel)
    else:
        cublas_gemm(a_dev, b_dev, c)
    return c if resident else to_host(c)


# --- "own": the best Hopper kernel that has proved itself on this GPU, else WMMA ------------------------

OWN_HOPPER_ORDER = ("wgmma-tma", "wgmma")  # tried in this order on compute capability 9.0
HOPPER_KERNELS = (*OWN_HOPPER_ORDER, "wgmma-tma-persistent", "wgmma-tma-cluster",  # never yet run on a GPU
                  "wgmma-tma-cluster-persistent")
SELF_CHECK_SHAPE = (300, 300, 136)  # M, N, K: three tile rows (a cluster of two half past M), two tile
                                    # columns, three K slices, all ragged
_passed_over: dict[tuple[int, str], list[tuple[str, str]]] = {}  # (device, dtype) -> [(kernel, why not)]


def self_check_shape(device: int, kernel: str) -> tuple[int, int, int]:
    """SELF_CHECK_SHAPE; for a persistent kernel with as ragged edges, but more tiles than the GPU has SMs
    (and so more cluster tiles than clusters), so that some blocks compute a second tile (their pipeline
    running on from the first)."""
    if not WMMA_TILES[kernel].persistent:
        return SELF_CHECK_SHAPE
    rows, cols, _ = WMMA_TILES[kernel].block
    side = math.isqrt(multiprocessors(device)) + 1  # whole tiles a side: side^2 > SMs
    m, n, k = SELF_CHECK_SHAPE
    return side * rows + m % rows, side * cols + n % cols, k


PROBE_DIR_ENV = "SITEBENCH_PROBE_DIR"  # where a failed self-check leaves its full layout probe, if set


def self_check(device: int, dtype: str, kernel: str) -> str | None:
    """Run `kernel` on its `self_check_shape` against NumPy in float64: None if right, else what went wrong.
    A wrong result is followed by the layout probe, whose verdict says whether the kernel reads its
    operands from the wrong places (its maps go to $SITEBENCH_PROBE_DIR when that is set)."""
    m, n, k = self_check_shape(device, kernel)
    rng = np.random.default_rng([m, n, k])
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n), dtype=np.float32)
    try:
        got = to_host(matmul(to_device(a, dtype=dtype, device=device), to_device(b, dtype=dtype, device=device),
                             dtype=dtype, device=device, kernel=kernel))
        synchronize(device)
    except Exception as exc:  # noqa: BLE001 - a compile or launch failure is a reason to pass it over
        return f"{type(exc).__name__}: {first_line(exc)}"
    result = verify.check(got, a, b, dtype)
    return None if result.ok else f"{result.what}; {probe_layout(device, dtype, kernel)}"


def probe_layout(device: int, dtype: str, kernel: str) -> str:
    """kernels/gemm/layout_probe.py on `kernel`: its verdict; with $SITEBENCH_PROBE_DIR set, the full
    summary (<kernel>-<dtype>.txt) and the maps (.npz) are written there too."""
    def gemm(a, b):
        return np.asarray(to_host(matmul(a, b, dtype=dtype, device=device, kernel=kernel)), dtype=np.float32)

    try:
        found = layout_probe.probe(gemm)
    except Exception as exc:  # noqa: BLE001 - the probe is a diagnosis; the check has already failed
        return f"layout probe failed ({type(exc).__name__}: {first_line(exc)})"
    folder = os.environ.get(PROBE_DIR_ENV)
    if folder:
        found.save(Path(folder) / f"{kernel}-{dtype}.npz")
        (Path(folder) / f"{kernel}-{dtype}.txt").write_text(found.summary() + "\n", encoding="utf-8")
    return found.verdict()


TRIAL_TIMEOUT_S = 30.0  # CuPy's start, a cold NVRTC compile of gemm_wgmma.cu (5.8 s on a 2-core Zen 3), a small GEMM
COMPUTE_MODE_EXCLUSIVE_PROCESS = 3  # cudaComputeModeExclusiveProcess


def _one_process_only(device: int) -> bool:
    """Whether this GPU admits one process at a time (compute mode exclusive-process, common on clusters),
    so that a child process could not open it while this one holds it."""
    try:
        mode = _cupy().cuda.runtime.getDeviceProperties(device)["computeMode"]
    except Exception:  # noqa: BLE001 - no CuPy or no such property: assume the default, shared mode
        return False
    return int(mode) == COMPUTE_MODE_EXCLUSIVE_PROCESS


@lru_cache(maxsize=None)
def trial(device: int, dtype: str, kernel: str) -> str | None:
    """`self_check` in a child process (kernels/runtime/isolated.py): a Hopper kernel's first run on this
    GPU, where a hang or a fault would otherwise stop this process or leave its CUDA context unusable.
    None if the kernel is right, else why not. On a GPU in exclusive-process mode no child could open
    it, so the check runs here, without that protection. A pass or a hang is kept on disk for this GPU,
    driver, source and check (kernels/runtime/trials.py): later processes do not try it again, and a
    kernel that hung in one dtype is not tried in the other."""
    what = _trial_parts(device, dtype, kernel)
    key = trials.key(**what)
    kept = trials.recall(key)
    if kept is not None:
        return kept.problem
    for other in (d for d in WMMA_DTYPES if d != dtype):  # they share every path but the MMA's type
        hung = trials.recall(trials.key(**{**what, "dtype": other}))  # kept problems are hangs
        if hung is not None and hung.problem is not None:
            return f"not tried: its {other} trial hung ({hung.problem})"
    hang = False
    try:
        problem = (self_check(device, dtype, kernel) if _one_process_only(device) else
                   isolated.call(__name__, "self_check", (device, dtype, kernel), TRIAL_TIMEOUT_S))
    except isolated.IsolatedError as exc:
        problem, hang = str(exc), isinstance(exc, isolated.IsolatedHang)
    if problem is None or hang:  # what lasts; a wrong result or a crash may have been the moment's
        trials.remember(key, problem, what)
    return problem


def _trial_parts(device: int, dtype: str, kernel: str) -> dict:
    """Everything a trial's outcome depends on: the GPU and driver, the kernel's source and compile
    options, the kernel, dtype and check shape, and the CuPy that compiles and launches it."""
    tile = WMMA_TILES[kernel]
    gpu = devices()[device]
    source = hashlib.sha256(tile.source.read_bytes()).hexdigest()
    return {"gpu": gpu.name, "compute": gpu.compute, "driver": gpu.driver, "cupy": _cupy_version(),
            "source": source, "options": [*tile.arch_options, *_wmma_module_options()], "kernel": kernel,
            "dtype": dtype, "shape": self_check_shape(device, kernel)}


def trial_problem(device: int, dtype: str, kernel: str) -> str | None:
    """Why `kernel` must not run in this process on this GPU, or None: the HOPPER_KERNELS (never yet run
    on a GPU) face their `trial` first; the others have none."""
    return trial(device, dtype, kernel) if kernel in HOPPER_KERNELS else None


@lru_cache(maxsize=None)
def own_kernel(device: int, dtype: str) -> str:
    """The own kernel `kernel="own"` runs on this GPU in this dtype: the first of OWN_HOPPER_ORDER that runs
    here and passes its `trial`, else "wmma" (the reasons are kept for `own_kernel_text`)."""
    for kernel in OWN_HOPPER_ORDER:
        if dtype not in dtypes(device, kernel):
            continue
        problem = trial(device, dtype, kernel)
        if problem is None:
            return kernel
        _passed_over.setdefault((device, dtype), []).append((kernel, problem))
    return "wmma"


def own_kernel_text(device: int, dtype: str) -> str:
    """What `kernel="own"` ran on this GPU in this dtype, for the report (after the first call)."""
    chosen = own_kernel(device, dtype)
    tile = WMMA_TILES[chosen]
    rows, cols, _ = tile.block
    text = f"own {chosen} tensor-core RawKernel ({tile.source.name}), {rows}x{cols} tiles, fp32 accumulate"
    for kernel, problem in _passed_over.get((device, dtype), []):
        text += f"; {kernel} failed its self-check here and was not used ({problem})"
    return text

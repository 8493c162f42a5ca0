"""Dense GEMM: C = A @ B on each selected backend/device, next to the vendor library on the same kind of device.

Shapes come from kernels/gemm/shapes.py (square, Llama-3 decoder layers, DeepBench), sized to the device
kind. References are NumPy/BLAS (backend "numpy") on the CPU and cuBLAS through CuPy (backend "cublas")
on each GPU, in every dtype the device has; each backend case names the reference with the same shape,
dtype and device class. Every case's output is checked against NumPy in float64 (kernels/gemm/verify.py)
before its timing counts; `extra()` reports the max relative error and the fraction of the device's dense
peak for that dtype from its hardware profile (None where no profile gives one; the host CPU's peak is
derived from cores x clock x FMA width and labelled so).

Operands: CPU backends get host arrays (packing B is timed, as BLAS packs on every call); OpenCL and the
GPUs get device-resident operands (upload excluded; the OpenCL CPU kernel's packed B is reused).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

import numpy as np

from bench.errors import UsageError
from bench.workloads import Case
from kernels.gemm import numpy_blas, shapes, verify
from kernels.runtime import cpu

WORKLOAD = "gemm"
CPU_ONLY_FP64 = ("square", "quick")  # fp64 is a CPU sideline: square shapes only
OWN_DTYPES = {"numba-cpu": ("fp32", "fp64"), "opencl": ("fp32",), "numba-cuda": ("fp32",)}
SEED = 20240


@dataclass(frozen=True)
class Api:
    """The module functions a case calls, with a kernel choice bound where a backend has several."""

    name: str  # backend name in results: numpy, numba-cpu, ..., cublas
    matmul: Callable
    to_device: Callable
    to_host: Callable
    synchronize: Callable | None
    kernel: str  # what runs, for the report
    resident: bool  # operands made resident before timing (GPU, OpenCL) or passed as host arrays


def operands(shape: shapes.Shape, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic standard-normal A and B for a shape: every backend multiplies the same matrices."""
    rng = np.random.default_rng([SEED, shape.m, shape.n, shape.k])
    host = np.float64 if dtype == "fp64" else np.float32
    return rng.standard_normal((shape.m, shape.k), dtype=host), rng.standard_normal((shape.k, shape.n), dtype=host)


def peak(device, dtype: str) -> tuple[float | None, str | None]:
    """The device's dense peak FLOP/s for the dtype from its hardware profile, and where it comes from."""
    try:
        from bench import profiles

        profile = profiles.for_device(device)
    except Exception:  # noqa: BLE001 - no profiles, or an invalid one: no efficiency, never a made-up peak
        return None, None
    if profile is None:
        return None, None
    table = getattr(profile, "peak_tflops", None) or {}
    if dtype in table:
        return table[dtype] * 1e12, f"profile {profile.id} peak_tflops.{dtype}"
    table = getattr(profile, "peak_gflops", None) or {}
    if dtype in table:
        derived = " (derived from cores x clock x FMA width, not measured)" if getattr(profile, "derived", False) else ""
        return table[dtype] * 1e9, f"profile {profile.id} peak_gflops.{dtype}{derived}"
    return None, f"profile {profile.id} has no {dtype} peak"


def gemm_case(api: Api, device, shape: shapes.Shape, dtype: str, *, is_reference: bool = False,
              reference: str | None = None) -> Case:
    index = device.index
    state: dict = {}

    def prepare():
        a, b = operands(shape, dtype)
        state.update(a=a, b=b)
        if not api.resident:
            return lambda: api.matmul(a, b, dtype=dtype, device=index)
        a_dev = api.to_device(a, dtype=dtype, device=index)
        b_dev = api.to_device(b, dtype=dtype, device=index)
        return lambda: api.matmul(a_dev, b_dev, dtype=dtype, device=index)

    def check(output) -> tuple[bool, str]:
        a, b = state.pop("a", None), state.pop("b", None)  # freed after the check: big operands add up
        if a is None:
            return False, "no operands to check against (prepare did not run)"
        result = verify.check(api.to_host(output), a, b, dtype)
        state.update(error=result.max_rel_error, tolerance=result.tolerance)
        return result.ok, result.what

    def extra(seconds: float) -> dict:
        flop_s = shape.flop / seconds
        peak_flop_s, source = peak(device, dtype)
        return {
            "shape": shape.name or shape.text,
            "kernel": api.kernel,
            "operands": "device-resident (upload excluded)" if api.resident else "host arrays (packing timed)",
            "flop_per_call": shape.flop,
            "max_rel_error": state.get("error"),
            "tolerance": state.get("tolerance"),
            "peak_flop_per_s": peak_flop_s,
            "fraction_of_peak": flop_s / peak_flop_s if peak_flop_s else None,
            "peak_source": source,
        }

    sync = (lambda: api.synchronize(index)) if api.synchronize else None
    return Case(
        workload=WORKLOAD,
        backend=api.name,
        device=device,
        params={"m": shape.m, "n": shape.n, "k": shape.k, "dtype": dtype},
        metric="flop_per_s",
        unit="FLOP/s",
        work_per_call=shape.flop,
        prepare=prepare,
        verify=check,
        sync=sync,
        timer=_timer(api.name, device),
        is_reference=is_reference,
        reference=reference,
        extra=extra,
        label=f"GEMM {shape.name or shape.text} ({shape.text}) {dtype}, {api.kernel}",
    )


def _timer(backend: str, device):
    """GPU work is timed with events on its own GPU; everything else with the host clock after a sync."""
    if device.kind != "gpu":
        return None
    from bench import timing

    if backend in ("cupy", "cublas"):
        return partial(timing.cupy_event_timer, device.index)
    if backend == "numba-cuda":
        return partial(timing.numba_event_timer, device.index)
    return None


# --- which module call each backend / reference makes ---------------------------------------------


def _api(sel) -> Api:
    mod, kind = sel.module, sel.device.kind
    if sel.backend == "cupy":
        return Api("cupy", _with_kernel(mod.matmul, "wmma"), mod.to_device, mod.to_host, mod.synchronize,
                   "own WMMA tensor-core RawKernel (gemm_wmma.cu), fp32 accumulate", True)
    kernels = {
        "numba-cpu": "Numba packed 8xNR micro-kernel",
        "opencl": f"OpenCL {'float16-vector' if kind == 'cpu' else 'local-memory tiled'} kernel (gemm.cl)",
        "numba-cuda": "Numba CUDA shared-memory tiles, 8x8 per thread",
    }
    resident = sel.backend != "numba-cpu"
    return Api(sel.backend, mod.matmul, mod.to_device, mod.to_host, mod.synchronize,
               kernels.get(sel.backend, sel.backend), resident)


def _with_kernel(matmul, kernel: str):
    def call(a, b, *, dtype, device):
        return matmul(a, b, dtype=dtype, device=device, kernel=kernel)

    return call


def _numpy_api() -> Api:
    return Api("numpy", numpy_blas.matmul, numpy_blas.to_device, numpy_blas.to_host, None,
               f"NumPy matmul -> {numpy_blas.blas_info()}", False)


def _cublas_api():
    from kernels.gemm import cupy_cuda

    def names(dtype: str) -> str:
        data, compute = cupy_cuda.CUBLAS_TYPES[dtype]
        return f"cublasGemmEx data type {data}, compute type {compute}"

    api = Api("cublas", _with_kernel(cupy_cuda.matmul, "cublas"), cupy_cuda.to_device, cupy_cuda.to_host,
              cupy_cuda.synchronize, "cuBLAS cublasGemmEx (compute type set per dtype)", True)
    return api, cupy_cuda, names


class References:
    """The reference case of each (device class, device, shape, dtype), made on first request."""

    def __init__(self):
        self.cases: dict[tuple, Case] = {}
        self._cublas = None

    def cpu(self, shape: shapes.Shape, dtype: str) -> Case | None:
        if dtype not in numpy_blas.DTYPES:
            return None
        key = ("cpu", 0, shape, dtype)
        if key not in self.cases:
            self.cases[key] = gemm_case(_numpy_api(), cpu.devices()[0], shape, dtype, is_reference=True)
        return self.cases[key]

    def gpu(self, index: int, shape: shapes.Shape, dtype: str) -> Case | None:
        if self._cublas is None:
            from kernels.gemm import cupy_cuda

            ok, _ = cupy_cuda.available()
            self._cublas = _cublas_api() if ok else False
        if not self._cublas:
            return None
        api, cupy_cuda, names = self._cublas
        found = cupy_cuda.devices()
        device = next((d for d in found if d.index == index), found[0] if found else None)
        if device is None or dtype not in cupy_cuda.dtypes(device.index):
            return None
        key = ("gpu", device.index, shape, dtype)
        if key not in self.cases:
            self.cases[key] = gemm_case(replace(api, kernel=names(dtype)), device, shape, dtype, is_reference=True)
        return self.cases[key]

    def for_case(self, device, shape: shapes.Shape, dtype: str) -> Case | None:
        if device.kind == "cpu":
            return self.cpu(shape, dtype)
        if device.kind == "gpu":
            return self.gpu(device.index, shape, dtype)
        return None  # the CUDA simulator: no reference worth a ratio


def _dtypes(sel) -> tuple[str, ...]:
    if sel.backend == "cupy":
        return sel.module.dtypes(sel.device.index, "wmma")
    have = sel.module.dtypes(sel.device.index)
    return tuple(d for d in OWN_DTYPES.get(sel.backend, have) if d in have)


def validate(shape_texts=(), dtypes=()) -> tuple[list[shapes.Shape], tuple[str, ...]]:
    """Shapes ('MxNxK') and dtype names asked for on the command line, or UsageError (exit 2, one line)."""
    try:
        parsed = [shapes.parse_shape(t) for t in shape_texts]
        names = tuple(verify.check_dtype(d) for d in dtypes)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return parsed, names


def cases(selected, *, quick: bool, shapes_only=None, dtypes_only=None) -> list[Case]:
    """Reference cases first, then every selected backend/device in each dtype it has on its shapes.

    `shapes_only` ('MxNxK' strings) and `dtypes_only` (dtype names) narrow the run, e.g. for a
    `--shape` / `--dtype` option; bad values raise UsageError (see `validate`).
    """
    chosen, wanted = validate(shapes_only or (), dtypes_only or ())
    refs = References()
    own: list[Case] = []
    for sel in selected:
        kind = sel.device.kind
        plan = chosen or shapes.select(kind, quick_run=quick)
        for dtype in _dtypes(sel) if sel.backend != "numpy" else numpy_blas.DTYPES:
            if wanted and dtype not in wanted:
                continue
            for shape in plan:
                if dtype == "fp64" and shape.group not in CPU_ONLY_FP64 and not chosen:
                    continue
                ref = refs.for_case(sel.device, shape, dtype)
                if sel.backend != "numpy":  # numpy runs as the reference itself
                    own.append(gemm_case(_api(sel), sel.device, shape, dtype, reference=ref.key if ref else None))
        if sel.backend == "cupy":  # cuBLAS in every dtype the GPU has, the baseline of the site figures
            for dtype in sel.module.dtypes(sel.device.index):
                for shape in plan if not wanted or dtype in wanted else ():
                    refs.gpu(sel.device.index, shape, dtype)
    return list(refs.cases.values()) + own

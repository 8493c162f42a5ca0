"""Dense GEMM: C = A @ B on each selected backend/device, next to the vendor library on the same kind of device.

Shapes come from kernels/gemm/shapes.py (square, Llama-3 decoder layers, DeepBench), sized to the device
kind. References are the backends whose traits say they are the vendor baseline of a kind of device (NumPy's
BLAS on the CPU, cuBLAS through CuPy on each GPU), in every dtype the device has; each backend case names the
reference with the same shape,
dtype and device class. Every case's output is checked against NumPy in float64 (kernels/gemm/verify.py)
before its timing counts; `extra()` reports the max relative error and the fraction of the device's dense
peak for that dtype from its hardware profile (None where no profile gives one; the host CPU's peak is
derived from cores x clock x FMA width and labelled so).

Operands: backends whose traits say `resident_operands` (OpenCL, the GPUs) get device-resident operands
(upload excluded; the OpenCL CPU kernel's packed B is reused); the others get host arrays (packing B is
timed, as BLAS packs on every call). No backend is named here: each backend file carries its own traits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np

from bench import backends, profiles
from bench.errors import UsageError
from bench.workloads import Case
from kernels.gemm import shapes, verify
from kernels.runtime import cpu

WORKLOAD = "gemm"
CPU_ONLY_FP64 = ("square", "quick")  # fp64 is a CPU sideline: square shapes only
SEED = 20240


@dataclass(frozen=True)
class Api:
    """The module functions a case calls, with a kernel choice bound where a backend has several."""

    name: str  # backend name in results (a reference's own name, e.g. the vendor library's)
    matmul: Callable
    to_device: Callable
    to_host: Callable
    synchronize: Callable | None
    kernel: str  # what runs, for the report
    resident: bool  # operands made resident before timing (GPU, OpenCL) or passed as host arrays
    event_timer: Callable | None = None  # GPU devices: events on the device index (the backend's traits)
    kernel_of: Callable[[int, str], str] | None = None  # (device, dtype) -> what ran, where the backend picks


def operands(shape: shapes.Shape, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic standard-normal A and B for a shape: every backend multiplies the same matrices."""
    rng = np.random.default_rng([SEED, shape.m, shape.n, shape.k])
    host = np.float64 if dtype == "fp64" else np.float32
    return rng.standard_normal((shape.m, shape.k), dtype=host), rng.standard_normal((shape.k, shape.n), dtype=host)


def peak(device, dtype: str) -> tuple[float | None, str | None]:
    """The device's dense peak FLOP/s for the dtype from its hardware profile, and where it comes from."""
    try:
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
            "kernel": api.kernel_of(index, dtype) if api.kernel_of else api.kernel,
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
        timer=timer_for(api, device),
        is_reference=is_reference,
        reference=reference,
        extra=extra,
        label=f"GEMM {shape.name or shape.text} ({shape.text}) {dtype}, {api.kernel}",
    )


def timer_for(api: Api, device):
    """GPU work is timed with the backend's own events on its own GPU; everything else with the host clock."""
    return partial(api.event_timer, device.index) if device.kind == "gpu" and api.event_timer else None


# --- which module call each backend / reference makes ---------------------------------------------


def _with_kernel(matmul, kernel: str | None):
    if kernel is None:
        return matmul

    def call(a, b, *, dtype, device):
        return matmul(a, b, dtype=dtype, device=device, kernel=kernel)

    return call


def _api(sel) -> Api:
    """A backend's own kernel, as its traits describe it."""
    mod, t = sel.module, sel.module.TRAITS
    return Api(sel.backend, _with_kernel(mod.matmul, t.own_kernel), mod.to_device, mod.to_host, mod.synchronize,
               t.describe(sel.device.kind), t.resident_operands, t.event_timer,
               getattr(mod, "own_kernel_text", None))


def _reference_api(mod, dtype: str) -> Api:
    """The vendor baseline a backend module offers (its traits name it and the kernel that selects it)."""
    t = mod.TRAITS
    describe = getattr(mod, "reference_kernel_text", None)
    return Api(t.reference_name, _with_kernel(mod.matmul, t.reference_kernel), mod.to_device, mod.to_host,
               mod.synchronize if t.device_kind == "gpu" else None, describe(dtype) if describe else t.kernel,
               t.resident_operands, t.event_timer)


class References:
    """The reference case of each (device class, device, shape, dtype), made on first request."""

    def __init__(self):
        self.cases: dict[tuple, Case] = {}
        self._modules: dict[str, object] = {}

    def module(self, device_kind: str):
        """The available baseline module for a kind of device, or None."""
        if device_kind not in self._modules:
            self._modules[device_kind] = backends.reference_module(WORKLOAD, device_kind)
        return self._modules[device_kind]

    def get(self, device, shape: shapes.Shape, dtype: str) -> Case | None:
        if device.kind not in ("cpu", "gpu"):
            return None  # the CUDA simulator: no reference worth a ratio
        mod = self.module(device.kind)
        if mod is None:
            return None
        found = mod.devices() if device.kind == "gpu" else cpu.devices()
        ref_device = next((d for d in found if d.index == device.index), found[0] if found else None)
        if ref_device is None:
            return None
        have = mod.dtypes(ref_device.index, mod.TRAITS.reference_kernel) if mod.TRAITS.reference_kernel else \
            mod.dtypes(ref_device.index)
        if dtype not in have:
            return None
        key = (device.kind, ref_device.index, shape, dtype)
        if key not in self.cases:
            self.cases[key] = gemm_case(_reference_api(mod, dtype), ref_device, shape, dtype, is_reference=True)
        return self.cases[key]


def _dtypes(sel) -> tuple[str, ...]:
    """The dtypes a backend's own kernel runs in: what it offers, narrowed by its traits' run_dtypes."""
    t = sel.module.TRAITS
    if t.reference_only:
        return sel.module.dtypes(sel.device.index)
    have = sel.module.dtypes(sel.device.index, t.own_kernel) if t.own_kernel else sel.module.dtypes(sel.device.index)
    return tuple(d for d in (t.run_dtypes or have) if d in have)


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
        kind, traits = sel.device.kind, sel.module.TRAITS
        plan = chosen or shapes.select(kind, quick_run=quick)
        for dtype in _dtypes(sel):
            if wanted and dtype not in wanted:
                continue
            for shape in plan:
                if dtype == "fp64" and shape.group not in CPU_ONLY_FP64 and not chosen:
                    continue
                ref = refs.get(sel.device, shape, dtype)
                if not traits.reference_only:  # a baseline runs as the reference itself
                    own.append(gemm_case(_api(sel), sel.device, shape, dtype, reference=ref.key if ref else None))
        if traits.reference_for == kind and kind == "gpu":  # the vendor library in every dtype the GPU has
            for dtype in sel.module.dtypes(sel.device.index):
                for shape in plan if not wanted or dtype in wanted else ():
                    refs.get(sel.device, shape, dtype)
    return list(refs.cases.values()) + own

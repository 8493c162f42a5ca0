"""GPU host code: device discovery, cuBLAS availability, event timers bound to their GPU, the CuPy <-> Numba
operand hand-off and NVRTC header errors — with stand-ins for CuPy and numba.cuda where no GPU exists
(host logic only: the kernels themselves are checked by the simulator, PTX and NVRTC tests), and for real
on a GPU (tests marked `gpu`), where the event timers, PCI addresses and NVML are checked on every device.
"""

from __future__ import annotations

import sys
import time
import types
from types import SimpleNamespace

import numpy as np
import pytest

from bench import backends, timing
from kernels.runtime import DeviceInfo
from kernels.runtime import cuda as runtime

H100 = {"name": b"NVIDIA H100 80GB HBM3", "totalGlobalMem": 85 << 30, "major": 9, "minor": 0,
        "multiProcessorCount": 132}


def _clear_runtime_caches():
    for f in (runtime.cupy_status, runtime._cupy_devices, runtime.cublas_status):
        f.cache_clear()


@pytest.fixture
def fresh_runtime():
    """Discovery caches emptied before and after: a stand-in CuPy must not leak into other tests."""
    _clear_runtime_caches()
    yield
    _clear_runtime_caches()


class FakeDevices:
    """CuPy's notion of the current device, with `Device(i)` as its context manager."""

    def __init__(self):
        self.current = 0

    def Device(self, index):  # noqa: N802 - CuPy's name
        devices = self

        class Device:
            pci_bus_id = f"0000:{0x1B + index:02X}:00.0"  # as cudaDeviceGetPCIBusId writes it

            def __enter__(self):
                self._prev, devices.current = devices.current, index

            def __exit__(self, *exc):
                devices.current = self._prev

        return Device()


def fake_cupy(properties_calls: list, *, count: int = 2, with_cublas: bool = True):
    """A CuPy with `count` H100s: runtime queries, Device, events; `cupy.cuda.cublas` only if asked."""
    devices = FakeDevices()
    cuda = types.ModuleType("cupy.cuda")
    cuda.runtime = SimpleNamespace(
        getDeviceCount=lambda: count,
        driverGetVersion=lambda: 13000,
        getDeviceProperties=lambda i: properties_calls.append(i) or dict(H100),
    )
    cuda.Device = devices.Device
    if with_cublas:
        cuda.cublas = SimpleNamespace()
    cupy = types.ModuleType("cupy")
    cupy.cuda = cuda
    cupy.devices = devices
    return cupy


def install(monkeypatch, cupy):
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupy.cuda", cupy.cuda)


# --- discovery -------------------------------------------------------------------------------------------


def test_cupy_devices_are_discovered_once_per_process(monkeypatch, fresh_runtime):
    from kernels.gemm import cupy_cuda

    calls: list = []
    install(monkeypatch, fake_cupy(calls))
    first = runtime.cupy_devices()
    for _ in range(5):  # what every matmul / scan does through dtypes() and the device check
        assert runtime.cupy_devices() == first
        assert cupy_cuda.dtypes(1) == ("fp32", "tf32", "fp16", "bf16")
    assert calls == [0, 1]  # cudaGetDeviceProperties: once per device, never in a timed loop
    gpu = first[1]
    assert (gpu.name, gpu.kind, gpu.compute, gpu.units, gpu.driver) == (
        "NVIDIA H100 80GB HBM3", "gpu", "sm_90", 132, "CUDA driver 13.0")
    assert gpu.pci_bus_id == "0000:1c:00.0"
    runtime.cupy_devices().clear()  # callers get their own list
    assert len(runtime.cupy_devices()) == 2


@pytest.mark.parametrize("text", ["0000:1B:00.0", "00000000:1b:00.0", "0:1b:0.0"])
def test_pci_bus_ids_have_one_form_whoever_reports_them(text):
    assert runtime.pci_bus_id(text) == "0000:1b:00.0"


def test_cublas_missing_makes_the_gemm_backend_unavailable_with_the_fix(monkeypatch, fresh_runtime):
    from kernels.gemm import cupy_cuda as gemm
    from kernels.sha256 import cupy_cuda as sha

    install(monkeypatch, fake_cupy([], with_cublas=False))
    ok, reason = gemm.available()
    assert not ok and "cuBLAS not found" in reason and "cuda-toolkit[cublas]" in reason
    assert sha.available() == (True, "")  # the SHA-256d kernels need no cuBLAS
    _clear_runtime_caches()
    install(monkeypatch, fake_cupy([], with_cublas=True))
    assert gemm.available() == (True, "")


def test_wmma_compile_error_for_a_missing_header_names_the_package(monkeypatch):
    from kernels.gemm import cupy_cuda

    class CompileException(Exception):
        pass

    message = ('/site-packages/nvidia/cu13/include/mma.h(55): catastrophic error: cannot open source file '
               '"crt/mma.h"')

    class RawModule:
        def __init__(self, code, options):
            assert options == cupy_cuda.WMMA_OPTIONS and "wmma::mma_sync" in code

        def get_function(self, name):
            raise CompileException(message + "\n\n1 catastrophic error detected")

    cupy = fake_cupy([])
    cupy.RawModule = RawModule
    cupy.cuda.compiler = SimpleNamespace(CompileException=CompileException)
    install(monkeypatch, cupy)
    monkeypatch.setattr(cupy_cuda, "_wmma_module_options", lambda: cupy_cuda.WMMA_OPTIONS)
    with pytest.raises(RuntimeError, match=r"cuda-toolkit\[crt\].*crt/mma\.h"):
        cupy_cuda._wmma_function.__wrapped__(0, "bf16")


def _include(root, major, crt=True):
    include = root / "include"
    (include / "crt").mkdir(parents=True)
    (include / "cuda.h").write_text(f"#define CUDA_VERSION {major * 1000}\n")
    if crt:
        (include / "crt" / "mma.h").write_text("")
    return include


def test_wmma_options_add_a_toolkit_of_the_same_major_when_cupys_headers_lack_crt(tmp_path):
    from kernels.gemm import cupy_cuda

    wheels = _include(tmp_path / "wheels", 13, crt=False)  # pip CUDA wheels without nvidia-cuda-crt
    old, toolkit = _include(tmp_path / "cuda-12", 12), _include(tmp_path / "cuda-13", 13)
    assert cupy_cuda.wmma_options(wheels, 13, [old, toolkit]) == (*cupy_cuda.WMMA_OPTIONS, f"-I{toolkit}")
    assert cupy_cuda.wmma_options(wheels, 13, [old]) == cupy_cuda.WMMA_OPTIONS  # a 12.x crt would not match
    assert cupy_cuda.wmma_options(toolkit, 13, [old]) == cupy_cuda.WMMA_OPTIONS  # CuPy's own headers suffice
    assert cupy_cuda.wmma_options(None, 13, [toolkit]) == (*cupy_cuda.WMMA_OPTIONS, f"-I{toolkit}")


# --- event timers ----------------------------------------------------------------------------------------


class FakeEvent:
    def __init__(self, devices, log):
        self.devices, self.log = devices, log
        self.created_on = devices.current

    def record(self):
        self.log.append(("record", self.devices.current))

    def synchronize(self):
        self.log.append(("sync", self.devices.current))


def test_cupy_event_timer_records_on_its_own_gpu(monkeypatch):
    cupy, log = fake_cupy([]), []
    cupy.cuda.Event = lambda: FakeEvent(cupy.devices, log)
    cupy.cuda.get_elapsed_time = lambda begin, end: 12.5
    install(monkeypatch, cupy)
    timer = timing.cupy_event_timer(1)  # made while GPU 0 is current, as bench.runner does
    assert cupy.devices.current == 0 and (timer._begin.created_on, timer._end.created_on) == (1, 1)
    timer.start()
    assert cupy.devices.current == 0
    assert timer.stop() == 0.0125
    assert log == [("record", 1), ("record", 1), ("sync", 1)] and cupy.devices.current == 0


def test_numba_event_timer_records_on_its_own_gpu(monkeypatch):
    from numba import cuda

    devices, log = FakeDevices(), []

    class Gpus:
        def __getitem__(self, index):
            return devices.Device(index)

    monkeypatch.setattr(cuda, "gpus", Gpus(), raising=False)
    monkeypatch.setattr(cuda, "event", lambda timing=True: FakeEvent(devices, log), raising=False)
    monkeypatch.setattr(cuda, "event_elapsed_time", lambda begin, end: 3.0, raising=False)
    timer = timing.numba_event_timer(2)
    assert (timer._begin.created_on, timer._end.created_on) == (2, 2)
    timer.start()
    assert timer.stop() == 0.003
    assert log == [("record", 2), ("record", 2), ("sync", 2)] and devices.current == 0


def test_gpu_cases_time_with_events_on_their_own_device():
    from bench.workloads import gemm, inference
    from kernels.inference import config

    gpu1 = DeviceInfo(1, "NVIDIA H100 80GB HBM3", "gpu")

    def api(backend):  # the backend's own kernel; "cublas": the baseline the cupy module offers
        if backend == "cublas":
            return gemm._reference_api(backends.module("gemm", "cupy"), "fp32")
        return gemm._api(SimpleNamespace(backend=backend, module=backends.module("gemm", backend), device=gpu1))

    for backend, events in (("cupy", timing.cupy_event_timer), ("cublas", timing.cupy_event_timer),
                            ("numba-cuda", timing.numba_event_timer)):
        factory = gemm.timer_for(api(backend), gpu1)
        assert (factory.func, factory.args) == (events, (1,)), backend
    assert gemm.timer_for(api("numba-cuda"), DeviceInfo(0, "simulator", "simulator")) is None
    cfg = config.SMOLLM2_135M.with_(n_layers=1, vocab=64, max_context=16)
    bench = inference.Workbench(cfg, 4, 1, "random")
    for backend, events in (("cupy", timing.cupy_event_timer), ("numba-cuda", timing.numba_event_timer)):
        case = inference._case(SimpleNamespace(backend=backend, device=gpu1,
                                               module=backends.module("inference", backend)), bench, "decode", 1,
                               "fp32", None)
        assert (case.timer.func, case.timer.args) == (events, (1,)), backend


# --- CuPy activations into the Numba GEMM ----------------------------------------------------------------


class Stream:
    def __init__(self, ptr):
        self.ptr = ptr

    def __eq__(self, other):  # CuPy compares streams by handle
        return self.ptr == other.ptr


def test_numba_products_run_on_cupys_current_stream_without_syncing(monkeypatch):
    """Every product goes to kernels.gemm.numba_cuda.launch on Numba's handle of CuPy's current stream
    (the default stream for CuPy's null stream), into an output CuPy allocated, and no import syncs: the
    conditions for capturing a decode step with Numba products as a CUDA graph."""
    from numba import cuda

    from kernels.inference import device

    imported, launched, allocated = [], [], []
    monkeypatch.setattr(cuda, "as_cuda_array", lambda x, sync=True: imported.append(sync) or x)
    monkeypatch.setattr(cuda, "external_stream", lambda ptr: ("external", ptr))
    monkeypatch.setattr(cuda, "default_stream", lambda: ("default", 0))
    current = [Stream(0)]
    streams = SimpleNamespace(get_current_stream=lambda: current[0])
    xp = SimpleNamespace(ascontiguousarray=np.ascontiguousarray, cuda=streams,
                         empty=lambda shape, dtype: allocated.append(shape) or np.zeros(shape, dtype))

    def launch(a, b, c, *, stream):
        launched.append(stream)
        c[...] = a @ b

    ops = device.NumbaOperands(SimpleNamespace(launch=launch), xp)
    x, w = np.arange(6, dtype=np.float64).reshape(2, 3), np.ones((3, 4), np.float32)
    got = ops.product(x, w)
    assert got.dtype == np.float32 and (got == x.astype(np.float32) @ w).all()
    current[0] = Stream(0x7F00)  # a stream of the caller's own, or a graph's capturing stream
    ops.product(x, w)
    ops.product(x, w)
    assert launched == [("default", 0), ("external", 0x7F00), ("external", 0x7F00)]
    assert imported == [False] * 6 and allocated == [(2, 4)] * 3
    with pytest.raises(ValueError):
        ops.product(x, np.ones((4, 4), np.float32))


# --- on a real GPU ---------------------------------------------------------------------------------------


def _cupy_gpu() -> tuple[bool, str]:
    return runtime.cupy_status()


def _numba_gpu() -> tuple[bool, str]:
    if runtime.simulator_enabled():
        return False, "NUMBA_ENABLE_CUDASIM is set: no real GPU"
    return runtime.numba_cuda_status()


def _host_seconds(work, sync) -> float:
    sync()
    t0 = time.perf_counter()
    work()
    sync()
    return time.perf_counter() - t0


@pytest.mark.gpu
@pytest.mark.skipif(not _cupy_gpu()[0], reason=f"needs CuPy and a CUDA GPU: {_cupy_gpu()[1]}")
def test_real_cupy_event_timer_times_the_work_on_every_gpu():
    import cupy

    def products(index, a):
        with cupy.cuda.Device(index):
            for _ in range(10):
                a @ a

    for index in range(cupy.cuda.runtime.getDeviceCount()):
        with cupy.cuda.Device(index):
            a = cupy.random.default_rng(0).standard_normal((4096, 4096), dtype=cupy.float32)
            sync = cupy.cuda.get_current_stream().synchronize
            products(index, a)
            host = _host_seconds(lambda: products(index, a), sync)  # noqa: B023 - called at once
        timer = timing.cupy_event_timer(index)  # made and used while GPU 0 is current, as bench.runner does
        timer.start()
        products(index, a)
        events = timer.stop()
        # Events bracket the same kernels the host clock does: a timer on the wrong GPU reads ~0.
        assert 0.3 * host <= events <= 1.2 * host + 1e-3, (index, events, host)


@pytest.mark.gpu
@pytest.mark.skipif(not _numba_gpu()[0], reason=f"needs a CUDA GPU: {_numba_gpu()[1]}")
def test_real_numba_event_timer_times_the_work_on_every_gpu():
    from numba import cuda

    from kernels.gemm import numba_cuda

    def products(index, a, c):
        with cuda.gpus[index]:
            for _ in range(5):
                numba_cuda.launch(a, a, c)

    for index in range(len(cuda.gpus)):
        rng = np.random.default_rng(index)
        a = numba_cuda.to_device(rng.standard_normal((2048, 2048), dtype=np.float32), device=index)
        with cuda.gpus[index]:
            c = cuda.device_array((2048, 2048), np.float32)
        products(index, a, c)
        host = _host_seconds(lambda: products(index, a, c), lambda: numba_cuda.synchronize(index))  # noqa: B023
        timer = timing.numba_event_timer(index)
        timer.start()
        products(index, a, c)
        events = timer.stop()
        assert 0.3 * host <= events <= 1.2 * host + 1e-3, (index, events, host)


@pytest.mark.gpu
@pytest.mark.skipif(not (_cupy_gpu()[0] and _numba_gpu()[0]), reason="needs CuPy, numba-cuda and a CUDA GPU")
def test_real_pci_addresses_agree_and_find_the_gpu_in_nvml():
    pynvml = pytest.importorskip("pynvml")
    cupy_gpus, numba_gpus = runtime.cupy_devices(), runtime.numba_cuda_devices()
    assert [d.pci_bus_id for d in cupy_gpus] == [d.pci_bus_id for d in numba_gpus]
    pynvml.nvmlInit()
    try:
        for d in cupy_gpus:
            handle = pynvml.nvmlDeviceGetHandleByPciBusId(d.pci_bus_id.encode())
            name = pynvml.nvmlDeviceGetName(handle)
            assert (name.decode() if isinstance(name, bytes) else name) == d.name
    finally:
        pynvml.nvmlShutdown()


@pytest.mark.gpu
@pytest.mark.skipif(not _cupy_gpu()[0], reason=f"needs CuPy and a CUDA GPU: {_cupy_gpu()[1]}")
def test_real_nvml_meter_reads_energy_of_busy_gpu():
    import cupy

    from bench import power

    device = runtime.cupy_devices()[0]
    meter = power.meter_for("cupy", device)
    a = cupy.ones((8192, 8192), dtype=cupy.float32)
    meter.start()
    deadline = time.perf_counter() + 1.5  # longer than the counter's 20-100 ms update period
    while time.perf_counter() < deadline:
        a @ a
        cupy.cuda.get_current_stream().synchronize()
    energy = meter.stop()
    assert energy.source == "nvml" and energy.seconds >= 1.5
    assert energy.joules > 0 and 20 < energy.watts < 2000, energy  # a busy GPU, within any card's range


# --- cuBLAS inside a CUDA graph capture ------------------------------------------------------------------


def test_cublas_capture_finds_the_library_this_process_loaded(tmp_path):
    from kernels.runtime import cublas_capture

    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f10 r-xp 00000000 08:01 1 /site/nvidia/cu13/lib/libcublasLt.so.13\n"
        "7f10-7f20 r-xp 00000000 08:01 2 /site/nvidia/cu13/lib/libcublas.so.13\n"
        "7f20-7f30 rw-p 00000000 00:00 0\n")
    assert cublas_capture.loaded_path(str(maps)) == "/site/nvidia/cu13/lib/libcublas.so.13"
    assert cublas_capture.loaded_path(str(tmp_path / "absent")) is None


def test_products_go_through_ctypes_cublas_only_inside_a_capture(monkeypatch):
    from kernels.gemm import cupy_cuda
    from kernels.runtime import cublas_capture

    calls = []
    cupy = fake_cupy([])
    cupy.cuda.device = SimpleNamespace(get_cublas_handle=lambda: 77)
    cupy.cuda.get_current_stream = lambda: SimpleNamespace(ptr=99)
    cupy.cuda.cublas = SimpleNamespace(setStream=lambda h, s: calls.append(("cupy.setStream", h, s)),
                                       gemmEx=lambda *args: calls.append(("cupy.gemmEx", args[0])))
    install(monkeypatch, cupy)
    monkeypatch.setattr(cublas_capture, "gemm_ex", lambda handle, stream, *args: calls.append(("ctypes", handle, stream)))
    data = SimpleNamespace(data=SimpleNamespace(ptr=1), shape=(4, 4))
    a = b = c = cupy_cuda.CupyMatrix(data, 4, 4, "fp32", 0)
    cupy_cuda.cublas_gemm(a, b, c)
    assert calls == [("cupy.setStream", 77, 99), ("cupy.gemmEx", 77)]
    calls.clear()
    with cublas_capture.active():
        assert cublas_capture.enabled()
        cupy_cuda.cublas_gemm(a, b, c)
    assert not cublas_capture.enabled()
    assert calls == [("ctypes", 77, 99)]

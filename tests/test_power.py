"""The energy readers against fakes of their interfaces: NVML (counter, unsupported counter), RAPL
(wrap-around, several wraps, permission denied), and the choice of meter per device."""

import time
from pathlib import Path

import pytest

from bench import power
from bench.results import ENERGY_SOURCES
from bench.timing import measure
from kernels.runtime import DeviceInfo

H100 = DeviceInfo(0, "NVIDIA H100 80GB HBM3", "gpu")
CPU = DeviceInfo(0, "AMD EPYC 9654", "cpu")


class Clock:
    def __init__(self, t=100.0):
        self.t = t

    def __call__(self):
        return self.t


class FakeNvml:
    """The pynvml calls power.py makes; counter readings are consumed in order."""

    class NVMLError(Exception):
        pass

    def __init__(self, counter_mj=None, power_mw=250_000, fail_init=False):
        self.counter_mj = list(counter_mj) if counter_mj is not None else None
        self.power_mw, self.fail_init = power_mw, fail_init

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError("NVML Shared Library Not Found")

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("handle", index)

    def nvmlDeviceGetHandleByPciBusId(self, bus):
        assert isinstance(bus, bytes)
        return ("handle", bus.decode())

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if self.counter_mj is None:
            raise self.NVMLError("Not Supported")
        return self.counter_mj.pop(0) if len(self.counter_mj) > 1 else self.counter_mj[0]

    def nvmlDeviceGetPowerUsage(self, handle):
        return self.power_mw


def test_nvml_counter_difference_in_joules():
    nvml, clock = FakeNvml([0, 1_000_000, 1_350_000]), Clock()
    meter = power.NvmlCounterMeter(nvml, ("h", 0), "GPU 0", clock=clock)  # probe reads 0
    meter.start()
    clock.t += 0.5
    e = meter.stop()
    assert (e.source, e.joules, e.seconds, e.watts) == ("nvml", 350.0, 0.5, 700.0)
    assert "short" in e.detail  # a 0.5 s window is flagged


def test_nvml_counter_that_did_not_advance_uses_the_sampled_power_not_zero():
    nvml = FakeNvml([5_000, 5_000, 5_000], power_mw=300_000)
    meter = power.NvmlCounterMeter(nvml, ("h", 0), "GPU 0", interval_s=0.01)
    meter.start()
    time.sleep(0.08)
    e = meter.stop()
    assert e.source == "nvml" and e.watts == pytest.approx(300.0)
    assert e.joules == pytest.approx(300.0 * e.seconds) and e.joules > 0
    assert "did not advance" in e.detail


def test_nvml_unsupported_counter_falls_back_to_sampling():
    meter = power.nvml_meter(0, FakeNvml(None, power_mw=250_000), interval_s=0.01)
    assert isinstance(meter, power.NvmlSamplingMeter)
    meter.start()
    time.sleep(0.1)
    e = meter.stop()
    assert e.source == "nvml" and e.watts == pytest.approx(250.0)
    assert e.joules == pytest.approx(250.0 * e.seconds) and e.seconds > 0.05
    assert "sampled" in e.detail and "unsupported" in e.detail


def test_nvml_finds_the_gpu_by_pci_address_whatever_its_cuda_index():
    """CUDA_VISIBLE_DEVICES / srun renumber GPUs: CUDA device 0 may be NVML device 3."""
    nvml = FakeNvml([0, 0])
    gpu = DeviceInfo(0, "NVIDIA H100 80GB HBM3", "gpu", pci_bus_id="0000:c1:00.0")
    meter = power.meter_for("cupy", gpu, nvml=nvml)
    assert meter.handle == ("handle", "0000:c1:00.0") and "PCI 0000:c1:00.0" in meter.label
    # any code on that GPU is metered the same way: the cuBLAS reference, OpenCL on an NVIDIA device
    assert power.meter_for("cublas", gpu, nvml=nvml).handle == ("handle", "0000:c1:00.0")
    assert power.meter_for("opencl", gpu, nvml=nvml).handle == ("handle", "0000:c1:00.0")
    # without an address, only the CUDA backends may trust their index to be NVML's
    assert power.meter_for("numba-cuda", H100, nvml=nvml).handle == ("handle", 0)
    assert isinstance(power.meter_for("opencl", H100, nvml=nvml), power.EstimateMeter)


def _zone(root: Path, name: str, uj: int, max_uj: int, label: str = "package-0") -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(f"{uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    (zone / "name").write_text(f"{label}\n")
    return zone


def test_rapl_counter_wrap_is_corrected(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", 999_000_000, 1_000_000_000)
    _zone(tmp_path, "intel-rapl:0:0", 5, 1_000_000_000, "core")  # sub-zone: not counted twice
    assert power.rapl_zones(tmp_path) == [zone]
    clock = Clock()
    meter = power.RaplMeter(power.rapl_zones(tmp_path), poll_s=None, clock=clock)
    meter.start()
    (zone / "energy_uj").write_text("1000000\n")  # wrapped: 1 J to the top, 1 J after
    clock.t += 2.0
    e = meter.stop()
    assert (e.source, e.joules, e.watts) == ("rapl", 2.0, 1.0)
    assert "package-0" in e.detail and "wrap" in e.detail


def test_rapl_several_wraps_need_reads_between_them(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", 0, 1_000_000)
    other = _zone(tmp_path, "intel-rapl:1", 0, 1_000_000, "package-1")
    meter = power.RaplMeter([zone, other], poll_s=None, clock=Clock())
    meter.start()
    for value in (800_000, 300_000, 900_000, 100_000):  # two wraps of the 1 J counter: 0.8+0.5+0.6+0.2 J
        (zone / "energy_uj").write_text(f"{value}")
        meter._advance()  # what the poll thread does
    (other / "energy_uj").write_text("500000")
    e = meter.stop()
    assert e.joules == pytest.approx(2.1 + 0.5)
    assert "package-0 + package-1" in e.detail


def test_rapl_poll_thread_runs(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", 0, 10**12)
    meter = power.RaplMeter([zone], poll_s=0.01)
    meter.start()
    (zone / "energy_uj").write_text("3000000")
    time.sleep(0.05)
    assert meter.stop().joules == pytest.approx(3.0)


def test_rapl_permission_denied_falls_back_to_an_estimate(tmp_path, monkeypatch):
    _zone(tmp_path, "intel-rapl:0", 0, 10**12)
    real = Path.read_text

    def read_text(self, *a, **k):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", read_text)
    meter = power.meter_for("numba-cpu", CPU, rapl_root=tmp_path)
    assert isinstance(meter, power.EstimateMeter)
    assert "permission denied" in meter.detail and "cpu/host" in meter.detail


def test_meter_for_picks_the_source_per_device(tmp_path):
    _zone(tmp_path, "intel-rapl:0", 0, 10**12)
    assert isinstance(power.meter_for("numba-cpu", CPU, rapl_root=tmp_path), power.RaplMeter)
    assert isinstance(power.meter_for("opencl", CPU, rapl_root=tmp_path), power.RaplMeter)
    counter = power.meter_for("cupy", H100, nvml=FakeNvml([0, 10, 20]))
    assert isinstance(counter, power.NvmlCounterMeter)
    no_rapl = power.meter_for("numba-cpu", CPU, rapl_root=tmp_path / "none")
    assert isinstance(no_rapl, power.EstimateMeter) and "RAPL unavailable" in no_rapl.detail


def test_gpu_without_nvml_is_estimated_from_its_profile():
    meter = power.meter_for("numba-cuda", H100, nvml=FakeNvml(fail_init=True))
    assert isinstance(meter, power.EstimateMeter) and meter.watts == 700
    assert "gpu/h100-sxm" in meter.detail and "NVML unavailable" in meter.detail


def test_unknown_gpu_without_nvml_is_a_usage_error():
    with pytest.raises(power.NoEnergySource, match="no GPU profile matches"):
        power.meter_for("cupy", DeviceInfo(0, "Mystery GPU", "gpu"), nvml=FakeNvml(fail_init=True))


def test_explicit_profile_wins(tmp_path):
    from bench import profiles

    asic = profiles.load([profiles.BUILTIN_DIR]).find("asic", "s21-xp")
    meter = power.meter_for("numba-cpu", CPU, profile=asic, rapl_root=tmp_path)
    assert meter.watts == 3645 and "asic/s21-xp" in meter.detail


def test_estimate_is_power_times_time_and_labelled():
    clock = Clock()
    meter = power.EstimateMeter(300.0, "profile gpu/x", clock=clock)
    meter.start()
    clock.t += 3.0
    e = meter.stop()
    assert (e.joules, e.watts, e.seconds, e.source) == (900.0, 300.0, 3.0, "estimate")
    assert e.source in ENERGY_SOURCES and e.detail.startswith("estimate:")
    with pytest.raises(ValueError, match="positive power"):
        power.EstimateMeter(0, "x")


def test_measure_brackets_the_timed_samples_with_the_meter():
    meter = power.EstimateMeter(10.0, "test")
    timing = measure(lambda: sum(range(1000)), meter=meter, budget_s=0.2, min_sample_s=0.005)
    assert timing.energy.source == "estimate"
    assert timing.energy.joules == pytest.approx(10.0 * timing.energy.seconds)
    assert timing.energy.seconds == pytest.approx(timing.window_s, rel=0.2, abs=0.01)

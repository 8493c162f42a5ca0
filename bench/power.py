"""Energy over a timed window, always labelled with where it came from.

`meter_for(backend, device)` picks the best source this machine has for that device:

* `nvml`     NVIDIA GPUs: the total-energy counter (`nvmlDeviceGetTotalEnergyConsumption`, mJ, Volta+);
             where it is unsupported, power (`nvmlDeviceGetPowerUsage`, mW) sampled in a background thread
             and integrated over the window. The counter updates every 20-100 ms: windows under ~1 s are noisy.
* `rapl`     CPUs: `/sys/class/powercap/intel-rapl:N/energy_uj` of every package, with wrap-around
             corrected through `max_energy_range_uj` (also used for AMD packages, which Linux exposes there).
* `estimate` otherwise: the device's profile power (GPU `tdp_w`, CPU `tdp_w`, ASIC `power_w`) x time.

A meter is `start()` then `stop() -> bench.results.Energy`; `bench.timing.measure(meter=...)` brackets
exactly the timed samples with it. The readers take their interfaces as arguments (the `pynvml` module,
the powercap folder) so tests drive them with fakes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bench import backends, profiles
from bench.errors import UsageError
from bench.results import Energy

RAPL_ROOT = Path("/sys/class/powercap")
NVML_SHORT_WINDOW_S = 1.0


class NoEnergySource(UsageError):
    """Neither a counter nor a profile gives this device's power (an unknown GPU without NVML)."""


class EstimateMeter:
    """Energy = a stated power x the window's wall time; `detail` says whose power."""

    def __init__(self, watts: float, detail: str, clock=time.perf_counter):
        if not watts > 0:
            raise ValueError(f"estimate needs a positive power in watts (got {watts!r})")
        self.watts, self.detail, self._clock = float(watts), detail, clock

    def start(self) -> None:
        self._t0 = self._clock()

    def stop(self) -> Energy:
        seconds = self._clock() - self._t0
        return Energy(self.watts * seconds, self.watts, "estimate", seconds, f"estimate: {self.detail}")


class _Ticker:
    """Calls `tick` every `interval_s` in a daemon thread, from start() until stop() (restartable)."""

    def __init__(self, tick, interval_s: float, name: str):
        self.tick, self.interval_s, self.name = tick, interval_s, name

    def start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# --- RAPL --------------------------------------------------------------------------------------


class RaplMeter:
    """Package energy from the powercap counters, summed over packages, wrap-corrected.

    A counter wraps at `max_energy_range_uj` (about 262 kJ: ~20 min at 200 W). Each read is compared
    with the previous one, so one wrap between reads is corrected; `poll_s` (a background thread) keeps
    reads frequent enough for long windows.
    """

    def __init__(self, zones: list[Path], poll_s: float | None = 1.0, clock=time.perf_counter):
        if not zones:
            raise OSError("no RAPL package zones")
        self.zones = list(zones)
        self.ranges = [int((z / "max_energy_range_uj").read_text()) for z in self.zones]
        self.names = [_zone_name(z) for z in self.zones]
        self._read()  # fail now (e.g. permission denied) rather than at stop()
        self.poll_s, self._clock = poll_s, clock
        self._lock = threading.Lock()
        self._ticker = _Ticker(self._advance, poll_s, "rapl-poll") if poll_s else None

    def _read(self) -> list[int]:
        return [int((z / "energy_uj").read_text()) for z in self.zones]

    def _advance(self) -> None:
        now = self._read()
        with self._lock:
            for i, (before, after) in enumerate(zip(self._last, now)):
                self._uj += after - before if after >= before else after + self.ranges[i] - before
            self._last = now

    def start(self) -> None:
        self._uj, self._last = 0, self._read()
        self._t0 = self._clock()
        if self._ticker is not None:
            self._ticker.start()

    def stop(self) -> Energy:
        if self._ticker is not None:
            self._ticker.stop()
        self._advance()
        seconds = self._clock() - self._t0
        joules = self._uj / 1e6
        return Energy(joules, joules / seconds if seconds > 0 else 0.0, "rapl", seconds,
                      f"RAPL {' + '.join(self.names)} (wrap-corrected)")


def _zone_name(zone: Path) -> str:
    try:
        return (zone / "name").read_text().strip()
    except OSError:
        return zone.name


def rapl_zones(root: Path = RAPL_ROOT) -> list[Path]:
    """Top-level package zones (intel-rapl:N, not their sub-zones, so nothing is counted twice)."""
    return sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)


# --- NVML --------------------------------------------------------------------------------------


class NvmlCounterMeter:
    """Joules from the difference of NVML's total-energy counter (mJ since the driver loaded).

    The counter advances in steps every 20-100 ms, so a short window can see no step at all: rather than
    report 0 J for real work, power is also sampled over the window (where NVML reads power) and used
    when the counter did not move, with the detail saying so.
    """

    def __init__(self, nvml, handle, label: str, clock=time.perf_counter, interval_s: float = 0.05):
        self.nvml, self.handle, self.label, self._clock = nvml, handle, label, clock
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises where unsupported
        try:
            self._power = NvmlSamplingMeter(nvml, handle, label, interval_s=interval_s, clock=clock)
        except Exception:  # noqa: BLE001 - no power reading: the counter alone
            self._power = None

    def start(self) -> None:
        if self._power is not None:
            self._power.start()
        self._mj0 = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        self._t0 = self._clock()

    def stop(self) -> Energy:
        mj = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) - self._mj0
        seconds = self._clock() - self._t0
        sampled = self._power.stop() if self._power is not None else None
        if mj <= 0 and sampled is not None and sampled.joules > 0:
            return Energy(sampled.joules, sampled.watts, "nvml", sampled.seconds,
                          f"NVML power sampled every {self._power.interval_s * 1e3:.0f} ms and integrated, "
                          f"{self.label}: the total-energy counter did not advance in this {seconds:.2f} s window "
                          "(it steps every 20-100 ms; the power reading is itself averaged by the driver)")
        detail = f"NVML total-energy counter, {self.label}"
        if seconds < NVML_SHORT_WINDOW_S:
            detail += f"; window {seconds:.2f} s is short for a counter updated every 20-100 ms"
        joules = mj / 1e3
        return Energy(joules, joules / seconds if seconds > 0 else 0.0, "nvml", seconds, detail)


class NvmlSamplingMeter:
    """Power sampled every `interval_s` in a background thread, integrated with the trapezoid rule."""

    def __init__(self, nvml, handle, label: str, interval_s: float = 0.05, clock=time.perf_counter):
        self.nvml, self.handle, self.label, self.interval_s, self._clock = nvml, handle, label, interval_s, clock
        nvml.nvmlDeviceGetPowerUsage(handle)  # raises where unsupported
        self._ticker = _Ticker(self._sample, interval_s, "nvml-power")

    def _sample(self) -> None:
        self._samples.append((self._clock(), self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1e3))

    def start(self) -> None:
        self._samples: list[tuple[float, float]] = []
        self._sample()
        self._ticker.start()

    def stop(self) -> Energy:
        self._ticker.stop()
        self._sample()
        pts = self._samples
        joules = sum((t1 - t0) * (w0 + w1) / 2 for (t0, w0), (t1, w1) in zip(pts, pts[1:]))
        seconds = pts[-1][0] - pts[0][0]
        watts = joules / seconds if seconds > 0 else pts[-1][1]
        detail = (f"NVML power sampled every {self.interval_s * 1e3:.0f} ms ({len(pts)} samples, integrated), "
                  f"{self.label}; the energy counter is unsupported here")
        return Energy(joules, watts, "nvml", seconds, detail)


def _nvml_module():
    import pynvml  # nvidia-ml-py

    return pynvml


def nvml_meter(index: int, nvml=None, interval_s: float = 0.05, *, pci_bus_id: str = ""):
    """The NVML meter of a GPU: the energy counter, else sampled power. Raises where NVML cannot.

    The GPU is found by its PCI address where known (CUDA_VISIBLE_DEVICES, srun --gpus-per-task and
    OpenCL renumber devices; NVML does not), else by NVML index `index`.
    """
    nvml = nvml or _nvml_module()
    nvml.nvmlInit()
    if pci_bus_id:
        handle = nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id.encode() if isinstance(pci_bus_id, str) else pci_bus_id)
        where = f"PCI {pci_bus_id}"
    else:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        where = f"GPU {index}"
    name = nvml.nvmlDeviceGetName(handle)
    label = f"{where} ({name.decode() if isinstance(name, bytes) else name})"
    try:
        return NvmlCounterMeter(nvml, handle, label)
    except nvml.NVMLError:
        return NvmlSamplingMeter(nvml, handle, label, interval_s)


# --- choosing a meter --------------------------------------------------------------------------


def _profile_power(profile) -> tuple[float, str]:
    kind = getattr(profile, "kind", "")
    if kind == "asic":
        return profile.power_w, f"profile asic/{profile.id} power_w {profile.power_w:g} W x time"
    label = " (itself an estimate)" if getattr(profile, "derived", False) else ""
    return profile.tdp_w, f"profile {kind}/{profile.id} tdp_w {profile.tdp_w:g} W{label} x time"


def meter_for(backend: str, device, *, profile=None, nvml=None, rapl_root: Path = RAPL_ROOT):
    """The best energy meter for `device` (a kernels.runtime.DeviceInfo) used by `backend`.

    GPUs: NVML (counter, else sampling), found by the device's PCI address (any backend, references such
    as cuBLAS, OpenCL on an NVIDIA GPU), or by index for the CUDA backends where no address is known.
    CPU devices (incl. OpenCL on the CPU and the
    CUDA simulator, which runs on the CPU): RAPL. Otherwise an estimate from `profile` (default: the
    profile matching the device, see bench.profiles.for_device). Raises NoEnergySource (exit 2) only for
    an unknown GPU without NVML.
    """
    reasons = []
    bus = getattr(device, "pci_bus_id", "")
    if device.kind == "gpu" and (bus or backends.runs_on_cuda(backend)):
        try:
            return nvml_meter(device.index, nvml, pci_bus_id=bus)
        except Exception as exc:  # noqa: BLE001 - NVML raises its own error types, or is missing
            reasons.append(f"NVML unavailable ({exc})")
    if device.kind in ("cpu", "simulator"):
        try:
            return RaplMeter(rapl_zones(rapl_root))
        except (OSError, ValueError) as exc:
            reasons.append(f"RAPL unavailable ({exc.__class__.__name__}: {exc})"
                           if not isinstance(exc, PermissionError) else
                           "RAPL not readable (permission denied: run as root or make energy_uj readable)")
    if profile is None:
        profile = profiles.for_device(device)
    if profile is None:
        raise NoEnergySource(
            f"no energy source for {device.name}: {'; '.join(reasons) or 'no counter'} and no GPU profile matches "
            "its name; add one under hardware_profiles/gpu/ with a `match` pattern"
        )
    watts, detail = _profile_power(profile)
    why = f"; {'; '.join(reasons)}" if reasons else ""
    return EstimateMeter(watts, detail + why)

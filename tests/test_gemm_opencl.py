"""OpenCL GEMM for real on every device that builds (PoCL, Intel's CPU runtime): the CPU (float16 vectors) and
GPU (local-memory) kernels both run on each."""

from types import SimpleNamespace

import numpy as np
import pytest

from kernels.gemm import opencl, verify
from tests import opencl_devices


@pytest.fixture(params=opencl_devices.params())
def device(request):
    return opencl_devices.checked(request.param)


SHAPES = [(1, 1, 1), (1, 1024, 300), (6, 16, 5), (9, 33, 65), (97, 131, 67), (64, 64, 16), (65, 65, 17),
          (130, 3, 40), (17, 200, 1)]


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_matches_numpy_float64(variant, m, n, k, device):
    rng = np.random.default_rng(m * n + k)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    c = opencl.matmul(a, b, variant=variant, device=device)
    assert isinstance(c, np.ndarray) and c.shape == (m, n) and c.dtype == np.float32
    result = verify.check(c, a, b, "fp32")
    assert result.ok, result.what


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_resident_operands_stay_on_the_device(variant, device):
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((3, 70)).astype(np.float32), rng.standard_normal((70, 45)).astype(np.float32)
    wd = opencl.to_device(w, variant=variant, device=device)
    xd = opencl.to_device(x, variant=variant, device=device)
    c1 = opencl.matmul(xd, wd, device=device)
    assert isinstance(c1, opencl.DeviceMatrix) and c1.shape == (3, 45)
    c2 = opencl.matmul(x, wd, device=device)  # host activations, resident weights: the result stays on the device
    opencl.synchronize(device)
    for c in (c1, c2):
        assert verify.check(opencl.to_host(c), x, w, "fp32").ok
    np.testing.assert_array_equal(opencl.to_host(wd), w)
    if variant == "cpu":  # B is packed once, on first use, and reused
        panels = wd.panels
        assert panels is not None
        opencl.matmul(xd, wd, device=device)
        assert wd.panels is panels
    eye = opencl.to_device(np.eye(45, dtype=np.float32), variant=variant, device=device)
    chained = opencl.matmul(c1, eye, device=device)
    np.testing.assert_allclose(opencl.to_host(chained), opencl.to_host(c1), rtol=1e-6)


def test_device_kind_picks_the_kernel(device):
    kind = next(d.kind for d in opencl.devices() if d.index == device)
    assert opencl.layout(device).variant == ("cpu" if kind == "cpu" else "gpu")
    gpu = opencl.layout(device, "gpu")
    assert (gpu.rows, gpu.cols, gpu.local) == (64, 64, (16, 16))


@pytest.mark.parametrize("target,tile", [("HSTR: pthread-x86_64-unknown-linux-gnu-znver3", (6, 1)),
                                         ("HSTR: pthread-x86_64-unknown-linux-gnu-sapphirerapids", (8, 2)),
                                         ("HSTR: pthread-x86_64-unknown-linux-gnu-znver4", (8, 2))])
def test_cpu_tile_follows_the_instruction_set_pocl_targets(monkeypatch, target, tile):
    monkeypatch.setattr(opencl.runtime, "device", lambda index=0: SimpleNamespace(version=f"OpenCL 3.0 PoCL {target}"))
    monkeypatch.setattr(opencl.runtime, "is_cpu", lambda index=0: True)
    monkeypatch.setattr(opencl.runtime, "platform_kind", lambda index=0: "pocl")
    lay = opencl.layout(0)
    assert (lay.rows, lay.cols // 16) == tile
    assert f"-DCPU_ROWS={tile[0]}" in lay.options


@pytest.mark.parametrize("flags,tile", [(("avx2", "fma"), (6, 1)),
                                        (("avx2", "avx512f", "avx512vl", "avx512bw", "avx512dq"), (8, 2))])
def test_cpu_tile_follows_the_host_on_runtimes_that_compile_for_it(monkeypatch, flags, tile):
    """Intel's CPU runtime compiles for the host: the host's flags pick the tile, not a PoCL target name."""
    monkeypatch.setattr(opencl.runtime, "device", lambda index=0: SimpleNamespace(version="OpenCL 3.1 (Build 0)"))
    monkeypatch.setattr(opencl.runtime, "is_cpu", lambda index=0: True)
    monkeypatch.setattr(opencl.runtime, "platform_kind", lambda index=0: "intel")
    monkeypatch.setattr(opencl.cpu, "cpu_flags", lambda: flags)
    lay = opencl.layout(0)
    assert (lay.rows, lay.cols // 16) == tile


def test_bad_inputs_raise_value_errors_that_say_what():
    a = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="opencl:0 has no fp64; it has fp32"):
        opencl.matmul(a, a.T, dtype="fp64")
    with pytest.raises(ValueError, match="A is 4x5 but B is 4x5"):
        opencl.matmul(a, a)
    with pytest.raises(ValueError, match="unknown OpenCL GEMM variant 'fpga'"):
        opencl.matmul(a, a.T, variant="fpga")
    with pytest.raises(ValueError, match="laid out for the cpu kernel, B for the gpu kernel"):
        opencl.matmul(opencl.to_device(a, variant="cpu"), opencl.to_device(a.T, variant="gpu"))
    with pytest.raises(ValueError, match="opencl: no device 7"):
        opencl.matmul(a, a.T, device=7)

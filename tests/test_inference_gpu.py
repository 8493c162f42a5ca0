"""The decoder on the CUDA backends: numba-cuda in the simulator (CI), cupy / numba-cuda on a real GPU.

The simulator must be on before numba.cuda is first imported, so that run is a subprocess. On a real GPU
(tests marked `gpu`) the non-GEMM work runs in CuPy on the device; logits are checked against the float64
reference on the same tokens, and the workload's own cases run with their verification.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from bench import backends
from bench.workloads import inference as wl
from kernels.inference import config, reference, weights
from kernels.inference.model import Model
from kernels.runtime import cuda as cuda_runtime
from tests import nvrtc, simulator

SIMULATED = """
import json
import numpy as np
from kernels.gemm import numba_cuda
from kernels.inference import config, reference, weights
from kernels.inference.model import Model
cfg = config.ModelConfig("tiny", n_layers=1, d_model=32, d_ffn=48, n_heads=4, n_kv_heads=2, vocab=40,
                         rope_theta=1e4, max_context=8)
w = weights.random_weights(cfg, 0)
m = Model(w, numba_cuda)
cache = m.new_cache(1, 4)
pre = m.prefill(np.array([[1, 5, 7]]), cache)
dec = m.decode(np.array([3]), cache, 3)
ref = reference.forward(w, [1, 5, 7, 3])
err = lambda got, want: float(np.abs(got - want).max() / np.abs(want).max())
print(json.dumps({"on_device": m.on_device, "types": [type(pre).__name__, type(dec).__name__],
                  "errors": [err(pre[0], ref[2]), err(dec[0], ref[3])]}))
"""


def test_numba_cuda_backend_in_the_simulator():
    out = simulator.run_script(SIMULATED)
    assert out["on_device"] is False  # no CuPy in the simulator: the host runs the rest
    assert out["types"] == ["ndarray", "ndarray"]
    assert max(out["errors"]) < 1e-5


def _gpu(backend: str) -> tuple[bool, str]:
    if cuda_runtime.simulator_enabled():
        return False, "NUMBA_ENABLE_CUDASIM is set: no real GPU"
    mod = backends.module("inference", backend)
    if mod is None:
        return False, f"kernels/gemm has no {backend} backend yet"
    ok, reason = mod.available()
    if ok and not cuda_runtime.cupy_status()[0]:
        return False, f"cupy is needed for the on-device decoder: {cuda_runtime.cupy_status()[1]}"
    return ok, reason


@pytest.fixture(params=["cupy", "numba-cuda"])
def backend(request) -> str:
    ok, why = _gpu(request.param)
    if not ok:
        pytest.skip(f"needs a CUDA GPU: {why}")
    return request.param


@pytest.mark.gpu
def test_real_gpu_logits_match_reference_and_stay_on_device(backend):
    cfg = config.SMOLLM2_135M.with_(n_layers=2, vocab=512, max_context=64)
    w = weights.random_weights(cfg, 1)
    mod = backends.module("inference", backend)
    tokens = np.random.default_rng(0).integers(0, cfg.vocab, (3, 12))
    for dtype in [d for d in ("fp32", "tf32", "bf16", "fp16") if d in mod.dtypes(0)]:
        m = Model(w, mod, dtype=dtype)
        assert m.on_device
        cache = m.new_cache(3, 13)
        pre = m.prefill(tokens[:, :11], cache)
        dec = m.decode(tokens[:, 11], cache, 11)
        assert type(dec).__module__.startswith("cupy")
        tol = wl.TOLERANCE[dtype]
        for b in range(3):
            ref = reference.forward(w, tokens[b])
            for got, want in ((m.to_host(pre)[b], ref[10]), (m.to_host(dec)[b], ref[11])):
                assert np.abs(got - want).max() / np.abs(want).max() < tol, dtype


@pytest.mark.gpu
def test_real_gpu_workload_cases_verify(backend):
    from bench.timing import measure

    found = wl.cases(backends.require("inference", backend), quick=True)
    assert {c.params["batch"] for c in found} >= {1, 16}
    for case in found:
        timing = measure(case.prepare(), timer=case.timer() if case.timer else None, budget_s=0.2, min_repeats=2)
        ok, what = case.verify(timing.output)
        assert ok, what


@pytest.mark.skipif(nvrtc.nvrtc() is None, reason="cuda-bindings (NVRTC) not installed; pip install 'numba-cuda[cu13]'")
def test_decoder_kernels_compile_with_nvrtc_as_cupy_does():
    from kernels.inference import cuda_ops

    built = nvrtc.compile_like_cupy(cuda_ops.SOURCE.read_text(encoding="utf-8"), ("-std=c++17",))
    assert built.ok, (built.options, built.log)
    for name in ("rms_norm", "rope_store", "attend_one", "swiglu"):
        assert f".entry {name}" in built.ptx
    assert "local" not in built.ptx.split(".entry attend_one")[1].split(".entry")[0]  # no stack arrays


def _cupy_or_skip():
    ok, why = _gpu("cupy")
    if not ok:
        pytest.skip(f"needs a CUDA GPU: {why}")
    import cupy

    return cupy


@pytest.mark.gpu
def test_real_gpu_fused_kernels_match_the_array_code():
    """Each kernel of decoder_ops.cu against the array code it replaces, on random inputs."""
    cp = _cupy_or_skip()
    from kernels.inference import cuda_ops
    from kernels.inference.model import ArrayOps, KVCache, rope_tables

    cfg = config.SMOLLM2_135M.with_(n_layers=2, max_context=64)
    cos, sin = (cp.asarray(t) for t in rope_tables(cfg.head_dim, cfg.max_context, cfg.rope_theta))
    fused, plain = cuda_ops.CudaOps(cfg, cos, sin, cp, 0), ArrayOps(cfg, cos, sin, cp)
    rng = np.random.default_rng(7)
    rand = lambda *shape: cp.asarray(rng.standard_normal(shape).astype(np.float32))  # noqa: E731
    close = lambda got, want, tol=2e-6: float(cp.abs(got - want).max() / cp.abs(want).max()) < tol  # noqa: E731

    x, w = rand(5, cfg.d_model), rand(cfg.d_model)
    assert close(fused.rms_norm(x, w), plain.rms_norm(x, w))
    gu = rand(3, 2 * cfg.d_ffn)
    assert close(fused.swiglu(gu), plain.swiglu(gu))
    B, T, start, layer = 2, 3, 4, 1
    qkv = rand(B * T, cfg.d_model + 2 * cfg.kv_dim)
    caches = [KVCache(cfg, B, 16, cp) for _ in range(2)]
    for c in caches:
        c.k[...], c.v[...] = rand(*c.k.shape), rand(*c.v.shape)
    caches[1].k[...], caches[1].v[...] = caches[0].k, caches[0].v
    q_fused = fused.rope_store(qkv, caches[0], layer, B, T, start, fused.at(B, T, start))
    q_plain = plain.rope_store(qkv, caches[1], layer, B, T, start, plain.at(B, T, start))
    assert close(q_fused, q_plain.reshape(B * T, -1))
    assert close(caches[0].k, caches[1].k)  # rotated K: rounding may differ (FMA)
    assert bool((caches[0].v == caches[1].v).all())  # V: copied as is
    q = rand(B, cfg.n_heads * cfg.head_dim)
    for position in (0, 7, 15):
        got = fused.attention(q, caches[0], layer, B, 1, position, fused.at(B, 1, position))
        want = plain.attention(q, caches[0], layer, B, 1, position, None)
        assert close(got, want.reshape(B, -1), 1e-5), position


@pytest.mark.gpu
def test_real_gpu_graph_decode_matches_the_reference_over_advancing_positions(backend):
    """Both CUDA GEMM backends: cuBLAS through ctypes, or Numba kernels on the capturing stream."""
    cp = _cupy_or_skip()
    cfg = config.SMOLLM2_135M.with_(n_layers=2, vocab=512, max_context=64)
    w = weights.random_weights(cfg, 5)
    m = Model(w, backends.module("inference", backend))
    assert m.ops.fused and m.use_graphs, m.graph_reason
    tokens = np.random.default_rng(5).integers(0, cfg.vocab, (2, 20))
    cache = m.new_cache(2, 20)
    m.prefill(tokens[:, :10], cache)
    steps = [m.to_host(m.decode(tokens[:, p], cache, p)) for p in range(10, 20)]
    assert m.graph_error is None and len(cache.graphs) == 1  # one capture served every position
    again = m.to_host(m.decode(cp.asarray(tokens[:, 19]), cache, 19))  # a replay with device tokens
    assert np.array_equal(again, steps[-1])
    for b in range(2):
        ref = reference.forward(w, tokens[b])
        for p, got in zip(range(10, 20), steps):
            assert np.abs(got[b] - ref[p]).max() / np.abs(ref[p]).max() < wl.TOLERANCE["fp32"], p


# --- the CuPy <-> backend operand conversions, run with NumPy standing in for CuPy -----------------


def test_bf16_conversion_matches_the_cupy_backend_bit_for_bit():
    from kernels.gemm import cupy_cuda
    from kernels.inference import device

    x = np.random.default_rng(0).standard_normal((5, 13)).astype(np.float32) * 1e3
    x[0, :4] = [0.0, -0.0, 1.0 + 2**-8, 1.0 + 3 * 2**-8]  # ties round to even
    np.testing.assert_array_equal(device.bf16_bits(x), cupy_cuda.bf16_bits(x))
    np.testing.assert_array_equal(device.bf16_float32(device.bf16_bits(x)), cupy_cuda.bf16_to_float32(cupy_cuda.bf16_bits(x)))


@pytest.mark.parametrize("dtype", ["fp32", "tf32", "fp16", "bf16"])
def test_cupy_operands_have_the_backend_layout(dtype):
    from kernels.gemm import cupy_cuda
    from kernels.inference import device

    x = np.random.default_rng(1).standard_normal((3, 13)).astype(np.float32)  # 13 columns: padded for 16-bit
    ops = device.operands(cupy_cuda, dtype, 0, np)
    m = ops.operand(x)
    assert isinstance(m, cupy_cuda.CupyMatrix) and (m.shape, m.dtype, m.device) == ((3, 13), dtype, 0)
    assert m.data.dtype == cupy_cuda.STORAGE[dtype] and m.ld % cupy_cuda.ROW_ALIGN[dtype] == 0
    assert not m.data[:, 13:].any()
    back = ops.result(m)
    assert back.dtype == np.float32 and back.shape == (3, 13)
    tol = {"fp32": 0, "tf32": 0, "fp16": 1e-3, "bf16": 1e-2}[dtype]
    np.testing.assert_allclose(back, x, rtol=tol, atol=tol)


def test_no_converter_for_host_backends():
    from kernels.gemm import numpy_blas
    from kernels.inference import device

    with pytest.raises(ValueError, match="on the host"):
        device.operands(numpy_blas, "fp32", 0, np)


# --- the on-device code path, with NumPy standing in for CuPy and for cuBLAS -----------------------


def fake_cupy():
    """NumPy under CuPy's name, with the few CuPy-only calls the decoder makes."""
    import contextlib
    import types

    mod = types.ModuleType("cupy")
    mod.__getattr__ = lambda name: getattr(np, name)
    mod.asnumpy = np.asarray
    mod.cuda = types.SimpleNamespace(Device=lambda index: contextlib.nullcontext())
    return mod


def fake_cupy_backend():
    """kernels.gemm.cupy_cuda's storage (CupyMatrix, padded rows, bf16 bits) with the product done in NumPy."""
    import types

    from kernels.gemm import cupy_cuda as real

    mod = types.ModuleType("fake.cupy_cuda")
    mod.CupyMatrix, mod.ROW_ALIGN = real.CupyMatrix, real.ROW_ALIGN
    mod.available, mod.devices = (lambda: (True, "")), (lambda: [])
    mod.dtypes = lambda device=0: ("fp32", "bf16")
    mod.synchronize = lambda device=0: None

    def logical(x):
        data = x.data[:, : x.cols]
        return real.bf16_to_float32(data) if x.dtype == "bf16" else data.astype(np.float32)

    def to_device(x, *, dtype="fp32", device=0):
        return real.CupyMatrix(real._padded_host(np.asarray(x, np.float32), dtype), *x.shape, dtype, device)

    def matmul(a, b, *, dtype="fp32", device=0):
        assert isinstance(a, real.CupyMatrix) and isinstance(b, real.CupyMatrix), "device operands only"
        assert a.dtype == b.dtype == dtype
        return to_device(logical(a) @ logical(b), dtype=dtype)

    mod.to_device, mod.matmul, mod.to_host = to_device, matmul, logical
    return mod


@pytest.mark.parametrize("dtype,tol", [("fp32", 1e-5), ("bf16", 1e-1)])
def test_on_device_path_with_stand_ins(monkeypatch, dtype, tol):
    from kernels.inference import model as model_module

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy())
    monkeypatch.setattr(model_module, "uses_device_arrays", lambda gemm: True)
    cfg = config.SMOLLM2_135M.with_(n_layers=2, vocab=300, max_context=32)
    w = weights.random_weights(cfg, 4)
    m = Model(w, fake_cupy_backend(), dtype=dtype)
    assert m.on_device and m.xp.__name__ == "cupy"
    assert not m.ops.fused and not m.use_graphs and "no fused CUDA kernels" in m.graph_reason
    tokens = np.random.default_rng(3).integers(0, cfg.vocab, (2, 9))
    cache = m.new_cache(2, 9)
    m.prefill(tokens[:, :8], cache)
    dec = m.to_host(m.decode(tokens[:, 8], cache, 8))
    for b in range(2):
        ref = reference.forward(w, tokens[b])[-1]
        assert np.abs(dec[b] - ref).max() / np.abs(ref).max() < tol

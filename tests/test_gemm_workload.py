"""The GEMM workload declaration: cases, references, verification, efficiency, and `bench run --workload gemm`."""

import json

import numpy as np
import pytest

from bench import backends
from bench.errors import UsageError
from bench.workloads import gemm
from kernels.gemm import numba_cuda, shapes
from kernels.runtime import DeviceInfo, cpu
from tests.cli import assert_usage_error, run_cli


def _selected(*names):
    return [s for name in names for s in backends.require("gemm", name)]


def test_quick_cpu_cases_point_at_numpy_references_with_the_same_params():
    found = gemm.cases(_selected("numba-cpu", "numpy"), quick=True)
    refs = {c.key: c for c in found if c.is_reference}
    own = [c for c in found if not c.is_reference]
    assert len({c.key for c in found}) == len(found)
    assert {c.backend for c in refs.values()} == {"numpy"}  # numpy runs once, as the reference
    assert {c.backend for c in own} == {"numba-cpu"}
    for case in own:
        ref = refs[case.reference]
        assert ref.params == case.params and ref.device.kind == "cpu"
        assert case.metric == "flop_per_s" and case.unit == "FLOP/s"
        assert case.work_per_call == 2 * case.params["m"] * case.params["n"] * case.params["k"]
    quick = {(s.m, s.n, s.k) for s in shapes.quick()}
    assert {(c.params["m"], c.params["n"], c.params["k"]) for c in own} == quick
    assert {c.params["dtype"] for c in own} == {"fp32", "fp64"}


def test_full_cpu_run_keeps_fp64_to_square_shapes():
    found = gemm.cases(_selected("numba-cpu"), quick=False)
    fp64 = [c for c in found if c.params["dtype"] == "fp64"]
    assert fp64 and all(c.params["m"] == c.params["n"] == c.params["k"] for c in fp64)
    assert any(c.params["m"] == 1 and c.params["dtype"] == "fp32" for c in found)  # decode shapes run


@pytest.mark.parametrize("backend", ["numba-cpu", "numpy", "opencl"])
def test_a_case_verifies_and_reports_error_and_peak(backend):
    found = gemm.cases(_selected(backend), quick=True, shapes_only=["37x70x45"], dtypes_only=["fp32"])
    case = next(c for c in found if c.backend == backend)
    step = case.prepare()
    out = step()
    if case.sync:
        case.sync()
    ok, what = case.verify(out)
    assert ok, what
    assert "max rel error" in what and "K=45" in what
    extra = case.extra(1e-3)
    assert 0 < extra["max_rel_error"] < extra["tolerance"]
    assert extra["flop_per_call"] == 2 * 37 * 70 * 45
    if extra["peak_flop_per_s"] is not None:  # the host profile: a derived peak, labelled so
        assert extra["fraction_of_peak"] == pytest.approx(extra["flop_per_call"] / 1e-3 / extra["peak_flop_per_s"])
        assert "derived" in extra["peak_source"]
    assert case.verify(out) == (False, "no operands to check against (prepare did not run)")


def test_a_wrong_result_fails_verification():
    case = next(c for c in gemm.cases(_selected("numpy"), quick=True, shapes_only=["8x8x8"]) if c.params["dtype"] == "fp32")
    out = case.prepare()()
    out[3, 5] += 1.0
    ok, what = case.verify(out)
    assert not ok and "tolerance" in what


def test_peak_comes_from_profiles_or_is_left_out():
    h100 = DeviceInfo(0, "NVIDIA H100 80GB HBM3", "gpu")
    value, source = gemm.peak(h100, "bf16")
    assert value == pytest.approx(989.4e12) and "h100-sxm" in source
    assert gemm.peak(DeviceInfo(0, "Some Future GPU 9000", "gpu"), "bf16") == (None, None)
    value, source = gemm.peak(cpu.devices()[0], "fp32")
    assert value is None or "derived" in source


def test_simulator_device_gets_one_tiny_shape_and_no_reference(monkeypatch):
    sim = DeviceInfo(0, "Numba CUDA simulator (runs on the CPU)", "simulator")
    monkeypatch.setattr(numba_cuda, "dtypes", lambda device=0: ("fp32",))
    found = gemm.cases([backends.Selected("numba-cuda", numba_cuda, sim)], quick=False)
    assert [(c.params["m"], c.params["n"], c.params["k"], c.reference) for c in found] == [(19, 33, 21, None)]


@pytest.mark.parametrize("shapes_only,dtypes_only,words", [
    (["2048x2048"], [], ["MxNxK"]),
    (["0x8x8"], [], ["at least 1"]),
    ([], ["fp8"], ["unknown GEMM dtype 'fp8'", "bf16"]),
])
def test_bad_shape_or_dtype_is_a_usage_error(shapes_only, dtypes_only, words):
    with pytest.raises(UsageError) as info:
        gemm.cases(_selected("numpy"), quick=True, shapes_only=shapes_only, dtypes_only=dtypes_only)
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_bench_run_workload_gemm_end_to_end(tmp_path):
    result = run_cli("run", "--workload", "gemm", "--quick", "--backend", "numpy", "--json", "-",
                     "--out", str(tmp_path))
    assert result.code == 0, result.err
    run = json.loads(result.out)
    gemm_results = [r for r in run["results"] if r["workload"] == "gemm"]
    assert gemm_results and all(r["verified"] for r in gemm_results)
    assert all(r["metric"] == "flop_per_s" and r["value"] > 0 for r in gemm_results)
    assert all(r["extra"]["max_rel_error"] is not None for r in gemm_results)


def test_bench_run_gemm_on_a_missing_backend_exits_2():
    assert_usage_error(run_cli("run", "--workload", "gemm", "--backend", "cupy"), "cupy")


def test_operands_are_deterministic_per_shape():
    s = shapes.Shape(5, 6, 7)
    a1, b1 = gemm.operands(s, "fp32")
    a2, b2 = gemm.operands(s, "fp32")
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2) and a1.dtype == np.float32
    assert gemm.operands(s, "fp64")[0].dtype == np.float64

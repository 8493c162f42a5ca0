"""GEMM shape sets, `MxNxK` parsing, operand checks, dtype names and the float64 verification."""

import numpy as np
import pytest

from kernels.gemm import shapes, verify


def test_parse_shape_reads_m_n_k():
    s = shapes.parse_shape("5124x700x2048")
    assert (s.m, s.n, s.k) == (5124, 700, 2048)
    assert s.flop == 2 * 5124 * 700 * 2048
    assert shapes.parse_shape(" 1 X 2 x 3 ").text == "1x2x3"


@pytest.mark.parametrize(
    "text,words",
    [
        ("2048x2048", ["MxNxK"]),
        ("axbxc", ["MxNxK"]),
        ("1x2x3x4", ["MxNxK"]),
        ("-1x2x3", ["MxNxK"]),
        ("0x16x16", ["at least 1"]),
        ("", ["MxNxK"]),
    ],
)
def test_parse_shape_rejects_with_one_line(text, words):
    with pytest.raises(ValueError) as info:
        shapes.parse_shape(text)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_llama_layers_have_published_widths():
    by_name = {s.name: s for s in shapes.llama()}
    q = by_name["llama3-8b q M=16"]
    assert (q.m, q.n, q.k) == (16, 4096, 4096)
    kv = by_name["llama3-8b k/v M=1"]
    assert (kv.n, kv.k) == (1024, 4096)  # 8 KV heads x 128
    down = by_name["llama3-70b down M=2048"]
    assert (down.m, down.n, down.k) == (2048, 8192, 28672)
    assert {s.m for s in shapes.llama()} == set(shapes.LLAMA_TOKENS)
    assert len(shapes.llama()) == 2 * 4 * 5


def test_shape_sets_cover_the_issue():
    texts = {s.text for s in shapes.all_shapes()}
    for t in ("256x256x256", "8192x8192x8192", "5124x700x2048", "35x700x2048", "7680x1x2560", "3072x4x1024"):
        assert t in texts
    quick = shapes.select("cpu", quick_run=True)
    assert all(s.flop <= 2 * 512**3 for s in quick)
    assert any(s.m == 1 for s in quick) and any(s.m % 8 and s.n % 32 for s in quick)


def test_select_caps_cpu_work_but_not_gpu():
    cpu = shapes.select("cpu")
    gpu = shapes.select("gpu")
    assert max(s.flop for s in cpu) <= 2 * 2048**3 and max(s.k * s.n for s in cpu) <= 2**27
    assert {"llama3-8b gate/up M=128", "llama3-70b q M=1", "deepbench 7680x1x2560"} <= {s.name for s in cpu}
    assert "llama3-70b gate/up M=1" not in {s.name for s in cpu}  # a 940 MB weight in fp32
    assert len(gpu) == len(shapes.all_shapes())
    assert "4096x4096x4096" in {s.text for s in shapes.select("gpu", quick_run=True)}
    assert [s.text for s in shapes.select("simulator")] == ["19x33x21"]


@pytest.mark.parametrize(
    "a,b,words",
    [
        ((3, 4), (5, 6), ["3x4", "5x6", "columns (4)", "rows (5)"]),
        ((3, 4, 1), (4, 6), ["2-D", "(3, 4, 1)"]),
        ((0, 4), (4, 6), ["at least 1"]),
    ],
)
def test_check_operands_names_the_shapes(a, b, words):
    with pytest.raises(ValueError) as info:
        shapes.check_operands(a, b)
    for word in words:
        assert word in str(info.value)


def test_check_dtype_names_the_valid_ones():
    assert verify.check_dtype("bf16") == "bf16"
    with pytest.raises(ValueError, match="unknown GEMM dtype 'fp8'; choose one of fp64, fp32, tf32, fp16, bf16"):
        verify.check_dtype("fp8")
    with pytest.raises(ValueError, match="numpy:0 has no bf16; it has fp64, fp32"):
        verify.check_dtype("bf16", ("fp64", "fp32"), "numpy:0")


def test_host_array_converts_and_rejects():
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    y = verify.host_array(x.T, "fp32", "A")
    assert y.dtype == np.float32 and y.flags.c_contiguous and np.array_equal(y, x.T)
    same = np.ones((2, 2), np.float32)
    assert verify.host_array(same, "fp32") is same  # no copy when nothing to change
    with pytest.raises(ValueError, match="A has dtype complex128"):
        verify.host_array(x.astype(complex), "fp32", "A")
    with pytest.raises(ValueError, match="2-D"):
        verify.host_array(np.ones(3), "fp32", "B")


def test_tolerance_scales_with_k_and_epsilon():
    assert verify.tolerance("fp32", 4096) > 10 * verify.tolerance("fp32", 64)
    assert verify.tolerance("bf16", 64) > verify.tolerance("fp16", 64) > verify.tolerance("fp32", 64)
    assert verify.tolerance("fp64", 1024) < 1e-12


def test_check_accepts_float32_rounding_and_catches_one_wrong_element():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((40, 300)), rng.standard_normal((300, 50))
    c = (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float32)
    good = verify.check(c, a, b, "fp32")
    assert good.ok and 0 < good.max_rel_error < good.tolerance
    assert "all rows" in good.what and "fp32" in good.what
    c[17, 23] += 1e-2 * abs(c[17, 23]) + 1e-2
    bad = verify.check(c, a, b, "fp32")
    assert not bad.ok and bad.max_rel_error > bad.tolerance
    assert not verify.check(c[:, :-1], a, b, "fp32").ok  # wrong shape
    c[0, 0] = np.nan
    assert verify.check(c, a, b, "fp32").max_rel_error == float("inf")


def test_check_samples_rows_of_big_results_including_the_last(monkeypatch):
    rows = verify.sample_rows(10_000, 64)
    assert len(rows) == 64 and rows[0] == 0 and rows[-1] == 9_999 and len(set(rows)) == 64
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((700, 8)), rng.standard_normal((8, 5))
    c = a @ b
    c[-1, 0] += 1.0
    result = verify.check(c, a, b, "fp64", max_rows=100)
    assert not result.ok and "100 of 700 rows" in result.what
    monkeypatch.setattr(verify, "CHECK_MACS", 1000)  # as if K x N were huge: 1000 // (10 * 20) < 16 rows
    assert "16 of 40 rows" in verify.check(np.zeros((40, 20)), np.zeros((40, 10)), np.zeros((10, 20)), "fp32").what

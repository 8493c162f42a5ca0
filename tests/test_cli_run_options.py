"""`bench run` workload options (--shape, --dtype, --model, --prompt, --batch): bad values exit 2 with one
line before anything is measured; good ones narrow the run."""

import json

import pytest

from tests.cli import assert_usage_error, run_cli


@pytest.mark.parametrize(
    "args,words",
    [
        (["--workload", "gemm", "--shape", "12x"], ["bad GEMM shape", "MxNxK"]),
        (["--workload", "gemm", "--shape", "0x8x8"], ["bad GEMM shape"]),
        (["--workload", "gemm", "--dtype", "fp8"], ["unknown GEMM dtype", "fp32"]),
        (["--workload", "inference", "--model", "smollm2-135m:n_heads=7"], ["does not divide"]),
        (["--workload", "inference", "--model", "gpt-9"], ["gpt-9"]),
        (["--workload", "inference", "--prompt", "100000"], ["longer than the context"]),
        (["--workload", "inference", "--batch", "0"], ["batch"]),
        (["--workload", "sha256d", "--shape", "8x8x8"], ["--shape", "--workload gemm"]),
        (["--workload", "sha256d", "--model", "smollm2-135m"], ["--model", "--workload inference"]),
    ],
)
def test_bad_workload_options_exit_2(args, words, tmp_path):
    assert_usage_error(run_cli("run", *args, "--quick", "--out", str(tmp_path)), *words)


def test_shape_and_dtype_narrow_the_gemm_run(tmp_path):
    result = run_cli("run", "--workload", "gemm", "--backend", "numpy", "--shape", "33x17x9", "--dtype", "fp64",
                     "--quick", "--budget", "0.05", "--out", str(tmp_path), "--json", "-")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [r["params"] for r in doc["results"]] == [{"m": 33, "n": 17, "k": 9, "dtype": "fp64"}]
    assert all(r["verified"] for r in doc["results"])

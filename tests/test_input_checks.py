"""Inputs checked before they reach the kernels or the allocator, names shown as text, and the messages the
issue found misleading (a space in a header, --start 010, --start past 2**32 without --count)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from bench import cli
from bench.errors import UsageError
from bench.runner import Options
from bench.runner import resources as res
from bench.workloads import Case
from kernels.runtime import DeviceInfo, numba_cache

HEADER = ("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e"
          "67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c")
GiB = 1 << 30


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    return lines[0]


# --- memory, before anything is allocated ------------------------------------------------------------


def test_a_gemm_shape_larger_than_memory_is_refused_before_planning():
    with pytest.raises(UsageError, match=r"--shape 100000x100000x100000 needs at least 111.8 GiB.*16.0 GiB"):
        res.check_options(Options(workloads=["gemm"], shapes=["100000x100000x100000"]), host_bytes=16 * GiB)
    res.check_options(Options(workloads=["gemm"], shapes=["2048x2048x2048"]), host_bytes=16 * GiB)


def test_a_batch_larger_than_memory_is_refused_before_planning():
    with pytest.raises(UsageError, match=r"--batch 100000000 needs at least"):
        res.check_options(Options(workloads=["inference"], batches=[100_000_000]), host_bytes=16 * GiB)
    res.check_options(Options(workloads=["inference"], batches=[16], prompt=64), host_bytes=16 * GiB)


def _case(workload: str, params: dict, memory: int) -> Case:
    return Case(workload=workload, backend="x", device=DeviceInfo(0, "Small GPU", "gpu", memory), params=params,
                metric="flop_per_s", unit="FLOP/s", work_per_call=1.0, prepare=lambda: None,
                verify=lambda out: (True, ""))


def test_a_case_larger_than_its_device_is_refused_with_the_device_named():
    big = _case("gemm", {"m": 40000, "n": 40000, "k": 40000, "dtype": "fp32"}, 8 * GiB)  # 17.9 GiB of operands
    with pytest.raises(UsageError, match="Small GPU has 8.0 GiB"):
        res.check_cases([big], host_bytes=1024 * GiB)
    kv = _case("inference", {"model": "smollm2-135m", "batch": 4096, "prompt": 8000, "dtype": "fp32"}, 8 * GiB)
    with pytest.raises(UsageError, match="--batch/--prompt"):
        res.check_cases([kv], host_bytes=1024 * GiB)
    res.check_cases([_case("gemm", {"m": 512, "n": 512, "k": 512, "dtype": "fp32"}, 8 * GiB)], host_bytes=16 * GiB)


def test_the_cli_refuses_a_huge_shape_in_one_line():
    code, _, err = call("run", "--workload", "gemm", "--backend", "numpy", "--quick", "--shape", "100000x100000x100000")
    assert code == 2 and "needs at least" in one_line(err)


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0"])
def test_budget_must_be_finite_and_positive(value):
    code, _, err = call("run", "--quick", "--budget", value)
    assert code == 2 and "--budget" in one_line(err)


# --- mine: targets and the misleading messages --------------------------------------------------------


@pytest.mark.parametrize("target,words", [
    ("-" + "0" * 63, "not hex"),
    ("+" + "f" * 63, "not hex"),
    ("00_" + "f" * 61, "not hex"),
    ("0" * 64, "met by no hash"),
])
def test_a_bad_target_is_refused_at_the_cli(target, words):
    code, _, err = call("mine", "--header", HEADER, "--count", "10", "--target", target)
    assert code == 2 and words in one_line(err)


def test_a_header_with_spaces_is_read_as_its_hex_digits():
    code, out, err = call("mine", "--header", HEADER[:80] + " " + HEADER[80:], "--count", "10", "--json", "-")
    assert code == 0, err
    assert '"complete": true' in out


def test_start_past_the_last_nonce_without_count_names_start():
    code, _, err = call("mine", "--header", HEADER, "--start", str(2**32))
    line = one_line(err)
    assert code == 2 and "--start" in line and "--count" not in line


def test_start_010_is_ten():
    code, out, err = call("mine", "--header", HEADER, "--start", "010", "--count", "5", "--json", "-")
    assert code == 0 and '"start": 10' in out, err


# --- user strings shown as text -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Evil [/bold] miner", "Hydro [hydro] unit"])
def test_profile_names_with_markup_are_shown_literally(tmp_path, monkeypatch, name):
    (tmp_path / "asic").mkdir()
    (tmp_path / "asic" / "evil.toml").write_text(
        f'id = "evil"\nkind = "asic"\nname = "{name}"\nvendor = "X"\nhashrate_ths = 100\npower_w = 3000\n'
        'efficiency_jth = 30\ncooling = "air"\nsources = ["estimate: a test"]\n')
    monkeypatch.setenv("SITEBENCH_PROFILES", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    code, out, err = call("profiles")
    assert code == 0, err
    assert name in out


# --- a read-only install ---------------------------------------------------------------------------------


def test_an_unwritable_numba_cache_is_pointed_at_the_suite_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SITEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    env = {"NUMBA_CACHE_DIR": "/proc/sitebench-none/numba"}
    chosen = numba_cache.ensure_writable_cache(env)
    assert chosen == env["NUMBA_CACHE_DIR"] == str(tmp_path / "cache" / "numba")
    assert Path(chosen).is_dir() and os.access(chosen, os.W_OK)


def test_a_working_numba_cache_setting_is_left_alone(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    assert numba_cache.ensure_writable_cache(env) is None and env["NUMBA_CACHE_DIR"] == str(tmp_path)


def test_a_read_only_kernels_folder_gets_a_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SITEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(numba_cache, "KERNELS", Path("/proc/sitebench-none"))
    env: dict = {}
    assert numba_cache.ensure_writable_cache(env) == str(tmp_path / "cache" / "numba")

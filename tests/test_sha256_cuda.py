"""CUDA backends (numba-cuda, cupy) without a GPU, and on one when there is one.

Without a GPU: the Numba kernels run the whole shared backend suite in the CUDA simulator (which must be
switched on before numba.cuda is first imported, so in a subprocess); the Numba scan kernel compiles to
PTX for sm_90 and sm_100 with funnel shifts, IMAD adds and no local memory; sha256d.cu compiles with nvcc,
and with NVRTC as CuPy does, for both, without spills (tests/test_sha256_sass.py counts their SASS, and
tests/test_sha256_rounds.py runs the generated code on the CPU). With a GPU, the `gpu`-marked tests run
both backends on large windows and batches.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess

import pytest

from bench import backends
from kernels.sha256 import device_scan
from kernels.sha256 import reference as ref
from tests import headers as H
from tests import nvrtc, simulator
from tests.cli import assert_usage_error, run_cli

GENESIS = ref.parse_header_hex(H.GENESIS)
BLOCK_125552 = ref.parse_header_hex(H.BLOCK_125552)


def test_numba_kernels_pass_the_backend_suite_in_the_simulator():
    proc = simulator.run(["-m", "pytest", "tests/test_sha256_backends.py", "-k", "numba-cuda", "-q", "-rs",
                          "-p", "no:cacheprovider"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "skipped" not in summary, summary


@pytest.mark.slow
@pytest.mark.skipif(not nvrtc.nvvm_status()[0], reason=nvrtc.nvvm_status()[1])
@pytest.mark.parametrize("cc", [(9, 0), (10, 0)], ids=["sm_90", "sm_100"])
def test_numba_scan_kernel_ptx(cc):
    from kernels.sha256 import numba_cuda

    arch = f"sm_{cc[0]}{cc[1]}"
    ptx = numba_cuda.ptx("scan", cc=cc)
    assert f".target {arch}" in ptx
    assert ptx.count("shf.r.wrap.b32") > 900  # every rotation a funnel shift (1072 in the two hashes)
    assert ptx.count("mad.lo.u32") > 900  # the adds through IMAD (kernels/sha256/rounds.py)
    assert "ld.local" not in ptx and "st.local" not in ptx  # message schedule and state in registers
    assert re.search(r"atom\.(\w+\.)*global\.add", ptx)  # hits through the atomic counter (sm_100: atom.relaxed.sys)
    loads = re.findall(r"ld\.param\.[ub]32", ptx)  # sm_100's PTX writes .b32
    assert len(loads) >= device_scan.JOB_WORDS  # the job is kernel parameters (constant bank)
    sass = nvrtc.link_like_numba(ptx, arch=arch)  # what numba-cuda loads: nvJitLink's cubin, no driver JIT
    assert sass.spill_bytes == 0 and sass.local_bytes == 0, sass.log
    assert sass.registers <= 255 // 2, sass.log  # at least 2 blocks of 256 threads resident per SM


NVCC = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)


@pytest.mark.skipif(NVCC is None, reason="nvcc not found (CUDA toolkit); the .cu is then only compiled by CuPy on a GPU")
def test_cuda_c_source_compiles_alone_for_sm90_without_spills(tmp_path):
    source = device_scan.HERE / "sha256d.cu"  # no -D options: the generated file is self-contained
    cubin = subprocess.run([NVCC, "-arch=sm_90", "-cubin", "-Xptxas", "-v", str(source), "-o",
                            str(tmp_path / "k.cubin")], capture_output=True, text=True, timeout=600)
    assert cubin.returncode == 0, cubin.stderr
    info = cubin.stdout + cubin.stderr
    scan_info = info[info.index("Function properties for sha256d_scan"):]
    assert "0 bytes spill stores" in scan_info.splitlines()[1], scan_info
    registers = int(re.search(r"Used (\d+) registers", scan_info).group(1))
    assert registers <= 255 // 2, registers  # at least 2 blocks of 256 threads resident per SM
    ptx = subprocess.run([NVCC, "-arch=sm_90", "-ptx", str(source), "-o", "-"], capture_output=True,
                         text=True, timeout=600)
    assert ptx.returncode == 0, ptx.stderr
    assert ptx.stdout.count("shf.r.wrap.b32") > 900 and "ld.local" not in ptx.stdout


@pytest.mark.skipif(nvrtc.nvrtc() is None, reason="cuda-bindings (NVRTC) not installed; pip install 'numba-cuda[cu13]'")
@pytest.mark.parametrize("arch", ["sm_90", "sm_100"])
def test_cuda_c_source_compiles_with_nvrtc_as_cupy_does(arch):
    """CuPy's RawModule compiles with NVRTC, not nvcc: the same source and options (CuPy's own added), minus the GPU."""
    from kernels.sha256 import cupy_cuda

    built = nvrtc.compile_like_cupy(cupy_cuda.module_source(), cupy_cuda.module_options(), arch=arch)
    assert built.ok, (built.options, built.log)
    assert built.cubin_bytes > 0
    assert f".target {arch}" in built.ptx
    for name in (".entry sha256d_scan", ".entry sha256_batch", ".param .u32 sha256d_scan_param_24"):
        assert name in built.ptx, name  # j0..j23, then `one`: the job is kernel parameters
    assert built.ptx.count("shf.r.wrap.b32") > 900 and built.ptx.count("mad.lo.u32") > 900
    assert "ld.local" not in built.ptx


def test_modules_import_without_their_packages():
    from kernels.sha256 import cupy_cuda, numba_cuda  # noqa: F401 - importing must not need cupy / a GPU

    for name in ("cupy", "numba-cuda"):
        status = backends.status("sha256d", name)
        assert status.available or status.reason


def test_backends_json_lists_each_cuda_backend_with_devices_or_a_reason():
    result = run_cli("backends", "--json", "-")
    assert result.code == 0, result.err
    rows = {(r["backend"], r["workload"]): r for r in json.loads(result.out)["backends"]}
    for name in ("cupy", "numba-cuda", "opencl"):
        row = rows[(name, "sha256d")]
        assert (row["available"] and row["devices"]) or (not row["available"] and row["reason"]), row


@pytest.mark.parametrize("name", ["cupy", "numba-cuda"])
def test_mine_on_a_backend_that_cannot_run_exits_2_with_its_reason(name):
    status = backends.status("sha256d", name)
    if status.available:
        pytest.skip(f"{name} can run here")
    result = run_cli("mine", "--header", H.GENESIS, "--count", "16", "--backend", name)
    assert_usage_error(result, name, "cannot run")


# --- on a real GPU ---


def _gpu(name):
    status = backends.status("sha256d", name)
    if not status.available or status.devices[0].kind != "gpu":
        pytest.skip(status.reason or f"{name}: no real GPU (simulator only)")
    return backends.module("sha256d", name), status.devices


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cupy", "numba-cuda"])
def test_gpu_scan_large_windows(name):
    mod, devices = _gpu(name)
    for dev in devices:
        target = ref.header_target(GENESIS)
        assert mod.scan(GENESIS, H.GENESIS_NONCE - (1 << 25), 1 << 26, target, device=dev.index) == [H.GENESIS_NONCE]
        target = ref.header_target(BLOCK_125552)
        start = H.BLOCK_125552_NONCE - (1 << 27)
        assert mod.scan(BLOCK_125552, start, 1 << 28, target, device=dev.index) == [H.BLOCK_125552_NONCE]
        easy = 1 << 246  # about 4000 hits in 2**22 nonces: more than one launch's buffer keeps
        assert mod.scan(GENESIS, 10**6, 1 << 22, easy, device=dev.index) == ref.scan(GENESIS, 10**6, 1 << 22, easy)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cupy", "numba-cuda"])
def test_gpu_hash_batch(name):
    mod, devices = _gpu(name)
    rng = random.Random(3)
    messages = [rng.randbytes(rng.randrange(0, 1000)) for _ in range(5000)] + [b"a" * 1_000_000]
    for dev in devices:
        assert mod.hash_batch(messages, device=dev.index) == [ref.sha256(m) for m in messages]

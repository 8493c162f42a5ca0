"""SASS instruction counts per nonce of both CUDA scan kernels, kept under recorded ceilings (no GPU needed).

Each kernel is compiled for sm_90 (and the CuPy one for sm_100, sm_103 and sm_120) the way its backend does on a GPU (the CuPy kernel with NVRTC, Numba's
PTX linked with nvJitLink), disassembled with cuobjdump, and the nonce loop's instructions counted by
opcode and by pipe (tests/sass.py). SHA-256d is bound by the integer ALU pipe (SHF, LOP3, IADD3): the
ceilings below are the counts of the generated kernels (kernels/sha256/rounds.py) at the commit that
recorded them, plus 1% for the drift between CUDA 13.x compilers. A change that adds instructions to the
loop fails here; one that removes some should lower the ceiling.

Recorded with NVRTC / nvJitLink 13.5 (per nonce, sm_90):
  before the generator (sha256d_core.h for CuPy, the old Numba generator):
    cupy   total 2552, ALU 2259 (SHF 1182, LOP3 637, IADD3 412), FMA 221 (IMAD), model 4518 cycles
    numba  total 2487, ALU 2281 (SHF 1176, LOP3 632, IADD3 412), FMA 190 (IMAD), model 4562 cycles
  the generator, sums through IMAD, Tuning(imad=8, hi_shifts=False):
    cupy   total 2900, ALU 1826 (SHF 1182, LOP3 632, IADD3 0),   FMA 1056 (IMAD), model 3652 cycles
    numba  total 2897, ALU 1823 (SHF 1176, LOP3 630, IADD3 4),   FMA 1056 (IMAD), model 3646 cycles
  the default, sigma's shifts through IMAD.HI too, Tuning(imad=8, hi_shifts=True):
    cupy   total 2900, ALU 1668 (SHF 1024, LOP3 632, IADD3 0),   FMA 1214 (IMAD), model 3336 cycles
    numba  total 2899, ALU 1667 (SHF 1020, LOP3 630, IADD3 4),   FMA 1214 (IMAD), model 3334 cycles
The model (issue cycles per warp per nonce, tests/sass.py) is a comparison, not a measured rate.
"""

from __future__ import annotations

import pytest

from tests import nvrtc, sass

SLACK = 1.01
CEILINGS = {
    ("cupy", "sm_90"): {"total": 2900, "alu": 1668, "SHF": 1024, "LOP3": 632, "IADD3": 0, "model_cycles": 3336},
    ("numba-cuda", "sm_90"): {"total": 2899, "alu": 1667, "SHF": 1020, "LOP3": 630, "IADD3": 4, "model_cycles": 3334},
    # Blackwell (B200), the CuPy kernel only (Numba's sm_100 PTX is checked in test_sha256_cuda.py)
    ("cupy", "sm_100"): {"total": 2903, "alu": 1668, "SHF": 1024, "LOP3": 632, "IADD3": 0, "model_cycles": 3336},
    # GB300 (sm_103) and the RTX 50 / RTX PRO Blackwell cards (sm_120): the same loop (sm_120 moves 6 of the
    # IMAD adds to IADD / MOV); the pipe model is Hopper's, kept only as a count to hold
    ("cupy", "sm_103"): {"total": 2903, "alu": 1668, "SHF": 1024, "LOP3": 632, "IADD3": 0, "model_cycles": 3336},
    ("cupy", "sm_120"): {"total": 2903, "alu": 1674, "SHF": 1024, "LOP3": 632, "IADD3": 0, "model_cycles": 3348},
}
FLOOR_SHF = 950  # rotations: 6 per round and 4 per schedule word, minus the folded ones; fewer means lost work

needs_disassembler = pytest.mark.skipif(
    sass.disassembler() is None, reason="cuobjdump / nvdisasm not found: pip install nvidia-cuda-cuobjdump "
    "nvidia-cuda-nvdisasm (both in the test extra)")


def _cubin(backend: str, arch: str) -> tuple[bytes, str]:
    """(cubin, kernel name) as the backend builds it for `arch`."""
    if backend == "cupy":
        if nvrtc.nvrtc() is None:
            pytest.skip("cuda-bindings (NVRTC) not installed; pip install 'numba-cuda[cu13]'")
        from kernels.sha256 import cupy_cuda

        built = nvrtc.compile_like_cupy(cupy_cuda.module_source(), cupy_cuda.module_options(), arch=arch)
        assert built.ok, built.log
        return built.cubin, "sha256d_scan"
    ok, reason = nvrtc.nvvm_status()
    if not ok:
        pytest.skip(reason)
    from kernels.sha256 import numba_cuda

    cc = (int(arch[3:-1]), int(arch[-1]))
    return nvrtc.link_like_numba(numba_cuda.ptx("scan", cc=cc), arch=arch).cubin, "scan_kernel"


def _ceiling_check(counts: sass.Counts, ceilings: dict[str, int]) -> list[str]:
    over = []
    for key, ceiling in ceilings.items():
        value = getattr(counts, key) if hasattr(sass.Counts, key) else counts[key]
        if value > ceiling * SLACK + (1 if ceiling < 100 else 0):
            over.append(f"{key} {value} > ceiling {ceiling}")
    return over


@needs_disassembler
@pytest.mark.slow
@pytest.mark.parametrize(("backend", "arch"), sorted(CEILINGS))
def test_scan_loop_sass_stays_under_its_ceiling(backend, arch):
    cubin, kernel = _cubin(backend, arch)
    counts = sass.per_nonce(cubin, kernel)
    over = _ceiling_check(counts, CEILINGS[(backend, arch)])
    assert not over, f"{backend} {arch}: {', '.join(over)}; {counts.summary()}"
    assert counts["SHF"] >= FLOOR_SHF, counts.summary()  # every rotation still computed, as funnel shifts
    assert counts.fma <= counts.alu, counts.summary()  # the IMAD adds have not made the FMA pipe the bound
    assert not {"LDL", "STL"} & set(counts.by_opcode), counts.summary()  # no local memory in the loop


@needs_disassembler
def test_counts_classify_pipes_and_find_the_loop():
    """The counter itself, on a small kernel with a known loop: adds, shifts, logic and an IMAD."""
    if nvrtc.nvrtc() is None:
        pytest.skip("cuda-bindings (NVRTC) not installed; pip install 'numba-cuda[cu13]'")
    source = r'''
extern "C" __global__ void k(unsigned *out, unsigned n, unsigned one) {
    unsigned x = threadIdx.x, y = blockIdx.x;
    for (unsigned i = 0; i < n; i++) {
        unsigned r;
        asm("mad.lo.u32 %0, %1, %2, %3;" : "=r"(r) : "r"(x), "r"(one), "r"(y));
        x = __funnelshift_r(r, r, 7) ^ (y & x) ^ i;
        y = r;
    }
    out[threadIdx.x] = x + y;
}'''
    built = nvrtc.compile_like_cupy(source, (), arch="sm_90")
    assert built.ok, built.log
    functions = sass.disassemble(built.cubin)
    assert list(functions) == ["k"] and "EXIT" in {i.opcode for i in functions["k"]}
    counts = sass.per_nonce(built.cubin, "k")
    assert counts["IMAD"] >= 1 and counts["SHF"] >= 1 and counts["LOP3"] >= 1 and counts["BRA"] >= 1, counts
    assert counts.total < len(functions["k"])  # the loop, not the whole kernel
    assert counts.fma == counts["IMAD"] and counts.alu >= counts["SHF"] + counts["LOP3"]
    assert counts.model_cycles == max(2 * counts.alu, 2 * counts.fma, counts.total)


def test_the_model_is_bound_by_the_busier_pipe():
    alu_bound = sass.Counts({"SHF": 10, "LOP3": 5, "IMAD": 2})
    assert (alu_bound.alu, alu_bound.fma, alu_bound.model_cycles) == (15, 2, 30)
    issue_bound = sass.Counts({"SHF": 4, "IMAD": 4, "BRA": 4})
    assert issue_bound.model_cycles == 12


def test_find_tool_looks_in_pip_wheels(tmp_path, monkeypatch):
    binary = tmp_path / "nvidia" / "cu13" / "bin" / "cuobjdump"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("sys.path", [str(tmp_path)])
    assert sass.find_tool("cuobjdump") == str(binary)
    assert sass.find_tool("no-such-tool") is None

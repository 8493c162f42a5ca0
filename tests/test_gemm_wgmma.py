"""The Hopper wgmma GEMM (kernels/gemm/gemm_wgmma.cu) without a GPU: where its copies put every element of
a pipeline stage against where wgmma's matrix descriptors read it (the PTX ISA's canonical 128-byte-swizzle
layouts), its compile for sm_90a as CuPy's RawModule does it, the SASS of its main loop, and the host's
choice of own kernel. Its results and speed on a GPU are for the `gpu` tests (test_gemm_cupy.py and the
GEMM benchmark), which scripts/gpu_check.sh runs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from kernels.gemm import cupy_cuda
from tests import nvrtc, sass

TILE = cupy_cuda.WMMA_TILES["wgmma"]
SOURCE = TILE.source.read_text(encoding="utf-8")


def _constants() -> dict[str, int]:
    """The `constexpr int` values of gemm_wgmma.cu that are plain numbers or products of earlier ones."""
    found: dict[str, int] = {}
    for line in re.findall(r"constexpr int ([^;]+);", SOURCE):
        for name, expr in re.findall(r"(\w+) = ([^,]+)", line):
            found[name] = eval(expr.replace("/", "//"), {}, dict(found))  # noqa: S307 - C integer arithmetic
    return found


C = _constants()
ELEMENT = 2  # bytes of bf16 / fp16


def _descriptor_calls() -> tuple[str, str, str, str, str, str]:
    """The start, leading and stride offset expressions of the A and B descriptors in the main loop."""
    call = re.search(r"wgmma\(d, descriptor\((.+?), (\w+), (\w+)\), descriptor\((.+?), (\w+), (\w+)\), T\(\)\)",
                     SOURCE)
    assert call, "the main loop's wgmma(d, descriptor(...), descriptor(...), T()) call"
    return call.groups()


def encode(address: int, leading: int, stride: int) -> int:
    """gemm_wgmma.cu's descriptor(): 14-bit fields of bytes >> 4, 128-byte swizzle in bits 62-63."""
    return ((address & 0x3FFFF) >> 4) | (((leading & 0x3FFFF) >> 4) << 16) | (((stride & 0x3FFFF) >> 4) << 32) | (1 << 62)


def decode(desc: int) -> tuple[int, int, int, int]:
    """Start address, leading and stride byte offsets, swizzle mode (1 = 128-byte) as the hardware reads them."""
    field = lambda shift: ((desc >> shift) & 0x3FFF) << 4  # noqa: E731
    return field(0), field(16), field(32), desc >> 62


def swizzle_128(address: int) -> int:
    """Swizzle<3,4,3>: the 16-byte chunk bits (4-6) of a shared address XOR its 128-byte row bits (7-9)."""
    return address ^ (((address >> 7) & 7) << 4)


def hardware_a(desc: int, row: int, k: int) -> int:
    """Byte address wgmma reads element (row, k) of a 64 x 16 K-major operand from: the canonical layout
    ((8,m),(T,2k)):((8T,SBO),(1,T)) in elements, T = 8 for 16-bit types, then the swizzle."""
    start, _, stride, mode = decode(desc)
    assert mode == 1
    elements = (row % 8) * 64 + (k % 8) + (k // 8) * 8
    return swizzle_128(start + elements * ELEMENT + (row // 8) * stride)


def hardware_b(desc: int, k: int, n: int) -> int:
    """Byte address wgmma reads element (k, n) of a 16 x N MN-major operand from: the canonical layout
    ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)) in elements, then the swizzle."""
    start, leading, stride, mode = decode(desc)
    assert mode == 1
    elements = (n % 8) + ((n // 8) % 8) * 8 + (k % 8) * 64
    return swizzle_128(start + elements * ELEMENT + (n // 64) * leading + (k // 8) * stride)


def swizzled(row: int, chunk: int) -> int:
    """gemm_wgmma.cu's swizzled()."""
    return row * C["ROW_BYTES"] + ((chunk ^ (row & 7)) << 4)


def stored_a(row: int, k: int) -> int:
    """Where load_stage puts element (row, k) of A's slice, from the stage's start."""
    return swizzled(row, k // C["CHUNK"]) + (k % C["CHUNK"]) * ELEMENT


def stored_b(k: int, n: int) -> int:
    """Where load_stage puts element (k, n) of B's slice, from the stage's start."""
    chunk = n // C["CHUNK"]
    return C["A_STAGE"] + (chunk // 8) * C["B_ATOM"] + swizzled(k, chunk % 8) + (n % C["CHUNK"]) * ELEMENT


def test_stage_constants_fit_the_descriptor_fields_and_an_h100_block():
    assert (C["BM"], C["BN"], C["BK"], C["THREADS"]) == (128, 256, 64, 256)
    assert TILE.block == (C["BM"], C["BN"], C["THREADS"])
    assert C["BK"] * ELEMENT == C["ROW_BYTES"] == 128  # one swizzle row per row of A's slice
    assert C["B_ATOM"] >> 4 < 1 << 14 and C["STAGES"] * C["STAGE"] + C["ALIGN"] <= 227 * 1024
    assert cupy_cuda.wmma_shared_bytes("wgmma") == C["SMEM_BYTES"] == C["STAGES"] * C["STAGE"] + C["ALIGN"]


def test_copies_fill_each_stage_once():
    a = {stored_a(r, k) for r in range(C["BM"]) for k in range(C["BK"])}
    b = {stored_b(k, n) for k in range(C["BK"]) for n in range(C["BN"])}
    assert len(a) == C["BM"] * C["BK"] and len(b) == C["BK"] * C["BN"] and not a & b
    assert min(a) == 0 and max(b) < C["STAGE"] and all(x % ELEMENT == 0 for x in a | b)


@pytest.mark.parametrize("slot", [0, 3])
def test_descriptors_read_what_the_copies_wrote(slot):
    """Every element of every m64n256k16 step of both warpgroups: the address wgmma reads it from (by the
    PTX ISA's canonical layouts and the descriptors the kernel builds) is where load_stage stored it."""
    a_start, a_leading, a_stride, b_start, b_leading, b_stride = _descriptor_calls()
    base = slot * C["STAGE"]  # the kernel aligns its first slot to 1024 bytes; offsets from there
    rows, ks, ns = np.arange(64), np.arange(16), np.arange(C["BN"])
    for warpgroup in (0, 1):
        for step in range(C["BK"] // 16):
            names = dict(C, a_s=base + warpgroup * 64 * C["ROW_BYTES"], b_s=base + C["A_STAGE"], k=step)
            desc_a = encode(*(eval(e, {}, names) for e in (a_start, a_leading, a_stride)))  # noqa: S307
            desc_b = encode(*(eval(e, {}, names) for e in (b_start, b_leading, b_stride)))  # noqa: S307
            for r in rows:
                for k in ks:
                    assert hardware_a(desc_a, r, k) == base + stored_a(64 * warpgroup + r, 16 * step + k), (r, k)
            for k in ks:
                for n in ns:
                    assert hardware_b(desc_b, k, n) == base + stored_b(16 * step + k, n), (k, n)


def test_a_swapped_leading_and_stride_offset_is_caught():
    """The layout check above would fail for B's offsets the other way round (the classic mistake)."""
    desc = encode(C["A_STAGE"], 1024, C["B_ATOM"])
    assert any(hardware_b(desc, k, n) != stored_b(k, n) for k in range(16) for n in range(C["BN"]))


@pytest.fixture(scope="module")
def built():
    if nvrtc.nvrtc() is None:
        pytest.skip("cuda-bindings (NVRTC) not installed; pip install 'numba-cuda[cu13]'")
    result = nvrtc.compile_like_cupy(SOURCE, TILE.arch_options + cupy_cuda.WMMA_OPTIONS + ("--ptxas-options=-v",))
    assert result.ok, (result.options, result.log)
    return result


def test_compiles_for_sm_90a_as_cupy_would_without_spills(built):
    """CuPy appends -arch=sm_90 after the module's options; NVRTC compiles for the first, sm_90a."""
    assert built.options.index("-arch=sm_90a") < built.options.index("-arch=sm_90")
    for name in TILE.functions.values():
        assert f"Compiling entry function '{name}' for 'sm_90a'" in built.log
    assert not re.search(r"[1-9]\d* bytes spill", built.log) and "bytes spill stores" in built.log
    registers = [int(n) for n in re.findall(r"Used (\d+) registers", built.log)]
    assert len(registers) == 2 and max(registers) <= 255  # 256 threads, one block per SM: 65536 / 256
    assert "serializ" not in built.log.lower()  # ptxas's warning when it must wait on each wgmma


@pytest.mark.skipif(sass.disassembler() is None, reason="pip install nvidia-cuda-cuobjdump (the test extra)")
def test_main_loop_issues_four_m64n256k16_wgmma_and_twelve_async_copies(built):
    functions = sass.disassemble(built.cubin)
    for dtype, name in TILE.functions.items():
        body = sass.loop_body(functions[name])
        ops = [i.opcode + i.modifiers for i in body]
        hgmma = [i.opcode + i.modifiers + i.operands for i in body if i.opcode == "HGMMA"]  # "64x256x16" splits
        assert len(hgmma) == C["BK"] // 16, hgmma
        assert all(op.startswith("HGMMA.64x256x16.F32") and "tnspB" in op for op in hgmma)  # B read N-major
        assert all(".BF16 " in op for op in hgmma) == (dtype == "bf16")
        assert sum(op.startswith("LDGSTS") for op in ops) == (C["BM"] * C["BK"] + C["BK"] * C["BN"]) // 8 // C["THREADS"]
        assert ops.count("BAR.SYNC.DEFER_BLOCKING") == 1  # one barrier per K slice
        assert sum(op.startswith("WARPGROUP.DEPBAR") for op in ops) == 1  # wait_group 1: one slice in flight


# --- the host's choice of own kernel --------------------------------------------------------------------


@pytest.fixture
def gpu(monkeypatch):
    """A stand-in GPU of a chosen compute capability (`gpu["cc"]`), with the own-kernel choice forgotten."""
    state = {"cc": 90}
    monkeypatch.setattr(cupy_cuda, "_capability", lambda device: state["cc"])
    cupy_cuda.own_kernel.cache_clear()
    cupy_cuda._passed_over.clear()
    yield state
    cupy_cuda.own_kernel.cache_clear()
    cupy_cuda._passed_over.clear()


@pytest.mark.parametrize(("cc", "expected"), [(80, ()), (89, ()), (90, ("fp16", "bf16")), (100, ()), (120, ())])
def test_wgmma_runs_on_compute_capability_9_0_alone(gpu, cc, expected):
    gpu["cc"] = cc
    assert cupy_cuda.dtypes(0, "wgmma") == expected
    assert cupy_cuda.dtypes(0, "own") == cupy_cuda.dtypes(0, "wmma") == ("fp16", "bf16")


def test_own_kernel_is_wgmma_on_hopper_once_its_self_check_passes(gpu, monkeypatch):
    checked = []
    monkeypatch.setattr(cupy_cuda, "self_check", lambda device, dtype, kernel: checked.append(kernel))
    assert cupy_cuda.own_kernel(0, "bf16") == "wgmma" and cupy_cuda.own_kernel(0, "bf16") == "wgmma"
    assert checked == ["wgmma"]  # once per device and dtype
    assert cupy_cuda.own_kernel_text(0, "bf16").startswith("own wgmma tensor-core RawKernel (gemm_wgmma.cu)")


def test_own_kernel_falls_back_to_wmma_and_says_why(gpu, monkeypatch):
    monkeypatch.setattr(cupy_cuda, "self_check", lambda device, dtype, kernel: "max relative error 0.9 > 0.02")
    assert cupy_cuda.own_kernel(0, "fp16") == "wmma"
    text = cupy_cuda.own_kernel_text(0, "fp16")
    assert "own wmma" in text and "wgmma failed its self-check here" in text and "0.9 > 0.02" in text
    gpu["cc"] = 80
    cupy_cuda.own_kernel.cache_clear()
    assert cupy_cuda.own_kernel(1, "bf16") == "wmma" and "self-check" not in cupy_cuda.own_kernel_text(1, "bf16")


def test_self_check_turns_a_compile_failure_into_a_reason(gpu, monkeypatch):
    def matmul(*args, **kwargs):
        raise RuntimeError("NVRTC: Instruction 'wgmma.fence' not supported on .target 'sm_90'\nmore")

    monkeypatch.setattr(cupy_cuda, "to_device", lambda x, **kwargs: x)
    monkeypatch.setattr(cupy_cuda, "matmul", matmul)
    assert cupy_cuda.self_check(0, "bf16", "wgmma") == \
        "RuntimeError: NVRTC: Instruction 'wgmma.fence' not supported on .target 'sm_90'"


def test_self_check_compares_with_numpy(gpu, monkeypatch):
    """A right product passes and a wrong one is named, on the ragged self-check shape."""
    monkeypatch.setattr(cupy_cuda, "to_device", lambda x, **kwargs: x)
    monkeypatch.setattr(cupy_cuda, "synchronize", lambda device: None)
    monkeypatch.setattr(cupy_cuda, "matmul", lambda a, b, **kwargs: a @ b)
    assert cupy_cuda.self_check(0, "bf16", "wgmma") is None
    monkeypatch.setattr(cupy_cuda, "matmul", lambda a, b, **kwargs: (a @ b)[:, ::-1].copy())
    assert "error" in cupy_cuda.self_check(0, "bf16", "wgmma")


def test_wgmma_launches_one_block_per_tile_in_a_linear_grid(gpu, monkeypatch):
    launches = []
    monkeypatch.setattr(cupy_cuda, "_wmma_function", lambda device, dtype, kernel: lambda grid, block, args,
                        shared_mem: launches.append((kernel, grid, block, shared_mem)))

    class Device:
        def __init__(self, index):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    from types import SimpleNamespace

    monkeypatch.setattr(cupy_cuda, "_cupy", lambda: SimpleNamespace(cuda=SimpleNamespace(Device=Device)))
    matrix = lambda rows, cols: cupy_cuda.CupyMatrix(SimpleNamespace(shape=(rows, cols)), rows, cols, "bf16", 0)  # noqa: E731
    cupy_cuda.wmma_gemm(matrix(1000, 520), matrix(520, 600), matrix(1000, 600), "wgmma")
    cupy_cuda.wmma_gemm(matrix(1000, 520), matrix(520, 600), matrix(1000, 600), "wmma")
    assert launches[0] == ("wgmma", (8 * 3,), (256,), C["SMEM_BYTES"])  # 8 tile rows x 3 tile columns
    assert launches[1][1] == (5, 8)  # WMMA: (columns, rows) of 128 x 128 tiles

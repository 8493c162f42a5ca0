"""The Hopper wgmma GEMMs (kernels/gemm/gemm_wgmma.cu, cp.async and TMA) without a GPU: where their copies
put every element of a pipeline stage against where wgmma's matrix descriptors read it (the PTX ISA's
canonical 128-byte-swizzle layouts), their compile for sm_90a as CuPy's RawModule does it, the SASS of
their main loops, the tensor maps and launch arguments, and the host's choice of own kernel (tried first in
a child process). Its results and speed on a GPU are for the `gpu` tests (test_gemm_cupy.py and the
GEMM benchmark), which scripts/gpu_check.sh runs.
"""

from __future__ import annotations

import ctypes
import re
from types import SimpleNamespace

import numpy as np
import pytest

from kernels.gemm import cupy_cuda, tensor_map
from tests import host_cuda, nvrtc, sass

TILE = cupy_cuda.WMMA_TILES["wgmma"]
TMA_TILE = cupy_cuda.WMMA_TILES["wgmma-tma"]
PERSISTENT_TILE = cupy_cuda.WMMA_TILES["wgmma-tma-persistent"]
CLUSTER_TILE = cupy_cuda.WMMA_TILES["wgmma-tma-cluster"]
CLUSTER_PERSISTENT_TILE = cupy_cuda.WMMA_TILES["wgmma-tma-cluster-persistent"]
TMA_TILES = {"tma": TMA_TILE, "persistent": PERSISTENT_TILE, "cluster": CLUSTER_TILE,  # warp-specialised
             "cluster-persistent": CLUSTER_PERSISTENT_TILE}
SOURCE = TILE.source.read_text(encoding="utf-8")


def _constants() -> dict[str, int]:
    """The `constexpr int` values of gemm_wgmma.cu that are plain numbers or products of earlier ones (not
    those of a template's parameters)."""
    found: dict[str, int] = {}
    for line in re.findall(r"constexpr int ([^;]+);", SOURCE):
        for name, expr in re.findall(r"(\w+) = ([^,]+)", line):
            try:
                found[name] = eval(expr.replace("/", "//"), {}, dict(found))  # noqa: S307 - C integer arithmetic
            except NameError:
                pass
    return found


C = _constants()
ELEMENT = 2  # bytes of bf16 / fp16


def _descriptor_calls() -> tuple[str, str, str, str, str, str]:
    """The start, leading and stride offset expressions of the A and B descriptors in the main loop."""
    call = re.search(r"wgmma\(d, descriptor\((.+?), (\w+), (\w+)\), descriptor\((.+?), (\w+), (\w+)\), T\(\),",
                     SOURCE)
    assert call, "mma_slice's wgmma(d, descriptor(...), descriptor(...), T(), ...) call"
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


def _tma_loads() -> list[tuple[str, str, str, str]]:
    """(destination, map, inner and outer coordinate) of each tma_load call of the producer's loop."""
    return re.findall(r"tma_load\(([^,]+), (\w+), ([^,]+), ([^,]+), bar\);", SOURCE)


def _matrix(rows: int, cols: int, address: int = 1 << 20) -> cupy_cuda.CupyMatrix:
    """A stand-in bf16 CupyMatrix on GPU 0: rows padded to 8 elements, data at `address`."""
    data = SimpleNamespace(shape=(rows, -(-cols // 8) * 8), data=SimpleNamespace(ptr=address))
    return cupy_cuda.CupyMatrix(data, rows, cols, "bf16", 0)


@pytest.fixture
def tma_maps(monkeypatch) -> tuple[tensor_map.Tiled, tensor_map.Tiled]:
    """The tensor maps the host builds for A (1000 x 520) and B (520 x 600), as launched."""
    encoded = []
    monkeypatch.setattr(tensor_map, "encode", lambda spec: encoded.append(spec) or spec)
    cupy_cuda._kernel_args(_matrix(1000, 520, 1 << 20), _matrix(520, 600, 1 << 24), _matrix(1000, 600, 1 << 28),
                           TMA_TILE)
    return encoded[0], encoded[1]


def tma_writes(box: tuple[int, int], destination: int, row: int, col: int) -> int:
    """Where a TMA copy in the 128-byte swizzle puts element (row, col) of its box (columns innermost) at a
    1024-byte aligned destination: rows of box[0] elements, then the swizzle of the address."""
    assert destination % 1024 == 0 and box[0] * ELEMENT <= 128
    return swizzle_128(destination + row * box[0] * ELEMENT + col * ELEMENT)


@pytest.mark.parametrize("slot", [0, 3])
def test_tma_boxes_land_where_the_descriptors_read(slot, tma_maps):
    """The TMA kernel's five copies per stage (one box of A, four of B, as the host's tensor maps shape
    them) put every element where the cp.async copies do, which the test above checks against wgmma."""
    a_map, b_map = tma_maps
    assert a_map.box == (C["BK"], C["BM"]) and b_map.box == (cupy_cuda.TMA_BOX_N, C["BK"])
    loads = _tma_loads()
    assert [m for _, m, _, _ in loads] == ["a_map", "b_map"]
    (a_dst, _, a_inner, a_outer), (b_dst, _, b_inner, b_outer) = loads
    assert (a_inner, a_outer) == ("t * BK", "row0")  # box (k, row) at (K offset, tile row)
    assert (b_inner, b_outer) == ("col0 + 64 * j", "t * BK")  # box j of the slice's 256 columns
    base = slot * C["STAGE"]
    names = dict(C, slot=base)
    for r in range(C["BM"]):
        for k in range(C["BK"]):
            assert tma_writes(a_map.box, eval(a_dst, {}, names), r, k) == base + stored_a(r, k)  # noqa: S307
    for j in range(C["BN"] // cupy_cuda.TMA_BOX_N):
        dst = eval(b_dst, {}, dict(names, j=j))  # noqa: S307
        for k in range(C["BK"]):
            for n in range(cupy_cuda.TMA_BOX_N):
                assert tma_writes(b_map.box, dst, k, n) == base + stored_b(k, 64 * j + n)


def test_tma_stage_bytes_are_what_the_full_barrier_expects(tma_maps):
    a_map, b_map = tma_maps
    box_bytes = lambda spec: spec.box[0] * spec.box[1] * ELEMENT  # noqa: E731
    assert box_bytes(a_map) + C["BN"] // cupy_cuda.TMA_BOX_N * box_bytes(b_map) == C["STAGE"]
    assert "barrier_expect_bytes(bar, STAGE);" in SOURCE
    assert (a_map.dims, a_map.row_stride) == ((520, 1000), 520 * ELEMENT)  # K columns, M rows, padded rows
    assert (b_map.dims, b_map.row_stride) == ((600, 520), 600 * ELEMENT)
    assert C["SMEM_BYTES_TMA"] == cupy_cuda.wmma_shared_bytes("wgmma-tma") <= 227 * 1024
    assert TMA_TILE.block == (C["BM"], C["BN"], C["TMA_THREADS"]) == (128, 256, 384)
    assert 128 * C["PRODUCER_REGISTERS"] + 256 * C["CONSUMER_REGISTERS"] <= 65536  # setmaxnreg's budget
    assert C["CONSUMER_WARPS"] == 2 * 128 // 32


def test_tma_epilogue_puts_every_element_of_c_in_its_place_through_shared_memory():
    """store_tile_staged, modelled: accumulator element -> staged byte -> 16-byte chunk -> C. Each element of
    a warpgroup's 64 x 256 part is staged once and written where it belongs, the staged rows are 16-byte
    aligned for the chunk loads, and one accumulator store (32 lanes) hits 32 different banks."""
    row_bytes, chunks = C["C_ROW_BYTES"], C["C_CHUNKS"]
    staged = {}  # byte offset -> (row, column) of the element stored there
    for thread in range(128):
        warp, lane = divmod(thread, 32)
        mine = (warp * 16 + lane // 4) * row_bytes + 4 * (lane % 4)
        for j in range(C["BN"] // 8):
            # d[4j], d[4j+1]: (row l/4, columns 8j + 2(l%4) + 0, 1); d[4j+2], d[4j+3]: the row 8 below
            for below, offset in ((0, mine + 16 * j), (8, mine + 8 * row_bytes + 16 * j)):
                for e in (0, 1):
                    assert offset + 2 * e not in staged
                    staged[offset + 2 * e] = (warp * 16 + lane // 4 + below, 8 * j + 2 * (lane % 4) + e)
    assert len(staged) == 64 * C["BN"] and max(staged) < C["C_STAGED"] and 2 * C["C_STAGED"] <= C["STAGES"] * C["STAGE"]
    assert row_bytes % 16 == 0 and chunks * 16 == C["BN"] * ELEMENT
    for i in range(64 * chunks):
        r, chunk = divmod(i, chunks)
        for e in range(8):
            assert staged[r * row_bytes + chunk * 16 + 2 * e] == (r, chunk * 8 + e)
    for warp in range(4):
        for j in range(C["BN"] // 8):
            words = {((warp * 16 + lane // 4) * row_bytes + 4 * (lane % 4) + 16 * j) // 4 for lane in range(32)}
            assert len({w % 32 for w in words}) == 32


@pytest.fixture(scope="module")
def tile_places(tmp_path_factory):
    """gemm_wgmma.cu's own tile_place, built for the CPU: (tiles_m, tiles_n) -> the (row, column) of each
    tile number, in order."""
    if host_cuda.compiler() is None:
        pytest.skip("no host C++ compiler (g++ or clang++)")
    driver = ("extern \"C\" void places(int tiles_m, int tiles_n, int *rows, int *columns)\n{\n"
              "    for (int t = 0; t < tiles_m * tiles_n; ++t)\n"
              "        tile_place(t, tiles_m, tiles_n, rows[t], columns[t]);\n}\n")
    prelude = "#include <algorithm>\nusing std::min;\n#define __device__\n#define __forceinline__ inline\n"
    code = prelude + host_cuda.constants(SOURCE) + host_cuda.definition(SOURCE, "tile_place") + driver
    library = host_cuda.shared_library(code, tmp_path_factory.mktemp("tile_place"), "places")

    def places(tiles_m: int, tiles_n: int) -> list[tuple[int, int]]:
        rows, columns = np.zeros(tiles_m * tiles_n, np.int32), np.zeros(tiles_m * tiles_n, np.int32)
        library.places(tiles_m, tiles_n, np.ctypeslib.as_ctypes(rows), np.ctypeslib.as_ctypes(columns))
        return list(zip(rows.tolist(), columns.tolist()))

    return places


@pytest.mark.parametrize(("tiles_m", "tiles_n"), [(1, 1), (3, 2), (8, 3), (17, 5), (64, 32), (2, 40)])
def test_tile_numbers_cover_every_tile_once_group_m_rows_at_a_time(tile_places, tiles_m, tiles_n):
    """What every kernel's tile order rests on; the cluster kernel numbers clusters (pairs of tile rows)
    the same way, so each pair is one tile of a grid half as tall."""
    order = tile_places(tiles_m, tiles_n)
    assert sorted(order) == [(r, c) for r in range(tiles_m) for c in range(tiles_n)]
    group = C["GROUP_M"]
    for (r0, c0), (r1, c1) in zip(order, order[1:]):
        if r0 // group == r1 // group and c0 == c1:  # down a column of one group first...
            assert r1 == r0 + 1
        elif r0 // group == r1 // group:  # ...then its next column, from the group's top
            assert c1 == c0 + 1 and r1 == r0 // group * group
        else:  # ...then the next group, from column 0
            assert (r1, c1) == (r0 // group * group + group, 0)


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
    tma_names = [name for tile in TMA_TILES.values() for name in tile.functions.values()]
    names = [*TILE.functions.values(), *tma_names]
    for name in names:
        assert f"Compiling entry function '{name}' for 'sm_90a'" in built.log
    assert not re.search(r"[1-9]\d* bytes spill", built.log) and "bytes spill stores" in built.log
    registers = dict(re.findall(r"Compiling entry function '(\w+)'.*?Used (\d+) registers", built.log, re.S))
    assert sorted(registers) == sorted(names)
    assert all(int(registers[n]) <= 255 for n in TILE.functions.values())  # 256 threads, one block per SM
    # 384 threads: ptxas allocates 65536 / 384 rounded down to 8, what setmaxnreg then moves between them
    # (where ptxas drops setmaxnreg, it counts fewer, and a block launched with fewer would never get the
    # consumers' 232: their setmaxnreg.inc would wait forever)
    assert all(int(registers[n]) == 168 for n in tma_names)
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


def _consumer_loop(instructions):
    """The TMA kernel's consumer loop: the shortest loop holding wgmma (the try-wait retries branch back
    from code placed after the kernel's end, so the longest loop is not it)."""
    spans = [(int(t.group(1), 16), i.address) for i in instructions if i.opcode == "BRA"
             for t in [sass.BRANCH_TARGET.search(i.operands)] if t and int(t.group(1), 16) < i.address]
    spans = [(a, b) for a, b in spans if any(a <= i.address <= b and i.opcode == "HGMMA" for i in instructions)]
    start, end = min(spans, key=lambda span: span[1] - span[0])
    return [i for i in instructions if start <= i.address <= end]


@pytest.mark.skipif(sass.disassembler() is None, reason="pip install nvidia-cuda-cuobjdump (the test extra)")
@pytest.mark.parametrize("tile", TMA_TILES.values(), ids=TMA_TILES.keys())
def test_tma_kernels_keep_wgmma_asynchronous_and_load_by_tma(built, tile):
    functions = sass.disassemble(built.cubin)
    for dtype, name in tile.functions.items():
        everything = [i.opcode + i.modifiers + " " + i.operands for i in functions[name]]
        body = [i.opcode + i.modifiers + " " + i.operands for i in _consumer_loop(functions[name])]
        hgmma = [op.replace(" ", "", 1) for op in body if op.startswith("HGMMA")]  # "64x256x16" splits
        waits = [op for op in body if op.startswith("SYNCS.PHASECHK")]
        assert hgmma and len(hgmma) == C["BK"] // 16 * len(waits), body  # four wgmmas per landed slice
        assert all(op.startswith("HGMMA.64x256x16.F32") and "tnspB" in op for op in hgmma)
        assert all(".BF16 " in op for op in hgmma) == (dtype == "bf16")
        # one group per slice, waited down to one in flight; none waited to zero inside the loop
        assert sum(op.startswith("WARPGROUP.DEPBAR.LE gsb0, 0x1") for op in body) == len(waits)
        assert not any(op.startswith("WARPGROUP.DEPBAR.LE gsb0, 0x0") for op in body)
        # each warp frees the stage, in a cluster in every block of it, without a fence before (a release at
        # cluster scope would put a MEMBAR.ALL.GPU before every arrival)
        assert sum(op.startswith("SYNCS.ARRIVE") for op in body) == len(waits) * tile.cluster_m
        assert not any(op.startswith(("LDGSTS", "BAR.SYNC", "LDG", "MEMBAR")) for op in body)
        loads = [op for op in everything if op.startswith("UTMALDG.2D")]
        assert len(loads) >= 5  # the producer: one A and four B boxes
        if tile.cluster_m > 1:  # its share of B's boxes multicast, its A not
            assert any(op.startswith("UTMALDG.2D.MULTICAST") for op in loads)
            assert any(not op.startswith("UTMALDG.2D.MULTICAST") for op in loads)
            assert "UCGABAR_WAIT" in " ".join(everything)  # the cluster's barriers set up before any arrival
            entry = built.ptx[built.ptx.index(f".entry {name}("):]
            assert re.match(r"[^{]*\.explicitcluster\s+\.reqnctapercluster 2, 1, 1", entry, re.S)
        else:
            assert not any(op.startswith("UTMALDG.2D.MULTICAST") for op in loads)
        assert any(op.startswith("USETMAXREG.DEALLOC") and "0x28" in op for op in everything)  # 40
        assert any(op.startswith("USETMAXREG.TRY_ALLOC") and "0xe8" in op for op in everything)  # 232
        stores = [op for op in everything if op.startswith("STG")]
        if not tile.persistent:  # C staged in the slots, free at the end, written in 16-byte chunks only
            assert stores and all(op.startswith("STG.E.128") for op in stores)
        else:  # straight from the accumulators, as the slots hold the next tile's slices by then
            assert stores and not any(op.startswith("STS") for op in everything)


# --- the host's choice of own kernel --------------------------------------------------------------------


def _next_process():
    """What a new process knows: only what was kept on disk (the trials and own-kernel choices this
    process made are forgotten)."""
    cupy_cuda.trial.cache_clear()
    cupy_cuda.own_kernel.cache_clear()
    cupy_cuda._passed_over.clear()


@pytest.fixture
def gpu(monkeypatch, tmp_path):
    """A stand-in GPU of a chosen compute capability (`gpu["cc"]`), with the own-kernel choice forgotten
    and an empty cache of trial outcomes."""
    state = {"cc": 90}
    monkeypatch.setattr(cupy_cuda, "_capability", lambda device: state["cc"])
    monkeypatch.setenv("SITEBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cupy_cuda, "devices", lambda: [SimpleNamespace(
        name="stand-in H100", compute=f"sm_{state['cc']}", driver="CUDA driver 13.0", units=132)] * 2)
    monkeypatch.setattr(cupy_cuda, "_wmma_module_options", lambda: cupy_cuda.WMMA_OPTIONS)
    monkeypatch.setattr(cupy_cuda, "_cupy_version", lambda: "14.0.0")

    _next_process()
    yield state
    _next_process()


@pytest.fixture
def checks(monkeypatch):
    """Trials in this process, with `checks[kernel]` the self-check's answer (None: right); `checks["run"]`
    lists the kernels checked, in order."""
    answers = {"run": []}

    def self_check(device, dtype, kernel):
        answers["run"].append(kernel)
        return answers.get(kernel)

    monkeypatch.setattr(cupy_cuda, "self_check", self_check)
    monkeypatch.setattr(cupy_cuda.isolated, "call", lambda module, function, args, timeout_s:
                        getattr(cupy_cuda, function)(*args))  # the child's work, here
    return answers


@pytest.mark.parametrize(("cc", "expected"), [(80, ()), (89, ()), (90, ("fp16", "bf16")), (100, ()), (120, ())])
def test_wgmma_runs_on_compute_capability_9_0_alone(gpu, cc, expected):
    gpu["cc"] = cc
    assert cupy_cuda.dtypes(0, "wgmma") == cupy_cuda.dtypes(0, "wgmma-tma") == expected
    assert cupy_cuda.dtypes(0, "own") == cupy_cuda.dtypes(0, "wmma") == ("fp16", "bf16")


def test_own_kernel_is_the_tma_kernel_on_hopper_once_its_trial_passes(gpu, checks):
    assert cupy_cuda.own_kernel(0, "bf16") == "wgmma-tma" and cupy_cuda.own_kernel(0, "bf16") == "wgmma-tma"
    assert checks["run"] == ["wgmma-tma"]  # once per device and dtype, and no further once one passes
    assert cupy_cuda.own_kernel_text(0, "bf16").startswith("own wgmma-tma tensor-core RawKernel (gemm_wgmma.cu)")


def test_own_kernel_falls_back_kernel_by_kernel_and_says_why(gpu, checks):
    checks["wgmma-tma"] = "RuntimeError: cuTensorMapEncodeTiled returned CUresult 1"
    assert cupy_cuda.own_kernel(0, "bf16") == "wgmma" and checks["run"] == ["wgmma-tma", "wgmma"]
    assert "wgmma-tma failed its self-check here" in cupy_cuda.own_kernel_text(0, "bf16")
    checks["wgmma"] = "max relative error 0.9 > 0.02"
    assert cupy_cuda.own_kernel(0, "fp16") == "wmma"
    text = cupy_cuda.own_kernel_text(0, "fp16")
    assert "own wmma" in text and "CUresult 1" in text
    assert "wgmma failed its self-check here and was not used (max relative" in text
    gpu["cc"] = 80
    cupy_cuda.own_kernel.cache_clear()
    checks["run"].clear()
    assert cupy_cuda.own_kernel(1, "bf16") == "wmma" and "self-check" not in cupy_cuda.own_kernel_text(1, "bf16")
    assert checks["run"] == []  # nothing to try below Hopper


def test_only_the_hopper_kernels_face_a_trial_before_they_run_here(gpu, checks):
    checks["wgmma"] = "hung"
    assert cupy_cuda.trial_problem(0, "bf16", "wgmma") == "hung"
    assert cupy_cuda.trial_problem(0, "bf16", "wgmma-tma") is None
    assert cupy_cuda.trial_problem(0, "bf16", "wmma") is None and cupy_cuda.trial_problem(0, "fp16", "cublas") is None
    assert checks["run"] == ["wgmma", "wgmma-tma"]


def test_a_trial_that_hangs_or_crashes_fails_every_kernel_it_held(gpu, monkeypatch):
    def call(module, function, args, timeout_s):
        raise cupy_cuda.isolated.IsolatedError(f"{module}.{function} did not finish in {timeout_s:g} s")

    monkeypatch.setattr(cupy_cuda.isolated, "call", call)
    assert cupy_cuda.own_kernel(0, "bf16") == "wmma"
    text = cupy_cuda.own_kernel_text(0, "bf16")
    assert text.count("did not finish in 30 s") == 2 and "wgmma-tma failed" in text and "; wgmma failed" in text


def test_a_pass_is_kept_so_later_processes_do_not_try_again(gpu, checks):
    assert cupy_cuda.trial(0, "bf16", "wgmma-tma") is None
    _next_process()
    assert cupy_cuda.own_kernel(0, "bf16") == "wgmma-tma" and checks["run"] == ["wgmma-tma"]
    assert cupy_cuda.trial(0, "fp16", "wgmma-tma") is None and checks["run"] == ["wgmma-tma"] * 2  # per dtype


def test_a_hang_is_kept_and_says_where_a_wrong_result_is_tried_again(gpu, checks, monkeypatch):
    def call(module, function, args, timeout_s):
        if args[2] == "wgmma-tma":
            raise cupy_cuda.isolated.IsolatedHang(f"{module}.{function} did not finish in {timeout_s:g} s")
        return getattr(cupy_cuda, function)(*args)

    monkeypatch.setattr(cupy_cuda.isolated, "call", call)
    checks["wgmma"] = "max rel error 0.9"
    assert cupy_cuda.own_kernel(0, "bf16") == "wmma" and checks["run"] == ["wgmma"]
    _next_process()
    monkeypatch.setattr(cupy_cuda.isolated, "call", lambda *args: pytest.fail("a kept hang was tried again"))
    monkeypatch.setattr(cupy_cuda, "_one_process_only", lambda device: True)  # the rest: in this process
    checks["wgmma"] = None
    assert cupy_cuda.own_kernel(0, "bf16") == "wgmma" and checks["run"] == ["wgmma", "wgmma"]
    kept = cupy_cuda.own_kernel_text(0, "bf16")
    assert "did not finish in 30 s" in kept and "an earlier trial's outcome, kept in " in kept
    assert re.search(r"kept in \S+/trials/[0-9a-f]{32}\.json: delete it to try again", kept)


def test_a_kernel_that_hung_in_one_dtype_is_not_tried_in_the_other(gpu, checks, monkeypatch):
    def call(module, function, args, timeout_s):
        if args[1] == "bf16":
            raise cupy_cuda.isolated.IsolatedHang("did not finish")
        return getattr(cupy_cuda, function)(*args)

    monkeypatch.setattr(cupy_cuda.isolated, "call", call)
    assert cupy_cuda.trial(0, "bf16", "wgmma-tma") == "did not finish"
    assert cupy_cuda.trial(0, "fp16", "wgmma-tma").startswith("not tried: its bf16 trial hung (did not finish (an")
    assert cupy_cuda.trial(0, "fp16", "wgmma") is None and checks["run"] == ["wgmma"]  # other kernels: tried


def test_a_trial_is_kept_per_gpu_driver_source_and_check(gpu, monkeypatch):
    parts = cupy_cuda._trial_parts(0, "bf16", "wgmma-tma")
    assert parts["gpu"] == "stand-in H100" and parts["driver"] == "CUDA driver 13.0" and parts["kernel"] == "wgmma-tma"
    assert len(parts["source"]) == 64 and "-arch=sm_90a" in parts["options"]
    assert parts["shape"] == cupy_cuda.SELF_CHECK_SHAPE
    keys = {cupy_cuda.trials.key(**parts)}
    for change in ({"driver": "CUDA driver 13.1"}, {"source": "0" * 64}, {"dtype": "fp16"}, {"shape": (1, 2, 3)}):
        keys.add(cupy_cuda.trials.key(**{**parts, **change}))
    assert len(keys) == 5
    assert cupy_cuda._trial_parts(0, "bf16", "wgmma-tma-persistent")["shape"] != parts["shape"]


def test_a_cache_that_cannot_be_written_only_means_trying_again(gpu, checks, monkeypatch):
    def unwritable(name):
        raise OSError("read-only")

    monkeypatch.setattr(cupy_cuda.trials.cache, "cache_dir", unwritable)
    assert cupy_cuda.trial(0, "bf16", "wgmma") is None
    _next_process()
    assert cupy_cuda.trial(0, "bf16", "wgmma") is None and checks["run"] == ["wgmma", "wgmma"]


def test_a_gpu_in_exclusive_process_mode_is_tried_in_this_process(gpu, monkeypatch):
    """No child could open such a GPU while this process holds it."""
    def call(*args, **kwargs):
        raise AssertionError("no child process on an exclusive-process GPU")

    monkeypatch.setattr(cupy_cuda.isolated, "call", call)
    monkeypatch.setattr(cupy_cuda, "_one_process_only", lambda device: True)
    monkeypatch.setattr(cupy_cuda, "self_check", lambda device, dtype, kernel: f"checked {kernel} here")
    assert cupy_cuda.trial(0, "bf16", "wgmma-tma") == "checked wgmma-tma here"


def test_compute_mode_is_read_from_the_device_properties(monkeypatch):
    mode = {"computeMode": 3}
    fake = SimpleNamespace(cuda=SimpleNamespace(runtime=SimpleNamespace(getDeviceProperties=lambda d: mode)))
    monkeypatch.setattr(cupy_cuda, "_cupy", lambda: fake)
    assert cupy_cuda._one_process_only(0)
    mode["computeMode"] = 0
    assert not cupy_cuda._one_process_only(0)
    monkeypatch.setattr(cupy_cuda, "_cupy", lambda: SimpleNamespace())  # no CuPy runtime: the shared default
    assert not cupy_cuda._one_process_only(0)


def test_the_trial_really_runs_in_a_child_process(gpu):
    """The stand-in GPU is this process's alone: the child sees the machine's own (here none, so its
    self-check fails), and the reason comes back whole rather than as a failed child."""
    problem = cupy_cuda.trial(0, "bf16", "wgmma-tma")
    if not cupy_cuda.available()[0]:
        assert problem.startswith("ValueError: cupy: no device") and "child process" not in problem


# --- tensor maps ------------------------------------------------------------------------------------------


def test_tensor_map_of_a_padded_row_major_matrix():
    spec = tensor_map.tiled(0x7F0000000000, 1000, 520, 520, 128, 64, "bf16")
    assert spec == tensor_map.Tiled(9, 0x7F0000000000, (520, 1000), 1040, (64, 128))
    assert tensor_map.tiled(0x1000, 3, 5, 8, 64, 64, "fp16").data_type == 6  # 5 columns in rows of 8


@pytest.mark.parametrize(("args", "why"), [
    ((0x1008, 10, 10, 16, 64, 64, "bf16"), "16-byte boundary"),
    ((0x1000, 10, 10, 12, 64, 64, "bf16"), "multiple of 16 bytes"),
    ((0x1000, 10, 20, 16, 64, 64, "bf16"), "20 columns do not fit"),
    ((0x1000, 10, 10, 16, 64, 128, "bf16"), "exceeds the 128-byte swizzle"),
    ((0x1000, 10, 10, 16, 512, 64, "bf16"), "exceeds 256 per side"),
    ((0x1000, 10, 10, 16, 64, 64, "fp32"), "no TMA kernel for fp32"),
])
def test_tensor_maps_tma_cannot_copy_are_refused_with_the_reason(args, why):
    with pytest.raises(ValueError, match=why):
        tensor_map.tiled(*args)


def test_encode_hands_the_driver_what_the_spec_says_into_aligned_memory():
    seen = []

    def driver(out, data_type, rank, address, dims, strides, box, element_strides, *modes):
        seen.append((out.value % 64, data_type, rank, address.value, dims[:2], strides[:1], box[:2],
                     element_strides[:2], modes))
        written = (ctypes.c_uint8 * 128).from_address(out.value)
        written[0], written[127] = 0xAB, 0xCD
        return 0

    spec = tensor_map.tiled(0x10000, 1000, 520, 520, 128, 64, "bf16")
    encoded = tensor_map.encode(spec, driver)
    assert seen == [(0, 9, 2, 0x10000, [520, 1000], [1040], [64, 128], [1, 1], (0, 3, 3, 0))]
    assert encoded.shape == (1,) and encoded.dtype.itemsize == 128 and encoded.ctypes.data % 64 == 0
    raw = encoded.view(np.uint8)
    assert (raw[0], raw[127]) == (0xAB, 0xCD) and not encoded.flags.writeable
    assert tensor_map.encode(spec, driver) is encoded and len(seen) == 1  # one encode per matrix and box


def test_encode_turns_a_driver_error_into_a_reason():
    spec = tensor_map.tiled(0x20000, 10, 10, 16, 64, 64, "fp16")
    with pytest.raises(RuntimeError, match="cuTensorMapEncodeTiled returned CUresult 1 for"):
        tensor_map.encode(spec, lambda *args: 1)


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


@pytest.mark.parametrize("sms", [132, 114, 8])
@pytest.mark.parametrize("kernel", ["wgmma-tma-persistent", "wgmma-tma-cluster-persistent"])
def test_a_persistent_kernel_is_checked_on_more_tiles_than_it_has_blocks(gpu, monkeypatch, sms, kernel):
    """Its blocks then compute a second tile, on a pipeline that runs on from the first; edges stay ragged."""
    monkeypatch.setattr(cupy_cuda, "multiprocessors", lambda device: sms)
    assert cupy_cuda.self_check_shape(0, "wgmma-tma") == cupy_cuda.SELF_CHECK_SHAPE
    m, n, k = cupy_cuda.self_check_shape(0, kernel)
    rows, cols, _ = PERSISTENT_TILE.block
    (blocks,) = cupy_cuda.launch_grid(kernel, m, n, sms)
    cluster_m = cupy_cuda.WMMA_TILES[kernel].cluster_m
    tiles = -(-m // (rows * cluster_m)) * -(-n // cols)  # cluster tiles, where the kernel has clusters
    assert tiles > blocks // cluster_m and m % rows and n % cols and k == cupy_cuda.SELF_CHECK_SHAPE[2]


def test_a_failed_self_check_says_whether_the_layout_is_wrong(gpu, monkeypatch, tmp_path):
    """The layout probe follows a wrong result: its verdict joins the reason, its maps go to the probe
    folder; a kernel that reads the right places but computes wrongly gets "exact"."""
    monkeypatch.setattr(cupy_cuda, "to_device", lambda x, **kwargs: x)
    monkeypatch.setattr(cupy_cuda, "synchronize", lambda device: None)
    monkeypatch.setenv(cupy_cuda.PROBE_DIR_ENV, str(tmp_path))

    def swizzled_wrong(a, b, **kwargs):  # B's 8-column chunks read from their neighbours, where there is one
        columns = np.arange(b.shape[1])
        return a @ b[:, np.where(columns ^ 8 < b.shape[1], columns ^ 8, columns)]

    monkeypatch.setattr(cupy_cuda, "matmul", swizzled_wrong)
    reason = cupy_cuda.self_check(0, "bf16", "wgmma-tma")
    assert "max rel error" in reason and "layout probe: A@I wrong at" in reason
    assert "I@B wrong at 98304 of 98304" in reason
    assert "read (row+0, col+8)" in (tmp_path / "wgmma-tma-bf16.txt").read_text()
    assert np.load(tmp_path / "wgmma-tma-bf16.npz")["b_cols"][0, 0] == 8
    # Every place right, but A's sign bit lost on the way in (the probe's codes are all positive).
    monkeypatch.setattr(cupy_cuda, "matmul", lambda a, b, **kwargs: np.abs(a) @ b)
    assert cupy_cuda.self_check(0, "bf16", "wgmma").endswith("layout probe exact (the operands are read from "
                                                             "the right places)")


def test_wgmma_launches_one_block_per_tile_in_a_linear_grid(gpu, monkeypatch):
    launches = []
    monkeypatch.setattr(cupy_cuda, "_wmma_function", lambda device, dtype, kernel: lambda grid, block, args,
                        shared_mem: launches.append((kernel, grid, block, shared_mem, args)))
    monkeypatch.setattr(tensor_map, "encode", lambda spec: spec)

    class Device:
        def __init__(self, index):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(cupy_cuda, "_cupy", lambda: SimpleNamespace(cuda=SimpleNamespace(Device=Device)))
    monkeypatch.setattr(cupy_cuda, "multiprocessors", lambda device: 20)
    monkeypatch.setattr(cupy_cuda, "resident_clusters", lambda device, dtype, kernel: None)  # the driver can't say
    for kernel in ("wgmma", "wmma", "wgmma-tma", "wgmma-tma-persistent"):
        cupy_cuda.wmma_gemm(_matrix(1000, 520), _matrix(520, 600), _matrix(1000, 600), kernel)
    cupy_cuda.wmma_gemm(_matrix(200, 520), _matrix(520, 300), _matrix(200, 300), "wgmma-tma-persistent")
    cupy_cuda.wmma_gemm(_matrix(1000, 520), _matrix(520, 600), _matrix(1000, 600), "wgmma-tma-cluster")
    cupy_cuda.wmma_gemm(_matrix(300, 520), _matrix(520, 600), _matrix(300, 600), "wgmma-tma-cluster")
    cupy_cuda.wmma_gemm(_matrix(1000, 520), _matrix(520, 600), _matrix(1000, 600), "wgmma-tma-cluster-persistent")
    cupy_cuda.wmma_gemm(_matrix(300, 520), _matrix(520, 600), _matrix(300, 600), "wgmma-tma-cluster-persistent")
    assert launches[0][:4] == ("wgmma", (8 * 3,), (256,), C["SMEM_BYTES"])  # 8 tile rows x 3 tile columns
    assert launches[1][1] == (5, 8)  # WMMA: (columns, rows) of 128 x 128 tiles
    assert launches[2][:4] == ("wgmma-tma", (8 * 3,), (384,), C["SMEM_BYTES_TMA"])
    a_map, b_map, c, ldc, m, n, k = launches[2][4]  # the kernel's (a_map, b_map, C, ldc, M, N, K)
    assert isinstance(a_map, tensor_map.Tiled) and (a_map.dims, b_map.dims) == ((520, 1000), (600, 520))
    assert (int(ldc), int(m), int(n), int(k)) == (600, 1000, 600, 520)
    # 24 tiles on 20 SMs: one block per SM, each computing tiles in turn; 2 x 2 tiles: one block per tile
    assert launches[3][:4] == ("wgmma-tma-persistent", (20,), (384,), C["SMEM_BYTES_TMA"])
    assert launches[4][1] == (4,)
    # clusters of two blocks, tiles one above the other: whole clusters, the last one's lower tile past M
    assert launches[5][:4] == ("wgmma-tma-cluster", (8 * 3,), (384,), C["SMEM_BYTES_TMA"])
    assert launches[6][1] == (4 * 3,)  # 3 tile rows -> 2 clusters of 2, x 3 tile columns
    # both: 4 x 3 clusters of two on 20 SMs -> 10 clusters; 2 x 3 clusters -> all 6, 12 blocks
    assert launches[7][:4] == ("wgmma-tma-cluster-persistent", (20,), (384,), C["SMEM_BYTES_TMA"])
    assert launches[8][1] == (12,)
    assert re.search(r"gemm_wgmma_tma_bf16\(const __grid_constant__ TensorMap a_map, const __grid_constant__ "
                     r"TensorMap b_map,\s+__nv_bfloat16 \*C, int ldc, int M, int N, int K\)", SOURCE)

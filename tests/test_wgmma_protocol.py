"""The Hopper GEMMs' synchronisation, checked without a GPU: their own pipeline code run on the CPU against
emulated mbarriers, TMA and cp.async copies and wgmma groups (tests/wgmma_protocol.py says what is emulated
and checked).

A hang or a stage overwritten while it is read would cost a lent GPU's minutes (a hang is killed only at
the trial's timeout) or give wrong products; here it fails in CI. The rules are shown to bite: each of
PLANTED, a bug put into a copy of the source, must be caught, with the failure its rule names.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from tests import host_cuda
from tests.wgmma_protocol import KERNELS, SOURCE, Emulator


class Planted(NamedTuple):
    """A bug put into a copy of gemm_wgmma.cu, and how the emulation must catch it (on `shape`)."""

    kernel: str
    old: str  # a text of gemm_wgmma.cu (there once)
    new: str  # what it becomes
    reports: str | tuple[str, ...]  # what the emulation must report: the rule it breaks, or those it may
                                    # break first, depending on the interleaving
    shape: tuple[int, int, int] = (1000, 600, 448)


EXTRA_TILE = ("            for (int tile = first; tile < tiles; tile += stride) {\n"
              "                tile_origin<CLUSTER>(tile, M, N, row0, col0, rank);\n                produce_tile")
PLANTED = {
    "a persistent block keeps each tile's last stage": Planted(
        "wgmma-tma-persistent", "consume_tile<T, CLUSTER>(d, p, consumer, slices, step, true);\n        store_tile(",
        "consume_tile<T, CLUSTER>(d, p, consumer, slices, step, false);\n        store_tile(", "deadlock"),
    "a persistent cluster's producer leaves without waiting for the other block": Planted(
        "wgmma-tma-cluster-persistent",
        "            }\n            if constexpr (CLUSTER > 1)\n                producer_tail(p, step);\n",
        "            }\n", "which has exited"),
    "a cluster's consumers free their own block's stage alone": Planted(
        "wgmma-tma-cluster", "free_stage<CLUSTER>(p, (step - 1) % STAGES);\n    }",
        "free_stage<1>(p, (step - 1) % STAGES);\n    }", "deadlock"),
    "a cluster's producer leaves without waiting for the other block": Planted(
        "wgmma-tma-cluster",
        "slices, step, rank);\n            if constexpr (CLUSTER > 1)\n                producer_tail(p, step);\n",
        "slices, step, rank);\n", "which has exited"),
    "a cluster's blocks start before each other's barriers exist": Planted(
        "wgmma-tma-cluster",
        "    if constexpr (CLUSTER > 1)\n        cluster_sync();\n    else\n        __syncthreads();",
        "    __syncthreads();", "used before its initialisation"),
    "consumers stage C while the other warpgroup's wgmmas run": Planted(
        "wgmma-tma", "    named_barrier(1, 256);  // both consumer warpgroups are done with the slots, and",
        "    // (removed)", ("C staged over a stage that a wgmma in flight reads",  # or the other way round:
                         "a wgmma read a stage where C is staged")),
    "consumers wait for the wrong phase of a full barrier": Planted(
        "wgmma-tma", "(step / STAGES) & 1);  // the slice has landed",
        "(step / STAGES + 1) & 1);  // the slice has landed", "before its boxes landed"),
    "the producer refills the first stage without waiting": Planted(
        "wgmma-tma", "if (step >= STAGES)\n", "if (step > STAGES)\n",
        ("more arrivals than its count", "on a stage that a wgmma in flight reads")),
    "a warp frees a stage while its wgmma may still read it": Planted(
        "wgmma-tma", "wgmma_wait<1>(d);  // the previous", "wgmma_wait<2>(d);  // the previous",
        "on a stage that a wgmma in flight reads"),
    "the producer expects fewer bytes than it loads": Planted(
        "wgmma-tma", "barrier_expect_bytes(bar, STAGE);", "barrier_expect_bytes(bar, STAGE - B_ATOM);",
        "before its boxes landed"),
    "the empty barriers lie past the shared memory the host gives": Planted(
        "wgmma-tma", "p.empty = p.full + STAGES * 8;", "p.empty = p.full + STAGES * 16;",
        "outside the block's dynamic shared memory"),
    "the cp.async kernel waits for one copy group too few": Planted(
        "wgmma", "wait_copies<STAGES - 3>();", "wait_copies<STAGES - 2>();",
        "before every warp's copies landed"),
    "the cp.async kernel's warps read a stage without the barrier after their waits": Planted(
        "wgmma", "        __syncthreads();  // everyone's have;", "        // everyone's have;",
        "before every warp's copies landed"),
    "the cp.async kernel refills the slot of the slice before": Planted(
        "wgmma", "const int next = t + STAGES - 2;", "const int next = t + STAGES - 1;",
        ("on a stage that a wgmma in flight reads", "before every warp's copies landed")),
    "the cp.async kernel leaves two wgmma groups in flight": Planted(
        "wgmma", "wgmma_wait<1>(d);  // slice t-1's", "wgmma_wait<2>(d);  // slice t-1's",
        "on a stage that a wgmma in flight reads"),
    "persistent consumers take the next tile, not the grid's stride": Planted(
        "wgmma-tma-persistent",
        "tile < tiles; tile += stride) {\n        tile_origin<CLUSTER>(tile, M, N, row0, col0, rank);\n        consume",
        "tile < tiles; tile += 1) {\n        tile_origin<CLUSTER>(tile, M, N, row0, col0, rank);\n        consume",
        "was stored with"),
    "a persistent producer loads a tile past the last (its tile number past the grid)": Planted(
        "wgmma-tma-persistent", EXTRA_TILE, EXTRA_TILE.replace("tile < tiles;", "tile < tiles + stride;"),
        "trapped: signal 8 (an integer division by zero)"),
    "a persistent producer loads a tile past the last (its boxes past C)": Planted(
        "wgmma-tma-persistent", EXTRA_TILE, EXTRA_TILE.replace("tile < tiles;", "tile < tiles + stride;"),
        ("a TMA copy that nobody waited for", "exited with copies still to land in it"), (300, 300, 64)),
}
# M, N, K: ragged in every direction (a cluster's lower tile past M), many K slices (stage phases wrap
# several times), K = 0 (no slice, or for TMA one it fills with zeros), one tile of one slice, more tiles
# than blocks.
SHAPES = [(300, 300, 136), (1000, 600, 448), (130, 10, 0), (128, 256, 64), (640, 256, 576)]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    if host_cuda.compiler() is None:
        pytest.skip("no host C++ compiler (g++ or clang++)")
    variants = {}
    for name, bug in PLANTED.items():
        assert SOURCE.count(bug.old) == 1, f"{name}: the text to change is not in gemm_wgmma.cu once"
        variants[name] = SOURCE.replace(bug.old, bug.new)
    return Emulator(tmp_path_factory.mktemp("wgmma_protocol"), variants)


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_kernel_keeps_the_pipeline_rules(emulator, kernel, shape):
    """Three interleavings each, on 1 and on 3 SMs (a persistent block computes up to every tile) with 2 or
    4 blocks resident."""
    for seed, (sms, resident) in enumerate([(1, 2), (3, 4), (3, 2)]):
        assert emulator.run(kernel, *shape, sms=sms, resident=resident, seed=seed) == ""


@pytest.mark.parametrize("name", list(PLANTED))
def test_planted_bug_is_caught(emulator, name):
    """By the rule it breaks, in the first of eight interleavings at most (a race may slip through some)."""
    bug = PLANTED[name]
    reports = (bug.reports,) if isinstance(bug.reports, str) else bug.reports
    for seed in range(8):
        message = emulator.run(bug.kernel, *bug.shape, sms=3, seed=seed, deadlock_s=2.0, variant=name)
        if message:
            break
    assert message, f"{name}: not caught in 8 interleavings"
    assert any(report in message for report in reports), message

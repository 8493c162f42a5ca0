"""Run the Hopper GEMMs' own pipeline code (kernels/gemm/gemm_wgmma.cu) on the CPU against emulated
mbarriers, TMA and cp.async copies and wgmma groups, to check their synchronisation without a GPU.

The functions that decide who waits for what are taken verbatim from the source: pipeline_setup,
produce_tile, producer_tail, free_stage, consume_tile, the tile order, and the kernel bodies (gemm_wgmma,
gemm_wgmma_tma and gemm_wgmma_tma_persistent, with and without clusters). What they call on the hardware is
replaced by an emulation that keeps the hardware's rules and checks every step against them:

- an mbarrier has an arrival count, a transaction-byte count and a phase; a phase completes when both
  counts reach zero, and `try_wait.parity p` passes once the phase of parity p has completed, as the PTX ISA
  defines it. An arrival beyond the count, on an uninitialised barrier, or on a block that has exited fails;
- a TMA copy (plain or multicast) lands later, in an order the emulation shuffles, writing a record of its
  box (which operand, which coordinates) into the slot and completing its bytes on the barrier named;
- a warp's cp.async copies of its share of a stage join its open group (commit closes it) and land at any
  time, at the latest when the warp's wait_group lets no fewer groups be pending;
- a wgmma group reads a stage when issued and its products count when waited for (wgmma.wait_group): the
  stage must hold A's box and B's four boxes (or every warp's cp.async share) of one K slice, the next
  slice of this tile, and no copy may land in it while the group is in flight;
- a tile is stored (from registers, or staged through the slots) only with all its slices, from the right
  rows of A and columns of B; staged C may not overlap a stage in use or a copy still to land; every 16-row
  strip of C is written exactly once;
- a block exits with no copy still to land in it, and with every phase of a barrier that counted TMA
  bytes seen complete by a wait (no copy that nobody waited for);
- a trap in the kernel's code (an integer division by zero, where a GPU would compute garbage) fails the
  run rather than ending the process;
- a deadlock is every thread waiting with nothing changing for a while.

Each warp is one host thread (lane 0 acting; the kernels' warp-collective steps are emulated per warp),
blocks run a wave at a time with whole clusters together, and short random pauses vary the interleaving
from one seed to the next. Not checked here: the data (the layout tests and the GPU tests do that), the
registers (the SASS tests), or the memory model beyond these orderings.
"""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

from kernels.gemm import cupy_cuda
from tests import host_cuda

SOURCE = cupy_cuda.WMMA_TILES["wgmma-tma"].source.read_text(encoding="utf-8")
# Each kernel (cupy_cuda's name) as its extern "C" functions call its body, with the emulated launch's
# arguments `a` (no matrices: the emulation follows where data would go, not the data).
_TMA_ARGS = "(a.maps[0], a.maps[1], nullptr, a.N, a.M, a.N, a.K)"
KERNELS = {"wgmma": "gemm_wgmma<__nv_bfloat16>(nullptr, a.K, nullptr, a.N, nullptr, a.N, a.M, a.N, a.K)",
           "wgmma-tma": "gemm_wgmma_tma<1, __nv_bfloat16>" + _TMA_ARGS,
           "wgmma-tma-persistent": "gemm_wgmma_tma_persistent<1, __nv_bfloat16>" + _TMA_ARGS,
           "wgmma-tma-cluster": "gemm_wgmma_tma<CLUSTER_M, __nv_bfloat16>" + _TMA_ARGS,
           "wgmma-tma-cluster-persistent": "gemm_wgmma_tma_persistent<CLUSTER_M, __nv_bfloat16>" + _TMA_ARGS}
# What runs as written: the pipelines' bookkeeping and the kernels that use it.
TAKEN = ("tile_count", "tile_place", "tile_origin", "tile_of_block", "slots_base", "Pipeline", "pipeline_setup",
         "produce_tile", "producer_tail", "free_stage", "consume_tile", "slice_count",
         *dict.fromkeys(call.split("<")[0] for call in KERNELS.values()))

PRELUDE = r"""
#include <algorithm>
#include <chrono>
#include <csetjmp>
#include <csignal>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>
using std::max;
using std::min;
#define __device__
#define __forceinline__ inline
struct Dim3 {
    unsigned x = 0, y = 0, z = 0;
};
static thread_local Dim3 threadIdx, blockIdx, gridDim;
struct __nv_bfloat16 {};
"""

EMULATION = r"""
namespace emu {
constexpr int WARPS = TMA_THREADS / 32;
constexpr unsigned RAW = 16;  // where dynamic shared memory starts: not 1024-aligned, as pipeline_setup allows
constexpr unsigned BASE = (RAW + ALIGN - 1) & ~unsigned(ALIGN - 1), SLOTS_END = BASE + STAGES * STAGE;
constexpr int A_BOX = 0, B_BOX = 1;  // TensorMap.opaque[0] of the emulated maps of A and B

struct Failure {};  // thrown to unwind a thread once the run has failed

struct Box {
    int kind, inner, outer;
    long serial;  // which copy wrote it
};
struct Barrier {
    int expected = 0, pending = 0;
    long tx = 0;
    unsigned phase = 0;
    bool counts_bytes = false;  // a "full" barrier: TMA's copies complete on it
    unsigned waited = 0;        // phases a wait has seen completed
};
constexpr int BOXES = 1 + BN / 64;  // A's box and B's boxes of one stage
struct Group {
    float *d;
    bool accumulate;
    unsigned slot;
    Box boxes[BOXES];
};
struct Rendezvous {
    int arrived = 0;
    long generation = 0;
};
struct Staged {
    unsigned from, to;
    int consumer;
};
struct Part {  // what a warp's cp.async copies of a stage last brought: slice k0 of the tile at (row0, col0)
    int k0, row0, col0;
};
struct Block {
    int id = 0;
    unsigned rank = 0;
    std::vector<Block *> cluster;  // the blocks of its cluster by rank, itself included
    std::vector<unsigned char> smem = std::vector<unsigned char>(SMEM_BYTES_TMA);
    std::map<unsigned, Barrier> barriers;  // by shared address
    std::map<unsigned, Box> boxes;         // the last box landed at each shared address
    std::map<int, std::vector<Group>> groups;  // wgmma groups in flight, by warp
    std::vector<Staged> staged;
    std::map<int, Rendezvous> named;
    Rendezvous all, cluster_all;
    int warps = WARPS, running = WARPS;
    bool exited = false;
    bool cp_async = false;                            // its stages are filled by cp.async, not TMA
    std::map<unsigned, std::map<int, Part>> parts;    // cp.async: each warp's share of a stage, by address
    std::map<int, long> open_group;                   // cp.async: each warp's groups committed so far
};
struct Copy {
    std::vector<Block *> to;
    unsigned dst, bar;
    Box box;
};
struct AsyncCopy {  // one warp's cp.async copies of its share of a stage (the cp.async kernel)
    Block *block;
    int warp;
    long group;  // the warp's cp.async group it belongs to (commit numbers them)
    unsigned slot;
    Part part;
};

std::mutex mutex;
std::condition_variable changed;
std::string failure;
std::chrono::steady_clock::time_point last_change;
double deadlock_s = 5;
std::deque<Copy> copies;  // issued, not yet landed
std::deque<AsyncCopy> async_copies;  // likewise
bool engine_done = false;
long serials = 0;
int M_ = 0, N_ = 0, K_ = 0;
std::map<std::pair<int, int>, int> stored;  // (row, column) of each 16-row strip of C written -> times
thread_local Block *block = nullptr;
thread_local std::mt19937 rng;

using Lock = std::unique_lock<std::mutex>;

std::string where()
{
    return block ? " (block " + std::to_string(block->id) + ", warp " + std::to_string(threadIdx.x / 32) + ")" : "";
}

[[noreturn]] void fail(const std::string &what)
{
    if (failure.empty())
        failure = what + where();
    changed.notify_all();
    throw Failure();
}

void change()
{
    last_change = std::chrono::steady_clock::now();
    changed.notify_all();
}

template <typename Ready>
void await(Lock &lock, Ready ready, const std::string &what)
{
    while (!ready()) {
        if (!failure.empty())
            throw Failure();
        if (std::chrono::steady_clock::now() - last_change > std::chrono::duration<double>(deadlock_s))
            fail("deadlock: nothing changed for " + std::to_string(int(deadlock_s * 1000)) + " ms; this warp " +
                 what);
        changed.wait_for(lock, std::chrono::milliseconds(10));
    }
}

// A short random pause before a step, so that runs with different seeds interleave differently.
Lock step()
{
    const unsigned r = rng() % 16;
    if (r == 0)
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
    else if (r < 6)
        std::this_thread::yield();
    Lock lock(mutex);
    if (!failure.empty())
        throw Failure();
    return lock;
}

bool overlaps(unsigned a, unsigned a_end, unsigned b, unsigned b_end) { return a < b_end && b < a_end; }

unsigned box_bytes(int kind) { return kind == A_BOX ? A_STAGE : B_ATOM; }

// Whether a wgmma group still in flight in block `b` reads any of the shared addresses [from, to).
bool read_in_flight(const Block *b, unsigned from, unsigned to)
{
    for (const auto &[warp, groups] : b->groups)
        for (const Group &g : groups)
            if (overlaps(from, to, g.slot, g.slot + STAGE))
                return true;
    return false;
}

// Whether C is staged in any of the shared addresses [from, to) of block `b`.
bool holds_staged_c(const Block *b, unsigned from, unsigned to)
{
    return std::any_of(b->staged.begin(), b->staged.end(),
                       [&](const Staged &s) { return overlaps(from, to, s.from, s.to); });
}

Barrier &barrier_at(Block *b, unsigned bar)
{
    auto it = b->barriers.find(bar);
    if (it == b->barriers.end())
        fail("an mbarrier at shared address " + std::to_string(bar) + " of block " + std::to_string(b->id) +
             " used before its initialisation");
    return it->second;
}

void complete_if_done(Barrier &x)
{
    if (x.pending < 0)
        fail("an mbarrier got more arrivals than its count in one phase");
    if (x.pending == 0 && x.tx == 0) {
        ++x.phase;
        x.pending = x.expected;
    }
    change();
}

void arrive_on(Block *b, unsigned bar)
{
    if (b->exited)
        fail("an arrival on an mbarrier of block " + std::to_string(b->id) + ", which has exited");
    Barrier &x = barrier_at(b, bar);
    --x.pending;
    complete_if_done(x);
}

void issue(const std::vector<Block *> &to, unsigned dst, int kind, int inner, int outer, unsigned bar)
{
    if (dst % ALIGN)
        fail("a TMA box at shared address " + std::to_string(dst) + ": not 1024-byte aligned, as the 128-byte "
             "swizzle needs");
    if (dst < BASE || dst + box_bytes(kind) > SLOTS_END)
        fail("a TMA box outside the pipeline's slots");
    for (Block *b : to)
        barrier_at(b, bar);
    copies.push_back(Copy{to, dst, bar, Box{kind, inner, outer, 0}});
    change();
}

void land(Copy &c)
{
    const unsigned bytes = box_bytes(c.box.kind);
    for (Block *b : c.to) {
        const std::string into = " into block " + std::to_string(b->id);
        if (b->exited)
            fail("a TMA copy landed" + into + ", which has exited");
        if (holds_staged_c(b, c.dst, c.dst + bytes))
            fail("a TMA copy landed" + into + " on shared memory where C is staged");
        if (read_in_flight(b, c.dst, c.dst + bytes))
            fail("a TMA copy landed" + into + " on a stage that a wgmma in flight reads");
        Box box = c.box;
        box.serial = ++serials;
        b->boxes[c.dst] = box;
        Barrier &x = barrier_at(b, c.bar);
        x.tx -= bytes;
        complete_if_done(x);
    }
}

void land_async(const AsyncCopy &c)
{
    if (read_in_flight(c.block, c.slot, c.slot + STAGE))
        fail("a cp.async copy landed in block " + std::to_string(c.block->id) +
             " on a stage that a wgmma in flight reads");
    c.block->parts[c.slot][c.warp] = c.part;
    change();
}

// The copy engines (TMA's, and cp.async's): land the copies issued, in a shuffled order, with pauses.
void engine(unsigned seed)
{
    std::mt19937 r(seed);
    Lock lock(mutex);
    while (!engine_done && failure.empty()) {
        const size_t pending = copies.size() + async_copies.size();
        if (pending == 0) {
            changed.wait_for(lock, std::chrono::milliseconds(1));
            continue;
        }
        const size_t i = r() % pending;
        try {
            if (i < copies.size()) {
                Copy c = copies[i];
                copies.erase(copies.begin() + i);
                land(c);
            } else {
                AsyncCopy c = async_copies[i - copies.size()];
                async_copies.erase(async_copies.begin() + (i - copies.size()));
                land_async(c);
            }
        } catch (Failure &) {
            return;
        }
        if (r() % 4 == 0) {
            lock.unlock();
            std::this_thread::sleep_for(std::chrono::microseconds(r() % 100));
            lock.lock();
        }
    }
}

// Every one of `warps` warps waits here until the last has come. `select` picks the barrier (under the lock).
template <typename Select>
void rendezvous(Select select, int warps, const char *what)
{
    Lock lock = step();
    Rendezvous &r = select();
    const long generation = r.generation;
    if (++r.arrived == warps) {
        r.arrived = 0;
        ++r.generation;
        change();
        return;
    }
    change();
    await(lock, [&] { return r.generation != generation; }, what);
}

void apply(Group &g)
{
    float *d = g.d;
    const Box &a = g.boxes[0];
    if (!g.accumulate || d[0] == 0) {  // the tile's first slice: d = its products (or d was zeroed)
        d[0] = 0;           // slices summed
        d[2] = a.outer;     // A's first row
        d[3] = g.boxes[1].inner;  // B's first column
    }
    if (a.inner != d[0] * BK)
        fail("a wgmma summed K slice " + std::to_string(a.inner / BK) + " where slice " +
             std::to_string(int(d[0])) + " was due");
    if (a.outer != d[2])
        fail("a tile's slices came from different rows of A");
    for (int j = 0; j + 1 < BOXES; ++j)
        if (g.boxes[1 + j].outer != a.inner || g.boxes[1 + j].inner != d[3] + 64 * j)
            fail("B's box " + std::to_string(j) + " of a stage is not of the slice and columns of the rest");
    d[0] += 1;
}

void check_tile(const float *d, int row0, int col0)
{
    const int slices = (K_ + BK - 1) / BK;  // K = 0: none, or one that TMA fills with zeros
    const bool none = slices == 0 && d[0] == 0;
    if (!none && (d[0] != max(slices, 1) || d[2] != row0 || d[3] != col0))
        fail("the tile at (" + std::to_string(row0) + ", " + std::to_string(col0) + ") was stored with " +
             std::to_string(int(d[0])) + " of its " + std::to_string(max(slices, 1)) + " slices, from A's row " +
             std::to_string(int(d[2])) + " and B's column " + std::to_string(int(d[3])));
}

void record_store(int row0, int col0, int warpgroup)
{
    const int row = row0 + warpgroup * 64 + (threadIdx.x % 128) / 32 * 16;  // this warp's 16 rows
    if (row < M_ && col0 < N_)
        ++stored[{row, col0}];
    change();
}

// What a wgmma on the stage at `slot` reads, TMA's boxes: A's and B's, as they last landed there.
void read_boxes(Group &g)
{
    for (int i = 0; i < BOXES; ++i) {
        const unsigned at = i == 0 ? g.slot : g.slot + A_STAGE + (i - 1) * B_ATOM;
        auto box = block->boxes.find(at);
        if (box == block->boxes.end() || box->second.kind != (i == 0 ? A_BOX : B_BOX))
            fail("a wgmma read a stage before its boxes landed");
        g.boxes[i] = box->second;
    }
}

// The same from cp.async copies: every warp's share of the stage must hold the same slice.
void read_parts(Group &g)
{
    const auto found = block->parts.find(g.slot);
    if (found == block->parts.end() || static_cast<int>(found->second.size()) != block->warps)
        fail("a wgmma read a stage before every warp's copies landed");
    const Part &part = found->second.begin()->second;
    for (const auto &[warp, other] : found->second)
        if (other.k0 != part.k0 || other.row0 != part.row0 || other.col0 != part.col0)
            fail("a wgmma read a stage of mixed slices: some warps' copies had yet to land");
    g.boxes[0] = Box{A_BOX, part.k0, part.row0, 0};
    for (int j = 0; j + 1 < BOXES; ++j)
        g.boxes[1 + j] = Box{B_BOX, part.col0 + 64 * j, part.k0, 0};
}

// What is wrong with block `b` exiting now, or "": copies (TMA's or cp.async's) still to land in it, or a
// TMA copy that nobody waited for (a phase of a full barrier that no wait saw complete).
std::string unfinished(const Block *b)
{
    const std::string block = "block " + std::to_string(b->id);
    for (const Copy &c : copies)
        if (std::find(c.to.begin(), c.to.end(), b) != c.to.end())
            return block + " exited with copies still to land in it";
    if (std::any_of(async_copies.begin(), async_copies.end(), [b](const AsyncCopy &c) { return c.block == b; }))
        return block + " exited with copies still to land in it";
    for (const auto &[address, x] : b->barriers)
        if (x.counts_bytes && (x.waited != x.phase || x.tx != 0 || x.pending != x.expected))
            return block + " exited with a TMA copy that nobody waited for (the mbarrier at " +
                   std::to_string(address) + ")";
    return "";
}

unsigned char *dynamic_smem() { return block->smem.data(); }
}  // namespace emu

// --- the hardware's steps, as the kernels call them --------------------------------------------------------

unsigned long long __cvta_generic_to_shared(const void *p)
{
    return emu::RAW + (static_cast<const unsigned char *>(p) - emu::block->smem.data());
}

void __syncthreads()
{
    emu::rendezvous([] { return std::ref(emu::block->all); }, emu::block->warps, "waits at __syncthreads");
}

void cluster_sync()
{
    const int blocks = static_cast<int>(emu::block->cluster.size());
    emu::rendezvous([] { return std::ref(emu::block->cluster[0]->cluster_all); }, emu::block->warps * blocks,
                    "waits at barrier.cluster");
}

void named_barrier(int id, int threads)
{
    emu::rendezvous([id] { return std::ref(emu::block->named[id]); }, threads / 32, "waits at bar.sync");
}

unsigned cluster_rank() { return emu::block->rank; }
void producer_registers() {}
void consumer_registers() {}
void fence_barrier_init() {}

void barrier_init(unsigned bar, unsigned count)
{
    emu::Lock lock = emu::step();
    if (bar % 8 || bar < emu::RAW || bar + 8 > emu::RAW + SMEM_BYTES_TMA)
        emu::fail("an mbarrier at shared address " + std::to_string(bar) + ": misaligned or outside the block's "
                  "dynamic shared memory");
    if (bar < emu::SLOTS_END)
        emu::fail("an mbarrier inside the pipeline's slots");
    emu::Barrier &x = emu::block->barriers[bar];
    x.expected = x.pending = static_cast<int>(count);
    emu::change();
}

void barrier_expect_bytes(unsigned bar, unsigned bytes)
{
    emu::Lock lock = emu::step();
    emu::Barrier &x = emu::barrier_at(emu::block, bar);
    x.counts_bytes = true;
    x.tx += bytes;
    --x.pending;
    emu::complete_if_done(x);
}

void barrier_arrive(unsigned bar)
{
    emu::Lock lock = emu::step();
    emu::arrive_on(emu::block, bar);
}

void barrier_arrive_in(unsigned bar, unsigned rank)
{
    emu::Lock lock = emu::step();
    if (rank >= emu::block->cluster.size())
        emu::fail("an arrival on cluster rank " + std::to_string(rank) + ", past the cluster");
    emu::arrive_on(emu::block->cluster[rank], bar);
}

void barrier_wait(unsigned bar, unsigned parity)
{
    emu::Lock lock = emu::step();
    emu::Barrier *x = &emu::barrier_at(emu::block, bar);
    emu::await(lock, [&] { return (x->phase & 1) != parity; },
               "waits on the mbarrier at " + std::to_string(bar) + " for parity " + std::to_string(parity));
    x->waited = max(x->waited, x->phase);
}

void tma_load(unsigned dst, const TensorMap &map, int inner, int outer, unsigned bar)
{
    emu::Lock lock = emu::step();
    emu::issue({emu::block}, dst, static_cast<int>(map.opaque[0]), inner, outer, bar);
}

void tma_load_multicast(unsigned dst, const TensorMap &map, int inner, int outer, unsigned bar, unsigned short blocks)
{
    emu::Lock lock = emu::step();
    std::vector<emu::Block *> to;
    for (unsigned rank = 0; rank < 16; ++rank)
        if (blocks >> rank & 1) {
            if (rank >= emu::block->cluster.size())
                emu::fail("a multicast to cluster rank " + std::to_string(rank) + ", past the cluster");
            to.push_back(emu::block->cluster[rank]);
        }
    emu::issue(to, dst, static_cast<int>(map.opaque[0]), inner, outer, bar);
}

// cp.async (the cp.async kernel): a warp's copies of its share of a stage join its open group; commit
// closes the group; wait_group N lands every group of this warp's but the N most recent.
template <typename T>
void load_stage(unsigned a_s, const T *, int, const T *, int, int, int, int row0, int col0, int k0)
{
    emu::Lock lock = emu::step();
    if (a_s % ALIGN || a_s < emu::BASE || a_s + STAGE > emu::SLOTS_END)
        emu::fail("a stage copied outside the pipeline's slots, or misaligned");
    const int warp = threadIdx.x / 32;
    emu::async_copies.push_back({emu::block, warp, emu::block->open_group[warp], a_s, {k0, row0, col0}});
    emu::change();
}

void commit()
{
    emu::Lock lock = emu::step();
    ++emu::block->open_group[threadIdx.x / 32];
    emu::change();
}

template <int N>
void wait_copies()
{
    emu::Lock lock = emu::step();
    const int warp = threadIdx.x / 32;
    const long done = emu::block->open_group[warp] - N;  // groups numbered below this have landed
    for (size_t i = 0; i < emu::async_copies.size();) {
        const emu::AsyncCopy c = emu::async_copies[i];
        if (c.block == emu::block && c.warp == warp && c.group < done) {
            emu::async_copies.erase(emu::async_copies.begin() + i);
            emu::land_async(c);
        } else {
            ++i;
        }
    }
    emu::change();
}

void fence_to_async_proxy() {}

template <typename T>
void mma_slice(float (&d)[128], unsigned slot, int, bool accumulate = true)
{
    emu::Lock lock = emu::step();
    emu::Group g{d, accumulate, slot, {}};
    if (emu::block->cp_async) {
        emu::read_parts(g);
    } else {
        emu::read_boxes(g);
    }
    if (emu::holds_staged_c(emu::block, slot, slot + STAGE))
        emu::fail("a wgmma read a stage where C is staged");
    emu::block->groups[threadIdx.x / 32].push_back(g);
}

template <int N>
void wgmma_wait(float (&)[128])
{
    emu::Lock lock = emu::step();
    std::vector<emu::Group> &mine = emu::block->groups[threadIdx.x / 32];
    while (static_cast<int>(mine.size()) > N) {
        emu::apply(mine.front());
        mine.erase(mine.begin());
    }
    emu::change();
}

template <typename T>
void store_tile(const float (&d)[128], T *, int, int, int, int row0, int col0, int warpgroup)
{
    emu::Lock lock = emu::step();
    emu::check_tile(d, row0, col0);
    emu::record_store(row0, col0, warpgroup);
}

template <typename T>
void store_tile_staged(const float (&d)[128], unsigned char *staged, T *, int, int, int, int row0, int col0,
                       int consumer)
{
    emu::Lock lock = emu::step();
    emu::check_tile(d, row0, col0);
    const unsigned from = static_cast<unsigned>(__cvta_generic_to_shared(staged)), to = from + C_STAGED;
    if (from < emu::BASE || to > emu::SLOTS_END)
        emu::fail("C staged outside the pipeline's slots");
    if (emu::read_in_flight(emu::block, from, to))
        emu::fail("C staged over a stage that a wgmma in flight reads");
    for (const emu::Copy &c : emu::copies)
        for (emu::Block *b : c.to)
            if (b == emu::block && emu::overlaps(from, to, c.dst, c.dst + emu::box_bytes(c.box.kind)))
                emu::fail("C staged where a TMA copy has yet to land");
    for (const emu::Staged &s : emu::block->staged)
        if (s.consumer != consumer && emu::overlaps(from, to, s.from, s.to))
            emu::fail("the two consumer warpgroups staged C over each other");
    emu::block->staged.push_back({from, to, consumer});
    emu::record_store(row0, col0, consumer);
}
"""

DRIVER = r"""
// An integer division by zero in the kernel's own code (a tile past the grid, say) traps on the host, where
// a GPU computes garbage: the trapping warp jumps back to warp_main, which reports it, instead of the
// signal ending the process. (It happens in the kernel's code, never in the emulation's, which holds the
// lock: nothing is left held.)
static thread_local sigjmp_buf *trap_exit = nullptr;

static void on_trap(int signal)
{
    if (trap_exit)
        siglongjmp(*trap_exit, signal);
    std::signal(signal, SIG_DFL);
    std::raise(signal);
}

struct Args {  // what the emulated launch passes: TMA's tensor maps, the shape
    TensorMap maps[2];
    int M, N, K;
};
using Kernel = void (*)(const Args &);

static void warp_main(emu::Block *b, int warp, int grid, Kernel kernel, const Args *args, unsigned seed)
{
    emu::block = b;
    threadIdx.x = 32 * warp;
    blockIdx.x = b->id;
    gridDim.x = grid;
    emu::rng.seed(seed * 7919u + b->id * 64u + warp);
    sigjmp_buf trapped;
    if (const int signal = sigsetjmp(trapped, 1)) {
        trap_exit = nullptr;
        emu::Lock lock(emu::mutex);
        if (emu::failure.empty())
            emu::failure = "the kernel's code trapped: signal " + std::to_string(signal) +
                           (signal == SIGFPE ? " (an integer division by zero)" : "") + emu::where();
    } else {
        trap_exit = &trapped;
        try {
            kernel(*args);
            emu::Lock lock(emu::mutex);
            if (!b->groups[warp].empty())
                emu::fail("a warp exited with wgmma groups in flight");
        } catch (emu::Failure &) {
        }
        trap_exit = nullptr;
    }
    emu::Lock lock(emu::mutex);
    if (--b->running == 0) {
        b->exited = true;
        if (emu::failure.empty())  // (and nothing may touch the block once it is gone)
            emu::failure = emu::unfinished(b);
    }
    emu::change();
}

// One launch of kernel `which` (KERNELS' order) of `variant` over `grid` blocks of `warps` warps in clusters
// of `cluster`, `resident` blocks running at a time, its stages filled by cp.async (`cp_async`) or TMA;
// returns 0, or 1 with what went wrong in `message`.
extern "C" int run(int variant, int which, int grid, int cluster, int resident, int warps, int cp_async, int M, int N,
                   int K, unsigned seed, double deadlock_s, char *message, int size)
{
    const Kernel kernels[][{COUNT}] = {KERNELS};
    {
        emu::Lock lock(emu::mutex);
        emu::failure.clear();
        emu::copies.clear();
        emu::async_copies.clear();
        emu::stored.clear();
        emu::engine_done = false;
        emu::M_ = M, emu::N_ = N, emu::K_ = K;
        emu::deadlock_s = deadlock_s;
        emu::last_change = std::chrono::steady_clock::now();
    }
    Args args = {};
    args.maps[0].opaque[0] = emu::A_BOX;
    args.maps[1].opaque[0] = emu::B_BOX;
    args.M = M, args.N = N, args.K = K;
    struct sigaction trap = {}, before = {};
    trap.sa_handler = on_trap;
    sigaction(SIGFPE, &trap, &before);
    std::thread tma(emu::engine, seed);
    const auto failed = [] {
        emu::Lock lock(emu::mutex);
        return !emu::failure.empty();
    };
    for (int first = 0; first < grid && !failed(); first += resident) {
        const int count = min(resident, grid - first);
        std::vector<std::unique_ptr<emu::Block>> blocks;
        for (int i = 0; i < count; ++i) {
            blocks.push_back(std::make_unique<emu::Block>());
            blocks.back()->id = first + i;
            blocks.back()->rank = i % cluster;
            blocks.back()->warps = blocks.back()->running = warps;
            blocks.back()->cp_async = cp_async != 0;
        }
        for (int i = 0; i < count; ++i)
            for (int r = 0; r < cluster; ++r)
                blocks[i]->cluster.push_back(blocks[i - i % cluster + r].get());
        std::vector<std::thread> threads;
        for (auto &b : blocks)
            for (int w = 0; w < warps; ++w)
                threads.emplace_back(warp_main, b.get(), w, grid, kernels[variant][which], &args, seed);
        for (auto &thread : threads)
            thread.join();
    }
    {
        emu::Lock lock(emu::mutex);
        emu::engine_done = true;
    }
    tma.join();
    sigaction(SIGFPE, &before, nullptr);
    std::string &failure = emu::failure;
    if (failure.empty() && !(emu::copies.empty() && emu::async_copies.empty()))
        failure = "copies still in flight when the kernel ended";
    for (int row = 0; failure.empty() && row < M; row += 16)
        for (int col = 0; failure.empty() && col < N; col += BN) {
            auto it = emu::stored.find({row, col});
            const int times = it == emu::stored.end() ? 0 : it->second;
            if (times != 1)
                failure = "C's rows " + std::to_string(row) + ".." + std::to_string(row + 15) + " of columns " +
                          std::to_string(col) + ".. written " + std::to_string(times) + " times";
        }
    snprintf(message, size, "%s", failure.c_str());
    return failure.empty() ? 0 : 1;
}
"""


def definitions(source: str) -> str:
    """The constants and the TensorMap type of `source`, as written there."""
    return host_cuda.constants(source) + host_cuda.definition(source, "TensorMap") + "\n"


def taken(source: str) -> str:
    """The TAKEN functions of `source`, as written there but for their dynamic shared memory (each emulated
    block holds its own)."""
    return "\n".join(host_cuda.definition(source, name) for name in TAKEN).replace(
        "extern __shared__ unsigned char smem[];", "unsigned char *smem = emu::dynamic_smem();")


class Emulator:
    """gemm_wgmma.cu's TMA kernels built to run on emulated hardware: as written, and as each of `variants`
    (name -> a changed copy of the source, whose TAKEN functions it uses) would have them, in one library."""

    def __init__(self, folder: Path, variants: dict[str, str] | None = None):
        self.variants = ["", *(variants or {})]
        sources = [SOURCE, *(variants or {}).values()]
        spaces = [f"namespace variant_{i} {{\n{taken(source)}}}\n" for i, source in enumerate(sources)]
        rows = [", ".join(f"[](const Args &a) {{ variant_{i}::{call}; }}" for call in KERNELS.values())
                for i in range(len(sources))]
        table = "{" + ", ".join("{" + row + "}" for row in rows) + "}"
        driver = DRIVER.replace("{KERNELS}", table).replace("{COUNT}", str(len(KERNELS)))
        code = PRELUDE + definitions(SOURCE) + EMULATION + "".join(spaces) + driver
        self.lib = host_cuda.shared_library(code, folder, "wgmma_protocol", ("-std=c++17", "-pthread"))
        self.lib.run.restype = ctypes.c_int

    def run(self, kernel: str, m: int, n: int, k: int, *, sms: int = 4, resident: int = 4, seed: int = 1,
            deadlock_s: float = 10.0, variant: str = "") -> str:
        """'' when `kernel` (of `variant`) computed the M x N x K product by the rules, else what went wrong.
        The grid is the host's (cupy_cuda.launch_grid) on a GPU of `sms` SMs; `resident` blocks run at once
        (a persistent grid all at once, as it needs)."""
        tile = cupy_cuda.WMMA_TILES[kernel]
        (grid,) = cupy_cuda.launch_grid(kernel, m, n, sms)
        resident = grid if tile.persistent else max(resident // tile.cluster_m, 1) * tile.cluster_m
        message = ctypes.create_string_buffer(1000)
        c_int = ctypes.c_int
        self.lib.run(c_int(self.variants.index(variant)), c_int(list(KERNELS).index(kernel)), c_int(grid),
                     c_int(tile.cluster_m), c_int(resident), c_int(tile.block[2] // 32), c_int(not tile.tma_box_k),
                     c_int(m), c_int(n), c_int(k), ctypes.c_uint(seed), ctypes.c_double(deadlock_s), message,
                     c_int(len(message)))
        return message.value.decode()

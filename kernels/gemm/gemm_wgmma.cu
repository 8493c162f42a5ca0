// Own Hopper GEMM for CuPy's RawModule: C = A @ B, row-major, A/B/C in bf16 or fp16, fp32 accumulate,
// on wgmma (warpgroup MMA, sm_90a only: Blackwell has no wgmma, and runs gemm_wmma.cu's kernels).
//
// One block of two warpgroups (256 threads) computes a 128 x 256 tile of C: warpgroup g the rows
// 64g..64g+63, as one m64n256k16 wgmma per 16 of K whose 128 fp32 accumulators per thread stay in
// registers for the whole K loop. Both operands come from shared memory through matrix descriptors:
//   A (BM x BK, K-major: a row of A is 64 elements of K = 128 bytes),
//   B (BK x BN, N-major: a row of B is N-contiguous; the wgmma reads it transposed, imm-trans-b = 1),
// each stored as 128-byte rows in the 128-byte swizzle the descriptors name: the 16-byte chunk c of row r
// lands at chunk c ^ (r % 8) of that row, within 1024-byte atoms of 8 rows. B's 256 columns are four
// atoms side by side (64 columns each), BK rows deep. So, per descriptor (bytes; tests/test_gemm_wgmma.py
// checks every element of a stage against the PTX ISA's canonical layouts):
//   A: stride byte offset 1024 (8 rows of M to the next 8), leading byte offset unused (16);
//      the k-th 16-wide slice of K starts 32 k bytes into the row.
//   B: stride byte offset 1024 (8 rows of K to the next 8), leading byte offset B_ATOM = BK * 128
//      (64 columns of N to the next 64); the k-th slice of K starts 16 * 128 * k bytes in.
// K advances BK = 64 at a time through a cp.async pipeline of STAGES slots: at step t the block waits
// for slice t, lets the tensor cores run slice t while slice t-1's wgmma may still be in flight, and
// refills the slot of slice t-2 (whose wgmma every warpgroup has waited for) with slice t+STAGES-2.
// Blocks are ordered in groups of GROUP_M tile rows, so the B columns a wave reads stay in L2.
//
// gemm_wgmma_tma_* (below the first kernels) compute the same tiles from the same stage layout, but the
// copies are the Tensor Memory Accelerator's: a third warpgroup (the producer, one thread of it, its
// registers given to the others with setmaxnreg) issues one TMA load of A's slice and four of B's per
// stage against mbarriers, which the two consumer warpgroups wait on; a consumer warp arrives on a stage's
// "empty" mbarrier once its wgmma on it has completed, and only then does the producer refill it. TMA
// writes the 128-byte swizzle itself (the tensor maps name it; the slots are 1024-byte aligned, so its
// address-based pattern is the chunk ^ (row % 8) above) and fills what lies past the matrix with zeros.
// Its consumers write C through shared memory in 16-byte row chunks (store_tile_staged). Three variants
// share its producer and consumer loops: gemm_wgmma_tma_persistent_* (one block per SM computing tiles in
// turn, the pipeline running on across them), gemm_wgmma_tma_cluster_* (clusters of two blocks, tiles
// one above the other, whose producers multicast half of B's boxes each into both blocks), and
// gemm_wgmma_tma_cluster_persistent_* (both: one cluster per two SMs computing cluster tiles in turn).
//
// Shapes: any M, N, K. Rows of A and B must be 16-byte aligned and zero-padded to lda / ldb (multiples
// of 8 elements), as kernels/gemm/cupy_cuda.py allocates them; chunks past the edges are zero-filled by
// cp.async (src-size 0) or by TMA, and stores past the edge of C are skipped.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace {

constexpr int BM = 128, BN = 256, BK = 64, STAGES = 4, GROUP_M = 8;
constexpr int THREADS = 256;          // two warpgroups
constexpr int ROW_BYTES = 128;        // one swizzled row: BK elements of A, or 64 columns of B
constexpr int CHUNK = 8;              // elements per 16-byte cp.async
constexpr int A_STAGE = BM * ROW_BYTES;            // 16 KiB
constexpr int B_ATOM = BK * ROW_BYTES;             // 8 KiB: 64 columns of B, BK rows deep
constexpr int B_STAGE = (BN / 64) * B_ATOM;        // 32 KiB
constexpr int STAGE = A_STAGE + B_STAGE;           // 48 KiB
constexpr int ALIGN = 1024;                        // a 128-byte swizzle atom starts on a 1024-byte boundary
constexpr int SMEM_BYTES = STAGES * STAGE + ALIGN; // the slots, plus room to align the first one
static_assert(BK * 2 == ROW_BYTES, "a row of A's slice is one 128-byte swizzle row");
static_assert(STAGE % ALIGN == 0 && A_STAGE % ALIGN == 0 && B_ATOM % ALIGN == 0, "atoms stay aligned");

// Where the 16-byte chunk `chunk` of row `row` of a swizzled 128-byte-row region lands (bytes).
__device__ __forceinline__ unsigned swizzled(int row, int chunk)
{
    return row * ROW_BYTES + ((chunk ^ (row & 7)) << 4);
}

__device__ __forceinline__ void copy16(unsigned dst, const void *src, bool valid)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void wait_copies() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// A wgmma matrix descriptor: start address, leading and stride byte offsets (each >> 4), 128-byte swizzle.
__device__ __forceinline__ unsigned long long descriptor(unsigned address, unsigned leading, unsigned stride)
{
    return (unsigned long long)((address & 0x3FFFF) >> 4) | ((unsigned long long)((leading & 0x3FFFF) >> 4) << 16) |
           ((unsigned long long)((stride & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}

#define WGMMA_D8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), \
                    "+f"(d[i + 6]), "+f"(d[i + 7])
#define WGMMA_D128 WGMMA_D8(0), WGMMA_D8(8), WGMMA_D8(16), WGMMA_D8(24), WGMMA_D8(32), WGMMA_D8(40), WGMMA_D8(48), \
                   WGMMA_D8(56), WGMMA_D8(64), WGMMA_D8(72), WGMMA_D8(80), WGMMA_D8(88), WGMMA_D8(96),           \
                   WGMMA_D8(104), WGMMA_D8(112), WGMMA_D8(120)
// d = A(64 x 16, K-major) * B(16 x 256, N-major) + (accumulate ? d : 0): scale-d the predicate `accumulate`,
// scale-a/b 1, trans-a 0, trans-b 1. Starting a tile with accumulate = 0 rather than zeroed registers keeps
// every definition of d inside wgmma, which ptxas needs to keep the wgmmas asynchronous.
#define WGMMA_M64N256K16(TYPES)                                                                             \
    asm volatile("{\n"                                                                                      \
                 ".reg .pred accumulate;\n"                                                                  \
                 "setp.ne.b32 accumulate, %130, 0;\n"                                                        \
                 "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPES " {"                                  \
                 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                   \
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "         \
                 "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "         \
                 "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "         \
                 "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "         \
                 "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "         \
                 "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, "    \
                 "%111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, "     \
                 "%125, %126, %127}, %128, %129, accumulate, 1, 1, 0, 1;\n"                                          \
                 "}\n"                                                                                      \
                 : WGMMA_D128                                                                               \
                 : "l"(desc_a), "l"(desc_b), "r"(accumulate)                                                \
                 : "memory")

__device__ __forceinline__ void wgmma(float (&d)[128], unsigned long long desc_a, unsigned long long desc_b,
                                      __nv_bfloat16, int accumulate)
{
    WGMMA_M64N256K16("bf16.bf16");
}

__device__ __forceinline__ void wgmma(float (&d)[128], unsigned long long desc_a, unsigned long long desc_b, __half,
                                      int accumulate)
{
    WGMMA_M64N256K16("f16.f16");
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }

template <int N>
__device__ __forceinline__ void wgmma_wait(float (&d)[128])
{
    asm volatile("wgmma.wait_group.sync.aligned %128;\n" : WGMMA_D128 : "n"(N) : "memory");
}

// Make this thread's finished cp.async writes to shared memory visible to the async proxy wgmma reads with.
__device__ __forceinline__ void fence_to_async_proxy() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Copy slice k0 of A (BM x BK) and of B (BK x BN) into the stage at shared addresses a_s and b_s = a_s + A_STAGE.
template <typename T>
__device__ __forceinline__ void load_stage(unsigned a_s, const T *A, int lda, const T *B, int ldb, int M, int K,
                                           int row0, int col0, int k0)
{
    const unsigned b_s = a_s + A_STAGE;
    constexpr int A_CHUNKS = BK / CHUNK, B_CHUNKS = BN / CHUNK;  // per row: 8 and 32
    static_assert(BM * A_CHUNKS % THREADS == 0 && BK * B_CHUNKS % THREADS == 0, "every thread copies alike");
#pragma unroll
    for (int i = 0; i < BM * A_CHUNKS / THREADS; ++i) {
        const int c = threadIdx.x + i * THREADS, r = c / A_CHUNKS, chunk = c % A_CHUNKS, k = k0 + chunk * CHUNK;
        const bool valid = row0 + r < M && k < lda;  // columns K..lda-1 of A hold zeros
        copy16(a_s + swizzled(r, chunk), valid ? A + (size_t)(row0 + r) * lda + k : A, valid);
    }
#pragma unroll
    for (int i = 0; i < BK * B_CHUNKS / THREADS; ++i) {
        const int c = threadIdx.x + i * THREADS, r = c / B_CHUNKS, chunk = c % B_CHUNKS, col = col0 + chunk * CHUNK;
        const bool valid = k0 + r < K && col < ldb;  // columns N..ldb-1 of B hold zeros
        copy16(b_s + (chunk / 8) * B_ATOM + swizzled(r, chunk % 8), valid ? B + (size_t)(k0 + r) * ldb + col : B,
               valid);
    }
}

__device__ __forceinline__ void store_pair(__nv_bfloat16 *p, float x, float y, bool both)
{
    if (both)
        *reinterpret_cast<__nv_bfloat162 *>(p) = __floats2bfloat162_rn(x, y);
    else
        *p = __float2bfloat16_rn(x);
}

__device__ __forceinline__ void store_pair(__half *p, float x, float y, bool both)
{
    if (both)
        *reinterpret_cast<__half2 *>(p) = __floats2half2_rn(x, y);
    else
        *p = __float2half_rn(x);
}

// Two fp32 results rounded to the storage type and packed into one 32-bit word (x in the low half).
template <typename Pair>
__device__ __forceinline__ unsigned as_word(Pair pair)
{
    static_assert(sizeof(Pair) == 4, "a pair of 16-bit values");
    unsigned word;
    memcpy(&word, &pair, 4);
    return word;
}

__device__ __forceinline__ unsigned packed(float x, float y, __nv_bfloat16)
{
    return as_word(__floats2bfloat162_rn(x, y));
}

__device__ __forceinline__ unsigned packed(float x, float y, __half) { return as_word(__floats2half2_rn(x, y)); }

// Tiles of C, or with CLUSTER > 1 cluster tiles: CLUSTER tiles one above the other (the last one's lower
// tiles may lie past M).
template <int CLUSTER = 1>
__device__ __forceinline__ int tile_count(int M, int N)
{
    return ((M + BM * CLUSTER - 1) / (BM * CLUSTER)) * ((N + BN - 1) / BN);
}

// The place (row, column) of tile number `tile` in a tiles_m x tiles_n grid of tiles: tiles are numbered
// GROUP_M rows at a time, down the rows first, so the B columns that consecutive tiles (a wave of blocks)
// read stay in L2.
__device__ __forceinline__ void tile_place(int tile, int tiles_m, int tiles_n, int &row, int &column)
{
    const int per_group = GROUP_M * tiles_n, group = tile / per_group;
    const int first_m = group * GROUP_M, rows_here = min(tiles_m - first_m, GROUP_M);
    row = first_m + (tile % per_group) % rows_here;
    column = (tile % per_group) / rows_here;
}

// The origin (row0, col0) in C of tile number `tile` (tile_place over BM x BN tiles); with CLUSTER > 1, of
// the tile that block `rank` of the cluster computes in cluster tile number `tile` (tile_place over a grid
// of cluster tiles, CLUSTER times shorter: one cluster's tiles read the same columns of B).
template <int CLUSTER = 1>
__device__ __forceinline__ void tile_origin(int tile, int M, int N, int &row0, int &col0, unsigned rank = 0)
{
    int row, column;
    tile_place(tile, (M + BM * CLUSTER - 1) / (BM * CLUSTER), (N + BN - 1) / BN, row, column);
    row0 = (row * CLUSTER + rank) * BM;
    col0 = column * BN;
}

__device__ __forceinline__ void tile_of_block(int M, int N, int &row0, int &col0)
{
    tile_origin(blockIdx.x, M, N, row0, col0);
}

// Issue the BK / 16 wgmmas of the stage at shared address `slot` for warpgroup `warpgroup` (rows
// 64 warpgroup.. of the tile) as one wgmma group; the caller waits for it. `accumulate` = 0: the first
// slice of a tile, which overwrites d.
template <typename T>
__device__ __forceinline__ void mma_slice(float (&d)[128], unsigned slot, int warpgroup, bool accumulate = true)
{
    const unsigned a_s = slot + warpgroup * 64 * ROW_BYTES, b_s = slot + A_STAGE;
    wgmma_fence();
#pragma unroll
    for (int k = 0; k < BK / 16; ++k)
        wgmma(d, descriptor(a_s + k * 32, 16, 1024), descriptor(b_s + k * 16 * ROW_BYTES, B_ATOM, 1024), T(),
              k > 0 || accumulate);
    wgmma_commit();
}

// Store warpgroup `warpgroup`'s 64 x 256 part of the tile. The accumulator layout of m64nNk16: warp w of
// the warpgroup holds rows 16w..16w+15; in each 8-column group j, lane l holds (row l/4, columns 2(l%4),
// +1) in d[4j], d[4j+1] and row l/4 + 8 in d[4j+2], d[4j+3].
template <typename T>
__device__ __forceinline__ void store_tile(const float (&d)[128], T *C, int ldc, int M, int N, int row0, int col0,
                                           int warpgroup)
{
    const int lane = threadIdx.x % 32, warp = (threadIdx.x % 128) / 32;
    const int row = row0 + warpgroup * 64 + warp * 16 + lane / 4;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
        const int col = col0 + j * 8 + 2 * (lane % 4);
        if (col < N) {
            if (row < M)
                store_pair(C + (size_t)row * ldc + col, d[4 * j], d[4 * j + 1], col + 1 < N);
            if (row + 8 < M)
                store_pair(C + (size_t)(row + 8) * ldc + col, d[4 * j + 2], d[4 * j + 3], col + 1 < N);
        }
    }
}

// The shared address of the first slot: dynamic shared memory `smem`, rounded up to ALIGN (SMEM_BYTES
// has the room).
__device__ __forceinline__ unsigned slots_base(unsigned char *smem)
{
    const unsigned raw = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    return (raw + ALIGN - 1) & ~unsigned(ALIGN - 1);
}

template <typename T>
__device__ void gemm_wgmma(const T *A, int lda, const T *B, int ldb, T *C, int ldc, int M, int N, int K)
{
    extern __shared__ unsigned char smem[];
    const unsigned base = slots_base(smem);
    int row0, col0;
    tile_of_block(M, N, row0, col0);
    const int warpgroup = threadIdx.x / 128;

    float d[128];
#pragma unroll
    for (int i = 0; i < 128; ++i)
        d[i] = 0.0f;

    const int slices = (K + BK - 1) / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 2; ++s) {  // prologue: the first STAGES-2 slices in flight
        if (s < slices)
            load_stage(base + s * STAGE, A, lda, B, ldb, M, K, row0, col0, s * BK);
        commit();
    }
    for (int t = 0; t < slices; ++t) {
        wait_copies<STAGES - 3>();  // this thread's copies of slice t have landed
        fence_to_async_proxy();
        __syncthreads();  // everyone's have; and every warpgroup has waited for slice t-2's wgmma
        const int next = t + STAGES - 2;
        if (next < slices)
            load_stage(base + (next % STAGES) * STAGE, A, lda, B, ldb, M, K, row0, col0, next * BK);
        commit();
        mma_slice<T>(d, base + (t % STAGES) * STAGE, warpgroup);
        wgmma_wait<1>(d);  // slice t-1's products are done: its slot may be refilled after the next barrier
    }
    wgmma_wait<0>(d);
    store_tile(d, C, ldc, M, N, row0, col0, warpgroup);
}

// --- the TMA kernel: a producer warpgroup and two consumer warpgroups, synchronised by mbarriers ----------

constexpr int TMA_THREADS = 384;                   // producer warpgroup 0, consumer warpgroups 1 and 2
constexpr int CONSUMER_WARPS = 8;                  // arrivals that free a stage: every consumer warp once
constexpr int PRODUCER_REGISTERS = 40, CONSUMER_REGISTERS = 232;  // 128 * 40 + 256 * 232 <= 65536
constexpr int BARRIER_BYTES = 2 * STAGES * 8;      // a "full" and an "empty" mbarrier per stage
constexpr int SMEM_BYTES_TMA = STAGES * STAGE + ALIGN + BARRIER_BYTES;
static_assert(A_STAGE == BM * BK * 2 && B_ATOM == 64 * BK * 2, "one A box of BK x BM, four B boxes of 64 x BK");

// A CUtensorMap as the driver encodes it (kernels/gemm/tensor_map.py): 128 opaque bytes, 64-byte aligned,
// passed by value as a __grid_constant__ parameter so that TMA reads it from parameter space.
struct alignas(64) TensorMap {
    unsigned long long opaque[16];
};

__device__ __forceinline__ void barrier_init(unsigned bar, unsigned count)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

// Make the initialised mbarriers visible to the async proxy (TMA's completions) and the other threads.
__device__ __forceinline__ void fence_barrier_init()
{
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

// The producer's arrival on a stage's "full" barrier, announcing the bytes TMA will deliver to it.
__device__ __forceinline__ void barrier_expect_bytes(unsigned bar, unsigned bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}

__device__ __forceinline__ void barrier_arrive(unsigned bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

// Spin until the barrier's phase of parity `parity` has completed (the loop stays inside the PTX, so that
// ptxas sees no branch around the wgmma pipeline of the consumers).
__device__ __forceinline__ void barrier_wait(unsigned bar, unsigned parity)
{
    asm volatile("{\n"
                 ".reg .pred p;\n"
                 "waiting:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
                 "@!p bra waiting;\n"
                 "}\n" ::"r"(bar),
                 "r"(parity)
                 : "memory");
}

// TMA: the box of `map` at (inner, outer) elements into shared memory at `dst`, completing bytes on `bar`.
__device__ __forceinline__ void tma_load(unsigned dst, const TensorMap &map, int inner, int outer, unsigned bar)
{
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], "
                 "[%4];\n" ::"r"(dst),
                 "l"(reinterpret_cast<unsigned long long>(&map)), "r"(inner), "r"(outer), "r"(bar)
                 : "memory");
}

// --- clusters: the blocks of a cluster share B's slices (multicast TMA) and free each other's stages -----

constexpr int CLUSTER_M = 2;  // blocks per cluster: two tiles one above the other, reading the same B columns
static_assert((BN / 64) % CLUSTER_M == 0, "each block of a cluster multicasts an equal share of B's boxes");

__device__ __forceinline__ unsigned cluster_rank()
{
    unsigned rank;
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
    return rank;
}

// Every thread of every block of the cluster: what each did before is visible to all after (the barriers'
// initialisation, before any block multicasts into or arrives on another's).
__device__ __forceinline__ void cluster_sync()
{
    asm volatile("barrier.cluster.arrive.release.aligned;\n"
                 "barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}

// Arrive on the mbarrier at shared address `bar` of block `rank` of the cluster (this one's included).
__device__ __forceinline__ void barrier_arrive_in(unsigned bar, unsigned rank)
{
    asm volatile("{\n"
                 ".reg .b32 remote;\n"
                 "mapa.shared::cluster.u32 remote, %0, %1;\n"
                 "mbarrier.arrive.shared::cluster.b64 _, [remote];\n"
                 "}\n" ::"r"(bar),
                 "r"(rank)
                 : "memory");
}

// TMA multicast: the box of `map` at (inner, outer) into shared address `dst` of every block of the cluster
// in `blocks` (a bit per rank), each completing its bytes on its own mbarrier at address `bar`.
__device__ __forceinline__ void tma_load_multicast(unsigned dst, const TensorMap &map, int inner, int outer,
                                                   unsigned bar, unsigned short blocks)
{
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster "
                 "[%0], [%1, {%2, %3}], [%4], %5;\n" ::"r"(dst),
                 "l"(reinterpret_cast<unsigned long long>(&map)), "r"(inner), "r"(outer), "r"(bar), "h"(blocks)
                 : "memory");
}

// The TMA kernel's epilogue: each consumer warpgroup stages its 64 x 256 part of C in shared memory (the
// pipeline's slots, free once both warpgroups' last wgmmas are done), then writes it out in 16-byte row
// chunks, whole 32-byte sectors, where the accumulator layout would scatter 4-byte pieces over 8 rows.
constexpr int C_ROW_BYTES = BN * 2 + 16;  // a staged row, padded by 16 bytes: the 8 rows that one
                                          // accumulator store spans start in 8 different bank groups
constexpr int C_STAGED = 64 * C_ROW_BYTES;  // one consumer warpgroup's part
constexpr int C_CHUNKS = BN * 2 / 16;       // 16-byte chunks per row of the tile
static_assert(2 * C_STAGED <= STAGES * STAGE, "both parts fit in the pipeline's slots");

__device__ __forceinline__ void named_barrier(int id, int threads)
{
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

template <typename T>
__device__ __forceinline__ void store_tile_staged(const float (&d)[128], unsigned char *staged, T *C, int ldc, int M,
                                                  int N, int row0, int col0, int consumer)
{
    const int lane = threadIdx.x % 32, warp = (threadIdx.x % 128) / 32;
    unsigned char *mine = staged + (warp * 16 + lane / 4) * C_ROW_BYTES + 4 * (lane % 4);
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {  // the accumulator layout of store_tile, rows r and r + 8
        *reinterpret_cast<unsigned *>(mine + 16 * j) = packed(d[4 * j], d[4 * j + 1], T());
        *reinterpret_cast<unsigned *>(mine + 8 * C_ROW_BYTES + 16 * j) = packed(d[4 * j + 2], d[4 * j + 3], T());
    }
    named_barrier(2 + consumer, 128);  // this warpgroup's part is staged
#pragma unroll 4
    for (int i = threadIdx.x % 128; i < 64 * C_CHUNKS; i += 128) {  // a warp writes one row, 512 bytes
        const int r = i / C_CHUNKS, chunk = i % C_CHUNKS;
        const int row = row0 + consumer * 64 + r, col = col0 + chunk * 8;
        // col < N: the chunk ends within the row's padding to ldc, where the products are zero (TMA reads
        // B's columns past N as zeros), as the padding of C must be.
        if (row < M && col < N)
            *reinterpret_cast<uint4 *>(C + (size_t)row * ldc + col) =
                *reinterpret_cast<const uint4 *>(staged + r * C_ROW_BYTES + chunk * 16);
    }
}

// The pipeline of a TMA kernel in shared memory: STAGES slots from `base`, then a "full" and an "empty"
// mbarrier per stage (stage s's at full + 8 s and empty + 8 s).
struct Pipeline {
    unsigned raw, base, full, empty;
};

// Align the slots, and (thread 0) initialise the barriers before any thread (of any block of the cluster)
// uses them. A stage is free again once every consumer warp of every block of the cluster has arrived.
template <int CLUSTER = 1>
__device__ __forceinline__ Pipeline pipeline_setup(unsigned char *smem)
{
    Pipeline p;
    p.raw = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    p.base = slots_base(smem);
    p.full = p.base + STAGES * STAGE;
    p.empty = p.full + STAGES * 8;
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; ++s) {
            barrier_init(p.full + 8 * s, 1);  // the producer's expect_tx arrival, then TMA's bytes
            barrier_init(p.empty + 8 * s, CONSUMER_WARPS * CLUSTER);
        }
        fence_barrier_init();
    }
    if constexpr (CLUSTER > 1)
        cluster_sync();
    else
        __syncthreads();
    return p;
}

// The producer's loads of one tile's `slices` K slices. `step` counts slices across every tile this block
// computes: slice number `step` goes to stage step % STAGES, in that stage's use number step / STAGES.
// In a cluster of CLUSTER blocks (rank `rank`), each block loads its own A and its share of B's boxes,
// which TMA writes into every block of the cluster; a block's full barrier counts all of them.
template <int CLUSTER = 1>
__device__ __forceinline__ void produce_tile(const Pipeline &p, const TensorMap &a_map, const TensorMap &b_map,
                                             int row0, int col0, int slices, unsigned &step, unsigned rank = 0)
{
    constexpr int SHARE = BN / 64 / CLUSTER;  // B boxes this block loads per slice
    for (int t = 0; t < slices; ++t, ++step) {
        const unsigned s = step % STAGES;
        if (step >= STAGES)
            barrier_wait(p.empty + 8 * s, (step / STAGES - 1) & 1);  // slice step - STAGES is consumed
        const unsigned slot = p.base + s * STAGE, bar = p.full + 8 * s;
        barrier_expect_bytes(bar, STAGE);  // whole boxes, zero-filled past the matrix, count in full
        tma_load(slot, a_map, t * BK, row0, bar);
#pragma unroll
        for (int i = 0; i < SHARE; ++i) {
            const int j = rank * SHARE + i;
            if constexpr (CLUSTER > 1)
                tma_load_multicast(slot + A_STAGE + j * B_ATOM, b_map, col0 + 64 * j, t * BK, bar,
                                   (1u << CLUSTER) - 1);
            else
                tma_load(slot + A_STAGE + j * B_ATOM, b_map, col0 + 64 * j, t * BK, bar);
        }
    }
}

// The producer's last wait: until every stage's last use has been freed by every consumer warp of the
// cluster, so that this block (whose barriers the others arrive on) outlives their last arrivals.
__device__ __forceinline__ void producer_tail(const Pipeline &p, unsigned step)
{
    for (unsigned last = step - min(step, unsigned(STAGES)); last < step; ++last)
        barrier_wait(p.empty + 8 * (last % STAGES), (last / STAGES) & 1);
}

// A consumer warpgroup's MMAs over one tile's slices into d (the first slice overwrites d). Each warp frees
// a stage once its wgmma on it is done; the tile's last stage is freed only with `free_last` (a block that
// computes more tiles needs it back; for one that does not, it is where C is staged).
// In a cluster, a warp frees the stage in every block of it (each block's producer writes into all).
template <int CLUSTER>
__device__ __forceinline__ void free_stage(const Pipeline &p, unsigned stage)
{
    if constexpr (CLUSTER == 1) {
        barrier_arrive(p.empty + 8 * stage);
    } else {
#pragma unroll
        for (int rank = 0; rank < CLUSTER; ++rank)
            barrier_arrive_in(p.empty + 8 * stage, rank);
    }
}

template <typename T, int CLUSTER = 1>
__device__ __forceinline__ void consume_tile(float (&d)[128], const Pipeline &p, int consumer, int slices,
                                             unsigned &step, bool free_last)
{
    const bool arrives = threadIdx.x % 32 == 0;
    for (int t = 0; t < slices; ++t, ++step) {
        barrier_wait(p.full + 8 * (step % STAGES), (step / STAGES) & 1);  // the slice has landed
        mma_slice<T>(d, p.base + (step % STAGES) * STAGE, consumer, t > 0);
        wgmma_wait<1>(d);  // the previous slice's wgmma is done: this warp is through with its stage
        if (t > 0 && arrives)
            free_stage<CLUSTER>(p, (step - 1) % STAGES);
    }
    wgmma_wait<0>(d);
    if (free_last && arrives)
        free_stage<CLUSTER>(p, (step - 1) % STAGES);
}

// At least one slice (for K = 0, one that TMA fills with zeros): its wgmma is what sets d.
__device__ __forceinline__ int slice_count(int K) { return max((K + BK - 1) / BK, 1); }

// Warpgroup 0 produces (one thread issues every load; the rest just give their registers away), and the
// two others consume, with the registers it gave. Each is called at the head of its role's own branch:
// ptxas drops setmaxnreg (silently) where the producer's and the consumers' paths join again after it,
// and with it the registers the consumers' accumulators were compiled for.
__device__ __forceinline__ void producer_registers()
{
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(PRODUCER_REGISTERS));
}

__device__ __forceinline__ void consumer_registers()
{
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(CONSUMER_REGISTERS));
}

// The TMA kernel: a block per tile; with CLUSTER > 1, clusters of CLUSTER blocks computing tiles one
// above the other, which read the same slices of B: each block loads its own A and its share of B's boxes,
// multicast into every block of the cluster, so a slice costs a block of a pair 32 KiB of L2 reads instead
// of 48. A block then frees a stage for every producer of the cluster, and its producer stays until the
// other blocks' consumers have freed every stage (their arrivals land in its shared memory). A cluster
// whose lower tile lies past M still loads its share of B for the upper one.
template <int CLUSTER, typename T>
__device__ void gemm_wgmma_tma(const TensorMap &a_map, const TensorMap &b_map, T *C, int ldc, int M, int N, int K)
{
    extern __shared__ unsigned char smem[];
    const Pipeline p = pipeline_setup<CLUSTER>(smem);
    const unsigned rank = CLUSTER > 1 ? cluster_rank() : 0;
    int row0, col0;
    tile_origin<CLUSTER>(blockIdx.x / CLUSTER, M, N, row0, col0, rank);
    const int slices = slice_count(K), warpgroup = threadIdx.x / 128;
    unsigned step = 0;
    if (warpgroup == 0) {
        producer_registers();
        if (threadIdx.x == 0) {
            produce_tile<CLUSTER>(p, a_map, b_map, row0, col0, slices, step, rank);
            if constexpr (CLUSTER > 1)
                producer_tail(p, step);
        }
        return;
    }
    consumer_registers();
    const int consumer = warpgroup - 1;
    float d[128];  // written first by slice 0's wgmma (accumulate = 0), never by other instructions
    consume_tile<T, CLUSTER>(d, p, consumer, slices, step, CLUSTER > 1);  // the producers' tails wait for the last
    named_barrier(1, 256);  // both consumer warpgroups are done with the slots, and every copy into them (each
                            // multicast too) has landed, as their full barriers counted: they may hold C now
    store_tile_staged(d, smem + (p.base - p.raw) + consumer * C_STAGED, C, ldc, M, N, row0, col0, consumer);
}

// The persistent TMA kernels: one block per SM (the host launches at most that many) computes tiles
// blockIdx.x, + gridDim.x, ... in turn, its pipeline running on from one tile to the next: while the
// consumers write a tile's C (straight from their registers, as the slots are in use), the producer is
// already loading the next tile's first slices, and no block waits to start with an empty pipeline. With
// CLUSTER > 1, the same in clusters (as in gemm_wgmma_tma): cluster blockIdx.x / CLUSTER computes
// cluster tiles in turn, its blocks sharing B's slices; each producer stays until the other blocks'
// consumers have freed its stages for the last time.
template <int CLUSTER, typename T>
__device__ void gemm_wgmma_tma_persistent(const TensorMap &a_map, const TensorMap &b_map, T *C, int ldc, int M,
                                          int N, int K)
{
    extern __shared__ unsigned char smem[];
    const Pipeline p = pipeline_setup<CLUSTER>(smem);
    const unsigned rank = CLUSTER > 1 ? cluster_rank() : 0;
    const int tiles = tile_count<CLUSTER>(M, N), slices = slice_count(K), warpgroup = threadIdx.x / 128;
    const int first = blockIdx.x / CLUSTER, stride = gridDim.x / CLUSTER;
    unsigned step = 0;
    int row0, col0;
    if (warpgroup == 0) {
        producer_registers();
        if (threadIdx.x == 0) {
            for (int tile = first; tile < tiles; tile += stride) {
                tile_origin<CLUSTER>(tile, M, N, row0, col0, rank);
                produce_tile<CLUSTER>(p, a_map, b_map, row0, col0, slices, step, rank);
            }
            if constexpr (CLUSTER > 1)
                producer_tail(p, step);
        }
        return;
    }
    consumer_registers();
    const int consumer = warpgroup - 1;
    float d[128];  // each tile's first wgmma overwrites it
    for (int tile = first; tile < tiles; tile += stride) {
        tile_origin<CLUSTER>(tile, M, N, row0, col0, rank);
        consume_tile<T, CLUSTER>(d, p, consumer, slices, step, true);
        store_tile(d, C, ldc, M, N, row0, col0, consumer);
    }
}

}  // namespace

// Shared memory per block, in bytes: STAGES slots of A and B plus ALIGN for aligning them. The host reads
// this number from here to set the kernels' dynamic shared-memory size (the static_assert keeps it true).
// SMEM_BYTES_WGMMA = STAGES * STAGE + ALIGN = 197632
static_assert(SMEM_BYTES == 197632, "update the number above");
// SMEM_BYTES_WGMMA_TMA = STAGES * STAGE + ALIGN + BARRIER_BYTES = 197696
static_assert(SMEM_BYTES_TMA == 197696, "update the number above");

extern "C" __global__ void __launch_bounds__(THREADS, 1)
gemm_wgmma_bf16(const __nv_bfloat16 *A, int lda, const __nv_bfloat16 *B, int ldb, __nv_bfloat16 *C, int ldc,
                int M, int N, int K)
{
    gemm_wgmma(A, lda, B, ldb, C, ldc, M, N, K);
}

extern "C" __global__ void __launch_bounds__(THREADS, 1)
gemm_wgmma_f16(const __half *A, int lda, const __half *B, int ldb, __half *C, int ldc, int M, int N, int K)
{
    gemm_wgmma(A, lda, B, ldb, C, ldc, M, N, K);
}

extern "C" __global__ void __launch_bounds__(TMA_THREADS, 1)
gemm_wgmma_tma_bf16(const __grid_constant__ TensorMap a_map, const __grid_constant__ TensorMap b_map,
                    __nv_bfloat16 *C, int ldc, int M, int N, int K)
{
    gemm_wgmma_tma<1>(a_map, b_map, C, ldc, M, N, K);
}

extern "C" __global__ void __launch_bounds__(TMA_THREADS, 1)
gemm_wgmma_tma_persistent_bf16(const __grid_constant__ TensorMap a_map, const __grid_constant__ TensorMap b_map,
                               __nv_bfloat16 *C, int ldc, int M, int N, int K)
{
    gemm_wgmma_tma_persistent<1>(a_map, b_map, C, ldc, M, N, K);
}

extern "C" __global__ void __launch_bounds__(TMA_THREADS, 1)
gemm_wgmma_tma_persistent_f16(const __grid_constant__ TensorMap a_map, const __grid_constant__ TensorMap b_map,
                              __half *C, int ldc, int M, int N, int K)
{
    gemm_wgmma_tma_persistent<1>(a_map, b_map, C, ldc, M, N, K);
}

extern "C" __global__ void __cluster_dims__(CLUSTER_M, 1, 1) __launch_bounds__(TMA_THREADS, 1)
gemm_wgmma_tma_cluster_bf16(const __grid_constant__ TensorMap a_map, const __grid_constant__ TensorMap b_map,
                            __nv_bfloat16 *C, int ldc, int M, int N, int K)
{
    gemm_wgmma_tma<CLUSTER_M>(a_map, b_map, C, ldc, M, N, K);
}

extern "C" __global__ void __cluster_dims__(CLUSTER_M, 1, 1) __launch_bounds__(TMA_THREADS, 1)
gemm_wgmma_tma_cluster_f16(const __grid_constant__ TensorMap a_map, const __grid_constant__ TensorMap b_map,
                           __half *C, int ldc, int M, int N, int K)
{
    gemm_wgmma_tma<CLUSTER_M>(a_map, b_map, C, ldc, M, N, K);
}

extern "C" __global__ void __cluster_dims__(CLUSTER_M, 1, 1) __launch_bounds__(TMA_THREADS, 1)
gemm_wgmma_tma_cluster_persistent_bf16(const __grid_constant__ TensorMap a_map,
                                       const __grid_constant__ TensorMap b_map, __nv_bfloat16 *C, int ldc, int M,
                                       int N, int K)
{
    gemm_wgmma_tma_persistent<CLUSTER_M>(a_map, b_map, C, ldc, M, N, K);
}

extern "C" __global__ void __cluster_dims__(CLUSTER_M, 1, 1) __launch_bounds__(TMA_THREADS, 1)
gemm_wgmma_tma_cluster_persistent_f16(const __grid_constant__ TensorMap a_map,
                                      const __grid_constant__ TensorMap b_map, __half *C, int ldc, int M, int N,
                                      int K)
{
    gemm_wgmma_tma_persistent<CLUSTER_M>(a_map, b_map, C, ldc, M, N, K);
}

extern "C" __global__ void __launch_bounds__(TMA_THREADS, 1)
gemm_wgmma_tma_f16(const __grid_constant__ TensorMap a_map, const __grid_constant__ TensorMap b_map, __half *C,
                   int ldc, int M, int N, int K)
{
    gemm_wgmma_tma<1>(a_map, b_map, C, ldc, M, N, K);
}

// Own tensor-core GEMM for CuPy's RawModule: C = A @ B, row-major, A/B/C in bf16 or fp16, fp32 accumulate.
//
// Two tile shapes of one template (Tile below), each for bf16 and fp16:
//   gemm_wmma_*       one block of 8 warps computes a 128 x 128 tile of C; each warp a 64 x 32 piece =
//                     4 x 2 WMMA 16x16x16 accumulators (mma.sync on sm_80+); a 3-stage pipeline.
//   gemm_wmma_wide_*  8 warps, a 128 x 256 tile, 64 x 64 per warp (4 x 4 accumulators: twice the MMAs
//                     per fragment loaded from shared memory), a 4-stage pipeline (106 KiB of shared
//                     memory, one block per SM). Compile-checked only, so far: its speed and its
//                     results on a GPU are for scripts/gpu_check.sh to establish.
// K advances BK = 32 at a time through the cp.async pipeline: while the warps multiply stage s, the
// copies of the next stages are in flight. Shared rows are padded by 8 elements (16 bytes), so the 8
// rows a tensor-core load touches start in different banks.
//
// Shapes: any M, N, K. Rows of A and B must be 16-byte aligned and zero-padded to lda / ldb (multiples
// of 8 elements); the host (kernels/gemm/cupy_cuda.py) allocates them so. Chunks of 8 elements past the
// edge of A or B are zero-filled by cp.async (src-size 0), and stores past the edge of C are skipped.
// Needs sm_80 or newer (cp.async, bf16 WMMA).

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

namespace {

using namespace nvcuda;

template <int BM_, int BN_, int STAGES_>
struct Tile {
    static constexpr int BM = BM_, BN = BN_, BK = 32, STAGES = STAGES_;
    static constexpr int WARPS_M = 2, WARPS_N = 4, THREADS = WARPS_M * WARPS_N * 32;
    static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // C per warp
    static constexpr int FM = WM / 16, FN = WN / 16;            // accumulator fragments per warp
    static constexpr int A_LD = BK + 8, B_LD = BN + 8;          // padded shared-memory rows (elements)
    static constexpr int A_STAGE = BM * A_LD, B_STAGE = BK * B_LD;
    static constexpr int SMEM_BYTES = STAGES * (A_STAGE + B_STAGE) * 2;
};
using Square = Tile<128, 128, 3>;
using Wide = Tile<128, 256, 4>;
constexpr int THREADS = 256;  // both tiles: 8 warps
static_assert(Square::THREADS == THREADS && Wide::THREADS == THREADS, "8 warps per block");
constexpr int C_LD = 16 + 4;  // floats per row of a warp's staged fragment
constexpr int CHUNK = 8;      // elements per 16-byte cp.async

__device__ __forceinline__ void copy16(void *smem, const void *gmem, bool valid)
{
    const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void wait_pending() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ __half from_float(float x, __half) { return __float2half_rn(x); }
__device__ __forceinline__ __nv_bfloat16 from_float(float x, __nv_bfloat16) { return __float2bfloat16_rn(x); }

// Copy the BM x BK slice of A and the BK x BN slice of B that start at k0 into one pipeline stage.
template <typename T, typename C>
__device__ __forceinline__ void load_stage(T *a_s, T *b_s, const T *A, int lda, const T *B, int ldb,
                                           int M, int K, int row0, int col0, int k0)
{
    constexpr int BM = C::BM, BN = C::BN, BK = C::BK, A_LD = C::A_LD, B_LD = C::B_LD;
    for (int c = threadIdx.x; c < BM * BK / CHUNK; c += THREADS) {
        const int r = c / (BK / CHUNK), k = (c % (BK / CHUNK)) * CHUNK;
        const bool valid = row0 + r < M && k0 + k < lda;  // columns K..lda-1 of A hold zeros
        copy16(a_s + r * A_LD + k, valid ? A + (size_t)(row0 + r) * lda + k0 + k : A, valid);
    }
    for (int c = threadIdx.x; c < BK * BN / CHUNK; c += THREADS) {
        const int r = c / (BN / CHUNK), n = (c % (BN / CHUNK)) * CHUNK;
        const bool valid = k0 + r < K && col0 + n < ldb;  // columns N..ldb-1 of B hold zeros
        copy16(b_s + r * B_LD + n, valid ? B + (size_t)(k0 + r) * ldb + col0 + n : B, valid);
    }
}

template <typename T, typename Cfg>
__device__ void gemm_tile(const T *A, int lda, const T *B, int ldb, T *C, int ldc, int M, int N, int K)
{
    constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, STAGES = Cfg::STAGES, WARPS_N = Cfg::WARPS_N;
    constexpr int WM = Cfg::WM, WN = Cfg::WN, FM = Cfg::FM, FN = Cfg::FN, A_LD = Cfg::A_LD, B_LD = Cfg::B_LD;
    constexpr int A_STAGE = Cfg::A_STAGE, B_STAGE = Cfg::B_STAGE;
    extern __shared__ __align__(128) unsigned char smem[];
    T *a_s = reinterpret_cast<T *>(smem);
    T *b_s = a_s + STAGES * A_STAGE;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int wm = warp / WARPS_N, wn = warp % WARPS_N;
    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
    for (int i = 0; i < FM; ++i)
        for (int j = 0; j < FN; ++j)
            wmma::fill_fragment(acc[i][j], 0.0f);

    const int tiles = (K + BK - 1) / BK;
    for (int s = 0; s < STAGES - 1; ++s) {  // prologue: the first STAGES-1 slices in flight
        if (s < tiles)
            load_stage<T, Cfg>(a_s + s * A_STAGE, b_s + s * B_STAGE, A, lda, B, ldb, M, K, row0, col0, s * BK);
        commit();
    }
    for (int t = 0; t < tiles; ++t) {
        wait_pending<STAGES - 2>();  // slice t has landed (only the later ones may still be in flight)
        __syncthreads();             // ... for every thread, and everyone is done with slice t-1
        const int next = t + STAGES - 1;
        if (next < tiles) {
            const int s = next % STAGES;  // the stage slice t-1 used
            load_stage<T, Cfg>(a_s + s * A_STAGE, b_s + s * B_STAGE, A, lda, B, ldb, M, K, row0, col0, next * BK);
        }
        commit();
        const T *a_t = a_s + (t % STAGES) * A_STAGE + wm * WM * A_LD;
        const T *b_t = b_s + (t % STAGES) * B_STAGE + wn * WN;
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> af[FM];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> bf[FN];
            for (int i = 0; i < FM; ++i)
                wmma::load_matrix_sync(af[i], a_t + i * 16 * A_LD + kk, A_LD);
            for (int j = 0; j < FN; ++j)
                wmma::load_matrix_sync(bf[j], b_t + kk * B_LD + j * 16, B_LD);
            for (int i = 0; i < FM; ++i)
                for (int j = 0; j < FN; ++j)
                    wmma::mma_sync(acc[i][j], af[i], bf[j], acc[i][j]);
        }
    }
    wait_pending<0>();
    __syncthreads();  // the pipeline's shared memory is reused below to stage C

    float *stage = reinterpret_cast<float *>(smem) + warp * 16 * C_LD;
    for (int i = 0; i < FM; ++i) {
        for (int j = 0; j < FN; ++j) {
            wmma::store_matrix_sync(stage, acc[i][j], C_LD, wmma::mem_row_major);
            __syncwarp();
            const int r = lane / 2, c0 = (lane % 2) * 8;  // each lane writes 8 of the 16x16 values
            const int gr = row0 + wm * WM + i * 16 + r, gc = col0 + wn * WN + j * 16 + c0;
            if (gr < M)
                for (int c = 0; c < 8; ++c)
                    if (gc + c < N)
                        C[(size_t)gr * ldc + gc + c] = from_float(stage[r * C_LD + c0 + c], T());
            __syncwarp();
        }
    }
}

}  // namespace

// Shared memory per block, in bytes: the pipeline (the C staging reuses it). The host reads these
// numbers from here to set the kernels' dynamic shared-memory size (the static_asserts keep them true).
// SMEM_BYTES = STAGES * (A_STAGE + B_STAGE) * 2 = 56832
// SMEM_BYTES_WIDE = STAGES * (A_STAGE + B_STAGE) * 2 = 108544
static_assert(Square::SMEM_BYTES == 56832 && Wide::SMEM_BYTES == 108544, "update the numbers above");

extern "C" __global__ void __launch_bounds__(THREADS)
gemm_wmma_bf16(const __nv_bfloat16 *A, int lda, const __nv_bfloat16 *B, int ldb, __nv_bfloat16 *C, int ldc,
               int M, int N, int K)
{
    gemm_tile<__nv_bfloat16, Square>(A, lda, B, ldb, C, ldc, M, N, K);
}

extern "C" __global__ void __launch_bounds__(THREADS)
gemm_wmma_f16(const __half *A, int lda, const __half *B, int ldb, __half *C, int ldc, int M, int N, int K)
{
    gemm_tile<__half, Square>(A, lda, B, ldb, C, ldc, M, N, K);
}

extern "C" __global__ void __launch_bounds__(THREADS, 1)
gemm_wmma_wide_bf16(const __nv_bfloat16 *A, int lda, const __nv_bfloat16 *B, int ldb, __nv_bfloat16 *C,
                    int ldc, int M, int N, int K)
{
    gemm_tile<__nv_bfloat16, Wide>(A, lda, B, ldb, C, ldc, M, N, K);
}

extern "C" __global__ void __launch_bounds__(THREADS, 1)
gemm_wmma_wide_f16(const __half *A, int lda, const __half *B, int ldb, __half *C, int ldc, int M, int N, int K)
{
    gemm_tile<__half, Wide>(A, lda, B, ldb, C, ldc, M, N, K);
}

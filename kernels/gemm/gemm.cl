// C = A @ B in fp32, row-major, two variants chosen by device type (kernels/gemm/opencl.py).
//
// Operands live in zero-padded device buffers: rows padded to a multiple of ROW_PAD and columns to a
// multiple of COL_PAD (set by the host per variant), so tiles never run off an edge in M or N. K is
// the true inner dimension; lda/ldb/ldc are the padded row lengths in floats.

// ---- CPU devices (PoCL): one work-item = a CPU_ROWS x (16*CPU_VECS) tile of C in float16 registers --
// PoCL does not vectorise scalar code across work-items, so the vectors are explicit: every step of K
// loads CPU_VECS float16 of a packed B panel and broadcasts CPU_ROWS values of A into fused
// multiply-adds. The host picks the tile for the instruction set PoCL compiles for: 8 x 32 (sixteen
// accumulators = 16 zmm) with AVX-512, 6 x 16 (twelve ymm halves) with AVX2's 16 registers.
// B comes packed in panels of 16*CPU_VECS columns, K-major (`pack_panels`), so a work-item streams
// its panel contiguously instead of touching a new page per step of K.
// No local memory: on a CPU it is ordinary cache, and copying into it only costs time.
// Vectors are read and written through aligned float16 pointers and combined with * and +, never
// passed to built-in functions: PoCL 3.0 on a CPU it targets without AVX-512 warns that float16
// arguments change the ABI, and then drops the kernels when it reloads the program from its cache.

#ifndef CPU_ROWS
#define CPU_ROWS 8
#endif
#ifndef CPU_VECS
#define CPU_VECS 2
#endif
#define PANEL (16 * CPU_VECS)

__kernel void gemm_cpu(const int K,
                       __global const float *restrict A, const int lda,  // A: M x K, row-major
                       __global const float *restrict Bp,                // B: K x N in panels
                       __global float *restrict C, const int ldc)        // C: M x N, row-major
{
    const int panel = get_global_id(0);
    const int row = get_global_id(1) * CPU_ROWS;
    __global const float *a = A + row * lda;
    __global const float16 *b = (__global const float16 *)(Bp + (size_t)panel * K * PANEL);
    float16 acc[CPU_ROWS][CPU_VECS];
#pragma unroll
    for (int r = 0; r < CPU_ROWS; ++r)
#pragma unroll
        for (int v = 0; v < CPU_VECS; ++v)
            acc[r][v] = 0.0f;
    for (int p = 0; p < K; ++p) {
        float16 bv[CPU_VECS];
#pragma unroll
        for (int v = 0; v < CPU_VECS; ++v)
            bv[v] = b[p * CPU_VECS + v];
#pragma unroll
        for (int r = 0; r < CPU_ROWS; ++r) {
            const float av = a[r * lda + p];
#pragma unroll
            for (int v = 0; v < CPU_VECS; ++v)
                acc[r][v] += av * bv[v];
        }
    }
#pragma unroll
    for (int r = 0; r < CPU_ROWS; ++r) {
        __global float16 *out = (__global float16 *)(C + (row + r) * ldc + panel * PANEL);
#pragma unroll
        for (int v = 0; v < CPU_VECS; ++v)
            out[v] = acc[r][v];
    }
}

// Bp[panel][p][q] = B[p][panel * PANEL + q]: one work-item per (panel, p) row of a panel.
__kernel void pack_panels(const int K, __global const float *restrict B, const int ldb,
                          __global float *restrict Bp)
{
    const int panel = get_global_id(0), p = get_global_id(1);
    __global const float16 *src = (__global const float16 *)(B + p * ldb + panel * PANEL);
    __global float16 *dst = (__global float16 *)(Bp + ((size_t)panel * K + p) * PANEL);
#pragma unroll
    for (int v = 0; v < CPU_VECS; ++v)
        dst[v] = src[v];
}

// ---- GPUs: a 64x64 tile of C per 16x16 work-group, tiles of A and B staged in local memory ---------
// Each work-item keeps a 4x4 register tile (strided by 16 so that neighbouring work-items read
// neighbouring local-memory words); K advances 16 at a time, guarded where K is not a multiple of 16.

#define TS 64                   // tile of C per work-group, both dimensions
#define TSK 16                  // K per local-memory stage
#define WPT 4                   // results per work-item in each dimension
#define RTS (TS / WPT)          // work-items per dimension: 16
#define LOADS (TS * TSK / (RTS * RTS))  // elements of each tile a work-item loads per stage: 4

__kernel __attribute__((reqd_work_group_size(RTS, RTS, 1)))
void gemm_gpu(const int K,
              __global const float *restrict A, const int lda,
              __global const float *restrict B, const int ldb,
              __global float *restrict C, const int ldc)
{
    const int tx = get_local_id(0), ty = get_local_id(1);  // tx walks N, ty walks M
    const int col0 = get_group_id(0) * TS, row0 = get_group_id(1) * TS;
    __local float As[TSK][TS];  // As[k][m]: A tile, transposed so a column of it is contiguous
    __local float Bs[TSK][TS];  // Bs[k][n]
    float acc[WPT][WPT];
    for (int wm = 0; wm < WPT; ++wm)
        for (int wn = 0; wn < WPT; ++wn)
            acc[wm][wn] = 0.0f;
    for (int t = 0; t < K; t += TSK) {
        for (int l = 0; l < LOADS; ++l) {
            const int id = l * RTS * RTS + ty * RTS + tx;
            const int ar = id / TSK, ak = id % TSK;  // consecutive work-items read consecutive k of A
            As[ak][ar] = (t + ak < K) ? A[(row0 + ar) * lda + t + ak] : 0.0f;
            const int bk = id / TS, bc = id % TS;    // and consecutive n of B
            Bs[bk][bc] = (t + bk < K) ? B[(t + bk) * ldb + col0 + bc] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TSK; ++k) {
            float av[WPT], bv[WPT];
            for (int w = 0; w < WPT; ++w) {
                av[w] = As[k][ty + w * RTS];
                bv[w] = Bs[k][tx + w * RTS];
            }
            for (int wm = 0; wm < WPT; ++wm)
                for (int wn = 0; wn < WPT; ++wn)
                    acc[wm][wn] = fma(av[wm], bv[wn], acc[wm][wn]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int wm = 0; wm < WPT; ++wm)
        for (int wn = 0; wn < WPT; ++wn)
            C[(row0 + ty + wm * RTS) * ldc + col0 + tx + wn * RTS] = acc[wm][wn];
}

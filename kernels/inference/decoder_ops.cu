// The decoder's steps between the matrix products, one kernel each, for GPU runs (kernels/inference/
// cuda_ops.py launches them through CuPy). Without them a SmolLM2 decode step is ~1,700 small CuPy
// launches (measured on an H100: ~30 ms per step whatever the batch); with them ~11 per layer.
// All float32. Rows are batch-major (row = b * T + t); the position of row t is pos[0] + t, read from
// device memory so that one captured CUDA graph serves every decode position.

#define FULL_MASK 0xffffffffu
#define NEG_INF __int_as_float(0xff800000)  // NVRTC has no math.h INFINITY

// Sum (or max) of v over the block, returned to every thread. blockDim.x: a multiple of 32, <= 1024.
__device__ float block_reduce(float v, bool is_max) {
    __shared__ float partial[32];
    for (int o = 16; o > 0; o >>= 1) {
        float other = __shfl_xor_sync(FULL_MASK, v, o);
        v = is_max ? fmaxf(v, other) : v + other;
    }
    __syncthreads();  // partial[] may still be read by an earlier call
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = v;
    __syncthreads();
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    v = lane < warps ? partial[lane] : (is_max ? NEG_INF : 0.0f);
    for (int o = 16; o > 0; o >>= 1) {
        float other = __shfl_xor_sync(FULL_MASK, v, o);
        v = is_max ? fmaxf(v, other) : v + other;
    }
    return v;
}

// y = x / sqrt(mean(x^2) + eps) * w, one block per row of `cols`.
extern "C" __global__ void rms_norm(const float* __restrict__ x, const float* __restrict__ w,
                                    float* __restrict__ y, int cols, float eps) {
    const float* xr = x + (size_t)blockIdx.x * cols;
    float* yr = y + (size_t)blockIdx.x * cols;
    float s = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) s = fmaf(xr[i], xr[i], s);
    float scale = 1.0f / sqrtf(block_reduce(s, false) / cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) yr[i] = xr[i] * scale * w[i];
}

// Rotary embedding of Q and K from the fused QKV product, K and V stored into this layer's cache.
// qkv (rows, ld): columns Q | K | V, head h at column h * hd. q_out (rows, nh * hd). k_cache, v_cache
// (B, nkv, L, hd). cos_t / sin_t (context, hd / 2). One thread per (row, head, pair i / i + hd/2).
extern "C" __global__ void rope_store(const float* __restrict__ qkv, int ld,
                                      const float* __restrict__ cos_t, const float* __restrict__ sin_t,
                                      const int* __restrict__ pos, float* __restrict__ q_out,
                                      float* __restrict__ k_cache, float* __restrict__ v_cache,
                                      int rows, int T, int nh, int nkv, int hd, int L) {
    int half = hd >> 1, heads = nh + 2 * nkv;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)rows * heads * half) return;
    int j = (int)(idx % half);
    long long rh = idx / half;
    int h = (int)(rh % heads), row = (int)(rh / heads);
    int b = row / T, p = pos[0] + row % T;
    const float* src = qkv + (size_t)row * ld + (size_t)h * hd;
    float x1 = src[j], x2 = src[j + half];
    float* dst;
    if (h < nh + nkv) {
        float c = cos_t[(size_t)p * half + j], s = sin_t[(size_t)p * half + j];
        float o1 = x1 * c - x2 * s, o2 = x2 * c + x1 * s;
        dst = h < nh ? q_out + (size_t)row * nh * hd + (size_t)h * hd
                     : k_cache + (((size_t)b * nkv + (h - nh)) * L + p) * hd;
        x1 = o1;
        x2 = o2;
    } else {
        dst = v_cache + (((size_t)b * nkv + (h - nh - nkv)) * L + p) * hd;
    }
    dst[j] = x1;
    dst[j + half] = x2;
}

// Grouped-query attention of one new token per sequence (T = 1) over cache positions 0..pos[0].
// q (B, nh * hd), pre-scaled by 1/sqrt(hd); out (B, nh * hd). One block per (sequence, query head);
// dynamic shared memory: hd + L floats (the query, then the scores).
extern "C" __global__ void attend_one(const float* __restrict__ q, const float* __restrict__ k_cache,
                                      const float* __restrict__ v_cache, const int* __restrict__ pos,
                                      float* __restrict__ out, int nh, int nkv, int hd, int L) {
    extern __shared__ float smem[];
    float* qs = smem;
    float* scores = smem + hd;
    int b = blockIdx.x / nh, h = blockIdx.x % nh, kvh = h / (nh / nkv);
    int n = pos[0] + 1;
    const float* qrow = q + ((size_t)b * nh + h) * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = qrow[d];
    __syncthreads();
    const float* K = k_cache + ((size_t)b * nkv + kvh) * L * hd;
    const float* V = v_cache + ((size_t)b * nkv + kvh) * L * hd;
    float m = NEG_INF;
    for (int k = threadIdx.x; k < n; k += blockDim.x) {
        const float* kr = K + (size_t)k * hd;
        float s = 0.0f;
        for (int d = 0; d < hd; ++d) s = fmaf(qs[d], kr[d], s);
        scores[k] = s;
        m = fmaxf(m, s);
    }
    m = block_reduce(m, true);
    float total = 0.0f;
    for (int k = threadIdx.x; k < n; k += blockDim.x) {
        float e = expf(scores[k] - m);
        scores[k] = e;
        total += e;
    }
    float inv = 1.0f / block_reduce(total, false);  // its barriers also publish scores[]
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0.0f;
        for (int k = 0; k < n; ++k) acc = fmaf(scores[k], V[(size_t)k * hd + d], acc);
        out[((size_t)b * nh + h) * hd + d] = acc * inv;
    }
}

// silu(gate) * up of the fused (rows, ld) product whose columns are gate | up; out (rows, ffn).
extern "C" __global__ void swiglu(const float* __restrict__ gu, int ld, float* __restrict__ out, int rows, int ffn) {
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (long long)rows * ffn) return;
    int r = (int)(idx / ffn), j = (int)(idx % ffn);
    float g = gu[(size_t)r * ld + j], u = gu[(size_t)r * ld + ffn + j];
    out[idx] = g / (1.0f + expf(-g)) * u;
}

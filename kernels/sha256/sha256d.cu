/* SHA-256 batch hashing and the SHA-256d nonce scan in CUDA C (kernels/sha256/cupy_cuda.py loads it with
 * cupy.RawModule; it also compiles standalone: nvcc -arch=sm_90 -DJOB_...=N, see device_scan.layout_defines).
 *
 * One nonce per thread, several per thread in a grid-stride loop; the job (midstate and the words that do
 * not depend on the nonce) sits in constant memory; rotations are funnel shifts (SHF); CH/MAJ compile to
 * LOP3; H7 of the second hash rejects almost every nonce after round 60; candidates go through an atomic
 * counter into a small buffer.
 */

typedef unsigned int uint;

#define WORD uint
#define ROTR(x, n) __funnelshift_r((x), (x), (n))
#define INLINE static __device__ __forceinline__
#define CONSTANT __constant__
#define JOB_PTR const uint *

#include "sha256d_core.h"

#define BSWAP(x) __byte_perm((x), 0u, 0x0123u)

__constant__ uint c_job[JOB_WORDS]; /* device_scan.job(), written once per scan */

/* Scan nonces start + offset for offset < count; thread g tries offsets g + i * (threads in the grid),
 * i < per_thread. Candidates (top hash word <= the target's) go to hits[] through n_hits, which keeps
 * counting past `capacity`; the host re-verifies every candidate with hashlib. */
extern "C" __global__ void __launch_bounds__(256) sha256d_scan(
    const uint start,      /* first nonce of the window */
    const uint count,      /* nonces in the window (<= 2**31) */
    const uint per_thread, /* grid-stride loop trips */
    uint *hits,            /* candidate nonces, `capacity` of them */
    uint *n_hits,          /* candidates found (may exceed capacity) */
    const uint capacity)
{
    const uint stride = gridDim.x * blockDim.x;
    const uint target_hi = c_job[JOB_TARGET_HI];
    uint offset = blockIdx.x * blockDim.x + threadIdx.x;
    for (uint i = 0; i < per_thread && offset < count; i++, offset += stride) {
        const uint nonce = start + offset;
        const uint h7 = sha256d_last_word(c_job, BSWAP(nonce));
        if (BSWAP(h7) <= target_hi) {
            const uint slot = atomicAdd(n_hits, 1u);
            if (slot < capacity)
                hits[slot] = nonce;
        }
    }
}

/* SHA-256 of n messages, one per thread: message i is blocks offsets[i] .. offsets[i]+counts[i]-1 of
 * `words` (padded big-endian words, reference.pack_messages); its final state goes to states[8i..8i+7]. */
extern "C" __global__ void sha256_batch(const uint *words, const long long *offsets, const long long *counts,
                                        uint *states, const uint n)
{
    const uint i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    uint s[8], block[16];
#pragma unroll
    for (int k = 0; k < 8; k++)
        s[k] = SHA256_H0[k];
    for (long long b = offsets[i], end = offsets[i] + counts[i]; b < end; b++) {
#pragma unroll
        for (int t = 0; t < 16; t++)
            block[t] = words[b * 16 + t];
        sha256_block(s, block);
    }
#pragma unroll
    for (int k = 0; k < 8; k++)
        states[8 * i + k] = s[k];
}

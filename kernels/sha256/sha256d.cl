/* SHA-256 batch hashing and the SHA-256d nonce scan in OpenCL C (kernels/sha256/opencl.py builds it).
 *
 * Build options:
 *   -DLANES=16 (or 8, 4)  CPU devices: PoCL does not vectorise across work-items, so each work-item
 *                         carries LANES nonces in vector lanes (16 = AVX-512, 8 = AVX2 registers).
 *   -DLANES=1             GPUs, Intel's CPU runtime (it vectorises across work-items itself), and
 *                         sha256_batch everywhere: one nonce or message per work-item.
 *   -DWIDE=1              rotations with the rotate() builtin; with PoCL's lanes plain shift/or instead (PoCL
 *                         calls rotate() out of line, and on uint16 it spilled registers in the PyPI PoCL).
 *   -DAVX512=1            compile the scan loop for AVX-512 whatever CPU PoCL's LLVM thinks it runs on.
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#if LANES == 1
#define WORD uint
#else
#define WORD CAT(uint, LANES)
#define MASK CAT(int, LANES)
#endif
#if LANES == 1
#elif LANES == 4
#define LANE_INDEX (uint4)(0, 1, 2, 3)
#define ANY(m) ((m).x | (m).y | (m).z | (m).w)
#elif LANES == 8
#define LANE_INDEX (uint8)(0, 1, 2, 3, 4, 5, 6, 7)
#define ANY(m) ((m).s0 | (m).s1 | (m).s2 | (m).s3 | (m).s4 | (m).s5 | (m).s6 | (m).s7)
#elif LANES == 16
#define LANE_INDEX (uint16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define ANY(m) ((m).s0 | (m).s1 | (m).s2 | (m).s3 | (m).s4 | (m).s5 | (m).s6 | (m).s7 | \
                (m).s8 | (m).s9 | (m).sa | (m).sb | (m).sc | (m).sd | (m).se | (m).sf)
#else
#error "LANES must be 1, 4, 8 or 16"
#endif
#if WIDE
#define ROTR(x, n) rotate((x), (uint)(32 - (n)))
#else
#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#endif
#if AVX512
#define TARGET __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq")))
#else
#define TARGET
#endif
#define INLINE static inline __attribute__((always_inline)) TARGET
#define CONSTANT __constant
#define JOB_PTR __constant const uint *

#include "sha256d_core.h"

#define BSWAP(x) (((x) << 24) | (((x) & 0xff00u) << 8) | (((x) >> 8) & 0xff00u) | ((x) >> 24))

INLINE void record_hit(const uint nonce, __global uint *hits, volatile __global uint *n_hits, const uint capacity)
{
    const uint slot = atomic_inc(n_hits);
    if (slot < capacity)
        hits[slot] = nonce;
}

/* The scan loop of one work-item. With -DAVX512=1 (a PoCL CPU device on an AVX-512 host whose CPU PoCL's
 * LLVM does not know, e.g. Zen 4 seen as znver3) it is compiled for AVX-512 and kept out of line: PoCL
 * compiles its work-group wrapper for the CPU it knows, and only a separate function keeps the AVX-512
 * rotates (vprord) and 3-input logic ops (vpternlogd). */
#if AVX512
#define SCAN_FN static __attribute__((noinline)) TARGET
#else
#define SCAN_FN INLINE
#endif
SCAN_FN void scan_item(JOB_PTR job, const uint start, const uint count, const uint per_item, __global uint *hits,
                       volatile __global uint *n_hits, const uint capacity, uint base, const uint stride)
{
    const uint target_hi = job[JOB_TARGET_HI];
    for (uint i = 0; i < per_item && base < count; i++, base += stride) {
#if LANES > 1
        const WORD offset = base + LANE_INDEX;
        const WORD nonce = start + offset;
        const WORD h7 = sha256d_last_word(job, BSWAP(nonce));
        const MASK hit = (BSWAP(h7) <= target_hi) & (offset < count);
        if (ANY(hit)) {  /* rare: spill the lanes and record each hit */
            union { WORD v; uint s[LANES]; } nonces = {nonce};
            union { MASK v; int s[LANES]; } lane_hit = {hit};
            for (int l = 0; l < LANES; l++)
                if (lane_hit.s[l])
                    record_hit(nonces.s[l], hits, n_hits, capacity);
        }
#else
        const uint nonce = start + base;
        const uint h7 = sha256d_last_word(job, BSWAP(nonce));
        if (BSWAP(h7) <= target_hi)
            record_hit(nonce, hits, n_hits, capacity);
#endif
    }
}

/* Scan nonces start + offset, offset < count: work-item g covers offsets LANES*(g + i*global_size) + lane
 * for i < per_item. Candidates (top hash word <= the target's) go to hits[] through the counter n_hits,
 * which keeps counting past `capacity`; the host re-verifies every candidate with hashlib. */
__kernel void sha256d_scan(JOB_PTR job,                  /* device_scan.job(): midstate, precomputed words */
                           const uint start,             /* first nonce of the window */
                           const uint count,             /* nonces in the window (<= 2**31) */
                           const uint per_item,          /* loop trips per work-item */
                           __global uint *hits,          /* candidate nonces, `capacity` of them */
                           volatile __global uint *n_hits, /* candidates found (may exceed capacity) */
                           const uint capacity)
{
    scan_item(job, start, count, per_item, hits, n_hits, capacity, LANES * (uint)get_global_id(0),
              LANES * (uint)get_global_size(0));
}

#if LANES == 1
/* SHA-256 of n messages, one per work-item: message i is blocks[offsets[i] .. offsets[i]+counts[i]-1]
 * of `words` (padded, big-endian words, reference.pack_messages); its final state goes to states[8i..]. */
__kernel void sha256_batch(__global const uint *words, __global const long *offsets, __global const long *counts,
                           __global uint *states, const uint n)
{
    const uint i = get_global_id(0);
    if (i >= n)
        return;
    uint s[8], block[16];
    for (int k = 0; k < 8; k++)
        s[k] = SHA256_H0[k];
    for (long b = offsets[i], end = offsets[i] + counts[i]; b < end; b++) {
        for (int t = 0; t < 16; t++)
            block[t] = words[b * 16 + t];
        sha256_block(s, block);
    }
    for (int k = 0; k < 8; k++)
        states[8 * i + k] = s[k];
}
#endif

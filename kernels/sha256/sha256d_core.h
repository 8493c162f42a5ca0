/* SHA-256 compression and the SHA-256d nonce-scan core, shared by sha256d.cu (CUDA) and sha256d.cl
 * (OpenCL), so that the round code PoCL runs in CI is the round code the GPUs run.
 *
 * The including file defines before including this one:
 *   uint        32-bit unsigned integer
 *   WORD        the lane type: uint (one nonce per thread) or uint16 (16 nonces, OpenCL on CPUs)
 *   ROTR(x, n)  rotate right by a constant: a funnel shift on GPUs, shift/or on CPU lanes
 *   INLINE      qualifiers of an always-inlined device function
 *   CONSTANT    the constant address space of a program-scope array
 *   JOB_PTR     a pointer to the job words in constant memory
 * and the job layout (JOB_MID ... JOB_TARGET_HI, from kernels/sha256/device_scan.py, as -D options).
 *
 * Every loop has a constant trip count and `#pragma unroll`: fully unrolled, each message word and state
 * word is a register, and the zero and constant message words of the padding fold away.
 */

#define BSIG0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))
/* Both forms compile to one 3-input logic op (LOP3) on NVIDIA GPUs. */
#define CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
#define MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))

#define H0_7 0x5be0cd19u

CONSTANT uint SHA256_K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

CONSTANT uint SHA256_H0[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au, 0x510e527fu, 0x9b05688cu, 0x1f83d9abu, H0_7,
};

/* Rounds first..last-1 on the state s = a..h, computing each schedule word w[t] with t >= expand_from
 * just before its round (from the 16 before it), which keeps few words alive at a time. A macro, not a
 * function, so that the loop bounds are literals where the compiler unrolls (PoCL unrolls before it
 * inlines). */
#define SHA256_ROUNDS(s, w, first, last, expand_from)                                       \
    _Pragma("unroll") for (int t_ = (first); t_ < (last); t_++) {                           \
        if (t_ >= (expand_from))                                                            \
            w[t_] = SSIG1(w[t_ - 2]) + w[t_ - 7] + SSIG0(w[t_ - 15]) + w[t_ - 16];          \
        const WORD t1_ = s[7] + BSIG1(s[4]) + CH(s[4], s[5], s[6]) + SHA256_K[t_] + w[t_];  \
        const WORD t2_ = BSIG0(s[0]) + MAJ(s[0], s[1], s[2]);                               \
        s[7] = s[6]; s[6] = s[5]; s[5] = s[4]; s[4] = s[3] + t1_;                           \
        s[3] = s[2]; s[2] = s[1]; s[1] = s[0]; s[0] = t1_ + t2_;                            \
    }

/* One compression: state s (8 words) absorbs the 16 big-endian words of a block. */
INLINE void sha256_block(WORD *s, const WORD *block)
{
    WORD w[64], v[8];
#pragma unroll
    for (int t = 0; t < 16; t++) w[t] = block[t];
#pragma unroll
    for (int i = 0; i < 8; i++) v[i] = s[i];
    SHA256_ROUNDS(v, w, 0, 64, 16)
#pragma unroll
    for (int i = 0; i < 8; i++) s[i] += v[i];
}

/* The last state word H7 of sha256d(header), the header's nonce given as message word w3 (byte-swapped).
 * Byte-swapped, H7 is the top 32 bits of the hash read as a little-endian number, so it alone decides
 * almost every nonce: only rounds 0..60 of the second hash are computed (round 60 makes the e that
 * becomes h after round 63), and round 60 only its e half. */
INLINE WORD sha256d_last_word(JOB_PTR job, const WORD w3)
{
    WORD w[64], s[8];
    /* Second block of the header: merkle tail, time, bits, nonce, then padding for 640 bits. */
    w[0] = (WORD)(job[JOB_TAIL]);
    w[1] = (WORD)(job[JOB_TAIL + 1]);
    w[2] = (WORD)(job[JOB_TAIL + 2]);
    w[3] = w3;
    w[4] = (WORD)(0x80000000u);
#pragma unroll
    for (int t = 5; t < 15; t++) w[t] = (WORD)(0u);
    w[15] = (WORD)(640u);
    w[16] = (WORD)(job[JOB_W16]);
    w[17] = (WORD)(job[JOB_W17]);
    w[18] = (WORD)(job[JOB_W18_PART]) + SSIG0(w3);
    w[19] = (WORD)(job[JOB_W19_PART]) + w3;
    /* State after round 3: rounds 0..2 and most of round 3 were done once on the host. */
    s[0] = (WORD)(job[JOB_A4_PART]) + w3;
    s[1] = (WORD)(job[JOB_STATE3]);
    s[2] = (WORD)(job[JOB_STATE3 + 1]);
    s[3] = (WORD)(job[JOB_STATE3 + 2]);
    s[4] = (WORD)(job[JOB_E4_PART]) + w3;
    s[5] = (WORD)(job[JOB_STATE3 + 3]);
    s[6] = (WORD)(job[JOB_STATE3 + 4]);
    s[7] = (WORD)(job[JOB_STATE3 + 5]);
    SHA256_ROUNDS(s, w, 4, 64, 20)

    /* Second hash: the 32-byte first digest, padded for 256 bits. */
#pragma unroll
    for (int i = 0; i < 8; i++) w[i] = s[i] + job[JOB_MID + i];
    w[8] = (WORD)(0x80000000u);
#pragma unroll
    for (int t = 9; t < 15; t++) w[t] = (WORD)(0u);
    w[15] = (WORD)(256u);
#pragma unroll
    for (int i = 0; i < 8; i++) s[i] = (WORD)(SHA256_H0[i]);
    SHA256_ROUNDS(s, w, 0, 60, 16)
    w[60] = SSIG1(w[58]) + w[53] + SSIG0(w[45]) + w[44];
    return (WORD)(H0_7 + SHA256_K[60]) + s[3] + s[7] + BSIG1(s[4]) + CH(s[4], s[5], s[6]) + w[60];
}

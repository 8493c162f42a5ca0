"""SHA-256 compressions on the Arm SHA2 instructions (FEAT_SHA256), as Numba intrinsics written in LLVM IR.

The Grace CPUs of GB200 / GB300 / GH200 nodes (Neoverse V2) and Apple's M-series have no vectors wider
than 128 bits for numba_cpu's lanes kernel (and LLVM leaves its 4-lane loop scalar there), but they have a
SHA-256 unit:
`sha256h` / `sha256h2` do four rounds on the state held as two vectors, ABCD and EFGH (lane 0 = A and E),
with four message words plus K in their third operand; `sha256su0` / `sha256su1` extend the schedule four
words at a time. The four functions numba_cpu calls come from kernels/sha256/sha_unit.py, as sha_ni's
do, so one scan and one hash_batch run on either unit.

A block's 16 `sha256h` form a chain, each waiting for the state the last one wrote, so the functions
hash several blocks with their rounds interleaved, written stream by stream in each step. Whether that
order survives LLVM's scheduler on AArch64 is checked on the assembly (tests/test_sha256_arm.py).

Nothing here has been timed on an Arm CPU: it was checked bit for bit against hashlib on an emulated
Neoverse V2 (qemu-user, scripts/arm64_emulated.sh) and its instructions per nonce were counted on the
assembly LLVM writes for Neoverse V2: llvm-mca's model of that core gives 108 cycles a nonce, all on the one
pipe (V0) that runs SHA instructions, against 593 for the scalar lanes loop (docs/performance.md).
"""

from __future__ import annotations

import platform

from llvmlite import ir

from kernels.runtime import cpu
from kernels.sha256 import reference as ref
from kernels.sha256.sha_unit import V4, Unit, intrinsics, lane, vector

ARM_MACHINES = ("aarch64", "arm64")
KERNEL = "arm-sha2"  # numba_cpu's name for the scan on this unit (SITEBENCH_SHA256_CPU)
INSTRUCTIONS = "the Arm SHA2 instructions"


def available(features: set[str] | None = None) -> bool:
    """Whether Numba compiles for a target with the SHA2 instructions here (AArch64 with '+sha2')."""
    if platform.machine().lower() not in ARM_MACHINES:
        return False
    features = cpu.compile_features() if features is None else features
    return "+sha2" in features


def _sha(builder, name: str, *args):
    """One of llvm.aarch64.crypto.sha256{h,h2,su0,su1} on <4 x i32> operands."""
    fnty = ir.FunctionType(V4, [V4] * len(args))
    return builder.call(builder.module.declare_intrinsic(f"llvm.aarch64.crypto.{name}", fnty=fnty), args)


def rounds(builder, streams, count: int = 64):
    """(ABCD, EFGH) of each independent (abcd, efgh, 16 message words) after `count` rounds (a multiple
    of 4, <= 64), each step written for every stream before the next."""
    if count % 4 or not 0 < count <= 64:
        raise ValueError(f"the SHA2 instructions do 4 rounds at a time; {count} rounds is not a multiple of 4 up to 64")
    abcd = [s[0] for s in streams]
    efgh = [s[1] for s in streams]
    schedule = [[vector(builder, s[2][4 * i : 4 * i + 4]) for i in range(4)] for s in streams]
    for group in range(count // 4):
        k = ir.Constant(V4, [int(x) for x in ref.K[4 * group : 4 * group + 4]])
        wk = []
        for w in schedule:
            if group >= 4:  # W[t..t+3] from W[t-16..t-13], W[t-12..t-9], W[t-8..t-5], W[t-4..t-1]
                older, old, prev, last = (w[(group + j) % 4] for j in range(4))
                w[group % 4] = _sha(builder, "sha256su1", _sha(builder, "sha256su0", older, old), prev, last)
            wk.append(builder.add(w[group % 4], k))
        for i, x in enumerate(wk):
            abcd[i], efgh[i] = _sha(builder, "sha256h", abcd[i], efgh[i], x), _sha(builder, "sha256h2", efgh[i], abcd[i], x)
    return list(zip(abcd, efgh))


ARM_SHA2 = Unit(
    name="arm_sha2",
    rounds=rounds,
    pack=lambda builder, s: (vector(builder, s[:4]), vector(builder, s[4:])),
    unpack=lambda builder, abcd, efgh: [lane(builder, abcd, i) for i in range(4)] + [lane(builder, efgh, i) for i in range(4)],
    from_halves=lambda builder, low, high: (low, high),  # memory holds a b c d | e f g h, as the unit does
    to_halves=lambda builder, abcd, efgh: (abcd, efgh),
    # the final h is lane 3 of EFGH after all 16 groups; the last group's sha256h (ABCD) is then dead code,
    # which LLVM drops: 31 of the 32 hash instructions run
    last_word_rounds=64,
    final_h=lambda builder, abcd, efgh: lane(builder, efgh, 3),
)

compress_each, last_word_each, compress_into, compress_bytes_into = intrinsics(ARM_SHA2)

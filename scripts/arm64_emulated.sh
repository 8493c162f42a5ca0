#!/usr/bin/env bash
# The CPU tests on an emulated Arm Neoverse V2 (the Grace CPU of GB200 / GB300 / GH200 nodes), for a
# machine with no Arm CPU: qemu-user runs an aarch64 CPython from Debian bookworm with aarch64 wheels from
# PyPI, and LLVM inside it compiles the numba-cpu kernels for Neoverse V2 with the SHA2 instructions.
#
#   sudo scripts/arm64_emulated.sh                      # the numba-cpu SHA-256 and int8 dot tests
#   sudo scripts/arm64_emulated.sh tests/test_cli.py    # any pytest arguments instead
#
# Needs root once (apt: qemu-user-static, debootstrap), Debian's and PyPI's servers, and about 1 GB in
# ARM64_ROOT. Slow: LLVM under emulation compiles 20-50x slower than natively, so only small test files
# are worth running. What it proves is bit-exactness and that the code builds for Grace; a speed seen here
# is qemu's, never Grace's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ARM64_ROOT:-/opt/sitebench-arm64}
SYSROOT=$ROOT/sysroot
SITE=$ROOT/site-packages

if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap >/dev/null
fi

if [ ! -x "$SYSROOT/usr/bin/python3" ]; then
    # --foreign only downloads and unpacks (nothing aarch64 runs); the packages are then unpacked by hand
    debootstrap --arch=arm64 --foreign --variant=minbase --include=python3,libstdc++6,libgomp1 \
        bookworm "$SYSROOT" http://deb.debian.org/debian >/dev/null
    for deb in "$SYSROOT"/var/cache/apt/archives/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
fi

# qemu -L looks for a path under the sysroot before the host's, so LLVM reads this /proc/cpuinfo: a
# Neoverse V2 (part 0xd4f) with Grace's features, SHA2 among them (qemu's `max` CPU runs all of them).
mkdir -p "$SYSROOT/proc"
features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop"
features="$features sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg dcpodp sve2"
features="$features sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svebf16 i8mm bf16 dgh bti"
for cpu in 0 1; do
    printf 'processor\t: %s\nBogoMIPS\t: 2000.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\n' "$cpu" "$features"
    printf 'CPU variant\t: 0x0\nCPU part\t: 0xd4f\nCPU revision\t: 0\n\n'
done >"$SYSROOT/proc/cpuinfo"

# the project's dependencies and the test tools, as aarch64 wheels for the sysroot's CPython 3.11 (installed
# again when this list changes)
REQUIREMENTS=("numpy>=1.26" "numba>=0.60" "rich>=13" "pydantic>=2.6" "matplotlib>=3.8" "scipy>=1.11"
    "threadpoolctl>=3.2" "nvidia-ml-py>=12" "pyopencl>=2024.1" "gguf>=0.10" "tokenizers>=0.19" packaging pytest
    pytest-benchmark pytest-xdist hypothesis)
if [ "$(cat "$SITE/.requirements" 2>/dev/null)" != "${REQUIREMENTS[*]}" ]; then
    rm -rf "$SITE"
    python3 -m pip install -q --target "$SITE" --only-binary=:all: --python-version 3.11 --implementation cp \
        --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
        --platform manylinux_2_34_aarch64 "${REQUIREMENTS[@]}"
    echo "${REQUIREMENTS[*]}" >"$SITE/.requirements"
fi

[ $# -gt 0 ] || set -- tests/test_sha256_numba_cpu.py tests/test_sha256_arm.py tests/test_int8_dot_codegen.py \
    tests/test_inference_quant.py::test_every_int8_dot_path_gives_the_exact_products
exec env PYTHONPATH="$SITE:$PWD" QEMU_CPU=max NUMBA_CACHE_DIR="$ROOT/numba-cache" \
    qemu-aarch64-static -L "$SYSROOT" "$SYSROOT/usr/bin/python3" -m pytest -n 0 -p no:cacheprovider "$@"

#!/usr/bin/env bash
# The one command that validates the GPU backends on a machine with an NVIDIA GPU:
#
#   scripts/gpu_check.sh            (or OUT=/some/dir scripts/gpu_check.sh)
#
# It installs nothing and needs no network: it runs from the checkout with PYTHONPATH=. and whatever
# Python is first on PATH (numba, numba-cuda, cupy, nvidia-ml-py, rich, pytest, pytest-benchmark; no
# pyopencl needed). Steps, each logged under $OUT (default reports/gpu-check-<time>/):
#   1. backends.json          what `python -m bench backends` finds (devices, or why a backend cannot run)
#   2. pytest-gpu.txt         `pytest -m gpu`: every GPU-marked test (SHA-256d, GEMM, inference)
#   3. mine-<backend>-<header>.json   `bench mine` over all 2**32 nonces of two real headers, per GPU backend
#   4. bench-sha256.txt       the SHA-256d device benchmarks (scan GH/s, hash_batch msg/s, compile times)
#   5. run-quick.txt          `python -m bench run --quick` on the GPU backends (once that verb has landed)
# and summary.txt with every step's exit status. Exit status: 0 only if every step passed; 2 when no GPU
# backend can run here (every gpu test would be skipped, proving nothing).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
PY=${PYTHON:-python}
OUT=${OUT:-reports/gpu-check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
failed=0

step() {  # step NAME LOGFILE COMMAND...: run, tee the output to LOGFILE, record the exit status
    local name=$1 log=$2
    shift 2
    echo "== $name: $*" | tee -a "$SUMMARY"
    "$@" 2>&1 | tee "$OUT/$log"
    local rc=${PIPESTATUS[0]}
    echo "   exit $rc" | tee -a "$SUMMARY"
    [ "$rc" -eq 0 ] || failed=1
}

GENESIS=0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c
BLOCK_125552=0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122bc7f5d74df2b9441a42a14695

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true; } >"$OUT/gpu.txt" 2>&1
step backends backends.txt "$PY" -m bench backends --json "$OUT/backends.json"
# Without a GPU every gpu-marked test would be skipped and the check would prove nothing: stop here.
if ! "$PY" - "$OUT/backends.json" <<'EOF'
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["backends"] if r["workload"] == "sha256d" and r["backend"] in ("cupy", "numba-cuda")]
ready = [r["backend"] for r in rows if r["available"] and any(d["kind"] == "gpu" for d in r["devices"])]
for r in rows:
    print(f"{r['backend']}: {'ready' if r['backend'] in ready else r['reason'] or 'no GPU device'}")
sys.exit(0 if ready else 1)
EOF
then
    echo "no GPU backend can run here: nothing to check (see $OUT/backends.json)" | tee -a "$SUMMARY"
    exit 2
fi
step pytest-gpu pytest-gpu.txt "$PY" -m pytest -m gpu -ra -p no:cacheprovider
for backend in cupy numba-cuda; do
    step "mine $backend genesis" "mine-$backend-genesis.log" \
        "$PY" -m bench mine --backend "$backend" --header "$GENESIS" --json "$OUT/mine-$backend-genesis.json"
    step "mine $backend 125552" "mine-$backend-125552.log" \
        "$PY" -m bench mine --backend "$backend" --header "$BLOCK_125552" --json "$OUT/mine-$backend-125552.json"
done
step bench-sha256 bench-sha256.txt "$PY" -m pytest tests/benchmarks/test_sha256_device_bench.py --benchmark-enable \
    -p no:cacheprovider -ra --benchmark-json "$OUT/bench-sha256.json"
step run-quick run-quick.txt "$PY" -m bench run --quick --backend numba-cuda --backend cupy --out "$OUT/run"

echo "results in $OUT" | tee -a "$SUMMARY"
exit "$failed"

#!/usr/bin/env bash
# The one command that validates the GPU backends on a machine with an NVIDIA GPU:
#
#   scripts/gpu_check.sh            (or OUT=/some/dir scripts/gpu_check.sh)
#
# It installs nothing and needs no network: it runs from the checkout with PYTHONPATH=. and whatever
# Python is first on PATH (numba, numba-cuda, cupy, nvidia-ml-py, rich, pytest, pytest-benchmark; no
# pyopencl needed). Steps, each logged under $OUT (default reports/gpu-check-<time>/):
#   0. gpu.txt, env.txt       nvidia-smi; driver and package versions, where CuPy finds cuBLAS and the CUDA
#                             headers (the [cuda] extra needs a driver for CUDA 13, i.e. R580 or newer)
#   1. backends.json          what `python -m bench backends` finds (devices, or why a backend cannot run)
#   2. pytest-gpu.txt         `pytest -m gpu`: every GPU-marked test (SHA-256d, GEMM, inference, timers, NVML)
#   3. mine-<backend>-<header>.json   `bench mine` over all 2**32 nonces of two real headers, per GPU backend;
#                             the step fails unless the block's real nonce is among the nonces found
#   4. bench-sha256.txt       the SHA-256d device benchmarks (scan GH/s, hash_batch msg/s, compile times)
#      bench-gemm.txt         cuBLAS fp32/tf32/fp16/bf16 vs the own WMMA kernel and numba-cuda, up to 8192^3
#      bench-inference.txt    SmolLM2-135M prefill/decode tok/s on cupy and numba-cuda
#   5. run-quick.txt          `python -m bench run --quick` on the GPU backends
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

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,pci.bus_id --format=csv || true; } >"$OUT/gpu.txt" 2>&1
"$PY" - >"$OUT/env.txt" 2>&1 <<'EOF'
import importlib.metadata as md, os
for dist in ("cupy-cuda13x", "cupy-cuda12x", "numba", "numba-cuda", "cuda-bindings", "nvidia-cublas", "nvidia-cuda-crt",
             "nvidia-cuda-nvrtc", "nvidia-ml-py"):
    try:
        print(f"{dist} {md.version(dist)}")
    except md.PackageNotFoundError:
        pass
try:
    from numba.cuda.cudadrv.driver import driver
    major, minor = driver.get_version()
    print(f"driver supports CUDA {major}.{minor}" + ("" if major >= 13 else
          "  <- the [cuda] extra is built for CUDA 13: update the driver (R580+) or use cupy-cuda12x, numba-cuda[cu12]"))
except Exception as exc:
    print(f"numba-cuda driver query failed: {exc}")
try:
    import cupy
    root = cupy.cuda.get_cuda_path()
    crt = root and os.path.exists(os.path.join(root, "include", "crt", "mma.h"))
    print(f"CuPy CUDA root {root}; crt/mma.h {'present' if crt else 'MISSING (the WMMA kernel will not compile)'}")
    from kernels.runtime import cuda
    print("cuBLAS:", cuda.cublas_status()[1] or "loads")
except Exception as exc:
    print(f"CuPy not usable: {exc}")
EOF
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
mine() {  # mine BACKEND NAME HEADER NONCE: scan all 2**32 nonces; the real nonce must be among those found
    "$PY" -m bench mine --backend "$1" --header "$3" --json "$OUT/mine-$1-$2.json" || return $?
    "$PY" -c 'import json, sys; found = [f["nonce"] for f in json.load(open(sys.argv[1]))["found"]]
print("found", found); sys.exit(0 if int(sys.argv[2]) in found else 1)' "$OUT/mine-$1-$2.json" "$4"
}
for backend in cupy numba-cuda; do
    step "mine $backend genesis" "mine-$backend-genesis.log" mine "$backend" genesis "$GENESIS" 2083236893
    step "mine $backend 125552" "mine-$backend-125552.log" mine "$backend" 125552 "$BLOCK_125552" 2504433986
done
step bench-sha256 bench-sha256.txt "$PY" -m pytest tests/benchmarks/test_sha256_device_bench.py --benchmark-enable \
    -p no:cacheprovider -ra --benchmark-json "$OUT/bench-sha256.json"
step bench-gemm bench-gemm.txt "$PY" -m pytest tests/benchmarks/test_gemm_bench.py --benchmark-enable \
    -k "cublas or numba_cuda" -p no:cacheprovider -ra --benchmark-json "$OUT/bench-gemm.json"
step bench-inference bench-inference.txt "$PY" -m pytest tests/benchmarks/test_inference_bench.py --benchmark-enable \
    -k "cupy or numba-cuda" -p no:cacheprovider -ra --benchmark-json "$OUT/bench-inference.json"
step run-quick run-quick.txt "$PY" -m bench run --quick --backend numba-cuda --backend cupy --out "$OUT/run"

echo "results in $OUT" | tee -a "$SUMMARY"
exit "$failed"

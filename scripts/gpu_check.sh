#!/usr/bin/env bash
# The one command that validates the GPU backends on a machine with an NVIDIA GPU:
#
#   scripts/gpu_check.sh            (or OUT=/some/dir DEADLINE_S=450 scripts/gpu_check.sh)
#
# It installs nothing and needs no network: it runs from the checkout with PYTHONPATH=. (prepended to any
# PYTHONPATH already set) and $PYTHON or the python first on PATH (numba, numba-cuda, cupy, nvidia-ml-py,
# rich, pydantic, pytest, pytest-benchmark; no pyopencl needed). Steps, in order of value, each logged
# under $OUT (default reports/gpu-check-<time>/):
#   0. gpu.txt, env.txt       nvidia-smi; driver and package versions, where CuPy finds cuBLAS and the CUDA
#                             headers (the [cuda] extra needs a driver for CUDA 13, i.e. R580 or newer)
#   1. backends.json          what `python -m bench backends` finds (devices, or why a backend cannot run)
#   2. startup.txt/.json      cold and warm start of `bench mine` on each CUDA backend: the same small scan
#                             twice in new processes, the kernel caches empty before the first (the
#                             compiled kernels are kept under $OUT/kernel-cache for every later step)
#   3. own-gemm.txt           each Hopper GEMM kernel's trial (its first run, in a child process; the outcome
#                             is kept for the later steps), the own kernel chosen per dtype, for a
#                             persistent one the blocks it launches (and the driver's count of resident
#                             clusters), and for a kernel that failed the layout probe's summary (maps in
#                             layout-probe/)
#   4. pytest-gpu.txt         `pytest -m gpu --benchmark-enable`, one process (Numba CUDA compiles once):
#                             every GPU correctness test (SHA-256d, GEMM, inference, timers, NVML) and the
#                             GPU benchmarks (scan GH/s, the generated kernel's tunings side by side
#                             (tests/benchmarks/test_sha256_tuning_bench.py), hash_batch msg/s, cuBLAS vs
#                             the own WMMA and (Hopper) wgmma / wgmma-tma[-persistent|-cluster|
#                             -cluster-persistent] kernels and numba-cuda at 8192^3, SmolLM2-135M
#                             prefill/decode tok/s, graph decode on both CUDA GEMM backends); pytest-gpu.json,
#                             and figures.jsonl, each figure the moment it is measured (kept past a deadline)
#   5. run-quick.txt, run/    `python -m bench run --quick` on cupy, numba-cuda and the numpy baseline
#   6. mine-<backend>-<header>.json   `bench mine` over all 2**32 nonces of a real header; the step
#                             fails unless the block's real nonce is among the nonces found
#   7. static.txt             the checks that need no GPU but the CUDA compilers (SASS counts per nonce
#                             under their ceilings, PTX for sm_90 / sm_100, the generated code on the CPU)
# and summary.txt with every step's exit status. DEADLINE_S (seconds, default none) bounds the whole
# check: each step runs under `timeout` with what is left, and a step with under 20 s left is skipped.
# Exit status: 0 only if every step passed; 2 when no GPU backend can run here (every gpu test would be
# skipped, proving nothing).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python}
OUT=${OUT:-reports/gpu-check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
# Compiled kernels (Numba's cubins, CuPy's NVRTC cache) in one place under $OUT: empty at first, so the
# startup step sees a cold start, and warm for every step after it.
export SITEBENCH_CACHE_DIR="$OUT/kernel-cache" CUPY_CACHE_DIR="$OUT/kernel-cache/cupy"
# An own GEMM kernel that fails its self-check leaves its layout probe here (kernels/gemm/layout_probe.py:
# where it read each element of A and B, summary .txt and maps .npz), shown in own-gemm.txt.
export SITEBENCH_PROBE_DIR="$OUT/layout-probe"
# Every benchmark figure as it is measured (tests/benchmarks/figures.py): kept if a step meets the deadline.
export SITEBENCH_FIGURES_LOG="$OUT/figures.jsonl"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
failed=0

DEADLINE_S=${DEADLINE_S:-0}
step() {  # step NAME LOGFILE COMMAND...: run (under the deadline), tee the output to LOGFILE, record the exit status
    local name=$1 log=$2 limit=()
    shift 2
    if [ "$DEADLINE_S" -gt 0 ]; then
        local left=$((DEADLINE_S - SECONDS))
        if [ "$left" -lt 20 ]; then
            echo "== $name: skipped, ${left}s left of DEADLINE_S=$DEADLINE_S" | tee -a "$SUMMARY"
            failed=1
            return
        fi
        limit=(timeout -k 10 "$left")
    fi
    echo "== $name: $*" | tee -a "$SUMMARY"
    local t0=$SECONDS
    if [ ${#limit[@]} -gt 0 ] && declare -F "$1" >/dev/null; then  # timeout runs programs, not functions
        set -- bash -c '"$@"' "$1" "$@"
    fi
    "${limit[@]}" "$@" 2>&1 | tee "$OUT/$log"
    local rc=${PIPESTATUS[0]}
    echo "   exit $rc in $((SECONDS - t0)) s$([ "$rc" -eq 124 ] && echo ' (deadline)')" | tee -a "$SUMMARY"
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
    from kernels.gemm import cupy_cuda
    print("WMMA NVRTC options:", " ".join(cupy_cuda._wmma_module_options()))
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
startup() {  # cold, then warm: a small `bench mine` twice per ready CUDA backend, each in a new process
    "$PY" - "$OUT" "$GENESIS" 2083236893 <<'EOF'
import json, os, subprocess, sys, time
out, header, nonce = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = json.load(open(os.path.join(out, "backends.json")))["backends"]
ready = [r["backend"] for r in rows if r["workload"] == "sha256d" and r["backend"] in ("numba-cuda", "cupy")
         and r["available"] and any(d["kind"] == "gpu" for d in r["devices"])]
ready = os.environ.get("STARTUP_BACKENDS", " ".join(ready)).split()
cache = os.environ["SITEBENCH_CACHE_DIR"]
cold = not os.path.exists(cache) or not any(files for _, _, files in os.walk(cache))
print(f"kernel cache {cache}: {'empty (cold start)' if cold else 'NOT empty: the first run is not cold'}")
results, failed = {}, False
for backend in ready:
    for run in ("cold", "warm"):
        path = os.path.join(out, f"startup-{backend}-{run}.json")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "bench", "mine", "--backend", backend, "--header", header,
                               "--start", str(nonce - (1 << 24)), "--count", str(1 << 25), "--json", path],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        found = proc.returncode == 0 and nonce in [f["nonce"] for f in json.load(open(path))["found"]]
        failed |= not found
        results[f"{backend} {run}"] = {"seconds": round(seconds, 2), "exit": proc.returncode, "nonce_found": found}
        print(f"{backend:10s} {run}: {seconds:6.2f} s (exit {proc.returncode}, nonce {'found' if found else 'MISSING'})"
              + (f"\n{proc.stderr.strip()[-500:]}" if proc.returncode else ""))
json.dump(results, open(os.path.join(out, "startup.json"), "w"), indent=1)
sys.exit(1 if failed else 0)
EOF
}
export -f startup
export PY OUT GENESIS
step startup startup.txt startup
own_gemm() {  # each Hopper GEMM kernel's trial (a child process each; the outcomes are kept for the later
    # steps), the own kernel per dtype, and the layout probe of any that failed; exit 1 if any failed
    "$PY" - <<'EOF'
import os, sys
from kernels.gemm import cupy_cuda
ok, why = cupy_cuda.available()
if not ok:
    print(f"cupy cannot run here, so there is no own GEMM kernel to try: {why}")
    sys.exit(0)
failed = False
for dtype in cupy_cuda.dtypes(0, "own"):
    for kernel in cupy_cuda.HOPPER_KERNELS:
        if dtype in cupy_cuda.dtypes(0, kernel):
            problem = cupy_cuda.trial_problem(0, dtype, kernel)
            failed |= problem is not None
            print(f"{kernel} {dtype}: {'passed its trial' if problem is None else problem}")
            tile = cupy_cuda.WMMA_TILES[kernel]
            if problem is None and tile.persistent:
                said = (f" (the driver's count of resident clusters of {tile.cluster_m}: "
                        f"{cupy_cuda.resident_clusters(0, dtype, kernel)})" if tile.cluster_m > 1 else "")
                print(f"  launches {cupy_cuda.resident_blocks(0, dtype, kernel)} blocks on "
                      f"{cupy_cuda.multiprocessors(0)} SMs{said}")
    print(f"own GEMM kernel {dtype}:", cupy_cuda.own_kernel_text(0, dtype))
probes = os.environ["SITEBENCH_PROBE_DIR"]
for found in sorted(os.listdir(probes)) if os.path.isdir(probes) else []:
    if found.endswith(".txt"):
        print(f"{found[:-4]}: {open(os.path.join(probes, found)).read().strip()}")
sys.exit(1 if failed else 0)
EOF
}
export -f own_gemm
step own-gemm own-gemm.txt own_gemm
step pytest-gpu pytest-gpu.txt "$PY" -m pytest -m gpu --benchmark-enable -ra -v -p no:cacheprovider \
    --benchmark-json "$OUT/pytest-gpu.json"
step run-quick run-quick.txt "$PY" -m bench run --quick --backend cupy --backend numba-cuda --backend numpy \
    --out "$OUT/run"
mine() {  # mine BACKEND NAME HEADER NONCE: scan all 2**32 nonces; the real nonce must be among those found
    "$PY" -m bench mine --backend "$1" --header "$3" --json "$OUT/mine-$1-$2.json" || return $?
    "$PY" -c 'import json, sys; found = [f["nonce"] for f in json.load(open(sys.argv[1]))["found"]]
print("found", found); sys.exit(0 if int(sys.argv[2]) in found else 1)' "$OUT/mine-$1-$2.json" "$4"
}
export -f mine
export PY OUT
step "mine cupy genesis" mine-cupy-genesis.log mine cupy genesis "$GENESIS" 2083236893
step "mine cupy 125552" mine-cupy-125552.log mine cupy 125552 "$BLOCK_125552" 2504433986
step "mine numba-cuda 125552" mine-numba-cuda-125552.log mine numba-cuda 125552 "$BLOCK_125552" 2504433986
step "mine numba-cuda genesis" mine-numba-cuda-genesis.log mine numba-cuda genesis "$GENESIS" 2083236893

step static static.txt "$PY" -m pytest -ra -p no:cacheprovider tests/test_sha256_sass.py tests/test_sha256_rounds.py \
    tests/test_sha256_cuda.py tests/test_kernel_cache.py

echo "results in $OUT" | tee -a "$SUMMARY"
exit "$failed"

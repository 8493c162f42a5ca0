"""A careful tester's corpus for issue 18: bad paths, pipes, signals, concurrent runs, hostile run files and
profile names, unchecked inputs and misleading messages, each run as a user would (a subprocess).

    python scripts/robustness_corpus.py            # every case; prints one line per case and the counts
    python scripts/robustness_corpus.py -k pipe    # only the cases whose name contains 'pipe'

A case is clean when the exit code is the one the contract asks for, no traceback is printed, exit 2 comes
with exactly one stderr line, and no finished result is lost (a run.json / --json file that should exist does,
and parses). The verdicts: clean, traceback, wrong-exit, lost-result (a case can be more than one; the counts
are per kind). Takes a few minutes on two cores (about fifteen tiny real runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = ["run", "--workload", "sha256d", "--backend", "numba-cpu", "--quick", "--budget", "0.02"]
HEADER = ("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e"
          "67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c")
UNWRITABLE = "/proc/sitebench-no/x"  # even root cannot make folders under /proc


@dataclass
class Case:
    name: str
    args: list[str]
    codes: set[int]  # the exit codes the contract allows here
    env: dict = field(default_factory=dict)
    shell: str | None = None  # a pipeline instead of args: {bench} is replaced by the command
    saved: list[str] = field(default_factory=list)  # files that must exist and parse as JSON afterwards
    # (unless the case was refused before any work: exit 2 with its one line)
    signals: list[tuple[float, int]] = field(default_factory=list)  # (seconds after start, signal)
    signal_after: str | None = None  # count the signals' seconds from the first stderr line starting with this
    one_line: bool = True  # exit 2 must come with one stderr line
    expect_text: str | None = None  # stderr must contain this (a misleading message fixed)
    reject_text: str | None = None  # stderr must NOT contain this


def bench_cmd() -> list[str]:
    return [sys.executable, "-m", "bench"]


def run_case(case: Case, work: Path) -> tuple[list[str], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "120", **case.env}
    env = {k: v.format(work=work) for k, v in env.items()}
    args = [a.format(work=work) for a in case.args]
    if case.shell:
        cmd = case.shell.format(bench=" ".join(bench_cmd()), work=work, args=" ".join(args))
        proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", cmd], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    else:
        proc = subprocess.Popen([*bench_cmd(), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    early = ""
    if case.signal_after:  # e.g. the reference's result line: measuring has begun
        for line in proc.stderr:
            early += line
            if line.startswith(case.signal_after):
                break
    start = time.monotonic()
    for at, sig in case.signals:
        time.sleep(max(0.0, at - (time.monotonic() - start)))
        if proc.poll() is None:
            proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    err = early + err
    code = proc.returncode
    if case.shell:  # bash -o pipefail reports the first failing stage; the bench stage's own code is in $?
        code = int(err.strip().splitlines()[-1].split("=")[1]) if "BENCH_RC=" in err else code
        err = "\n".join(line for line in err.splitlines() if not line.startswith("BENCH_RC="))
    verdicts = []
    if "Traceback" in err or "Exception ignored" in err:
        verdicts.append("traceback")
    if code not in case.codes:
        verdicts.append("wrong-exit")
    lines = [x for x in err.splitlines() if x.strip()]
    if code == 2 and case.one_line and len(lines) != 1 and "traceback" not in verdicts:
        verdicts.append("wrong-exit")  # exit 2 without its one line is not the contract either
    if case.expect_text and case.expect_text.lower() not in err.lower():
        verdicts.append("misleading")
    if case.reject_text and case.reject_text.lower() in err.lower():
        verdicts.append("misleading")
    refused_up_front = code == 2 and len(lines) == 1  # nothing was measured, so nothing could be lost
    for pattern in [] if refused_up_front else case.saved:
        path = Path(pattern.format(work=work))
        found = sorted(path.parent.glob(path.name)) if "*" in path.name else [path]
        try:
            assert found and all(json.loads(p.read_text()) is not None for p in found)
        except (OSError, ValueError, AssertionError):
            verdicts.append("lost-result")
    return verdicts or ["clean"], f"exit {code}; {lines[-1][:110] if lines else ''}"


def write(path: Path, obj) -> str:
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def run_files(work: Path) -> list[Case]:
    """Hostile run files for `report` and `compare` (each must be exit 2 and one line, or render)."""
    good = json.loads((ROOT / "tests/fixtures/runs/baseline.json").read_text())
    files = {}

    def variant(name, change):
        doc = json.loads(json.dumps(good))
        change(doc)
        files[name] = write(work / f"{name}.json", doc)

    variant("value-str", lambda d: d["results"][0].__setitem__("value", "fast"))
    variant("params-list", lambda d: d["results"][0].__setitem__("params", [1, 2]))
    variant("cpu-str", lambda d: d["run"].__setitem__("cpu", "a string"))
    variant("samples-str", lambda d: d["results"][0].__setitem__("samples", "1,2,3"))
    variant("stats-list", lambda d: d["results"][0].__setitem__("stats", [1]))
    variant("verified-str", lambda d: d["results"][0].__setitem__("verified", "yes"))
    variant("energy-str", lambda d: d["results"][0].__setitem__("energy", "lots"))
    variant("economics-list", lambda d: d.__setitem__("economics", [1, 2]))
    variant("result-null", lambda d: d["results"].__setitem__(0, None))
    variant("options-str", lambda d: d["run"].__setitem__("options", "quick"))
    variant("extra-str", lambda d: d["results"][0].__setitem__("extra", "x"))
    files["nan"] = write(work / "nan.json", json.dumps(good).replace('"value": ' + json.dumps(good["results"][0]["value"]),
                                                                   '"value": NaN', 1))
    files["deep"] = write(work / "deep.json", "[" * 100000 + "]" * 100000)
    files["deep-run"] = write(work / "deep-run.json", json.dumps({**good, "run": {**good["run"], "x": 1}})
                              .replace('"x": 1', '"x": ' + "[" * 50000 + "]" * 50000))
    files["top-list"] = write(work / "top-list.json", [1])
    files["binary"] = write(work / "binary.json", "\x00\xff garbage")
    files["empty"] = write(work / "empty.json", "")
    base = str(ROOT / "tests/fixtures/runs/baseline.json")
    cases = []
    for name, path in files.items():
        cases.append(Case(f"report {name}", ["report", path], {0, 2}))
        cases.append(Case(f"report {name} --out", ["report", path, "--out", "{work}/rep-" + name], {0, 2}))
        cases.append(Case(f"compare {name}", ["compare", base, path], {0, 1, 2}))
    return cases


def profile_dir(work: Path, name: str) -> str:
    folder = work / name / "asic"
    folder.mkdir(parents=True, exist_ok=True)
    label = {"markup-close": "Evil [/bold] miner", "markup-tag": "Hydro [hydro] unit"}[name]
    (folder / "evil.toml").write_text(f'id = "evil"\nkind = "asic"\nname = "{label}"\nvendor = "X"\n'
                                      'hashrate_ths = 100\npower_w = 3000\nefficiency_jth = 30\ncooling = "air"\n'
                                      'sources = ["estimate: test"]\n')
    return str(work / name)


def cases(work: Path) -> list[Case]:
    (work / "afile").write_text("x")
    (work / "afolder").mkdir(exist_ok=True)
    (work / "existing").mkdir(exist_ok=True)
    shutil.copy(ROOT / "tests/fixtures/runs/baseline.json", work / "existing" / "run.json")
    loop = work / "loop"
    loop.mkdir(exist_ok=True)
    if not (loop / "asic").exists():
        os.symlink(loop / "asic", loop / "asic")  # a symlink to itself
    markup = profile_dir(work, "markup-close")
    tag = profile_dir(work, "markup-tag")
    base = str(ROOT / "tests/fixtures/runs/baseline.json")
    mine = ["mine", "--header", HEADER, "--count", "100000"]
    rc = '; echo "BENCH_RC=${{PIPESTATUS[0]}}" >&2'
    out = [
        # destinations
        Case("run --json names a folder", [*TINY, "--json", "{work}/afolder", "--out", "{work}/r-jf"], {2}),
        Case("run --out names a file", [*TINY, "--out", "{work}/afile"], {2}),
        Case("run --json unwritable", [*TINY, "--json", UNWRITABLE, "--out", "{work}/r-ju"], {2}),
        Case("run --out unwritable", [*TINY, "--out", UNWRITABLE], {2}),
        Case("run --json on a full disk", [*TINY, "--json", "{work}/full/run.json", "--out", "{work}/r-full"], {2},
             saved=["{work}/r-full/run.json"]),
        Case("run --out on a full disk", [*TINY, "--out", "{work}/full/r"], {2}),
        Case("run --json - to a full stdout", [*TINY, "--out", "{work}/r-fullout", "--json", "-"], {0, 2},
             shell="{bench} {args} > /dev/full" + rc, saved=["{work}/r-fullout/run.json"], one_line=False),
        Case("mine --json names a folder", [*mine, "--json", "{work}/afolder"], {2}),
        Case("mine --json unwritable", [*mine, "--json", UNWRITABLE], {2}),
        Case("report --out names a file", ["report", base, "--out", "{work}/afile"], {2}),
        Case("report --out unwritable", ["report", base, "--out", UNWRITABLE], {2}),
        Case("compare --json names a folder", ["compare", base, base, "--json", "{work}/afolder"], {2}),
        Case("compare --json unwritable", ["compare", base, base, "--json", UNWRITABLE], {2}),
        Case("economics --json names a folder", ["economics", "--json", "{work}/afolder"], {2}),
        Case("economics --json unwritable", ["economics", "--json", UNWRITABLE], {2}),
        Case("profiles --json names a folder", ["profiles", "--json", "{work}/afolder"], {2}),
        Case("backends --json unwritable", ["backends", "--json", UNWRITABLE], {2}),
        # pipes
        Case("run --json - | head -c 100", [*TINY, "--out", "{work}/r-pipe", "--json", "-"], {0},
             shell="{bench} {args} | head -c 100 >/dev/null" + rc, saved=["{work}/r-pipe/run.json"]),
        Case("run | head -1", [*TINY, "--out", "{work}/r-pipe2"], {0},
             shell="{bench} {args} | head -1 >/dev/null" + rc, saved=["{work}/r-pipe2/run.json"]),
        Case("economics | head -1", ["economics"], {0}, shell="{bench} {args} | head -1 >/dev/null" + rc),
        Case("profiles | head -1", ["profiles"], {0}, shell="{bench} {args} | head -1 >/dev/null" + rc),
        Case("economics --json - | head -c 10", ["economics", "--json", "-"], {0},
             shell="{bench} {args} | head -c 10 >/dev/null" + rc),
        Case("compare | head -1", ["compare", base, base], {0}, shell="{bench} {args} | head -1 >/dev/null" + rc),
        Case("report | head -1", ["report", base], {0}, shell="{bench} {args} | head -1 >/dev/null" + rc),
        Case("mine --json - | head -c 5", [*mine, "--json", "-"], {0},
             shell="{bench} {args} | head -c 5 >/dev/null" + rc),
        # concurrency
        Case("second run into an existing --out", [*TINY, "--out", "{work}/existing"], {2}),
        Case("two runs at once without --out", [*TINY], {0},
             shell="cd {work}/afolder && ({bench} {args} >/dev/null 2>&1 & {bench} {args} >/dev/null 2>&1; wait);"
                   " n=$(ls reports | wc -l); echo BENCH_RC=$((n == 2 ? 0 : 1)) >&2"),
        # signals
        Case("run SIGTERM", [*TINY, "--out", "{work}/r-term"], {143}, signals=[(0.1, signal.SIGTERM)],
             signal_after="sha256d hashlib", saved=["{work}/r-term/run.json"], one_line=False),
        Case("run SIGHUP", [*TINY, "--out", "{work}/r-hup"], {129}, signals=[(0.1, signal.SIGHUP)],
             signal_after="sha256d hashlib", saved=["{work}/r-hup/run.json"], one_line=False),
        Case("run SIGINT burst", [*TINY, "--out", "{work}/r-int"], {130},
             signals=[(0.1 + 0.01 * i, signal.SIGINT) for i in range(8)], signal_after="sha256d hashlib",
             saved=["{work}/r-int/run.json"], one_line=False),
        Case("mine SIGINT saves the partial scan", ["mine", "--header", HEADER, "--json", "{work}/mine-int.json"],
             {130}, signals=[(3.0, signal.SIGINT)], saved=["{work}/mine-int.json"], one_line=False),
        Case("mine SIGTERM saves the partial scan", ["mine", "--header", HEADER, "--json", "{work}/mine-term.json"],
             {143}, signals=[(3.0, signal.SIGTERM)], saved=["{work}/mine-term.json"], one_line=False),
        # markup in user strings
        Case("profiles with [/bold] in a name", ["profiles"], {0}, env={"SITEBENCH_PROFILES": markup}),
        Case("economics --asic with [/bold] in its name", ["economics", "--asic", "evil"], {0},
             env={"SITEBENCH_PROFILES": markup}),
        Case("profiles with [hydro] shows it", ["profiles"], {0}, env={"SITEBENCH_PROFILES": tag},
             shell="{bench} {args} | grep -q 'Hydro \\[hydro\\]'" + rc.replace("PIPESTATUS[0]", "PIPESTATUS[1]")),
        # unchecked inputs
        Case("mine --target negative", [*mine, "--target", "-1"], {2}),
        Case("mine --target too long", [*mine, "--target", "f" * 65], {2}),
        Case("mine --count negative", ["mine", "--header", HEADER, "--count", "-5"], {2}),
        Case("run --shape too large for memory", ["run", "--workload", "gemm", "--backend", "numpy", "--quick",
                                                  "--shape", "100000x100000x100000", "--out", "{work}/r-shape"], {2}),
        Case("run --shape zero", ["run", "--workload", "gemm", "--backend", "numpy", "--quick",
                                  "--shape", "0x4x4", "--out", "{work}/r-shape0"], {2}),
        Case("run --prompt huge", ["run", "--workload", "inference", "--quick", "--prompt", "100000000",
                                   "--out", "{work}/r-prompt"], {2}),
        Case("run --batch huge", ["run", "--workload", "inference", "--quick", "--batch", "100000000",
                                  "--out", "{work}/r-batch"], {2}),
        Case("run --batch negative", ["run", "--workload", "inference", "--quick", "--batch", "-1"], {2}),
        Case("run --budget nan", [*TINY, "--budget", "nan"], {2}),
        Case("run --budget inf", [*TINY, "--budget", "inf"], {2}),
        Case("symlink loop under SITEBENCH_PROFILES", ["profiles"], {0, 2}, env={"SITEBENCH_PROFILES": str(loop)}),
        Case("PYTHONIOENCODING=ascii profiles", ["profiles"], {0}, env={"PYTHONIOENCODING": "ascii"}),
        Case("PYTHONIOENCODING=ascii economics", ["economics"], {0}, env={"PYTHONIOENCODING": "ascii"}),
        Case("PYTHONIOENCODING=ascii backends", ["backends"], {0}, env={"PYTHONIOENCODING": "ascii"}),
        # read-only install
        Case("read-only Numba cache: backends", ["backends"], {0}, env={"NUMBA_CACHE_DIR": UNWRITABLE}),
        Case("read-only Numba cache: mine", [*mine], {0}, env={"NUMBA_CACHE_DIR": UNWRITABLE}),
        # misleading messages
        Case("header with a space", ["mine", "--header", HEADER[:80] + " " + HEADER[80:], "--count", "10"], {0, 2},
             reject_text="161"),
        Case("--start 010", ["mine", "--header", HEADER, "--start", "010", "--count", "10"], {0},
             reject_text="not a whole number"),
        Case("--start 2**32 without --count", ["mine", "--header", HEADER, "--start", str(2**32)], {2},
             expect_text="--start", reject_text="--count"),
    ]
    return out + run_files(work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only cases whose name contains this text")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sitebench-corpus-"))
    counts: dict[str, int] = {}
    (work / "full").mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(work / "full")],
                             capture_output=True).returncode == 0  # a full disk (needs root; else skipped)
    chosen = [c for c in cases(work) if args.k in c.name and (mounted or "full disk" not in c.name)]
    try:
        for case in chosen:
            verdicts, detail = run_case(case, work)
            for v in verdicts:
                counts[v] = counts.get(v, 0) + 1
            print(f"{'/'.join(verdicts):24} {case.name:50} {detail}", flush=True)
    finally:
        if mounted:
            subprocess.run(["umount", str(work / "full")], check=False)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(chosen)} cases: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())

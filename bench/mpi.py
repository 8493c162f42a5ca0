"""`bench run` as one rank of an MPI job: each rank drives one device, rank 0 writes the one report.

Started by mpirun/mpiexec/srun (detected from the environment: bench/mpi_env.py) or with `--mpi`.
The phases are the same on every rank, and each ends in an exchange with rank 0 under a deadline
(bench/mpi_team.py):

start    bind to a device and a share of the cores (bench/mpi_bind.py), plan this rank's cases;
         rank 0 checks that every rank could, and that all scan SHA-256d with the same backends
cases    the per-rank cases (references, GEMM, inference) one at a time, every rank starting each
         one together; each result goes to rank 0 as soon as it is measured
sha256d  per backend: warm-up and a check against reference.scan on every rank, then one
         barrier-synchronised window over one header's nonce space split across the ranks
         (bench/mpi_scan.py); rank 0 re-verifies every hit with hashlib and times its own aggregation
finish   rank 0 adds the totals (bench/mpi_results.py), prices the verified results and writes the
         report; every rank exits with rank 0's code

A rank that raises is an error row of the report (exit 1 once the report is saved). A rank that misses
a deadline is named, with its device, by rank 0, which saves the report and aborts the job (exit 1).
Only rank 0 prints.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from rich.markup import escape

from bench import backends, console, metadata, mpi_bind, mpi_env, mpi_fault, mpi_results, mpi_scan
from bench import run as runner
from bench.errors import UsageError, VerificationError
from bench.files import emit_json
from bench.mpi_team import Team
from bench.report_data import describe_params
from bench.results import Result, run_document
from bench.run_plan import optional_module, plan, select, workload_module
from bench.timing import summarize

DEFAULT_TIMEOUT_S = 600.0  # per phase (one case, one warm-up, the finish); a window gets its length on top
WINDOW_S = (10.0, 1.0)  # SHA-256d window (full, --quick) unless --budget says otherwise


def wanted(options) -> bool:
    """Run as MPI ranks: asked for with --mpi, or started by a launcher with more than one rank."""
    return bool(getattr(options, "mpi", False)) or mpi_env.launched(os.environ)


def run(options, *, load=workload_module, choose=select) -> int:
    """This rank's part of the job; rank 0 returns the exit code or raises like bench.run.run."""
    timeout = getattr(options, "mpi_timeout_s", None)
    if timeout is not None and not timeout > 0:
        raise UsageError(f"--mpi-timeout must be a positive number of seconds, got {timeout}")
    MPI = mpi_env.import_mpi()  # noqa: N806 - mpi4py's name
    mpi_env.check_world(MPI.COMM_WORLD.Get_size())
    return Job(options, MPI, load, choose).main()


class Job:
    def __init__(self, options, MPI, load, choose):  # noqa: N803
        self.options, self.MPI, self.load, self.choose = options, MPI, load, choose
        self.world = MPI.COMM_WORLD
        self.team = Team(self.world, MPI.Wtime)
        self.node = self.world.Split_type(MPI.COMM_TYPE_SHARED)
        self.host = MPI.Get_processor_name()
        self.timeout_s = float(getattr(options, "mpi_timeout_s", None) or DEFAULT_TIMEOUT_S)
        self.window_s = options.budget_s or WINDOW_S[options.quick]
        self.rank, self.size = self.team.rank, self.team.size
        self.fault = None
        self.binding = None
        self.cases, self.windows = [], []
        self.mine: dict[str, Result] = {}  # this rank's results by case key, for ratios to its references
        # rank 0 only
        self.msg = console.err()
        self.started = time.perf_counter()
        self.meta: dict = {}
        self.ranks: dict[int, dict] = {}  # each rank's start status: binding, devices
        self.rows: list[Result] = []
        self.errors: list[dict] = []
        self.scans: list[dict] = []
        self.plan_notes: dict = {"missing": [], "skipped": []}
        self.doing = ("start", "")  # (workload, backend) of the phase, for naming a rank that misses it

    # --- the phases, the same on every rank ------------------------------------------------------

    def main(self) -> int:
        try:
            verdict = self.start()
            if "exit" in verdict:
                return self.stop(verdict)
            for i in range(verdict["cases"]):
                self.case(i, verdict["cases"])
            for case in self.windows:
                self.sha256d(case)
            return self.finish()
        except KeyboardInterrupt:
            if self.team.leader and self.meta:
                self.meta["interrupted_at"] = f"phase '{self.team.phase}'"
                self.save(complete=False)
            raise

    def start(self) -> dict:
        self.team.begin("start", self.timeout_s)
        status = self.attempt_start(self.whole_host)
        self.binding = mpi_bind.bind(self.world, self.node, self.host)  # collective: every rank gets here
        status["binding"] = self.binding.to_dict()
        if not status.get("error") and not status.get("usage_error"):
            status.update(self.attempt_start(self.plan_cases))
        got = self.team.gather(status)
        return self.team.decide(self.plan_verdict(got) if self.team.leader else None)

    def attempt_start(self, work) -> dict:
        try:
            return work() or {}
        except UsageError as exc:
            return {"usage_error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - reported by rank 0 with this rank's name
            return {"error": f"{type(exc).__name__}: {exc}"}

    def whole_host(self) -> None:
        """What must see the whole host, before binding narrows this rank's view: the run metadata
        (cores, BLAS threads) and the host CPU profile, whose power estimate ranks then share."""
        self.fault = mpi_fault.from_env()
        profiles = optional_module("bench.profiles")
        if profiles is not None:
            profiles.profiles()
        if self.team.leader:
            self.meta = self.metadata()
            site_check = runner.check_site_inputs(self.options)
            if site_check:
                self.meta["site_inputs"] = site_check

    def plan_cases(self) -> dict:
        """This rank's cases: the per-rank ones, and the SHA-256d scans that run as one window."""
        the_plan = plan(self.options, self.load, self.pick)
        self.cases = [c for c in the_plan.cases if c.workload != "sha256d" or c.is_reference]
        self.windows = [c for c in the_plan.cases if c.workload == "sha256d" and not c.is_reference]
        self.plan_notes = {"missing": the_plan.missing, "skipped": the_plan.skipped}
        return {"cases": len(self.cases), "windows": [c.backend for c in self.windows],
                "devices": sorted({f"{c.backend}:{c.device.index} ({c.device.name})"
                                   for c in the_plan.cases if not c.is_reference})}

    def pick(self, workload: str, specs, skipped: list) -> list:
        """This rank's backends/devices for a workload: its GPU by local rank, the CPU it shares."""
        chosen = self.choose(workload, specs, skipped)
        return mpi_bind.pick(chosen, self.binding.local_rank, explicit=self.options.backends is not None)

    def case(self, i: int, n: int) -> None:
        """Case i of every rank, started together; its result (or error) goes to rank 0."""
        self.team.begin(f"case {i + 1} of {n}", self.timeout_s)
        if i < len(self.cases):
            self.doing = (self.cases[i].workload, self.cases[i].backend)
        status = self.run_case(self.cases[i]) if i < len(self.cases) else {}
        got = self.team.gather(status)
        if self.team.leader:
            self.show(self.collect(got))
            self.check_present(got)
        self.team.decide("go")

    def run_case(self, case) -> dict:
        if self.fault is not None:
            case = replace(case, prepare=self.faulty(case.prepare))
        outcome = runner.execute([case], self.options.budget)
        if not outcome.results:
            return {"error": outcome.errors[0]}
        result = outcome.results[0]
        if case.reference in self.mine:
            runner.link_reference(result, self.mine[case.reference])
        self.mine[case.key] = result
        return {"result": result.to_dict(), "domain": mpi_bind.energy_domain(self.binding, case.device)}

    def faulty(self, prepare):
        def wrapped():
            self.fault.strike(self.rank, "cases")
            return prepare()

        return wrapped

    def sha256d(self, case) -> None:
        """Warm-up and check on every rank, then the one timed window; rank 0 verifies and sums."""
        self.doing = ("sha256d", case.backend)
        scan = backends.module("sha256d", case.backend).scan
        self.team.begin(f"sha256d {case.backend} warm-up", self.timeout_s)
        warm = self.attempt(case, lambda: mpi_scan.warm_up(scan, case.device.index, case.device.kind))
        got = self.team.gather(warm)
        layout = None
        if self.team.leader:
            self.check_present(got)
            rates = [s["rate_estimate"] for s in got.values.values() if "rate_estimate" in s]
            layout = mpi_scan.layout(rates or [1.0], self.window_s)
        layout = self.team.decide(layout)

        self.team.begin(f"sha256d {case.backend} window", self.window_s + self.timeout_s)
        self.team.barrier()
        t0 = self.MPI.Wtime()
        status = warm if "error" in warm else self.attempt(case, lambda: self.window(case, scan, layout, warm))
        got = self.team.gather(status)
        if self.team.leader:
            self.window_rows(got, layout, t0)
            self.check_present(got)
        self.team.decide("go")

    def window(self, case, scan, layout, warm: dict) -> dict:
        """This rank's window, metered: its Result (verified by rank 0) and what rank 0 checks it with."""
        meter = runner.meter_for(case)
        if meter is not None:
            meter.start()
        if self.fault is not None:
            self.fault.strike(self.rank, "sha256d")
        done = mpi_scan.scan_window(scan, case.device.index, layout, self.rank, self.MPI.Wtime)
        reading = meter.stop() if meter is not None else None
        rates = done.pop("unit_rates")
        result = Result(
            workload=case.workload, backend=case.backend, device=case.device.name,
            params={"window_s": layout.window_s}, metric=case.metric, value=done["hashes"] / done["seconds"],
            unit=case.unit, samples=rates, stats=summarize(rates).to_dict(), verified=False,
            verification="not checked by rank 0", energy=runner.energy_of(reading, case, done["hashes"]),
            device_index=case.device.index, compile_s=warm["first_call_s"],
            timing={"window_s": done["seconds"], "window_calls": done["units"], "stopped_by": "window"},
            extra={"hashes": done["hashes"], "unit_nonces": layout.unit,
                   "value_is": "hashes in the window / its seconds (MPI.Wtime); samples: per-unit rates"},
        )
        if case.reference in self.mine:
            runner.link_reference(result, self.mine[case.reference])
        return {"result": result.to_dict(), "done": done, "warm": warm,
                "domain": mpi_bind.energy_domain(self.binding, case.device)}

    def finish(self) -> int:
        """Rank 0 writes the report and sends its exit code to every rank, which exits with it."""
        self.team.begin("finish", self.timeout_s)
        if not self.team.leader:
            return self.team.decide()["exit"]
        code, failure, folder = 1, None, None
        try:
            folder = self.save(complete=True)
            failure = self.failures()
            code = 1 if failure else 0
        except UsageError:
            code = 2
            raise
        finally:
            self.team.decide({"exit": code})
        if failure:
            raise VerificationError(f"{failure} — results saved in {folder}")
        return 0

    def stop(self, verdict: dict) -> int:
        """The start failed on some rank: rank 0 says why (exit 2, or 1), the others just exit."""
        if not self.team.leader:
            return verdict["exit"]
        if verdict["exit"] == 2:
            raise UsageError(verdict["message"])
        raise VerificationError(verdict["message"])

    def attempt(self, case, work) -> dict:
        """`work()`, or an error status naming the case, which rank 0 reports with this rank's name."""
        try:
            return work()
        except Exception as exc:  # noqa: BLE001
            return {"error": {"workload": case.workload, "backend": case.backend, "device": case.device.name,
                              "error": f"{type(exc).__name__}: {exc}"}}

    # --- rank 0: checking, collecting, reporting -------------------------------------------------

    def plan_verdict(self, got) -> dict:
        self.ranks = got.values
        self.check_present(got)
        failed = {r: s.get("usage_error") or s.get("error") for r, s in got.values.items()
                  if "usage_error" in s or "error" in s}
        if failed:
            code = 2 if all("usage_error" in got.values[r] for r in failed) else 1
            by_message: dict[str, list[int]] = {}
            for r, m in sorted(failed.items()):
                by_message.setdefault(m, []).append(r)
            return {"exit": code, "message": "; ".join(f"{_ranks(rs)}: {m}" for m, rs in by_message.items())}
        windows = {r: s["windows"] for r, s in got.values.items()}
        if len({tuple(w) for w in windows.values()}) > 1:
            return {"exit": 2, "message": "the ranks would scan SHA-256d with different backends ("
                    + "; ".join(f"rank {r}: {', '.join(w) or 'none'}" for r, w in sorted(windows.items()))
                    + "); name them with --backend"}
        self.msg.print(escape(self.describe_ranks()), soft_wrap=True)
        return {"cases": max(s["cases"] for s in got.values.values())}

    def where(self, rank: int) -> str:
        status = self.ranks.get(rank) or {}
        host = (status.get("binding") or {}).get("host", "?")
        return f"rank {rank} on {host} ({', '.join(status.get('devices') or []) or 'no device yet'})"

    def describe_ranks(self) -> str:
        hosts = {s["binding"]["host"] for s in self.ranks.values()}
        lines = [f"mpi: {self.size} rank(s) on {len(hosts)} host(s), {_library(self.MPI)}"]
        for r, s in sorted(self.ranks.items()):
            b = s["binding"]
            lines.append(f"  rank {r} on {b['host']}: {', '.join(s['devices']) or 'no device'}; cores "
                         f"{_ranges(b['cores'])} ({b['threads']} thread(s), {b['how']})")
        return "\n".join(lines)

    def collect(self, got) -> list[Result]:
        """One measurement from every rank: the tagged per-rank rows, their total, any rank's error."""
        members, absent = [], [f"rank {r}" for r in got.missing]
        for r, s in sorted(got.values.items()):
            if "error" in s:
                self.errors.append({**s["error"], "device": self.where(r), "rank": r})
                absent.append(f"rank {r}")
            elif "result" in s:
                result = mpi_results.tag(Result.from_dict(s["result"]), r, self.size, self.ranks[r]["binding"])
                members.append((result, s["domain"]))
        mpi_results.share_energy(members)
        group = [m for m, _ in members]
        self.rows += group
        if group and self.size > 1:
            group_total = mpi_results.total(group, ranks=self.size, absent=absent)
            self.rows.append(group_total)
            group = [*group, group_total]
        return group

    def show(self, results: list[Result]) -> None:
        for result in results:
            self.msg.print(escape(_line(result)), soft_wrap=True)

    def window_rows(self, got, layout, t0: float) -> None:
        """Verify every rank's hits, add the rows and the total, and time this aggregation."""
        hits = []
        for r, s in got.values.items():
            if "result" in s:
                ok, what, found = mpi_scan.check_hits(layout, r, s["done"])
                warm = s["warm"]
                what += (f"; before the window {warm['check_nonces']} nonces with {warm['check_hits']} hits "
                         f"{'equal' if warm['check_ok'] else 'DIFFER from'} reference.scan")
                s["result"].update(verified=bool(ok and warm["check_ok"]), verification=what)
                s["result"]["extra"]["hits"] = found
                hits += found
        seconds = [s["done"]["seconds"] for s in got.values.values() if "done" in s]
        group = self.collect(got)
        # From the window's end (the longest rank's) to every rank's figures summed and their hits checked;
        # meaningless when rank 0 waited for a rank that never came.
        aggregation_s = None if got.missing else self.MPI.Wtime() - t0 - max(seconds, default=0.0)
        summary = {"backend": self.doing[1], "layout": layout.to_dict(), "hits": hits,
                   "aggregation_s": aggregation_s,
                   "aggregation_fraction": None if aggregation_s is None else aggregation_s / self.window_s,
                   "window_spread_s": max(seconds) - min(seconds) if seconds else None}
        self.scans.append(summary)
        if group and group[-1].extra.get("aggregate"):
            group[-1].extra.update({k: v for k, v in summary.items() if k != "backend"})
        self.show(group)
        if aggregation_s is not None:
            self.msg.print(f"sha256d: {len(hits)} hit(s) re-verified at rank 0; aggregation {aggregation_s * 1e3:.1f} "
                           f"ms ({aggregation_s / self.window_s:.3%} of the {self.window_s:g} s window)")

    def check_present(self, got) -> None:
        """Ranks that missed the phase's deadline: save the report with them named, then end the job."""
        if not got.missing:
            return
        phase = self.team.phase
        why = [f"{self.where(r)} did not finish phase '{phase}' within {self.team.timeout_s:.0f} s" for r in got.missing]
        for r, text in zip(got.missing, why):
            self.errors.append({"workload": self.doing[0], "backend": self.doing[1], "device": self.where(r),
                                "error": text, "rank": r})
        self.meta["interrupted_at"] = f"phase '{phase}'"
        try:
            saved = f"; report saved in {self.save(complete=False)}"
        except Exception as exc:  # noqa: BLE001 - the job must end even when the report cannot be written
            saved = f"; the report could not be written ({type(exc).__name__}: {exc})"
        self.team.abort(1, "; ".join(why) + saved)

    def failures(self) -> str | None:
        bad = [f"{r.workload} {r.backend} {r.device} ({r.verification})" for r in self.rows if not r.verified]
        bad += [f"{e['workload']} {e['backend']} on {e['device']} raised {e['error']}" for e in self.errors]
        return "; ".join(bad) or None

    def metadata(self) -> dict:
        stamp = metadata.utc_now()
        meta = metadata.collect(stamp)
        meta["folder"] = metadata.folder_name(stamp, meta["hostname"])
        return meta

    def document(self, *, complete: bool) -> dict:
        self.meta.update(options=self.options.to_dict(), missing_workloads=self.plan_notes["missing"],
                         skipped_backends=self.plan_notes["skipped"], errors=self.errors,
                         wall_s=time.perf_counter() - self.started)
        self.meta["mpi"] = {
            "ranks": self.size, "library": _library(self.MPI),
            "hosts": sorted({s["binding"]["host"] for s in self.ranks.values()}),
            "timeout_s": self.timeout_s, "window_s": self.window_s,
            "bindings": [{**s["binding"], "devices": s.get("devices", [])} for _, s in sorted(self.ranks.items())],
            "sha256d": self.scans,
        }
        if complete:
            return runner.priced(self.meta, self.rows, self.options)
        return run_document(self.meta, self.rows, complete=False)

    def save(self, *, complete: bool):
        """The report of what rank 0 holds: the terminal view and --json, then the files (fewer when
        incomplete: no plots, the job is about to end)."""
        from bench import report

        doc = self.document(complete=complete)
        folder = runner.out_dir(self.options, self.meta)
        quiet = self.options.json == "-"
        if not complete:
            return report.write_partial(doc, folder, json_path=None if quiet else self.options.json)
        if self.options.json:
            emit_json(doc, self.options.json)
        report.render(doc, console.out(quiet))
        report.write_all(doc, folder)
        self.msg.print(f"report written to {escape(str(folder))} ({self.meta['wall_s']:.1f} s)")
        return folder


def _ranks(ranks: list[int]) -> str:
    return f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {_ranges(ranks)}"


def _library(MPI) -> str:  # noqa: N803
    return MPI.Get_library_version().strip().splitlines()[0].strip()


def _ranges(cores: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    out, run_start = [], None
    for i, c in enumerate(cores):
        if run_start is None:
            run_start = c
        if i + 1 == len(cores) or cores[i + 1] != c + 1:
            out.append(str(c) if c == run_start else f"{run_start}-{c}")
            run_start = None
    return ",".join(out)


def _line(result: Result) -> str:
    mark = "verified" if result.verified else "NOT VERIFIED"
    size = describe_params(result.workload, {k: v for k, v in result.params.items() if k not in ("rank", "ranks")})
    return f"{result.workload} {result.backend} {size} · {result.device}: {console.si(result.value, result.unit)} · {mark}"

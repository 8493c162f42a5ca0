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
from dataclasses import replace

from bench import backends, profiles
from bench.errors import UsageError, VerificationError
from bench.mpi import bind as mpi_bind
from bench.mpi import env as mpi_env
from bench.mpi import fault as mpi_fault
from bench.mpi import scan as mpi_scan
from bench.mpi.book import Book
from bench.mpi.team import Team
from bench.results import Result
from bench.runner import measure
from bench.runner.planner import plan, select, workload_module
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
    """One rank's run. Every rank runs the same phases; rank 0 also keeps the book (bench/mpi/book.py)."""

    def __init__(self, options, MPI, load, choose):  # noqa: N803
        self.options, self.MPI, self.load, self.choose = options, MPI, load, choose
        self.world = MPI.COMM_WORLD
        self.team = Team(self.world, MPI.Wtime)
        self.node = self.world.Split_type(MPI.COMM_TYPE_SHARED)
        self.host = MPI.Get_processor_name()
        self.rank = self.team.rank
        self.timeout_s = float(getattr(options, "mpi_timeout_s", None) or DEFAULT_TIMEOUT_S)
        self.window_s = options.budget_s or WINDOW_S[options.quick]
        self.fault = None
        self.binding = None
        self.cases, self.windows = [], []
        self.plan_notes: dict = {"missing": [], "skipped": []}  # workloads not landed, backends not run
        self.mine: dict[str, Result] = {}  # this rank's results by case key, for ratios to its references
        self.doing = ("start", "")  # (workload, backend) of the phase, to name what a late rank was doing
        library = MPI.Get_library_version().strip().splitlines()[0].strip()
        self.book = Book(options, size=self.team.size, library=library, timeout_s=self.timeout_s,
                         window_s=self.window_s) if self.team.leader else None

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
            if self.book is not None and self.book.meta:
                self.book.meta["interrupted_at"] = f"phase '{self.team.phase}'"
                self.book.save(complete=False)
            raise

    # --- the phases ------------------------------------------------------------------------------

    def start(self) -> dict:
        """Bind this rank and plan its cases; rank 0 checks every rank's start and says go or stop."""
        self.team.begin("start", self.timeout_s)
        status = _attempt(self.whole_host)
        self.binding = mpi_bind.bind(self.world, self.node, self.host)  # collective: every rank gets here
        status["binding"] = self.binding.to_dict()
        if "error" not in status and "usage_error" not in status:
            status.update(_attempt(self.plan_cases))
        got = self.team.gather(status)
        verdict = None
        if self.book is not None:
            self.book.ranks, self.book.plan_notes = got.values, self.plan_notes
            self.check_present(got)
            verdict = self.book.start_verdict(got.values)
        return self.team.decide(verdict)

    def whole_host(self) -> None:
        """What must see the whole host, before binding narrows this rank's view: the run metadata
        (cores, BLAS threads) and the host CPU profile, whose power estimate ranks then share."""
        self.fault = mpi_fault.from_env()
        profiles.profiles()
        if self.book is not None:
            self.book.open()

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
        if self.book is not None:
            self.book.show(self.book.collect(got))
            self.check_present(got)
        self.team.decide("go")

    def run_case(self, case) -> dict:
        if self.fault is not None:
            case = replace(case, prepare=self.faulty(case.prepare))
        outcome = measure.execute([case], self.options.budget)
        if not outcome.results:
            return {"error": outcome.errors[0]}
        result = outcome.results[0]
        if case.reference in self.mine:
            measure.link_reference(result, self.mine[case.reference])
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
        warm = _attempt(lambda: mpi_scan.warm_up(scan, case.device.index, case.device.kind), case)
        got = self.team.gather(warm)
        layout = None
        if self.book is not None:
            self.check_present(got)
            rates = [s["rate_estimate"] for s in got.values.values() if "rate_estimate" in s]
            layout = mpi_scan.layout(rates or [1.0], self.window_s)
        layout = self.team.decide(layout)

        self.team.begin(f"sha256d {case.backend} window", self.window_s + self.timeout_s)
        self.team.barrier()
        status = warm if "error" in warm else _attempt(lambda: self.window(case, scan, layout, warm), case)
        got = self.team.gather(status)
        gathered = self.MPI.Wtime()
        if self.book is not None:
            self.book.window(got, layout, backend=case.backend, elapsed=lambda: self.MPI.Wtime() - gathered)
            self.check_present(got)
        self.team.decide("go")

    def window(self, case, scan, layout, warm: dict) -> dict:
        """This rank's window, metered: its Result (verified by rank 0) and what rank 0 checks it with."""
        meter = measure.meter_for(case)
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
            verification="not checked by rank 0", energy=measure.energy_of(reading, case, done["hashes"]),
            device_index=case.device.index, device_kind=case.device.kind, compile_s=warm["first_call_s"],
            timing={"window_s": done["seconds"], "window_calls": done["units"], "stopped_by": "window"},
            extra={"hashes": done["hashes"], "unit_nonces": layout.unit, "cpu_s": done["cpu_s"],
                   "cpu_share": done["cpu_s"] / done["seconds"] / self.binding.threads,
                   "value_is": "hashes in the window / its seconds (MPI.Wtime); samples: per-unit rates"},
        )
        if case.reference in self.mine:
            measure.link_reference(result, self.mine[case.reference])
        return {"result": result.to_dict(), "done": done, "warm": warm,
                "domain": mpi_bind.energy_domain(self.binding, case.device)}

    def finish(self) -> int:
        """Rank 0 writes the report and sends its exit code to every rank, which exits with it."""
        self.team.begin("finish", self.timeout_s)
        if self.book is None:
            return self.team.decide()["exit"]
        code, failure, folder = 1, None, None
        try:
            folder = self.book.save(complete=True)
            failure = self.book.failures()
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
        if self.book is None:
            return verdict["exit"]
        if verdict["exit"] == 2:
            raise UsageError(verdict["message"])
        raise VerificationError(verdict["message"])

    def check_present(self, got) -> None:
        """Ranks that missed the phase's deadline: rank 0 saves the report naming them, then ends the job."""
        if not got.missing:
            return
        why = self.book.lost(got.missing, self.team.phase, self.team.timeout_s, self.doing)
        try:
            saved = f"; report saved in {self.book.save(complete=False)}"
        except Exception as exc:  # noqa: BLE001 - the job must end even when the report cannot be written
            saved = f"; the report could not be written ({type(exc).__name__}: {exc})"
        self.team.abort(1, why + saved)


def _attempt(work, case=None) -> dict:
    """`work()`, or its error as a status that rank 0 reports with this rank's name: at the start, bad
    input (exit 2) or a failure; in a phase, the case's error."""
    try:
        return work() or {}
    except Exception as exc:  # noqa: BLE001 - one rank's failure is reported, never a hang
        error = f"{type(exc).__name__}: {exc}"
        if case is not None:
            return {"error": {"workload": case.workload, "backend": case.backend, "error": error}}
        return {"usage_error": str(exc)} if isinstance(exc, UsageError) else {"error": error}

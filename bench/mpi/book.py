"""Rank 0's book of an MPI run: who each rank is, every rank's rows and their totals, and the report.

The statuses come from bench/mpi.py's phases. Rows are tagged and summed by bench/mpi_results.py;
SHA-256d hits are checked by bench/mpi_scan.py. The report is an ordinary run file (bench/results.py,
drawn by bench.report) whose `run.mpi` holds the ranks, their bindings and devices, and per SHA-256d
window the work layout, every hit, and the time rank 0 took to aggregate.
"""

from __future__ import annotations

import time

from rich.markup import escape

from bench import console, metadata, report
from bench.files import emit_json
from bench.mpi import results as mpi_results
from bench.mpi import scan as mpi_scan
from bench.report.build import describe_params
from bench.results import Result, run_document
from bench.runner import finish


class Book:
    def __init__(self, options, *, size: int, library: str, timeout_s: float, window_s: float):
        self.options, self.size, self.library = options, size, library
        self.timeout_s, self.window_s = timeout_s, window_s
        self.msg = console.err()
        self.started = time.perf_counter()
        self.meta: dict = {}
        self.ranks: dict[int, dict] = {}  # each rank's start status: binding, devices
        self.rows: list[Result] = []
        self.errors: list[dict] = []
        self.scans: list[dict] = []
        self.plan_notes: dict = {"missing": [], "skipped": []}

    def open(self) -> None:
        """The run metadata and the check of --profile/--site/--market (exit 2 before anything runs)."""
        stamp = metadata.utc_now()
        self.meta = metadata.collect(stamp)
        self.meta["folder"] = metadata.folder_name(stamp, self.meta["hostname"])
        site_check = finish.check_site_inputs(self.options)
        if site_check:
            self.meta["site_inputs"] = site_check

    # --- the ranks -------------------------------------------------------------------------------

    def start_verdict(self, statuses: dict[int, dict]) -> dict:
        """Go on ({"cases": most cases of any rank}) or stop ({"exit", "message"}) after the start."""
        self.ranks = statuses
        failed: dict[str, list[int]] = {}
        for r, s in sorted(statuses.items()):
            if "usage_error" in s or "error" in s:
                failed.setdefault(s.get("usage_error") or s["error"], []).append(r)
        if failed:
            usage = all("usage_error" in statuses[r] for rs in failed.values() for r in rs)
            return {"exit": 2 if usage else 1, "message": "; ".join(f"{_ranks(rs)}: {m}" for m, rs in failed.items())}
        windows = {r: s["windows"] for r, s in statuses.items()}
        if len({tuple(w) for w in windows.values()}) > 1:
            return {"exit": 2, "message": "the ranks would scan SHA-256d with different backends ("
                    + "; ".join(f"rank {r}: {', '.join(w) or 'none'}" for r, w in sorted(windows.items()))
                    + "); name them with --backend"}
        self.msg.print(escape(self.describe_ranks()), soft_wrap=True)
        return {"cases": max(s["cases"] for s in statuses.values())}

    def where(self, rank: int) -> str:
        status = self.ranks.get(rank) or {}
        host = (status.get("binding") or {}).get("host", "?")
        return f"rank {rank} on {host} ({', '.join(status.get('devices') or []) or 'no device yet'})"

    def describe_ranks(self) -> str:
        hosts = {s["binding"]["host"] for s in self.ranks.values()}
        lines = [f"mpi: {self.size} rank(s) on {len(hosts)} host(s), {self.library}"]
        for r, s in sorted(self.ranks.items()):
            b = s["binding"]
            lines.append(f"  rank {r} on {b['host']}: {', '.join(s['devices']) or 'no device'}; cores "
                         f"{_ranges(b['cores'])} ({b['threads']} thread(s), {b['how']})")
        return "\n".join(lines)

    # --- results ---------------------------------------------------------------------------------

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
            group.append(mpi_results.total(group, ranks=self.size, absent=absent))
            self.rows.append(group[-1])
        return group

    def show(self, results: list[Result]) -> None:
        for result in results:
            self.msg.print(escape(_line(result)), soft_wrap=True)

    def window(self, got, layout, *, backend: str, elapsed) -> None:
        """One SHA-256d window: every rank's hits checked, its rows and total added. `elapsed()` is rank 0's
        time since every rank's result arrived: the aggregation overhead (re-hashing the hits, totals).
        How far the ranks' windows drifted apart (barrier exit, stragglers) is `window_spread_s`."""
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
        # Meaningless when rank 0 waited for a rank that never came.
        aggregation_s = None if got.missing else elapsed()
        summary = {"layout": layout.to_dict(), "hits": hits, "aggregation_s": aggregation_s,
                   "aggregation_fraction": None if aggregation_s is None else aggregation_s / self.window_s,
                   "window_spread_s": max(seconds) - min(seconds) if seconds else None}
        self.scans.append({"backend": backend, **summary})
        if group and group[-1].extra.get("aggregate"):
            group[-1].extra.update(summary)
        self.show(group)
        if aggregation_s is not None:
            self.msg.print(f"sha256d: {len(hits)} hit(s) re-verified at rank 0; aggregation {aggregation_s * 1e3:.1f} "
                           f"ms ({aggregation_s / self.window_s:.3%} of the {self.window_s:g} s window)")

    def lost(self, missing: list[int], phase: str, timeout_s: float, doing: tuple[str, str]) -> str:
        """Record ranks that missed a phase's deadline; the line that names them."""
        why = [f"{self.where(r)} did not finish phase '{phase}' within {timeout_s:.0f} s" for r in missing]
        for r, text in zip(missing, why):
            self.errors.append({"workload": doing[0], "backend": doing[1], "device": self.where(r),
                                "error": text, "rank": r})
        self.meta["interrupted_at"] = f"phase '{phase}'"
        return "; ".join(why)

    def failures(self) -> str | None:
        bad = [f"{r.workload} {r.backend} {r.device} ({r.verification})" for r in self.rows if not r.verified]
        bad += [f"{e['workload']} {e['backend']} on {e['device']} raised {e['error']}" for e in self.errors]
        return "; ".join(bad) or None

    # --- the report ------------------------------------------------------------------------------

    def document(self, *, complete: bool) -> dict:
        self.meta.update(options=self.options.to_dict(), missing_workloads=self.plan_notes["missing"],
                         skipped_backends=self.plan_notes["skipped"], errors=self.errors,
                         wall_s=time.perf_counter() - self.started)
        self.meta["mpi"] = {
            "ranks": self.size, "library": self.library,
            "hosts": sorted({s["binding"]["host"] for s in self.ranks.values()}),
            "timeout_s": self.timeout_s, "window_s": self.window_s,
            "bindings": [{**s["binding"], "devices": s.get("devices", [])} for _, s in sorted(self.ranks.items())],
            "sha256d": self.scans,
        }
        if complete:
            return finish.priced(self.meta, self.rows, self.options)
        return run_document(self.meta, self.rows, complete=False)

    def save(self, *, complete: bool):
        """The report of what rank 0 holds: the terminal view and --json, then the files (run.json and
        report.md only when incomplete: the job is about to end)."""
        doc = self.document(complete=complete)
        folder = finish.out_dir(self.options, self.meta)
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


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    out, first = [], None
    for i, n in enumerate(numbers):
        first = n if first is None else first
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            out.append(str(n) if n == first else f"{first}-{n}")
            first = None
    return ",".join(out)


def _line(result: Result) -> str:
    mark = "verified" if result.verified else "NOT VERIFIED"
    size = describe_params(result.workload, {k: v for k, v in result.params.items() if k not in ("rank", "ranks")})
    return f"{result.workload} {result.backend} {size} · {result.device}: {console.si(result.value, result.unit)} · {mark}"

"""What a run measures and for how long: the options of `bench run`, checked once when they are made."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench import backends
from bench.errors import UsageError


@dataclass(frozen=True)
class Budget:
    """How long each case is measured: `measure()` keyword arguments."""

    budget_s: float
    min_sample_s: float
    min_repeats: int
    target_cv: float

    def kwargs(self) -> dict:
        return {"budget_s": self.budget_s, "min_sample_s": self.min_sample_s,
                "min_repeats": self.min_repeats, "target_cv": self.target_cv}


QUICK = Budget(budget_s=0.2, min_sample_s=0.02, min_repeats=3, target_cv=0.03)
DEFAULT = Budget(budget_s=1.0, min_sample_s=0.05, min_repeats=5, target_cv=0.02)


@dataclass
class Options:
    workloads: list[str] = field(default_factory=lambda: list(backends.WORKLOADS))
    backends: list[str] | None = None  # NAME or NAME:INDEX specs; None = every one that works here
    quick: bool = False
    profiles: list[str] | None = None
    site: str | None = None
    market: str | None = None
    json: str | None = None
    out: str | None = None
    csv: str | None = None  # the results as CSV too (`--csv PATH`; the report folder always has results.csv)
    budget_s: float | None = None  # per case; overrides the quick/default budget
    mpi: bool = False  # run as one rank of an MPI job (bench/mpi.py); also detected from mpirun/srun
    mpi_timeout_s: float | None = None  # MPI: deadline of each phase
    shapes: list[str] | None = None  # gemm: 'MxNxK' texts (--shape)
    dtypes: list[str] | None = None  # gemm: dtype names (--dtype)
    model: str | None = None  # inference: model spec (--model)
    prompt: int | None = None  # inference: prompt tokens (--prompt)
    batches: list[int] | None = None  # inference: batch sizes (--batch)

    def __post_init__(self) -> None:
        if self.budget_s is not None and not self.budget_s > 0:
            raise UsageError(f"--budget must be a positive number of seconds, got {self.budget_s}")
        self.check_case_options()

    def case_options(self, workload: str) -> dict:
        """The keyword arguments of `cases()` that the command line set for this workload."""
        wanted = {
            "gemm": {"shapes_only": self.shapes, "dtypes_only": self.dtypes},
            "inference": {"model": self.model, "prompt": self.prompt,
                          "batches": tuple(self.batches) if self.batches else None},
        }.get(workload, {})
        return {k: v for k, v in wanted.items() if v is not None}

    def check_case_options(self) -> None:
        """A workload option given without its workload is a mistake worth saying (exit 2)."""
        for flag, value, workload in (("--shape", self.shapes, "gemm"), ("--dtype", self.dtypes, "gemm"),
                                      ("--model", self.model, "inference"), ("--prompt", self.prompt, "inference"),
                                      ("--batch", self.batches, "inference")):
            if value is not None and workload not in self.workloads:
                raise UsageError(f"{flag} applies to the {workload} workload, which this run does not include; "
                                 f"add --workload {workload}")

    @property
    def budget(self) -> Budget:
        base = QUICK if self.quick else DEFAULT
        if self.budget_s is None:
            return base
        return Budget(self.budget_s, min(base.min_sample_s, self.budget_s / 5), base.min_repeats, base.target_cv)

    def to_dict(self) -> dict:
        return {"workloads": self.workloads, "backends": self.backends, "quick": self.quick,
                "profiles": self.profiles, "site": self.site, "market": self.market,
                "budget": self.budget.kwargs()}

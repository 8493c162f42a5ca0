"""One device and a share of the node's cores per rank.

GPUs go by local rank: the rank's index within its node (`Split_type(COMM_TYPE_SHARED)`) modulo the
GPUs that rank sees, so `mpirun -n 8` on an 8-GPU node drives each GPU once, and `srun --gpus-per-task=1`
(each rank sees one GPU) works unchanged. On a GPU node the ranks run the GPU backends only, unless
`--backend` names CPU ones.

Cores: when the launcher already bound the ranks (disjoint affinity masks, e.g. Open MPI's default
`--bind-to core`, `srun --cpu-bind=cores`), each rank keeps its own mask; otherwise the node's cores are
cut into one contiguous block per local rank. A rank pins every thread it has (and those it starts
later inherit the mask) and sizes every thread pool to its block: Numba's, the BLAS's (threadpoolctl),
PoCL's (POCL_MAX_PTHREAD_COUNT, read when OpenCL starts). More ranks than cores share cores, one
thread each, and the binding says so.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
              "POCL_MAX_PTHREAD_COUNT")


@dataclass
class Binding:
    rank: int
    size: int
    host: str
    local_rank: int
    local_size: int
    cores: list[int]
    threads: int
    how: str  # "bound by the launcher" | "shared out" | "oversubscribed: ..."

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def where(self) -> str:
        return f"rank {self.rank} on {self.host}"


def share_cores(masks: list[list[int]], local_rank: int) -> tuple[list[int], str]:
    """This local rank's cores, given every local rank's current affinity mask (in local-rank order)."""
    sets = [set(m) for m in masks]
    disjoint = all(sets) and sum(map(len, sets)) == len(set().union(*sets))
    if len(sets) > 1 and disjoint:
        return sorted(sets[local_rank]), "bound by the launcher"
    cores = sorted(set().union(*sets))
    n = len(sets)
    if len(cores) >= n:
        lo, hi = len(cores) * local_rank // n, len(cores) * (local_rank + 1) // n
        return cores[lo:hi], "shared out"
    return [cores[local_rank % len(cores)]], f"oversubscribed: {n} ranks on {len(cores)} cores"


def current_mask() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no affinity API, every core
        return list(range(os.cpu_count() or 1))


def apply(cores: list[int], threads: int) -> None:
    """Pin every thread of this process to `cores` and size the thread pools to `threads`."""
    for var in THREAD_ENV:  # for the libraries that have not started yet
        os.environ[var] = str(threads)
    if hasattr(os, "sched_setaffinity"):
        try:
            tids = [int(t) for t in os.listdir("/proc/self/task")]
        except OSError:
            tids = [0]
        for tid in tids:
            try:
                os.sched_setaffinity(tid, cores)
            except OSError:  # a thread that just ended
                continue
    if "numba" in sys.modules:  # already started: its pool can only shrink, and only through the API
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)  # the BLAS numpy already loaded


def bind(world, node, host: str) -> Binding:
    """Decide and apply this rank's cores (collective over `node`, the ranks of this host)."""
    masks = node.allgather(current_mask())
    cores, how = share_cores(masks, node.Get_rank())
    apply(cores, len(cores))
    return Binding(world.Get_rank(), world.Get_size(), host, node.Get_rank(), node.Get_size(), cores,
                   len(cores), how)


def pick(selected: list, slot: int, explicit: bool) -> list:
    """The rank's share of `selected` (bench.backends.Selected): one GPU per backend by `slot` (the
    local rank), every CPU-side device; on a GPU node only the GPU backends unless `explicit`."""
    if not explicit and any(s.device.kind == "gpu" for s in selected):
        selected = [s for s in selected if s.device.kind == "gpu"]
    out = []
    for s in selected:
        if s.device.kind != "gpu":
            out.append(s)
            continue
        gpus = [t for t in selected if t.backend == s.backend and t.device.kind == "gpu"]
        if gpus[slot % len(gpus)] is s:
            out.append(s)
    return out


def energy_domain(binding: Binding, device) -> tuple:
    """Ranks whose energy readings cover the same hardware: one CPU package set per host, one GPU each."""
    if device.kind == "gpu":
        return (binding.host, "gpu", os.environ.get("CUDA_VISIBLE_DEVICES", ""), device.index)
    return (binding.host, "cpu")

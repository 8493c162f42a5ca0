"""Is this process one rank of an MPI job? What mpirun/mpiexec and Slurm's srun put in the environment.

Detection reads the environment only, so a plain `python -m bench run` never loads MPI. A launch is
an environment whose world size (Open MPI, MPICH/Intel MPI/PMI-2, MVAPICH, Slurm job steps) is above
one; `--mpi` forces the MPI path for a one-rank job. mpi4py is imported only then, and a launcher that
started N processes which MPI sees as N separate one-rank worlds (an mpi4py built against another MPI
than the launcher's, or `srun` without `--mpi=pmi2`/`pmix`) is an error with its fix, because every
rank would otherwise believe it is rank 0 and write its own report.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from bench.errors import UsageError

# World size and rank as each launcher family exports them.
SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")
RANK_VARS = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK", "SLURM_PROCID")
LAUNCHERS = ("mpiexec", "mpirun")


def launcher_size(env=os.environ) -> int | None:
    """The world size a launcher announced (the largest one found), or None outside a launch."""
    sizes = []
    for var in SIZE_VARS:
        try:
            sizes.append(int(env[var]))
        except (KeyError, ValueError):
            continue
    return max(sizes) if sizes else None


def launched(env=os.environ) -> bool:
    """True when a launcher started more than one rank (a one-rank job needs `--mpi`)."""
    size = launcher_size(env)
    return size is not None and size > 1


def find_launcher() -> str | None:
    """mpiexec/mpirun next to this Python first (the `mpich` wheel puts them in the venv), else on PATH."""
    here = Path(sys.executable).parent
    for name in LAUNCHERS:
        if (here / name).is_file() and os.access(here / name, os.X_OK):
            return str(here / name)
    for name in LAUNCHERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def import_mpi():
    """mpi4py's MPI module (initialising MPI), or UsageError saying how to install it."""
    try:
        import mpi4py
    except ImportError:
        raise UsageError("an MPI run needs mpi4py and an MPI library: pip install -e '.[mpi]' "
                         "(or mpi4py built against your cluster's MPI)") from None
    mpi4py.rc.thread_level = "funneled"  # only the main thread calls MPI; kernels run their own threads
    from mpi4py import MPI

    return MPI


def check_world(world_size: int, env=os.environ) -> None:
    """UsageError when the launcher started more ranks than MPI connected into one world."""
    announced = launcher_size(env)
    if announced is not None and announced > 1 and world_size == 1:
        raise UsageError(
            f"the launcher started {announced} processes but MPI sees a world of 1: mpi4py is built against "
            "another MPI than the launcher's (use the mpiexec next to this Python, or rebuild mpi4py), "
            "or srun needs --mpi=pmi2 / --mpi=pmix"
        )

"""`bench run` across MPI ranks: one rank per GPU or socket, the nonce window split between them, rank 0's book.

env (mpi4py and the launcher), bind (threads and devices per rank), team (deadlines, aborts), fault (planted
failures for tests), scan (the split window), results (rows tagged and summed), book (rank 0's run file and
report), rank (each rank's phases).
"""

from bench.mpi.rank import run, wanted

__all__ = ["run", "wanted"]

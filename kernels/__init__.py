"""Pure compute kernels: SHA-256 / SHA-256d, GEMM and a Llama-style decoder, one file per backend.

Importing this package applies the Numba code-generation settings that decide between scalar, 256-bit
and 512-bit code on AVX-512 CPUs (see kernels/numba_env.py); it must happen before numba compiles.
"""

from kernels import numba_env as _numba_env

_numba_env.configure()

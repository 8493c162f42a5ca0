"""Compile CUDA C with NVRTC the way CuPy's RawModule does, without a GPU (and without CuPy).

CuPy 14 hands NVRTC the module's own options plus `-I<CUDA root>/include`, `-ftz=true`, `-arch=sm_XX`
and `--device-as-default-execution-space`. It takes the CUDA root from where libnvrtc was loaded: with
the pip CUDA wheels that is `site-packages/nvidia/cu13`, whose include folder holds only the headers of
the wheels installed (mma.h, for one, needs crt/ from nvidia-cuda-crt). These tests compile against
that same folder, so a header missing there fails here rather than on the first GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def nvrtc():
    """cuda.bindings.nvrtc, or None where it is not installed."""
    try:
        from cuda.bindings import nvrtc as module

        return module
    except ImportError:
        return None


def cupy_cuda_root() -> str | None:
    """The CUDA root CuPy 14 would use (cupy/_environment.py `_get_cuda_path`), found the same way."""
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib

        lib = load_nvidia_dynamic_lib("nvrtc")
    except Exception:  # noqa: BLE001 - pathfinder missing or no libnvrtc
        lib = None
    if lib is not None:
        return os.path.dirname(os.path.dirname(os.path.realpath(lib.abs_path)))
    return "/usr/local/cuda" if os.path.exists("/usr/local/cuda") else None


@dataclass
class Compiled:
    ok: bool
    log: str
    ptx: str
    cubin_bytes: int
    options: tuple[str, ...]


def compile_like_cupy(source: str, options: tuple[str, ...], arch: str = "sm_90") -> Compiled:
    """NVRTC on `source` with the module's `options` plus those CuPy adds (sm_XX: a cubin, as CuPy loads)."""
    lib = nvrtc()
    root = cupy_cuda_root()
    added = ((f"-I{os.path.join(root, 'include')}",) if root else ()) + (
        "-ftz=true", f"-arch={arch}", "--device-as-default-execution-space")
    all_options = tuple(options) + added
    err, prog = lib.nvrtcCreateProgram(source.encode(), b"kern.cu", 0, [], [])
    assert err == lib.nvrtcResult.NVRTC_SUCCESS, err
    encoded = [o.encode() for o in all_options]
    (err,) = lib.nvrtcCompileProgram(prog, len(encoded), encoded)
    _, size = lib.nvrtcGetProgramLogSize(prog)
    log = b" " * size
    lib.nvrtcGetProgramLog(prog, log)
    ptx, cubin_bytes = b"", 0
    if err == lib.nvrtcResult.NVRTC_SUCCESS:
        _, size = lib.nvrtcGetPTXSize(prog)
        ptx = b" " * size
        lib.nvrtcGetPTX(prog, ptx)
        _, cubin_bytes = lib.nvrtcGetCUBINSize(prog)
    lib.nvrtcDestroyProgram(prog)
    return Compiled(err == lib.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace").rstrip("\x00 "),
                    ptx.decode(errors="replace"), int(cubin_bytes), all_options)

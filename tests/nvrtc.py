"""Compile CUDA code the way the libraries do on a GPU machine, without a GPU.

`compile_like_cupy`: CUDA C with NVRTC as CuPy's RawModule does (and without CuPy).

CuPy 14 hands NVRTC the module's own options plus `-I<CUDA root>/include`, `-ftz=true`, `-arch=sm_XX`
and `--device-as-default-execution-space`. It takes the CUDA root from where libnvrtc was loaded: with
the pip CUDA wheels that is `site-packages/nvidia/cu13`, whose include folder holds only the headers of
the wheels installed (mma.h, for one, needs crt/ from nvidia-cuda-crt). These tests compile against
that same folder, so a header missing there fails here rather than on the first GPU.

`link_like_numba`: Numba's PTX to a cubin with nvJitLink, as numba-cuda links before loading (its NVVM
writes a PTX ISA newer than a CUDA 13.0 driver can JIT; the linked cubin loads on any 13.x driver), with
ptxas's register and spill report.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


def nvrtc():
    """cuda.bindings.nvrtc, or None where it is not installed."""
    try:
        from cuda.bindings import nvrtc as module

        return module
    except ImportError:
        return None


def nvvm_status() -> tuple[bool, str]:
    """Whether Numba can write PTX here (NVVM present, simulator off), with the reason when not."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return False, "NUMBA_ENABLE_CUDASIM is set: no PTX from the simulator"
    try:
        from numba.cuda.cudadrv import nvvm

        return (True, "") if nvvm.is_available() else (False, "NVVM (libnvvm) not found; pip install 'numba-cuda[cu13]'")
    except Exception as exc:  # noqa: BLE001 - numba-cuda missing or broken
        return False, f"numba-cuda not usable: {exc}"


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
    cubin: bytes = b""


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
    ptx, cubin = b"", b""
    if err == lib.nvrtcResult.NVRTC_SUCCESS:
        _, size = lib.nvrtcGetPTXSize(prog)
        ptx = b" " * size
        lib.nvrtcGetPTX(prog, ptx)
        _, size = lib.nvrtcGetCUBINSize(prog)
        cubin = b" " * size
        lib.nvrtcGetCUBIN(prog, cubin)
    lib.nvrtcDestroyProgram(prog)
    return Compiled(err == lib.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace").rstrip("\x00 "),
                    ptx.decode(errors="replace"), len(cubin), all_options, bytes(cubin))


@dataclass
class Linked:
    registers: int
    spill_bytes: int  # spill stores + spill loads
    local_bytes: int
    log: str
    cubin: bytes = b""


def link_like_numba(ptx: str, arch: str = "sm_90", max_registers: int | None = None) -> Linked:
    """Link PTX to a cubin through cuda.core's Linker (nvJitLink), as numba-cuda does (with a kernel's
    `max_registers`, where it sets one); ptxas's figures."""
    from cuda.core import Linker, LinkerOptions, ObjectCode

    options = LinkerOptions(arch=arch, verbose=True, max_register_count=max_registers)
    linker = Linker(ObjectCode.from_ptx(ptx.encode(), name="numba"), options=options)
    cubin = linker.link("cubin").code
    log = linker.get_info_log()
    spills = sum(int(n) for n in re.findall(r"(\d+) bytes spill (?:stores|loads)", log))
    registers = max(int(n) for n in re.findall(r"Used (\d+) registers", log))
    local = max(int(n) for n in re.findall(r"(\d+) bytes lmem", log))
    return Linked(registers, spills, local, log, bytes(cubin))

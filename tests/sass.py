"""Count the SASS instructions of a compiled kernel by class and by execution pipe, without a GPU.

A cubin (NVRTC's, or nvJitLink's for Numba's PTX) is disassembled with `cuobjdump -sass` (or `nvdisasm`,
from the pip wheels nvidia-cuda-cuobjdump / nvidia-cuda-nvdisasm, in the `test` extra). The per-nonce
count is the body of the kernel's nonce loop: the instructions from the target of its backward branch to
the branch (the rare hit path inside it included, a dozen instructions).

The pipes (Volta through Hopper): IADD3, LOP3, SHF, ISETP, PRMT... issue to the integer ALU pipe and IMAD
(IMAD.IADD, IMAD.MOV, IMAD.SHL too) to the FMA pipe, each at half a warp instruction per cycle per SM
sub-partition, while the scheduler issues one instruction per cycle. `model_cycles` is therefore
max(2 * alu, 2 * fma, all) cycles per warp per loop trip: a model for comparing kernels, never a figure
of any GPU. VIADD (new in sm_90) is counted on the ALU pipe, the conservative guess.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass

TOOLS = ("cuobjdump", "nvdisasm")
ALU = {"IADD3", "LOP3", "SHF", "ISETP", "PRMT", "SEL", "MOV", "LEA", "FLO", "POPC", "IABS", "IMNMX", "VIADD",
       "BMSK", "PLOP3", "P2R", "R2P", "SHL", "SHR", "LOP", "IADD"}
FMA = {"IMAD", "IMUL", "FFMA", "FADD", "FMUL"}
LINE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*)((?:\.[A-Z0-9_]+)*)\s*([^;]*);")
BRANCH_TARGET = re.compile(r"(0x[0-9a-f]+)\s*$")


def find_tool(name: str) -> str | None:
    """`name` on PATH, in a pip CUDA wheel (site-packages/nvidia/cu13/bin) or in a CUDA toolkit; else None."""
    found = shutil.which(name)
    if found:
        return found
    roots = [os.path.join(p, "nvidia", sub, "bin") for p in sys.path if p for sub in ("cu13", "cu12", "cuda_cuobjdump",
                                                                                       "cuda_nvdisasm")]
    roots += [os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin"), "/usr/local/cuda/bin"]
    for root in roots:
        path = os.path.join(root, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def disassembler() -> str | None:
    """cuobjdump, or nvdisasm, or None (then the SASS tests skip and say which wheel to install)."""
    for name in TOOLS:
        path = find_tool(name)
        if path:
            return path
    return None


@dataclass(frozen=True)
class Instruction:
    address: int
    opcode: str  # the base mnemonic: IMAD for IMAD.IADD
    modifiers: str  # ".IADD", ".U32" ...
    operands: str


def disassemble(cubin: bytes) -> dict[str, list[Instruction]]:
    """Every function of the cubin, its instructions in address order."""
    tool = disassembler()
    if tool is None:
        raise FileNotFoundError("neither cuobjdump nor nvdisasm found; pip install nvidia-cuda-cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(cubin)
        f.flush()
        args = [tool, "-sass", f.name] if tool.endswith("cuobjdump") else [tool, "-c", f.name]
        text = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120).stdout
    functions: dict[str, list[Instruction]] = {}
    current: list[Instruction] | None = None
    for line in text.splitlines():
        header = re.search(r"Function : (\S+)|^\s*\.text\.(\S+):", line)
        if header:
            current = functions.setdefault(header.group(1) or header.group(2), [])
            continue
        m = LINE.search(line)
        if m and current is not None:
            current.append(Instruction(int(m.group(1), 16), m.group(2), m.group(3), m.group(4).strip()))
    return functions


def loop_body(instructions: list[Instruction]) -> list[Instruction]:
    """The instructions of the longest loop: from a backward branch's target to the branch."""
    best: tuple[int, int] | None = None
    for ins in instructions:
        if ins.opcode != "BRA":
            continue
        target = BRANCH_TARGET.search(ins.operands)
        if target and int(target.group(1), 16) < ins.address:
            span = (int(target.group(1), 16), ins.address)
            if best is None or span[1] - span[0] > best[1] - best[0]:
                best = span
    if best is None:
        raise ValueError("no loop (backward branch) in this function")
    return [i for i in instructions if best[0] <= i.address <= best[1]]


@dataclass(frozen=True)
class Counts:
    """Instructions of one loop trip (one nonce per thread) by opcode, and by pipe."""

    by_opcode: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_opcode.values())

    @property
    def alu(self) -> int:
        return sum(n for op, n in self.by_opcode.items() if op in ALU)

    @property
    def fma(self) -> int:
        return sum(n for op, n in self.by_opcode.items() if op in FMA)

    def __getitem__(self, opcode: str) -> int:
        return self.by_opcode.get(opcode, 0)

    @property
    def model_cycles(self) -> int:
        """Issue cycles per warp per trip on one SM sub-partition, by the pipe model (module docstring)."""
        return max(2 * self.alu, 2 * self.fma, self.total)

    def summary(self) -> str:
        top = ", ".join(f"{op} {n}" for op, n in sorted(self.by_opcode.items(), key=lambda kv: -kv[1])[:6])
        return f"total {self.total}, ALU pipe {self.alu}, FMA pipe {self.fma}, model {self.model_cycles} cycles ({top})"


def per_nonce(cubin: bytes, function: str) -> Counts:
    """Counts of the loop of the function whose (mangled) name contains `function`."""
    functions = disassemble(cubin)
    names = [n for n in functions if function in n]
    if len(names) != 1:
        raise ValueError(f"{function!r} matches {names} of {list(functions)}")
    return Counts(dict(Counter(i.opcode for i in loop_body(functions[names[0]]))))

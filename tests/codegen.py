"""LLVM IR compiled for a named CPU on any host (llvmlite carries the x86 and AArch64 backends), for the
tests that count what a kernel compiles to on a CPU other than the one running them: Grace's Neoverse V2,
or an AVX2-only x86 core when the host has AVX-512 (there LLVM would fuse the AVX2 steps into VNNI ones)."""

from __future__ import annotations

import re
from collections import Counter

import llvmlite.binding as llvm
from llvmlite import ir

AARCH64 = "aarch64-unknown-linux-gnu"
X86_64 = "x86_64-unknown-linux-gnu"


def new_module(name: str, triple: str = AARCH64) -> ir.Module:
    module = ir.Module(name=name)
    module.triple = triple
    return module


def assembly(module: ir.Module, cpu: str, features: str = "") -> str:
    """The module optimised at O3 and compiled for `cpu` of its triple, as assembly text."""
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    machine = llvm.Target.from_triple(module.triple).create_target_machine(cpu=cpu, features=features, opt=3)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=3))
    builder.getModulePassManager().run(parsed, builder)
    return machine.emit_assembly(parsed)


def neoverse_v2_assembly(module: ir.Module, features: str = "+neon,+sha2,+dotprod") -> str:
    """The module compiled for Grace's core (Neoverse V2)."""
    return assembly(module, "neoverse-v2", features)


def mnemonics(text: str) -> Counter:
    """How often each instruction occurs in the assembly text."""
    return Counter(m.group(1) for m in re.finditer(r"^\s+([a-z][a-z0-9.]*)\s", text, re.MULTILINE))

"""LLVM IR compiled for Grace's Neoverse V2 on any host (llvmlite carries the AArch64 backend), for the
tests that count what the Arm paths compile to without an Arm CPU."""

from __future__ import annotations

import re
from collections import Counter

import llvmlite.binding as llvm
from llvmlite import ir

TRIPLE = "aarch64-unknown-linux-gnu"


def new_module(name: str) -> ir.Module:
    module = ir.Module(name=name)
    module.triple = TRIPLE
    return module


def neoverse_v2_assembly(module: ir.Module, features: str = "+neon,+sha2,+dotprod") -> str:
    """The module optimised at O3 and compiled for Neoverse V2, as assembly text."""
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    machine = llvm.Target.from_triple(TRIPLE).create_target_machine(cpu="neoverse-v2", features=features, opt=3)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(speed_level=3))
    builder.getModulePassManager().run(parsed, builder)
    return machine.emit_assembly(parsed)


def mnemonics(assembly: str) -> Counter:
    """How often each instruction occurs in the assembly text."""
    return Counter(m.group(1) for m in re.finditer(r"^\s+([a-z][a-z0-9.]*)\s", assembly, re.MULTILINE))

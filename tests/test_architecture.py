"""The architecture holds: imports run one way, backends carry their own traits, no prefix families.

Every first-party import is counted, including those inside functions: a function-local import that dodges
a cycle is still a cycle. Layers, top to bottom (a module may import only from its own layer's package or
below): cli -> verbs -> runner / mpi / report / pricing -> workloads, results, profiles, economics, scaling
-> backends, timing, power, metadata -> kernels.
"""

from __future__ import annotations

import ast
import re
import typing
from collections import defaultdict
from pathlib import Path

import pytest

from bench import backends
from tests.cli import ROOT

PACKAGES = ("bench", "kernels")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def first_party_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


MODULES = first_party_modules()


def resolve(name: str) -> str | None:
    """The first-party module an imported name refers to (a module, or the package holding the name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            target = resolve(name)
            if target and target != module:
                found.add(target)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def _is_package_parent(a: str, b: str) -> bool:
    """A package's __init__ re-exporting its own modules is not a cycle of design."""
    return b.startswith(a + ".") or a.startswith(b + ".")


def test_no_import_cycles_even_through_function_local_imports():
    cycles = [c for c in _cycles() if not all(_is_package_parent(c[0], x) or x == c[0] for x in c)]
    assert not cycles, cycles


LAYERS = [
    ("bench.cli", "bench.__main__"),
    ("bench.verbs",),
    ("bench.runner", "bench.mpi", "bench.report", "bench.pricing"),
    ("bench.workloads", "bench.results", "bench.profiles", "bench.economics", "bench.scaling", "bench.compare",
     "bench.power"),
    ("bench.backends", "bench.timing", "bench.metadata", "bench.cpu_clock", "bench.args"),
    ("bench.console", "bench.files", "bench.errors", "bench"),
    ("kernels",),
]


def layer_of(module: str) -> int:
    best = None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (i, len(p))
    assert best is not None, f"{module} belongs to no layer; add it to LAYERS"
    return best[0]


def test_imports_run_one_way():
    upward = []
    for module, targets in GRAPH.items():
        for target in targets:
            if module.startswith("kernels") and target.startswith("bench"):
                upward.append((module, target))
            elif layer_of(target) < layer_of(module) and not _is_package_parent(module, target):
                upward.append((module, target))
    assert not upward, upward


def test_no_prefix_families_in_bench():
    """A prefix shared by several files (mpi_*, report_*) is a folder waiting to be made."""
    families = defaultdict(list)
    for path in (ROOT / "bench").glob("*.py"):
        stem = path.stem
        if "_" in stem and stem != "__init__" and stem != "__main__":
            families[stem.split("_")[0]].append(stem)
    assert not {k: v for k, v in families.items() if len(v) > 1}


BACKEND_LITERAL = re.compile(r"""["'](%s)["']""" % "|".join(re.escape(b) for b in backends.BACKENDS))


def test_backend_names_live_in_discovery_and_in_the_backend_files_only():
    allowed = {ROOT / "bench" / "backends.py"}
    allowed |= {p for p in (ROOT / "kernels").rglob("*.py") if p.stem in backends.MODULES.values()}
    offenders = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if path in allowed:
                continue
            for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if line.rstrip().endswith(("# library name", "# package names")):
                    continue  # the Python package or distribution, not the backend of that name
                code = line.split("#", 1)[0]
                if BACKEND_LITERAL.search(code) and not code.strip().startswith(('"""', "'''")):
                    offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("workload", backends.WORKLOADS)
def test_every_backend_file_meets_its_workload_protocol(workload):
    import importlib

    package = importlib.import_module(backends.PACKAGES[workload])
    protocol = package.Backend
    for name in backends.BACKENDS:
        mod = backends.module(workload, name)
        if mod is None:
            continue
        attrs = getattr(protocol, "__protocol_attrs__", None) or typing._get_protocol_attrs(protocol)
        missing = [attr for attr in attrs if not hasattr(mod, attr)]
        assert not missing, f"{mod.__name__} lacks {missing} of {package.__name__}.Backend"
        traits = mod.TRAITS
        assert traits.device_kind in ("cpu", "gpu", "any") and isinstance(traits.resident_operands, bool)
        assert traits.kernel, f"{mod.__name__}: TRAITS.kernel must describe the kernel"

"""Shared benchmark fixtures: `figures` records figures next to pytest-benchmark's timings (figures.py);
`size(small, full)` picks the small input when benchmarks are disabled (the normal test run).
"""

from __future__ import annotations

import pytest

from tests.benchmarks.figures import Figures


@pytest.fixture
def figures(benchmark, request) -> Figures:
    return Figures(benchmark, request.node.nodeid)


@pytest.fixture
def size(benchmark):
    """size(small, full): the input size for this run (small when benchmarks are disabled)."""
    return lambda small, full: full if benchmark.enabled else small

"""Benchmarks (pytest-benchmark): `pytest tests/benchmarks --benchmark-enable --benchmark-only`.

In the normal test run (`--benchmark-disable`) each benchmark runs once on small inputs as a smoke test.
"""

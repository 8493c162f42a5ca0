"""kernels/numba_env.py: the settings and compatibility fixes applied before Numba compiles."""

from __future__ import annotations

import numpy as np

from kernels import numba_env


def test_row_stack_is_restored_as_vstack_where_numpy_removed_it(monkeypatch):
    monkeypatch.delattr(np, "row_stack", raising=False)  # as NumPy >= 2.5 ships
    assert numba_env.restore_row_stack() is True
    assert np.row_stack is np.vstack
    assert numba_env.restore_row_stack() is False  # present now: left alone


def test_row_stack_left_alone_where_numpy_has_it(monkeypatch):
    original = object()
    monkeypatch.setattr(np, "row_stack", original, raising=False)
    assert numba_env.restore_row_stack() is False
    assert np.row_stack is original


def test_importing_kernels_configures_numba():
    import os

    assert os.environ.get("NUMBA_SLP_VECTORIZE") is not None
    assert hasattr(np, "row_stack")


def test_settings_are_defaults_a_user_setting_wins(monkeypatch):
    """configure() fills what is unset (GNU OpenMP's spin count among them) and keeps what a user set."""
    import os

    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    numba_env.configure()
    assert os.environ["GOMP_SPINCOUNT"] == numba_env.SPIN_COUNT and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.setenv("GOMP_SPINCOUNT", "0")
    numba_env.configure()
    assert os.environ["GOMP_SPINCOUNT"] == "0"

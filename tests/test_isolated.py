"""kernels/runtime/isolated.py: a function called in a child process comes back as its result, and a hang,
a crash or an exception as a one-line reason (what a GPU kernel's first run on a GPU needs)."""

from __future__ import annotations

import pytest

from kernels.runtime import isolated


def test_the_result_comes_back_as_json():
    assert isolated.call("math", "hypot", (3, 4), 60) == 5.0
    assert isolated.call("os.path", "split", ("/a/b",), 60) == ["/a", "b"]


def test_a_project_module_imports_in_the_child_whatever_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert isolated.call("kernels.gemm.cupy_cuda", "reference_kernel_text", ("bf16",), 60) == \
        "cublasGemmEx data type 14, compute type 68"


def test_an_exception_is_the_reason():
    with pytest.raises(isolated.IsolatedError, match=r"math.sqrt failed in a child process \(exit code 1\): "
                                                     r"ValueError: .*math domain error"):
        isolated.call("math", "sqrt", (-1,), 60)


def test_a_crash_is_the_reason():
    with pytest.raises(isolated.IsolatedError, match=r"os._exit failed in a child process \(exit code 3\)"):
        isolated.call("os", "_exit", (3,), 60)


def test_a_hang_is_stopped_at_the_deadline():
    with pytest.raises(isolated.IsolatedError, match=r"time.sleep did not finish in 1 s .* \(a hang\)"):
        isolated.call("time", "sleep", (30,), 1)

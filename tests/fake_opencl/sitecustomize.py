"""A fake OpenCL driver for subprocess tests: every program build fails as PoCL 3.0 fails on a CPU its LLVM
does not know (AMD Zen 5: "unknown target CPU 'generic'"). Put this folder first on PYTHONPATH to use it.

It patches pyopencl as it is imported (an import hook), so the code under test runs unchanged.
"""

import importlib.abc
import importlib.machinery
import sys

LOG = ("clBuildProgram failed: BUILD_PROGRAM_FAILURE - clBuildProgram failed: BUILD_PROGRAM_FAILURE\n\n"
       "Build on <pyopencl.Device 'cpu-fake' on 'Portable Computing Language'>:\n\n"
       "error: unknown target CPU 'generic'\nnote: valid target CPU values are: nocona, core2, ...\n")


def _patch(cl) -> None:
    def failing_build(self, *args, **kwargs):
        raise cl.RuntimeError(cl._cl._ErrorRecord(LOG, cl.status_code.BUILD_PROGRAM_FAILURE, "clBuildProgram"))

    cl.Program.build = failing_build


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != "pyopencl":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:
            return None
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Finder())

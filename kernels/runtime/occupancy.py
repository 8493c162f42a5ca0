"""How many thread-block clusters of a kernel can run at once on a GPU, as the CUDA driver reckons it.

A persistent kernel in clusters should launch as many clusters as can be resident: with more, the extra
ones wait for whole clusters to finish (a tail as long as a cluster's share of the work); with fewer, SMs
stay idle. A cluster's blocks must share a GPC, so the count depends on the GPU's layout as well as on the
kernel's threads and shared memory; cuOccupancyMaxActiveClusters answers for a given kernel. CuPy does
not wrap it, so it is called through ctypes on libcuda (as kernels/gemm/tensor_map.py calls the tensor-map
encoder). tests/test_occupancy.py checks the CUlaunchConfig layout below against cuda.h.
"""

from __future__ import annotations

import ctypes

_uint = ctypes.c_uint


class LaunchConfig(ctypes.Structure):
    """CUlaunchConfig (cuda.h, CUDA 12.0+): grid and block shape, dynamic shared memory, stream, and launch
    attributes (none here: a kernel's compile-time __cluster_dims__ then give the cluster shape)."""

    _fields_ = [("gridDimX", _uint), ("gridDimY", _uint), ("gridDimZ", _uint),
                ("blockDimX", _uint), ("blockDimY", _uint), ("blockDimZ", _uint),
                ("sharedMemBytes", _uint), ("hStream", ctypes.c_void_p), ("attrs", ctypes.c_void_p),
                ("numAttrs", _uint)]


def _driver_function():
    """cuOccupancyMaxActiveClusters from libcuda, typed; None where there is no driver or it is older
    than CUDA 12.0."""
    try:
        function = ctypes.CDLL("libcuda.so.1").cuOccupancyMaxActiveClusters
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_void_p, ctypes.POINTER(LaunchConfig)]
    return function


def max_active_clusters(function: int, cluster: int, threads: int, shared_bytes: int, driver=None) -> int | None:
    """Clusters of `cluster` blocks of kernel `function` (a CUfunction, with the CUDA context it belongs to
    current), `threads` threads and `shared_bytes` of dynamic shared memory a block, that can run at once;
    None where the driver cannot say (no driver, one too old, or an error)."""
    driver = driver or _driver_function()
    if driver is None:
        return None
    config = LaunchConfig(cluster, 1, 1, threads, 1, 1, shared_bytes, None, None, 0)  # a grid of one cluster
    count = ctypes.c_int(0)
    status = driver(ctypes.byref(count), ctypes.c_void_p(function), ctypes.byref(config))
    return count.value if status == 0 and count.value > 0 else None

"""Helpers the benchmark classes share: backend parameters, device synchronization."""
import warnings

from .workloads import BACKENDS, require_backend, torch_device  # noqa: F401 (re-exported)

warnings.simplefilter("ignore")  # plugin warnings for backends a checkout lacks


def synchronizer(backend):
    """A function that waits for the device, so a timer sees finished GPU work."""
    if backend == "torch:cuda":
        import torch
        return torch.cuda.synchronize
    if backend == "cupy":
        import cupy
        return cupy.cuda.Device().synchronize
    return lambda: None


def as_native(backend, array):
    """A NumPy array moved to the native library of ``backend`` (for the "native" baselines)."""
    if backend.startswith("torch"):
        import torch
        return torch.as_tensor(array, device=torch_device(backend))
    if backend == "cupy":
        import cupy
        return cupy.asarray(array)
    return array

"""Moving a tensor to another backend, differentiably (the gradient moves back)."""
from .registry import register
from ._batching import elementwise
from .. import backends as _backends
from ..tensor import Tensor, make


def _to_forward(x, target):
    """A copy on the target backend (never shared memory, as SPEC says: an in-place change
    of either side must not reach the other).  DLPack where the devices allow (CuPy <->
    torch CUDA), else through NumPy; then one copy, since both may share the source."""
    dst = _backends.load(target)
    from_dlpack = getattr(dst.namespace, "from_dlpack", None)
    if from_dlpack is not None and hasattr(x._data, "__dlpack__"):
        try:
            return make(dst.copy(from_dlpack(x._data)), dst)
        except Exception:  # another device, a read-only array, a dtype DLPack lacks
            pass
    return make(dst.copy(dst.asarray(x._backend.to_numpy(x._data), None)), dst)


def _source(x):
    return x.backend if type(x) is Tensor else _backends.backend_of_raw(x).name


to_backend = register(
    "to_backend", _to_forward, batch=elementwise("to_backend"), namespace=None,
    vjp=lambda ans, x, target: lambda g: to_backend(g, target=_source(x)),
    jvp=lambda t, ans, x, target: to_backend(t[0], target=target),
    doc="Copy x to the backend named ``target``; gradients come back to x's backend.")


def to(x, backend):
    """``x.to(backend)``: a copy on another backend (``"numpy"``, ``"torch"``, ``"torch:cuda"``,
    ``"cupy"``); differentiable, the gradient flows back to x's backend."""
    name = _backends.load(backend).name if isinstance(backend, str) else backend.name
    return to_backend(x, target=name)

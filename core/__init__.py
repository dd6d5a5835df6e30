"""chainrule: a pure-Python autodiff engine built from local Jacobians.

>>> import chainrule as cr
>>> a, b, c = (cr.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
>>> L = (a * b + c) ** 2
>>> L.backward()
>>> float(a.grad), float(b.grad), float(c.grad)
(60.0, 40.0, 20.0)
"""
from .tensor import Tensor
from ._state import no_grad, enable_grad, is_grad_enabled
from .dtypes import (DType, set_default_dtype, get_default_dtype, bool, int8, uint8, int16, int32,
                     int64, float16, bfloat16, float32, float64)
from .errors import (ChainruleError, ShapeError, DTypeError, BackendError, GraphError, InplaceError,
                     GradcheckError, RegistryError, UnknownNameError, HyperparameterError, PluginError,
                     ArgumentError, IndexingError, CheckpointError)
from .backends import BackendSpec, get_backend, set_backend, use_backend
from .creation import (tensor, asarray, zeros, ones, full, arange, eye, zeros_like, ones_like,
                       full_like)
from . import ops, random, nn
from . import linalg   # cr.linalg: numpy.linalg's functions
from .ops.registry import exports as _exports
globals().update(_exports("chainrule"))   # every built-in op: cr.<name> (see cr.ops)
from .ops.aliases import *   # noqa: F401,F403  NumPy's other names (absolute, amax, concatenate...)
from .transforms import (grad, value_and_grad, vjp, jvp, jacfwd, jacrev, hessian, hvp, checkpoint)
from .vmap import vmap
from .gradcheck import gradcheck
from .anomaly import detect_anomaly, AnomalyError
from . import _methods, amp

_methods.install()
pow = power   # the Array API's name for NumPy's power

_LAZY = {  # submodules and names loaded on first use, to keep `import chainrule` light
    "backends": "chainrule.backends", "plugins": "chainrule.plugins", "optim": "chainrule.optim",
    "init": "chainrule.init", "schedules": "chainrule.schedules", "testing": "chainrule.testing",
    "hookspecs": "chainrule.hookspecs",
    "distributed": "chainrule.distributed",   # imports torch.distributed on first use
    "diagnostics": "chainrule.diagnostics",   # gradient norms, dead ReLUs, lr finder, memory
    "viz": "chainrule.viz",                   # the graph as Graphviz DOT (graphviz inside draw)
}


def __getattr__(name):
    import importlib
    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name == "hookimpl":
        return importlib.import_module("chainrule.hookspecs").hookimpl
    if name in ("save", "load"):
        return getattr(importlib.import_module("chainrule.serialization"), name)
    if not name.startswith("_"):   # an op a plugin or the user registered: cr.<name>
        op = ops.registry._registry.get(name)
        if op is None and name.isidentifier():
            try:
                op = ops.get(name)
            except UnknownNameError:
                op = None
        if op is not None and op.namespace == "chainrule":
            return op.public
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__():  # the lazy names too (optim, init, save...), without importing them
    return sorted(set(globals()) | set(_LAZY) | set(__all__))


__version__ = "0.1.0"
__all__ = sorted(set(_exports("chainrule")) | {
    "Tensor", "no_grad", "enable_grad", "is_grad_enabled", "DType", "set_default_dtype",
    "get_default_dtype", "bool", "int8", "uint8", "int16", "int32", "int64", "float16", "bfloat16",
    "float32", "float64", "ChainruleError", "ShapeError", "DTypeError", "BackendError", "GraphError",
    "InplaceError", "GradcheckError", "RegistryError", "UnknownNameError", "HyperparameterError",
    "PluginError", "BackendSpec", "get_backend", "set_backend", "use_backend", "tensor", "asarray",
    "zeros", "ones", "full", "arange", "eye", "zeros_like", "ones_like", "full_like", "ops", "random",
    "nn", "pow", "grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "hessian", "hvp",
    "checkpoint", "vmap", "gradcheck", "amp", "backends", "plugins", "optim", "init", "schedules", "testing",
    "hookimpl", "save", "load", "detect_anomaly", "AnomalyError", "diagnostics", "viz",
})

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
                     GradcheckError, RegistryError, UnknownNameError, HyperparameterError, PluginError)
from .backends import BackendSpec, get_backend, set_backend, use_backend
from .creation import (tensor, asarray, zeros, ones, full, arange, eye, zeros_like, ones_like,
                       full_like)
from . import ops, random, nn
from .ops import (add, subtract, multiply, divide, power, negative, exp, log, log1p, expm1, sqrt,
                  abs, sign, sin, cos, tan, tanh, erf, floor, maximum, minimum, clip, where, matmul,
                  sum, mean, max, min, prod, var, std, logsumexp, argmax, argmin, any, all, reshape,
                  permute_dims, transpose, broadcast_to, expand_dims, squeeze, flatten, concat,
                  stack, split, take, getitem, astype, stop_gradient, greater, greater_equal, less,
                  less_equal, equal, not_equal, logical_and, logical_or, logical_not, isfinite,
                  isnan, eigh, qr, clone)
from .transforms import (grad, value_and_grad, vjp, jvp, jacfwd, jacrev, hessian, hvp, checkpoint)
from .vmap import vmap
from .gradcheck import gradcheck
from . import _methods

_methods.install()
pow = power

_LAZY = {  # submodules and names loaded on first use, to keep `import chainrule` light
    "backends": "chainrule.backends", "plugins": "chainrule.plugins", "optim": "chainrule.optim",
    "init": "chainrule.init", "schedules": "chainrule.schedules", "testing": "chainrule.testing",
    "hookspecs": "chainrule.hookspecs",
}


def __getattr__(name):
    import importlib
    if name in _LAZY:
        return importlib.import_module(_LAZY[name])
    if name == "hookimpl":
        return importlib.import_module("chainrule.hookspecs").hookimpl
    if name in ("save", "load"):
        return getattr(importlib.import_module("chainrule.serialization"), name)
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__():  # the lazy names too (optim, init, save...), without importing them
    return sorted(set(globals()) | set(_LAZY) | set(__all__))


__version__ = "0.1.0"
__all__ = sorted([
    "Tensor", "no_grad", "enable_grad", "is_grad_enabled", "DType", "set_default_dtype",
    "get_default_dtype", "bool", "int8", "uint8", "int16", "int32", "int64", "float16", "bfloat16",
    "float32", "float64", "ChainruleError", "ShapeError", "DTypeError", "BackendError", "GraphError",
    "InplaceError", "GradcheckError", "RegistryError", "UnknownNameError", "HyperparameterError",
    "PluginError", "BackendSpec", "get_backend", "set_backend", "use_backend", "tensor", "asarray",
    "zeros", "ones", "full", "arange", "eye", "zeros_like", "ones_like", "full_like", "ops", "random",
    "nn", "add", "subtract", "multiply", "divide", "power", "pow", "negative", "exp", "log", "log1p",
    "expm1", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh", "erf", "floor", "maximum",
    "minimum", "clip", "where", "matmul", "sum", "mean", "max", "min", "prod", "var", "std",
    "logsumexp", "argmax", "argmin", "any", "all", "reshape", "permute_dims", "transpose",
    "broadcast_to", "expand_dims", "squeeze", "flatten", "concat", "stack", "split", "take",
    "getitem", "astype", "stop_gradient", "clone", "greater", "greater_equal", "less", "less_equal", "equal",
    "not_equal", "logical_and", "logical_or", "logical_not", "isfinite", "isnan", "eigh", "qr",
    "grad", "value_and_grad", "vjp", "jvp", "jacfwd", "jacrev", "hessian", "hvp", "checkpoint", "vmap",
    "gradcheck", "backends", "plugins", "optim", "init", "schedules", "testing", "hookimpl",
    "save", "load",
])

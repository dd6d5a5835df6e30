"""Backend-neutral dtype names.

A dtype is a ``str`` subclass, so ``x.dtype == cr.float32`` and
``x.dtype == "float32"`` both hold and every backend maps the same names.
"""
import builtins

from .errors import DTypeError
from ._state import state


class DType(str):
    __slots__ = ()

    @property
    def is_floating(self):
        return self in FLOATING

    @property
    def itemsize(self):
        return _ITEMSIZE[self]

    def __repr__(self):
        return f"cr.{str(self)}"


_ITEMSIZE = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8,
             "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
ALL = {name: DType(name) for name in _ITEMSIZE}
FLOATING = frozenset(ALL[n] for n in ("float16", "bfloat16", "float32", "float64"))
globals().update(ALL)


def canonical(dtype):
    """The DType for a name, a DType, a NumPy/torch dtype or a Python type (None stays None)."""
    if dtype is None or type(dtype) is DType:
        return dtype
    if dtype is float:
        return ALL[state.default_dtype]
    if dtype is int:
        return ALL["int64"]
    if dtype is builtins.bool:     # this module's own ``bool`` is cr.bool (globals().update below)
        return ALL["bool"]
    if isinstance(dtype, type):    # NumPy scalar types: np.float64, np.int8, np.bool_
        dtype = dtype.__name__
    name = str(dtype).replace("torch.", "")
    name = "bool" if name == "bool_" else name
    try:
        return ALL[name]
    except KeyError:
        raise DTypeError(f"unknown dtype {dtype!r}; use one of {sorted(ALL)}") from None


def set_default_dtype(dtype):
    """Set the dtype Python floats become (``float32`` unless changed)."""
    d = canonical(dtype)
    if d not in FLOATING:
        raise DTypeError(f"the default dtype must be a floating dtype, got {d}; "
                         f"use one of {sorted(FLOATING)}")
    type(state).default_dtype = d  # process-wide, like torch.set_default_dtype


def get_default_dtype():
    return ALL[state.default_dtype]

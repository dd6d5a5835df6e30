"""Small helpers rules share: shapes of tensors or raw arrays, axis normalization."""
import numbers

from ..tensor import Tensor
from .. import backends as _backends
from ..errors import ArgumentError, ShapeError


def shape_of(x):
    """Shape of a Tensor or of a raw backend array (rules see both)."""
    if type(x) is Tensor:
        return x._backend.shape(x._data) if x._trace is None else x.shape
    shape = getattr(x, "shape", None)  # the Array API attribute every backend array has
    if shape is not None:
        return shape
    b = _backends.backend_of_raw(x)
    return () if b is None else tuple(b.shape(x))


def normalize_axis(axis, ndim):
    """None -> None; int or sequence -> sorted tuple of non-negative axes (checked)."""
    if axis is None:
        return None
    axes = (axis,) if type(axis) is int or isinstance(axis, numbers.Integral) else axis
    if not isinstance(axes, (tuple, list)):
        raise ArgumentError(f"axis must be None, an integer or a tuple of integers, got {axis!r}")
    out = []
    for a in axes:   # an int is the common case: checked by type, without the ABC
        if type(a) is not int and (not isinstance(a, numbers.Integral) or isinstance(a, bool)):
            raise ArgumentError(f"axis must be None, an integer or a tuple of integers, got {axis!r}")
        a = int(a)
        if not -ndim <= a < max(ndim, 1):
            raise ShapeError(f"axis {a} is out of range for a tensor with {ndim} dimensions; "
                             f"use an axis in [{-ndim}, {ndim - 1}]")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def kept_shape(shape, axis):
    """Shape of a keepdims=True reduction of ``shape`` over ``axis`` (None = all)."""
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else d for i, d in enumerate(shape))


def reduced_shape(shape, axis):
    """Shape of a keepdims=False reduction of ``shape`` over ``axis`` (None = all)."""
    if axis is None:
        return ()
    return tuple(d for i, d in enumerate(shape) if i not in axis)


def dtype_of(x):
    """Dtype name of a Tensor or raw backend array."""
    if type(x) is Tensor:
        return x._backend.dtype(x._data)
    return _backends.backend_of_raw(x).dtype(x)

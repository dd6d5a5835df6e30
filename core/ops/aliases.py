"""NumPy's other spellings of ops chainrule has, so code written for NumPy (or HIPS autograd)
runs unchanged: each is a name for an op or a few lines of ops, never a rule of its own.

chainrule has no complex dtype: ``real``, ``conj``/``conjugate`` and ``real_if_close`` of a
real tensor are the tensor, ``imag`` is zeros and ``angle`` is 0 or pi, as NumPy gives for
real input.
"""
import math
import numbers

from . import elementwise, reduce, shape
from ._util import shape_of
from ..creation import arange, zeros_like
from ..dtypes import get_default_dtype
from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor

# same op, NumPy's other name
absolute = fabs = elementwise.abs
true_divide = elementwise.divide
amax, amin = reduce.max, reduce.min
concatenate = shape.concat
array_split = shape.split


def _even_split(x, sections, axis, name):
    """np.split's rule: an integer number of sections must divide the axis evenly."""
    if isinstance(sections, numbers.Integral) and sections > 0 and shape_of(x)[axis] % sections:
        raise ShapeError(f"{name}: axis {axis} of length {shape_of(x)[axis]} does not split into "
                         f"{sections} equal parts; use cr.array_split for unequal parts")
    return shape.split(x, sections, axis=axis)


def hsplit(x, sections):
    """Split along axis 1 (axis 0 of a 1-d tensor) into equal parts, as np.hsplit."""
    return _even_split(x, sections, 1 if len(shape_of(x)) > 1 else 0, "hsplit")


def vsplit(x, sections):
    """Split along axis 0 into equal parts, as np.vsplit (at least 2-d)."""
    if len(shape_of(x)) < 2:
        raise ShapeError("vsplit needs a tensor of 2 or more dimensions; use cr.split for 1-d")
    return _even_split(x, sections, 0, "vsplit")


def dsplit(x, sections):
    """Split along axis 2 into equal parts, as np.dsplit (at least 3-d)."""
    if len(shape_of(x)) < 3:
        raise ShapeError("dsplit needs a tensor of 3 or more dimensions")
    return _even_split(x, sections, 2, "dsplit")


def rollaxis(x, axis, start=0):
    """Move ``axis`` to just before position ``start``, as np.rollaxis (cr.moveaxis is the
    clearer spelling)."""
    n = len(shape_of(x))
    if not -n <= axis < n or not -n <= start <= n:
        raise ShapeError(f"rollaxis: axis {axis} or start {start} is out of range for {n} dimensions")
    axis, start = axis % n, start + n if start < 0 else start
    if axis < start:
        start -= 1
    return x if axis == start else shape.moveaxis(x, axis, start)


def linspace(start, stop, num=50, endpoint=True, dtype=None, backend=None):
    """``num`` evenly spaced values from start to stop (``stop`` included if ``endpoint``), as
    np.linspace (start + i * step, the last one stop itself); differentiable in tensor start
    and stop."""
    if not isinstance(num, numbers.Integral) or num < 0:
        raise ArgumentError(f"linspace: num must be a non-negative integer, got {num!r}")
    divisions = (num - 1 if endpoint else num) or 1
    like = start if type(start) is Tensor else stop if type(stop) is Tensor else None
    floating = like.dtype if like is not None and like.dtype.is_floating else get_default_dtype()
    t = arange(num, dtype=dtype or floating, backend=backend or (like.backend if like is not None else None))
    out = start + t * ((stop - start) / divisions)          # NumPy's formula, and its last value:
    if endpoint and num > 1:                                  # stop exactly
        out = elementwise.where(elementwise.equal(t, num - 1), stop, out)
    return out.astype(dtype) if dtype is not None and out.dtype != dtype else out


# complex parts of real tensors (see the module docstring)
def real(x):
    return x


conj = conjugate = real_if_close = real


def imag(x):
    return zeros_like(x)


def angle(x, deg=False):
    """0 where x >= 0, pi where x < 0 (the argument of a real number); zero gradient."""
    half_turn = 180.0 if deg else math.pi
    nothing = elementwise.stop_gradient(x) * 0    # x's dtype and shape; nan stays nan
    return elementwise.where(elementwise.less(x, 0), nothing + half_turn, nothing)


__all__ = ["absolute", "fabs", "true_divide", "amax", "amin", "concatenate", "array_split", "hsplit",
           "vsplit", "dsplit", "rollaxis", "linspace", "real", "conj", "conjugate", "real_if_close",
           "imag", "angle"]

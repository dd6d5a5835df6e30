"""Reductions.  A reduction's VJP broadcasts g back over the reduced axes.

float16 and bfloat16 accumulate in float32 and the result is rounded once to the input
dtype, as in torch (the mean of 10,000 float16 100s is 100, not inf): ``sum`` in its
kernel, reductions built of several steps (mean, var, std, logsumexp, softmax, norms,
losses) through ``in_float32`` (ops) or ``kernels_in_float32`` (forwards on kernels).
"""
import functools
import math
import numbers

from .registry import register, on_kernels, public
from ._util import shape_of, normalize_axis, kept_shape
from .elementwise import where, equal, exp, sqrt, astype_op, isnan, logical_and, logical_or
from ._util import dtype_of, reduced_shape
from .shape import reshape, broadcast_to, axes_argument
from ._batching import reduction, index_of
from ..creation import asarray
from ..errors import ArgumentError
from ..tensor import Tensor
from .. import backends as _backends

LOW_PRECISION = frozenset({"float16", "bfloat16"})


def float32_if_low(x):
    """x cast to float32 if it is float16/bfloat16 (differentiably), else x itself."""
    return astype_op(x, dtype="float32") if dtype_of(x) in LOW_PRECISION else x


def in_float32(reduction):
    """``reduction(x, ...)`` computed in float32 for a float16/bfloat16 ``x`` and cast back
    to x's dtype; the casts are ops, so gradients come back in x's dtype."""
    @functools.wraps(reduction)
    def run(x, *args, **kwargs):
        x = _as_tensor(x, reduction.__name__)
        dt = dtype_of(x)
        if dt not in LOW_PRECISION:
            return reduction(x, *args, **kwargs)
        return astype_op(reduction(astype_op(x, dtype="float32"), *args, **kwargs), dtype=dt)
    return run


def _as_tensor(x, op):
    """Numbers and (nested) lists become tensors, as every op makes them; tensors and raw
    arrays stay as they are; anything else is named."""
    if type(x) is Tensor or _backends.backend_of_raw(x) is not None:
        return x
    if isinstance(x, (numbers.Number, list, tuple)) and not isinstance(x, complex):
        return asarray(x)
    raise ArgumentError(f"{op}: expected a tensor, got {type(x).__name__}")


def kernels_in_float32(forward):
    """The same for a forward on kernels, ``forward(k, x, ...)``."""
    @functools.wraps(forward)
    def run(k, x, *args, **kwargs):
        dt = k.dtype(x)
        if dt not in LOW_PRECISION:
            return forward(k, x, *args, **kwargs)
        return k.astype(forward(k, k.astype(x, "float32"), *args, **kwargs), dt)
    return run


def _spread(g, x, axis, keepdims):
    """g (the reduced shape) broadcast back to x's shape."""
    shape = shape_of(x)
    if not keepdims:
        g = reshape(g, kept_shape(shape, axis))
    return broadcast_to(g, shape)


_sum = register(
    "sum", "sum", batch=reduction("sum"),
    vjp=lambda ans, x, axis=None, keepdims=False: lambda g: _spread(g, x, axis, keepdims),
    jvp="linear", raw_rules=True)


def _extremes(ans, x, axis, keepdims):
    """Where x attains its max (min): equal entries, or the NaNs of a slice whose result is
    NaN.  The gradient is split evenly between them, as torch's ``x.max()`` does (and
    ``torch.amax`` without NaN; torch.amax sends nan to a whole NaN slice instead)."""
    spread = _spread(ans, x, axis, keepdims)
    return logical_or(equal(x, spread), logical_and(isnan(x), isnan(spread)))


def _extreme_vjp(ans, x, axis=None, keepdims=False):
    def vjp(g):
        mask = _extremes(ans, x, axis, keepdims)
        count = _sum(astype_op(mask, dtype=dtype_of(x)), axis=axis, keepdims=True)
        return where(mask, _spread(g, x, axis, keepdims) / count, 0)
    return vjp


def _extreme_jvp(t, ans, x, axis=None, keepdims=False):
    # the same average of the extremes' tangents (torch's JVP of a NaN full max is nan)
    mask = _extremes(ans, x, axis, keepdims)
    count = _sum(astype_op(mask, dtype=dtype_of(x)), axis=axis, keepdims=keepdims)
    return _sum(where(mask, t[0], 0), axis=axis, keepdims=keepdims) / count


_max = register("max", "max", batch=reduction("max"), vjp=_extreme_vjp, jvp=_extreme_jvp, raw_rules=True)
_min = register("min", "min", batch=reduction("min"), vjp=_extreme_vjp, jvp=_extreme_jvp, raw_rules=True)

def _prod_partials(ans, x, axis, keepdims):
    """d prod / d x_i = the product of the other entries: prod / x_i where x_i != 0.  At a zero
    x_i it is (product of the nonzero entries) * (product of the slice's other zeros): that is
    the nonzero product if x_i is the only zero; with a second zero x_j it is 0 but varies as
    x_j (written as such, so the second derivative is right too, as in torch)."""
    zero = equal(x, 0)
    safe = where(zero, 1, x)
    zeros = _sum(astype_op(zero, dtype=dtype_of(x)), axis=axis, keepdims=True)
    others = _spread(_prod(safe, axis=axis, keepdims=keepdims), x, axis, keepdims)
    other_zero = _sum(where(zero, x, 0), axis=axis, keepdims=True) - x   # the other zero's value
    factor = where(equal(zeros, 1), 1, where(equal(zeros, 2), other_zero, 0))
    return where(zero, others * factor, _spread(ans, x, axis, keepdims) / safe)


_prod = register(
    "prod", "prod", batch=reduction("prod"),
    vjp=lambda ans, x, axis=None, keepdims=False: lambda g: _spread(g, x, axis, keepdims) * _prod_partials(
        ans, x, axis, keepdims),
    jvp=lambda t, ans, x, axis=None, keepdims=False: _sum(
        t[0] * _prod_partials(ans, x, axis, keepdims), axis=axis, keepdims=keepdims),
    raw_rules=True)

_argmax = register("argmax", "argmax", batch=index_of("argmax"))
_argmin = register("argmin", "argmin", batch=index_of("argmin"))
_any = register("any", "any", batch=reduction("any"))
_all = register("all", "all", batch=reduction("all"))


def _reducer(op, name):
    def reduce(x, axis=None, keepdims=False):
        axis = normalize_axis(axes_argument(name, axis), len(shape_of(x)))
        return op(x, axis=axis, keepdims=bool(keepdims))
    reduce.__name__ = name
    reduce.__doc__ = f"{name} over ``axis`` (None: all axes), keeping reduced axes if ``keepdims``."
    return public(op, method=True)(reduce)


sum = _reducer(_sum, "sum")
max = _reducer(_max, "max")
min = _reducer(_min, "min")
prod = _reducer(_prod, "prod")
any = _reducer(_any, "any")
all = _reducer(_all, "all")


@public(_argmax, method=True)
def argmax(x, axis=None, keepdims=False):
    return _argmax(x, axis=axis, keepdims=keepdims)


@public(_argmin, method=True)
def argmin(x, axis=None, keepdims=False):
    return _argmin(x, axis=axis, keepdims=keepdims)


def _count(x, axis):
    shape = shape_of(x)
    n = 1
    for i, d in enumerate(shape):
        if axis is None or i in axis:
            n *= d
    return n


@in_float32
def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``."""
    axis = normalize_axis(axes_argument("mean", axis), len(shape_of(x)))
    return _sum(x, axis=axis, keepdims=bool(keepdims)) / _count(x, axis)


def _centered(x, axis):
    return x - _sum(x, axis=axis, keepdims=True) / _count(x, axis)


def _var_forward(x, axis=None, correction=0, keepdims=False):
    centered = _centered(x, axis)
    return _sum(centered * centered, axis=axis, keepdims=keepdims) / (_count(x, axis) - correction)


def _twice_over_dof(x, axis, correction):
    dof = _count(x, axis) - correction
    return 2.0 / dof if dof > 0 else math.inf   # no degrees of freedom: var is nan, so is its slope


# d var / dx = 2 (x - mean) / (N - correction), torch's rule: the path through the mean sums to
# 0 and is left out, so an inf entry leaves -inf/+inf (not nan) at the finite entries, as torch
def _var_vjp(ans, x, axis=None, correction=0, keepdims=False):
    return lambda g: _spread(g, x, axis, keepdims) * (_centered(x, axis) * _twice_over_dof(x, axis, correction))


def _var_jvp(t, ans, x, axis=None, correction=0, keepdims=False):
    return _sum(_centered(x, axis) * t[0], axis=axis, keepdims=keepdims) * _twice_over_dof(x, axis, correction)


_var = register("var", _var_forward, batch=reduction("var"), vjp=_var_vjp, jvp=_var_jvp)


@public(_var, method=True)
@in_float32
def var(x, axis=None, correction=0, keepdims=False):
    """Variance, ``sum((x - mean)^2) / (N - correction)`` (correction=0 as in NumPy)."""
    axis = normalize_axis(axes_argument("var", axis), len(shape_of(x)))
    return _var(x, axis=axis, correction=correction, keepdims=bool(keepdims))


@in_float32
def std(x, axis=None, correction=0, keepdims=False):
    """Standard deviation, ``sqrt(var)``; its derivative is 0 where it is 0 (a constant
    slice), as torch's, not sqrt's 1 / (2 * 0)."""
    return _sqrt_with_zero_slope_at_zero(var(x, axis=axis, correction=correction, keepdims=keepdims))


def _sqrt_with_zero_slope_at_zero(v):
    # the inner where keeps sqrt's rule away from 0, so no 0 * inf = nan reaches v
    zero = equal(v, 0)
    return where(zero, 0, sqrt(where(zero, 1, v)))


def logsumexp_vjp(ans, x, axis=None, keepdims=False):
    return lambda g: _spread(g, x, axis, keepdims) * exp(x - _spread(ans, x, axis, keepdims))


def logsumexp_jvp(t, ans, x, axis=None, keepdims=False):
    return _sum(t[0] * exp(x - _spread(ans, x, axis, keepdims)), axis=axis, keepdims=keepdims)


@on_kernels
@kernels_in_float32
def _logsumexp_forward(k, x, axis=None, keepdims=False):
    shape = k.shape(x)
    if 0 in (shape if axis is None else [shape[i] for i in axis]):   # a sum of nothing: log 0
        return k.full(kept_shape(shape, axis) if keepdims else reduced_shape(shape, axis),
                      -math.inf, k.dtype(x))
    # shift by the max so exp never overflows: stable for logits of +-1000
    m = k.max(x, axis, True)
    m = k.where(k.isfinite(m), m, 0)  # an infinite max would give inf - inf = nan
    out = k.log(k.sum(k.exp(k.subtract(x, m)), axis, True)) + m
    return out if keepdims else k.reshape(out, reduced_shape(k.shape(x), axis))


_logsumexp = register("logsumexp", _logsumexp_forward, batch=reduction("logsumexp"), vjp=logsumexp_vjp, jvp=logsumexp_jvp,
                      raw_rules=True)


@public(_logsumexp, method=True)
def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow."""
    axis = normalize_axis(axes_argument("logsumexp", axis), len(shape_of(x)))
    return _logsumexp(x, axis=axis, keepdims=bool(keepdims))


# composites: no rules of their own, differentiated through the ops they call
register("mean", mean, method=True)
register("std", std, method=True)

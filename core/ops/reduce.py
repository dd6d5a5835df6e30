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
from .elementwise import abs as abs_, isfinite as isfinite_, stop_gradient
from .elementwise import not_equal, logical_not, astype as _astype_public, maximum, minimum
from ._util import dtype_of, reduced_shape
from .shape import reshape, broadcast_to, axes_argument, getitem, concat, axis_argument
from ._batching import reduction, index_of
from ..creation import asarray
from ..errors import ArgumentError, ShapeError
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


def tie_count(mask, x, axis, keepdims):
    """How many entries of each slice ``mask`` marks, counted in x's dtype, or in float32 for
    float16/bfloat16 (whose counts round from 257 (bfloat16) or 2049 (float16) on and reach
    inf at 65520)."""
    dt = dtype_of(x)
    return _sum(astype_op(mask, dtype="float32" if dt in LOW_PRECISION else dt), axis=axis,
                keepdims=keepdims)


def rounded_as(v, x):
    """v (computed in float32 for a float16/bfloat16 x) rounded once to x's dtype."""
    return astype_op(v, dtype=dtype_of(x)) if dtype_of(v) != dtype_of(x) else v


def _extreme_vjp(ans, x, axis=None, keepdims=False):
    def vjp(g):
        mask = _extremes(ans, x, axis, keepdims)
        count = tie_count(mask, x, axis, True)
        return rounded_as(where(mask, _spread(g, x, axis, keepdims) / count, 0), x)
    return vjp


def _extreme_jvp(t, ans, x, axis=None, keepdims=False):
    # the same average of the extremes' tangents (torch's JVP of a NaN full max is nan)
    mask = _extremes(ans, x, axis, keepdims)
    count = tie_count(mask, x, axis, keepdims)
    return rounded_as(_sum(where(mask, float32_if_low(t[0]), 0), axis=axis, keepdims=keepdims) / count, x)


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
    return _argmax(x, axis=_index_axis("argmax", x, axis), keepdims=keepdims)


@public(_argmin, method=True)
def argmin(x, axis=None, keepdims=False):
    return _argmin(x, axis=_index_axis("argmin", x, axis), keepdims=keepdims)


def _index_axis(op, x, axis):
    """argmax/argmin's axis: None or one integer (True is no axis), checked against x."""
    return None if axis is None else axis_argument(op, axis, len(shape_of(x)))


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
    n = _count(x, axis)
    mean = _sum(x, axis=axis, keepdims=True) / n
    if n:   # kept within the slice's range: a constant slice centers to exactly 0, so its var
        # and std are 0 (a mean of equal values may miss them: (0.1 + 0.1 + 0.1) / 3 != 0.1)
        mean = minimum(maximum(mean, _min(x, axis=axis, keepdims=True)), _max(x, axis=axis, keepdims=True))
    centered = x - mean
    return _sum(centered * centered, axis=axis, keepdims=keepdims) / (n - correction)


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
    slice), as torch's, not sqrt's 1 / (2 * 0).

    Computed as s * std(x / s), s the largest |x - mean| of the slice: the squares of values
    near the dtype's limits neither overflow (float32 1e38: std 1.7e38, not inf) nor underflow
    (1e-40: not 0), as torch's CPU std, which accumulates in float64.  s is a constant to
    the derivative (std(x / s) * s does not depend on s)."""
    axis = normalize_axis(axes_argument("std", axis), len(shape_of(x)))
    if _count(x, axis) == 0:   # nothing to scale by: var's nan (or an empty result)
        return _sqrt_with_zero_slope_at_zero(var(x, axis=axis, correction=correction, keepdims=keepdims))
    scale = _max(abs_(x - _sum(x, axis=axis, keepdims=True) / _count(x, axis)), axis=axis, keepdims=True)
    scale = stop_gradient(where(logical_and(scale > 0, isfinite_(scale)), scale, 1.0))
    unit = var(x / scale, axis=axis, correction=correction, keepdims=keepdims)
    return _sqrt_with_zero_slope_at_zero(unit) * (scale if keepdims else reshape(scale, shape_of(unit)))


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
    total = k.sum(k.exp(k.subtract(x, m)), axis, True)
    none = k.equal(total, 0)   # a slice of -inf: log 0 = -inf, without log's divide-by-zero warning
    out = k.where(none, -math.inf, k.log(k.where(none, 1, total))) + m
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


# ------------------------------------------------------------------ scans and differences
# cumsum and cumprod are kernels along one int axis; diff and gradient are differences of
# slices (composites); nansum and nanmean skip NaNs through ``where``, so a NaN gets no gradient.


def _along(axis, part):
    """An index taking ``part`` (a slice) of ``axis`` and everything of the axes before it."""
    return (slice(None),) * axis + (part,)


def _reverse_cumsum(g, axis):
    """For each k the sum of g over positions >= k: the transpose of cumsum."""
    flip = _along(axis, slice(None, None, -1))
    return getitem(_cumsum(getitem(g, flip), axis=axis), flip)


_cumsum = register("cumsum", "cumsum", batch=lambda dims, x, axis: _cumsum(x, axis=axis + 1),
                   vjp=lambda ans, x, axis: lambda g: _reverse_cumsum(g, axis), jvp="linear",
                   reads_inputs=False)


def _zeros_of(x, axis):
    """(x == 0, the first zero of each slice along axis, the second zero)."""
    zero = equal(x, 0)
    count = _cumsum(zero, axis=axis)
    return zero, logical_and(zero, equal(count, 1)), logical_and(zero, equal(count, 2))


def _no_zeros(x):
    """Is x concrete (not traced by a transform) and free of zeros?  Then the rules take
    the short formula (one data-dependent branch, as torch's)."""
    return type(x) is Tensor and x._trace is None and not bool(_any(equal(x, 0)))


# d y_k / d x_i = prod_{j <= k, j != i} x_j, written without dividing by a zero: y_k / x_i where
# x_i != 0 (exact: y_k holds x_i as a factor); at a slice's first zero z1, the running product
# without it; at its second zero z2, x_z1 times the running product without both (0, but its
# slope in x_z1 is what second derivatives need); at later zeros 0.  Exact to second order.
def _cumprod_vjp(ans, x, axis):
    def vjp(g):
        if _no_zeros(x):
            return _reverse_cumsum(g * ans, axis) / x
        zero, first, second = _zeros_of(x, axis)
        plain = where(zero, 0, _reverse_cumsum(g * ans, axis) / where(zero, 1, x))
        without_first = _cumprod(where(first, 1, x), axis=axis)
        without_both = _cumprod(where(logical_or(first, second), 1, x), axis=axis)
        first_value = _sum(where(first, x, 0), axis=axis, keepdims=True)
        return (plain + where(first, _reverse_cumsum(g * without_first, axis), 0)
                + where(second, first_value * _reverse_cumsum(g * without_both, axis), 0))
    return vjp


def _cumprod_jvp(t, ans, x, axis):
    x_dot = t[0]
    if _no_zeros(x):
        return ans * _cumsum(x_dot / x, axis=axis)
    zero, first, second = _zeros_of(x, axis)
    without_first = _cumprod(where(first, 1, x), axis=axis)
    without_both = _cumprod(where(logical_or(first, second), 1, x), axis=axis)
    first_value = _sum(where(first, x, 0), axis=axis, keepdims=True)
    return (ans * _cumsum(where(zero, 0, x_dot / where(zero, 1, x)), axis=axis)
            + _cumsum(where(first, x_dot, 0), axis=axis) * without_first
            + first_value * _cumsum(where(second, x_dot, 0), axis=axis) * without_both)


_cumprod = register("cumprod", "cumprod", batch=lambda dims, x, axis: _cumprod(x, axis=axis + 1),
                    vjp=_cumprod_vjp, jvp=_cumprod_jvp)


def _scan_front(op, name):
    def scan(x, axis=None, dtype=None):
        x = _as_tensor(x, name)
        if dtype is not None:
            x = _astype_public(x, dtype)
        if axis is None:   # NumPy: over the flattened array
            return op(reshape(x, (-1,)), axis=0)
        return op(x, axis=axis_argument(name, axis, len(shape_of(x))))
    scan.__name__ = name
    scan.__doc__ = (f"``numpy.{name}``: running {name[3:]}s along ``axis`` (None: of the flattened "
                    "tensor), computed in ``dtype`` if given.")
    return public(op, method=True)(scan)


cumsum = _scan_front(_cumsum, "cumsum")
cumprod = _scan_front(_cumprod, "cumprod")


def _number_as(v, like, op):
    """A value next to ``like``: a Python number takes like's dtype (weak, as everywhere)."""
    if isinstance(v, numbers.Number) and not isinstance(v, complex):
        return asarray(v, dtype=dtype_of(like), backend=like._backend)
    return _as_tensor(v, op)


def _order(op, n):
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 0:
        raise ArgumentError(f"{op}: the order n must be an integer >= 0, got {n!r}")
    return int(n)


def diff(x, n=1, axis=-1, prepend=None, append=None):
    """``numpy.diff``: the n-th differences along ``axis``, after joining ``prepend`` and
    ``append`` (a scalar is broadcast to one slice) to x along it."""
    x = _as_tensor(x, "diff")
    shape = tuple(shape_of(x))
    if not shape:
        raise ShapeError("diff: a 0-d tensor has no axis to difference; reshape it to (1,) first")
    axis, n = axis_argument("diff", axis, len(shape)), _order("diff", n)
    if n == 0:
        return x
    parts = [x]
    for where_, extra in ((0, prepend), (1, append)):
        if extra is not None:
            extra = _number_as(extra, x, "diff")
            if not shape_of(extra):
                extra = broadcast_to(extra, shape[:axis] + (1,) + shape[axis + 1:])
            parts.insert(where_ * len(parts), extra)
    if len(parts) > 1:
        x = concat(parts, axis=axis)
    later, earlier = _along(axis, slice(1, None)), _along(axis, slice(None, -1))
    boolean = dtype_of(x) == "bool"
    for _ in range(n):
        x = not_equal(getitem(x, later), getitem(x, earlier)) if boolean else \
            getitem(x, later) - getitem(x, earlier)
    return x


def _spacings(op, varargs, f, axes):
    """One spacing per axis: a number (or 0-d tensor), or the coordinates along that axis."""
    if not varargs:
        varargs = (1.0,) * len(axes)
    elif len(varargs) == 1 and (isinstance(varargs[0], numbers.Number)
                                or not shape_of(_as_tensor(varargs[0], op))):
        varargs = varargs * len(axes)
    if len(varargs) != len(axes):
        raise ArgumentError(f"{op}: give no spacing, one scalar, or one per axis ({len(axes)}), got "
                            f"{len(varargs)}")
    out = []
    for h, ax in zip(varargs, axes):
        h = h if isinstance(h, numbers.Number) else _as_tensor(h, op)
        if isinstance(h, numbers.Number) or not shape_of(h):
            out.append(h)
            continue
        if tuple(shape_of(h)) != (shape_of(f)[ax],):
            raise ShapeError(f"{op}: coordinates along axis {ax} must be 1-d of length {shape_of(f)[ax]}, "
                             f"got shape {tuple(shape_of(h))}")
        out.append(_astype_public(h, dtype_of(f)))
    return out


def _gradient_along(f, axis, h, edge_order):
    def at(start, stop=None):
        return getitem(f, _along(axis, slice(start, stop)))
    if isinstance(h, numbers.Number) or not shape_of(h):   # even spacing
        interior = (at(2) - at(0, -2)) / (2.0 * h)
        if edge_order == 1:
            first, last = (at(1, 2) - at(0, 1)) / h, (at(-1) - at(-2, -1)) / h
        else:
            first = (at(0, 1) * -1.5 + at(1, 2) * 2.0 - at(2, 3) * 0.5) / h
            last = (at(-3, -2) * 0.5 - at(-2, -1) * 2.0 + at(-1) * 1.5) / h
        return concat([first, interior, last], axis=axis)
    # coordinates: second-order accurate differences for uneven steps (NumPy's formulas)
    dx = reshape(diff(h), (-1,) + (1,) * (len(shape_of(f)) - 1 - axis))
    step = lambda i, j=None: getitem(dx, (slice(i, j),))   # noqa: E731
    d1, d2 = step(0, -1), step(1)
    interior = (at(0, -2) * (-d2 / (d1 * (d1 + d2))) + at(1, -1) * ((d2 - d1) / (d1 * d2))
                + at(2) * (d1 / (d2 * (d1 + d2))))
    if edge_order == 1:
        first, last = (at(1, 2) - at(0, 1)) / step(0, 1), (at(-1) - at(-2, -1)) / step(-1)
    else:
        a, b = step(0, 1), step(1, 2)
        first = (at(0, 1) * (-(2.0 * a + b) / (a * (a + b))) + at(1, 2) * ((a + b) / (a * b))
                 + at(2, 3) * (-a / (b * (a + b))))
        a, b = step(-2, -1), step(-1)
        last = (at(-3, -2) * (b / (a * (a + b))) + at(-2, -1) * (-(b + a) / (a * b))
                + at(-1) * ((2.0 * b + a) / (b * (a + b))))
    return concat([first, interior, last], axis=axis)


def gradient(f, *varargs, axis=None, edge_order=1):
    """``numpy.gradient``: central differences inside, one-sided (``edge_order`` 1 or 2) at
    the ends, along each of ``axis`` (None: all); ``varargs`` is the spacing: none (1), one
    number for all axes, or one number or coordinate array per axis.  One axis gives a
    tensor, several a tuple (one per axis)."""
    f = _as_tensor(f, "gradient")
    shape = tuple(shape_of(f))
    axis = axes_argument("gradient", axis)
    if axis is None:
        axes = tuple(range(len(shape)))
    else:
        axes = tuple(axis_argument("gradient", a, len(shape)) for a in ((axis,) if isinstance(axis, int) else axis))
    if not axes:
        raise ShapeError(f"gradient: no axis to differentiate along (shape {shape}, axis {axis!r}); "
                         "a 0-d tensor has none: reshape it to (1,) or more first")
    if len(set(axes)) < len(axes):
        raise ArgumentError(f"gradient: axis {axis!r} repeats an axis")
    if edge_order not in (1, 2):
        raise ArgumentError(f"gradient: edge_order must be 1 or 2, got {edge_order!r}")
    if not dtype_of(f).startswith(("float", "bfloat")):
        f = _astype_public(f, "float64")   # NumPy: integer input gives float64 slopes
    spacings = _spacings("gradient", varargs, f, axes)
    outs = []
    for ax, h in zip(axes, spacings):
        if shape[ax] < edge_order + 1:
            raise ShapeError(f"gradient: axis {ax} has {shape[ax]} points; edge_order={edge_order} needs "
                             f"at least {edge_order + 1}")
        outs.append(_gradient_along(f, ax, h, edge_order))
    return outs[0] if len(outs) == 1 else tuple(outs)


def nansum(x, axis=None, keepdims=False):
    """Sum over ``axis`` counting NaNs as 0 (their gradient is 0, as torch.nansum's)."""
    x = _as_tensor(x, "nansum")
    axis = normalize_axis(axes_argument("nansum", axis), len(shape_of(x)))
    return _sum(where(isnan(x), 0, x), axis=axis, keepdims=bool(keepdims))


@in_float32
def nanmean(x, axis=None, keepdims=False):
    """Mean over ``axis`` of the entries that are not NaN (NaN where all are)."""
    axis = normalize_axis(axes_argument("nanmean", axis), len(shape_of(x)))
    kept = logical_not(isnan(x))
    count = _sum(astype_op(kept, dtype=dtype_of(x)), axis=axis, keepdims=bool(keepdims))
    return _sum(where(kept, x, 0), axis=axis, keepdims=bool(keepdims)) / count


register("diff", diff)
register("gradient", gradient)
register("nansum", nansum)
register("nanmean", nanmean)

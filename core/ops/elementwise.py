"""Elementwise ops: arithmetic, transcendental functions, selection.

Each entry holds the op's local Jacobian as a VJP and a JVP rule.  Binary rules
are per argument, so ``x * 2.0`` never computes a gradient for the 2.0.
"""
import math
import numbers

from .registry import register, public, on_kernels
from ._batching import elementwise
from ..creation import zeros_like
from ..dtypes import FLOATING, canonical

# ----------------------------------------------------------------- arithmetic

add = register(
    "add", "add", batch=elementwise("add"),
    vjp=(lambda ans, x, y: lambda g: g,
         lambda ans, x, y: lambda g: g),
    jvp=(lambda x_dot, ans, x, y: x_dot,
         lambda y_dot, ans, x, y: y_dot), raw_rules=True)

subtract = register(
    "subtract", "subtract", batch=elementwise("subtract"),
    vjp=(lambda ans, x, y: lambda g: g,
         lambda ans, x, y: lambda g: -g),
    jvp=(lambda x_dot, ans, x, y: x_dot,
         lambda y_dot, ans, x, y: -y_dot), raw_rules=True)

multiply = register(
    "multiply", "multiply", batch=elementwise("multiply"),
    vjp=(lambda ans, x, y: lambda g: g * y,
         lambda ans, x, y: lambda g: g * x),
    jvp=(lambda x_dot, ans, x, y: x_dot * y,
         lambda y_dot, ans, x, y: x * y_dot), raw_rules=True)

def _divide_jvp(t, ans, x, y):
    # one quotient, as torch writes it: where y is 0 the tangent is torch's inf, not the
    # inf - inf = nan of two per-argument terms
    x_dot, y_dot = t
    if y_dot is None:
        return x_dot / y
    return ((0 if x_dot is None else x_dot) - y_dot * ans) / y


divide = register(
    "divide", "divide", batch=elementwise("divide"),
    vjp=(lambda ans, x, y: lambda g: g / y,
         lambda ans, x, y: lambda g: -g * ans / y),
    jvp=_divide_jvp, raw_rules=True)

# The power rule at its edges is torch's: d(x**y)/dx is 0 wherever y == 0 (so x**0 and the
# second derivative of x**1 are 0 at x = 0, not 0 * inf = nan), and d(x**y)/dy is 0 where
# x == 0 and y >= 0.  A number exponent is tested in Python, as torch's scalar overload does.


def _power_slope_x(g, x, y):
    """g * d(x**y)/dx."""
    if _is_number(y):
        return zeros_like(x) if y == 0 else g * (y * x ** (y - 1))
    return where(equal(y, 0), 0, g * (y * x ** (y - 1)))


def _power_slope_y(g, ans, x, y):
    """g * d(x**y)/dy (g outside the where, as torch: its second order has torch's nans)."""
    if _is_number(x):
        if x != 0:
            return g * (ans * (math.log(x) if x > 0 else math.nan))
        return g * where(greater_equal(y, 0), 0, ans * -math.inf)
    return g * where(logical_and(equal(x, 0), greater_equal(y, 0)), 0, ans * log(x))


def _is_number(v):
    """A Python or NumPy scalar (a constant, tested in Python, as torch's Scalar overload)."""
    return isinstance(v, numbers.Real)


power = register(
    "power", "power", batch=elementwise("power"),
    vjp=(lambda ans, x, y: lambda g: _power_slope_x(g, x, y),
         lambda ans, x, y: lambda g: _power_slope_y(g, ans, x, y)),
    jvp=(lambda x_dot, ans, x, y: _power_slope_x(x_dot, x, y),
         lambda y_dot, ans, x, y: _power_slope_y(y_dot, ans, x, y)), raw_rules=True)

negative = register("negative", "negative", batch=elementwise("negative"), vjp=lambda ans, x: lambda g: -g,
                    jvp="linear", raw_rules=True)

# ------------------------------------------------------------- transcendental

exp = register("exp", "exp", batch=elementwise("exp"), method=True, vjp=lambda ans, x: lambda g: g * ans,
               jvp=lambda t, ans, x: t[0] * ans, raw_rules=True, reads_inputs=False)
log = register("log", "log", batch=elementwise("log"), method=True, vjp=lambda ans, x: lambda g: g / x,
               jvp=lambda t, ans, x: t[0] / x, raw_rules=True)
log1p = register("log1p", "log1p", batch=elementwise("log1p"), method=True, vjp=lambda ans, x: lambda g: g / (x + 1),
                 jvp=lambda t, ans, x: t[0] / (x + 1), raw_rules=True)
expm1 = register("expm1", "expm1", batch=elementwise("expm1"), method=True, vjp=lambda ans, x: lambda g: g * (ans + 1),
                 jvp=lambda t, ans, x: t[0] * (ans + 1), raw_rules=True, reads_inputs=False)
sqrt = register("sqrt", "sqrt", batch=elementwise("sqrt"), method=True, vjp=lambda ans, x: lambda g: g * 0.5 / ans,
                jvp=lambda t, ans, x: t[0] * 0.5 / ans, raw_rules=True, reads_inputs=False)
# d|x|/dx = sign(x), and 0 at a NaN as torch's (NumPy's sign(nan) is nan: the NaN already
# shows in the value, the gradients of the other entries stay clean)
abs = register("abs", "abs", batch=elementwise("abs"), method=True,
               vjp=lambda ans, x: lambda g: g * where(isnan(x), 0, sign(x)),
               jvp=lambda t, ans, x: t[0] * where(isnan(x), 0, sign(x)), raw_rules=True)
sin = register("sin", "sin", batch=elementwise("sin"), method=True, vjp=lambda ans, x: lambda g: g * cos(x),
               jvp=lambda t, ans, x: t[0] * cos(x), raw_rules=True)
cos = register("cos", "cos", batch=elementwise("cos"), method=True, vjp=lambda ans, x: lambda g: -g * sin(x),
               jvp=lambda t, ans, x: -t[0] * sin(x), raw_rules=True)
tan = register("tan", "tan", batch=elementwise("tan"), method=True, vjp=lambda ans, x: lambda g: g * (ans * ans + 1),
               jvp=lambda t, ans, x: t[0] * (ans * ans + 1), raw_rules=True)
tanh = register("tanh", "tanh", batch=elementwise("tanh"), method=True, vjp=lambda ans, x: lambda g: g * (1 - ans * ans),
                jvp=lambda t, ans, x: t[0] * (1 - ans * ans), raw_rules=True, reads_inputs=False)

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
erf = register("erf", "erf", batch=elementwise("erf"), vjp=lambda ans, x: lambda g: g * _TWO_OVER_SQRT_PI * exp(-(x * x)),
               jvp=lambda t, ans, x: t[0] * _TWO_OVER_SQRT_PI * exp(-(x * x)), raw_rules=True)

# ----------------------------------------------------------------- selection
# torch's rules: ties split the gradient evenly; where x or y is NaN neither loses, so both
# get g (torch's maximum_backward), while the JVP is y_dot's (torch's maximum JVP).


def _keep(g, x_loses, tie):
    """g, halved on ties, zeroed where x strictly loses."""
    return where(x_loses, 0, where(tie, g * 0.5, g))


def _select_jvp(x_wins):
    def jvp(t, ans, x, y):
        x_dot, y_dot = (0 if d is None else d for d in t)
        return where(x_wins(x, y), x_dot, where(equal(x, y), (x_dot + y_dot) * 0.5, y_dot))
    return jvp


maximum = register(
    "maximum", "maximum", batch=elementwise("maximum"),
    vjp=(lambda ans, x, y: lambda g: _keep(g, less(x, y), equal(x, y)),
         lambda ans, x, y: lambda g: _keep(g, greater(x, y), equal(x, y))),
    jvp=_select_jvp(lambda x, y: greater(x, y)), raw_rules=True)

minimum = register(
    "minimum", "minimum", batch=elementwise("minimum"),
    vjp=(lambda ans, x, y: lambda g: _keep(g, greater(x, y), equal(x, y)),
         lambda ans, x, y: lambda g: _keep(g, less(x, y), equal(x, y))),
    jvp=_select_jvp(lambda x, y: less(x, y)), raw_rules=True)

where = register(
    "where", "where", batch=elementwise("where"),
    vjp=(None,
         lambda ans, c, x, y: lambda g: where(c, g, 0),
         lambda ans, c, x, y: lambda g: where(c, 0, g)),
    jvp=(None,
         lambda x_dot, ans, c, x, y: where(c, x_dot, 0),
         lambda y_dot, ans, c, x, y: where(c, 0, y_dot)), raw_rules=True)


def _inside(x, lo, hi):
    keep = None
    if lo is not None:
        keep = x >= lo
    if hi is not None:
        keep = x <= hi if keep is None else logical_and(keep, x <= hi)
    return keep


_clip = register(
    "clip", "clip", batch=elementwise("clip"),
    vjp=lambda ans, x, lo=None, hi=None: lambda g: where(_inside(x, lo, hi), g, 0),
    jvp=lambda t, ans, x, lo=None, hi=None: where(_inside(x, lo, hi), t[0], 0), raw_rules=True)


@public(_clip, method=True)
def clip(x, min=None, max=None):
    """Clamp into [min, max] (either may be None); the gradient is 1 inside, 0 outside."""
    if min is None and max is None:
        return x
    return _clip(x, lo=min, hi=max)


@on_kernels
def _astype_forward(k, x, dtype):
    """A new array, as NumPy's astype: a cast to x's own dtype copies too (never aliases x)."""
    return k.copy(x) if k.dtype(x) == dtype else k.astype(x, dtype)


astype_op = register(
    "astype", _astype_forward, batch=elementwise("astype"),
    # the engine casts the cotangent back to x's dtype; no gradient into integers
    vjp=lambda ans, x, dtype: lambda g: g if dtype in FLOATING else None,
    jvp=lambda t, ans, x, dtype: astype_op(t[0], dtype=dtype) if dtype in FLOATING else None,
    raw_rules=True)


clone = register("clone", "copy", batch=elementwise("clone"), method=True, vjp=lambda ans, x: lambda g: g, jvp="linear", raw_rules=True,
                 doc="A copy of x in memory of its own; differentiable (the gradient is g).")


@public(astype_op, method=True)
def astype(x, dtype):
    """Cast to ``dtype`` (differentiable between floating dtypes)."""
    return astype_op(x, dtype=canonical(dtype))


# ----------------------------------------------------- non-differentiable
# (listed in registry.NON_DIFFERENTIABLE)

sign = register("sign", "sign", batch=elementwise("sign"), method=True)
floor = register("floor", "floor", batch=elementwise("floor"))
greater = register("greater", "greater", batch=elementwise("greater"))
greater_equal = register("greater_equal", "greater_equal", batch=elementwise("greater_equal"))
less = register("less", "less", batch=elementwise("less"))
less_equal = register("less_equal", "less_equal", batch=elementwise("less_equal"))
equal = register("equal", "equal", batch=elementwise("equal"))
not_equal = register("not_equal", "not_equal", batch=elementwise("not_equal"))
logical_and = register("logical_and", "logical_and", batch=elementwise("logical_and"))
logical_or = register("logical_or", "logical_or", batch=elementwise("logical_or"))
logical_not = register("logical_not", "logical_not", batch=elementwise("logical_not"))
isfinite = register("isfinite", "isfinite", batch=elementwise("isfinite"))
isnan = register("isnan", "isnan", batch=elementwise("isnan"))
stop_gradient = register("stop_gradient", lambda x: x, batch=elementwise("stop_gradient"), view=True, method=True, doc=(
    "The value of x, treated as a constant by every transform and by backward."))

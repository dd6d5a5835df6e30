"""Elementwise ops: arithmetic, transcendental functions, selection.

Each entry holds the op's local Jacobian as a VJP and a JVP rule.  Binary rules
are per argument, so ``x * 2.0`` never computes a gradient for the 2.0.
"""
import math
import numbers

from .registry import register, public, on_kernels
from ._batching import elementwise
from ._util import dtype_of
from ..backends import backend_of_raw
from ..tensor import Tensor
from ..creation import zeros_like
from ..dtypes import FLOATING, canonical
from ..errors import ArgumentError, DTypeError

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
    # subtract, not -: on raw torch tensors - is torch's, which refuses a bool y
    return where(equal(y, 0), 0, g * (y * x ** subtract(y, 1)))


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


def _where_front(condition, x=None, y=None):
    """x where condition holds, else y (all three broadcast together, as NumPy's ``where``)."""
    if x is None or y is None:   # NumPy's one-argument form is nonzero: a data-dependent shape
        raise ArgumentError("where takes where(condition, x, y); the one-argument form "
                            "(NumPy's nonzero) is not supported: pass both x and y")
    return where(condition, x, y)


_where_front.__name__ = _where_front.__qualname__ = "where"   # what help(cr.where) shows
public(where)(_where_front)


def _inside(x, lo, hi):
    keep = None
    if lo is not None:
        keep = x >= lo
    if hi is not None:
        keep = x <= hi if keep is None else logical_and(keep, x <= hi)
    return keep


# The bounds are arguments, so tensor bounds get gradients, by torch.clamp's rule: x where
# lo <= x <= hi, lo where x < lo (unless hi < lo), hi where x > hi or hi < lo (then out = hi).
def _below(x, lo, hi):
    under = x < lo
    return under if hi is None else logical_and(under, lo <= hi)


def _above(x, lo, hi):
    over = x > hi
    return over if lo is None else logical_or(over, hi < lo)


def _clip_rules(mask):
    """The (vjp maker, jvp) of one argument of clip: its cotangent/tangent where mask holds."""
    return (lambda ans, x, lo, hi: lambda g: where(mask(x, lo, hi), g, 0),
            lambda t, ans, x, lo, hi: where(mask(x, lo, hi), t, 0))


_CLIP_RULES = (_clip_rules(_inside), _clip_rules(_below), _clip_rules(_above))
_clip = register(
    "clip", "clip", batch=elementwise("clip"),
    vjp=tuple(v for v, _ in _CLIP_RULES), jvp=tuple(j for _, j in _CLIP_RULES), raw_rules=True)


@public(_clip, method=True)
def clip(x, min=None, max=None):
    """Clamp into [min, max] (either may be None, or a tensor broadcasting against x); the
    gradient reaches x where it is inside and a tensor bound where it is the answer (torch's rule)."""
    if min is None and max is None:
        return clone(x)   # a new array, as NumPy's (never x itself: x[...] = v would reach x)
    min, max = _bounds_within(x, min, max)
    if min is None and max is None:
        return clone(x)   # a new array, as the kernel's
    return _clip(x, min, max)


def _bounds_within(x, lo, hi):
    """Python int bounds an integer x's dtype cannot hold: past the range on the side that
    clips nothing they are dropped; a lower bound above it (or an upper one below) has no
    answer in x's dtype and is refused, never wrapped around (torch, and NumPy's maximum)."""
    dtype = _array_dtype(x)
    if dtype is None or dtype in FLOATING or dtype == "bool":
        return lo, hi
    bits = 8 * canonical(dtype).itemsize
    low, high = (0, 2 ** bits - 1) if dtype == "uint8" else (-2 ** (bits - 1), 2 ** (bits - 1) - 1)
    lo = None if type(lo) is int and lo < low else lo
    hi = None if type(hi) is int and hi > high else hi
    for v in (lo, hi):
        if type(v) is int and not low <= v <= high:
            raise DTypeError(f"clip: the bound {v} is out of bounds for {dtype} (its values lie in "
                             f"[{low}, {high}]); cast x to a wider dtype first (x.astype('int64'))")
    return lo, hi


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


# ------------------------------------------------- NumPy's elementwise names (issue 13)
# Rules as torch states them (its derivatives.yaml formulas, in chainrule ops), so edge
# points give torch's numbers: arcsin'(+-1) = inf, hypot's derivative at (0, 0) is nan.
# Ops that are exact compositions (square, fmax, deg2rad...) have no rules of their own.

_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _pointwise(name, slope, method=False, reads_inputs=True):
    """A unary kernel op whose derivative is ``slope(ans, x)``: VJP g * slope, JVP t * slope."""
    return register(name, name, batch=elementwise(name), method=method,
                    vjp=lambda ans, x: lambda g: g * slope(ans, x),
                    jvp=lambda t, ans, x: t[0] * slope(ans, x),
                    raw_rules=True, reads_inputs=reads_inputs)


sinh = _pointwise("sinh", lambda ans, x: cosh(x))
cosh = _pointwise("cosh", lambda ans, x: sinh(x))
arcsin = _pointwise("arcsin", lambda ans, x: 1 / sqrt(1 - x * x))
arccos = _pointwise("arccos", lambda ans, x: -1 / sqrt(1 - x * x))
arctan = _pointwise("arctan", lambda ans, x: 1 / (x * x + 1))
arcsinh = _pointwise("arcsinh", lambda ans, x: 1 / sqrt(x * x + 1))
arccosh = _pointwise("arccosh", lambda ans, x: 1 / sqrt(x * x - 1))
arctanh = _pointwise("arctanh", lambda ans, x: 1 / (1 - x * x))
exp2 = _pointwise("exp2", lambda ans, x: ans * _LN2, reads_inputs=False)
log2 = _pointwise("log2", lambda ans, x: 1 / (x * _LN2))
log10 = _pointwise("log10", lambda ans, x: 1 / (x * _LN10))
erfc = _pointwise("erfc", lambda ans, x: -_TWO_OVER_SQRT_PI * exp(-(x * x)))


def _sinc_slope(ans, x):
    """(cos(pi x) - sinc(x)) / x, and 0 at x = 0 (torch's); x = 0 is divided as 1, so no
    0 / 0 enters the graph and the second derivative stays finite there."""
    at_zero = equal(x, 0)
    safe = where(at_zero, 1, x)
    return where(at_zero, 0, (cos(safe * math.pi) - ans) / safe)


sinc = _pointwise("sinc", _sinc_slope)


# d atan2(x1, x2) = (x2 dx1 - x1 dx2) / (x1^2 + x2^2).  torch's backward gives 0 at (0, 0)
# (it zeroes the infinite 1 / 0), its forward mode nan (one quotient, 0 / 0): both kept.

def _atan2_inverse_norm(x1, x2):
    """1 / (x1^2 + x2^2), 0 where that is infinite (torch's backward)."""
    norm = x1 * x1 + x2 * x2
    infinite = equal(norm, 0)
    return where(infinite, 0, 1 / where(infinite, 1, norm))


def _arctan2_jvp(t, ans, x1, x2):
    d1, d2 = t
    top = (0 if d1 is None else d1 * x2) - (0 if d2 is None else d2 * x1)
    return top / (x1 * x1 + x2 * x2)


arctan2 = register(
    "arctan2", "arctan2", batch=elementwise("arctan2"),
    vjp=(lambda ans, x1, x2: lambda g: g * x2 * _atan2_inverse_norm(x1, x2),
         lambda ans, x1, x2: lambda g: -g * x1 * _atan2_inverse_norm(x1, x2)),
    jvp=_arctan2_jvp, raw_rules=True)

hypot = register(
    "hypot", "hypot", batch=elementwise("hypot"),
    vjp=(lambda ans, x, y: lambda g: g * x / ans,
         lambda ans, x, y: lambda g: g * y / ans),
    jvp=(lambda x_dot, ans, x, y: x_dot * x / ans,
         lambda y_dot, ans, x, y: y_dot * y / ans), raw_rules=True)

def _log_of_summed_powers(name, power):
    """log_b(b^x + b^y) (logaddexp: b = e, logaddexp2: b = 2); d/dx = 1 / (1 + b^(y - x)),
    finite for any gap (b^(y - x) = inf gives 0).  subtract, not -: on raw torch tensors -
    is torch's, which refuses a bool operand."""
    return register(
        name, name, batch=elementwise(name),
        vjp=(lambda ans, x, y: lambda g: g / (power(subtract(y, x)) + 1),
             lambda ans, x, y: lambda g: g / (power(subtract(x, y)) + 1)),
        jvp=(lambda x_dot, ans, x, y: x_dot / (power(subtract(y, x)) + 1),
             lambda y_dot, ans, x, y: y_dot / (power(subtract(x, y)) + 1)), raw_rules=True)


logaddexp = _log_of_summed_powers("logaddexp", exp)
logaddexp2 = _log_of_summed_powers("logaddexp2", exp2)

# x - y * floor(x / y), NumPy's sign convention (y's); the derivatives are torch's: 1 for x,
# -floor(x / y) for y (the jumps, where x / y is an integer, have none)
remainder = register(
    "remainder", "remainder", batch=elementwise("remainder"),
    vjp=(lambda ans, x, y: lambda g: g,
         lambda ans, x, y: lambda g: -g * floor(x / y)),
    jvp=(lambda x_dot, ans, x, y: x_dot,
         lambda y_dot, ans, x, y: -y_dot * floor(x / y)), raw_rules=True)
mod = register("mod", lambda x, y: remainder(x, y), doc="NumPy's mod: remainder, the sign of y.")

# the operations composed exactly of others (rules by differentiating through them)
def _square(x):
    if _array_dtype(x) == "bool":   # NumPy squares bools as int8 (bool * bool would be and)
        x = astype(x, "int8")
    return multiply(x, x)


square = register("square", _square, doc="x * x, elementwise.")


def _reciprocal(x):
    dtype = _array_dtype(x)
    if dtype is not None and dtype not in FLOATING:
        raise DTypeError(f"reciprocal of an {dtype} tensor: NumPy's answer is an integer "
                         "(0 for |x| > 1), torch's a float; cast first: "
                         "cr.reciprocal(x.astype('float64'))")
    return divide(1.0, x)


def _array_dtype(x):
    """x's dtype if it is a tensor or a backend's array, else None (numbers, lists...)."""
    if type(x) is Tensor:
        return x.dtype
    return None if backend_of_raw(x) is None else canonical(dtype_of(x))


reciprocal = register("reciprocal", lambda x: _reciprocal(x), doc="1 / x, elementwise (floating x).")

# NumPy's floating ufuncs compute bools and small integers in the smallest float that holds them
_FLOAT_FOR = {"bool": "float16", "int8": "float16", "uint8": "float16", "int16": "float32",
              "int32": "float64", "int64": "float64"}


def _as_float(x):
    """x, cast as NumPy's floating ufuncs (exp, deg2rad) cast an integer or bool input."""
    dtype = _array_dtype(x)
    return x if dtype is None or dtype in FLOATING else astype(x, _FLOAT_FOR[str(dtype)])


_RADIANS_PER_DEGREE = math.pi / 180.0
deg2rad = register("deg2rad", lambda x: multiply(_as_float(x), _RADIANS_PER_DEGREE), doc="Degrees to radians.")
rad2deg = register("rad2deg", lambda x: multiply(_as_float(x), 1 / _RADIANS_PER_DEGREE), doc="Radians to degrees.")
radians = register("radians", lambda x: deg2rad(x), doc="Degrees to radians (deg2rad).")
degrees = register("degrees", lambda x: rad2deg(x), doc="Radians to degrees (rad2deg).")


def _nan_to_pick(pairwise):
    """fmax/fmin: pairwise (maximum/minimum, ties splitting the gradient) where neither is
    NaN, the other operand where one is, NaN where both are; a NaN gets no gradient."""
    def forward(x, y):
        return where(_is_nan(y), x, where(_is_nan(x), y, pairwise(x, y)))
    return forward


def _is_nan(v):
    return v != v if _is_number(v) else isnan(v)


fmax = register("fmax", _nan_to_pick(maximum), doc="Elementwise maximum ignoring NaNs (NumPy's fmax).")
fmin = register("fmin", _nan_to_pick(minimum), doc="Elementwise minimum ignoring NaNs (NumPy's fmin).")

# 1 where x is finite, 0 at the NaNs and infinities it replaces; a product, as torch's (so an
# infinite g or tangent there gives inf * 0 = nan, as in torch)
_nan_to_num = register(
    "nan_to_num", "nan_to_num", batch=elementwise("nan_to_num"),
    vjp=lambda ans, x, **limits: lambda g: g * isfinite(x),
    jvp=lambda t, ans, x, **limits: t[0] * isfinite(x), raw_rules=True)


@public(_nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (None: the dtype's largest
    finite values), as NumPy's; always a new tensor (``copy`` is accepted for NumPy's
    signature).  The gradient is 1 where x is finite, 0 at what was replaced."""
    for name, value in (("nan", nan), ("posinf", posinf), ("neginf", neginf)):
        if value is not None and not _is_number(value) or isinstance(value, bool):
            raise ArgumentError(f"nan_to_num({name}=...) takes a real number (or None for "
                                f"posinf/neginf), got {value!r}")
    if nan is None:
        raise ArgumentError("nan_to_num(nan=None): nan takes a real number, 0.0 by default")
    return _nan_to_num(x, nan=float(nan), posinf=None if posinf is None else float(posinf),
                       neginf=None if neginf is None else float(neginf))


# rounding: steps, so no gradient (listed in registry.NON_DIFFERENTIABLE; torch's is 0)
ceil = register("ceil", "ceil", batch=elementwise("ceil"))
trunc = register("trunc", "trunc", batch=elementwise("trunc"))
_round = register("round", "round", batch=elementwise("round"))


@public(_round, method=True)
def round(x, decimals=0):
    """Round half to even to ``decimals`` places (negative: left of the point), as NumPy's."""
    if not isinstance(decimals, numbers.Integral) or isinstance(decimals, bool):
        raise ArgumentError(f"round(decimals=...) takes an integer, got {decimals!r}")
    return _round(x, decimals=int(decimals))

"""Neural-network functions: activations, softmax family, losses, normalization.

Activations and the softmax family are single ops, each with its local Jacobian
as a VJP and a JVP rule; the losses are fused where that makes the gradient exact
and stable: cross_entropy's gradient is (softmax - onehot) / B.
"""
import functools
import itertools as _itertools
import math
import warnings
import numbers

from ..ops.registry import register as _register, on_kernels, public
from ..ops import (multiply, where, exp, tanh as _tanh, erf, sum as _sum, mean as _mean,
                   var as _var, sqrt, logsumexp as _logsumexp, max as _max)
from ..ops import (reshape as _reshape, argmax as _argmax, take as _take,
                   take_along_axis as _take_along_axis, squeeze as _squeeze)
from ..ops.reduce import _sum as _sum_op, in_float32, kernels_in_float32, _as_tensor, LOW_PRECISION
from ..ops._util import shape_of, dtype_of, normalize_axis
from ..errors import (ShapeError, DTypeError, ArgumentError, IndexingError, HyperparameterError,
                      BackendError)
from ..creation import ones as _ones, _promote
from .._state import no_grad as _no_grad, state as _state
from ..dtypes import FLOATING
from ..tensor import Tensor, make, _batched
from ..ops.shape import expand_dims
from ..ops.linalg import matmul, _matmul_vjp_x, _matmul_vjp_y, _matmul_batch
from ..ops.elementwise import add, astype_op, isfinite, _as_float, isnan, logical_and, logical_or, stop_gradient
from ..ops._batching import aligned, all_batched, elementwise, along_axis
from .. import backends as _backends
from .. import random
from ..creation import tensor

register = functools.partial(_register, namespace="nn")   # this file's ops are cr.nn.<name>

tanh = _tanh

# ----------------------------------------------------------------- linear layer

@on_kernels
def _linear_forward(k, x, weight, bias):
    out = k.matmul(x, weight)
    if "iadd" in k.missing or k.dtype(bias) != k.dtype(out) or len(k.shape(bias)) > 1:
        return k.add(out, bias)   # promotes and broadcasts exactly as x @ W + b
    k.iadd(out, bias)  # the fresh matmul output is ours to update: no second temporary
    return out


def _linear_batch(dims, x, w, b):
    if dims[1] is None and dims[2] is None:
        return _linear(x, w, b)   # (B, ..., in) @ (in, out) + b: the layer's own path
    xw_dim = 0 if 0 in dims[:2] else None
    xw = _matmul_batch(dims[:2], x, w) if xw_dim == 0 else matmul(x, w)
    return add(*aligned((xw, b), (xw_dim, dims[2])))


_linear = register(
    "linear", _linear_forward, batch=_linear_batch,
    # Y = XW + b: dX = g W^T, dW = X^T g, db = g summed over the batch (by the engine)
    vjp=((lambda ans, x, w, b: _matmul_vjp_x(ans, x, w)),
         lambda ans, x, w, b: _matmul_vjp_y(ans, x, w),
         lambda ans, x, w, b: lambda g: g),
    jvp=(lambda x_dot, ans, x, w, b: matmul(x_dot, w),
         lambda w_dot, ans, x, w, b: matmul(x, w_dot),
         lambda b_dot, ans, x, w, b: b_dot), raw_rules=True)


@public(_linear)
def linear(x, weight, bias=None):
    """``x @ weight + bias`` as one op (weight has shape (in, out), so Y = XW);
    one node and one output buffer instead of two."""
    for value in (weight, bias):
        if value is not None:
            _as_tensor(value, "linear")   # arrays and lists go on, as in matmul; a string is named
    if bias is None:
        return matmul(x, weight)
    return _linear(x, weight, bias)


# ---------------------------------------------------------------- activations

relu = register(
    "relu", on_kernels(lambda k, x: k.maximum(x, 0)), batch=elementwise("relu"),
    # 1[relu(x) != 0]: 1 for x > 0 and, as torch, for a NaN (it passes g on, so the NaN shows);
    # a mask product, not where(): NumPy's where is 15x slower here (the multiply kernel, not
    # the raw array's *, so strict Array-API backends may cast the bool)
    vjp=lambda ans, x: lambda g: multiply(g, ans != 0),
    jvp=lambda t, ans, x: multiply(t[0], ans != 0), raw_rules=True, reads_inputs=False)


@on_kernels
def _leaky(k, x, negative_slope):
    return k.where(k.greater(x, 0), x, k.multiply(x, negative_slope))


_leaky_relu = register(
    "leaky_relu", _leaky, batch=elementwise("leaky_relu"),
    vjp=lambda ans, x, negative_slope: lambda g: where(x > 0, g, g * negative_slope),
    jvp=lambda t, ans, x, negative_slope: where(x > 0, t[0], t[0] * negative_slope),
    raw_rules=True)


@public(_leaky_relu)
def leaky_relu(x, negative_slope=0.01):
    _check_number("leaky_relu", "negative_slope", negative_slope)
    return _leaky_relu(x, negative_slope=negative_slope)


@on_kernels
@kernels_in_float32   # float16/bfloat16: 1 / (1 + e) rounded once, as torch's
def _sigmoid_forward(k, x):
    e = k.exp(k.negative(k.abs(x)))          # never overflows
    return k.where(k.greater_equal(x, 0), k.divide(1, k.add(e, 1)), k.divide(e, k.add(e, 1)))


sigmoid = register(
    "sigmoid", _sigmoid_forward, batch=elementwise("sigmoid"),
    vjp=lambda ans, x: lambda g: g * ans * (1 - ans),       # sigma(1 - sigma)
    jvp=lambda t, ans, x: t[0] * ans * (1 - ans), raw_rules=True, reads_inputs=False)

_SQRT_HALF = 1 / math.sqrt(2.0)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _gelu_forward(x, approximate):
    if dtype_of(x) in LOW_PRECISION:   # 1 + erf(x / sqrt 2) cancels to 0 in float16 for x < -3: float32
        return astype_op(_gelu_forward(astype_op(x, dtype="float32"), approximate), dtype=dtype_of(x))
    if approximate == "tanh":
        return 0.5 * x * (1 + _tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1 + erf(x * _SQRT_HALF))


def _gelu_slope(x, approximate):
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        th = _tanh(inner)
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
    # Phi(x) + x phi(x)
    return 0.5 * (1 + erf(x * _SQRT_HALF)) + x * _INV_SQRT_2PI * exp(-0.5 * x * x)


def _times_gelu_slope(v, x, approximate):
    """v * gelu'(x); for float16/bfloat16 x the slope in float32 and the product rounded once."""
    if dtype_of(x) in LOW_PRECISION:
        return astype_op(v * _gelu_slope(astype_op(x, dtype="float32"), approximate), dtype=dtype_of(x))
    return v * _gelu_slope(x, approximate)


_gelu = register(
    "gelu", _gelu_forward, batch=elementwise("gelu"),
    vjp=lambda ans, x, approximate: lambda g: _times_gelu_slope(g, x, approximate),
    jvp=lambda t, ans, x, approximate: _times_gelu_slope(t[0], x, approximate), raw_rules=True)


@public(_gelu)
def gelu(x, approximate="none"):
    """GELU: x * Phi(x) (``approximate="none"``, erf form) or its tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _gelu(x, approximate=approximate)


# ------------------------------------------------------------ softmax family

# float16/bfloat16 logits: softmax, log_softmax and cross_entropy compute in float32 and
# round once to the input dtype, as torch does (kernels_in_float32)
@on_kernels
@kernels_in_float32
def _softmax_forward(k, x, axis):
    if k.shape(x)[axis] == 0:   # nothing to normalize (and no max to shift by): empty, as torch
        return k.copy(x)
    if "softmax" not in k.missing:   # the backend's fused kernel (torch's)
        return k.softmax(x, axis)
    e = k.exp(k.subtract(x, k.max(x, axis, True)))
    return k.divide(e, k.sum(e, axis, True))


@on_kernels
@kernels_in_float32
def _log_softmax_forward(k, x, axis):
    if k.shape(x)[axis] == 0:
        return k.copy(x)
    if "log_softmax" not in k.missing:
        return k.log_softmax(x, axis)
    shifted = k.subtract(x, k.max(x, axis, True))
    return k.subtract(shifted, k.log(k.sum(k.exp(shifted), axis, True)))


_softmax = register(
    "softmax", _softmax_forward, batch=along_axis("softmax"),
    # J = diag(p) - p p^T  =>  J^T g = p * (g - <g, p>)
    vjp=lambda ans, x, axis: lambda g: ans * (g - _sum_op(g * ans, axis=(axis,), keepdims=True)),
    jvp=lambda t, ans, x, axis: ans * (t[0] - _sum_op(t[0] * ans, axis=(axis,), keepdims=True)),
    raw_rules=True)

_log_softmax = register(
    "log_softmax", _log_softmax_forward, batch=along_axis("log_softmax"),
    vjp=lambda ans, x, axis: lambda g: g - exp(ans) * _sum_op(g, axis=(axis,), keepdims=True),
    jvp=lambda t, ans, x, axis: t[0] - _sum_op(exp(ans) * t[0], axis=(axis,), keepdims=True),
    raw_rules=True)


def _check_number(op, name, value, low=None):
    """A hyperparameter that must be a real number (at least ``low``, when given)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value != value or (
            low is not None and value < low):
        bound = "" if low is None else f" >= {low}"
        raise HyperparameterError(f"{op}: {name} must be a number{bound}, got {value!r}")


def _int(op, name, value, low):
    """One int >= low (NumPy's integers too; a bool is not a count) as a Python int."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ArgumentError(f"{op}: {name} must be an int >= {low}, got {value!r}")
    return int(value)


def _flag(op, name, value):
    """A switch: True or False (NumPy's bools and 0/1 too); a string such as 'no' is truthy."""
    try:
        ok = not isinstance(value, (str, bytes)) and value in (False, True)
    except Exception:   # an array's == is elementwise: not a switch
        ok = False
    if not ok:
        raise ArgumentError(f"{op}: {name} must be True or False, got {value!r}")


def _check_probability(op, p):
    """dropout's p, for the function and the module alike."""
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p < 1:
        raise HyperparameterError(f"{op}: p (the probability of zeroing an entry) must be a "
                                  f"number in [0, 1), got {p!r}")


def _tensor_argument(x, op):
    """x as a Tensor: numbers and lists as every op takes them, a backend's raw array wrapped;
    anything else is named (an ArgumentError)."""
    x = _as_tensor(x, op)
    return x if type(x) is Tensor else make(x, _backends.backend_of_raw(x))


def _axis(x, axis):
    """One axis (softmax and its kin normalize along exactly one)."""
    axes = normalize_axis(axis, len(shape_of(x)))
    if len(axes) != 1:
        raise ArgumentError(f"axis must be one integer (the axis to normalize along), got {axis!r}; "
                            "axis=None normalizes over all entries")
    return axes[0]


@public(_softmax)
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis`` (None: over all entries, as SciPy's), shifted so
    it never overflows."""
    x = _as_float(_as_tensor(x, "softmax"))   # integers and bools: in the float exp gives them
    if axis is None:
        return _reshape(_softmax(_reshape(x, (-1,)), axis=0), shape_of(x))
    return _softmax(x, axis=_axis(x, axis))


@public(_log_softmax)
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis`` (None: over all entries); stable for logits of any size."""
    x = _as_float(_as_tensor(x, "log_softmax"))   # integers and bools: in the float exp gives them
    if axis is None:
        return _reshape(_log_softmax(_reshape(x, (-1,)), axis=0), shape_of(x))
    return _log_softmax(x, axis=_axis(x, axis))


logsumexp = _logsumexp

# --------------------------------------------------------------------- losses


def _batch(logits, reduction):
    """What the mean divides by: the number of rows (1 for reduction="sum"/"none")."""
    return _rows(shape_of(logits)) if reduction == "mean" else 1


@on_kernels
@kernels_in_float32
def _ce_forward(k, logits, labels, reduction):
    shape = k.shape(logits)
    last = len(shape) - 1
    logp = _log_softmax_forward(k, logits, last)
    if k.dtype(labels) in FLOATING:   # sum_c y_c log p_c, per row
        picked = k.sum(k.multiply(logp, labels), last, False)
    else:   # log p at each row's label
        picked = k.take_along_axis(logp, k.reshape(labels, tuple(shape[:-1]) + (1,)), last)
    if reduction == "none":
        return k.negative(k.reshape(picked, tuple(shape[:-1])))
    total = k.sum(picked, None, False)
    # -total / n, in one rounding (x / -n is exactly -(x / n))
    return k.divide(total, -_rows(shape)) if reduction == "mean" else k.negative(total)


def _rows(shape):
    """Rows of (..., C) logits: the product of all but the class axis."""
    n = 1
    for d in shape[:-1]:
        n *= d
    return n


def _ce_spread(g, reduction):
    """The incoming cotangent, shaped to broadcast against (..., C)."""
    return expand_dims(g, -1) if reduction == "none" else g


def _ce_vjp_logits(ans, logits, labels, reduction):
    # the fused gradient: (softmax(z) * sum(y) - y) / B, which is (softmax(z) - onehot(y)) / B
    return lambda g: _ce_residual(logits, labels) * (_ce_spread(g, reduction) / _batch(logits, reduction))


@on_kernels
def _ce_residual_forward(k, logits, labels):
    """d(-sum_c y_c log softmax(z)_c)/dz = softmax(z) * sum_c y_c - y, row by row (for
    one-hot rows, softmax(z) - onehot(y)): cross-entropy's gradient before the 1/B.
    Targets that do not sum to 1 keep their sum, as torch's gradient does."""
    shape = k.shape(logits)
    last = len(shape) - 1
    p = _softmax_forward(k, logits, last)
    if k.dtype(labels) in FLOATING:
        return k.subtract(k.multiply(p, k.sum(labels, last, True)), labels)
    rows = k.reshape(p, (-1, shape[-1]))   # p is ours to change: subtract 1 at each row's label
    n = k.shape(rows)[0]
    index = (k.arange(0, n, 1, "int64"), k.reshape(labels, (n,)))
    k.setitem(rows, index, k.subtract(k.getitem(rows, index), 1))
    return k.reshape(rows, shape)


def _target_sums(logits, labels):
    """sum_c y_c per row (kept as an axis) for probability targets; 1 for class labels."""
    if dtype_of(labels) not in FLOATING:
        return 1
    return _sum_op(labels, axis=(len(shape_of(logits)) - 1,), keepdims=True)


def _softmax_transpose(logits, v):
    """v through softmax's Jacobian diag(p) - p p^T (symmetric): p * (v - <v, p>) by rows."""
    last = len(shape_of(logits)) - 1
    p = _softmax(logits, axis=last)
    return p * (v - _sum_op(v * p, axis=(last,), keepdims=True))


def _residual_by_targets(logits, v):
    """v through d(softmax(z) * s - y)/dy = p 1^T - I: <v, p> - v by rows."""
    last = len(shape_of(logits)) - 1
    return _sum_op(v * _softmax(logits, axis=last), axis=(last,), keepdims=True) - v


# one op, so a backward through cross_entropy (under cr.vmap too) is one kernel sequence
_ce_residual = register(
    "cross_entropy_residual", _ce_residual_forward, namespace=None,
    batch=lambda dims, logits, labels: _ce_residual(*all_batched((logits, labels), dims)),
    # r = softmax(z) * s - y with s = sum(y): dr/dz = s J_softmax (symmetric), dr/dy = p 1^T - I
    vjp=(lambda ans, logits, labels: lambda g: _softmax_transpose(logits, g) * _target_sums(logits, labels),
         lambda ans, logits, labels: lambda g: _residual_by_targets(logits, g)),
    jvp=(lambda t, ans, logits, labels: _softmax_transpose(logits, t) * _target_sums(logits, labels),
         lambda t, ans, logits, labels: _softmax(logits, axis=len(shape_of(logits)) - 1)
         * _sum_op(t, axis=(len(shape_of(logits)) - 1,), keepdims=True) - t), raw_rules=True,
    doc="softmax(logits) * sum(targets) - targets (one-hot rows for integer labels): cross_entropy's VJP.")


def _ce_vjp_labels(ans, logits, labels, reduction):
    # only probability targets have a gradient: -log_softmax(z) / B
    if dtype_of(labels) not in FLOATING:
        return lambda g: None

    def vjp(g):
        logp = _log_softmax(logits, axis=len(shape_of(logits)) - 1)
        return -logp * (_ce_spread(g, reduction) / _batch(logits, reduction))
    return vjp


def _ce_jvp_logits(t, ans, logits, labels, reduction):
    per = _sum_op(_ce_residual(logits, labels) * t, axis=(len(shape_of(logits)) - 1,))
    return _reduce(per, logits, reduction)


def _ce_jvp_labels(t, ans, logits, labels, reduction):
    if dtype_of(labels) not in FLOATING:
        return None
    logp = _log_softmax(logits, axis=len(shape_of(logits)) - 1)
    return _reduce(-_sum_op(logp * t, axis=(len(shape_of(logits)) - 1,)), logits, reduction)


def _reduce(per, logits, reduction):
    if reduction == "none":
        return per
    total = _sum_op(per)
    return total / _batch(logits, reduction) if reduction == "mean" else total


def _cross_entropy_batch(dims, logits, labels, reduction):
    """Rows are independent: the per-row losses of the whole batch, then each example's
    own sum or mean."""
    logits, labels = all_batched((logits, labels), dims)
    losses = _cross_entropy(logits, labels, reduction="none")
    axes = tuple(range(1, len(shape_of(losses))))
    if reduction == "none" or not axes:
        return losses
    total = _sum_op(losses, axis=axes)
    return total / _rows(shape_of(losses)[1:] + (1,)) if reduction == "mean" else total


_cross_entropy = register(
    "cross_entropy", _ce_forward, batch=_cross_entropy_batch,
    vjp=(_ce_vjp_logits, _ce_vjp_labels), jvp=(_ce_jvp_logits, _ce_jvp_labels), raw_rules=True)


@public(_cross_entropy)
def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy from logits, fused: stable for logits of +-1000 and with the
    gradient (softmax - onehot) / B.  ``labels``: integer classes of shape
    ``logits.shape[:-1]``, or probabilities of the logits' shape.

    >>> import chainrule as cr
    >>> z = cr.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
    >>> cr.nn.cross_entropy(z, cr.tensor([0])).backward()
    >>> [round(v, 4) for v in z.grad.tolist()[0]]
    [-0.1562, 0.1142, 0.042]
    """
    if reduction not in ("mean", "sum", "none"):
        raise ArgumentError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    logits = _tensor_argument(logits, "cross_entropy")
    if not logits.dtype.is_floating:
        raise DTypeError(f"cross_entropy: logits must be floating, got {logits.dtype}; "
                         "cast with .astype('float32')")
    if not logits.shape:
        raise ShapeError("cross_entropy: logits need a class axis (the last), got a 0-d tensor")
    if not isinstance(labels, Tensor):
        _as_tensor(labels, "cross_entropy")   # a string or None is named, not read as a dtype
        labels = tensor(labels, backend=logits._backend)
    b = labels._backend
    lshape, zshape = tuple(labels.shape), tuple(logits.shape)   # one example's, inside vmap
    if b.dtype(labels._data) in FLOATING:
        if lshape != zshape:
            raise ShapeError(f"cross_entropy: probability targets must have the logits' shape "
                             f"{zshape}, got {lshape}; for class labels pass integers")
        # mixed float dtypes promote as NumPy's (float16 logits, float32 targets: float32); the
        # float32 compute of low-precision logits would otherwise round to the logits' dtype
        wide = _promote(logits.dtype, labels.dtype)
        logits = logits if logits.dtype == wide else astype_op(logits, dtype=wide)
        labels = labels if labels.dtype == wide else astype_op(labels, dtype=wide)
    elif b.dtype(labels._data) == "bool":
        raise DTypeError("cross_entropy: labels must be integer classes or float probabilities, got bool")
    elif lshape != zshape[:-1]:
        raise ShapeError(f"cross_entropy: integer labels must have shape {zshape[:-1]} "
                         f"(logits.shape[:-1]), got {lshape}; for one-hot targets pass floats")
    else:
        _check_classes(labels, zshape[-1])
    return _cross_entropy(logits, labels, reduction=reduction)


def _check_classes(labels, classes):
    """Integer labels are classes in [0, classes): -1 must not wrap around to the last class.
    There is no ignore_index (torch's -100 drops a row from the loss): such labels raise."""
    b, raw = labels._backend, labels._data
    if not math.prod(b.shape(raw)):
        return
    low, high = int(b.min(raw, None, False)), int(b.max(raw, None, False))
    if low < 0 or high >= classes:
        bad = low if low < 0 else high
        raise IndexingError(f"cross_entropy: label {bad} is out of range for {classes} classes; labels "
                            f"must be in [0, {classes - 1}] (negative labels do not wrap around, and there "
                            "is no ignore_index: drop those rows, or pass probabilities)")


def mse_loss(pred, target, reduction="mean"):
    """Mean (or sum) of squared errors."""
    if reduction not in ("mean", "sum", "none"):
        raise ArgumentError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    # a Python number stays one: typed weakly and put on the other operand's backend, as in x - 2
    pred, target = (v if type(v) in (int, float, bool) else _as_tensor(v, "mse_loss") for v in (pred, target))
    shapes = [tuple(shape_of(v)) for v in (pred, target) if type(v) not in (int, float, bool)]
    if len(shapes) == 2 and shapes[0] != shapes[1]:   # (B, 1) against (B,): B * B terms, as torch warns
        warnings.warn(f"mse_loss: target shape {shapes[1]} differs from the prediction's {shapes[0]}; "
                      "they broadcast, which is likely not what you want (a (B, 1) prediction and a "
                      "(B,) target give B * B squared errors); give them the same shape",
                      UserWarning, stacklevel=2)
    d = pred - target
    if reduction == "none":
        return d * d
    return _mean(d * d) if reduction == "mean" else _sum(d * d)


@in_float32
def _standardize(x, eps):
    mu = _mean(x, axis=-1, keepdims=True)
    v = _var(x, axis=-1, keepdims=True)
    # a variance that overflowed would divide every entry to a silent 0: nan shows it, as torch
    v = where(isfinite(v), v, math.nan)
    return (x - mu) / sqrt(v + eps)


def layer_norm(x, eps=1e-5, weight=None, bias=None):
    """Normalize the last axis to zero mean and unit variance (in float32 for float16/bfloat16
    x, as torch), then scale and shift."""
    _check_number("layer_norm", "eps", eps, low=0)
    shape = tuple(shape_of(_as_tensor(x, "layer_norm")))
    if type(x) is Tensor:
        _same_backend("layer_norm", x, weight=weight, bias=bias)
    for name, t in (("weight", weight), ("bias", bias)):
        got = None if t is None else tuple(shape_of(_as_tensor(t, "layer_norm")))
        if got is not None and got != shape[-1:]:
            raise ShapeError(f"layer_norm: {name} must have shape {shape[-1:]} (one per entry of x's "
                             f"last axis, which is normalized; x has shape {shape}), got {got}")
    y = _standardize(x, eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def dropout(x, p=0.5, training=True, seed=None):
    """Zero each entry with probability p and scale the rest by 1/(1-p); identity when not
    training.  The mask comes from ``cr.random`` (seeded); with ``seed=n`` it comes from a
    generator seeded with n instead, the same mask for the same n, shape and backend, and
    cr.random's stream is left where it was."""
    _check_probability("dropout", p)
    _flag("dropout", "training", training)
    x = _tensor_argument(x, "dropout")
    if not training or p == 0:
        return x
    _check_floating("dropout", input=x)   # the mask is drawn in x's dtype
    if x._trace is not None and _batched(x):
        raise ValueError("dropout inside cr.vmap would draw one mask for the whole batch (every "
                         "example dropping the same entries); apply dropout to the batch outside "
                         "vmap, or pass the mask in as a batched argument")
    keep = _uniform_with_seed(x, seed) >= p
    # x times a mask of 0 and 1/(1-p), as torch: a dropped NaN or inf stays NaN (0 * nan),
    # so a bad value still shows (where(keep, x, 0) would hide it)
    return x * (astype_op(keep, dtype=str(x.dtype)) * (1 / (1 - p)))


def _uniform_with_seed(x, seed):
    """U[0, 1) of x's shape: from cr.random, or (seed given) from the backend's generator
    reseeded with ``seed`` and then restored, so the global stream does not move."""
    if seed is None:
        return random.uniform(x.shape, dtype=x.dtype, backend=x._backend)
    seed = _int("dropout", "seed", seed, 0)   # NumPy's integers too
    b = x._backend
    saved = b.rng_state()
    try:
        b.seed(seed)
        return make(b.uniform(tuple(x.shape), str(x.dtype)), b)
    finally:
        b.set_rng_state(saved)


# composites: no rules of their own, differentiated through the ops they call
register("mse_loss", mse_loss)
register("layer_norm", layer_norm)
register("dropout", dropout)


# ====================================================== convolution, pooling, embedding
# Sliding windows: ``unfold`` gathers every kernel window of x (..., C, *spatial) as
# (..., C, K, *out), K = prod(kernel) offsets in row-major order, out = window positions per
# axis.  It is linear; its transpose ``fold`` scatter-adds windows back (overlaps add up) and
# fold's transpose is unfold again.  Convolution is unfold then one matmul with the weight,
# pooling a reduction over K: their derivatives of every order are these two rules.  Both
# kernels are loops over the K offsets of strided slices, on the backend's own kernels.


def _out_sizes(spatial, kernel, stride, padding, dilation):
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1
                 for n, k, s, (lo, hi), d in zip(spatial, kernel, stride, padding, dilation))


def _offsets(kernel):
    return _itertools.product(*(range(k) for k in kernel))


def _window(offset, stride, dilation, out):
    """The strided slices picking kernel offset ``offset`` of every window."""
    return (Ellipsis,) + tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                               for o, s, d, n in zip(offset, stride, dilation, out))


def _interior(spatial, padding):
    return (Ellipsis,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(spatial, padding))


def _padded(k, x, padding, value):
    if not any(lo or hi for lo, hi in padding):
        return x
    shape, nd = tuple(k.shape(x)), len(padding)
    size = tuple(n + lo + hi for n, (lo, hi) in zip(shape[-nd:], padding))
    out = k.full(shape[:-nd] + size, value, k.dtype(x))
    k.setitem(out, _interior(shape[-nd:], padding), x)
    return out


@on_kernels
def _unfold_forward(k, x, kernel_size, stride, padding, dilation, pad_value):
    nd = len(kernel_size)
    out = _out_sizes(k.shape(x)[-nd:], kernel_size, stride, padding, dilation)
    xp = _padded(k, x, padding, pad_value)
    return k.stack([k.getitem(xp, _window(o, stride, dilation, out)) for o in _offsets(kernel_size)],
                   -nd - 1)


@on_kernels
def _fold_forward(k, cols, size, kernel_size, stride, padding, dilation):
    nd = len(kernel_size)
    shape = tuple(k.shape(cols))
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(size, padding))
    acc = k.zeros(shape[:-nd - 1] + padded, k.dtype(cols))
    rest = (slice(None),) * nd
    for i, o in enumerate(_offsets(kernel_size)):
        at = _window(o, stride, dilation, shape[-nd:])
        k.setitem(acc, at, k.add(k.getitem(acc, at), k.getitem(cols, (Ellipsis, i) + rest)))
    if padded == tuple(size):
        return acc
    return k.copy(k.getitem(acc, _interior(size, padding)))


def _unfold_vjp(ans, x, kernel_size, stride, padding, dilation, pad_value):
    size = tuple(shape_of(x)[-len(kernel_size):])
    return lambda g: _fold(g, size=size, kernel_size=kernel_size, stride=stride, padding=padding,
                           dilation=dilation)


def _windows_batch(name):
    """unfold and fold act on the trailing axes of any leading ones: the batch is one more."""
    def rule(dims, x, **params):
        return (_unfold if name == "unfold" else _fold)(x, **params)
    rule.__name__ = f"{name}_batch"
    return rule


_unfold = register(
    "unfold", _unfold_forward, batch=_windows_batch("unfold"), vjp=_unfold_vjp,
    # linear, but the tangent's padding is 0 whatever pads the value (max pooling's -inf)
    jvp=lambda t, ans, x, pad_value, **params: _unfold(t[0], pad_value=0, **params),
    reads_inputs=False)
_fold = register(
    "fold", _fold_forward, batch=_windows_batch("fold"),
    vjp=lambda ans, cols, size, **params: lambda g: _unfold(g, pad_value=0, **params),
    jvp="linear", reads_inputs=False)


def _ints(op, what, value, nd, low):
    """An int or a sequence of nd ints (torch's convention) as a tuple, each >= low."""
    values = (value,) * nd if isinstance(value, numbers.Integral) else value
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    if len(values) != nd or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                    for v in values):
        raise ArgumentError(f"{op}: {what} must be an int or a tuple of {nd} ints, got {value!r}")
    values = tuple(int(v) for v in values)   # NumPy integers too
    if any(v < low for v in values):
        raise ArgumentError(f"{op}: {what} must be >= {low}, got {value!r}")
    return values


def _padding(op, padding, kernel, stride, dilation):
    """(low, high) per spatial axis; "valid" is no padding, "same" keeps the size at stride 1
    (the odd element on the high side, as torch)."""
    nd = len(kernel)
    if padding == "valid":
        return ((0, 0),) * nd
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ArgumentError(f"{op}: padding='same' needs stride 1, got stride {stride}; "
                                "pass integer padding instead")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in total)
    if isinstance(padding, str):
        raise ArgumentError(f"{op}: padding must be an int, a tuple of ints, 'valid' or 'same', "
                            f"got {padding!r}")
    return tuple((p, p) for p in _ints(op, "padding", padding, nd, 0))


def _checked_sizes(op, spatial, kernel, stride, padding, dilation):
    out = _out_sizes(spatial, kernel, stride, padding, dilation)
    if any(n < 1 for n in out):
        raise ShapeError(f"{op}: the input's spatial size {tuple(spatial)} (padded by {padding}) "
                         f"is smaller than the kernel {tuple(kernel)} dilated by {dilation}; "
                         "use a larger input, more padding or a smaller kernel")
    return out


def _check_floating(op, **tensors):
    for name, t in tensors.items():
        if t is not None and not t.dtype.is_floating:
            raise DTypeError(f"{op}: {name} must be floating, got {t.dtype}; cast with .astype('float32')")
    dtypes = {str(t.dtype) for t in tensors.values() if t is not None}
    if len(dtypes) > 1:
        named = ", ".join(f"{n} {t.dtype}" for n, t in tensors.items() if t is not None)
        raise DTypeError(f"{op}: the tensors must share one dtype, got {named}; cast with .astype(...)")


def _spatial_input(op, x, nd):
    """x as (N, C, *spatial) and whether it came unbatched (C, *spatial), as torch accepts."""
    if type(x) is not Tensor:
        raise ArgumentError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        dims = {1: "L", 2: "H, W"}[nd]
        raise ShapeError(f"{op}: input must have shape (N, C, {dims}) or unbatched (C, {dims}), "
                         f"got {x.shape}")
    return (expand_dims(x, 0), True) if x.ndim == nd + 1 else (x, False)


@public(_unfold)
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding windows (im2col), as ``torch.nn.functional.unfold``: (N, C, H, W) ->
    (N, C*kh*kw, L), L windows; linear, with ``fold`` as its transpose."""
    x, unbatched = _spatial_input("unfold", input, 2)
    kernel = _ints("unfold", "kernel_size", kernel_size, 2, 1)
    stride, dilation = _ints("unfold", "stride", stride, 2, 1), _ints("unfold", "dilation", dilation, 2, 1)
    pad = tuple((p, p) for p in _ints("unfold", "padding", padding, 2, 0))
    n, c = x.shape[:2]
    out = _checked_sizes("unfold", x.shape[2:], kernel, stride, pad, dilation)
    cols = _unfold(x, kernel_size=kernel, stride=stride, padding=pad, dilation=dilation, pad_value=0)
    cols = _reshape(cols, (n, c * math.prod(kernel), math.prod(out)))
    return cols[0] if unbatched else cols


@public(_fold)
def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Windows summed back into an image (col2im), as ``torch.nn.functional.fold``:
    (N, C*kh*kw, L) -> (N, C, *output_size); overlapping windows add up."""
    if type(input) is not Tensor or input.ndim not in (2, 3):
        raise ShapeError(f"fold: input must have shape (N, C*kh*kw, L) or unbatched (C*kh*kw, L), "
                         f"got {getattr(input, 'shape', type(input).__name__)}")
    unbatched = input.ndim == 2
    cols = expand_dims(input, 0) if unbatched else input
    size = _ints("fold", "output_size", output_size, 2, 1)
    kernel = _ints("fold", "kernel_size", kernel_size, 2, 1)
    stride, dilation = _ints("fold", "stride", stride, 2, 1), _ints("fold", "dilation", dilation, 2, 1)
    pad = tuple((p, p) for p in _ints("fold", "padding", padding, 2, 0))
    out = _checked_sizes("fold", size, kernel, stride, pad, dilation)
    n, ck, length = cols.shape
    if ck % math.prod(kernel) or length != math.prod(out):
        raise ShapeError(f"fold: input {tuple(input.shape)} does not match kernel {kernel} and output "
                         f"size {size}: axis -2 must be C*{math.prod(kernel)} and axis -1 the "
                         f"{math.prod(out)} windows {out}")
    cols = _reshape(cols, (n, ck // math.prod(kernel), math.prod(kernel)) + out)
    y = _fold(cols, size=size, kernel_size=kernel, stride=stride, padding=pad, dilation=dilation)
    return y[0] if unbatched else y


def _same_backend(op, x, **tensors):
    """Tensors that must live on x's backend (checked before anything is computed or updated)."""
    for name, t in tensors.items():
        if type(t) is Tensor and t.backend != x.backend:
            raise BackendError(f"{op}: input is on {x.backend} but {name} on {t.backend}; move them "
                               f"to one with {name}.to({x.backend!r})")


def _conv(op, nd, x, weight, bias, stride, padding, dilation, groups):
    x, unbatched = _spatial_input(op, x, nd)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and type(t) is not Tensor:   # as the input: tensors, not raw arrays
            raise ArgumentError(f"{op}: {name} must be a Tensor, got {type(t).__name__}; wrap it "
                                f"with cr.tensor({name}, backend={x.backend!r})")
    _check_floating(op, input=x, weight=weight, bias=bias)
    _same_backend(op, x, weight=weight, bias=bias)
    ws = tuple(weight.shape)
    if len(ws) != nd + 2 or 0 in ws[2:]:
        raise ShapeError(f"{op}: weight must have shape (out_channels, in_channels/groups, "
                         f"{', '.join(['k'] * nd)}) with every k >= 1, got {ws}")
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1 or ws[0] % groups:
        raise ArgumentError(f"{op}: groups must be an int >= 1 dividing out_channels {ws[0]}, got {groups!r}")
    groups = int(groups)
    n, c = x.shape[:2]
    if c != ws[1] * groups:
        raise ShapeError(f"{op}: input has {c} channels but weight {ws} with groups={groups} expects "
                         f"{ws[1] * groups} (weight.shape[1] * groups)")
    if bias is not None and tuple(bias.shape) != ws[:1]:
        raise ShapeError(f"{op}: bias must have shape ({ws[0]},), got {tuple(bias.shape)}")
    kernel = ws[2:]
    stride, dilation = _ints(op, "stride", stride, nd, 1), _ints(op, "dilation", dilation, nd, 1)
    pad = _padding(op, padding, kernel, stride, dilation)
    out = _checked_sizes(op, x.shape[2:], kernel, stride, pad, dilation)
    cols = _unfold(x, kernel_size=kernel, stride=stride, padding=pad, dilation=dilation, pad_value=0)
    per_group = c // groups * math.prod(kernel)
    # (G, O/G, C/G*K) @ (N, G, C/G*K, L) -> (N, G, O/G, L): one matmul for every group; without
    # groups no group axis (NumPy's matmul leaves BLAS when it broadcasts a length-1 axis: 10x)
    lead = (groups,) if groups > 1 else ()
    y = matmul(_reshape(weight, lead + (ws[0] // groups, per_group)),
               _reshape(cols, (n,) + lead + (per_group, math.prod(out))))
    y = _reshape(y, (n, ws[0]) + out)
    if bias is not None:
        y = y + _reshape(bias, (ws[0],) + (1,) * nd)
    return y[0] if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation over (N, C, L) with weight (out, C/groups, k), as
    ``torch.nn.functional.conv1d``; padding an int, a tuple, 'valid' or 'same'."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation over (N, C, H, W) with weight (out, C/groups, kh, kw), as
    ``torch.nn.functional.conv2d``: unfold (im2col) and one matmul.

    >>> import chainrule as cr
    >>> x = cr.ones((1, 1, 3, 3))
    >>> cr.nn.conv2d(x, cr.ones((1, 1, 2, 2)), padding=1).tolist()[0][0][0]
    [1.0, 2.0, 2.0, 1.0]
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _pool_args(op, x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    x, unbatched = _spatial_input(op, x, nd)
    _check_floating(op, input=x)
    _check_ceil_mode(op, ceil_mode)
    win = _pool_window(op, nd, kernel_size, stride, padding, dilation)
    _checked_sizes(op, x.shape[2:], win["kernel_size"], win["stride"], win["padding"], win["dilation"])
    return x, unbatched, win


def _check_ceil_mode(op, ceil_mode):
    if ceil_mode:
        raise ArgumentError(f"{op}: ceil_mode=True is not supported; pad the input (padding=...) "
                            "so the last window fits")


def _check_divisor(op, divisor_override):
    """None, or a positive int (NumPy's integers too; a bool is not a divisor)."""
    if divisor_override is not None and (not isinstance(divisor_override, numbers.Integral)
                                         or isinstance(divisor_override, bool) or divisor_override < 1):
        raise ArgumentError(f"{op}: divisor_override must be a positive int, got {divisor_override!r}")


def _pool_window(op, nd, kernel_size, stride, padding, dilation):
    """kernel_size, stride, (low, high) padding and dilation of a pooling, checked (the pooling
    modules check them at construction with this too)."""
    kernel = _ints(op, "kernel_size", kernel_size, nd, 1)
    stride = kernel if stride is None or stride == () else _ints(op, "stride", stride, nd, 1)
    dilation = _ints(op, "dilation", dilation, nd, 1)
    pad = _ints(op, "padding", padding, nd, 0)
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        raise ArgumentError(f"{op}: padding {pad} must be at most half the kernel size {kernel}")
    return dict(kernel_size=kernel, stride=stride, padding=tuple((p, p) for p in pad), dilation=dilation)


def _max_over_windows(cols, nd, inside=None):
    """The max over the K axis of (..., K, *out), its gradient to the first maximum of each
    window (torch's rule for ties): a pick at the argmax, linear in the windows (and no sum,
    which autocast would run in float32).  ``inside`` (K, *out), where padding is: a
    -inf padding entry ties with a window whose input entries are all -inf, and the
    gradient must go to the first maximum inside the input, as torch's."""
    k_axis = len(shape_of(cols)) - nd - 1
    if inside is None:
        first = _argmax(cols, axis=k_axis, keepdims=True)
    else:
        v = stop_gradient(cols)
        top = _max(v, axis=k_axis, keepdims=True)     # nan if the window holds one: nan is the max
        candidates = logical_and(inside, logical_or(v == top, isnan(v)))
        first = _argmax(candidates, axis=k_axis, keepdims=True)
    return _squeeze(_take_along_axis(cols, first, axis=k_axis), axis=k_axis)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """The max of each window of (N, C, H, W), as ``torch.nn.functional.max_pool2d`` (padding
    counts as -inf; the gradient goes to each window's first maximum, as torch's)."""
    if return_indices:
        raise ArgumentError("max_pool2d: return_indices=True is not supported; compute "
                            "cr.argmax over cr.nn.unfold(x, ...) windows instead")
    x, unbatched, win = _pool_args("max_pool2d", input, 2, kernel_size, stride, padding, dilation,
                                   ceil_mode)
    inside = None
    if any(lo for lo, _ in win["padding"]):   # which window entries are the input's, not padding
        ones = _ones(tuple(x.shape[2:]), dtype=str(x.dtype), backend=x.backend)
        inside = _unfold(ones, pad_value=0, **win) != 0
    y = _max_over_windows(_unfold(x, pad_value=-math.inf, **win), 2, inside)
    return y[0] if unbatched else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """The mean of each window of (N, C, H, W), as ``torch.nn.functional.avg_pool2d``;
    ``count_include_pad=False`` divides by the window's elements inside the input."""
    x, unbatched, win = _pool_args("avg_pool2d", input, 2, kernel_size, stride, padding, 1, ceil_mode)
    _flag("avg_pool2d", "count_include_pad", count_include_pad)
    total = _sum(_unfold(x, pad_value=0, **win), axis=-3)
    _check_divisor("avg_pool2d", divisor_override)
    if divisor_override is not None:
        y = total / int(divisor_override)
    elif count_include_pad or not any(lo for lo, _ in win["padding"]):
        y = total / math.prod(win["kernel_size"])
    else:   # how many of each window's elements are the input's (a constant)
        inside = _ones(tuple(x.shape[2:]), dtype=str(x.dtype), backend=x.backend)
        y = total / _sum(_unfold(inside, pad_value=0, **win), axis=0)
    if y.dtype != x.dtype:   # autocast sums float16 in float32: the pool keeps x's dtype, as torch's
        y = astype_op(y, dtype=str(x.dtype))
    return y[0] if unbatched else y


def embedding(input, weight, padding_idx=None):
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``input`` (any shape), as
    ``torch.nn.functional.embedding``; the gradient scatter-adds into the rows (repeated
    indices add up), and the row ``padding_idx`` gets none."""
    if type(weight) is not Tensor or weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be a 2-D (num_embeddings, dim) tensor, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    if type(input) is not Tensor:
        _as_tensor(input, "embedding")   # a string or None is named, not read as a dtype
        input = tensor(input, backend=weight._backend)
    if input.dtype.is_floating or str(input.dtype) == "bool":
        raise DTypeError(f"embedding: input must hold integer indices, got {input.dtype}; "
                         "cast with .astype('int64')")
    rows = weight.shape[0]
    _check_rows(input, rows)
    out = _take(weight, input, axis=0)
    if padding_idx is None:
        return out
    padding_idx = _padding_idx("embedding", padding_idx, rows)
    return _embedding_padding(out, expand_dims(input != padding_idx % rows, -1))


def _padding_idx(op, value, rows):
    """A row of the table as an int (NumPy's integers too; a bool is not a row)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not -rows <= value < rows:
        raise ArgumentError(f"{op}: padding_idx must be an int in [{-rows}, {rows - 1}], got {value!r}")
    return int(value)


# torch's padding_idx is a convention on the gradient only: the VJP leaves the padding row's
# gradient zero, the JVP stays the true derivative (torch's forward mode passes it on too)
_embedding_padding = register(
    "embedding_padding", on_kernels(lambda k, rows, trained: k.copy(rows)),
    batch=elementwise("embedding_padding"),
    vjp=(lambda ans, rows, trained: lambda g: where(trained, g, 0), None),
    jvp=(lambda rows_dot, ans, rows, trained: rows_dot, None), namespace=None, reads_inputs=False,
    doc="The embedding rows, their gradient zeroed where ``trained`` is False (padding_idx).")


def _check_rows(input, rows):
    b, raw = input._backend, input._data     # the whole batch's indices inside vmap
    if not math.prod(b.shape(raw)):
        return
    low, high = int(b.min(raw, None, False)), int(b.max(raw, None, False))
    if low < 0 or high >= rows:
        raise IndexingError(f"embedding: index {low if low < 0 else high} is out of range for "
                            f"{rows} rows; indices must be in [0, {rows - 1}] (negative ones do "
                            "not wrap around)")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Normalize each channel (axis 1) of (N, C, *), as ``torch.nn.functional.batch_norm``:
    training uses the batch's mean and biased variance and updates ``running_mean`` /
    ``running_var`` in place (momentum, unbiased variance); eval uses the running statistics."""
    _check_number("batch_norm", "eps", eps, low=0)   # momentum: checked below, with its range
    _flag("batch_norm", "training", training)
    input = _tensor_argument(input, "batch_norm")
    _check_floating("batch_norm", input=input)   # an integer batch would update the statistics
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and type(t) is not Tensor:   # updated in place: it must be ours
            raise ArgumentError(f"batch_norm: {name} must be a Tensor (updated in place) or None, "
                                f"got {type(t).__name__}; create it with cr.tensor({name})")
        if t is not None and not t.dtype.is_floating:
            raise DTypeError(f"batch_norm: {name} must be floating, got {t.dtype}; cast with "
                             ".astype('float32')")
    _same_backend("batch_norm", input, running_mean=running_mean, running_var=running_var,
                  weight=weight, bias=bias)
    shape = tuple(input.shape)
    if len(shape) < 2:
        raise ShapeError(f"batch_norm: input must have shape (N, C, *), got {shape}")
    c = shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        got = None if t is None else tuple(shape_of(_as_tensor(t, "batch_norm")))
        if got is not None and got != (c,):
            raise ShapeError(f"batch_norm: {name} must have shape ({c},) (one per channel), got {got}")
    _check_momentum("batch_norm", momentum)
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    if training:
        mean, var = _batch_statistics(input, running_mean, running_var, momentum)
    elif running_mean is None or running_var is None:
        raise ArgumentError("batch_norm: training=False normalizes with running_mean and running_var; "
                            "pass them, or training=True to use the batch's statistics")
    else:
        mean, var = _reshape(running_mean, per_channel), _reshape(running_var, per_channel)
    y = (input - mean) / sqrt(var + eps)
    if weight is not None:
        y = y * _reshape(weight, per_channel)
    if bias is not None:
        y = y + _reshape(bias, per_channel)
    return y


def _check_momentum(op, momentum):
    if not isinstance(momentum, numbers.Real) or isinstance(momentum, bool) or not 0 <= momentum <= 1:
        raise ArgumentError(f"{op}: momentum must be a number in [0, 1], got {momentum!r} "
                            "(a cumulative average, torch's momentum=None, is not supported)")


def _batch_statistics(input, running_mean, running_var, momentum):
    shape = tuple(input.shape)
    axes = (0,) + tuple(range(2, len(shape)))
    count = math.prod(shape) // shape[1]
    if count < 2:
        raise ShapeError(f"batch_norm: training needs more than one value per channel, got input "
                         f"{shape}; use a larger batch or training=False")
    mean = _mean(input, axis=axes, keepdims=True)
    var = _var(input, axis=axes, keepdims=True)
    if running_mean is not None or running_var is not None:
        if input._trace is not None and _batched(input):
            raise ArgumentError("batch_norm: running statistics cannot be updated inside cr.vmap "
                                "(one update per example); pass running_mean=running_var=None, or "
                                "normalize the whole batch outside vmap")
        if not _state.replaying:   # cr.checkpoint recomputing this forward: updated once already
            _update(running_mean, mean, momentum, 1.0)
            _update(running_var, var, momentum, count / (count - 1))   # unbiased, as torch
    return mean, var


def _update(stat, batch_value, momentum, scale):
    """stat <- (1 - momentum) stat + momentum * scale * batch_value, in place, untracked."""
    if stat is None:
        return
    b = stat._backend
    value = b.reshape(batch_value._data, tuple(stat.shape))   # the concrete value, never traced
    value = b.astype(b.multiply(value, momentum * scale), b.dtype(stat._data))
    with _no_grad():
        stat.copy_(make(b.add(b.multiply(stat._data, 1 - momentum), value), b))


@on_kernels
def _softplus_forward(k, x, beta, threshold):
    z = k.multiply(x, beta)
    # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): never overflows
    soft = k.add(k.maximum(z, 0), k.log1p(k.exp(k.negative(k.abs(z)))))
    return k.where(k.greater(z, threshold), x, k.divide(soft, beta))


def _softplus_grad(g, x, beta, threshold):
    z = x * beta
    return where(z > threshold, g, g * sigmoid(z))   # linear above the threshold, as torch


_softplus = register(
    "softplus", _softplus_forward, batch=elementwise("softplus"),
    vjp=lambda ans, x, beta, threshold: lambda g: _softplus_grad(g, x, beta, threshold),
    jvp=lambda t, ans, x, beta, threshold: _softplus_grad(t[0], x, beta, threshold))


@public(_softplus)
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold, as
    ``torch.nn.functional.softplus``."""
    if not isinstance(beta, numbers.Real) or isinstance(beta, bool) or not 0 < beta < math.inf:
        raise ArgumentError(f"softplus: beta must be a positive number (finite), got {beta!r}")
    _check_number("softplus", "threshold", threshold)
    return _softplus(x, beta=beta, threshold=threshold)


register("conv1d", conv1d)
register("conv2d", conv2d)
register("max_pool2d", max_pool2d)
register("avg_pool2d", avg_pool2d)
register("embedding", embedding)
register("batch_norm", batch_norm)

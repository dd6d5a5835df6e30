"""Neural-network functions: activations, softmax family, losses, normalization.

Activations and the softmax family are single ops, each with its local Jacobian
as a VJP and a JVP rule; the losses are fused where that makes the gradient exact
and stable: cross_entropy's gradient is (softmax - onehot) / B.
"""
import functools
import math

from ..ops.registry import register as _register, on_kernels, public
from ..ops import (multiply, where, exp, tanh as _tanh, erf, sum as _sum, mean as _mean,
                   var as _var, sqrt, logsumexp as _logsumexp)
from ..ops.reduce import _sum as _sum_op, in_float32, kernels_in_float32
from ..ops._util import shape_of, dtype_of, normalize_axis
from ..errors import ShapeError, DTypeError
from ..dtypes import FLOATING
from ..tensor import Tensor, make, _batched
from ..ops.shape import expand_dims
from ..ops.linalg import matmul, _matmul_vjp_x, _matmul_vjp_y, _matmul_batch
from ..ops.elementwise import add, equal, astype_op, isfinite
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
    return _leaky_relu(x, negative_slope=negative_slope)


@on_kernels
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


_gelu = register(
    "gelu", _gelu_forward, batch=elementwise("gelu"),
    vjp=lambda ans, x, approximate: lambda g: g * _gelu_slope(x, approximate),
    jvp=lambda t, ans, x, approximate: t[0] * _gelu_slope(x, approximate), raw_rules=True)


@public(_gelu)
def gelu(x, approximate="none"):
    """GELU: x * Phi(x) (``approximate="none"``, erf form) or its tanh approximation."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _gelu(x, approximate=approximate)


# ------------------------------------------------------------ softmax family

# float16/bfloat16 logits: softmax, log_softmax and cross_entropy compute in float32 and
# round once to the input dtype, as torch does (kernels_in_float32)
@on_kernels
@kernels_in_float32
def _softmax_forward(k, x, axis):
    if k.shape(x)[axis] == 0:   # nothing to normalize (and no max to shift by): empty, as torch
        return k.copy(x)
    e = k.exp(k.subtract(x, k.max(x, axis, True)))
    return k.divide(e, k.sum(e, axis, True))


@on_kernels
@kernels_in_float32
def _log_softmax_forward(k, x, axis):
    if k.shape(x)[axis] == 0:
        return k.copy(x)
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


def _axis(x, axis):
    return normalize_axis(axis, len(shape_of(x)))[0]


@public(_softmax)
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, shifted so it never overflows."""
    return _softmax(x, axis=_axis(x, axis))


@public(_log_softmax)
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``; stable for logits of any size."""
    return _log_softmax(x, axis=_axis(x, axis))


logsumexp = _logsumexp

# --------------------------------------------------------------------- losses


def _one_hot(labels, num_classes, dtype):
    """Rows of the identity picked by integer labels (raw or Tensor, as given)."""
    is_tensor = type(labels) is Tensor
    b = labels._backend if is_tensor else _backends.backend_of_raw(labels)
    if is_tensor and labels._trace is not None:   # batched by vmap: with ops, which batch
        classes = make(b.arange(0, num_classes, 1, "int64"), b)
        return astype_op(equal(expand_dims(labels, -1), classes), dtype=dtype)
    raw = labels._data if is_tensor else labels
    hot = b.equal(b.expand_dims(raw, -1), b.arange(0, num_classes, 1, "int64"))
    hot = b.astype(hot, dtype)
    return make(hot, b) if is_tensor else hot


def _targets(logits, labels):
    """Target probabilities: one-hot rows for integer labels, the labels themselves otherwise."""
    if dtype_of(labels) in FLOATING:
        return labels
    return _one_hot(labels, shape_of(logits)[-1], dtype_of(logits))


def _batch(logits, reduction):
    """What the mean divides by: the number of rows (1 for reduction="sum"/"none")."""
    return _rows(shape_of(logits)) if reduction == "mean" else 1


@on_kernels
@kernels_in_float32
def _ce_forward(k, logits, labels, reduction):
    last = len(k.shape(logits)) - 1
    logp = _log_softmax_forward(k, logits, last)
    if k.dtype(labels) in FLOATING:
        losses = k.negative(k.sum(k.multiply(logp, labels), last, False))
    else:  # logp[i, y_i] on rows flattened to 2-D
        rows = k.reshape(logp, (-1, k.shape(logp)[-1]))
        n = k.shape(rows)[0]
        picked = k.getitem(rows, (k.arange(0, n, 1, "int64"), k.reshape(labels, (n,))))
        losses = k.negative(k.reshape(picked, k.shape(labels)))
    if reduction == "none":
        return losses
    total = k.sum(losses, None, False)
    return k.divide(total, _rows(k.shape(logits))) if reduction == "mean" else total


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
    # the fused gradient: (softmax(z) - onehot(y)) / B
    def vjp(g):
        if type(logits) is not Tensor:     # a plain backward: the same formula on kernels
            return _ce_grad_on_kernels(_backends.backend_of_raw(logits), logits, labels, reduction, g)
        p = _softmax(logits, axis=len(shape_of(logits)) - 1)
        return (p - _targets(logits, labels)) * (_ce_spread(g, reduction) / _batch(logits, reduction))
    return vjp


def _ce_grad_on_kernels(k, logits, labels, reduction, g):
    shape = k.shape(logits)
    p = _softmax_forward(k, logits, len(shape) - 1)
    if k.dtype(labels) in FLOATING:
        p = k.subtract(p, labels)
    else:   # p - onehot: subtract 1 at each row's label (p is ours to change)
        rows = k.reshape(p, (-1, shape[-1]))
        n = k.shape(rows)[0]
        index = (k.arange(0, n, 1, "int64"), k.reshape(labels, (n,)))
        k.setitem(rows, index, k.subtract(k.getitem(rows, index), 1))
        p = k.reshape(rows, shape)
    scale = k.divide(g, _rows(shape)) if reduction == "mean" else g
    if reduction == "none":
        scale = k.reshape(scale, tuple(k.shape(scale)) + (1,))
    return k.multiply(p, scale)


def _ce_vjp_labels(ans, logits, labels, reduction):
    # only probability targets have a gradient: -log_softmax(z) / B
    if dtype_of(labels) not in FLOATING:
        return lambda g: None

    def vjp(g):
        logp = _log_softmax(logits, axis=len(shape_of(logits)) - 1)
        return -logp * (_ce_spread(g, reduction) / _batch(logits, reduction))
    return vjp


def _ce_jvp_logits(t, ans, logits, labels, reduction):
    p = _softmax(logits, axis=len(shape_of(logits)) - 1)
    per = _sum_op((p - _targets(logits, labels)) * t, axis=(len(shape_of(logits)) - 1,))
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
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not logits.dtype.is_floating:
        raise DTypeError(f"cross_entropy: logits must be floating, got {logits.dtype}; "
                         "cast with .astype('float32')")
    if not logits.shape:
        raise ShapeError("cross_entropy: logits need a class axis (the last), got a 0-d tensor")
    if not isinstance(labels, Tensor):
        labels = tensor(labels, backend=logits._backend)
    b = labels._backend
    lshape, zshape = tuple(labels.shape), tuple(logits.shape)   # one example's, inside vmap
    if b.dtype(labels._data) in FLOATING:
        if lshape != zshape:
            raise ShapeError(f"cross_entropy: probability targets must have the logits' shape "
                             f"{zshape}, got {lshape}; for class labels pass integers")
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
        raise IndexError(f"cross_entropy: label {bad} is out of range for {classes} classes; labels must "
                         f"be in [0, {classes - 1}] (negative labels do not wrap around, and there is no "
                         "ignore_index: drop those rows, or pass probabilities)")


def mse_loss(pred, target, reduction="mean"):
    """Mean (or sum) of squared errors."""
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
    y = _standardize(x, eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def dropout(x, p=0.5, training=True):
    """Zero each entry with probability p and scale the rest by 1/(1-p); identity when not
    training.  The mask comes from ``cr.random`` (seeded)."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    if x._trace is not None and _batched(x):
        raise ValueError("dropout inside cr.vmap would draw one mask for the whole batch (every "
                         "example dropping the same entries); apply dropout to the batch outside "
                         "vmap, or pass the mask in as a batched argument")
    keep = random.uniform(x.shape, dtype=x.dtype, backend=x._backend) >= p
    return where(keep, x / (1 - p), 0)


# composites: no rules of their own, differentiated through the ops they call
register("mse_loss", mse_loss)
register("layer_norm", layer_norm)
register("dropout", dropout)

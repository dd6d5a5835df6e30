"""Built-in initializers (entry point ``initializers``), drawn from ``cr.random``.

Each factory takes options and returns ``init(shape, fan_in=None, fan_out=None,
dtype=None, backend=None) -> Tensor``; formulas as torch.nn.init, in chainrule's
(in, out) weight layout (see ``chainrule.init.fans``).

A shape with a zero in it (``(0, 3)``) gives an empty tensor, as torch.nn.init's no-op
on an empty tensor, instead of dividing by a fan of 0.  Initializers that draw at
random refuse an integer dtype (they would round every draw); zeros, ones and
constant take any dtype.
"""
import math
import operator

import chainrule as cr
from chainrule.dtypes import canonical
from chainrule.errors import DTypeError, HyperparameterError, ShapeError
from chainrule.hookspecs import hookimpl
from chainrule.init import fans, gain
from chainrule.tensor import make


def _initializer(draw, random=True):
    """Wrap ``draw(shape, fan_in, fan_out, dtype, backend)`` in the public signature."""
    def init(shape, fan_in=None, fan_out=None, dtype=None, backend=None):
        shape = _shape(shape)
        if random:
            _floating(dtype)
        if 0 in shape:          # nothing to draw (and no fan to divide by): as torch.nn.init
            return cr.zeros(shape, dtype=dtype, backend=backend)
        f_in, f_out = fans(shape, fan_in, fan_out)
        for name, fan in (("fan_in", f_in), ("fan_out", f_out)):
            if not (isinstance(fan, (int, float)) and fan > 0):
                raise HyperparameterError(f"{name} must be a number > 0, got {fan!r}")
        return draw(shape, f_in, f_out, dtype, backend)
    return init


def _shape(shape):
    """The shape as a tuple of ints >= 0, or a ShapeError naming it."""
    try:
        dims = (operator.index(shape),) if not hasattr(shape, "__iter__") else \
            tuple(operator.index(d) for d in shape)
    except TypeError:
        dims = None
    if dims is None or isinstance(shape, bool) or any(d < 0 or isinstance(d, bool) for d in dims):
        raise ShapeError(f"an initializer takes a shape of integers >= 0 (such as (256, 128)), "
                         f"got {shape!r}")
    return dims


def _floating(dtype):
    d = canonical(dtype)
    if d is not None and not d.is_floating:
        raise DTypeError(f"this initializer draws random floating-point values, so dtype {d} would "
                         "round them away; use a floating dtype (float32) and cast afterwards")


def _normal(std, mean=0.0):
    return _initializer(lambda s, fi, fo, dt, b: cr.random.normal(s, mean, std, dtype=dt, backend=b))


def _positive(name, value):
    if not isinstance(value, (int, float)) or not value > 0:
        raise HyperparameterError(f"{name} must be a number > 0, got {value!r}")


def zeros():
    return _initializer(lambda s, fi, fo, dt, b: cr.zeros(s, dtype=dt, backend=b), random=False)


def ones():
    return _initializer(lambda s, fi, fo, dt, b: cr.ones(s, dtype=dt, backend=b), random=False)


def constant(value):
    return _initializer(lambda s, fi, fo, dt, b: cr.full(s, value, dtype=dt, backend=b), random=False)


def normal(mean=0.0, std=1.0):
    """N(mean, std^2)."""
    _positive("std", std)
    return _normal(std, mean)


def uniform(low=0.0, high=1.0):
    """U[low, high)."""
    if not high > low:
        raise HyperparameterError(f"uniform needs high > low, got low={low!r}, high={high!r}")
    return _initializer(lambda s, fi, fo, dt, b: cr.random.uniform(s, low, high, dtype=dt, backend=b))


def truncated_normal(mean=0.0, std=1.0, a=-2.0, b=2.0):
    """N(mean, std^2) restricted to [a, b] (absolute bounds, as torch.nn.init.trunc_normal_),
    by redrawing the samples that fall outside."""
    _positive("std", std)
    if not b > a:
        raise HyperparameterError(f"truncated_normal needs b > a, got a={a!r}, b={b!r}")

    def draw(shape, fi, fo, dt, backend):
        x = cr.random.normal(shape, mean, std, dtype=dt, backend=backend)
        for _ in range(60):
            outside = (x < a) | (x > b)
            if not bool(cr.any(outside)):
                return x
            x = cr.where(outside, cr.random.normal(shape, mean, std, dtype=dt, backend=backend), x)
        return cr.clip(x, a, b)
    return _initializer(draw)


def xavier_uniform(gain=1.0):
    """U(-g*sqrt(6/(fan_in+fan_out)), +...)  (Glorot & Bengio)."""
    return _initializer(lambda s, fi, fo, dt, b: cr.random.uniform(
        s, -gain * math.sqrt(6.0 / (fi + fo)), gain * math.sqrt(6.0 / (fi + fo)), dtype=dt, backend=b))


def xavier_normal(gain=1.0):
    """N(0, g^2 * 2/(fan_in+fan_out))."""
    return _initializer(lambda s, fi, fo, dt, b: cr.random.normal(
        s, 0.0, gain * math.sqrt(2.0 / (fi + fo)), dtype=dt, backend=b))


def _kaiming_std(a, mode, nonlinearity, fi, fo):
    if mode not in ("fan_in", "fan_out"):
        raise HyperparameterError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return gain(nonlinearity, a) / math.sqrt(fi if mode == "fan_in" else fo)


def he_normal(a=0.0, mode="fan_in", nonlinearity="relu"):
    """N(0, gain^2 / fan): with relu, 2/fan_in (He et al.)."""
    _kaiming_std(a, mode, nonlinearity, 1, 1)
    return _initializer(lambda s, fi, fo, dt, b: cr.random.normal(
        s, 0.0, _kaiming_std(a, mode, nonlinearity, fi, fo), dtype=dt, backend=b))


def he_uniform(a=0.0, mode="fan_in", nonlinearity="relu"):
    """U(-sqrt(3)*std, sqrt(3)*std) with He's std."""
    _kaiming_std(a, mode, nonlinearity, 1, 1)

    def draw(s, fi, fo, dt, b):
        bound = math.sqrt(3.0) * _kaiming_std(a, mode, nonlinearity, fi, fo)
        return cr.random.uniform(s, -bound, bound, dtype=dt, backend=b)
    return _initializer(draw)


def lecun_normal():
    """N(0, 1/fan_in)."""
    return _initializer(lambda s, fi, fo, dt, b: cr.random.normal(s, 0.0, 1 / math.sqrt(fi), dtype=dt, backend=b))


def orthogonal(gain=1.0):
    """A (semi-)orthogonal matrix from the QR decomposition of a Gaussian one (Saxe et al.),
    signs fixed by diag(R); shapes beyond 2-D are flattened to (shape[0], rest)."""
    def draw(shape, fi, fo, dt, backend):
        if len(shape) < 2:
            raise HyperparameterError(f"orthogonal needs at least 2 dimensions, got shape {shape}")
        rows = shape[0]
        cols = math.prod(shape) // rows
        a = cr.random.normal((rows, cols), dtype=dt, backend=backend)
        if rows < cols:
            a = cr.transpose(a)
        q, r = (make(m, a._backend) for m in cr.qr(a.data))  # raw arrays: an initializer records no graph
        n = r.shape[0]
        d = cr.sum(r * cr.eye(n, dtype=r.dtype, backend=r.backend), axis=0)
        q = q * cr.where(d < 0, -1.0, 1.0).astype(q.dtype)
        if rows < cols:
            q = cr.transpose(q)
        return cr.reshape(q * gain, shape)
    return _initializer(draw)


def gpt2(std=0.02):
    """N(0, 0.02^2): GPT-2's linear and embedding weights."""
    return _normal(std)


def scaled_residual(n_layers, std=0.02):
    """N(0, (std / sqrt(2 * n_layers))^2): GPT-2's residual output projections."""
    if not isinstance(n_layers, int) or n_layers < 1:
        raise HyperparameterError(f"n_layers must be an integer >= 1, got {n_layers!r}")
    return _normal(std / math.sqrt(2 * n_layers))


@hookimpl
def chainrule_initializers():
    return {"zeros": zeros, "ones": ones, "constant": constant, "normal": normal,
            "uniform": uniform, "truncated_normal": truncated_normal,
            "xavier_uniform": xavier_uniform, "xavier_normal": xavier_normal,
            "glorot_uniform": xavier_uniform, "glorot_normal": xavier_normal,
            "he_normal": he_normal, "he_uniform": he_uniform,
            "kaiming_normal": he_normal, "kaiming_uniform": he_uniform,
            "lecun_normal": lecun_normal, "orthogonal": orthogonal, "gpt2": gpt2,
            "scaled_residual": scaled_residual}

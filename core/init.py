"""``cr.init``: parameter initializers, plugins like optimizers and schedules.

``create(name, **options)`` returns ``init(shape, fan_in=None, fan_out=None,
dtype=None, backend=None) -> Tensor``, drawing from ``cr.random`` (so
``cr.random.seed`` makes it reproducible) on the given backend.  When the fans
are not given they come from the shape in chainrule's layout, where a Linear
weight is (in, out): ``fan_in = shape[0] * receptive``, ``fan_out = shape[1] *
receptive`` with ``receptive = prod(shape[2:])``; a vector has fan_in = fan_out = its length.
A convolution's weight is torch's (out, in/groups, *kernel), the other way round: pass its
fans (or ``init=`` to ``cr.nn.Conv2d``, which does), or the scale is off by sqrt(out/in).

>>> import chainrule as cr
>>> w = cr.init.create("he_normal")((256, 128))
>>> w.shape
(256, 128)
"""
import math

from . import plugins
from .errors import HyperparameterError


def fans(shape, fan_in=None, fan_out=None):
    """(fan_in, fan_out) of a parameter of this shape, unless given."""
    shape = tuple(shape)
    if len(shape) == 0:
        f_in = f_out = 1
    elif len(shape) == 1:
        f_in = f_out = shape[0]
    else:
        receptive = math.prod(shape[2:])
        f_in, f_out = shape[0] * receptive, shape[1] * receptive
    return (f_in if fan_in is None else fan_in), (f_out if fan_out is None else fan_out)


def gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (as torch.nn.init.calculate_gain)."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise HyperparameterError(f"unknown nonlinearity {nonlinearity!r}; use one of linear, sigmoid, "
                              "tanh, relu, leaky_relu, selu")


plugins.require_factories(
    "initializers", "init(shape, fan_in=None, fan_out=None, dtype=None, backend=None)")


def names():
    """Every initializer name (built-ins and installed plugins), sorted."""
    return sorted(plugins.collect("initializers"))


def create(name, **options):
    """The initializer ``name`` with these options (see ``names()``)."""
    return plugins.build("initializers", name, **options)


__all__ = ["create", "fans", "gain", "names"]

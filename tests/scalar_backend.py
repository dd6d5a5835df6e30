"""A trivial pure-Python backend: 0-d values only, no NumPy anywhere.

Registered at run time (``chainrule.plugins.register(scalar_backend, name="scalar")``),
it proves that the graph core knows no arrays: the engine only ever talks to a
backend through the kernel table (``chainrule.backends.KERNELS``), and raw values
only need ``shape``, ``dtype`` and Python's arithmetic operators (rules of a plain
``backward()`` run on raw values).

Raw Python floats are user scalars to the engine, so values are wrapped in ``Scalar``.
Every dtype is computed in Python double precision; only the *name* is kept.
"""
import math
import operator
import random as _pyrandom
import types

from chainrule.backends import BackendSpec
from chainrule.hookspecs import hookimpl


class Scalar:
    """One number (or bool) with ``shape == ()`` and a chainrule dtype name."""

    __slots__ = ("v", "dtype")
    shape = ()

    def __init__(self, v, dtype):
        self.v, self.dtype = v, dtype

    def __repr__(self):
        return f"Scalar({self.v!r}, {self.dtype})"

    __hash__ = object.__hash__


_FLOATS = ("float16", "bfloat16", "float32", "float64")


def _val(x):
    return x.v if type(x) is Scalar else x


def _dtype_of(*xs):
    """Result dtype of an arithmetic kernel: the widest float among Scalars, else int/bool."""
    names = [x.dtype for x in xs if type(x) is Scalar]
    floats = [n for n in names if n in _FLOATS]
    if floats:
        return "float64" if "float64" in floats else floats[0]
    if any(isinstance(x, float) for x in xs):
        return "float32"
    return "int64" if names and any(n != "bool" for n in names) else (names[0] if names else "int64")


def _cast(v, dtype):
    if dtype == "bool":
        return bool(v)
    if dtype in _FLOATS:
        return float(v)
    return int(v)


def _arith(fn):
    def kernel(x, y):
        dt = _dtype_of(x, y)
        return Scalar(_cast(fn(_val(x), _val(y)), dt), dt)
    return kernel


def _unary(fn):
    def kernel(x):
        return Scalar(_cast(fn(float(_val(x))), x.dtype), x.dtype)
    return kernel


def _compare(fn):
    return lambda x, y: Scalar(bool(fn(_val(x), _val(y))), "bool")


def _only_scalar(shape):
    shape = tuple(shape)
    if shape not in ((), (1,)) and any(d != 1 for d in shape):
        raise ValueError(f"the scalar backend holds 0-d values only, got shape {shape}")


def _reduce(x, axis=None, keepdims=False):
    if axis not in (None, ()):
        raise ValueError("axis out of range for a 0-d value")
    return Scalar(x.v, x.dtype)


def _pow(a, b):
    return a ** b


def _install_operators():
    ops = {"__add__": operator.add, "__sub__": operator.sub, "__mul__": operator.mul,
           "__truediv__": operator.truediv, "__pow__": _pow}
    # anything else (a chainrule Tensor) gets NotImplemented, so its reflected operator runs
    known = (Scalar, int, float, bool)
    for name, fn in ops.items():
        k = _arith(fn)
        setattr(Scalar, name, lambda self, other, k=k: k(self, other)
                if isinstance(other, known) else NotImplemented)
        setattr(Scalar, name.replace("__", "__r", 1), lambda self, other, k=k: k(other, self)
                if isinstance(other, known) else NotImplemented)
    for name, fn in {"__gt__": operator.gt, "__ge__": operator.ge, "__lt__": operator.lt,
                     "__le__": operator.le, "__eq__": operator.eq, "__ne__": operator.ne}.items():
        setattr(Scalar, name, lambda self, other, c=_compare(fn): c(self, other)
                if isinstance(other, known) else NotImplemented)
    Scalar.__neg__ = lambda self: Scalar(-self.v, self.dtype)
    Scalar.__float__ = lambda self: float(self.v)
    Scalar.__bool__ = lambda self: bool(self.v)


_install_operators()


def _erf(x):
    return math.erf(x)


def _sign(x):
    return (x > 0) - (x < 0)


def load(device=None):
    rng = [_pyrandom.Random(0)]

    def asarray(data, dtype=None):
        if type(data) is Scalar:
            return Scalar(_cast(data.v, dtype), dtype) if dtype else data
        if isinstance(data, (list, tuple)):
            raise ValueError("the scalar backend holds 0-d values only")
        if dtype is None:
            dtype = "bool" if isinstance(data, bool) else "int64" if isinstance(data, int) else "float64"
        return Scalar(_cast(data, dtype), dtype)

    def full(shape, value, dtype):
        _only_scalar(shape)
        return Scalar(_cast(value, dtype), dtype)

    def seed(n):
        rng[0] = _pyrandom.Random(n)

    def setitem(x, index, v):
        if index not in ((), Ellipsis, (Ellipsis,)):
            raise IndexError("a 0-d value takes only () or ... as an index")
        x.v = _cast(_val(v), x.dtype)

    def assign(dst, src):
        dst.v = _cast(_val(src), dst.dtype)

    def reshape(x, shape):
        _only_scalar(shape)
        return x

    def where(c, x, y):
        chosen = x if _val(c) else y
        dt = _dtype_of(x, y)
        return Scalar(_cast(_val(chosen), dt), dt)

    def clip(x, lo=None, hi=None):
        v = x.v
        if lo is not None:
            v = max(v, _val(lo))
        if hi is not None:
            v = min(v, _val(hi))
        return Scalar(v, x.dtype)

    return types.SimpleNamespace(
        array_types=(Scalar,),
        asarray=asarray, shape=lambda x: (), dtype=lambda x: x.dtype,
        astype=lambda x, dtype: Scalar(_cast(x.v, dtype), dtype),
        copy=lambda x: Scalar(x.v, x.dtype), item=lambda x: x.v, assign=assign,
        zeros=lambda shape, dtype: full(shape, 0, dtype), ones=lambda shape, dtype: full(shape, 1, dtype),
        full=full, seed=seed,
        normal=lambda shape, dtype: full(shape, rng[0].gauss(0.0, 1.0), dtype),
        uniform=lambda shape, dtype: full(shape, rng[0].random(), dtype),
        add=_arith(operator.add), subtract=_arith(operator.sub), multiply=_arith(operator.mul),
        divide=_arith(operator.truediv), power=_arith(_pow),
        maximum=_arith(max), minimum=_arith(min),
        negative=lambda x: -x, exp=_unary(math.exp), log=_unary(math.log),
        log1p=_unary(math.log1p), expm1=_unary(math.expm1), sqrt=_unary(math.sqrt),
        abs=_unary(abs), sign=_unary(_sign), sin=_unary(math.sin), cos=_unary(math.cos),
        tan=_unary(math.tan), tanh=_unary(math.tanh), erf=_unary(_erf), floor=_unary(math.floor),
        where=where, clip=clip,
        greater=_compare(operator.gt), greater_equal=_compare(operator.ge),
        less=_compare(operator.lt), less_equal=_compare(operator.le),
        equal=_compare(operator.eq), not_equal=_compare(operator.ne),
        logical_and=_compare(lambda a, b: a and b), logical_or=_compare(lambda a, b: a or b),
        logical_not=lambda x: Scalar(not x.v, "bool"),
        isfinite=lambda x: Scalar(math.isfinite(x.v), "bool"),
        isnan=lambda x: Scalar(math.isnan(x.v), "bool"),
        sum=_reduce, prod=_reduce, max=_reduce, min=_reduce,
        any=lambda x, axis=None, keepdims=False: Scalar(bool(x.v), "bool"),
        all=lambda x, axis=None, keepdims=False: Scalar(bool(x.v), "bool"),
        reshape=reshape, transpose=lambda x, axes: x,
        broadcast_to=lambda x, shape: reshape(x, shape),
        getitem=lambda x, index: x if index in ((), Ellipsis, (Ellipsis,)) else setitem(x, index, 0),
        setitem=setitem,
    )


def _owns(obj):
    return type(obj) is Scalar


@hookimpl
def chainrule_backends():
    return [BackendSpec("scalar", load=load, owns=_owns,
                        description="pure-Python 0-d values (tests: the core knows no arrays)")]

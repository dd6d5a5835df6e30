"""A TEST-ONLY stand-in for CuPy, backed by NumPy on the CPU: no GPU, no CUDA, no CuPy.

Only tests/test_cupy_standin.py puts this folder on sys.path, so that the Python code of
chainrule's cupy backend (core/builtin_backends/cupy.py) runs somewhere.  It is not CuPy:
it models the parts of CuPy's API and behaviour that the backend touches, and the ways
CuPy is known to differ from NumPy:

* ``ndarray`` is its own class (``type(x).__module__ == "cupy"``), not a NumPy array:
  ``np.asarray(x)`` raises TypeError (CuPy refuses implicit host copies: use ``x.get()``
  or ``cupy.asnumpy``), NumPy arrays are refused as kernel operands, and NumPy functions
  and ufuncs called on it dispatch here (``__array_function__`` / ``__array_ufunc__``).
* reductions answer 0-d arrays, never NumPy scalars; ``x.device`` is a ``cuda.Device``
  whose ``str`` is ``<CUDA Device 0>``, as CuPy's.
* ``cupyx.scipy.special.erf``/``erfc`` have CuPy's float32/float64 loops only;
  ``cupyx.scatter_add`` takes only the dtypes CuPy's atomicAdd has.
* ``PROMOTION``: "legacy" (the default) types a Python int the way CuPy 13 does, by its
  value (NumPy 1's rule: int8 array * 300 is int16, uint8 array > -1 compares in int16,
  an int written into an integer array wraps around); "nep50" as NumPy 2 (CuPy 14).
"""
import builtins
import functools
import numbers
import types

import numpy as _np

PROMOTION = "legacy"

# dtypes and scalar types are NumPy's, as in CuPy
from numpy import (bool_, int8, uint8, int16, uint16, int32, uint32, int64, uint64,  # noqa: F401,E402
                   float16, float32, float64, complex64, complex128, dtype, newaxis, inf, nan, pi, e,
                   iinfo, finfo, result_type, can_cast, promote_types)

_DEVICE_COUNT = 2   # two GPUs, so that cupy:1 (the backend's on_device path) runs too


class ndarray(_np.lib.mixins.NDArrayOperatorsMixin):
    """A NumPy array standing in for device memory."""

    __slots__ = ("_a", "_device")
    __array_priority__ = 100

    def __init__(self, a, device_id=None):
        self._a = a
        self._device = cuda.Device(cuda._current[-1] if device_id is None else device_id)

    # ---- what CuPy refuses
    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = globals().get(ufunc.__name__)
        if not isinstance(fn, _ufunc) or method not in ("__call__", "at", "reduce"):
            return NotImplemented
        if method == "__call__":
            return fn(*inputs, **kwargs)
        return getattr(fn, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        fn = globals().get(func.__name__)
        if fn is None or fn is func:
            return NotImplemented
        return fn(*args, **kwargs)

    # ---- metadata
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    device = property(lambda self: self._device)
    T = property(lambda self: _wrap(self._a.T, self))
    mT = property(lambda self: _wrap(_np.swapaxes(self._a, -1, -2), self))
    real = property(lambda self: _wrap(self._a.real, self))
    imag = property(lambda self: _wrap(self._a.imag, self))

    @property
    def base(self):
        return None if self._a.base is None else _wrap(self._a.base, self)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        return repr(self._a)

    __str__ = lambda self: str(self._a)  # noqa: E731

    def __bool__(self):
        return bool(self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __complex__(self):
        return complex(self._a)

    def __index__(self):
        return self._a.__index__()

    def __hash__(self):
        raise TypeError("unhashable type: 'cupy.ndarray'")

    # ---- host transfers and DLPack
    def get(self, stream=None, order="C", out=None):
        return _np.array(self._a, copy=True)

    def tolist(self):
        return self._a.tolist()

    def item(self):
        return self._a.item()

    def __dlpack_device__(self):
        return (2, self._device.id)      # kDLCUDA

    def __dlpack__(self, *args, **kwargs):
        # a capsule of host memory labelled as device memory would be a lie to its reader
        raise BufferError("the cupy stand-in exports no DLPack capsules")

    # ---- indexing
    def __getitem__(self, index):
        return _wrap(self._a[_host_index(index)], self)

    def __setitem__(self, index, value):
        if isinstance(value, _np.ndarray):     # CuPy refuses host arrays in setitem
            raise TypeError("Unsupported type <class 'numpy.ndarray'>")
        value = _legacy_value(value, self._a.dtype)
        self._a[_host_index(index)] = _host(value)

    # ---- methods, each as CuPy's (results: arrays on this device)
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        kw = {} if casting is None else {"casting": casting}
        return _wrap(self._a.astype(dtype, order=order, copy=copy, **kw), self)

    def copy(self, order="C"):
        return _wrap(self._a.copy(order=order), self)

    def view(self, *args):
        return _wrap(self._a.view(*args), self)

    def fill(self, value):
        self._a.fill(_legacy_value(value, self._a.dtype))

    def reshape(self, *shape, order="C"):
        return _wrap(self._a.reshape(*shape, order=order), self)

    def transpose(self, *axes):
        return _wrap(self._a.transpose(*axes), self)

    def swapaxes(self, a, b):
        return _wrap(self._a.swapaxes(a, b), self)

    def squeeze(self, axis=None):
        return _wrap(self._a.squeeze(axis), self)

    def ravel(self, order="C"):
        return _wrap(self._a.ravel(order), self)

    def flatten(self, order="C"):
        return _wrap(self._a.flatten(order), self)

    def __getattr__(self, name):
        # reductions and the like as methods: x.sum(), x.any(), x.max(axis=0)...
        if name in _METHODS:
            fn = globals()[name]
            return functools.partial(fn, self)
        raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")


_METHODS = {"sum", "prod", "max", "min", "mean", "var", "std", "any", "all", "argmax", "argmin",
            "cumsum", "cumprod", "clip", "round", "nonzero", "argsort", "sort", "dot", "conj",
            "diagonal", "trace", "repeat", "take"}


def _host_index(index):
    if isinstance(index, tuple):
        return tuple(_host_index(i) for i in index)
    if isinstance(index, ndarray):
        return index._a
    if isinstance(index, list):
        return _np.asarray([_host_index(i) for i in index]) if index and isinstance(index[0], ndarray) \
            else index
    return index


def _host(x):
    """Unwrap (recursively in lists and tuples); NumPy arrays as kernel operands are refused."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, _np.ndarray):
        raise TypeError(f"Unsupported type {type(x)}")
    if isinstance(x, (list, tuple)):
        return type(x)(_host(v) for v in x)
    return x


def _device_of(args):
    for a in args:
        if isinstance(a, ndarray):
            return a._device.id
        if isinstance(a, (list, tuple)):
            d = _device_of(a)
            if d is not None:
                return d
    return None


def _wrap(out, like=None):
    """Results as arrays: NumPy scalars become 0-d arrays (CuPy never answers a scalar)."""
    dev = like._device.id if isinstance(like, ndarray) else like
    if isinstance(out, _np.ndarray):
        return ndarray(out, dev)
    if isinstance(out, _np.generic):
        return ndarray(_np.asarray(out), dev)
    if isinstance(out, tuple):
        return tuple(_wrap(o, dev) for o in out)
    if isinstance(out, list):
        return [_wrap(o, dev) for o in out]
    if hasattr(out, "_fields"):   # namedtuples (linalg results)
        return tuple(_wrap(o, dev) for o in out)
    return out


def _check_devices(args):
    ids = set()

    def walk(v):
        if isinstance(v, ndarray):
            ids.add(v._device.id)
        elif isinstance(v, (list, tuple)):
            for w in v:
                walk(w)
    walk(args)
    if len(ids) > 1:
        raise ValueError(f"The device where the array resides ({sorted(ids)}) is different from the "
                         "current device")


def _legacy_python_ints(args):
    """CuPy 13 types a Python int beside an integer array by its value (NumPy 1's rule): a
    value the array's dtype cannot hold promotes (int8 * 300 is int16), never raises."""
    if PROMOTION != "legacy" or not builtins.any(type(a) is int for a in args):
        return args
    kinds = [a.dtype for a in args if isinstance(a, (ndarray, _np.generic))]
    if not kinds or not builtins.all(d.kind in "iu" for d in kinds):
        return args
    out = []
    for a in args:
        if type(a) is int and not builtins.all(_fits(a, d) for d in kinds):
            if not -2**63 <= a < 2**64:
                raise OverflowError("Python int too large to convert to C long")
            a = _np.min_scalar_type(a).type(a)    # a typed NumPy scalar: int16(300)
        out.append(a)
    return out


def _fits(v, dt):
    info = _np.iinfo(dt)
    return info.min <= v <= info.max


def _legacy_value(value, dt):
    """A Python int written into an integer array: CuPy casts it as C does (wraps) in legacy mode."""
    if PROMOTION == "legacy" and type(value) is int and dt.kind in "iu" and not _fits(value, dt):
        if not -2**63 <= value < 2**64:
            raise OverflowError("Python int too large to convert to C long")
        return _np.asarray(value, dtype=_np.int64 if value < 2**63 else _np.uint64).astype(dt)
    return value


def _function(np_fn, name=None):
    """A CuPy function from a NumPy one: device arrays in, device arrays out."""
    def fn(*args, **kwargs):
        _check_devices((args, tuple(kwargs.values())))
        dev = _device_of(args) if _device_of(args) is not None else cuda._current[-1]
        with _np.errstate(all="ignore"):
            out = np_fn(*_host(args), **{k: _host(v) for k, v in kwargs.items()})
        return _wrap(out, dev)
    fn.__name__ = name or getattr(np_fn, "__name__", "fn")
    fn.__qualname__ = fn.__name__
    fn.__module__ = "cupy"
    return fn


class _ufunc:
    """A CuPy ufunc from a NumPy one (out= must be a device array; Python ints as CuPy types them)."""

    def __init__(self, np_ufunc, name=None):
        self._u = np_ufunc
        self.__name__ = name or np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout

    def __call__(self, *args, out=None, **kwargs):
        _check_devices((args, out))
        args = _legacy_python_ints(list(args))
        dev = _device_of(args) if _device_of(args) is not None else cuda._current[-1]
        if isinstance(out, tuple):      # NumPy's protocol passes out=(x,)
            out = out[0]
        if out is not None:
            if not isinstance(out, ndarray):
                raise TypeError("Output arguments must be cupy.ndarray")
            kwargs["out"] = out._a
        with _np.errstate(all="ignore"):
            res = self._u(*_host(args), **kwargs)
        return out if out is not None else _wrap(res, dev)

    def reduce(self, x, *args, **kwargs):
        return _wrap(self._u.reduce(_host(x), *args, **kwargs), x)

    def at(self, *args):
        raise NotImplementedError("CuPy ufuncs have no .at (use cupyx.scatter_add)")

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"


_UFUNCS = ["add", "subtract", "multiply", "true_divide", "divide", "floor_divide", "power",
           "maximum", "minimum", "fmax", "fmin", "negative", "exp", "log", "log1p", "expm1", "sqrt",
           "absolute", "sign", "sin", "cos", "tan", "tanh", "floor", "greater", "greater_equal",
           "less", "less_equal", "equal", "not_equal", "logical_and", "logical_or", "logical_not",
           "logical_xor", "isfinite", "isnan", "isinf", "sinh", "cosh", "arcsin", "arccos", "arctan",
           "arcsinh", "arccosh", "arctanh", "exp2", "log2", "log10", "ceil", "trunc", "rint",
           "arctan2", "hypot", "logaddexp", "logaddexp2", "remainder", "mod", "fmod", "square",
           "reciprocal", "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "signbit",
           "copysign", "conjugate", "positive"]
for _n in _UFUNCS:
    globals()[_n] = _ufunc(getattr(_np, _n), _n)
abs = absolute   # noqa: A001
conj = conjugate

_FUNCTIONS = ["zeros", "ones", "full", "empty", "arange", "eye", "identity", "linspace",
              "zeros_like", "ones_like", "full_like", "empty_like", "where", "around", "round",
              "nan_to_num", "sinc", "sum", "prod", "max", "min", "amax", "amin", "mean", "var", "std",
              "any", "all", "argmax", "argmin", "cumsum", "cumprod", "einsum", "reshape",
              "transpose", "broadcast_to", "broadcast_arrays", "expand_dims", "squeeze",
              "concatenate", "stack", "take", "take_along_axis", "argsort", "sort", "flip",
              "matmul", "dot", "tensordot", "swapaxes", "moveaxis", "ravel", "diagonal", "trace",
              "tril", "triu", "diag", "nonzero", "count_nonzero", "unique", "repeat", "tile",
              "pad", "outer", "isclose", "allclose", "array_equal", "shares_memory", "sort",
              "ascontiguousarray", "atleast_1d", "atleast_2d", "split", "array_split", "searchsorted"]
for _n in _FUNCTIONS:
    globals()[_n] = _function(getattr(_np, _n), _n)


def clip(a, a_min=None, a_max=None, out=None):
    """CuPy's clip: one of the bounds may be None, not both; Python ints typed as CuPy does."""
    if not isinstance(a, ndarray):   # CuPy's clip is a.clip(a_min, a_max)
        raise AttributeError(f"'{type(a).__name__}' object has no attribute 'clip'")
    if a_min is None and a_max is None:
        raise ValueError("array_clip: must set either max or min")
    a, a_min, a_max = _legacy_python_ints([a, a_min, a_max])
    res = _function(_np.clip)(a, a_min, a_max)
    if out is not None:
        out._a[...] = res._a
        return out
    return res


def where(condition, x=None, y=None):
    if x is None and y is None:
        return _function(_np.where)(condition)
    condition, x, y = _legacy_python_ints([condition, x, y])
    return _function(_np.where)(condition, x, y)


def argsort(a, axis=-1, kind=None):
    """CuPy sorts stably (thrust's stable sort, NaN last): every kind is the stable one."""
    return _function(_np.argsort)(a, axis=axis, kind="stable")


def sort(a, axis=-1, kind=None):
    return _function(_np.sort)(a, axis=axis, kind="stable")


def may_share_memory(a, b, max_work=None):
    if not (isinstance(a, ndarray) and isinstance(b, ndarray)):
        return False
    return builtins.bool(_np.may_share_memory(a._a, b._a))


def array(obj, dtype=None, copy=True, order="K", ndmin=0):
    if isinstance(obj, ndarray):
        with cuda.Device(obj._device.id):
            pass
        out = _np.array(obj._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin)
        return ndarray(out if out is not obj._a else out)
    if isinstance(obj, (list, tuple)) and builtins.any(isinstance(v, ndarray) for v in obj):
        obj = type(obj)(v._a if isinstance(v, ndarray) else v for v in obj)
    return ndarray(_np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asarray(a, dtype=None, order=None):
    """A device array; one already on the current device is answered as is (with dtype kept)."""
    if isinstance(a, ndarray):
        if a._device.id == cuda._current[-1] and (dtype is None or _np.dtype(dtype) == a.dtype):
            return a
        return ndarray(_np.array(a._a, dtype=dtype, copy=True))
    if isinstance(a, (list, tuple)) and builtins.any(isinstance(v, ndarray) for v in a):
        a = type(a)(v._a if isinstance(v, ndarray) else v for v in a)
    return ndarray(_np.array(a, dtype=dtype, order=order, copy=True))


def asnumpy(a, stream=None, order="C", out=None):
    """A host copy (a plain numpy.ndarray)."""
    if isinstance(a, ndarray):
        return _np.array(a._a, copy=True)
    return _np.asarray(a)


def copy(a, order="K"):
    return _wrap(_np.array(_host(a), copy=True, order=order), a)


def copyto(dst, src, casting="same_kind", where=None):
    if not isinstance(dst, ndarray):
        raise TypeError("dst must be a cupy.ndarray")
    src = _legacy_value(src, dst.dtype)
    if type(src) in (int, float, bool, complex) and PROMOTION == "legacy":
        # CuPy checks a Python scalar by its type (int: int64), then casts it as C does
        if not _np.can_cast(_np.dtype(type(src)) if type(src) is not int else _np.int64,
                            dst.dtype, casting) and not (type(src) is int and dst.dtype.kind in "iu"):
            raise TypeError(f"Cannot cast {type(src)} to {dst.dtype} with casting rule {casting!r}")
        dst._a[...] = src
        return
    _np.copyto(dst._a, _host(src), casting=casting, where=True if where is None else _host(where))


def from_dlpack(obj):
    """CuPy imports device memory only: a host (CPU) capsule is refused."""
    if isinstance(obj, ndarray):
        return ndarray(obj._a, obj._device.id)    # shares memory, as DLPack does
    device = getattr(obj, "__dlpack_device__", lambda: (1, 0))()
    if device[0] != 2:
        raise RuntimeError(f"Unsupported device in DLTensor: {device}")
    raise RuntimeError("the cupy stand-in imports no foreign device memory")


fromDlpack = from_dlpack


def get_array_module(*args):
    import sys
    return sys.modules[__name__] if builtins.any(isinstance(a, ndarray) for a in args) else _np


from . import cuda, random, linalg  # noqa: E402,F401  (after ndarray: they use it)

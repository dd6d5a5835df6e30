"""The NumPy backend: CPU arrays, the default.  NumPy is imported on first use.

Kernels are NumPy's ufuncs behind one thin wrapper (``arrays``): NumPy answers a 0-d
result with a NumPy scalar, and a kernel always returns an ndarray (a scalar has no
``out=``, no views, no in-place ops).  Reductions use ``ufunc.reduce``: ``np.sum`` adds
~1 us of Python dispatch per call, which is most of an op on small arrays.

Dtypes follow the installed NumPy: with NumPy 2 a NumPy scalar is typed (NEP 50:
float32 array * np.float64 scalar is float64) and a Python float never promotes a
float16/bfloat16 array.  float16/bfloat16 sums accumulate in float32, as torch's do.
"""
import math
import operator
import types

from chainrule.backends import BackendSpec
from chainrule.hookspecs import hookimpl


def _erf_float64(np):
    """erf of a float64 array: SciPy's C loop when SciPy is installed, else the C library's
    ``math.erf`` element by element (slower, the same numbers to an ulp)."""
    try:
        from scipy.special import erf
        return erf
    except ImportError:
        per_element = np.frompyfunc(math.erf, 1, 1)
        return lambda x: np.asarray(per_element(x), dtype=np.float64)


def load(device=None):
    import numpy as np

    names = ["bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64"]
    to_np = {n: np.dtype(n) for n in names}
    to_name = {dt: n for n, dt in to_np.items()}
    rng = [np.random.default_rng()]

    def with_bfloat16():
        """bfloat16 through ml_dtypes, imported on first need: it takes about a second."""
        if "bfloat16" not in to_np:
            try:
                import ml_dtypes
            except ImportError:
                return False
            to_np["bfloat16"] = np.dtype(ml_dtypes.bfloat16)
            to_name[to_np["bfloat16"]] = "bfloat16"
        return True

    def np_dtype(dtype):
        try:
            return to_np[dtype]
        except KeyError:
            if dtype == "bfloat16" and with_bfloat16():
                return to_np[dtype]
            hint = " (pip install ml_dtypes)" if dtype == "bfloat16" else ""
            raise TypeError(f"the numpy backend has no dtype {dtype}{hint}") from None

    def asarray(data, dtype=None):
        return np.asarray(data, dtype=None if dtype is None else np_dtype(dtype))

    def astype(x, dtype):
        return np.asarray(x).astype(np_dtype(dtype), copy=False)

    def dtype(x):
        try:
            return to_name[x.dtype]
        except KeyError:   # an ml_dtypes array made before the backend imported it
            if x.dtype.name == "bfloat16" and with_bfloat16():
                return to_name[x.dtype]
            raise TypeError(f"the numpy backend has no dtype {x.dtype}") from None

    def seed(n):
        rng[0] = np.random.default_rng(n)

    def normal(shape, dtype):
        dt = np_dtype(dtype)
        if dt in (np.float32, np.float64):
            return rng[0].standard_normal(shape, dtype=dt)
        return rng[0].standard_normal(shape).astype(dt)

    def uniform(shape, dtype):
        dt = np_dtype(dtype)
        if dt in (np.float32, np.float64):
            return rng[0].random(shape, dtype=dt)
        return rng[0].random(shape).astype(dt)

    ndarray = np.ndarray

    asarray_ = np.asarray

    def arrays(kernel):
        """The kernel, answering an ndarray where NumPy would give a NumPy scalar (0-d results).
        One- and two-argument ufuncs get wrappers without *args: they are most of the calls."""
        nin = getattr(kernel, "nin", None)
        if nin == 1:
            def run(x):
                out = kernel(x)
                return out if type(out) is ndarray else asarray_(out)
        elif nin == 2:
            def run(x, y):
                out = kernel(x, y)
                return out if type(out) is ndarray else asarray_(out)
        else:
            def run(*args, **kwargs):
                out = kernel(*args, **kwargs)
                return out if type(out) is ndarray else asarray_(out)
        run.__name__ = getattr(kernel, "__name__", "kernel")
        return run

    def reducer(ufunc):
        def reduce(x, axis=None, keepdims=False):
            out = ufunc.reduce(x, axis=axis, keepdims=keepdims)
            return out if type(out) is ndarray else np.asarray(out)
        return reduce

    low_precision = ("float16", "bfloat16")

    def add_reduce(x, axis=None, keepdims=False):
        """sum; float16/bfloat16 accumulate in float32 and round once, as in torch."""
        if x.dtype.itemsize == 2 and x.dtype.name in low_precision:
            return np.asarray(np.add.reduce(x, axis=axis, dtype=np.float32, keepdims=keepdims)
                              .astype(x.dtype))
        out = np.add.reduce(x, axis=axis, keepdims=keepdims)
        return out if type(out) is ndarray else np.asarray(out)

    def getitem(x, index):
        out = x[index]
        if type(out) is ndarray:
            return out
        # an integer for every axis gives NumPy a scalar copy; index on with "..." for a
        # 0-d view instead, as torch's x[0] is
        return x[(index if type(index) is tuple else (index,)) + (Ellipsis,)]

    def inplace(ufunc):
        def update(x, y):
            ufunc(x, y, out=x, casting="same_kind")
        return update

    def expand_dims(x, axis):  # np.expand_dims spends microseconds normalizing its axis
        shape = np.shape(x)
        if axis < 0:
            axis += len(shape) + 1
        return np.asarray(x).reshape(shape[:axis] + (1,) + shape[axis:])

    def assign(dst, src):
        np.copyto(dst, src, casting="same_kind")

    def setitem(x, index, v):
        x[index] = v

    erf_float64 = _erf_float64(np)
    erf_dtypes = {}   # input dtype -> result dtype

    def erf(x):
        """erf typed as NumPy types exp (integers -> float, float16/bfloat16 kept), in float64."""
        x = np.asarray(x)
        out = erf_dtypes.get(x.dtype)
        if out is None:
            out = erf_dtypes[x.dtype] = np.exp(np.zeros(1, x.dtype)).dtype
        return np.asarray(erf_float64(x.astype(np.float64, copy=False))).astype(out, copy=False)

    return types.SimpleNamespace(
        array_types=(np.ndarray, np.generic),
        asarray=asarray, to_numpy=np.asarray, shape=operator.attrgetter("shape"), dtype=dtype, astype=astype,
        copy=np.copy, item=lambda x: x.item(), assign=assign,
        shares_memory=np.may_share_memory,
        owns_memory=lambda x: x.base is None and x.flags.writeable,
        iadd=inplace(np.add), isub=inplace(np.subtract), imul=inplace(np.multiply),
        idiv=inplace(np.true_divide),
        zeros=lambda shape, dtype: np.zeros(shape, np_dtype(dtype)),
        ones=lambda shape, dtype: np.ones(shape, np_dtype(dtype)),
        full=lambda shape, value, dtype: np.full(shape, value, np_dtype(dtype)),
        arange=lambda start, stop, step, dtype: np.arange(start, stop, step, dtype=np_dtype(dtype)),
        eye=lambda n, m, dtype: np.eye(n, m, dtype=np_dtype(dtype)),
        seed=seed, normal=normal, uniform=uniform,
        rng_state=lambda: rng[0].bit_generator.state,
        set_rng_state=lambda s: setattr(rng[0].bit_generator, "state", s),
        randint=lambda low, high, shape: rng[0].integers(low, high, size=shape, dtype=np.int64),
        permutation=lambda n: rng[0].permutation(n).astype(np.int64),
        add=arrays(np.add), subtract=arrays(np.subtract), multiply=arrays(np.multiply),
        divide=arrays(np.true_divide), power=arrays(np.power), maximum=arrays(np.maximum),
        minimum=arrays(np.minimum), negative=arrays(np.negative), exp=arrays(np.exp),
        log=arrays(np.log), log1p=arrays(np.log1p), expm1=arrays(np.expm1), sqrt=arrays(np.sqrt),
        abs=arrays(np.abs), sign=arrays(np.sign), sin=arrays(np.sin), cos=arrays(np.cos),
        tan=arrays(np.tan), tanh=arrays(np.tanh), erf=erf, floor=arrays(np.floor),
        where=arrays(np.where), clip=arrays(lambda x, lo=None, hi=None: np.clip(x, lo, hi)),
        greater=arrays(np.greater), greater_equal=arrays(np.greater_equal), less=arrays(np.less),
        less_equal=arrays(np.less_equal), equal=arrays(np.equal), not_equal=arrays(np.not_equal),
        logical_and=arrays(np.logical_and), logical_or=arrays(np.logical_or),
        logical_not=arrays(np.logical_not), isfinite=arrays(np.isfinite), isnan=arrays(np.isnan),
        sum=add_reduce, prod=reducer(np.multiply), max=reducer(np.maximum),
        min=reducer(np.minimum), any=reducer(np.logical_or), all=reducer(np.logical_and),
        argmax=arrays(lambda x, axis=None, keepdims=False: np.argmax(x, axis=axis, keepdims=keepdims)),
        argmin=arrays(lambda x, axis=None, keepdims=False: np.argmin(x, axis=axis, keepdims=keepdims)),
        reshape=lambda x, shape: np.asarray(x).reshape(shape),
        transpose=lambda x, axes: np.asarray(x).transpose(axes), broadcast_to=np.broadcast_to,
        expand_dims=expand_dims, squeeze=lambda x, axis: np.asarray(x).squeeze(axis),
        concat=lambda xs, axis: np.concatenate(xs, axis=axis),
        stack=lambda xs, axis: np.stack(xs, axis=axis),
        getitem=getitem, setitem=setitem,
        scatter_add=np.add.at, take=arrays(lambda x, indices, axis: np.take(x, indices, axis=axis)),
        take_along_axis=lambda x, indices, axis: np.take_along_axis(x, indices, axis=axis),
        matmul=arrays(np.matmul), eigh=lambda x: tuple(np.linalg.eigh(x)),
        qr=lambda x: tuple(np.linalg.qr(x)),
    )


def _owns(obj):
    return type(obj).__module__ == "numpy"


@hookimpl
def chainrule_backends():
    return [BackendSpec("numpy", load=load, owns=_owns, description="NumPy arrays on the CPU")]

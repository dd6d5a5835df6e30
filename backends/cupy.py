"""The CuPy backend: NumPy's kernels on a CUDA device (``pip install 'chainrule[cupy]'``).

Names: ``cupy`` is the first GPU, ``cupy:1`` (or ``cupy:cuda:1``) the second.  CuPy
follows NumPy's semantics, so most kernels are CuPy's ufuncs themselves; reductions
answer 0-d arrays, never scalars; float16 sums accumulate in float32, as torch's do.
CuPy is imported on first use; ``unavailable`` answers without importing it when it can.
"""
import importlib.util
import operator
import re
import types

from chainrule.backends import BackendSpec
from chainrule.errors import BackendError, DTypeError
from chainrule.hookspecs import hookimpl


def canonical_device(device):
    """None, "0", "cuda", "cuda:0" -> None (the first GPU); "1", "cuda:1" -> "cuda:1"."""
    if device is None:
        return None
    # "", "N", "cuda", "cuda:N", "gpu", "gpu:N", "cudaN": nothing else ("tpu:3" is no GPU 3)
    m = re.fullmatch(r"(?:(?:cuda|gpu):?)?(\d*)", str(device).strip().lower())
    if m is None:
        raise BackendError(f"unknown cupy device {device!r}; use cupy, cupy:cuda:N or cupy:N")
    index = int(m.group(1) or 0)
    return None if index == 0 else f"cuda:{index}"


def _index(device):
    return 0 if device is None else int(device.rpartition(":")[2])


def unavailable(device=None):
    if importlib.util.find_spec("cupy") is None:
        return "cupy is not installed (pip install 'chainrule[cupy]', which installs cupy-cuda12x)"
    import ctypes.util
    if ctypes.util.find_library("cuda") is None and ctypes.util.find_library("nvcuda") is None:
        import os
        if not os.path.exists("/dev/nvidiactl"):
            return "no CUDA device (no NVIDIA driver found); use the numpy or torch backend"
    try:
        import cupy
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, or a CUDA version mismatch
        return f"no CUDA device ({type(exc).__name__}: {exc})"
    if count <= _index(device):
        return f"no CUDA device {_index(device)} (CuPy sees {count})"
    return None


def _owns(obj):
    return type(obj).__module__.startswith("cupy")


def load(device=None):
    import cupy as cp
    import cupyx
    import numpy as np

    names = ["bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64"]
    to_cp = {n: np.dtype(n) for n in names}
    to_name = {dt: n for n, dt in to_cp.items()}
    gpu = cp.cuda.Device(_index(device))
    with gpu:
        rng = [cp.random.RandomState()]

    def cp_dtype(dtype):
        try:
            return to_cp[dtype]
        except KeyError:
            raise DTypeError(f"the cupy backend has no dtype {dtype} (CuPy has no bfloat16)") from None

    def asarray(data, dtype=None):
        with gpu:
            return cp.asarray(data, dtype=None if dtype is None else cp_dtype(dtype))

    def from_dlpack(obj):
        with gpu:
            out = cp.from_dlpack(obj)
        if out.device.id != gpu.id:
            with gpu:
                out = cp.asarray(out)
        return out

    def seed(n):
        with gpu:
            rng[0] = cp.random.RandomState(int(n))

    def sampler(method):
        def sample(shape, dtype):
            dt = cp_dtype(dtype)
            draw = getattr(rng[0], method)
            if dt in (np.float32, np.float64):
                return draw(size=shape, dtype=dt)
            return draw(size=shape, dtype=np.float32).astype(dt)
        return sample

    def reducer(fn):
        def reduce(x, axis=None, keepdims=False):
            return fn(x, axis=axis, keepdims=keepdims)
        return reduce

    def accumulating(fn):
        """sum and prod: float16 accumulates in float32 and rounds once, as in torch; uint8
        in int64, as torch's (NumPy's uint64 is no chainrule dtype)."""
        def reduce(x, axis=None, keepdims=False):
            if x.dtype == np.float16:
                return fn(x, axis=axis, dtype=np.float32, keepdims=keepdims).astype(np.float16)
            return fn(x, axis=axis, keepdims=keepdims, dtype=np.int64 if x.dtype.kind == "u" else None)
        return reduce

    def inplace(ufunc):
        def update(x, y):
            _refuse_out_of_range(np, y, x.dtype)
            if type(y) in _NUMBERS and x.dtype == np.float16:   # in float32, rounded once, as x + y
                cp.copyto(x, ufunc(x.astype(np.float32), y), casting="same_kind")
            else:
                ufunc(x, y, out=x, casting="same_kind")
        return update

    def setitem(x, index, v):
        _refuse_out_of_range(np, v, x.dtype)   # CuPy 13 would wrap x[i] = 300 into int8
        x[index] = v

    def assign(dst, src):
        _refuse_out_of_range(np, src, dst.dtype)
        cp.copyto(dst, src, casting="same_kind")

    def where(cond, x, y):
        for v, other in ((x, y), (y, x)):   # NumPy's where wraps it too: refused, as in the numpy backend
            _refuse_out_of_range(np, v, getattr(other, "dtype", None))
        return cp.where(cond, x, y)

    def on_device(ns):
        """Every kernel runs with this backend's GPU current (only needed off device 0)."""
        def wrap(fn):
            def kernel(*args, **kwargs):
                with gpu:
                    return fn(*args, **kwargs)
            return kernel
        for k, v in vars(ns).items():
            if callable(v) and k != "array_types":
                setattr(ns, k, wrap(v))
        return ns

    ns = types.SimpleNamespace(
        array_types=(),   # arrays of every GPU share a type: backend_of_raw asks the device
        asarray=asarray, from_dlpack=from_dlpack, to_numpy=cp.asnumpy, shape=operator.attrgetter("shape"),
        dtype=lambda x: to_name[x.dtype], astype=lambda x, dtype: x.astype(cp_dtype(dtype), copy=False),
        copy=cp.copy, item=lambda x: x.item(), assign=assign,
        shares_memory=cp.may_share_memory, owns_memory=lambda x: x.base is None,
        iadd=inplace(cp.add), isub=inplace(cp.subtract), imul=inplace(cp.multiply), idiv=inplace(cp.true_divide),
        zeros=lambda shape, dtype: cp.zeros(shape, cp_dtype(dtype)),
        ones=lambda shape, dtype: cp.ones(shape, cp_dtype(dtype)),
        full=lambda shape, value, dtype: cp.full(shape, value, cp_dtype(dtype)),
        arange=lambda start, stop, step, dtype: cp.arange(start, stop, step, dtype=cp_dtype(dtype)),
        eye=lambda n, m, dtype: cp.eye(n, m, dtype=cp_dtype(dtype)),
        seed=seed, normal=sampler("standard_normal"), uniform=sampler("random_sample"),
        randint=lambda low, high, shape: rng[0].randint(low, high, size=shape, dtype=np.int64),
        permutation=lambda n: rng[0].permutation(n).astype(np.int64),
        add=cp.add, subtract=cp.subtract, multiply=cp.multiply, divide=cp.true_divide,
        power=cp.power, maximum=cp.maximum, minimum=cp.minimum, negative=cp.negative,
        exp=cp.exp, log=cp.log, log1p=cp.log1p, expm1=cp.expm1, sqrt=cp.sqrt, abs=cp.abs,
        sign=cp.sign, sin=cp.sin, cos=cp.cos, tan=cp.tan, tanh=cp.tanh, floor=cp.floor,
        erf=_typed_as_exp(np, lambda x: cupyx.scipy.special.erf(x)),
        where=where, clip=lambda x, lo=None, hi=None: cp.array(x) if lo is None and hi is None
        else cp.clip(cp.asarray(x), lo, hi),   # CuPy's clip is a.clip(): a Python number has none
        greater=cp.greater, greater_equal=cp.greater_equal, less=cp.less,
        less_equal=cp.less_equal, equal=cp.equal, not_equal=cp.not_equal,
        logical_and=cp.logical_and, logical_or=cp.logical_or, logical_not=cp.logical_not,
        isfinite=cp.isfinite, isnan=cp.isnan,
        # NumPy's elementwise names (issue 13)
        sinh=cp.sinh, cosh=cp.cosh, arcsin=cp.arcsin, arccos=cp.arccos, arctan=cp.arctan,
        arcsinh=cp.arcsinh, arccosh=cp.arccosh, arctanh=cp.arctanh, exp2=cp.exp2, log2=cp.log2,
        log10=cp.log10, sinc=cp.sinc, erfc=_typed_as_exp(np, lambda x: cupyx.scipy.special.erfc(x)),
        ceil=cp.ceil, trunc=cp.trunc, round=lambda x, decimals=0: cp.around(x, decimals),
        nan_to_num=lambda x, nan=0.0, posinf=None, neginf=None: cp.nan_to_num(
            x, copy=True, nan=nan, posinf=posinf, neginf=neginf),
        arctan2=cp.arctan2, hypot=cp.hypot, logaddexp=cp.logaddexp, logaddexp2=cp.logaddexp2,
        remainder=cp.remainder,
        sum=accumulating(cp.sum), prod=accumulating(cp.prod), max=reducer(cp.max), min=reducer(cp.min),
        any=reducer(cp.any), all=reducer(cp.all),
        argmax=lambda x, axis=None, keepdims=False: cp.argmax(x, axis=axis, keepdims=keepdims),
        argmin=lambda x, axis=None, keepdims=False: cp.argmin(x, axis=axis, keepdims=keepdims),
        cumsum=lambda x, axis: _scan(cp, cp.cumsum, x, axis), cumprod=lambda x, axis: _scan(cp, cp.cumprod, x, axis),
        einsum=lambda subscripts, *operands: _einsum(cp, subscripts, *operands),
        reshape=lambda x, shape: cp.reshape(x, shape), transpose=lambda x, axes=None: cp.transpose(x, axes),
        broadcast_to=lambda x, shape: cp.broadcast_to(x, shape),
        expand_dims=lambda x, axis: cp.expand_dims(x, axis), squeeze=lambda x, axis=None: cp.squeeze(x, axis),
        concat=lambda xs, axis=0: cp.concatenate(xs, axis=axis), stack=lambda xs, axis=0: cp.stack(xs, axis=axis),
        getitem=lambda x, index: x[index], setitem=setitem,
        scatter_add=lambda dst, index, values: cupyx.scatter_add(dst, index, values),
        take=lambda x, indices, axis=None: cp.take(x, indices, axis=axis),
        take_along_axis=lambda x, indices, axis: cp.take_along_axis(x, indices, axis=axis),
        argsort=lambda x, axis=-1, descending=False: _argsort(cp, x, axis, descending),
        matmul=cp.matmul, eigh=lambda x: tuple(cp.linalg.eigh(x)), qr=lambda x: tuple(cp.linalg.qr(x)),
        solve=cp.linalg.solve, inv=cp.linalg.inv, det=cp.linalg.det,
        slogdet=lambda x: tuple(cp.linalg.slogdet(x)), cholesky=cp.linalg.cholesky,
        svd=lambda x, full_matrices: tuple(cp.linalg.svd(x, full_matrices=full_matrices)),
        eig=lambda x: _real_eig(cp, x),
    )
    _elementwise(np, ns)
    return ns if gpu.id == 0 else on_device(ns)


_UNARY = ("negative", "exp", "log", "log1p", "expm1", "sqrt", "abs", "sign", "sin", "cos", "tan", "tanh",
          "floor", "logical_not", "isfinite", "isnan", "sinh", "cosh", "arcsin", "arccos", "arctan",
          "arcsinh", "arccosh", "arctanh", "exp2", "log2", "log10", "sinc", "ceil", "trunc")
_BINARY = ("add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2", "hypot",
           "logaddexp", "logaddexp2", "remainder", "logical_and", "logical_or")
_COMPARISONS = ("greater", "greater_equal", "less", "less_equal", "equal", "not_equal")
_NUMPY_NAMES = {"abs": "absolute", "divide": "true_divide"}


def _elementwise(np, ns):
    """The ufunc kernels take exactly their operands: CuPy's ufuncs, as NumPy's, read one more
    positional argument as out= (cr.abs(x, y) would write into y; the numpy backend refuses).
    A Python int beside an integer array that its dtype cannot hold is typed as NumPy 2 (the
    numpy backend) types it, whatever CuPy's version: CuPy 13 promotes by value (int8 * 300 is
    int16, written back into int8 by x *= 300), CuPy 14 follows NEP 50."""
    for name in _UNARY:
        setattr(ns, name, (lambda fn: lambda x: fn(x))(getattr(ns, name)))
    for name in _BINARY + _COMPARISONS:
        setattr(ns, name, _binary(np, getattr(ns, name), _NUMPY_NAMES.get(name, name)))


def _binary(np, fn, npname):
    low_scalars = npname in _ARITHMETIC

    def kernel(x, y):
        if low_scalars and (type(x) in _NUMBERS or type(y) in _NUMBERS):
            array = y if type(x) in _NUMBERS else x
            if getattr(array, "dtype", None) == np.float16:   # as the numpy backend: in float32,
                wide = array.astype(np.float32)              # rounded once (not 70000 -> inf first)
                return fn(x, wide).astype(np.float16) if array is y else fn(wide, y).astype(np.float16)
        if type(x) is int or type(y) is int:
            x, y = _python_int(np, npname, x, y)
        return fn(x, y)
    return kernel


_ARITHMETIC = ("add", "subtract", "multiply", "true_divide", "power")
_NUMBERS = (int, float)


def _python_int(np, npname, x, y):
    """x, y with an out-of-range Python int retyped: compared exactly (as +-inf), refused where
    NumPy's loop would hold it in the integer dtype (OverflowError), else a NumPy scalar of the
    float or bool type NumPy computes in."""
    v, other = (x, y) if type(x) is int else (y, x)
    dtype = getattr(other, "dtype", None)
    if dtype is None or dtype.kind not in "iu" or _fits(np, v, dtype):
        return x, y
    if npname in _COMPARISONS:
        v = float("inf") if v > 0 else float("-inf")
    else:
        try:   # NumPy answers the typing question on a 0-d host array (OverflowError: refused)
            out = getattr(np, npname)(*((np.zeros((), dtype), v) if v is y else (v, np.zeros((), dtype)))).dtype
        except OverflowError:
            raise OverflowError(f"Python integer {v} out of bounds for {dtype}") from None
        if out.kind in "bf":   # a NumPy scalar of the result's type: CuPy 13 and 14 type it alike
            v = out.type(v)
    return (v, y) if type(x) is int else (x, v)


def _fits(np, v, dtype):
    info = np.iinfo(dtype)
    return info.min <= v <= info.max


def _refuse_out_of_range(np, v, dtype):
    """NumPy 2 refuses a Python int that an integer dtype cannot hold (300 into int8); CuPy 13
    would wrap it around."""
    if type(v) is int and dtype is not None and dtype.kind in "iu" and not _fits(np, v, dtype):
        raise OverflowError(f"Python integer {v} out of bounds for {dtype}")


def _typed_as_exp(np, fn):
    """erf/erfc typed as NumPy types exp (float16 kept, bool/int8/uint8 -> float16, int16 ->
    float32), as the numpy backend's: cupyx's ufuncs have float32 and float64 loops only."""
    def kernel(x):
        out = fn(x)
        want = np.result_type(x.dtype, np.float16)
        return out if out.dtype == want else out.astype(want)
    return kernel


def _real_eig(cp, x):
    """eig with real results, as the kernel contract says; on the host where CuPy has no eig."""
    if hasattr(cp.linalg, "eig"):
        w, v = cp.linalg.eig(x)
    else:
        import numpy
        w, v = (cp.asarray(a) for a in numpy.linalg.eig(cp.asnumpy(x)))
    if w.dtype.kind == "c":
        if bool((w.imag != 0).any()):
            raise ValueError("eig: the matrix has complex eigenvalues")
        w, v = w.real.copy(), v.real.copy()
    return w, v


def _argsort(cp, x, axis, descending):
    """Stable, as NumPy's kind="stable" (CuPy sorts stably); descending as in the NumPy backend."""
    if not descending:
        return cp.argsort(x, axis=axis)
    n = x.shape[axis]
    return (n - 1) - cp.flip(cp.argsort(cp.flip(x, axis), axis=axis), axis)


def _scan(cp, fn, x, axis):
    """cumsum/cumprod; float16 accumulates in float32 and rounds once, as torch's does;
    uint8 in int64."""
    if x.dtype == cp.float16:
        return fn(x, axis, dtype=cp.float32).astype(cp.float16)
    return fn(x, axis, dtype=cp.int64 if x.dtype.kind == "u" else None)


def _einsum(cp, subscripts, *operands):
    """cp.einsum as a new array, never a view of an operand ('ij->ji', 'ii->i')."""
    out = cp.einsum(subscripts, *operands)
    return out.copy() if any(cp.may_share_memory(out, o) for o in operands) else out


@hookimpl
def chainrule_backends():
    return [BackendSpec("cupy", load=load, unavailable=unavailable, owns=_owns,
                        canonical_device=canonical_device,
                        description="CuPy arrays on a CUDA device")]

"""The NumPy backend: CPU arrays, the default.  NumPy is imported on first use (``load``).

Kernels are NumPy's ufuncs behind one thin wrapper (``_arrays``): NumPy answers a 0-d
result with a NumPy scalar, and a kernel always returns an ndarray (a scalar has no
``out=``, no views, no in-place ops).  Reductions use ``ufunc.reduce``: ``np.sum`` adds
~1 us of Python dispatch per call, which is most of an op on small arrays.

Dtypes follow the installed NumPy: with NumPy 2 a NumPy scalar is typed (NEP 50:
float32 array * np.float64 scalar is float64) and a Python float never promotes a
float16/bfloat16 array.  float16/bfloat16 sums accumulate in float32, as torch's do.

Layout, as in the torch backend and in the order of ``chainrule.backends.KERNELS``: the
kernels are module-level functions (families of them built by small factories:
``_arrays``, ``_reducer``, ``_in_place``), and ``load`` returns the one kernel table,
binding the random kernels to the backend's generator with ``functools.partial``.
"""
import math
import operator
import types
from functools import partial

from chainrule.backends import BackendSpec
from chainrule.errors import DTypeError
from chainrule.hookspecs import hookimpl

# -------------------------------------------------------------- the backend spec


def _owns(obj):
    return type(obj).__module__ == "numpy"


@hookimpl
def chainrule_backends():
    return [BackendSpec("numpy", load=load, owns=_owns, description="NumPy arrays on the CPU")]


# ------------------------------------------------------------------ numpy, dtypes
# Module globals filled by _import_numpy() on the first load(); the kernels below read them.
np = ndarray = None
TO_NUMPY = {}    # chainrule dtype name -> NumPy dtype (bfloat16 added on first need)
DTYPE_NAME = {}  # NumPy dtype -> chainrule dtype name
_NAMES = ("bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64")


def _import_numpy():
    global np, ndarray
    if np is not None:
        return
    import numpy
    TO_NUMPY.update({n: numpy.dtype(n) for n in _NAMES})
    DTYPE_NAME.update({dt: n for n, dt in TO_NUMPY.items()})
    ndarray = numpy.ndarray
    np = numpy   # last: a thread seeing np set sees the tables filled


def _forget_bfloat16():
    """A new table learns bfloat16 on its first need, as in a new process: whether ml_dtypes
    can be imported is asked again (tests load a table with it blocked)."""
    bf16 = TO_NUMPY.pop("bfloat16", None)
    DTYPE_NAME.pop(bf16, None)


def _with_bfloat16():
    """bfloat16 through ml_dtypes, imported on first need: it takes about a second."""
    if "bfloat16" not in TO_NUMPY:
        try:
            import ml_dtypes
        except ImportError:
            return False
        TO_NUMPY["bfloat16"] = np.dtype(ml_dtypes.bfloat16)
        DTYPE_NAME[TO_NUMPY["bfloat16"]] = "bfloat16"
    return True


def numpy_dtype(dtype):
    try:
        return TO_NUMPY[dtype]
    except KeyError:
        if dtype == "bfloat16" and _with_bfloat16():
            return TO_NUMPY[dtype]
        hint = " (pip install ml_dtypes)" if dtype == "bfloat16" else ""
        raise DTypeError(f"the numpy backend has no dtype {dtype}{hint}") from None


def _arrays(kernel):
    """The kernel, answering an ndarray where NumPy would give a NumPy scalar (0-d results).
    One- and two-argument ufuncs get wrappers without *args: they are most of the calls."""
    nin = getattr(kernel, "nin", None)
    if nin == 1:
        def run(x):
            out = kernel(x)
            return out if type(out) is ndarray else np.asarray(out)
    elif nin == 2:
        def run(x, y):
            out = kernel(x, y)
            return out if type(out) is ndarray else np.asarray(out)
    else:
        def run(*args, **kwargs):
            out = kernel(*args, **kwargs)
            return out if type(out) is ndarray else np.asarray(out)
    run.__name__ = getattr(kernel, "__name__", "kernel")
    return run


def _arithmetic(ufunc):
    """add, subtract, multiply, divide, power: as ``_arrays``, but a Python number with a
    float16/bfloat16 array is computed in float32 and rounded once, as torch computes it
    (NumPy rounds the number to float16 first: x * 70000.0 is inf, x / 1e5 is 0)."""
    def run(x, y):
        if type(x) is ndarray and type(y) is ndarray:   # most calls
            out = ufunc(x, y)
        elif type(y) in _NUMBERS and type(x) is ndarray and x.dtype.itemsize == 2 \
                and x.dtype.name in _LOW_PRECISION:
            return ufunc(x.astype(np.float32), y).astype(x.dtype)
        elif type(x) in _NUMBERS and type(y) is ndarray and y.dtype.itemsize == 2 \
                and y.dtype.name in _LOW_PRECISION:
            return ufunc(x, y.astype(np.float32)).astype(y.dtype)
        else:
            out = ufunc(x, y)
        return out if type(out) is ndarray else np.asarray(out)
    run.__name__ = ufunc.__name__
    return run


_NUMBERS = (int, float)   # not bool: True is no number to compute with
_LOW_PRECISION = ("float16", "bfloat16")


# ----------------------------------------------------- conversion and metadata

def asarray(data, dtype=None):
    return np.asarray(data, dtype=None if dtype is None else numpy_dtype(dtype))


def dtype(x):
    try:
        return DTYPE_NAME[x.dtype]
    except KeyError:   # an ml_dtypes array made before the backend imported it
        if x.dtype.name == "bfloat16" and _with_bfloat16():
            return DTYPE_NAME[x.dtype]
        raise DTypeError(f"the numpy backend has no dtype {x.dtype}") from None


def astype(x, dtype):
    return np.asarray(x).astype(numpy_dtype(dtype), copy=False)


def item(x):
    return x.item()


def assign(dst, src):
    np.copyto(dst, src, casting="same_kind")


# ------------------------------------------------------------------ memory facts

def owns_memory(x):
    return x.base is None and x.flags.writeable


_BLOCK_BYTES = 1 << 18   # 256 KiB: a block's alpha * y is still in cache when it is added


def iadd_scaled(x, y, alpha):
    """x += alpha * y in place, block by block: the product never makes a trip through main
    memory (an SGD step on a 784x512 float32 weight takes 0.55x the time of x += alpha * y);
    the same two roundings per entry, so the same values.  A y sharing x's memory takes the
    plain path, which reads all of y before writing."""
    step = _BLOCK_BYTES // x.itemsize
    if x.size > step and x.shape == y.shape and x.dtype == y.dtype and x.flags.c_contiguous \
            and y.flags.c_contiguous and not np.may_share_memory(x, y):   # y read before written
        fx, fy = x.reshape(-1), y.reshape(-1)
        for i in range(0, x.size, step):
            block = fx[i:i + step]
            block += fy[i:i + step] * alpha
    else:
        x += y * alpha   # NumPy's in-place casting rule (same_kind)


def _in_place(ufunc):
    """iadd and friends: ufunc(x, y, out=x), refusing a cast NumPy would not do in place; a
    Python number into float16/bfloat16 computed in float32 and rounded once, as x + y is."""
    def update(x, y):
        if type(y) in _NUMBERS and x.dtype.itemsize == 2 and x.dtype.name in _LOW_PRECISION:
            np.copyto(x, ufunc(x.astype(np.float32), y), casting="same_kind")
        else:
            ufunc(x, y, out=x, casting="same_kind")
    return update


# ---------------------------------------------------------------------- creation

def zeros(shape, dtype):
    return np.zeros(shape, numpy_dtype(dtype))


def ones(shape, dtype):
    return np.ones(shape, numpy_dtype(dtype))


def full(shape, value, dtype):
    return np.full(shape, value, numpy_dtype(dtype))


def arange(start, stop, step, dtype):
    return np.arange(start, stop, step, dtype=numpy_dtype(dtype))


def eye(n, m, dtype):
    return np.eye(n, m, dtype=numpy_dtype(dtype))


# ------------------------------------------------------------------------ random
# Each takes the backend's Random (seed() replaces its generator).

class Random:
    """The backend's own generator."""

    def __init__(self):
        self.generator = np.random.default_rng()


def seed(random, n):
    random.generator = np.random.default_rng(n)


def rng_state(random):
    return random.generator.bit_generator.state


def set_rng_state(random, snapshot):
    random.generator.bit_generator.state = snapshot


def normal(random, shape, dtype):
    dt = numpy_dtype(dtype)
    if dt in (np.float32, np.float64):
        return random.generator.standard_normal(shape, dtype=dt)
    return random.generator.standard_normal(shape).astype(dt)


def uniform(random, shape, dtype):
    dt = numpy_dtype(dtype)
    if dt in (np.float32, np.float64):
        return random.generator.random(shape, dtype=dt)
    return random.generator.random(shape).astype(dt)


def randint(random, low, high, shape):
    return random.generator.integers(low, high, size=shape, dtype=np.int64)


def permutation(random, n):
    return random.generator.permutation(n).astype(np.int64)


# -------------------------------------------------------------------- elementwise

def _erf_float64():
    """erf of a float64 array: SciPy's C loop when SciPy is installed, else the C library's
    ``math.erf`` element by element (slower, the same numbers to an ulp)."""
    try:
        from scipy.special import erf
        return erf
    except ImportError:
        per_element = np.frompyfunc(math.erf, 1, 1)
        return lambda x: np.asarray(per_element(x), dtype=np.float64)


_ERF_DTYPES = {}   # input dtype -> result dtype


def _erf(erf_float64):
    """erf typed as NumPy types exp (integers -> float, float16/bfloat16 kept), in float64."""
    def erf(x):
        x = np.asarray(x)
        out = _ERF_DTYPES.get(x.dtype)
        if out is None:
            out = _ERF_DTYPES[x.dtype] = np.exp(np.zeros(1, x.dtype)).dtype
        return np.asarray(erf_float64(x.astype(np.float64, copy=False))).astype(out, copy=False)
    return erf


def _clip(x, lo=None, hi=None):
    return np.clip(x, lo, hi)


def _where(cond, x, y):
    """np.where, refusing a Python int that its integer operand cannot hold: NumPy's where
    wraps it (where(c, int8, 300) gives 44) where its arithmetic raises, as here."""
    if type(x) is int or type(y) is int:   # rare: where's callers pass arrays or floats
        for v, other in ((x, y), (y, x)):
            if type(v) is int and getattr(other, "dtype", None) is not None and other.dtype.kind in "iu":
                info = np.iinfo(other.dtype)
                if not info.min <= v <= info.max:
                    raise OverflowError(f"Python integer {v} out of bounds for {other.dtype}")
    return np.where(cond, x, y)


# NumPy's elementwise names (issue 13)

def _erfc_float64():
    """erfc of a float64 array, as ``_erf_float64``: SciPy's, else ``math.erfc`` per element."""
    try:
        from scipy.special import erfc
        return erfc
    except ImportError:
        per_element = np.frompyfunc(math.erfc, 1, 1)
        return lambda x: np.asarray(per_element(x), dtype=np.float64)


def _sinc(x):
    """np.sinc; float16/bfloat16 computed in float32 and rounded once, as NumPy's ufuncs do
    (np.sinc is Python, so in float16 it would round pi * x first: sinc(1) = 3e-4, not 0)."""
    if x.dtype.itemsize == 2 and x.dtype.name in _LOW_PRECISION:
        return np.sinc(x.astype(np.float32)).astype(x.dtype)
    return np.sinc(x)


def _round(x, decimals=0):
    return np.round(x, decimals)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """np.nan_to_num as a new array; bfloat16 (whose finfo NumPy does not know, so NumPy
    would leave its infinities) through float32 with ml_dtypes' bounds."""
    if x.dtype.name == "bfloat16":
        import ml_dtypes
        info = ml_dtypes.finfo(x.dtype)
        posinf = float(info.max) if posinf is None else posinf
        neginf = float(info.min) if neginf is None else neginf
        wide = np.nan_to_num(x.astype(np.float32), nan=nan, posinf=posinf, neginf=neginf)
        return wide.astype(x.dtype)
    return np.asarray(np.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf))


# ---------------------------------------------------------------------- reductions

def _reducer(ufunc):
    def reduce(x, axis=None, keepdims=False):
        out = ufunc.reduce(x, axis=axis, keepdims=keepdims)
        return out if type(out) is ndarray else np.asarray(out)
    return reduce


def _accumulating(ufunc):
    """sum and prod: float16/bfloat16 accumulate in float32 and round once, as in torch;
    uint8 in int64, as torch's (NumPy's uint64 is no chainrule dtype)."""
    def reduce(x, axis=None, keepdims=False):
        if x.dtype.itemsize == 2 and x.dtype.name in _LOW_PRECISION:
            return np.asarray(ufunc.reduce(x, axis=axis, dtype=np.float32, keepdims=keepdims)
                              .astype(x.dtype))
        out = ufunc.reduce(x, axis=axis, keepdims=keepdims,
                           dtype=np.int64 if x.dtype.kind == "u" else None)
        return out if type(out) is ndarray else np.asarray(out)
    return reduce



def _argmax(x, axis=None, keepdims=False):
    return np.argmax(x, axis=axis, keepdims=keepdims)


def _argmin(x, axis=None, keepdims=False):
    return np.argmin(x, axis=axis, keepdims=keepdims)


# ------------------------------------------------------------ scans and products

def _scan(fn):
    """cumsum/cumprod; float16/bfloat16 accumulate in float32 and round each result once, as
    torch's do (NumPy's float16 running sum of 0.1s stalls at 256); uint8 in int64."""
    def kernel(x, axis):
        if x.dtype.itemsize == 2 and x.dtype.name in _LOW_PRECISION:
            return fn(x, axis, dtype=np.float32).astype(x.dtype)
        return fn(x, axis, dtype=np.int64 if x.dtype.kind == "u" else None)   # uint8: as torch
    kernel.__name__ = fn.__name__
    return kernel


_EINSUM_OPTIMIZE_SIZE = 4096   # from here on a contraction path (BLAS) pays for planning it


def einsum(subscripts, *operands):
    """np.einsum, planned (optimize) for three or more operands or big ones; a new array,
    never a view (NumPy answers 'ij->ji' and 'ii->i' with views of the operand)."""
    optimize = len(operands) > 2 or any(np.size(o) >= _EINSUM_OPTIMIZE_SIZE for o in operands)
    dtypes = [getattr(o, "dtype", None) for o in operands]
    bfloat16 = next((d for d in dtypes if d is not None and d.name == "bfloat16"), None)
    if bfloat16 is not None:   # ml_dtypes has no einsum loop: accumulate in float32
        operands = [o.astype(np.float32) if d is bfloat16 else o for o, d in zip(operands, dtypes)]
    out = np.einsum(subscripts, *operands, optimize=optimize)
    if bfloat16 is not None and all(d is bfloat16 for d in dtypes):   # rounded once, as matmul
        out = np.asarray(out).astype(bfloat16)
    if type(out) is not ndarray:
        return np.asarray(out)
    if out.base is not None and any(np.may_share_memory(out, o) for o in operands):
        out = out.copy()
    return out


# -------------------------------------------------------------- shape and indexing

def reshape(x, shape):
    return np.asarray(x).reshape(shape)


def transpose(x, axes):
    return np.asarray(x).transpose(axes)


def expand_dims(x, axis):  # np.expand_dims spends microseconds normalizing its axis
    shape = np.shape(x)
    if axis < 0:
        axis += len(shape) + 1
    return np.asarray(x).reshape(shape[:axis] + (1,) + shape[axis:])


def squeeze(x, axis):
    return np.asarray(x).squeeze(axis)


def concat(xs, axis):
    return np.concatenate(xs, axis=axis)


def stack(xs, axis):
    return np.stack(xs, axis=axis)


def getitem(x, index):
    out = x[index]
    if type(out) is ndarray:
        return out
    # an integer for every axis gives NumPy a scalar copy; index on with "..." for a
    # 0-d view instead, as torch's x[0] is
    return x[(index if type(index) is tuple else (index,)) + (Ellipsis,)]


def setitem(x, index, v):
    x[index] = v


def _take(x, indices, axis):
    return np.take(x, indices, axis=axis)


def take_along_axis(x, indices, axis):
    if x.ndim == 2 and indices.ndim == 2 and axis % 2 == 1 and indices.dtype.kind in "iu":
        # a pick per row (cross-entropy's): the same fancy index, without NumPy's checks in Python
        return x[np.arange(x.shape[0])[:, None], indices]
    return np.take_along_axis(x, indices, axis=axis)


def argsort(x, axis=-1, descending=False):
    """Stable; descending as the reverse of a stable sort of x reversed (ties keep their order)."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    n = x.shape[axis]
    return (n - 1) - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)


# -------------------------------------------------------------------- linear algebra

def matmul(x, y):
    """x @ y.  bfloat16 @ bfloat16: ml_dtypes has no matmul loop and NumPy answers float32; the
    product is rounded once back to bfloat16, as torch's (which accumulates in float32)."""
    out = np.matmul(x, y)
    if type(out) is not ndarray:
        out = np.asarray(out)
    if out.dtype is not x.dtype and x.dtype is y.dtype:   # identity: float32 pays one compare
        out = out.astype(x.dtype)
    return out


def eigh(x):
    return tuple(np.linalg.eigh(x))


def qr(x):
    return tuple(np.linalg.qr(x))


# cr.linalg: every matrix argument is (..., n, n) or (..., m, n); solve's b is (..., n, k)

def det(x):
    return np.asarray(np.linalg.det(x))


def slogdet(x):
    sign, logabsdet = np.linalg.slogdet(x)
    return np.asarray(sign), np.asarray(logabsdet)


def svd(x, full_matrices):
    return tuple(np.linalg.svd(x, full_matrices=full_matrices))


def eig(x):
    w, v = np.linalg.eig(x)
    if np.iscomplexobj(w):   # NumPy answers real arrays when every eigenvalue is real
        raise ValueError("eig: the matrix has complex eigenvalues")
    return w, v


# ------------------------------------------------------------------ the kernel table

def load(device=None):
    """The kernel table; the generator is the only state, bound into the random kernels."""
    _import_numpy()
    _forget_bfloat16()
    random = Random()
    return types.SimpleNamespace(
        array_types=(np.ndarray, np.generic),
        # conversion and metadata
        asarray=asarray, to_numpy=np.asarray, shape=operator.attrgetter("shape"), dtype=dtype,
        astype=astype, copy=np.copy, item=item, assign=assign,
        # memory facts, in-place arithmetic
        shares_memory=np.may_share_memory, owns_memory=owns_memory,
        iadd=_in_place(np.add), isub=_in_place(np.subtract), imul=_in_place(np.multiply),
        idiv=_in_place(np.true_divide), iadd_scaled=iadd_scaled,
        # creation
        zeros=zeros, ones=ones, full=full, arange=arange, eye=eye,
        # random
        seed=partial(seed, random), rng_state=partial(rng_state, random),
        set_rng_state=partial(set_rng_state, random), normal=partial(normal, random),
        uniform=partial(uniform, random), randint=partial(randint, random),
        permutation=partial(permutation, random),
        # elementwise
        add=_arithmetic(np.add), subtract=_arithmetic(np.subtract), multiply=_arithmetic(np.multiply),
        divide=_arithmetic(np.true_divide), power=_arithmetic(np.power), maximum=_arrays(np.maximum),
        minimum=_arrays(np.minimum), negative=_arrays(np.negative), exp=_arrays(np.exp),
        log=_arrays(np.log), log1p=_arrays(np.log1p), expm1=_arrays(np.expm1), sqrt=_arrays(np.sqrt),
        abs=_arrays(np.abs), sign=_arrays(np.sign), sin=_arrays(np.sin), cos=_arrays(np.cos),
        tan=_arrays(np.tan), tanh=_arrays(np.tanh), erf=_erf(_erf_float64()), floor=_arrays(np.floor),
        where=_arrays(_where), clip=_arrays(_clip),
        greater=_arrays(np.greater), greater_equal=_arrays(np.greater_equal), less=_arrays(np.less),
        less_equal=_arrays(np.less_equal), equal=_arrays(np.equal), not_equal=_arrays(np.not_equal),
        logical_and=_arrays(np.logical_and), logical_or=_arrays(np.logical_or),
        logical_not=_arrays(np.logical_not), isfinite=_arrays(np.isfinite), isnan=_arrays(np.isnan),
        # NumPy's elementwise names (issue 13)
        sinh=_arrays(np.sinh), cosh=_arrays(np.cosh), arcsin=_arrays(np.arcsin),
        arccos=_arrays(np.arccos), arctan=_arrays(np.arctan), arcsinh=_arrays(np.arcsinh),
        arccosh=_arrays(np.arccosh), arctanh=_arrays(np.arctanh), exp2=_arrays(np.exp2),
        log2=_arrays(np.log2), log10=_arrays(np.log10), sinc=_arrays(_sinc),
        erfc=_erf(_erfc_float64()), ceil=_arrays(np.ceil), trunc=_arrays(np.trunc),
        round=_arrays(_round), nan_to_num=nan_to_num,
        arctan2=_arrays(np.arctan2), hypot=_arrays(np.hypot), logaddexp=_arrays(np.logaddexp),
        logaddexp2=_arrays(np.logaddexp2), remainder=_arrays(np.remainder),
        # reductions
        sum=_accumulating(np.add), prod=_accumulating(np.multiply), max=_reducer(np.maximum),
        min=_reducer(np.minimum), any=_reducer(np.logical_or), all=_reducer(np.logical_and),
        argmax=_arrays(_argmax), argmin=_arrays(_argmin),
        cumsum=_scan(np.cumsum), cumprod=_scan(np.cumprod), einsum=einsum,
        # shape and indexing
        reshape=reshape, transpose=transpose, broadcast_to=np.broadcast_to,
        expand_dims=expand_dims, squeeze=squeeze, concat=concat, stack=stack,
        getitem=getitem, setitem=setitem, scatter_add=np.add.at,
        take=_arrays(_take), take_along_axis=take_along_axis, argsort=argsort,
        # linear algebra
        matmul=matmul, eigh=eigh, qr=qr,
        solve=np.linalg.solve, inv=np.linalg.inv, det=det, slogdet=slogdet,
        cholesky=np.linalg.cholesky, svd=svd, eig=eig,
    )

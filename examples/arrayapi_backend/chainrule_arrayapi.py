"""A chainrule backend over the Array API standard, with array-api-strict's arrays.

The plugin contract in full: answer the ``chainrule_backends`` hook with a
``BackendSpec`` whose ``load`` imports the library lazily and returns an object
with one attribute per kernel of ``chainrule.backends.KERNELS``.

The standard is strict where NumPy is lenient (no int + float promotion, no
arithmetic on bools, restricted advanced indexing), and chainrule kernels follow
NumPy.  So binary kernels first ask NumPy which dtype it would compute in and
cast the operands (``promote``); kernels the standard lacks go through NumPy,
and say so.
"""
import importlib.util
import math

from chainrule.backends import BackendSpec
from chainrule.hookspecs import hookimpl

NAMES = ("bool", "int8", "uint8", "int16", "int32", "int64", "float32", "float64")


def unavailable(device=None):
    if importlib.util.find_spec("array_api_strict") is None:
        return "array-api-strict is not installed (pip install array-api-strict)"
    if device is not None:
        return f"the arrayapi backend has only the CPU device, not {device!r}"
    return None


def owns(obj):
    return type(obj).__module__.startswith("array_api_strict")


def load(device=None):
    import numpy as np
    import array_api_strict as xp

    dtypes = {n: getattr(xp, n) for n in NAMES}
    names = {d: n for n, d in dtypes.items()}
    A = type(xp.asarray(0))
    rng = [np.random.default_rng()]

    def dt(name):
        if name not in dtypes:
            raise TypeError(f"the arrayapi backend has no dtype {name} (the Array API standard lacks it)")
        return dtypes[name]

    # ---- conversion
    def to_numpy(x):
        return np.from_dlpack(x)

    def from_numpy(a):
        a = np.asarray(a)
        if a.dtype.name not in dtypes:
            raise TypeError(f"the arrayapi backend has no dtype {a.dtype.name}")
        return xp.asarray(a.copy())

    def asarray(data, dtype=None):
        if isinstance(data, A):
            x = data
        elif isinstance(data, (np.ndarray, np.generic)):
            x = from_numpy(data)
        elif isinstance(data, (bool, int, float)):
            return xp.asarray(data, dtype=None if dtype is None else dt(dtype))
        else:
            x = from_numpy(np.asarray(data, dtype=None if dtype is None else dtype))
        return x if dtype is None else xp.astype(x, dt(dtype))

    # ---- NumPy's type promotion, which the standard leaves undefined across kinds
    probes = {float: 0.5, int: 1, bool: True}

    def rule(npname, args):
        """(dtype NumPy computes in, dtype NumPy returns) for these operands."""
        ps = [np.zeros(1, names[a.dtype]) if isinstance(a, A) else probes[type(a)] for a in args]
        common = np.result_type(*ps)
        with np.errstate(all="ignore"):
            out = common if npname is None else getattr(np, npname)(*ps).dtype
        return common.name, out.name

    def promote(npname, args, arithmetic=True):
        common, out = rule(npname, args)
        if arithmetic and out != "bool":
            common = out                      # int / int divides in float64, as NumPy does
        if common == "bool" and npname not in (None, "equal", "not_equal"):
            common = "int8"                   # the standard has no arithmetic on bools
        cast = [xp.astype(a, dt(common)) if isinstance(a, A) else xp.asarray(a, dtype=dt(common))
                for a in args]
        return cast, out

    def finish(r, out):
        return r if names[r.dtype] == out else xp.astype(r, dt(out))

    def binary(fn, npname, arithmetic=True):
        def kernel(x, y):
            args, out = promote(npname, (x, y), arithmetic)
            return finish(fn(*args), out)
        return kernel

    def truthy(x):
        if not isinstance(x, A):
            return xp.asarray(bool(x))
        return x if x.dtype == xp.bool else xp.not_equal(x, xp.asarray(0, dtype=x.dtype))

    def logical(fn):
        return lambda x, y: fn(truthy(x), truthy(y))

    def unary(fn, npname):
        def kernel(x):
            _, out = rule(npname, (x,))
            if x.dtype == xp.bool:
                return finish(fn(xp.astype(x, xp.int8)), out)
            return finish(fn(x if names[x.dtype] == out else xp.astype(x, dt(out))), out)
        return kernel

    def erf(x):  # not in the standard: math.erf elementwise in float64, typed as exp is
        _, out = rule("exp", (x,))
        values = np.vectorize(math.erf, otypes=[np.float64])(to_numpy(x))
        return xp.astype(xp.asarray(values), dt(out))

    # NumPy's elementwise names the standard lacks (exp2, sinc, erfc, logaddexp2, nan_to_num,
    # round to decimals): NumPy's functions on the values, float16 computed in float32
    def numpy_unary(fn, npname):
        def kernel(x, *args, **kwargs):
            _, out = rule(npname, (x,))
            a = to_numpy(x)
            a = a.astype(np.float32) if a.dtype == np.float16 else a
            return xp.astype(xp.asarray(np.asarray(fn(a, *args, **kwargs))), dt(out))
        return kernel

    def erfc(x):
        _, out = rule("exp", (x,))
        values = np.vectorize(math.erfc, otypes=[np.float64])(to_numpy(x))
        return xp.astype(xp.asarray(values), dt(out))

    def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
        return xp.asarray(np.nan_to_num(to_numpy(x), copy=True, nan=nan, posinf=posinf, neginf=neginf))

    def where(cond, x, y):
        (x, y), _ = promote(None, (x, y))
        return xp.where(truthy(cond), x, y)

    def clip(x, lo=None, hi=None):
        out = xp.asarray(x, copy=True)
        if lo is not None:
            out = maximum(out, lo)
        return out if hi is None else minimum(out, hi)

    # ---- reductions
    def reducer(fn, result_bool=False):
        def reduce(x, axis=None, keepdims=False):
            src = xp.astype(x, xp.int64 if fn in (xp.sum, xp.prod) else xp.int8) if x.dtype == xp.bool else x
            if fn in (xp.sum, xp.prod) and x.dtype == xp.uint8:   # the standard's uint64: no chainrule dtype
                src = xp.astype(x, xp.int64)
            r = fn(src, axis=axis, keepdims=keepdims)
            return xp.astype(r, xp.bool) if x.dtype == xp.bool and fn in (xp.max, xp.min) else r
        return reduce

    # ---- shape and indexing
    def basic(index):
        return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in index)

    def np_index(index):
        return tuple(to_numpy(p) if isinstance(p, A) else p for p in index)

    def as_tuple(index):
        return index if isinstance(index, tuple) else (index,)

    def getitem(x, index):
        index = as_tuple(index)
        if basic(index):  # the standard indexes every axis: add NumPy's implicit trailing "..."
            return x[index if Ellipsis in index else index + (Ellipsis,)]
        # NumPy-style advanced indexing is beyond the standard: through NumPy
        return xp.asarray(to_numpy(x)[np_index(index)].copy())

    def setitem(x, index, v):
        index = as_tuple(index)
        v = xp.astype(asarray(v), x.dtype) if not isinstance(v, (bool, int, float)) else v
        if basic(index):
            x[index if Ellipsis in index else index + (Ellipsis,)] = v
            return
        new = to_numpy(x).copy()
        new[np_index(index)] = to_numpy(v) if isinstance(v, A) else v
        x[...] = xp.asarray(new)

    def scatter_add(dst, index, values):  # the standard has no scatter: np.add.at
        new = to_numpy(dst).copy()
        np.add.at(new, np_index(as_tuple(index)), to_numpy(values) if isinstance(values, A) else values)
        dst[...] = xp.asarray(new)

    def numeric(x):   # bools ordered False < True, as NumPy's argmax reads them
        return xp.astype(x, xp.int8) if x.dtype == xp.bool else x

    def scan(fn):  # integers and bools accumulate in int64, as NumPy's do
        def kernel(x, axis):
            if x.dtype == xp.bool or xp.isdtype(x.dtype, "integral"):
                x = xp.astype(x, xp.int64)
            return fn(x, axis=axis)
        return kernel

    def einsum(subscripts, *operands):  # not in the standard: NumPy's, on a copy (never a view)
        return xp.asarray(np.array(np.einsum(subscripts, *[to_numpy(o) if isinstance(o, A) else o
                                                            for o in operands])))

    def real_eig(x):
        w, v = np.linalg.eig(to_numpy(x))
        if np.iscomplexobj(w):
            raise ValueError("eig: the matrix has complex eigenvalues")
        return xp.asarray(w), xp.asarray(v)

    def take(x, indices, axis=None):
        indices = asarray(indices)
        if axis is not None and indices.ndim == 1:
            return xp.take(x, indices, axis=axis)
        return xp.asarray(np.take(to_numpy(x), to_numpy(indices), axis=axis))

    def squeeze(x, axis=None):
        if axis is None:
            axis = tuple(i for i, d in enumerate(x.shape) if d == 1)
        return xp.squeeze(x, axis=axis)

    def joined(fn):
        def kernel(xs, axis=0):
            common = np.result_type(*[np.zeros(1, names[x.dtype]) for x in xs]).name
            return fn([xp.astype(x, dt(common)) for x in xs], axis=axis)
        return kernel

    def assign(dst, src):
        dst[...] = xp.astype(asarray(src), dst.dtype) if not isinstance(src, (bool, int, float)) else src

    def inplace(kernel):
        def update(x, y):
            r = kernel(x, y)
            if not np.can_cast(names[r.dtype], names[x.dtype], "same_kind"):
                raise TypeError(f"cannot store a {names[r.dtype]} result in a {names[x.dtype]} array in place")
            x[...] = xp.astype(r, x.dtype)
        return update

    # ---- random: the standard has none; NumPy's seeded generator, converted
    def seed(n):
        rng[0] = np.random.default_rng(n)

    def sample(draw):
        def kernel(shape, dtype):
            return xp.astype(xp.asarray(draw(rng[0], shape)), dt(dtype))
        return kernel

    maximum = binary(xp.maximum, "maximum")
    minimum = binary(xp.minimum, "minimum")
    add, subtract = binary(xp.add, "add"), binary(xp.subtract, "subtract")
    multiply, divide = binary(xp.multiply, "multiply"), binary(xp.divide, "true_divide")

    class Kernels:
        array_types = (A,)

    k = Kernels()
    k.__dict__.update(
        asarray=asarray, to_numpy=to_numpy, shape=lambda x: tuple(x.shape),
        dtype=lambda x: names[x.dtype], astype=lambda x, dtype: xp.astype(x, dt(dtype)),
        copy=lambda x: xp.asarray(x, copy=True), item=lambda x: to_numpy(x).item(), assign=assign,
        # memory facts, which the standard lacks: array-api-strict keeps a NumPy array inside
        shares_memory=lambda x, y: np.may_share_memory(to_numpy(x), to_numpy(y)),
        owns_memory=lambda x: x._array.base is None and x._array.flags.writeable,
        iadd=inplace(add), isub=inplace(subtract), imul=inplace(multiply), idiv=inplace(divide),
        zeros=lambda shape, dtype: xp.zeros(tuple(shape), dtype=dt(dtype)),
        ones=lambda shape, dtype: xp.ones(tuple(shape), dtype=dt(dtype)),
        full=lambda shape, value, dtype: xp.full(tuple(shape), value, dtype=dt(dtype)),
        arange=lambda start, stop, step, dtype: xp.arange(start, stop, step, dtype=dt(dtype)),
        eye=lambda n, m, dtype: xp.eye(n, m, dtype=dt(dtype)),
        seed=seed, normal=sample(lambda g, s: g.standard_normal(s)), uniform=sample(lambda g, s: g.random(s)),
        rng_state=lambda: rng[0].bit_generator.state,
        set_rng_state=lambda s: setattr(rng[0].bit_generator, "state", s),
        randint=lambda low, high, shape: xp.asarray(rng[0].integers(low, high, size=shape, dtype=np.int64)),
        permutation=lambda n: xp.asarray(rng[0].permutation(n).astype(np.int64)),
        add=add, subtract=subtract, multiply=multiply, divide=divide, power=binary(xp.pow, "power"),
        maximum=maximum, minimum=minimum,
        negative=unary(xp.negative, "negative"), exp=unary(xp.exp, "exp"), log=unary(xp.log, "log"),
        log1p=unary(xp.log1p, "log1p"), expm1=unary(xp.expm1, "expm1"), sqrt=unary(xp.sqrt, "sqrt"),
        abs=unary(xp.abs, "abs"), sign=unary(xp.sign, "sign"), sin=unary(xp.sin, "sin"),
        cos=unary(xp.cos, "cos"), tan=unary(xp.tan, "tan"), tanh=unary(xp.tanh, "tanh"),
        floor=unary(xp.floor, "floor"), erf=erf, where=where, clip=clip,
        greater=binary(xp.greater, "greater", False), greater_equal=binary(xp.greater_equal, "greater_equal", False),
        less=binary(xp.less, "less", False), less_equal=binary(xp.less_equal, "less_equal", False),
        equal=binary(xp.equal, "equal", False), not_equal=binary(xp.not_equal, "not_equal", False),
        logical_and=logical(xp.logical_and), logical_or=logical(xp.logical_or),
        logical_not=lambda x: xp.logical_not(truthy(x)), isfinite=xp.isfinite, isnan=xp.isnan,
        # NumPy's elementwise names (issue 13)
        sinh=unary(xp.sinh, "sinh"), cosh=unary(xp.cosh, "cosh"), arcsin=unary(xp.asin, "arcsin"),
        arccos=unary(xp.acos, "arccos"), arctan=unary(xp.atan, "arctan"), arcsinh=unary(xp.asinh, "arcsinh"),
        arccosh=unary(xp.acosh, "arccosh"), arctanh=unary(xp.atanh, "arctanh"),
        exp2=numpy_unary(np.exp2, "exp2"), log2=unary(xp.log2, "log2"), log10=unary(xp.log10, "log10"),
        sinc=numpy_unary(np.sinc, "sinc"), erfc=erfc, ceil=unary(xp.ceil, "ceil"),
        trunc=unary(xp.trunc, "trunc"), round=numpy_unary(np.round, "round"), nan_to_num=nan_to_num,
        arctan2=binary(xp.atan2, "arctan2"), hypot=binary(xp.hypot, "hypot"),
        logaddexp=binary(xp.logaddexp, "logaddexp"),
        logaddexp2=binary(lambda x, y: xp.asarray(np.logaddexp2(to_numpy(x), to_numpy(y))), "logaddexp2"),
        remainder=binary(xp.remainder, "remainder"),
        sum=reducer(xp.sum), prod=reducer(xp.prod), max=reducer(xp.max), min=reducer(xp.min),
        any=reducer(xp.any), all=reducer(xp.all),
        argmax=lambda x, axis=None, keepdims=False: xp.argmax(numeric(x), axis=axis, keepdims=keepdims),
        argmin=lambda x, axis=None, keepdims=False: xp.argmin(numeric(x), axis=axis, keepdims=keepdims),
        cumsum=scan(xp.cumulative_sum), cumprod=scan(xp.cumulative_prod), einsum=einsum,
        reshape=lambda x, shape: xp.reshape(x, tuple(shape)),
        transpose=lambda x, axes=None: xp.permute_dims(x, tuple(axes) if axes is not None
                                                       else tuple(reversed(range(x.ndim)))),
        broadcast_to=lambda x, shape: xp.broadcast_to(x, tuple(shape)),
        expand_dims=lambda x, axis: xp.expand_dims(x, axis=axis), squeeze=squeeze,
        concat=joined(xp.concat), stack=joined(xp.stack),
        getitem=getitem, setitem=setitem, scatter_add=scatter_add, take=take,
        take_along_axis=lambda x, indices, axis: xp.take_along_axis(x, asarray(indices), axis=axis),
        argsort=lambda x, axis=-1, descending=False: xp.argsort(x, axis=axis, descending=descending, stable=True),
        matmul=lambda x, y: xp.matmul(*promote(None, (x, y))[0]),
        eigh=lambda x: tuple(xp.linalg.eigh(x)), qr=lambda x: tuple(xp.linalg.qr(x)),
        solve=lambda a, b: xp.linalg.solve(*promote(None, (a, b))[0]), inv=xp.linalg.inv, det=xp.linalg.det,
        slogdet=lambda x: tuple(xp.linalg.slogdet(x)), cholesky=xp.linalg.cholesky,
        svd=lambda x, full_matrices: tuple(xp.linalg.svd(x, full_matrices=full_matrices)),
        eig=real_eig,   # not in the standard: NumPy's
    )
    return k


@hookimpl
def chainrule_backends():
    return [BackendSpec("arrayapi", load=load, unavailable=unavailable, owns=owns,
                        description="array-api-strict arrays: the Array API standard (example plugin)")]

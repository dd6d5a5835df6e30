"""The torch backend: chainrule's own graph over torch tensors, on the CPU or a CUDA device.

Device names (canonicalized in ``canonical_device``): ``torch`` and ``torch:cpu`` are the
CPU; ``torch:cuda`` is ``torch:cuda:0``; ``torch:cuda:1`` the second GPU.  torch is
imported on first use.  torch's autograd stays off: chainrule never creates a tensor
with ``requires_grad``, so no torch graph is recorded.

The kernels follow NumPy, not torch, where the two differ, so a model gives the same
numbers on both backends: dtype promotion (int64 + float32 -> float64, int / int ->
float64, a Python float with an int tensor -> float64, a 0-d float64 array or a NumPy
scalar is not "weak": float32 * np.float64(2) is float64, as in NumPy 2), ``sign(nan)``
is nan, ``squeeze`` of a non-1 axis is an error, slices may have negative steps, NumPy
arrays may index.  The common case (operands of one dtype, Python scalars with float
tensors) goes straight to torch; only mixed dtypes take the slow path, which asks NumPy
what dtype it would produce.
"""
import importlib.util
import re

from chainrule.backends import BackendSpec
from chainrule.errors import BackendError
from chainrule.hookspecs import hookimpl

_NAMES = ("bool", "int8", "uint8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64")


def canonical_device(device):
    """None/"cpu" -> None (the CPU); "cuda" -> "cuda:0"; "cuda:N" and "N" -> "cuda:N"."""
    if device is None:
        return None
    d = str(device).strip().lower()
    if d in ("", "cpu"):
        return None
    m = re.fullmatch(r"(?:cuda)?:?(\d*)", d)
    if m is None:
        raise BackendError(f"unknown torch device {device!r}; use torch, torch:cpu, torch:cuda "
                           "or torch:cuda:N")
    return f"cuda:{m.group(1) or 0}"


def unavailable(device=None):
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (pip install 'chainrule[torch]')"
    if device is None:
        return None
    import torch  # only a CUDA device needs the import to answer
    index = int(device.rpartition(":")[2])
    if not torch.cuda.is_available():
        return ("no CUDA device (torch reports none: a CPU-only torch build, or no GPU/driver); "
                "use the 'torch' backend on the CPU")
    if index >= torch.cuda.device_count():
        return f"no CUDA device {index} (torch sees {torch.cuda.device_count()})"
    return None


def _owns(obj):
    return type(obj).__module__.startswith("torch") and hasattr(obj, "dtype")


def load(device=None):
    import numpy as np
    import torch

    dev = torch.device(device or "cpu")
    on_cpu = dev.type == "cpu"
    T = torch.Tensor
    to_t = {n: getattr(torch, n) for n in _NAMES}
    to_name = {t: n for n, t in to_t.items()}
    FLOATS = frozenset(to_t[n] for n in ("float16", "bfloat16", "float32", "float64"))
    np_of = {to_t[n]: np.dtype(n) for n in _NAMES if n != "bfloat16"}
    np_bf16 = None
    try:
        import ml_dtypes
        np_bf16 = np.dtype(ml_dtypes.bfloat16)
        np_of[torch.bfloat16] = np_bf16
    except ImportError:
        pass
    t_of_np = {d: t for t, d in np_of.items()}
    gen = torch.Generator(device=dev)
    gen.seed()

    def tdtype(dtype):
        try:
            return to_t[dtype]
        except KeyError:
            raise TypeError(f"the torch backend has no dtype {dtype!r}; use one of {list(_NAMES)}") from None

    # ---------------------------------------------------------- conversion
    def from_numpy(a, dt=None):
        a = np.asarray(a)
        if np_bf16 is not None and a.dtype == np_bf16:
            t = torch.from_numpy(np.ascontiguousarray(a).view(np.uint16)).view(torch.bfloat16)
        else:
            if a.dtype not in t_of_np:
                raise TypeError(f"the torch backend cannot hold NumPy dtype {a.dtype}")
            if not a.flags.writeable or min(a.strides, default=0) < 0 or not a.dtype.isnative:
                a = a.copy()
            t = torch.from_numpy(a)           # zero-copy: shares a's memory
        if not on_cpu:
            t = t.to(dev)
        return t if dt is None or t.dtype is dt else t.to(dt)

    def asarray(data, dtype=None):
        dt = None if dtype is None else tdtype(dtype)
        if isinstance(data, T):
            if data.device != dev:
                data = data.to(dev)
            return data if dt is None or data.dtype is dt else data.to(dt)
        if isinstance(data, (np.ndarray, np.generic)):
            return from_numpy(data, dt)
        if dt is not None and isinstance(data, (int, float, bool)):
            return torch.tensor(data, dtype=dt, device=dev)
        if hasattr(data, "__dlpack__") and not isinstance(data, (list, tuple)):
            try:
                return asarray(from_dlpack(data), dtype)
            except Exception:  # another device or no DLPack export: go through NumPy
                pass
        # lists and scalars: NumPy decides the dtype, so both backends agree
        return from_numpy(np.asarray(data, dtype=None if dt is None else np_of.get(dt)), dt)

    def from_dlpack(obj):
        t = torch.from_dlpack(obj)
        return t if t.device == dev else t.to(dev)

    def to_numpy(x):
        if x.device.type != "cpu":
            x = x.cpu()
        if x.dtype is torch.bfloat16:
            if np_bf16 is None:
                return x.float().numpy()
            return x.view(torch.uint16).numpy().view(np_bf16)
        return x.numpy()                      # zero-copy on the CPU

    def dtype(x):
        try:
            return to_name[x.dtype]
        except KeyError:
            raise TypeError(f"the torch backend does not support dtype {x.dtype}") from None

    def assign(dst, src):
        if isinstance(src, T):
            dst.copy_(src)
        elif isinstance(src, (int, float, bool)):
            dst.fill_(src)
        else:
            dst.copy_(asarray(src))

    def inplace(method):
        def update(x, y):
            try:
                getattr(x, method)(y if not isinstance(y, (np.ndarray, np.generic)) else asarray(y))
            except RuntimeError as exc:        # "result type Float can't be cast to Long"
                raise TypeError(str(exc)) from None
        return update

    # ---------------------------------------------------- NumPy's dtype rules
    # For mixed operands, NumPy is asked once per signature what it would do.
    _scalars = {float: 0.5, int: 1, bool: True}
    _rules = {}

    def numpy_rule(npname, args):
        """(common input dtype, output dtype) NumPy picks for these operands (None: keep torch's)."""
        sig = tuple(a.dtype if isinstance(a, T) else type(a) for a in args)
        key = (npname, sig)
        rule = _rules.get(key)
        if rule is None:
            try:
                probes = [np.zeros(1, np_of[s]) if isinstance(s, torch.dtype) else _scalars[s] for s in sig]
            except KeyError:   # bfloat16 without ml_dtypes: torch's promotion
                rule = (None, None)
            else:
                common = np.result_type(*probes)
                with np.errstate(all="ignore"):   # the probes are zeros: 0 / 0 only warns
                    out = common if npname is None else getattr(np, npname)(*probes).dtype
                rule = (t_of_np.get(common), t_of_np.get(out))
            _rules[key] = rule
        return rule

    python_scalars = (int, float, bool)

    def operand(a):
        """A torch tensor, or a Python scalar, which NumPy treats as weak (float16 * 0.5 stays
        float16).  A NumPy scalar or array becomes a tensor of its dtype: NumPy 2 types it
        (NEP 50: float32 * np.float64(2) is float64), and np.float64 being a float must not
        make it weak."""
        return a if isinstance(a, T) or type(a) in python_scalars else asarray(a)

    def coerce(args):
        return [operand(a) for a in args]

    def promote(npname, args, arithmetic=True):
        """Operands cast as NumPy would compute them, and the output dtype NumPy gives."""
        args = coerce(args)
        common, out = numpy_rule(npname, args)
        if common is None:
            return [a if isinstance(a, T) else torch.tensor(a, device=dev) for a in args], None
        if arithmetic and out is not None and out is not torch.bool:
            common = out                        # int / int: divide in float64, as NumPy does
        cast = [a.to(common) if isinstance(a, T) else torch.tensor(a, dtype=common, device=dev)
                for a in args]
        return cast, out

    def finish(r, out):
        return r if out is None or r.dtype is out else r.to(out)

    def plain(x, y):
        """True when torch's own promotion gives NumPy's dtype for x op y."""
        tx, ty = type(x), type(y)
        if tx is T:
            if ty is T:   # a bool mask with anything: both take the other dtype (relu's g * (x > 0))
                return x.dtype is y.dtype or y.dtype is torch.bool or x.dtype is torch.bool
            if ty is float:
                return x.dtype in FLOATS and y == y   # a nan scalar takes the careful path
            return ty is int and x.dtype is not torch.bool  # torch refuses bool - 1 and x - True
        if ty is T:
            if tx is float:
                return y.dtype in FLOATS and x == x
            return tx is int and y.dtype is not torch.bool
        return False

    def binary(fn, npname, scalar_first=True, arithmetic=True, scalars=True):
        def kernel(x, y):
            if plain(x, y) and (scalar_first or type(x) is T) and (scalars or type(y) is T):
                return fn(x, y)
            args, out = promote(npname, (x, y), arithmetic)
            return finish(fn(*args), out)
        kernel.__name__ = npname
        return kernel

    def divide(x, y):
        if plain(x, y) and (x.dtype if type(x) is T else y.dtype) in FLOATS:
            return torch.div(x, y)
        args, out = promote("true_divide", (x, y))
        return finish(torch.div(*args), out)

    def power(x, y):
        if plain(x, y) and (x.dtype if type(x) is T else y.dtype) is not torch.bool:
            return torch.pow(x, y)
        args, out = promote("power", (x, y))   # bool ** bool is int8 in NumPy
        return finish(torch.pow(*args), out)

    def _maximum(x, y):
        return torch.clamp_min(x, y) if type(y) is not T else torch.maximum(x, y)

    def _minimum(x, y):
        return torch.clamp_max(x, y) if type(y) is not T else torch.minimum(x, y)

    def extreme(fn, npname):
        def kernel(x, y):
            if type(x) is T and plain(x, y):     # relu's maximum(x, 0) lands here
                return fn(x, y)
            args, out = promote(npname, (x, y))
            return finish(fn(*args), out)
        return kernel

    def unary(fn, npname):
        def kernel(x):
            if x.dtype in FLOATS:
                return fn(x)
            _, out = numpy_rule(npname, (x,))
            if out in FLOATS:
                x = x.to(out)
            return finish(fn(x), out)
        kernel.__name__ = npname
        return kernel

    def _sign(x):
        s = torch.sign(x)
        return torch.where(torch.isnan(x), x, s) if x.dtype in FLOATS else s

    def where(cond, x, y):
        if type(cond) is not T or cond.dtype is not torch.bool:
            cond = asarray(cond) != 0
        if plain(x, y):
            return torch.where(cond, x, y)
        args, out = promote(None, (x, y))
        return finish(torch.where(cond, *args), out)

    def clip(x, lo=None, hi=None):
        if lo is None and hi is None:
            return x.clone()
        if (lo is None or (plain(x, lo) and type(lo) is not T)) and \
                (hi is None or (plain(x, hi) and type(hi) is not T)):
            return torch.clamp(x, lo, hi)
        out = x if lo is None else maximum(x, lo)
        return out if hi is None else minimum(out, hi)

    # ---------------------------------------------------------- reductions
    def _axes(axis):
        return (axis,) if isinstance(axis, int) else tuple(axis)

    def reducer(fn):
        def reduce(x, axis=None, keepdims=False):
            if axis is None:
                r = fn(x)
                return r.reshape((1,) * x.ndim) if keepdims else r
            axis = _axes(axis)
            if not axis:     # NumPy reduces over nothing: a copy, with the reduction's dtype
                return fn(x.unsqueeze(0), 0)
            return fn(x, axis, keepdims)
        return reduce

    def _sum(x, dim=None, keepdim=False):
        return torch.sum(x) if dim is None else torch.sum(x, dim, keepdim)

    def _prod(x, dim=None, keepdim=False):
        if dim is None:
            return torch.prod(x)
        for d in sorted((d % x.ndim for d in _axes(dim)), reverse=True):
            x = torch.prod(x, d, keepdim)
        return x

    def _amax(x, dim=None, keepdim=False):
        return torch.amax(x, () if dim is None else dim, keepdim)

    def _amin(x, dim=None, keepdim=False):
        return torch.amin(x, () if dim is None else dim, keepdim)

    def _logical(fn):
        def reduce(x, dim=None, keepdim=False):
            r = fn(x) if dim is None else fn(x, dim, keepdim)
            return r if r.dtype is torch.bool else r.bool()
        return reduce

    def arg(fn):
        def kernel(x, axis=None, keepdims=False):
            if axis is None:
                r = fn(x.reshape(-1), 0)
                return r.reshape((1,) * x.ndim) if keepdims else r
            return fn(x, int(axis), bool(keepdims))
        return kernel

    # ------------------------------------------------------- shape, indexing
    def transpose(x, axes=None):
        return x.permute(tuple(reversed(range(x.ndim))) if axes is None else tuple(axes))

    def expand_dims(x, axis):
        if isinstance(axis, int):
            return torch.unsqueeze(x, axis)
        n = x.ndim + len(axis)
        for a in sorted(a % n for a in axis):
            x = torch.unsqueeze(x, a)
        return x

    def squeeze(x, axis=None):
        if axis is None:
            return torch.squeeze(x)
        axis = _axes(axis)
        shape = x.shape
        for a in axis:
            if shape[a] != 1:
                raise ValueError(f"cannot squeeze axis {a}: it has length {shape[a]}, not 1")
        return torch.squeeze(x, axis) if axis else x

    def joined(fn, npname):
        def kernel(xs, axis=0):
            xs = coerce(xs)
            first = xs[0].dtype
            if any(x.dtype is not first for x in xs):
                common = t_of_np.get(np.result_type(*[np_of[x.dtype] for x in xs]))
                xs = [x.to(common) for x in xs]
            if axis is None:
                return fn([x.reshape(-1) for x in xs], 0)
            return fn(xs, axis)
        return kernel

    _SIMPLE = (int, slice, type(None), type(Ellipsis))

    def ints_as_arrays(parts):
        """NumPy counts an int among array indices as an array too, which decides where the
        indexed axes land (x[0, None, [0, 0]] is (2, 1, ...)); torch counts it as a slice.
        So ints (and 0-d integer tensors) there become (1,)*k index tensors."""
        k = max((1 if p.dtype is torch.bool else p.ndim for p in parts if type(p) is T and p.ndim),
                default=0)
        if not k or not any(type(p) is int or type(p) is T and p.ndim == 0 for p in parts):
            return parts
        return tuple(p.reshape((1,) * k) if type(p) is T and p.ndim == 0 and p.dtype is not torch.bool
                     else torch.full((1,) * k, p, dtype=torch.int64, device=dev) if type(p) is int
                     else p for p in parts)

    def fix_index(x, index):
        """A NumPy-style index torch accepts: NumPy arrays become tensors, ints among arrays
        follow NumPy (ints_as_arrays), negative-step slices become flips of the input (torch
        has no negative strides)."""
        parts = index if type(index) is tuple else (index,)
        for p in parts:
            if type(p) is T or (type(p) is slice and (p.step is None or p.step > 0)) or type(p) is int \
                    or p is None or p is Ellipsis:
                continue
            break
        else:
            fixed = ints_as_arrays(parts)
            return x, (index if fixed is parts else fixed)
        parts = [asarray(p) if isinstance(p, (np.ndarray, np.generic)) and not isinstance(p, np.integer)
                 else int(p) if isinstance(p, np.integer) else p for p in parts]
        parts = list(ints_as_arrays(parts))
        if not any(type(p) is slice and p.step is not None and p.step < 0 for p in parts):
            return x, tuple(parts)
        # which input axis each part indexes
        used = sum(0 if p is None or p is Ellipsis else p.ndim if isinstance(p, T) and p.dtype is torch.bool
                   else 1 for p in parts)
        axis, out = 0, []
        for p in parts:
            if p is Ellipsis:
                axis += x.ndim - used
            elif type(p) is slice and p.step is not None and p.step < 0:
                n = x.shape[axis]
                start, stop, step = p.indices(n)
                x = torch.flip(x, (axis,))
                p = slice(n - 1 - start, n - 1 - stop, -step)
                axis += 1
            elif p is not None:
                axis += p.ndim if isinstance(p, T) and p.dtype is torch.bool else 1
            out.append(p)
        return x, tuple(out)

    def getitem(x, index):
        x, index = fix_index(x, index)
        return x[index]

    def positions(x, index):
        """The flat (row-major) positions in x that x[index] selects."""
        return getitem(torch.arange(x.numel(), device=dev).reshape(x.shape), index)

    def setitem(x, index, v):
        view, fixed = fix_index(x, index)
        v = v if isinstance(v, (T, int, float, bool)) else asarray(v)
        if view is x:
            x[fixed] = v
            return
        # a negative-step slice (torch has no negative strides): write by position
        pos = positions(x, index)
        x.put_(pos.reshape(-1), torch.as_tensor(v, device=dev).to(x.dtype).expand(pos.shape).reshape(-1))

    def scatter_add(dst, index, values):
        """dst[index] += values with repeated indices adding up."""
        view, fixed = fix_index(dst, index)
        values = values if isinstance(values, T) else asarray(values)
        parts = fixed if type(fixed) is tuple else (fixed,)
        while parts and parts[-1] == slice(None):
            parts = parts[:-1]
        if view is dst and parts and all(type(p) is T for p in parts):   # pure advanced indexing
            dst.index_put_(parts, values.to(dst.dtype).expand(dst[parts].shape), accumulate=True)
            return
        # general case: add at the flat positions index selects
        pos = positions(dst, index)
        dst.put_(pos.reshape(-1), values.to(dst.dtype).expand(pos.shape).reshape(-1), accumulate=True)

    def take(x, indices, axis=None):
        indices = indices if isinstance(indices, (T, int)) else asarray(indices)
        if axis is None:
            return x.reshape(-1)[indices]
        return x[(slice(None),) * (axis % x.ndim) + (indices,)]

    def take_along_axis(x, indices, axis):
        indices = indices if isinstance(indices, T) else asarray(indices)
        return torch.take_along_dim(x, indices, axis)

    def matmul(x, y):
        if x.dtype is y.dtype:
            return torch.matmul(x, y)
        args, out = promote(None, (x, y))
        return finish(torch.matmul(*args), out)

    # -------------------------------------------------------------- random
    def seed(n):
        gen.manual_seed(int(n))

    def sampler(fn):
        def sample(shape, dtype):
            dt = tdtype(dtype)
            if dt is torch.float32 or dt is torch.float64:
                return fn(tuple(shape), generator=gen, dtype=dt, device=dev)
            return fn(tuple(shape), generator=gen, dtype=torch.float32, device=dev).to(dt)
        return sample

    maximum = extreme(_maximum, "maximum")
    minimum = extreme(_minimum, "minimum")

    class Kernels:
        array_types = ()   # CPU and CUDA tensors share a type: backend_of_raw asks the device

    k = Kernels()
    k.__dict__.update(
        asarray=asarray, to_numpy=to_numpy, from_dlpack=from_dlpack,
        shape=lambda x: tuple(x.shape), dtype=dtype,
        astype=lambda x, dtype: x.to(tdtype(dtype)), copy=torch.clone, item=lambda x: x.item(),
        shares_memory=lambda x, y: x.untyped_storage().data_ptr() == y.untyped_storage().data_ptr(),
        owns_memory=lambda x: not x._is_view(),
        assign=assign, iadd=inplace("add_"), isub=inplace("sub_"), imul=inplace("mul_"),
        idiv=inplace("div_"),
        zeros=lambda shape, dtype: torch.zeros(tuple(shape), dtype=tdtype(dtype), device=dev),
        ones=lambda shape, dtype: torch.ones(tuple(shape), dtype=tdtype(dtype), device=dev),
        full=lambda shape, value, dtype: torch.full(  # torch.full takes Python numbers only
            tuple(shape), value if type(value) in python_scalars else value.item(),
            dtype=tdtype(dtype), device=dev),
        arange=lambda start, stop, step, dtype: torch.arange(start, stop, step, dtype=tdtype(dtype), device=dev),
        eye=lambda n, m, dtype: torch.eye(n, m, dtype=tdtype(dtype), device=dev),
        seed=seed, normal=sampler(torch.randn), uniform=sampler(torch.rand),
        rng_state=lambda: bytes(gen.get_state().numpy()),
        set_rng_state=lambda s: gen.set_state(torch.frombuffer(bytearray(s), dtype=torch.uint8)),
        randint=lambda low, high, shape: torch.randint(low, high, tuple(shape), generator=gen,
                                                       dtype=torch.int64, device=dev),
        permutation=lambda n: torch.randperm(n, generator=gen, device=dev),
        add=binary(torch.add, "add"), subtract=binary(torch.sub, "subtract"),
        multiply=binary(torch.mul, "multiply"), divide=divide, power=power,
        maximum=maximum, minimum=minimum,
        negative=unary(torch.neg, "negative"), exp=unary(torch.exp, "exp"), log=unary(torch.log, "log"),
        log1p=unary(torch.log1p, "log1p"), expm1=unary(torch.expm1, "expm1"),
        sqrt=unary(torch.sqrt, "sqrt"), abs=unary(torch.abs, "abs"), sign=unary(_sign, "sign"),
        sin=unary(torch.sin, "sin"), cos=unary(torch.cos, "cos"), tan=unary(torch.tan, "tan"),
        tanh=unary(torch.tanh, "tanh"), floor=unary(torch.floor, "floor"),
        erf=unary(torch.erf, "exp"),  # NumPy has no erf; it would type like exp
        where=where, clip=clip,
        greater=binary(torch.gt, "greater", False, False),
        greater_equal=binary(torch.ge, "greater_equal", False, False),
        less=binary(torch.lt, "less", False, False), less_equal=binary(torch.le, "less_equal", False, False),
        equal=binary(torch.eq, "equal", False, False), not_equal=binary(torch.ne, "not_equal", False, False),
        logical_and=binary(torch.logical_and, "logical_and", False, False, False),
        logical_or=binary(torch.logical_or, "logical_or", False, False, False),
        logical_not=torch.logical_not, isfinite=torch.isfinite, isnan=torch.isnan,
        sum=reducer(_sum), prod=reducer(_prod), max=reducer(_amax), min=reducer(_amin),
        any=reducer(_logical(torch.any)), all=reducer(_logical(torch.all)),
        argmax=arg(torch.argmax), argmin=arg(torch.argmin),
        reshape=lambda x, shape: x.reshape(tuple(shape)), transpose=transpose,
        broadcast_to=lambda x, shape: torch.broadcast_to(x, tuple(shape)),
        expand_dims=expand_dims, squeeze=squeeze,
        concat=joined(torch.cat, "concatenate"), stack=joined(torch.stack, "stack"),
        getitem=getitem, setitem=setitem, scatter_add=scatter_add,
        take=take, take_along_axis=take_along_axis,
        matmul=matmul, eigh=lambda x: tuple(torch.linalg.eigh(x)), qr=lambda x: tuple(torch.linalg.qr(x)),
    )
    return k


@hookimpl
def chainrule_backends():
    return [BackendSpec("torch", load=load, unavailable=unavailable, owns=_owns,
                        canonical_device=canonical_device,
                        description="PyTorch tensors on the CPU or a CUDA device (torch autograd off)")]

"""The torch backend: chainrule's own graph over torch tensors, on the CPU or a CUDA device.

Device names (canonicalized in ``canonical_device``): ``torch`` and ``torch:cpu`` are the
CPU; ``torch:cuda`` is ``torch:cuda:0``; ``torch:cuda:1`` the second GPU.  torch is
imported on first use (``load``), never by listing backends.  torch's autograd stays off:
chainrule never creates a tensor with ``requires_grad``, so no torch graph is recorded.

The kernels follow NumPy, not torch, where the two differ, so a model gives the same
numbers on both backends: dtype promotion (int64 + float32 -> float64, int / int ->
float64, a Python float with an int tensor -> float64, a 0-d float64 array or a NumPy
scalar is not "weak": float32 * np.float64(2) is float64, as in NumPy 2), ``sign(nan)``
is nan, ``squeeze`` of a non-1 axis is an error, slices may have negative steps, NumPy
arrays may index.  The common case (operands of one dtype, Python scalars with float
tensors) goes straight to torch; only mixed dtypes take the slow path, which asks NumPy
what dtype it would produce.

Layout, in the order of ``chainrule.backends.KERNELS``: the kernels are module-level
functions (families of them built by small factories: ``_binary``, ``_unary``...), and
``load(device)`` returns the one kernel table, binding the few kernels that need the
device or its random generator with ``functools.partial``.  Every other kernel takes the
device from its tensor operands.
"""
import importlib.util
import re
import types
from functools import partial

from chainrule.backends import BackendSpec
from chainrule.errors import BackendError, DTypeError
from chainrule.hookspecs import hookimpl

_NAMES = ("bool", "int8", "uint8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64")
_PYTHON_SCALARS = (int, float, bool)

# -------------------------------------------------------------- the backend spec
# Answered without importing torch (listing backends must stay cheap).


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


@hookimpl
def chainrule_backends():
    return [BackendSpec("torch", load=load, unavailable=unavailable, owns=_owns,
                        canonical_device=canonical_device,
                        description="PyTorch tensors on the CPU or a CUDA device (torch autograd off)")]


# ------------------------------------------------------------ torch, numpy, dtypes
# Module globals filled by _import_libraries() on the first load(); the kernels below
# read them (torch.Tensor is T: the kernels test ``type(x) is T`` on every call).
torch = np = T = CPU = None
FLOATS = frozenset()  # torch's floating dtypes
INDEX_DTYPES = frozenset()  # index tensors torch reads as NumPy does: int64, int32, bool
TORCH_DTYPE = {}      # chainrule dtype name -> torch dtype
DTYPE_NAME = {}       # torch dtype -> chainrule dtype name
NUMPY_DTYPE = {}      # torch dtype -> NumPy dtype (bfloat16 only with ml_dtypes)
TORCH_OF_NUMPY = {}   # NumPy dtype -> torch dtype
NUMPY_BFLOAT16 = None  # ml_dtypes' bfloat16, when installed


def _import_libraries():
    global torch, np, T, CPU, FLOATS, INDEX_DTYPES, NUMPY_BFLOAT16
    if torch is not None:
        return
    import numpy
    import torch as torch_
    np, T, CPU = numpy, torch_.Tensor, torch_.device("cpu")
    TORCH_DTYPE.update({n: getattr(torch_, n) for n in _NAMES})
    DTYPE_NAME.update({t: n for n, t in TORCH_DTYPE.items()})
    FLOATS = frozenset(TORCH_DTYPE[n] for n in ("float16", "bfloat16", "float32", "float64"))
    INDEX_DTYPES = frozenset((torch_.int64, torch_.int32, torch_.bool))
    NUMPY_DTYPE.update({TORCH_DTYPE[n]: np.dtype(n) for n in _NAMES if n != "bfloat16"})
    try:
        import ml_dtypes
        NUMPY_BFLOAT16 = NUMPY_DTYPE[torch_.bfloat16] = np.dtype(ml_dtypes.bfloat16)
    except ImportError:
        pass
    TORCH_OF_NUMPY.update({d: t for t, d in NUMPY_DTYPE.items()})
    torch = torch_   # last: a thread seeing torch set sees the tables filled


def torch_dtype(dtype):
    try:
        return TORCH_DTYPE[dtype]
    except KeyError:
        raise DTypeError(f"the torch backend has no dtype {dtype!r}; use one of {list(_NAMES)}") from None


# ----------------------------------------------------- conversion and metadata

def from_numpy(a, device, dt=None):
    """A tensor on device with a's values: zero-copy on the CPU when torch can share a's memory."""
    a = np.asarray(a)
    if NUMPY_BFLOAT16 is not None and a.dtype == NUMPY_BFLOAT16:
        # reshape: np.ascontiguousarray turns a 0-d array into shape (1,)
        t = torch.from_numpy(np.ascontiguousarray(a).view(np.uint16)).view(torch.bfloat16).reshape(a.shape)
    else:
        if a.dtype not in TORCH_OF_NUMPY:
            raise TypeError(f"the torch backend cannot hold NumPy dtype {a.dtype}")
        if not a.flags.writeable or min(a.strides, default=0) < 0 or not a.dtype.isnative:
            a = a.copy()
        t = torch.from_numpy(a)           # zero-copy: shares a's memory
    if device.type != "cpu":
        t = t.to(device)
    return t if dt is None or t.dtype is dt else t.to(dt)


def asarray(device, data, dtype=None):
    dt = None if dtype is None else torch_dtype(dtype)
    if isinstance(data, T):
        if data.device != device:
            data = data.to(device)
        return data if dt is None or data.dtype is dt else data.to(dt)
    if isinstance(data, (np.ndarray, np.generic)):
        return from_numpy(data, device, dt)
    if dt is not None and isinstance(data, _PYTHON_SCALARS):
        _refuse_out_of_range((data,), dt)   # NumPy refuses -1 as uint8; torch.tensor wraps it to 255
        return torch.tensor(data, dtype=dt, device=device)
    if hasattr(data, "__dlpack__") and not isinstance(data, (list, tuple)):
        try:
            return asarray(device, from_dlpack(device, data), dtype)
        except Exception:  # another device or no DLPack export: go through NumPy
            pass
    # lists and scalars: NumPy decides the dtype, so both backends agree
    return from_numpy(np.asarray(data, dtype=None if dt is None else NUMPY_DTYPE.get(dt)), device, dt)


def from_dlpack(device, obj):
    t = torch.from_dlpack(obj)
    return t if t.device == device else t.to(device)


def to_numpy(x):
    if x.device.type != "cpu":
        x = x.cpu()
    if x.dtype is torch.bfloat16:
        if NUMPY_BFLOAT16 is None:
            return x.float().numpy()
        return x.view(torch.uint16).numpy().view(NUMPY_BFLOAT16)
    return x.numpy()                      # zero-copy on the CPU


def shape(x):
    return tuple(x.shape)


def dtype(x):
    try:
        return DTYPE_NAME[x.dtype]
    except KeyError:
        raise TypeError(f"the torch backend does not support dtype {x.dtype}") from None


def astype(x, dtype):
    return x.to(torch_dtype(dtype))


def item(x):
    return x.item()


def assign(dst, src):
    if isinstance(src, T):
        dst.copy_(src)
    elif isinstance(src, _PYTHON_SCALARS):
        _refuse_out_of_range((src,), dst.dtype)   # NumPy refuses 300 into int8; fill_ wraps it
        dst.fill_(src)
    else:
        dst.copy_(asarray(dst.device, src))


# ------------------------------------------------------------------ memory facts

def shares_memory(x, y):
    return x.untyped_storage().data_ptr() == y.untyped_storage().data_ptr()


def owns_memory(x):
    return not x._is_view()


def _in_place(method, npname):
    """iadd and friends: x.add_(y), casting as NumPy's ufunc(x, y, out=x) does: a result
    NumPy would not cast into x (same_kind: an int64 into uint8, a float into an int) is a
    TypeError where torch would wrap or truncate; a bool subtrahend counts 0/1 (torch refuses)."""
    def update(x, y):
        y = y if not isinstance(y, (np.ndarray, np.generic)) else asarray(x.device, y)
        _refuse_out_of_range((y,), x.dtype)
        out = _numpy_rule(npname, (x, y))[1]
        if out is not None and out is not x.dtype and not np.can_cast(
                NUMPY_DTYPE.get(out, out), NUMPY_DTYPE.get(x.dtype, x.dtype), "same_kind"):
            raise TypeError(f"Cannot cast ufunc '{npname}' output from {out} to {x.dtype} with "
                            "casting rule 'same_kind'")
        if npname == "subtract" and (type(y) is bool or (type(y) is T and y.dtype is torch.bool)):
            y = int(y) if type(y) is bool else y.to(x.dtype)
        try:
            method(x, y)
        except RuntimeError as exc:        # "result type Float can't be cast to Long"
            raise TypeError(str(exc)) from None
    update.__name__ = method.__name__
    return update


def iadd_scaled(x, y, alpha):
    """x += alpha * y in one kernel (torch's optimizers' x.add_(y, alpha=alpha)); a y sharing
    x's memory in another layout (which add_ refuses or reads half-written) goes through a
    temporary."""
    y = y if isinstance(y, T) else asarray(x.device, y)
    try:
        if y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr() and not (
                y.data_ptr() == x.data_ptr() and y.stride() == x.stride() and y.shape == x.shape):
            x.add_(y * alpha)
        else:
            x.add_(y, alpha=alpha)
    except RuntimeError as exc:
        raise TypeError(str(exc)) from None


# ---------------------------------------------------------------------- creation

def zeros(device, shape, dtype):
    return torch.zeros(tuple(shape), dtype=torch_dtype(dtype), device=device)


def ones(device, shape, dtype):
    return torch.ones(tuple(shape), dtype=torch_dtype(dtype), device=device)


def full(device, shape, value, dtype):
    value = value if type(value) in _PYTHON_SCALARS else value.item()  # torch.full takes Python numbers
    return torch.full(tuple(shape), value, dtype=torch_dtype(dtype), device=device)


def arange(device, start, stop, step, dtype):
    return torch.arange(start, stop, step, dtype=torch_dtype(dtype), device=device)


def eye(device, n, m, dtype):
    return torch.eye(n, m, dtype=torch_dtype(dtype), device=device)


# ------------------------------------------------------------------------ random
# Each takes the device's generator (gen.device is where samples are drawn).

def seed(gen, n):
    gen.manual_seed(int(n))


def rng_state(gen):
    return bytes(gen.get_state().numpy())


def set_rng_state(gen, snapshot):
    gen.set_state(torch.frombuffer(bytearray(snapshot), dtype=torch.uint8))


def _draw(sample, gen, shape, dtype):
    """float32/float64 straight from torch; other dtypes drawn in float32 and cast."""
    dt = torch_dtype(dtype)
    if dt is torch.float32 or dt is torch.float64:
        return sample(tuple(shape), generator=gen, dtype=dt, device=gen.device)
    return sample(tuple(shape), generator=gen, dtype=torch.float32, device=gen.device).to(dt)


def normal(gen, shape, dtype):
    return _draw(torch.randn, gen, shape, dtype)


def uniform(gen, shape, dtype):
    return _draw(torch.rand, gen, shape, dtype)


def randint(gen, low, high, shape):
    return torch.randint(low, high, tuple(shape), generator=gen, dtype=torch.int64, device=gen.device)


def permutation(gen, n):
    return torch.randperm(n, generator=gen, device=gen.device)


# ------------------------------------------------------- NumPy's dtype rules
# For mixed operands, NumPy is asked once per signature what it would do.
_SCALAR_PROBES = {float: 0.5, int: 1, bool: True}
_RULES = {}   # (NumPy function name, operand signature) -> (common dtype, output dtype)


def _numpy_rule(npname, args):
    """(common input dtype, output dtype) NumPy picks for these operands (None: keep torch's)."""
    sig = tuple(a.dtype if isinstance(a, T) else type(a) for a in args)
    key = (npname, sig)
    rule = _RULES.get(key)
    if rule is None:
        try:
            probes = [np.zeros(1, NUMPY_DTYPE[s]) if isinstance(s, torch.dtype) else _SCALAR_PROBES[s]
                      for s in sig]
        except KeyError:   # bfloat16 without ml_dtypes: torch's promotion
            rule = (None, None)
        else:
            common = np.result_type(*probes)
            with np.errstate(all="ignore"):   # the probes are zeros: 0 / 0 only warns
                out = common if npname is None else getattr(np, npname)(*probes).dtype
            rule = (TORCH_OF_NUMPY.get(common), TORCH_OF_NUMPY.get(out))
        _RULES[key] = rule
    return rule


def _device_of(args):
    """Where NumPy and scalar operands go: the first tensor operand's device (else the CPU)."""
    for a in args:
        if isinstance(a, T):
            return a.device
    return CPU


def _operand(a, device):
    """A torch tensor, or a Python scalar, which NumPy treats as weak (float16 * 0.5 stays
    float16).  A NumPy scalar or array becomes a tensor of its dtype: NumPy 2 types it
    (NEP 50: float32 * np.float64(2) is float64), and np.float64 being a float must not
    make it weak."""
    return a if isinstance(a, T) or type(a) in _PYTHON_SCALARS else asarray(device, a)


def _promote(npname, args, arithmetic=True, device=None):
    """Operands cast as NumPy would compute them, and the output dtype NumPy gives."""
    device = _device_of(args) if device is None else device
    args = [_operand(a, device) for a in args]
    common, out = _numpy_rule(npname, args)
    if common is None:
        return [a if isinstance(a, T) else torch.tensor(a, device=device) for a in args], None
    if arithmetic and out is not None and out is not torch.bool:
        common = out                        # int / int: divide in float64, as NumPy does
    if any(_int_out_of_range(a, common) for a in args):
        if arithmetic:
            _refuse_out_of_range(args, common)
        common = torch.int64 if all(type(a) is not int or -2**63 <= a < 2**63 for a in args) \
            else torch.float64   # compared exactly, as NumPy 2 compares a Python int
    cast = [a.to(common) if isinstance(a, T) else torch.tensor(a, dtype=common, device=device)
            for a in args]
    return cast, out


def _numpy_typed(fn, npname, args, arithmetic=True):
    """fn on the operands promoted as NumPy would, its result cast to NumPy's dtype: the slow path."""
    args, out = _promote(npname, args, arithmetic)
    r = fn(*args)
    return r if out is None or r.dtype is out else r.to(out)


def _plain(x, y):
    """True when torch's own promotion gives NumPy's dtype for x op y."""
    tx, ty = type(x), type(y)
    if tx is T:
        if ty is T:   # a bool mask with anything: both take the other dtype (relu's g * (x > 0))
            return x.dtype is y.dtype or y.dtype is torch.bool or x.dtype is torch.bool
        if ty is float:
            return x.dtype in FLOATS and y == y   # a nan scalar takes the careful path
        # torch refuses bool - 1 and x - True, and wraps an int the dtype cannot hold
        return ty is int and x.dtype is not torch.bool and not _int_out_of_range(y, x.dtype)
    if ty is T:
        if tx is float:
            return y.dtype in FLOATS and x == x
        return tx is int and y.dtype is not torch.bool and not _int_out_of_range(x, y.dtype)
    return False


def _int_out_of_range(v, dtype):
    """A Python int beside an integer tensor whose dtype cannot hold it (300 and int8): NumPy 2
    refuses it in arithmetic and compares it exactly; torch would wrap it around."""
    if type(v) is not int or dtype is torch.bool or dtype in FLOATS:
        return False
    info = torch.iinfo(dtype)
    return not info.min <= v <= info.max


def _refuse_out_of_range(args, dtype):
    for a in args:
        if _int_out_of_range(a, dtype):
            raise OverflowError(f"Python integer {a} out of bounds for {DTYPE_NAME.get(dtype, dtype)}")


# -------------------------------------------------------------------- elementwise

def _binary(fn, npname, scalar_first=True, arithmetic=True, scalars=True):
    """A binary kernel: torch's fn where torch types it like NumPy, else the slow path.
    scalar_first=False: a Python scalar on the left takes the slow path;
    scalars=False: so does one on the right; arithmetic=False: the output dtype is not
    the dtype computed in (comparisons give bool)."""
    def kernel(x, y):
        if type(x) is T and type(y) is T and x.dtype is y.dtype:   # most calls
            return fn(x, y)
        if _plain(x, y) and (scalar_first or type(x) is T) and (scalars or type(y) is T):
            return _scalar_first_low(fn, x, y) if type(x) is not T else fn(x, y)
        return _numpy_typed(fn, npname, (x, y), arithmetic)
    kernel.__name__ = npname
    return kernel


def _scalar_first_low(fn, number, y):
    """fn(number, y) for a Python number and a tensor.  torch.mul(70000.0, half) rounds the
    number to float16 first (inf) where half * 70000.0 computes in float32 and rounds once
    (35008): a float16/bfloat16 y is computed in float32, so s * x == x * s."""
    if y.dtype is torch.float16 or y.dtype is torch.bfloat16:
        return fn(number, y.float()).to(y.dtype)
    return fn(number, y)


def _comparison(fn, npname):
    return _binary(fn, npname, scalar_first=False, arithmetic=False)


def _logical(fn, npname):
    return _binary(fn, npname, scalar_first=False, arithmetic=False, scalars=False)


def subtract(x, y):
    """x - y.  torch refuses - with a bool tensor, which NumPy casts to the other operand's
    dtype (int8 - bool is int8): mixed with a bool, it takes the slow path."""
    if type(x) is T and type(y) is T:
        if x.dtype is y.dtype:   # most calls; bool - bool raises, as in NumPy
            return torch.sub(x, y)
    elif _plain(x, y):
        return _scalar_first_low(torch.sub, x, y) if type(x) is not T else torch.sub(x, y)
    return _numpy_typed(torch.sub, "subtract", (x, y))


def divide(x, y):
    if type(x) is T and type(y) is T and x.dtype is y.dtype and x.dtype in FLOATS:   # most calls
        return torch.div(x, y)
    if _plain(x, y) and (x.dtype if type(x) is T else y.dtype) in FLOATS:
        return _scalar_first_low(torch.div, x, y) if type(x) is not T else torch.div(x, y)
    return _numpy_typed(torch.div, "true_divide", (x, y))   # int / int is float64


def _integral(v):
    return type(v) in (int, bool) or (type(v) is T and not v.is_floating_point())


def power(x, y):
    if _integral(x) and _integral(y) and (y < 0 if type(y) in (int, bool) else bool((y < 0).any())):
        # NumPy's error; torch would answer 0 (or 1, -1) for an integer to a negative power
        raise ValueError("Integers to negative integer powers are not allowed.")
    if _plain(x, y) and (x.dtype if type(x) is T else y.dtype) is not torch.bool:
        return _scalar_first_low(torch.pow, x, y) if type(x) is not T else torch.pow(x, y)
    return _numpy_typed(torch.pow, "power", (x, y))   # bool ** bool is int8 in NumPy


def _extreme(pairwise, clamp, npname):
    """maximum/minimum: pairwise(x, y) of two tensors, clamp(x, y) of a tensor and a number
    (relu's maximum(x, 0)), where torch types it like NumPy; else the slow path."""
    def kernel(x, y):
        if type(x) is T:
            if type(y) is T:
                if x.dtype is y.dtype or _plain(x, y):
                    return pairwise(x, y)
            elif _plain(x, y):
                return clamp(x, y)
        return _numpy_typed(pairwise, npname, (x, y))   # the operands become tensors there
    kernel.__name__ = npname
    return kernel


def _unary(fn, npname):
    """A unary kernel: floats straight to fn; other dtypes typed as NumPy's npname types them
    (an int64 input to exp computes and answers in float64)."""
    def kernel(x):
        if x.dtype in FLOATS:
            return fn(x)
        _, out = _numpy_rule(npname, (x,))
        if out in FLOATS:
            x = x.to(out)
        elif x.dtype is torch.bool:   # abs and floor of bools are bools in NumPy; torch has no such loop
            x = x.to(torch.uint8)
        r = fn(x)
        return r if out is None or r.dtype is out else r.to(out)
    kernel.__name__ = npname
    return kernel


def _sign(x):
    s = torch.sign(x)
    return torch.where(torch.isnan(x), x, s) if x.dtype in FLOATS else s   # NumPy: sign(nan) is nan


def where(cond, x, y):
    if type(cond) is not T or cond.dtype is not torch.bool:
        cond = asarray(_device_of((x, y, cond)), cond) != 0
    if _plain(x, y):
        return torch.where(cond, x, y)
    (x, y), out = _promote(None, (x, y), device=cond.device)
    r = torch.where(cond, x, y)
    return r if out is None or r.dtype is out else r.to(out)


def clip(x, lo=None, hi=None):
    if type(x) is not T:   # a Python number clipped: NumPy makes it an array first (int64/float64)
        x = torch.as_tensor(x, device=_device_of((lo, hi)),
                            dtype=torch.float64 if isinstance(x, float) else None)
    if lo is None and hi is None:
        return x.clone()
    if (lo is None or (_plain(x, lo) and type(lo) is not T)) and \
            (hi is None or (_plain(x, hi) and type(hi) is not T)):
        return torch.clamp(x, lo, hi)
    out = x if lo is None else _numpy_typed(torch.maximum, "maximum", (x, lo))
    return out if hi is None else _numpy_typed(torch.minimum, "minimum", (out, hi))


# NumPy's elementwise names (issue 13)

def _floating_binary(fn, npname):
    """A binary kernel torch has for floating tensors only (atan2, hypot, logaddexp): two
    tensors of one floating dtype straight to fn, anything else typed as NumPy types it."""
    def kernel(x, y):
        if type(x) is T and type(y) is T and x.dtype is y.dtype and x.dtype in FLOATS:
            return fn(x, y)
        return _numpy_typed(fn, npname, (x, y))
    kernel.__name__ = npname
    return kernel


def remainder(x, y):
    """NumPy's remainder, not torch's x - y * floor(x / y) (which rounds differently): the
    fmod, moved into y's sign, and a zero remainder signed as y; integer x % 0 is 0 (torch raises)."""
    if not (type(x) is T and type(y) is T and x.dtype is y.dtype and x.dtype is not torch.bool):
        (x, y), _ = _promote("remainder", (x, y))   # bool % bool is int8 in NumPy
    if x.dtype in FLOATS:
        m = torch.fmod(x, y)
        moved = torch.where((m < 0) != (y < 0), m + y, m)
        return torch.where(m != 0, moved, torch.copysign(torch.zeros_like(m), y))
    zero = y == 0
    return torch.where(zero, 0, torch.remainder(x, torch.where(zero, 1, y)))


def round_(x, decimals=0):
    """NumPy's round: half to even; integers stay integers (rounded left of the point when
    decimals < 0, through float64), bools as NumPy types them."""
    if x.dtype in FLOATS:
        return torch.round(x, decimals=decimals) if decimals else torch.round(x)
    if x.dtype is torch.bool and decimals:   # NumPy's refusal (it scales in float64, into bool)
        raise TypeError("Cannot cast ufunc 'multiply' output from dtype('float64') to dtype('bool') "
                        "with casting rule 'same_kind'")
    _, out = _numpy_rule("round", (x,))
    if decimals >= 0:
        return x.clone() if out is None or out is x.dtype else x.to(out)
    scale = 10.0 ** -decimals
    return (torch.round(x.double() / scale) * scale).to(x.dtype if out is None else out)


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    if x.dtype in FLOATS:
        return torch.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)
    return x.clone()   # integers and bools have nothing to replace


# ---------------------------------------------------------------------- reductions

def _axes(axis):
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _reduction(fn):
    """A reduction over axis None (everything), an int or a tuple of ints, as NumPy's:
    fn(x) reduces everything, fn(x, axes, keepdims) the axes given (torch.sum, amax and
    amin are such fns; float16 sums accumulate in float32 in torch)."""
    def reduce(x, axis=None, keepdims=False):
        if axis is None:
            r = fn(x)
            return r.reshape((1,) * x.ndim) if keepdims else r
        axis = (axis,) if isinstance(axis, int) else tuple(axis)
        if axis and x.ndim == 0:   # NumPy's refusal, in its words (torch would take axis 0)
            raise IndexError(f"axis {axis[0]} is out of bounds for array of dimension 0")
        if not axis:     # NumPy reduces over nothing: a copy, with the reduction's dtype
            return fn(x.unsqueeze(0), (0,), False)
        return fn(x, axis, keepdims)
    return reduce


def _prod(x, dim=None, keepdim=False):
    """torch.prod over several axes.  torch's CPU prod multiplies float16/bfloat16 in their own
    precision (a 1000-term bfloat16 product is off by 30%): they accumulate in float32 and
    round once, as the NumPy backend's and every other reduction here."""
    dtype = x.dtype
    low = dtype is torch.float16 or dtype is torch.bfloat16
    if low:
        x = x.float()
    if dim is None:
        x = torch.prod(x)
    else:
        for d in sorted((d % x.ndim for d in dim), reverse=True):   # torch.prod takes one axis
            x = torch.prod(x, d, keepdim)
    return x.to(dtype) if low else x


def _boolean(fn):
    """any/all answer bool for every input dtype (torch's answer uint8 for uint8)."""
    def reduce(x, dim=None, keepdim=False):
        r = fn(x) if dim is None else fn(x, dim, keepdim)
        return r if r.dtype is torch.bool else r.bool()
    return reduce


def _arg(fn):
    """argmax/argmin: of the flattened array for axis None, as NumPy."""
    def kernel(x, axis=None, keepdims=False):
        if x.dtype is torch.bool:   # NumPy's order (False < True); torch has no bool loop
            x = x.to(torch.uint8)
        if axis is None:
            r = fn(x.reshape(-1), 0)
            return r.reshape((1,) * x.ndim) if keepdims else r
        return fn(x, int(axis), bool(keepdims))
    return kernel


# ------------------------------------------------------------ scans and products

def _scan(fn):
    """cumsum/cumprod along an int axis; integers and bools accumulate in int64 (torch's
    and NumPy's answer alike)."""
    def kernel(x, axis):
        return fn(x, int(axis))
    return kernel


def einsum(subscripts, *operands):
    """torch.einsum on operands cast to NumPy's common dtype; a new tensor, never a view
    (torch answers 'ij->ji' and 'ii->i' with views of the operand)."""
    device = _device_of(operands)
    operands = [_operand(o, device) for o in operands]
    if any(o.dtype is not operands[0].dtype for o in operands):
        operands, _ = _promote(None, operands)
    if operands[0].dtype is torch.bool:   # NumPy: any(and) over the summed letters; torch has no bool loop
        return torch.einsum(subscripts, *[o.to(torch.int64) for o in operands]) != 0
    out = torch.einsum(subscripts, *operands)
    if any(out.untyped_storage().data_ptr() == o.untyped_storage().data_ptr() for o in operands):
        out = out.clone()
    return out


# -------------------------------------------------------------- shape and indexing

def reshape(x, shape):
    return x.reshape(tuple(shape))


def transpose(x, axes=None):
    return x.permute(tuple(reversed(range(x.ndim))) if axes is None else tuple(axes))


def broadcast_to(x, shape):
    return torch.broadcast_to(x, tuple(shape))


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


def _joined(fn):
    """concat/stack: mixed dtypes meet at NumPy's common dtype; axis None joins the flattened."""
    def kernel(xs, axis=0):
        device = _device_of(xs)
        xs = [_operand(x, device) for x in xs]
        first = xs[0].dtype
        if any(x.dtype is not first for x in xs):
            common = TORCH_OF_NUMPY.get(np.result_type(*[NUMPY_DTYPE[x.dtype] for x in xs]))
            xs = [x.to(common) for x in xs]
        if axis is None:
            return fn([x.reshape(-1) for x in xs], 0)
        return fn(xs, axis)
    return kernel


def _ints_as_arrays(parts, x):
    """NumPy counts an int among array indices as an array too, which decides where the
    indexed axes land (x[0, None, [0, 0]] is (2, 1, ...)); torch counts it as a slice.
    So ints (and 0-d integer tensors) there become (1,)*k index tensors."""
    k, ints = 0, False   # k: the dimensions the index arrays broadcast to (a mask counts 1)
    for p in parts:
        if type(p) is T:
            if p.ndim:
                k = max(k, 1 if p.dtype is torch.bool else p.ndim)
            elif p.dtype is not torch.bool:
                ints = True
        elif type(p) is int:
            ints = True
    if not (k and ints):
        return parts
    return tuple(p.reshape((1,) * k) if type(p) is T and p.ndim == 0 and p.dtype is not torch.bool
                 else torch.full((1,) * k, p, dtype=torch.int64, device=x.device) if type(p) is int
                 else p for p in parts)


def _fix_index(x, index):
    """A NumPy-style index torch accepts: NumPy arrays become tensors, ints among arrays
    follow NumPy (_ints_as_arrays), negative-step slices become flips of the input (torch
    has no negative strides)."""
    parts = index if type(index) is tuple else (index,)
    for p in parts:
        if (type(p) is T and p.dtype in INDEX_DTYPES) or (type(p) is slice and (p.step is None or p.step > 0)) or type(p) is int \
                or p is None or p is Ellipsis:
            continue
        break
    else:
        fixed = _ints_as_arrays(parts, x)
        return x, (index if fixed is parts else fixed)
    parts = [asarray(x.device, p) if isinstance(p, (np.ndarray, np.generic)) and not isinstance(p, np.integer)
             else int(p) if isinstance(p, np.integer) else p for p in parts]
    # int8/int16/uint8 indices are integers to NumPy; torch refuses the first two and reads
    # uint8 as a mask (a silently different selection): index with int64
    parts = [p.long() if type(p) is T and p.dtype not in INDEX_DTYPES and not p.is_floating_point()
             else p for p in parts]
    parts = list(_ints_as_arrays(parts, x))
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
    x, index = _fix_index(x, index)
    return x[index]


def _positions(x, index):
    """The flat (row-major) positions in x that x[index] selects."""
    return getitem(torch.arange(x.numel(), device=x.device).reshape(x.shape), index)


def setitem(x, index, v):
    _refuse_out_of_range((v,), x.dtype)   # NumPy refuses x[i] = 300 into int8; torch wraps it
    view, fixed = _fix_index(x, index)
    v = v if isinstance(v, (T, int, float, bool)) else asarray(x.device, v)
    if view is x:
        x[fixed] = v
        return
    # a negative-step slice (torch has no negative strides): write by position
    pos = _positions(x, index)
    x.put_(pos.reshape(-1), torch.as_tensor(v, device=x.device).to(x.dtype).expand(pos.shape).reshape(-1))


def scatter_add(dst, index, values):
    """dst[index] += values with repeated indices adding up."""
    view, fixed = _fix_index(dst, index)
    values = values if isinstance(values, T) else asarray(dst.device, values)
    parts = fixed if type(fixed) is tuple else (fixed,)
    while parts and parts[-1] == slice(None):
        parts = parts[:-1]
    if view is dst and parts and all(type(p) is T for p in parts):   # pure advanced indexing
        dst.index_put_(parts, values.to(dst.dtype).expand(dst[parts].shape), accumulate=True)
        return
    # general case: add at the flat positions index selects
    pos = _positions(dst, index)
    dst.put_(pos.reshape(-1), values.to(dst.dtype).expand(pos.shape).reshape(-1), accumulate=True)


def take(x, indices, axis=None):
    if axis is None:
        return getitem(x.reshape(-1), indices)
    return getitem(x, (slice(None),) * (axis % x.ndim) + (indices,))


def take_along_axis(x, indices, axis):
    indices = indices if isinstance(indices, T) else asarray(x.device, indices)
    if indices.dtype is not torch.int64:   # torch gathers with int64 only; NumPy with any int
        indices = indices.long()
    return torch.take_along_dim(x, indices, axis)


def argsort(x, axis=-1, descending=False):
    return torch.argsort(x, dim=axis, descending=bool(descending), stable=True)


# -------------------------------------------------------------------- linear algebra

def matmul(x, y):
    if x.dtype is y.dtype:
        return torch.matmul(x, y)
    return _numpy_typed(torch.matmul, None, (x, y))


def eigh(x):
    return tuple(torch.linalg.eigh(x))


def qr(x):
    return tuple(torch.linalg.qr(x))


# cr.linalg: every matrix argument is (..., n, n) or (..., m, n); solve's b is (..., n, k)

def solve(a, b):
    # b with a's batch axes spelled out: torch would read a b of shape a.shape[:-1] as vectors
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    dt = torch.promote_types(a.dtype, b.dtype)
    return torch.linalg.solve(a.to(dt).expand(batch + a.shape[-2:]), b.to(dt).expand(batch + b.shape[-2:]))


def slogdet(x):
    return tuple(torch.linalg.slogdet(x))


def svd(x, full_matrices):
    return tuple(torch.linalg.svd(x, full_matrices=full_matrices))


def eig(x):
    w, v = torch.linalg.eig(x)   # always complex; real where LAPACK found real eigenvalues
    if bool((w.imag != 0).any()):
        raise ValueError("eig: the matrix has complex eigenvalues")
    return w.real.contiguous(), v.real.contiguous()


# ------------------------------------------------------------------ the kernel table

def load(device=None):
    """The kernel table for one device: torch.device(device) and its own seeded generator
    are the only per-device state, bound into the few kernels that need them."""
    _import_libraries()
    dev = torch.device(device or "cpu")
    gen = torch.Generator(device=dev)
    gen.seed()
    return types.SimpleNamespace(
        array_types=(),   # CPU and CUDA tensors share a type: backend_of_raw asks the device
        # conversion and metadata
        asarray=partial(asarray, dev), from_dlpack=partial(from_dlpack, dev), to_numpy=to_numpy,
        shape=shape, dtype=dtype, astype=astype, copy=torch.clone, item=item, assign=assign,
        # memory facts, in-place arithmetic
        shares_memory=shares_memory, owns_memory=owns_memory,
        iadd=_in_place(T.add_, "add"), isub=_in_place(T.sub_, "subtract"),
        imul=_in_place(T.mul_, "multiply"), idiv=_in_place(T.div_, "divide"),
        iadd_scaled=iadd_scaled,
        softmax=torch.softmax, log_softmax=torch.log_softmax,
        # creation
        zeros=partial(zeros, dev), ones=partial(ones, dev), full=partial(full, dev),
        arange=partial(arange, dev), eye=partial(eye, dev),
        # random
        seed=partial(seed, gen), rng_state=partial(rng_state, gen), set_rng_state=partial(set_rng_state, gen),
        normal=partial(normal, gen), uniform=partial(uniform, gen), randint=partial(randint, gen),
        permutation=partial(permutation, gen),
        # elementwise
        add=_binary(torch.add, "add"), subtract=subtract,
        multiply=_binary(torch.mul, "multiply"), divide=divide, power=power,
        maximum=_extreme(torch.maximum, torch.clamp_min, "maximum"),
        minimum=_extreme(torch.minimum, torch.clamp_max, "minimum"),
        negative=_unary(torch.neg, "negative"), exp=_unary(torch.exp, "exp"),
        log=_unary(torch.log, "log"), log1p=_unary(torch.log1p, "log1p"),
        expm1=_unary(torch.expm1, "expm1"), sqrt=_unary(torch.sqrt, "sqrt"),
        abs=_unary(torch.abs, "abs"), sign=_unary(_sign, "sign"),
        sin=_unary(torch.sin, "sin"), cos=_unary(torch.cos, "cos"), tan=_unary(torch.tan, "tan"),
        tanh=_unary(torch.tanh, "tanh"), floor=_unary(torch.floor, "floor"),
        erf=_unary(torch.erf, "exp"),  # NumPy has no erf; it would type like exp
        where=where, clip=clip,
        greater=_comparison(torch.gt, "greater"), greater_equal=_comparison(torch.ge, "greater_equal"),
        less=_comparison(torch.lt, "less"), less_equal=_comparison(torch.le, "less_equal"),
        equal=_comparison(torch.eq, "equal"), not_equal=_comparison(torch.ne, "not_equal"),
        logical_and=_logical(torch.logical_and, "logical_and"),
        logical_or=_logical(torch.logical_or, "logical_or"),
        logical_not=torch.logical_not, isfinite=torch.isfinite, isnan=torch.isnan,
        # NumPy's elementwise names (issue 13)
        sinh=_unary(torch.sinh, "sinh"), cosh=_unary(torch.cosh, "cosh"),
        arcsin=_unary(torch.asin, "arcsin"), arccos=_unary(torch.acos, "arccos"),
        arctan=_unary(torch.atan, "arctan"), arcsinh=_unary(torch.asinh, "arcsinh"),
        arccosh=_unary(torch.acosh, "arccosh"), arctanh=_unary(torch.atanh, "arctanh"),
        exp2=_unary(torch.exp2, "exp2"), log2=_unary(torch.log2, "log2"),
        log10=_unary(torch.log10, "log10"), sinc=_unary(torch.sinc, "sinc"),
        erfc=_unary(torch.erfc, "exp"),  # typed as erf
        ceil=_unary(torch.ceil, "ceil"), trunc=_unary(torch.trunc, "trunc"),
        round=round_, nan_to_num=nan_to_num,
        arctan2=_floating_binary(torch.atan2, "arctan2"), hypot=_floating_binary(torch.hypot, "hypot"),
        logaddexp=_floating_binary(torch.logaddexp, "logaddexp"),
        logaddexp2=_floating_binary(torch.logaddexp2, "logaddexp2"), remainder=remainder,
        # reductions
        sum=_reduction(torch.sum), prod=_reduction(_prod),
        max=_reduction(torch.amax), min=_reduction(torch.amin),
        any=_reduction(_boolean(torch.any)), all=_reduction(_boolean(torch.all)),
        argmax=_arg(torch.argmax), argmin=_arg(torch.argmin),
        cumsum=_scan(torch.cumsum), cumprod=_scan(torch.cumprod), einsum=einsum,
        # shape and indexing
        reshape=reshape, transpose=transpose, broadcast_to=broadcast_to,
        expand_dims=expand_dims, squeeze=squeeze,
        concat=_joined(torch.cat), stack=_joined(torch.stack),
        getitem=getitem, setitem=setitem, scatter_add=scatter_add,
        take=take, take_along_axis=take_along_axis, argsort=argsort,
        # linear algebra
        matmul=matmul, eigh=eigh, qr=qr,
        solve=solve, inv=torch.linalg.inv, det=torch.linalg.det, slogdet=slogdet,
        cholesky=torch.linalg.cholesky, svd=svd, eig=eig,
    )

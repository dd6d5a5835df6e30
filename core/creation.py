"""Making tensors: from Python data, NumPy or backend arrays, and filled shapes."""
import math
import operator


from . import backends as _backends
from ._state import state
from .dtypes import ALL, canonical
from .errors import ArgumentError, BackendError, DTypeError, ShapeError
from .tensor import Tensor, make


def _resolve(backend):
    if backend is None:
        return _backends.get_backend()
    if isinstance(backend, str):
        return _backends.load(backend)
    return backend


# Python numbers by exact type: np.float64 subclasses float, but it is typed (NEP 50) and
# keeps its dtype, as NumPy scalars and 0-d arrays do (the backend's asarray decides those)
_PY_KINDS = {bool: "bool", int: "int", float: "float"}


def _python_data(data):
    return type(data) in _PY_KINDS or isinstance(data, (list, tuple))


def _python_dtype(data):
    """Default dtype of Python data: any float -> default float, all bool -> bool, else int64;
    None when NumPy scalars or arrays are among it (the backend's asarray types those).
    Tensors among it keep their dtype and promote with the rest, as torch.tensor([t, 1.0])."""
    stack, kinds, dtypes = [data], set(), set()
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif type(item) in _PY_KINDS:
            kinds.add(_PY_KINDS[type(item)])
        elif isinstance(item, Tensor):
            dtypes.add(item.dtype)
        else:
            return None  # NumPy scalars and the like keep their own dtype
    if "float" in kinds or not (kinds or dtypes):
        dtypes.add(ALL[state.default_dtype])
    elif kinds:
        dtypes.add(ALL["int64"] if "int" in kinds else ALL["bool"])
    out = dtypes.pop()
    for d in dtypes:
        out = _promote(out, d)
    return out


def _promote(a, b):
    """NumPy's promotion of two dtypes; bfloat16 as ml_dtypes promotes it (like float16,
    but at least float32 with anything wider than 8 bits or with float16)."""
    if a == b:
        return a
    import numpy as np   # here, not at the top: `import chainrule` loads no array library
    if "bfloat16" in (a, b):
        other = b if a == "bfloat16" else a
        if other in ("bool", "int8", "uint8"):
            return a if a == "bfloat16" else b
        wide = np.result_type(np.float16, other).name
        return ALL["float32" if wide == "float16" else wide]
    return ALL[np.result_type(a, b).name]


def tensor(data, dtype=None, requires_grad=False, backend=None):
    """A new leaf tensor holding a copy of ``data``.

    ``data``: a Python scalar or nested list (floats become the default dtype,
    float32), a NumPy array or NumPy scalar (keeps its dtype: ``np.float64(0.5)``
    is float64), a backend array (a torch tensor picks the torch backend) or a Tensor.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> x.dtype, x.shape
    (cr.float32, (2,))
    """
    dtype = canonical(dtype)
    if isinstance(data, Tensor):
        src = data._backend
        target = _resolve(backend) if backend is not None else src
        raw = data._data if target is src else target.asarray(src.to_numpy(data._data), None)
        raw = target.copy(raw) if raw is data._data else raw
        out = make(raw if dtype is None else target.astype(raw, dtype), target)
    else:
        python_data = _python_data(data)
        owner = None if python_data else _backends.backend_of_raw(data)
        if backend is None and owner is not None and owner.name != "numpy":
            backend = owner     # a torch tensor picks torch, a CuPy array cupy
        target = _resolve(backend)
        if dtype is None and python_data:
            dtype = _python_dtype(data)
        if getattr(data, "requires_grad", False) is True:
            data = data.detach()    # a torch tensor in torch's graph: its values only (as torch.tensor)
        try:
            raw = target.asarray(data, dtype)
        except (TypeError, ValueError, OverflowError) as exc:   # Overflow: a Python int past int64
            raise DTypeError(f"cannot make a tensor from {type(data).__name__} data: {exc}; pass "
                             "numbers, nested lists of equal length, or an array") from exc
        if raw is data or (not python_data and owner is not target):
            raw = target.copy(raw)  # conversions between libraries may share memory: never with the caller
        out = make(raw, target)
    if requires_grad:
        out.requires_grad_(True)
    return out


def asarray(data, dtype=None, backend=None):
    """Like ``tensor`` but without requires_grad; a Tensor on the right backend/dtype is returned as is."""
    if isinstance(data, Tensor) and (backend is None or _resolve(backend) is data._backend) \
            and (dtype is None or data.dtype == canonical(dtype)):
        return data
    return tensor(data, dtype=dtype, backend=backend)


def _shape(shape):
    """A tuple of sizes; int() would truncate 2.5 silently, operator.index refuses it (as NumPy)."""
    shape = shape.tolist() if hasattr(shape, "tolist") else shape    # arrays, tensors, np.int64
    sizes = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)
    try:
        if any(isinstance(s, bool) for s in sizes):
            raise TypeError
        out = tuple(operator.index(s) for s in sizes)
    except TypeError:
        raise TypeError(f"a shape must be an int or a sequence of ints, got {shape!r}") from None
    if any(s < 0 for s in out):
        raise ShapeError(f"negative dimensions are not allowed, got shape {out}")
    return out


def _float(dtype):
    return canonical(dtype) or ALL[state.default_dtype]


def zeros(shape, dtype=None, backend=None, requires_grad=False):
    t = make(_resolve(backend).zeros(_shape(shape), _float(dtype)), _resolve(backend))
    return t.requires_grad_(True) if requires_grad else t


def ones(shape, dtype=None, backend=None, requires_grad=False):
    t = make(_resolve(backend).ones(_shape(shape), _float(dtype)), _resolve(backend))
    return t.requires_grad_(True) if requires_grad else t


def full(shape, fill_value, dtype=None, backend=None, requires_grad=False):
    kind = getattr(getattr(fill_value, "dtype", None), "kind", None)   # NumPy's; torch's has none
    if fill_value is None or isinstance(fill_value, (str, bytes, complex)) or kind in ("c", "O", "U", "S"):
        # NumPy would fill None as NaN, drop an imaginary part: say so instead
        raise DTypeError(f"full: the fill value must be a real number, got {fill_value!r}")
    if dtype is None:   # a Python number by its kind; a NumPy scalar keeps its dtype, as in NumPy
        dtype = _python_dtype(fill_value) or canonical(getattr(fill_value, "dtype", None))
    b = _resolve(backend)
    t = make(b.full(_shape(shape), fill_value, _float(dtype)), b)
    return t.requires_grad_(True) if requires_grad else t


def arange(start, stop=None, step=1, dtype=None, backend=None):
    """Like ``numpy.arange``: int64 for integer arguments, else the default float dtype
    (NumPy scalar arguments count as the Python numbers they hold, as in ``numpy.arange``)."""
    if stop is None:
        start, stop = 0, start
    start, stop, step = (v if type(v) in _PY_KINDS or not hasattr(v, "item") else v.item()
                         for v in (start, stop, step))
    if dtype is None:
        dtype = _python_dtype([start, stop, step])
    dtype = canonical(dtype)
    if step == 0:
        raise ArgumentError("arange: step must not be zero")
    try:
        empty = math.ceil((stop - start) / step) <= 0     # NumPy's empty range (torch raises)
    except (TypeError, ValueError, OverflowError):
        raise ArgumentError(f"arange: start, stop and step must be finite numbers, got "
                            f"{start!r}, {stop!r}, {step!r}") from None
    b = _resolve(backend)
    if empty:
        return make(b.zeros((0,), dtype), b)
    if dtype.is_floating and dtype != "float64":
        # start + i * step in float64, then rounded once: NumPy's arange in float32 repeats
        # a rounded step (1 - 0.1 * 5 gave 0.49999988), and the backends then disagreed
        return make(b.astype(b.arange(start, stop, step, ALL["float64"]), dtype), b)
    return make(b.arange(start, stop, step, dtype), b)


def eye(n, m=None, k=0, dtype=None, backend=None):
    """Ones on diagonal ``k`` (above the main one when positive), as ``numpy.eye``."""
    n, m = _shape((n, n if m is None else m))
    b = _resolve(backend)
    if k == 0:
        return make(b.eye(n, m, _float(dtype)), b)
    import numpy as np   # here, not at the top: `import chainrule` loads no array library
    return make(b.asarray(np.eye(n, m, operator.index(k)), _float(dtype)), b)


def _like(x, dtype):
    """Backend and dtype of ``x``, which may be a Tensor or a raw backend array."""
    if type(x) is Tensor:
        return x._backend, x.shape, dtype or x.dtype   # x.shape: one example's, inside vmap
    b = _backends.backend_of_raw(x)
    return b, b.shape(x), dtype or b.dtype(x)


def zeros_like(x, dtype=None):
    """Zeros with x's shape, dtype and backend; raw in, raw out (for rules)."""
    b, shape, dt = _like(x, dtype)
    raw = b.zeros(tuple(shape), canonical(dt))
    return make(raw, b) if type(x) is Tensor else raw


def ones_like(x, dtype=None):
    b, shape, dt = _like(x, dtype)
    raw = b.ones(tuple(shape), canonical(dt))
    return make(raw, b) if type(x) is Tensor else raw


def full_like(x, fill_value, dtype=None):
    b, shape, dt = _like(x, dtype)
    raw = b.full(tuple(shape), fill_value, canonical(dt))
    return make(raw, b) if type(x) is Tensor else raw


def backend_name(x):
    """The backend name of a Tensor or raw array."""
    if type(x) is Tensor:
        return x._backend.name
    b = _backends.backend_of_raw(x)
    if b is None:
        raise BackendError(f"{type(x).__name__} is not an array of any loaded backend")
    return b.name

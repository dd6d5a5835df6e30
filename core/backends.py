"""``cr.backends``: the kernel table every backend fills, listing backends, choosing the one in use.

The built-in backends are plugins in ``chainrule.builtin_backends``.

A backend plugin answers the ``chainrule_backends`` hook with ``BackendSpec``s.
Nothing heavy happens until a backend is first used: then ``spec.load(device)``
imports its library and returns a namespace whose attributes are the kernels
named in ``KERNELS`` (a module, a class instance, anything with attributes).
A kernel the namespace lacks becomes a stub raising ``NotImplementedError``
naming the backend and the kernel, so a partial backend still runs every op it
can.
"""
import contextlib
import dataclasses
import os
import re
from typing import Callable

from ._state import state, loading_lock
from . import plugins
from .errors import BackendError, MissingKernelError, UnknownNameError

# The one place that says what a backend must supply.  x, y: native arrays;
# shape: tuple of ints; dtype: a chainrule dtype name ("float32"...); axis: int,
# tuple of ints or None.  Python scalars may stand for arrays in binary kernels.
KERNELS = {
    # conversion and metadata
    "asarray": "asarray(data, dtype) -> array from a Python scalar, nested list, NumPy array or native array; dtype None keeps it",
    "to_numpy": "to_numpy(x) -> numpy.ndarray (a copy or a zero-copy view)",
    "shape": "shape(x) -> tuple of ints",
    "dtype": "dtype(x) -> chainrule dtype name",
    "astype": "astype(x, dtype) -> x cast to dtype",
    "copy": "copy(x) -> a new array with x's values",
    "item": "item(x) -> the Python scalar of a one-element array",
    "assign": "assign(dst, src) -> None; writes src (broadcast) into dst in place",
    # optional memory facts; without them the engine assumes the worst (shared, not owned)
    "shares_memory": "shares_memory(x, y) -> bool; may x and y overlap in memory",
    "owns_memory": "owns_memory(x) -> bool; x is no view of another array (it owns its buffer)",
    # optional in-place arithmetic (optimizers' hot path); without them the engine
    # computes out of place and assigns
    "iadd": "iadd(x, y) -> None; x += y in place", "isub": "isub(x, y) -> None; x -= y in place",
    "imul": "imul(x, y) -> None; x *= y in place", "idiv": "idiv(x, y) -> None; x /= y in place",
    "iadd_scaled": "iadd_scaled(x, y, alpha) -> None; x += alpha * y in place, alpha a Python float "
                   "(an optimizer's step, in one pass: torch's x.add_(y, alpha=alpha))",
    # optional fused kernels (FUSED_KERNELS, with iadd_scaled): one library call where the
    # ops would make five; without them the ops compose max, subtract, exp, sum and log
    "softmax": "softmax(x, axis) -> exp(x) / sum(exp(x)) along axis (an int >= 0), stably; x floating",
    "log_softmax": "log_softmax(x, axis) -> x - log(sum(exp(x))) along axis (an int >= 0), stably; x floating",
    # creation
    "zeros": "zeros(shape, dtype)", "ones": "ones(shape, dtype)",
    "full": "full(shape, value, dtype)",
    "arange": "arange(start, stop, step, dtype)",
    "eye": "eye(n, m, dtype)",
    # random numbers from the backend's own seeded generator
    "seed": "seed(n) -> None; reseeds the backend generator",
    "rng_state": "rng_state() -> a snapshot of the generator's state, comparable with ==",
    "set_rng_state": "set_rng_state(snapshot) -> None; restores it (cr.checkpoint replays draws)",
    "normal": "normal(shape, dtype) -> standard normal samples",
    "uniform": "uniform(shape, dtype) -> samples in [0, 1)",
    "randint": "randint(low, high, shape) -> int64 samples in [low, high)",
    "permutation": "permutation(n) -> int64 random permutation of range(n)",
    # elementwise, broadcasting like NumPy
    "add": "add(x, y)", "subtract": "subtract(x, y)", "multiply": "multiply(x, y)",
    "divide": "divide(x, y)", "power": "power(x, y)",
    "maximum": "maximum(x, y)", "minimum": "minimum(x, y)",
    "negative": "negative(x)", "exp": "exp(x)", "log": "log(x)", "log1p": "log1p(x)",
    "expm1": "expm1(x)", "sqrt": "sqrt(x)", "abs": "abs(x)", "sign": "sign(x)",
    "sin": "sin(x)", "cos": "cos(x)", "tan": "tan(x)", "tanh": "tanh(x)", "erf": "erf(x)",
    "floor": "floor(x)",
    "where": "where(cond, x, y)", "clip": "clip(x, lo, hi); lo or hi may be None",
    "greater": "greater(x, y)", "greater_equal": "greater_equal(x, y)",
    "less": "less(x, y)", "less_equal": "less_equal(x, y)",
    "equal": "equal(x, y)", "not_equal": "not_equal(x, y)",
    "logical_and": "logical_and(x, y)", "logical_or": "logical_or(x, y)",
    "logical_not": "logical_not(x)", "isfinite": "isfinite(x)", "isnan": "isnan(x)",
    # NumPy's elementwise names (issue 13); unary ones type as NumPy's ufunc of that name
    "sinh": "sinh(x)", "cosh": "cosh(x)", "arcsin": "arcsin(x)", "arccos": "arccos(x)",
    "arctan": "arctan(x)", "arcsinh": "arcsinh(x)", "arccosh": "arccosh(x)", "arctanh": "arctanh(x)",
    "exp2": "exp2(x)", "log2": "log2(x)", "log10": "log10(x)", "sinc": "sinc(x) = sin(pi x) / (pi x), 1 at 0",
    "erfc": "erfc(x) = 1 - erf(x), typed as exp", "ceil": "ceil(x)", "trunc": "trunc(x)",
    "round": "round(x, decimals) as NumPy's (half to even; an int decimals, negative rounds left of the point)",
    "nan_to_num": "nan_to_num(x, nan, posinf, neginf) -> a new array; posinf/neginf None: the dtype's "
                  "largest/smallest finite value; integers and bools copied",
    "arctan2": "arctan2(x1, x2)", "hypot": "hypot(x, y)", "logaddexp": "logaddexp(x, y)",
    "logaddexp2": "logaddexp2(x, y)",
    "remainder": "remainder(x, y) as NumPy's: the sign of y (Python's %); integer x % 0 is 0",
    # reductions
    "sum": "sum(x, axis, keepdims)", "prod": "prod(x, axis, keepdims)",
    "max": "max(x, axis, keepdims)", "min": "min(x, axis, keepdims)",
    "argmax": "argmax(x, axis, keepdims) -> int64", "argmin": "argmin(x, axis, keepdims) -> int64",
    "any": "any(x, axis, keepdims)", "all": "all(x, axis, keepdims)",
    # scans and products (axis: an int >= 0; integers and bools accumulate in int64, as NumPy;
    # float16/bfloat16 in float32, rounded once per result, as torch)
    "cumsum": "cumsum(x, axis) -> running sums along axis",
    "cumprod": "cumprod(x, axis) -> running products along axis",
    "einsum": "einsum(subscripts, *operands) -> a new array (never a view of an operand); subscripts "
              "explicit ('ij,jk->ik'), letters a-z A-Z only (no '...'), one size per letter",
    # shape and indexing
    "reshape": "reshape(x, shape)", "transpose": "transpose(x, axes) with a full permutation",
    "broadcast_to": "broadcast_to(x, shape)", "expand_dims": "expand_dims(x, axis)",
    "squeeze": "squeeze(x, axis)", "concat": "concat(xs, axis)", "stack": "stack(xs, axis)",
    "getitem": "getitem(x, index) -> x[index]; index: ints, slices, None, Ellipsis, int or bool arrays",
    "setitem": "setitem(x, index, v) -> None; x[index] = v in place",
    "scatter_add": "scatter_add(dst, index, values) -> None; dst[index] += values in place, repeated indices add up",
    "take": "take(x, indices, axis)",
    "take_along_axis": "take_along_axis(x, indices, axis)",
    "argsort": "argsort(x, axis=-1, descending=False) -> int64 indices sorting x along axis; "
               "stable (ties keep their order), NaN last (first when descending)",
    # linear algebra
    "matmul": "matmul(x, y) with NumPy's matmul rules",
    "eigh": "eigh(x) -> (eigenvalues, eigenvectors) of a symmetric matrix, a plain tuple",
    "qr": "qr(x) -> (q, r), a plain tuple",
    # cr.linalg (matrices (..., m, n), batched over leading axes; no vector right-hand sides)
    "solve": "solve(a, b) -> x with a x = b; a (..., n, n), b (..., n, k), batch axes broadcast",
    "inv": "inv(x) -> the inverse of square matrices",
    "det": "det(x) -> determinants, shape x.shape[:-2]",
    "slogdet": "slogdet(x) -> (sign, log|det|), a plain tuple",
    "cholesky": "cholesky(x) -> lower L with x = L L^T; reads the lower triangle",
    "svd": "svd(x, full_matrices) -> (u, s, vh), a plain tuple; s descending",
    "eig": "eig(x) -> (eigenvalues, eigenvectors) as real arrays; ValueError if any eigenvalue is complex",
}

# Kernels a backend may leave out with no loss but speed: the ops compose them from the
# kernels above (the NumPy and CuPy tables compose softmax; torch's has every one)
FUSED_KERNELS = ("softmax", "log_softmax", "iadd_scaled")


@dataclasses.dataclass(frozen=True)
class BackendSpec:
    """What a backend plugin returns from ``chainrule_backends``.

    name:        the backend's name (``"numpy"``); devices are ``name:device``.
    load:        ``load(device) -> namespace of kernels``; imports the library.
    unavailable: ``unavailable(device) -> str | None``: why it cannot run here
                 ("cupy is not installed", "no CUDA device"); keep it cheap.
    owns:        ``owns(obj) -> bool``: is a raw array this backend's?  Must not
                 import the library (check ``type(obj).__module__``).
    canonical_device: ``canonical_device(device) -> str | None`` normalizes a
                 device string (``"cuda"`` -> ``"cuda:0"``); None is the default;
                 raises ``BackendError`` for a device the backend cannot have.
                 Without it the backend has one device, the CPU (``cpu_only``).
    """

    name: str
    load: Callable
    unavailable: Callable = lambda device=None: None
    owns: Callable = lambda obj: False
    canonical_device: Callable = None
    description: str = ""

    def __post_init__(self):
        if self.canonical_device is None:
            object.__setattr__(self, "canonical_device", cpu_only)


def cpu_only(device):
    """The ``canonical_device`` of a backend with one device: none named, or ``"cpu"``."""
    if device is None or str(device).strip().lower() == "cpu":
        return None
    raise BackendError(f"it runs on the CPU only, so it has no device {device!r}")


def _missing(backend_name, kernel):
    def stub(*args, **kwargs):
        raise MissingKernelError(
            f"backend {backend_name!r} has no kernel {kernel!r}; implement it in the backend "
            f"plugin (see chainrule.backends.KERNELS[{kernel!r}]: {KERNELS[kernel]})")
    stub.__name__ = f"missing_{kernel}"
    return stub


class Backend:
    """A loaded backend: its kernels as attributes, plus name, device and spec."""

    def __init__(self, spec, device, namespace):
        self.spec, self.device = spec, device
        self.name = spec.name if device is None else f"{spec.name}:{device}"
        self.namespace = namespace
        self.missing = []
        for kernel in KERNELS:
            fn = getattr(namespace, kernel, None)
            if fn is None:
                self.missing.append(kernel)
                fn = _missing(self.name, kernel)
            setattr(self, kernel, fn)
        self.array_types = tuple(getattr(namespace, "array_types", ()))

    def __repr__(self):
        return f"<chainrule backend {self.name}>"


# ----------------------------------------------------------------- registry

_loaded = {}      # canonical name -> Backend
_raw_types = {}   # native array type -> Backend, filled as backends load


def _check_spec(name, spec):
    if not isinstance(spec, BackendSpec):
        raise TypeError(f"chainrule_backends must return BackendSpec objects, got {spec!r}")


plugins.add_validator("backends", _check_spec)


def _specs():
    return plugins.collect("backends")


def canonical_name(name):
    """``"torch:cuda"`` -> ``"torch:cuda:0"``, ``"numpy:cpu"`` -> ``"numpy"``: one name per backend.

    A device the backend cannot have (``"numpy:gpu"``, ``"torch:tpu"``) is a ``BackendError``
    here, when the backend is selected, not later when a tensor is made.

    >>> canonical_name("numpy:gpu")
    Traceback (most recent call last):
    ...
    chainrule.errors.BackendError: backend 'numpy:gpu' cannot be selected: it runs on the CPU only, ...; use 'numpy' ...
    """
    if not isinstance(name, str) or not name.strip():
        raise BackendError(f"a backend name must be a non-empty string such as 'numpy' or "
                           f"'torch:cuda', got {name!r}")
    base, colon, device = name.strip().lower().partition(":")
    specs = _specs()
    if base not in specs:
        raise UnknownNameError(f"unknown backend {name!r}; known backends: {', '.join(specs)}"
                               " (install the plugin that provides it, or fix the name)")
    device = _canonical_device(name, specs[base], device if colon else None)
    return base if device is None else f"{base}:{device}"


_DEVICE = re.compile(r"[a-z_]+(:\d+)?|\d+")   # the spelling of any device (its meaning: the spec's)


def _canonical_device(name, spec, device):
    """The spec's canonical device for ``device`` (None: the default), every failure a
    BackendError naming the whole backend spec the user wrote."""
    fix = f"; use {spec.name!r} (names of every backend: python -m chainrule backends)"

    def refuse(why, fix=fix):
        return BackendError(f"backend {name!r} cannot be selected: {why}{fix}")
    if device is not None and not _DEVICE.fullmatch(device):
        raise refuse(f"{device!r} is not a device (a word, word:N or N, such as cpu, cuda:1 or 1)"
                     if device.strip() else "no device after the ':'")
    try:
        canonical = spec.canonical_device(device)
    except BackendError as exc:      # a plugin's own message says which devices it has
        raise refuse(str(exc), fix if spec.canonical_device is cpu_only else "") from None
    except BaseException as exc:     # a plugin's bug (even SystemExit) is an answer, not an exit
        raise refuse(f"its plugin's canonical_device failed: {type(exc).__name__}: {exc}") from None
    if canonical is not None and (not isinstance(canonical, str) or not canonical):
        raise refuse(f"its plugin's canonical_device returned {canonical!r}, not a device name or None")
    return canonical


def load(name):
    """The loaded ``Backend`` for a name, importing its library on first use.

    One ``Backend`` per name, whichever thread asks first: loading holds the loading lock
    (re-entrant, so a backend's ``load`` may itself create tensors on another backend).
    """
    backend = _loaded.get(name) if isinstance(name, str) else None
    if backend is not None:
        return backend
    with loading_lock:
        backend = _loaded.get(name) if isinstance(name, str) else None
        if backend is None:
            backend = _loaded[name] = _load_canonical(canonical_name(name))
    return backend


def _load_canonical(cname):
    backend = _loaded.get(cname)
    if backend is not None:
        return backend
    if cname in _loading:
        raise BackendError(f"backend {cname!r} was asked for while it loads: its load() must not "
                           f"create tensors on {cname!r} itself")
    base, _, device = cname.partition(":")
    spec = _specs()[base]
    try:
        reason = spec.unavailable(device or None)
    except BaseException as exc:     # plugin code: even its SystemExit is reported, not obeyed
        raise BackendError(f"backend {cname!r}: its availability check failed: "
                           f"{type(exc).__name__}: {exc}") from exc
    if reason:
        raise BackendError(f"backend {cname!r} cannot run here: {reason}")
    _loading.add(cname)
    try:
        namespace = spec.load(device or None)
    except BaseException as exc:
        raise BackendError(f"backend {cname!r} failed to load: {type(exc).__name__}: {exc}") from exc
    finally:
        _loading.discard(cname)
    backend = Backend(spec, device or None, namespace)
    for t in backend.array_types:
        _raw_types.setdefault(t, backend)
    _loaded[cname] = backend   # last: a thread reading _loaded without the lock sees it whole
    return backend


_loading = set()   # canonical names whose spec.load() is running (in the thread holding the lock)


def _default():
    name = os.environ.get("CHAINRULE_BACKEND", "numpy")
    try:
        return load(name)
    except UnknownNameError as exc:
        raise UnknownNameError(f"CHAINRULE_BACKEND={name!r}: {exc}") from None


def get_backend():
    """The backend new tensors go to: the innermost ``use_backend``, else ``set_backend``,
    else ``$CHAINRULE_BACKEND`` (read on first use), else numpy."""
    stack = state.backend_stack
    if stack:
        return stack[-1]
    global _global_backend
    if _global_backend is None:
        with loading_lock:
            if _global_backend is None:
                _global_backend = _default()
    return _global_backend


_global_backend = None


def set_backend(name):
    """Make ``name`` the default backend of this process (every thread that is not inside
    a ``use_backend`` block)."""
    global _global_backend
    _global_backend = load(name)
    return _global_backend


def use_backend(name):
    """Use ``name`` (or a loaded ``Backend``) for new tensors inside the block, in this thread
    (and asyncio task) only: ``with cr.use_backend("torch"): ...``, or as a decorator.

    The name is checked at the call, before the block runs.

    >>> import chainrule as cr
    >>> with cr.use_backend("numpy"):
    ...     cr.tensor([1.0]).backend
    'numpy'
    >>> cr.use_backend(None)
    Traceback (most recent call last):
    ...
    chainrule.errors.BackendError: use_backend(None): pass a backend name such as 'numpy' or 'torch:cuda' ...
    """
    if isinstance(name, Backend):
        return _UseBackend(name)
    if not isinstance(name, str):
        raise BackendError(f"use_backend({name!r}): pass a backend name such as 'numpy' or "
                           "'torch:cuda' (names of every backend: python -m chainrule backends); "
                           "outside a use_backend block new tensors go to the default backend, "
                           "cr.get_backend()")
    return _UseBackend(load(name))


class _UseBackend(contextlib.ContextDecorator):
    """What ``use_backend`` returns: pushes its backend on this context's stack while entered."""

    def __init__(self, backend):
        self.backend = backend
        self._previous = []    # one per nested entry of this same object

    def __enter__(self):
        self._previous.append(state.backend_stack)
        state.backend_stack = self._previous[-1] + (self.backend,)
        return self.backend

    def __exit__(self, *exc):
        state.backend_stack = self._previous.pop()

    def _recreate_cm(self):    # as a decorator: a fresh one per call (calls may be concurrent)
        return _UseBackend(self.backend)


def backend_of_raw(obj):
    """The loaded backend whose native array type ``obj`` is, loading it if a spec owns it.

    A type shared by several devices (a torch tensor on the CPU or a GPU) is looked up
    by its ``device`` each time; other types are cached by type.
    """
    backend = _raw_types.get(type(obj))
    if backend is not None:
        return backend
    spec = _raw_device_types.get(type(obj))
    if spec is not None:
        key = (type(obj), obj.device)
        backend = _raw_device_backends.get(key)
        if backend is None:
            backend = _raw_device_backends[key] = load(_device_name(spec, obj))
        return backend
    for t, b in list(_raw_types.items()):
        if isinstance(obj, t):
            _raw_types[type(obj)] = b
            return b
    for spec in _specs().values():
        if spec.owns(obj):
            if not hasattr(obj, "device"):
                b = load(spec.name)
                _raw_types.setdefault(type(obj), b)
                return b
            _raw_device_types[type(obj)] = spec
            return load(_device_name(spec, obj))
    return None


_raw_device_types = {}   # native array type -> BackendSpec, for types that carry a device
_raw_device_backends = {}  # (native array type, device) -> Backend


def _device_name(spec, obj):
    device = getattr(obj, "device", None)
    if type(getattr(device, "id", None)) is int:   # CuPy's Device, whose str() is "<CUDA Device 0>"
        device = f"cuda:{device.id}"
    device = str(device or "")
    if not device or device == "cpu":
        return spec.name
    return f"{spec.name}:{device}"


def names():
    """Registered backend names, in registration order."""
    return list(_specs())


def available():
    """``{name: None}`` for backends that can run here, ``{name: reason}`` for the others."""
    out = {}
    for name, spec in _specs().items():
        try:
            out[name] = spec.unavailable(None)
        except BaseException as exc:  # a broken probe (even its SystemExit) must not take the listing down
            out[name] = f"availability check failed: {type(exc).__name__}: {exc}"
    return out

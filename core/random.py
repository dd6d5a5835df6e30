"""Seeded random numbers from each backend's own generator.

``cr.random.seed(n)`` reseeds every loaded backend (and the ones loaded later),
so a run is reproducible on one backend.  Different backends use different
generators: the same seed gives different numbers on numpy and torch.

``cr.random.get_state()`` / ``cr.random.set_state(state)`` (NumPy's names) save
and restore every generator, as a JSON-safe dict that ``cr.save`` stores, so a
run resumed from a checkpoint draws the very numbers it would have drawn.
"""
import base64

from . import backends as _backends
from .creation import _resolve, _shape, _float
from .errors import BackendError, CheckpointError, DTypeError
from .tensor import make
from ._state import state

_seed = None


def seed(n):
    """Reseed the generator of every backend (loaded now or later)."""
    global _seed
    _seed = int(n)
    for b in set(_backends._loaded.values()):
        b.seed(_seed)
        b._seeded = _seed


def _backend(backend):
    b = _resolve(backend)
    if _seed is not None and getattr(b, "_seeded", None) != _seed:
        b.seed(_seed)
        b._seeded = _seed
    return b


def _drawing(backend):
    """The generator's backend for a draw, which cr.vmap refuses unless randomness='same'."""
    if state.vmap_randomness and state.vmap_randomness[-1] == "error":
        raise ValueError(
            "a draw from cr.random inside cr.vmap would be one draw shared by every example (a "
            "loop would draw anew for each); draw the (batch, ...) numbers outside and pass them "
            "in as a batched argument, or pass randomness='same' to cr.vmap to share one draw")
    return _backend(backend)


def normal(shape, mean=0.0, std=1.0, dtype=None, backend=None):
    """Samples of N(mean, std^2) with the given shape."""
    b = _drawing(backend)
    raw = b.normal(_shape(shape), _floating("normal", dtype))
    t = make(raw, b)
    if std != 1.0:
        t = t * std
    if mean != 0.0:
        t = t + mean
    return t


def uniform(shape, low=0.0, high=1.0, dtype=None, backend=None):
    """Samples of U[low, high) with the given shape."""
    b = _drawing(backend)
    t = make(b.uniform(_shape(shape), _floating("uniform", dtype)), b)
    if (low, high) != (0.0, 1.0):
        t = t * (high - low) + low
    return t


def _floating(what, dtype):
    """A floating dtype to draw in (an integer one would silently round every sample to 0)."""
    name = _float(dtype)
    if not name.is_floating:
        raise DTypeError(f"cr.random.{what}: dtype {name} is not floating (samples would round to "
                         "integers); draw in a floating dtype and cast, or use cr.random.randint")
    return name


def randint(low, high, shape, backend=None):
    """int64 samples in [low, high)."""
    b = _drawing(backend)
    return make(b.randint(low, high, _shape(shape)), b)


def permutation(n, backend=None):
    """A random permutation of range(n) (int64)."""
    b = _drawing(backend)
    return make(b.permutation(int(n)), b)


# ------------------------------------------------------------------ state

def get_state(backends=None):
    """Every generator's state: ``{"seed", "backends": {name: snapshot}, "partial"}``, JSON-safe.

    ``backends``: names to include (default: every loaded backend; a partial state
    restores only those).  Pass it to ``set_state`` (or store it with ``cr.save``)
    to replay the same draws.

    >>> import chainrule as cr
    >>> cr.random.seed(0); s = cr.random.get_state()
    >>> a = cr.random.normal((2,)).tolist()
    >>> cr.random.set_state(s); a == cr.random.normal((2,)).tolist()
    True
    """
    chosen = set(_backends._loaded.values()) if backends is None else {_resolve(b) for b in backends}
    snapshots = {}
    for b in sorted(chosen, key=lambda b: b.name):
        if "rng_state" in b.missing or "set_rng_state" in b.missing:
            raise BackendError(f"backend {b.name!r} has no rng_state/set_rng_state kernels, so its "
                               "generator cannot be saved; pass get_state(backends=[...]) naming "
                               "the backends you draw from, or implement the kernels")
        snapshots[b.name] = _to_json(_backend(b).rng_state(), b.name)   # a pending seed applies first
    return {"seed": _seed, "backends": snapshots, "partial": backends is not None}


def set_state(state):
    """Restore what ``get_state()`` returned (or ``cr.load`` read back); all or nothing:
    a state that does not fit raises ``CheckpointError`` and leaves every generator as it was."""
    global _seed
    seed_, targets, partial = _check_state(state)
    before = {b: b.rng_state() for b in targets}
    try:
        for b, snapshot in targets.items():
            b.set_rng_state(snapshot)
    except Exception as exc:
        for b, snapshot in before.items():
            b.set_rng_state(snapshot)
        raise CheckpointError(f"cr.random.set_state: the saved state of backend {b.name!r} does not "
                              f"fit its generator ({type(exc).__name__}: {exc}); it was saved by "
                              "another version of the library behind that backend, or altered; "
                              "nothing was changed") from None
    if not partial:                # a partial state changes its generators only
        _seed = seed_
    for b in set(_backends._loaded.values()):
        # restored states win over the seed; a backend a complete state does not hold was not
        # loaded when it was taken, so (as then) the seed applies at its first draw
        if b in targets:
            b._seeded = _seed
        elif not partial:
            b._seeded = None


def _check_state(state):
    """(seed, {Backend: native snapshot}, partial) from a ``get_state()`` dict, or CheckpointError."""
    if (not isinstance(state, dict) or set(state) != {"seed", "backends", "partial"}
            or not isinstance(state["backends"], dict) or not isinstance(state["partial"], bool)):
        raise CheckpointError("cr.random.set_state expects the dict cr.random.get_state() returns "
                              f"(keys 'seed', 'backends', 'partial'), got {_short(state)}")
    seed_ = state["seed"]
    if seed_ is not None and (not isinstance(seed_, int) or isinstance(seed_, bool)):
        raise CheckpointError(f"cr.random.set_state: 'seed' must be an int or None, got {seed_!r}")
    targets = {}
    for name, snapshot in state["backends"].items():
        try:
            b = _backends.load(name)
        except Exception as exc:
            raise CheckpointError(f"cr.random.set_state: the state holds the generator of backend "
                                  f"{name!r}, which cannot be used here ({exc}); drop "
                                  f"state['backends'][{name!r}] to resume without it") from None
        if "set_rng_state" in b.missing:
            raise CheckpointError(f"cr.random.set_state: backend {name!r} has no set_rng_state kernel")
        targets[b] = _from_json(snapshot, name)
    return seed_, targets, state["partial"]


def _short(value):
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


# Snapshots are the backends' own values (NumPy: a dict of ints; torch: bytes).  JSON
# holds dicts, lists, numbers and strings; bytes and NumPy arrays get a tagged base64 form.

def _to_json(value, name):
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _to_json(v, name) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v, name) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if type(value).__module__ == "numpy" and hasattr(value, "tobytes"):   # no NumPy import here
        return {"__ndarray__": base64.b64encode(value.tobytes()).decode("ascii"),
                "dtype": value.dtype.str, "shape": list(value.shape)}
    raise BackendError(f"backend {name!r}: rng_state() returned a {type(value).__name__}, which "
                       "cr.random.get_state cannot store; return dicts, lists, numbers, "
                       "strings, bytes or NumPy arrays")


def _from_json(value, name):
    try:
        if isinstance(value, dict) and "__bytes__" in value:
            return base64.b64decode(value["__bytes__"], validate=True)
        if isinstance(value, dict) and "__ndarray__" in value:
            import numpy as np
            raw = base64.b64decode(value["__ndarray__"], validate=True)
            return np.frombuffer(raw, np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    except Exception as exc:
        raise CheckpointError(f"cr.random.set_state: the state of backend {name!r} is corrupt "
                              f"({type(exc).__name__}: {exc})") from None
    if isinstance(value, dict):
        return {k: _from_json(v, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v, name) for v in value]
    return value

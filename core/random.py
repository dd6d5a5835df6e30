"""Seeded random numbers from each backend's own generator.

``cr.random.seed(n)`` reseeds every loaded backend (and the ones loaded later),
so a run is reproducible on one backend.  Different backends use different
generators: the same seed gives different numbers on numpy and torch.
"""
from . import backends as _backends
from .creation import _resolve, _shape, _float
from .tensor import make

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


def normal(shape, mean=0.0, std=1.0, dtype=None, backend=None):
    """Samples of N(mean, std^2) with the given shape."""
    b = _backend(backend)
    raw = b.normal(_shape(shape), _float(dtype))
    t = make(raw, b)
    if std != 1.0:
        t = t * std
    if mean != 0.0:
        t = t + mean
    return t


def uniform(shape, low=0.0, high=1.0, dtype=None, backend=None):
    """Samples of U[low, high) with the given shape."""
    b = _backend(backend)
    t = make(b.uniform(_shape(shape), _float(dtype)), b)
    if (low, high) != (0.0, 1.0):
        t = t * (high - low) + low
    return t


def randint(low, high, shape, backend=None):
    """int64 samples in [low, high)."""
    b = _backend(backend)
    return make(b.randint(low, high, _shape(shape)), b)


def permutation(n, backend=None):
    """A random permutation of range(n) (int64)."""
    b = _backend(backend)
    return make(b.permutation(int(n)), b)

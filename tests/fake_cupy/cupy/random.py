"""cupy.random of the stand-in: RandomState with CuPy's dtype= arguments."""
import numpy as _np

from . import ndarray


class RandomState:
    def __init__(self, seed=None):
        self._rs = _np.random.RandomState(seed)

    def standard_normal(self, size=None, dtype=float):
        dt = _np.dtype(dtype)
        if dt.char not in "fd":
            raise TypeError("cupy.random only supports float32 and float64")
        return ndarray(_np.asarray(self._rs.standard_normal(size)).astype(dt))

    def random_sample(self, size=None, dtype=float):
        dt = _np.dtype(dtype)
        if dt.char not in "fd":
            raise TypeError("cupy.random only supports float32 and float64")
        return ndarray(_np.asarray(self._rs.random_sample(size)).astype(dt))

    def randint(self, low, high=None, size=None, dtype="l"):
        return ndarray(_np.asarray(self._rs.randint(low, high, size=size, dtype=dtype)))

    def permutation(self, num):
        return ndarray(_np.asarray(self._rs.permutation(num)))


_default = RandomState()


def seed(n=None):
    global _default
    _default = RandomState(n)

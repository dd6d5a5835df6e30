"""cupyx of the stand-in: scatter_add (with CuPy's dtype limits) and scipy.special.erf/erfc."""
import numpy as _np

from cupy import ndarray, _host_index, _host
from . import scipy  # noqa: F401


def scatter_add(a, slices, value):
    """a[slices] += value, repeated indices adding up (np.add.at); CuPy's atomicAdd types only."""
    if not isinstance(a, ndarray):
        raise TypeError("a must be a cupy.ndarray")
    if a.dtype.type not in (_np.int32, _np.float16, _np.float32, _np.float64, _np.uint32, _np.uint64,
                            _np.ulonglong):
        raise TypeError("scatter_add only supports int32, float16, float32, float64, uint32, "
                        "uint64, as data type")
    _np.add.at(a._a, _host_index(slices), _host(value))

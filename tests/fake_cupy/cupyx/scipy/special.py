"""cupyx.scipy.special.erf/erfc of the stand-in: CuPy's ufuncs have float32 and float64 loops
only ('f->f', 'd->d'), so bool, int8, uint8, int16 and float16 inputs answer float32 and
int32/int64 float64."""
import math

import numpy as _np

from cupy import ndarray, _host

try:
    from scipy import special as _sp
    _erf, _erfc = _sp.erf, _sp.erfc
except ImportError:
    _erf = _np.vectorize(math.erf, otypes=[_np.float64])
    _erfc = _np.vectorize(math.erfc, otypes=[_np.float64])


def _loop(fn, name):
    def ufunc(x):
        a = _np.asarray(_host(x))
        out = _np.float32 if _np.can_cast(a.dtype, _np.float32) else _np.float64
        if not _np.can_cast(a.dtype, out):
            raise TypeError(f"Wrong type ({a.dtype}) of arguments for cupyx_scipy_special_{name}")
        r = _np.asarray(fn(a.astype(out))).astype(out)
        return ndarray(r, x._device.id if isinstance(x, ndarray) else None)
    ufunc.__name__ = name
    return ufunc


erf = _loop(_erf, "erf")
erfc = _loop(_erfc, "erfc")

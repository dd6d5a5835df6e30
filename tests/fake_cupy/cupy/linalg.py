"""cupy.linalg of the stand-in (no eig: CuPy 13 has none, the backend computes it on the host)."""
import numpy as _np

from . import _function

for _n in ("eigh", "qr", "solve", "inv", "det", "slogdet", "cholesky", "svd", "norm", "eigvalsh",
           "pinv", "matrix_power"):
    globals()[_n] = _function(getattr(_np.linalg, _n), _n)

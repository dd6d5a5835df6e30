"""``cr.linalg``: NumPy's ``numpy.linalg`` for tensors, every function batched over leading
axes and differentiable in both modes to any order (where the derivative exists: see
``LinAlgError`` and ``LinAlgWarning``).  ``numpy.linalg.<name>`` is ``cr.linalg.<name>``."""
from .ops.registry import exports as _exports
from .ops.linalg import (LinAlgError, LinAlgWarning, linalg_eigh as eigh, linalg_qr as qr, norm, matmul,
                         EighResult, EigResult, QRResult, SVDResult, SlogdetResult)
from .ops.shape import matrix_transpose

globals().update(_exports("linalg"))   # every op registered with namespace "linalg"

__all__ = sorted(set(_exports("linalg")) | {
    "LinAlgError", "LinAlgWarning", "eigh", "qr", "norm", "matmul", "matrix_transpose",
    "EighResult", "EigResult", "QRResult", "SVDResult", "SlogdetResult",
})

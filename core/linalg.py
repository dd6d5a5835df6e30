"""``cr.linalg``: NumPy's ``numpy.linalg`` for tensors, every function batched over leading
axes and differentiable in both modes to any order (where the derivative exists: see
``LinAlgError`` and ``LinAlgWarning``).  ``numpy.linalg.<name>`` is ``cr.linalg.<name>``.

>>> import chainrule as cr
>>> a = cr.tensor([[4.0, 1.0], [1.0, 3.0]], dtype="float64")
>>> round(float(cr.linalg.det(a)), 10)
11.0
>>> bool(cr.all(cr.abs(cr.grad(lambda a: cr.linalg.slogdet(a).logabsdet)(a) - cr.linalg.inv(a).mT) < 1e-12))
True
>>> b = cr.tensor([1.0, 2.0], dtype="float64")
>>> cr.hessian(lambda b: cr.sum(cr.linalg.solve(a, b) ** 3))(b).shape   # forward over reverse
(2, 2)
"""
from .ops.registry import exports as _exports
from .ops.linalg import (LinAlgError, LinAlgWarning, linalg_eigh as eigh, linalg_qr as qr, norm, matmul,
                         EighResult, EigResult, QRResult, SVDResult, SlogdetResult)
from .ops.shape import matrix_transpose

globals().update(_exports("linalg"))   # every op registered with namespace "linalg"

__all__ = sorted(set(_exports("linalg")) | {
    "LinAlgError", "LinAlgWarning", "eigh", "qr", "norm", "matmul", "matrix_transpose",
    "EighResult", "EigResult", "QRResult", "SVDResult", "SlogdetResult",
})

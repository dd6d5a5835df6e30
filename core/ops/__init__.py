"""``cr.ops``: the op registry (``register``, ``get``, ``names``) and the built-in op families.

Each op is one registry entry in its family's file; ``cr.<name>``, ``cr.nn.<name>`` and the
Tensor methods are read off the registry (``exports``, ``methods``), so adding an op touches
only its family's file.
"""
from .registry import register, get, names, Op, NON_DIFFERENTIABLE, on_kernels, public, exports
from . import elementwise, shape, reduce, linalg, moves
from . import sorting   # after shape: sort, argsort, topk build on take_along_axis
from . import products   # einsum and the products built of it (after linalg: matmul)
from .elementwise import astype_op
from .shape import sum_to, matrix_transpose, index_update, normalize_index
from .. import autodiff

globals().update(exports("chainrule"))

# the ops the engine itself applies (it sits below this package, so it is handed them)
autodiff.engine_ops.sum_to = sum_to
autodiff.engine_ops.astype = elementwise.astype
autodiff.engine_ops.broadcast_to = shape.broadcast_to
autodiff.engine_ops.clone = elementwise.clone

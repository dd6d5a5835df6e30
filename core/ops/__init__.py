"""The op registry (``register``, ``get``, ``names``) and the built-in op families."""
from .registry import register, get, names, Op, NON_DIFFERENTIABLE, on_kernels
from . import elementwise, shape, reduce, linalg
from .elementwise import *  # noqa: F401,F403
from .shape import (reshape, permute_dims, transpose, matrix_transpose, broadcast_to, sum_to, expand_dims, squeeze,
                    flatten, concat, stack, split, getitem, take, index_update)
from .reduce import sum, max, min, prod, mean, var, std, logsumexp, argmax, argmin, any, all
from .linalg import matmul, eigh, qr
from .elementwise import (add, subtract, multiply, divide, power, negative, exp, log, log1p, expm1,
                          sqrt, abs, sign, sin, cos, tan, tanh, erf, floor, maximum, minimum, where,
                          clip, astype, greater, greater_equal, less, less_equal, equal, not_equal,
                          logical_and, logical_or, logical_not, isfinite, isnan, stop_gradient,
                          clone)
from . import moves  # noqa: E402,F401  (to_backend)

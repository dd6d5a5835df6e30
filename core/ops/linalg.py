"""Linear algebra: matmul, whose backward is two more matmuls (Y = XW: dX = g W^T, dW = X^T g)."""
from .registry import register
from ._util import shape_of
from .shape import _reshape, matrix_transpose as transpose, expand_dims


def _matmul_vjp_x(ans, x, y):
    xd, yd = len(shape_of(x)), len(shape_of(y))
    if xd == 1 and yd == 1:
        return lambda g: g * y
    if xd == 1:   # (k,) @ (..., k, m): dx = y g  (summed over batch by the engine)
        return lambda g: _reshape(matmul(y, expand_dims(g, -1)), shape=shape_of(y)[:-2] + (shape_of(y)[-2],))
    if yd == 1:   # (..., n, k) @ (k,): dx = outer(g, y)
        return lambda g: expand_dims(g, -1) * y
    return lambda g: matmul(g, transpose(y))


def _matmul_vjp_y(ans, x, y):
    xd, yd = len(shape_of(x)), len(shape_of(y))
    if xd == 1 and yd == 1:
        return lambda g: g * x
    if xd == 1:   # dy = outer(x, g)
        return lambda g: expand_dims(x, -1) * expand_dims(g, -2)
    if yd == 1:   # dy = x^T g
        return lambda g: _reshape(matmul(transpose(x), expand_dims(g, -1)), shape=shape_of(x)[:-2] + (shape_of(x)[-1],))
    return lambda g: matmul(transpose(x), g)


matmul = register(
    "matmul", "matmul",
    vjp=(_matmul_vjp_x, _matmul_vjp_y),
    jvp=(lambda x_dot, ans, x, y: matmul(x_dot, y),
         lambda y_dot, ans, x, y: matmul(x, y_dot)), raw_rules=True)

eigh = register("eigh", "eigh", doc="Eigenvalues and eigenvectors of a symmetric matrix (no gradient).")
qr = register("qr", "qr", doc="QR decomposition (no gradient).")

"""Linear algebra: matmul, whose backward is two more matmuls (Y = XW: dX = g W^T, dW = X^T g),
triangular solves, and the eigh and qr decompositions with their rules."""
from .registry import register, on_kernels, public
from ._util import shape_of
from .shape import _reshape, matrix_transpose as transpose, expand_dims, getitem, concat
from .elementwise import where, abs as _abs, stop_gradient
from .reduce import sum as _sum, max as _max
from .. import backends as _backends
from ..tensor import Tensor, make, _batched
from . import _batching as B


def _matmul_vjp_x(ans, x, y):
    xd, yd = len(shape_of(x)), len(shape_of(y))
    if xd == 1 and yd == 1:
        return lambda g: g * y
    if xd == 1 and yd == 2:   # (k,) @ (k, m): dx = y g, a matrix times a vector
        return lambda g: matmul(y, g)
    if xd == 1:   # (k,) @ (..., k, m): dx = y g  (summed over batch by the engine)
        return lambda g: _reshape(matmul(y, expand_dims(g, -1)), shape=shape_of(y)[:-2] + (shape_of(y)[-2],))
    if yd == 1:   # (..., n, k) @ (k,): dx = outer(g, y)
        return lambda g: expand_dims(g, -1) * y
    return lambda g: matmul(g, transpose(y))


def _matmul_vjp_y(ans, x, y):
    xd, yd = len(shape_of(x)), len(shape_of(y))
    if xd == 1 and yd == 1:
        return lambda g: g * x
    if xd == 1 and yd == 2:   # dy = outer(x, g): a column times a row, which g already is
        return lambda g: expand_dims(x, -1) * g
    if xd == 1:   # dy = outer(x, g)
        return lambda g: expand_dims(x, -1) * expand_dims(g, -2)
    if yd == 1:   # dy = x^T g
        return lambda g: _reshape(matmul(transpose(x), expand_dims(g, -1)), shape=shape_of(x)[:-2] + (shape_of(x)[-1],))
    return lambda g: matmul(transpose(x), g)


def _matmul_batch(dims, x, y):
    """x @ y per example.  A 1-d operand is made a matrix (a row x, a column y) so that no
    batch axis is read as a matrix axis, ranks are lined up, and the added axis dropped."""
    xr, yr = B.rank(x, dims[0]), B.rank(y, dims[1])
    if dims[1] is None and (yr == 1 or (xr == 1 and yr == 2)):
        return matmul(x, y)   # (B, ..., k) @ (k,) and (B, k) @ (k, m) are already right
    if dims[0] is None and xr == 2 and yr == 1:
        return matmul(y, transpose(x))   # (n, k) @ (B, k): the rows of (B, k) @ (k, n), one GEMM
    x = expand_dims(x, -2) if xr == 1 else x
    y = expand_dims(y, -1) if yr == 1 else y
    out = matmul(*B.aligned((x, y), dims))
    if xr == 1 or yr == 1:
        shape = shape_of(out)
        drop = (-1,) * (yr == 1) + (-2,) * (xr == 1)
        keep = [d for i, d in enumerate(shape) if i - len(shape) not in drop]
        out = _reshape(out, shape=tuple(keep))
    return out


matmul = register(
    "matmul", "matmul", batch=_matmul_batch,
    vjp=(_matmul_vjp_x, _matmul_vjp_y),
    jvp=(lambda x_dot, ans, x, y: matmul(x_dot, y),
         lambda y_dot, ans, x, y: matmul(x, y_dot)), raw_rules=True)

# ------------------------------------------------------------- helpers
# Decompositions have several outputs; an op has one.  So eigh and qr are ops whose output
# packs theirs into one array (one kernel call, one node, one cotangent), and the public
# functions slice it: slicing is differentiable, so gradients reach every output.


def _mask(like, kind):
    """A bool (n, n) mask of like's last two axes, raw or Tensor as ``like``: "upper"
    (i <= j), "strict_upper" (i < j), "lower" (i >= j), "strict_lower" (i > j), "diagonal"."""
    b = like._backend if type(like) is Tensor else _backends.backend_of_raw(like)
    n = shape_of(like)[-1]
    i = b.expand_dims(b.arange(0, n, 1, "int64"), -1)
    j = b.arange(0, n, 1, "int64")
    test = {"upper": b.less_equal, "strict_upper": b.less, "lower": b.greater_equal,
            "strict_lower": b.greater, "diagonal": b.equal}[kind]
    raw = test(i, j)
    return make(raw, b) if type(like) is Tensor else raw


def _keep(m, kind):
    return where(_mask(m, kind), m, 0)


def _as_numpy(x):
    if type(x) is Tensor:
        return x._backend.to_numpy(x._data)
    return _backends.backend_of_raw(x).to_numpy(x)


# ---------------------------------------------------- triangular solve


@on_kernels
def _solve_triangular_forward(k, t, c, upper):
    """X with T X = C, for triangular T (..., n, n) and C (..., n, m): row by row."""
    n = k.shape(t)[-1]
    x = k.zeros(tuple(k.shape(c)), k.dtype(c))
    for i in (reversed(range(n)) if upper else range(n)):
        known = slice(i + 1, n) if upper else slice(0, i)
        row = k.getitem(c, (Ellipsis, slice(i, i + 1), slice(None)))
        if known.start != known.stop:
            row = k.subtract(row, k.matmul(k.getitem(t, (Ellipsis, slice(i, i + 1), known)),
                                           k.getitem(x, (Ellipsis, known, slice(None)))))
        k.setitem(x, (Ellipsis, slice(i, i + 1), slice(None)),
                  k.divide(row, k.getitem(t, (Ellipsis, slice(i, i + 1), slice(i, i + 1)))))
    return x


def _solve_triangular_vjp(ans, t, c, upper):
    def vjp(g):
        c_bar = solve_triangular(transpose(t), g, upper=not upper)
        return _keep(-matmul(c_bar, transpose(ans)), "upper" if upper else "lower"), c_bar
    return vjp


def _solve_triangular_jvp(tangents, ans, t, c, upper):
    t_dot, c_dot = tangents
    rhs = 0 if c_dot is None else c_dot
    if t_dot is not None:
        rhs = rhs - matmul(_keep(t_dot, "upper" if upper else "lower"), ans)
    return solve_triangular(t, rhs, upper=upper)


def _solve_triangular_batch(dims, t, c, upper):
    # the row-by-row forward writes into an array of c's shape: both get the whole batch
    return solve_triangular(*B.aligned(B.all_batched((t, c), dims), (0, 0)), upper=upper)


solve_triangular = register(
    "solve_triangular", _solve_triangular_forward, batch=_solve_triangular_batch, vjp=_solve_triangular_vjp,
    jvp=_solve_triangular_jvp, raw_rules=True, namespace=None,
    doc="X with T X = C for a triangular T (``upper``: which triangle T holds; the other is not read).")


# ----------------------------------------------------------------- eigh


@on_kernels
def _eigh_forward(k, x):
    w, v = k.eigh(x)
    return k.concat([k.expand_dims(w, -2), v], -2)


def _unpack_eigh(packed):
    return getitem(packed, (Ellipsis, 0, slice(None))), getitem(packed, (Ellipsis, slice(1, None), slice(None)))


def _over_gaps(m, w, what, whole):
    """m_ij / (w_j - w_i) off the diagonal, 0 on it and across equal eigenvalues (_ties)."""
    tie = _ties(m, w, what, whole)
    gaps = expand_dims(w, -2) - expand_dims(w, -1)
    return where(tie, 0, m / where(tie, 1, gaps))


def _ties(m, w, what, whole):
    """Where w_i = w_j (to rounding, the diagonal included), as a bool mask like w.  Across
    equal eigenvalues m_ij / (w_j - w_i) exists only if m_ij is 0 (to rounding, next to
    ``whole``, the matrix m comes from), as for a loss that depends on the eigenspace, not on
    the basis returned in it: then it is 0; otherwise the derivative is undefined and this
    raises (torch returns nan or inf).  A host-side check on concrete values."""
    import numpy as np   # here only: the core imports no NumPy
    w_np, m_np = _as_numpy(w), _as_numpy(m)
    n = w_np.shape[-1]
    eps = float(np.finfo(w_np.dtype).eps)
    scale = np.abs(w_np).max(axis=-1, keepdims=True)[..., None] if w_np.size else 0.0
    tie = np.abs(w_np[..., None, :] - w_np[..., :, None]) <= 16 * n * eps * scale
    ref = np.abs(_as_numpy(whole)).max() if m_np.size else 0.0
    if np.any(tie & ~np.eye(n, dtype=bool) & (np.abs(m_np) > np.sqrt(eps) * ref)):
        raise ValueError(
            f"eigh: the {what} through the eigenvectors is undefined: two eigenvalues are equal "
            f"(eigenvalues {w_np.tolist()}) and the result depends on which basis of their "
            "eigenspace is returned; make it depend on the eigenspace only (e.g. through "
            "V diag(f(w)) V^T), or separate the eigenvalues")
    if type(w) is Tensor and _batched(w):   # under vmap: the same mask, with ops (they batch)
        w = stop_gradient(w)
        scale = expand_dims(_max(_abs(w), axis=-1, keepdims=True), -1)
        return _abs(expand_dims(w, -2) - expand_dims(w, -1)) <= scale * (16 * n * eps)
    b = w._backend if type(w) is Tensor else _backends.backend_of_raw(w)
    return make(b.asarray(tie), b) if type(w) is Tensor else b.asarray(tie)


def _diag_embed(v):
    """A matrix with v on the diagonal."""
    row = expand_dims(v, -2)
    return where(_mask(row, "diagonal"), row, 0)   # (n, n) mask, broadcast against the row


def _eigh_vjp(ans, x):
    # A = V diag(w) V^T:  A_bar = V (diag(w_bar) + skew(V^T V_bar) / gaps) V^T  (torch's formula)
    def vjp(g):
        w, v = _unpack_eigh(ans)
        w_bar, v_bar = _unpack_eigh(g)
        vt_v_bar = matmul(transpose(v), v_bar)
        skew = (vt_v_bar - transpose(vt_v_bar)) * 0.5
        middle = _diag_embed(w_bar) + _over_gaps(skew, w, "gradient", vt_v_bar)
        return matmul(v, matmul(middle, transpose(v)))
    return vjp


def _eigh_jvp(t, ans, x):
    # M = V^T dA V:  dw = diag(M),  dV = V (M / gaps)
    w, v = _unpack_eigh(ans)
    m = matmul(transpose(v), matmul(t[0], v))
    w_dot = _sum(_keep(m, "diagonal"), axis=-2)
    v_dot = matmul(v, _over_gaps(m, w, "derivative (forward mode, which also moves the eigenvectors)", m))
    return concat([expand_dims(w_dot, -2), v_dot], axis=-2)


_eigh = register("eigh", _eigh_forward, batch=B.each_leading("eigh"), vjp=_eigh_vjp, jvp=_eigh_jvp, raw_rules=True,
                 doc="eigh's outputs packed as (..., n + 1, n): row 0 the eigenvalues, then the eigenvectors.")


@public(_eigh)
def eigh(x):
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices (..., n, n).

    Only the lower triangle is read.  Differentiable (both modes, any order), as torch: the
    gradient assumes a symmetric input and perturbation; through the eigenvectors it is
    undefined where eigenvalues repeat, unless the loss does not depend on the basis of
    the eigenspace (then it is exact), and that raises ValueError instead of giving nan.

    >>> import chainrule as cr
    >>> w, v = cr.eigh(cr.tensor([[2.0, 1.0], [1.0, 2.0]]))
    >>> [round(x, 4) for x in w.tolist()]
    [1.0, 3.0]
    """
    return _unpack_eigh(_eigh(x))


# ------------------------------------------------------------------- qr


@on_kernels
def _qr_forward(k, x):
    q, r = k.qr(x)
    m, n = k.shape(x)[-2:]
    return k.concat([q, r], -2 if m >= n else -1)


def _unpack_qr(packed, m, n):
    if m >= n:   # Q (m, n) over R (n, n)
        return getitem(packed, (Ellipsis, slice(None, m), slice(None))), \
            getitem(packed, (Ellipsis, slice(m, None), slice(None)))
    return getitem(packed, (Ellipsis, slice(None), slice(None, m))), \
        getitem(packed, (Ellipsis, slice(None), slice(m, None)))


def _qr_vjp_tall(q, r, q_bar, r_bar):
    """A_bar for A = QR with m >= n: (Q_bar + Q copyltu(M)) R^-T, M = R R_bar^T - Q_bar^T Q
    written as its upper triangle mirrored (torch's and Walter & Lehmann's formula)."""
    m = matmul(r_bar, transpose(r)) - matmul(transpose(q), q_bar)
    mirrored = _keep(m, "upper") + transpose(_keep(m, "strict_upper"))
    b = q_bar + matmul(q, mirrored)
    return transpose(solve_triangular(r, transpose(b), upper=True))


def _qr_jvp_tall(q, r, a_dot):
    """(dQ, dR) for m >= n: with C = Q^T dA R^-1, Q^T dQ is the skew part Ω of C's strict
    lower triangle and dR R^-1 the rest, upper triangular."""
    y = transpose(solve_triangular(transpose(r), transpose(a_dot), upper=False))   # dA R^-1
    c = matmul(transpose(q), y)
    low = _keep(c, "strict_lower")
    upper = c - (low - transpose(low))
    return y - matmul(q, upper), matmul(upper, r)


def _qr_vjp(ans, x):
    m, n = shape_of(x)[-2:]

    def vjp(g):
        q, r = _unpack_qr(ans, m, n)
        q_bar, r_bar = _unpack_qr(g, m, n)
        if m >= n:
            return _qr_vjp_tall(q, r, q_bar, r_bar)
        # A = [X | Y] with X = QU square and V = Q^T Y (Liao et al. 2019)
        y = getitem(x, (Ellipsis, slice(m, None)))
        u = getitem(r, (Ellipsis, slice(None, m)))
        u_bar, v_bar = getitem(r_bar, (Ellipsis, slice(None, m))), getitem(r_bar, (Ellipsis, slice(m, None)))
        x_bar = _qr_vjp_tall(q, u, q_bar + matmul(y, transpose(v_bar)), u_bar)
        return concat([x_bar, matmul(q, v_bar)], axis=-1)
    return vjp


def _qr_jvp(t, ans, x):
    m, n = shape_of(x)[-2:]
    q, r = _unpack_qr(ans, m, n)
    if m >= n:
        q_dot, r_dot = _qr_jvp_tall(q, r, t[0])
        return concat([q_dot, r_dot], axis=-2)
    x_dot, y_dot = getitem(t[0], (Ellipsis, slice(None, m))), getitem(t[0], (Ellipsis, slice(m, None)))
    q_dot, u_dot = _qr_jvp_tall(q, getitem(r, (Ellipsis, slice(None, m))), x_dot)
    y = getitem(x, (Ellipsis, slice(m, None)))
    v_dot = matmul(transpose(q_dot), y) + matmul(transpose(q), y_dot)
    return concat([q_dot, u_dot, v_dot], axis=-1)


_qr = register("qr", _qr_forward, batch=B.each_leading("qr"), vjp=_qr_vjp, jvp=_qr_jvp, raw_rules=True,
               doc="qr's outputs packed: Q over R for tall (m >= n) matrices, Q beside R for wide ones.")


@public(_qr)
def qr(x):
    """Reduced QR of matrices (..., m, n): Q (..., m, k) with orthonormal columns and upper
    triangular R (..., k, n), k = min(m, n).  Differentiable (both modes, any order) where R
    is invertible (A of full rank), as torch.

    >>> import chainrule as cr
    >>> q, r = cr.qr(cr.tensor([[3.0, 1.0], [4.0, 2.0]]))
    >>> [round(abs(v), 4) for v in r.tolist()[0]]
    [5.0, 2.2]
    """
    m, n = shape_of(x)[-2:]
    return _unpack_qr(_qr(x), m, n)

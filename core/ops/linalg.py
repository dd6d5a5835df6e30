"""Linear algebra: matmul, whose backward is two more matmuls (Y = XW: dX = g W^T, dW = X^T g),
triangular solves, the eigh and qr decompositions, and ``cr.linalg`` (NumPy's numpy.linalg:
inv det slogdet solve cholesky eig svd svdvals pinv lstsq matrix_power and the norms), each
with its rules in both modes, written with chainrule ops so that they differentiate again.
float16/bfloat16 inputs are decomposed in float32 (LAPACK has none) and rounded back.

Where a derivative does not exist (repeated eigenvalues or singular values seen through the
vectors, a singular matrix in a rule that inverts it, a complex spectrum) a rule raises
``LinAlgError`` saying so and what to do; where it exists only along perturbations that keep
the rank (pinv and lstsq of a rank-deficient matrix) it warns with ``LinAlgWarning``."""
import math
import numbers
import warnings
from collections import namedtuple

from .registry import register, on_kernels, public
from ._util import shape_of, dtype_of, normalize_axis, kept_shape
from .shape import (_reshape, matrix_transpose as transpose, expand_dims, getitem, concat, permute_dims,
                    broadcast_to)
from .elementwise import (where, abs as _abs, stop_gradient, sign as _sign, equal as _equal, power as _power,
                          astype_op, logical_and)
from .reduce import sum as _sum, max as _max, min as _min, kernels_in_float32, _as_tensor
from .reduce import float32_if_low, LOW_PRECISION
from .. import backends as _backends
from ..creation import asarray
from ..dtypes import FLOATING
from ..errors import ShapeError, DTypeError, ArgumentError, LinAlgError, LinAlgWarning
from ..tensor import Tensor, make, _batched
from . import _batching as B


EighResult = namedtuple("EighResult", "eigenvalues eigenvectors")
EigResult = namedtuple("EigResult", "eigenvalues eigenvectors")
QRResult = namedtuple("QRResult", "Q R")
SVDResult = namedtuple("SVDResult", "U S Vh")
SlogdetResult = namedtuple("SlogdetResult", "sign logabsdet")


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


def _over_gaps(m, w, what, whole, op="eigh"):
    """m_ij / (w_j - w_i) off the diagonal, 0 on it and across equal eigenvalues (_ties)."""
    tie = _ties(m, w, what, whole, op)
    gaps = expand_dims(w, -2) - expand_dims(w, -1)
    return where(tie, 0, m / where(tie, 1, gaps))


def _ties(m, w, what, whole, op="eigh"):
    """Where w_i = w_j (to rounding, the diagonal included), as a bool mask like w.  Across
    equal eigenvalues m_ij / (w_j - w_i) exists only if m_ij is 0 (to rounding, next to
    ``whole``, the matrix m comes from), as for a loss that depends on the eigenspace, not on
    the basis returned in it: then it is 0; otherwise the derivative is undefined and this
    raises LinAlgError (torch returns nan or inf).  A host-side check on concrete values.
    ``op`` names the decomposition (for svd, w holds the squared singular values)."""
    import numpy as np   # here only: the core imports no NumPy
    w_np, m_np = _as_numpy(w), _as_numpy(m)
    n = w_np.shape[-1]
    eps = float(np.finfo(w_np.dtype).eps)
    ref = np.abs(_as_numpy(whole)).max() if m_np.size else 0.0
    batched = any(type(a) is Tensor and _batched(a) for a in (w, m))
    if batched:
        # under vmap the raw arrays hold the batch axes of every vmap batching them, which
        # line up only through ops (w and m may be batched by different vmaps, as in
        # vmap(jacfwd(f))): the mask and the check with ops, read on the whole batch
        w_s, m_s = stop_gradient(w), stop_gradient(m)
        b = (w if type(w) is Tensor else m)._backend
        scale = expand_dims(_max(_abs(w_s), axis=-1, keepdims=True), -1)
        tie_t = _abs(expand_dims(w_s, -2) - expand_dims(w_s, -1)) <= scale * (16 * n * eps)
        off = make(b.asarray(~np.eye(n, dtype=bool)), b)
        bad = _as_numpy(logical_and(logical_and(tie_t, off), _abs(m_s) > np.sqrt(eps) * ref))
    else:
        scale = np.abs(w_np).max(axis=-1, keepdims=True)[..., None] if w_np.size else 0.0
        tie = np.abs(w_np[..., None, :] - w_np[..., :, None]) <= 16 * n * eps * scale
        bad = tie & ~np.eye(n, dtype=bool) & (np.abs(m_np) > np.sqrt(eps) * ref)
    if np.any(bad):
        values = "squared singular values" if op == "svd" else "eigenvalues"
        raise LinAlgError(
            f"{op}: the {what} through the {'singular' if op == 'svd' else 'eigen'}vectors is "
            f"undefined: two {values} are equal ({values} {w_np.tolist()}) and the result depends "
            "on which basis of their subspace is returned; make it depend on the subspace only "
            "(e.g. through V diag(f(w)) V^T), or separate the values")
    if batched:
        return tie_t
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
    the eigenspace (then it is exact), and that raises LinAlgError (a ValueError) instead
    of giving nan.  ``cr.linalg.eigh`` returns the pair named, as NumPy's.

    >>> import chainrule as cr
    >>> w, v = cr.eigh(cr.tensor([[2.0, 1.0], [1.0, 2.0]]))
    >>> [round(x, 4) for x in w.tolist()]
    [1.0, 3.0]
    """
    return _unpack_eigh(_eigh(_matrices(x, "eigh", square=True)))


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
    is invertible (A of full rank), as torch.  ``cr.linalg.qr`` returns the pair named, as NumPy's.

    >>> import chainrule as cr
    >>> q, r = cr.qr(cr.tensor([[3.0, 1.0], [4.0, 2.0]]))
    >>> [round(abs(v), 4) for v in r.tolist()[0]]
    [5.0, 2.2]
    """
    x = _matrices(x, "qr")
    m, n = shape_of(x)[-2:]
    return _unpack_qr(_qr(x), m, n)


# ======================================================== cr.linalg: what the ops share
# Every op takes matrices on the last two axes and is batched over the leading ones, so its
# batching rule is the op itself (B.each_leading).  Ops with several outputs pack them into
# one array, flattened past the batch axes and concatenated (one node, one cotangent); the
# public function unpacks them with differentiable slices.


def _matrices(x, name, square=False):
    """x as a stack of floating matrices (..., m, n), or a chainrule error naming the fix."""
    x = _as_tensor(x, name)
    shape = tuple(shape_of(x))
    if len(shape) < 2:
        raise ShapeError(f"{name}: expected matrices (..., m, n), got shape {shape}; make a vector a "
                         "column with x[:, None] or a row with x[None]")
    if square and shape[-1] != shape[-2]:
        raise ShapeError(f"{name}: expected square matrices (..., n, n), got shape {shape}")
    if dtype_of(x) not in FLOATING:
        raise DTypeError(f"{name}: expected floating matrices, got {dtype_of(x)}; cast with "
                         ".astype('float64')")
    return x


_HINTS = {
    "inv": "the matrix is singular: check its rank (cr.linalg.svdvals) or use cr.linalg.pinv",
    "solve": "the matrix is singular: check its rank (cr.linalg.svdvals) or use cr.linalg.lstsq",
    "cholesky": "the matrix must be symmetric positive definite (add a multiple of the identity, or "
                "use cr.linalg.eigh)",
    "eig": "cr.linalg.eig takes matrices with a real spectrum; for a symmetric matrix use "
           "cr.linalg.eigh (real eigenvalues always)",
}


def _call(k, op, kernel, *args):
    """A LAPACK-backed kernel; its failure (NumPy's LinAlgError is a ValueError, torch's a
    RuntimeError) as a LinAlgError that names the op and the fix."""
    try:
        return getattr(k, kernel)(*args)
    except (ValueError, RuntimeError, ArithmeticError) as exc:
        hint = _HINTS.get(op, "check the matrix for nan, inf or singularity")
        raise LinAlgError(f"{op}: {exc}; {hint}") from exc


def _pack(k, parts, lead):
    """Raw arrays with batch shape ``lead``, flattened past it and concatenated: one array."""
    return k.concat([k.reshape(p, lead + (-1,)) for p in parts], -1)


def _pack_ops(parts, lead):
    """The same with ops, for tangents."""
    return concat([_reshape(p, shape=lead + (-1,)) for p in parts], axis=-1)


def _unpack(packed, shapes):
    """The parts of a packed array (``shapes``: their trailing shapes), as differentiable slices."""
    lead = tuple(shape_of(packed)[:-1])
    parts, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        part = getitem(packed, (Ellipsis, slice(start, start + size)))
        parts.append(_reshape(part, shape=lead + tuple(shape)))
        start += size
    return parts


def _diagonal(m):
    """The diagonal of matrices (..., n, n) as vectors (..., n)."""
    return _sum(_keep(m, "diagonal"), axis=-2)


def _trace(m):
    return _sum(_diagonal(m), axis=-1)


def _inverse_for(op, x):
    """x^-1 inside op's rules; a singular x is named as where the derivative fails."""
    try:
        return _inv(x)
    except LinAlgError as exc:
        raise LinAlgError(f"{op}: the derivative needs the inverse of a singular matrix ({exc}); "
                          "chainrule does not differentiate det/slogdet/inv/solve there") from None


def _solve_for(op, a, b):
    try:
        return _solve(a, b)
    except LinAlgError as exc:
        raise LinAlgError(f"{op}: the derivative needs to solve with a singular matrix ({exc}); "
                          "chainrule does not differentiate it there") from None


def _over_values(num, s, what, op):
    """num / s column by column (s: (..., k)), where s is a singular value.  A zero s
    (to rounding) raises unless its column of num is 0 too, as for a loss that ignores it."""
    import numpy as np   # here only: the core imports no NumPy
    s_np, num_np = _as_numpy(s), _as_numpy(num)
    eps = float(np.finfo(s_np.dtype).eps)
    factor = eps * max(num_np.shape[-2:] + s_np.shape[-1:])
    ref = np.abs(num_np).max() if num_np.size else 0.0
    if num_np.size and any(type(a) is Tensor and _batched(a) for a in (s, num)):
        # under vmap: with ops, which line up the batch axes of s and num (see _ties)
        s_s = stop_gradient(s)
        tiny_t = s_s <= _max(s_s, axis=-1, keepdims=True) * factor
        column_t = _max(_abs(stop_gradient(num)), axis=-2)
        tiny = _as_numpy(tiny_t)
        bad = _as_numpy(logical_and(tiny_t, column_t > np.sqrt(eps) * ref))
    else:
        tiny = s_np <= factor * (s_np.max(axis=-1, keepdims=True) if s_np.size else 0.0)
        column = np.abs(num_np).max(axis=-2) if num_np.size else np.zeros(s_np.shape, bool)
        bad = tiny & (column > np.sqrt(eps) * ref)
    if np.any(bad):
        raise LinAlgError(f"{op}: the {what} is undefined: the matrix is rank deficient (singular "
                          f"values {s_np.tolist()}) and the result depends on the singular vectors "
                          "of its null space; use the singular values only, or a full-rank matrix")
    s = expand_dims(s, -2)
    if not np.any(tiny):
        return num / s
    kept = stop_gradient(s)
    zero = kept <= _max(kept, axis=-1, keepdims=True) * factor
    return where(zero, 0, num / where(zero, 1, s))


# ------------------------------------------------------------------ eigh and qr, as NumPy's
# cr.eigh and cr.qr answer plain pairs (as before); cr.linalg's answer NumPy's named ones


def linalg_eigh(a):
    """``(eigenvalues, eigenvectors)`` of symmetric matrices, named as NumPy's; see ``cr.eigh``."""
    return EighResult(*eigh(a))


def linalg_qr(a):
    """``(Q, R)``, reduced, named as NumPy's; see ``cr.qr``."""
    return QRResult(*qr(a))


linalg_eigh.__name__, linalg_qr.__name__ = "eigh", "qr"


# ------------------------------------------------------------------ inv


@on_kernels
@kernels_in_float32   # LAPACK has no half precision
def _inv_forward(k, x):
    return _call(k, "inv", "inv", x)


_inv = register(
    "inv", _inv_forward, namespace="linalg", batch=B.each_leading("inv"),
    vjp=lambda ans, x: lambda g: -matmul(transpose(ans), matmul(g, transpose(ans))),
    jvp=lambda t, ans, x: -matmul(ans, matmul(t[0], ans)))


@public(_inv)
def inv(a):
    """The inverse of square matrices (..., n, n); a singular one raises LinAlgError."""
    return _inv(_matrices(a, "inv", square=True))


# ------------------------------------------------------------------ solve


@on_kernels
@kernels_in_float32   # LAPACK has no half precision
def _solve_forward(k, a, b):
    if k.dtype(b) in ("float16", "bfloat16"):
        b = k.astype(b, "float32")
    return _call(k, "solve", "solve", a, b)


def _solve_vjp(ans, a, b):
    def vjp(g):
        b_bar = _solve_for("solve", transpose(a), g)
        return -matmul(b_bar, transpose(ans)), b_bar
    return vjp


def _solve_jvp(t, ans, a, b):
    a_dot, b_dot = t   # dX = A^-1 (dB - dA X)
    rhs = b_dot if a_dot is None else (-matmul(a_dot, ans) if b_dot is None else b_dot - matmul(a_dot, ans))
    return _solve_for("solve", a, rhs)


_solve = register("solve", _solve_forward, namespace="linalg", vjp=_solve_vjp, jvp=_solve_jvp,
                  batch=lambda dims, a, b: _solve(*B.aligned((a, b), dims)))


def _right_hand_side(name, a, b, rows):
    """b of ``a x = b``: (rows,) or (..., rows, k), floating; (b, its shape, is it a vector)."""
    b = _as_tensor(b, name)
    size, b_shape = shape_of(a)[-2], tuple(shape_of(b))
    vector = len(b_shape) == 1
    if not b_shape or b_shape[-2 + vector] != size:
        raise ShapeError(f"{name}: b must be ({rows},) or (..., {rows}, k) with {rows} = {size} "
                         f"(a is {tuple(shape_of(a))}), got {b_shape}")
    if dtype_of(b) not in FLOATING:
        raise DTypeError(f"{name}: expected floating b, got {dtype_of(b)}; cast with .astype('float64')")
    return b, b_shape, vector


@public(_solve)
def solve(a, b):
    """X with A X = B for square A (..., n, n): B is a vector (n,) when 1-d (as NumPy 2),
    else matrices (..., n, k); batch axes broadcast.  A singular A raises LinAlgError."""
    a = _matrices(a, "solve", square=True)
    b, b_shape, vector = _right_hand_side("solve", a, b, "n")
    _check_batches("solve", shape_of(a)[:-2], b_shape[:-2])
    x = _solve(a, expand_dims(b, -1) if vector else b)
    return getitem(x, (Ellipsis, 0)) if vector else x


def _check_batches(name, s, t):
    for p, q in zip(reversed(s), reversed(t)):
        if p != q and 1 not in (p, q):
            raise ShapeError(f"{name}: batch shapes {tuple(s)} and {tuple(t)} do not broadcast; "
                             "reshape or expand one")


# ------------------------------------------------------------------ det, slogdet


@on_kernels
@kernels_in_float32   # LAPACK has no half precision
def _det_forward(k, x):
    return k.det(x)


def _det_vjp(ans, x):   # d det = det tr(A^-1 dA):  A_bar = g det A^-T
    return lambda g: expand_dims(expand_dims(g * ans, -1), -1) * transpose(_inverse_for("det", x))


_det = register("det", _det_forward, namespace="linalg", batch=B.each_leading("det"), vjp=_det_vjp,
                jvp=lambda t, ans, x: ans * _trace(_solve_for("det", x, t[0])))


@public(_det)
def det(a):
    """Determinants of square matrices (..., n, n).  Differentiable where A is invertible;
    at a singular A the derivative raises LinAlgError (it goes through A^-1)."""
    return _det(_matrices(a, "det", square=True))


@on_kernels
@kernels_in_float32   # LAPACK has no half precision
def _slogdet_forward(k, x):
    sign, logabsdet = k.slogdet(x)
    return k.stack([sign, logabsdet], -1)


def _slogdet_vjp(ans, x):   # only log|det| carries a gradient: A^-T
    return lambda g: expand_dims(expand_dims(getitem(g, (Ellipsis, 1)), -1), -1) * transpose(
        _inverse_for("slogdet", x))


def _slogdet_jvp(t, ans, x):
    d = _trace(_solve_for("slogdet", x, t[0]))
    return concat([expand_dims(d * 0, -1), expand_dims(d, -1)], axis=-1)


_slogdet = register("slogdet", _slogdet_forward, namespace="linalg", batch=B.each_leading("slogdet"),
                    vjp=_slogdet_vjp, jvp=_slogdet_jvp,
                    doc="slogdet's outputs packed as (..., 2): sign, log|det|.")


@public(_slogdet)
def slogdet(a):
    """``(sign, logabsdet)`` of square matrices (..., n, n), a named pair as NumPy's: det =
    sign * exp(logabsdet), without overflow.  The sign carries no gradient; logabsdet's is
    A^-T, and at a singular A (sign 0) raises LinAlgError."""
    sign, logabsdet = _unpack(_slogdet(_matrices(a, "slogdet", square=True)), [(), ()])
    return SlogdetResult(stop_gradient(sign), logabsdet)


# ------------------------------------------------------------------ cholesky


@on_kernels
@kernels_in_float32   # LAPACK has no half precision
def _cholesky_forward(k, x):
    return _call(k, "cholesky", "cholesky", x)


def _cholesky_vjp(ans, x):
    # A_bar = L^-T Φ L^-1,  Φ = (P + P^T - diag P) / 2,  P = tril(L^T L_bar): torch's formula,
    # a symmetric gradient (A is symmetric, and so are the perturbations it assumes)
    def vjp(g):
        p = _keep(matmul(transpose(ans), g), "lower")
        phi = (p + transpose(_keep(p, "strict_lower"))) * 0.5
        y = solve_triangular(transpose(ans), phi, upper=True)                 # L^-T Φ
        return transpose(solve_triangular(transpose(ans), transpose(y), upper=True))   # ... L^-1
    return vjp


def _cholesky_jvp(t, ans, x):
    # dL = L Φ(L^-1 dA L^-T), Φ: the lower triangle with the diagonal halved
    y = solve_triangular(ans, t[0], upper=False)
    m = transpose(solve_triangular(ans, transpose(y), upper=False))
    return matmul(ans, _keep(m, "strict_lower") + _keep(m, "diagonal") * 0.5)


_cholesky = register("cholesky", _cholesky_forward, namespace="linalg", batch=B.each_leading("cholesky"),
                     vjp=_cholesky_vjp, jvp=_cholesky_jvp)


@public(_cholesky)
def cholesky(a, /, *, upper=False):
    """L (lower triangular) with A = L L^T, for symmetric positive definite A (..., n, n);
    only the lower triangle is read.  ``upper=True``: U = L^T with A = U^T U.  The derivative
    assumes symmetric perturbations (as torch's).  A matrix that is not positive definite
    raises LinAlgError (CuPy answers nan instead)."""
    low = _cholesky(_matrices(a, "cholesky", square=True))
    return transpose(low) if upper else low


# ------------------------------------------------------------------ svd, svdvals


def _svd_shapes(m, n, full):
    k = min(m, n)
    return [(m, m if full else k), (k,), (n if full else k, n)]


@on_kernels
@kernels_in_float32   # LAPACK has no half precision
def _svd_forward(k, x, full_matrices):
    return _pack(k, _call(k, "svd", "svd", x, full_matrices), tuple(k.shape(x)[:-2]))


def _svd_reduced(packed, m, n, full):
    """U (..., m, k), S (..., k), Vh (..., k, n) out of a packed svd (or its cotangent)."""
    u, s, vh = _unpack(packed, _svd_shapes(m, n, full))
    k = min(m, n)
    if full and m != n:   # the completing columns are not unique: no derivative reaches them
        u, vh = getitem(u, (Ellipsis, slice(0, k))), getitem(vh, (Ellipsis, slice(0, k), slice(None)))
    return u, s, vh


def _svd_vjp(ans, x, full_matrices):
    m, n = shape_of(x)[-2:]
    k = min(m, n)

    def vjp(g):
        # A_bar = U [(skew(U^T U_bar) S + S skew(V^T V_bar)) / E + diag(S_bar)] V^T
        #       + (I - U U^T) U_bar S^-1 V^T + U S^-1 V_bar^T (I - V V^T),  E_jk = s_k^2 - s_j^2
        u, s, vh = _svd_reduced(ans, m, n, full_matrices)
        u_bar, s_bar, vh_bar = _svd_reduced(g, m, n, full_matrices)
        v, v_bar = transpose(vh), transpose(vh_bar)
        s2 = s * s
        uu, vv = matmul(transpose(u), u_bar), matmul(vh, v_bar)
        what = "gradient"
        inner = (_over_gaps(uu - transpose(uu), s2, what, uu, "svd") * expand_dims(s, -2)
                 + expand_dims(s, -1) * _over_gaps(vv - transpose(vv), s2, what, vv, "svd")
                 + _diag_embed(s_bar))
        a_bar = matmul(u, matmul(inner, vh))
        if m > k:
            a_bar = a_bar + matmul(_over_values(u_bar - matmul(u, uu), s, what + " through U", "svd"), vh)
        if n > k:
            a_bar = a_bar + matmul(u, transpose(_over_values(v_bar - matmul(v, vv), s, what + " through Vh",
                                                             "svd")))
        return a_bar
    return vjp


def _svd_jvp(t, ans, x, full_matrices):
    m, n = shape_of(x)[-2:]
    k = min(m, n)
    if full_matrices and m != n:
        raise LinAlgError("svd: forward mode with full_matrices=True needs square matrices (the "
                          "completing columns of U or Vh are not unique); pass full_matrices=False")
    u, s, vh = _svd_reduced(ans, m, n, full_matrices)
    v, a_dot = transpose(vh), t[0]
    # P = U^T dA V:  dS = diag(P),  U^T dU = (P S + S P^T) / E,  V^T dV = (S P + P^T S) / E
    av = matmul(a_dot, v)
    p = matmul(transpose(u), av)
    row, col, s2 = expand_dims(s, -2), expand_dims(s, -1), s * s
    what = "derivative (forward mode, which also moves the singular vectors)"
    u_dot = matmul(u, _over_gaps(p * row + col * transpose(p), s2, what, p, "svd"))
    v_dot = matmul(v, _over_gaps(col * p + transpose(p) * row, s2, what, p, "svd"))
    if m > k:   # + (I - U U^T) dA V S^-1
        u_dot = u_dot + _over_values(av - matmul(u, p), s, what, "svd")
    if n > k:   # + (I - V V^T) dA^T U S^-1
        v_dot = v_dot + _over_values(matmul(transpose(a_dot), u) - matmul(v, transpose(p)), s, what, "svd")
    return _pack_ops([u_dot, _diagonal(p), transpose(v_dot)], tuple(shape_of(x)[:-2]))


_svd = register("svd", _svd_forward, namespace="linalg", batch=B.each_leading("svd"), vjp=_svd_vjp,
                jvp=_svd_jvp, doc="svd's outputs packed: U, S and Vh flattened past the batch axes.")


@public(_svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """``(U, S, Vh)`` with A = U diag(S) Vh for matrices (..., m, n), S descending, a named
    triple as NumPy's (``compute_uv=False``: S alone; ``hermitian`` is accepted and ignored,
    the SVD is the same).  Derivatives: through S always; through U and Vh they need
    distinct singular values (and, for the extra columns of a non-square matrix, nonzero
    ones), else LinAlgError.  With ``full_matrices=True`` and m != n the completing columns
    get no gradient (as torch), and forward mode asks for ``full_matrices=False``."""
    a = _matrices(a, "svd")
    if not compute_uv:
        return svdvals(a)
    m, n = shape_of(a)[-2:]
    return SVDResult(*_unpack(_svd(a, full_matrices=bool(full_matrices)),
                              _svd_shapes(m, n, bool(full_matrices))))


@on_kernels
@kernels_in_float32   # LAPACK has no half precision
def _svdvals_forward(k, x):
    return _call(k, "svdvals", "svd", x, False)[1]


def _svdvals_vjp(ans, x):   # A_bar = U diag(S_bar) V^T: no division, defined at repeated values
    def vjp(g):
        u, _, vh = _unpack(_svd(x, full_matrices=False), _svd_shapes(*shape_of(x)[-2:], False))
        return matmul(u * expand_dims(g, -2), vh)
    return vjp


def _svdvals_jvp(t, ans, x):   # dS = diag(U^T dA V)
    u, _, vh = _unpack(_svd(x, full_matrices=False), _svd_shapes(*shape_of(x)[-2:], False))
    return _sum(u * matmul(t[0], transpose(vh)), axis=-2)


_svdvals = register("svdvals", _svdvals_forward, namespace="linalg", batch=B.each_leading("svdvals"),
                    vjp=_svdvals_vjp, jvp=_svdvals_jvp)


@public(_svdvals)
def svdvals(x, /):
    """The singular values of matrices (..., m, n), descending.  The first derivative is
    U diag(.) V^T, as torch's (where two singular values meet, the sorted values have a kink
    and that is one of its one-sided derivatives); the second needs distinct singular
    values, as the singular vectors then move (else LinAlgError)."""
    return _svdvals(_matrices(x, "svdvals"))


# ------------------------------------------------------------------ eig


@on_kernels
@kernels_in_float32   # LAPACK has no half precision
def _eig_forward(k, x):
    w, v = _call(k, "eig", "eig", x)
    return _pack(k, (w, v), tuple(k.shape(x)[:-2]))


def _eig_vjp(ans, x):
    n = shape_of(x)[-1]

    def vjp(g):
        # A_bar = V^-T (diag(w_bar) + (V^T V_bar - V^T V diag(V^T V_bar)) / gaps) V^T
        # (unit eigenvectors, as NumPy's and torch's: the diagonal term keeps their norm)
        w, v = _unpack(ans, [(n,), (n, n)])
        w_bar, v_bar = _unpack(g, [(n,), (n, n)])
        vt_v_bar = matmul(transpose(v), v_bar)
        m = vt_v_bar - matmul(transpose(v), v) * expand_dims(_diagonal(vt_v_bar), -2)
        middle = _diag_embed(w_bar) + _over_gaps(m, w, "gradient", vt_v_bar, "eig")
        return _solve_for("eig", transpose(v), matmul(middle, transpose(v)))
    return vjp


def _eig_jvp(t, ans, x):
    # P = V^-1 dA V:  dw = diag(P),  dV = V X - V diag(V^T V X),  X = P / gaps
    n = shape_of(x)[-1]
    w, v = _unpack(ans, [(n,), (n, n)])
    p = _solve_for("eig", v, matmul(t[0], v))
    v_dot = matmul(v, _over_gaps(p, w, "derivative (forward mode, which also moves the eigenvectors)", p, "eig"))
    v_dot = v_dot - v * expand_dims(_diagonal(matmul(transpose(v), v_dot)), -2)
    return _pack_ops([_diagonal(p), v_dot], tuple(shape_of(x)[:-2]))


_eig = register("eig", _eig_forward, namespace="linalg", batch=B.each_leading("eig"), vjp=_eig_vjp,
                jvp=_eig_jvp, doc="eig's outputs packed: the eigenvalues, then the eigenvectors.")


@public(_eig)
def eig(a):
    """``(eigenvalues, eigenvectors)`` of square matrices (..., n, n) with a real spectrum,
    a named pair as NumPy's (eigenvectors: unit columns, in LAPACK's order).  A complex
    eigenvalue raises LinAlgError (chainrule has no complex dtype; for symmetric matrices
    use eigh).  Derivatives through the eigenvectors need distinct eigenvalues."""
    a = _matrices(a, "eig", square=True)
    n = shape_of(a)[-1]
    return EigResult(*_unpack(_eig(a), [(n,), (n, n)]))


# ------------------------------------------------------------------ pinv, lstsq

_DEFAULT = object()


@on_kernels
@kernels_in_float32   # LAPACK has no half precision
def _pinv_forward(k, x, rtol):
    u, s, vh = _call(k, "pinv", "svd", x, False)
    last = len(k.shape(s)) - 1
    cutoff = k.multiply(k.max(s, (last,), True), rtol)
    large = k.greater(s, cutoff)
    s_inv = k.where(large, k.divide(1, k.where(large, s, 1)), 0)
    return k.matmul(k.transpose(vh, _swap_last(len(k.shape(vh)))),
                    k.multiply(k.expand_dims(s_inv, -1), k.transpose(u, _swap_last(len(k.shape(u))))))


def _swap_last(ndim):
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)


def _warn_if_rank_deficient(op, x, ans):
    """pinv is continuous only where the rank does not change: say so where it is short."""
    import numpy as np   # here only: the core imports no NumPy
    a, p = _as_numpy(x), _as_numpy(ans)
    rank = np.round(np.trace(p @ a, axis1=-2, axis2=-1)) if a.size else 0   # tr(A+ A) = rank
    if np.any(rank < min(a.shape[-2:])):
        warnings.warn(f"{op}: differentiating at a rank-deficient matrix (rank {np.min(rank):.0f} < "
                      f"{min(a.shape[-2:])}): pinv is not continuous there, and the derivative given "
                      "holds only for perturbations that keep the rank", LinAlgWarning, stacklevel=4)


def _pinv_vjp(ans, a, rtol):
    # dX = -X dA X + X X^T dA^T (I - A X) + (I - X A) dA^T X^T X   (Golub & Pereyra), X = A+
    _warn_if_rank_deficient("pinv", a, ans)

    def vjp(g):
        xt, gt = transpose(ans), transpose(g)
        first = -matmul(xt, matmul(g, xt))
        t = matmul(gt, matmul(ans, xt))
        s = matmul(matmul(xt, ans), gt)
        return first + (t - matmul(a, matmul(ans, t))) + (s - matmul(matmul(s, ans), a))
    return vjp


def _pinv_jvp(t, ans, a, rtol):
    _warn_if_rank_deficient("pinv", a, ans)
    a_dot_t, xt = transpose(t[0]), transpose(ans)
    first = -matmul(ans, matmul(t[0], ans))
    second = matmul(matmul(ans, xt), a_dot_t - matmul(matmul(a_dot_t, a), ans))
    w = matmul(a_dot_t, matmul(xt, ans))
    return first + second + (w - matmul(ans, matmul(a, w)))


_pinv = register("pinv", _pinv_forward, namespace="linalg", batch=B.each_leading("pinv"), vjp=_pinv_vjp,
                 jvp=_pinv_jvp)


@public(_pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=_DEFAULT):
    """The Moore-Penrose pseudo-inverse of matrices (..., m, n), through the SVD: singular
    values at most ``rcond`` (or ``rtol``) times the largest are dropped; defaults as NumPy's
    (rcond 1e-15; rtol=None: max(m, n) * eps).  ``hermitian`` is accepted and ignored.  The
    derivative holds where the rank is locally constant; at a rank-deficient matrix it
    warns (LinAlgWarning), as pinv jumps there under perturbations that raise the rank."""
    a = _matrices(a, "pinv")
    return _pinv(a, rtol=_cutoff("pinv", a, rcond, rtol, 1e-15))


def _cutoff(name, a, rcond, rtol, default):
    if rcond is not None and rtol is not _DEFAULT:
        raise ArgumentError(f"{name}: pass rcond or rtol, not both")
    value = rcond if rcond is not None else rtol
    if value is _DEFAULT:
        value = default
    if value is None:
        import numpy as np   # here only: machine epsilon of a dtype name
        value = max(shape_of(a)[-2:]) * float(np.finfo(dtype_of(a)).eps)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentError(f"{name}: rcond/rtol must be a number, got {value!r}")
    return float(value)


def _lstsq(a, b, rcond=None):
    """``(x, residuals, rank, s)`` as NumPy's lstsq: the least-squares (minimum-norm) solution
    x = pinv(a) b of a x = b for a (..., m, n) and b (m,) or (..., m, k), the squared
    residual norms (empty unless rank = n < m), the rank and a's singular values (rank:
    an int for one matrix).  Batched over leading axes (NumPy's takes one matrix).  rcond
    None: max(m, n) * eps.  Derivatives as pinv's (a warning at a rank-deficient a)."""
    import numpy as np   # here only: the host-side rank
    a = _matrices(a, "lstsq")
    m, n = shape_of(a)[-2:]
    b, b_shape, vector = _right_hand_side("lstsq", a, b, "m")
    cut = _cutoff("lstsq", a, rcond, _DEFAULT, None)
    bm = expand_dims(b, -1) if vector else b
    x = matmul(_pinv(a, rtol=cut), bm)
    s = _svdvals(a)
    s_np = _as_numpy(stop_gradient(s))
    rank_np = (s_np > cut * s_np.max(axis=-1, keepdims=True)).sum(axis=-1) if s_np.size else np.zeros(s_np.shape[:-1], int)
    full = bool(np.all(rank_np == n)) and m > n
    if full:
        residuals = _sum((bm - matmul(a, x)) ** 2, axis=-2)
    else:
        residuals = getitem(_sum(bm * 0, axis=-2), (Ellipsis, slice(0, 0)))   # empty, as NumPy's
    rank = int(rank_np) if np.ndim(rank_np) == 0 else asarray(rank_np.astype("int64"))
    return (getitem(x, (Ellipsis, 0)) if vector else x), residuals, rank, s


lstsq = register("lstsq", _lstsq, namespace="linalg")


# ------------------------------------------------------------------ matrix_power


def _matrix_power(a, n):
    """A^n for square matrices (..., k, k) and an integer n (negative: powers of A^-1; 0: the
    identity), by repeated squaring: at most 2 log2|n| matmuls."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ArgumentError(f"matrix_power: the exponent must be an integer, got {n!r}")
    n = int(n)
    a = _matrices(a, "matrix_power", square=True)
    if n == 0:
        eye = astype_op(_mask(a, "diagonal"), dtype=dtype_of(a))
        return broadcast_to(eye, shape=tuple(shape_of(a)))
    if n < 0:
        a, n = inv(a), -n
    out = None
    while n:
        if n & 1:
            out = a if out is None else matmul(out, a)
        n >>= 1
        if n:
            a = matmul(a, a)
    return out


matrix_power = register("matrix_power", _matrix_power, namespace="linalg")


# ------------------------------------------------------------------ norms

def _norm_slope(ans, x, ord, axis, keepdims):
    """d||x||_ord / dx, shaped like x: torch's choice at the kinks (0 where x = 0; split
    evenly between the ties of the inf-norms); None for ord 0 (piecewise constant)."""
    n = ans if keepdims else _reshape(ans, shape=kept_shape(tuple(shape_of(x)), axis))
    if ord == 0:
        return None
    if ord == 1:
        return _sign(x)
    if ord in (math.inf, -math.inf):
        mask = _equal(_abs(x), n)
        count = _sum(astype_op(mask, dtype=dtype_of(x)), axis=axis, keepdims=True)
        return where(mask, _sign(x) / count, 0)
    zero = _equal(n, 0)
    safe_n = where(zero, 1, n)
    if ord == 2:
        return where(zero, 0, x / safe_n)
    x_zero = _equal(x, 0)   # |x|^(p-1) with 0^(negative) and its derivative kept out
    scaled = where(x_zero, 0, _sign(x) * _power(where(x_zero, 1, _abs(x)), ord - 1))
    return where(zero, 0, scaled / _power(safe_n, ord - 1))


@on_kernels
@kernels_in_float32
def _vector_norm_forward(k, x, ord, axis, keepdims):
    a = k.abs(x)
    if ord == math.inf:
        return k.max(a, axis, keepdims)
    if ord == -math.inf:
        return k.min(a, axis, keepdims)
    if ord == 0:
        return k.sum(k.astype(k.not_equal(x, 0), k.dtype(x)), axis, keepdims)
    if ord == 1:
        return k.sum(a, axis, keepdims)
    if ord == 2:
        return k.sqrt(k.sum(k.multiply(a, a), axis, keepdims))
    return k.power(k.sum(k.power(a, ord), axis, keepdims), 1.0 / ord)


# float16/bfloat16: the slope is computed in float32 (|x|^(p-1) / ||x||^(p-1) overflows to
# inf / inf = nan, or underflows to 0, in float16 for ordinary values) and the cotangent or
# tangent is rounded once to x's dtype, as the forward accumulates in float32
def _vector_norm_vjp(ans, x, ord, axis, keepdims):
    def vjp(g):
        slope = _norm_slope(float32_if_low(ans), float32_if_low(x), ord, axis, keepdims)
        if slope is None:
            return None
        out = (g if keepdims else _reshape(g, shape=kept_shape(tuple(shape_of(x)), axis))) * slope
        return astype_op(out, dtype=dtype_of(x)) if dtype_of(x) in LOW_PRECISION else out
    return vjp


def _vector_norm_jvp(t, ans, x, ord, axis, keepdims):
    slope = _norm_slope(float32_if_low(ans), float32_if_low(x), ord, axis, keepdims)
    if slope is None:
        return ans * 0
    out = _sum(slope * t[0], axis=axis, keepdims=keepdims)
    return astype_op(out, dtype=dtype_of(ans)) if dtype_of(ans) in LOW_PRECISION else out


_vector_norm = register(
    "vector_norm", _vector_norm_forward, namespace="linalg", vjp=_vector_norm_vjp, jvp=_vector_norm_jvp,
    batch=lambda dims, x, ord, axis, keepdims: _vector_norm(x, ord=ord, axis=B.shifted(axis),
                                                            keepdims=keepdims))


def _check_ord(name, ord, allowed=None):
    if allowed is not None:
        if not any(ord == o and type(ord) is not bool for o in allowed) or isinstance(ord, bool):
            raise ArgumentError(f"{name}: ord must be one of {allowed}, got {ord!r}")
        return ord
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
        raise ArgumentError(f"{name}: ord must be a number (inf, -inf, 0, 1, 2, any p), got {ord!r}; "
                            "'fro' and 'nuc' are matrix norms (matrix_norm, or norm with a pair of axes)")
    return float(ord)


@public(_vector_norm)
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The vector ``ord``-norm over ``axis`` (None: all entries, as one vector; an int or a
    tuple of axes): inf (max |x|), -inf (min |x|), 0 (count of nonzeros), or sum(|x|^p)^(1/p)
    for any other p, as the Array API's.  float16/bfloat16 accumulate in float32.  At kinks
    the derivative is torch's: 0 at x = 0, split evenly between ties of the inf-norms."""
    x = _as_tensor(x, "vector_norm")
    if dtype_of(x) not in FLOATING:
        raise DTypeError(f"vector_norm: expected a floating tensor, got {dtype_of(x)}; cast with "
                         ".astype('float64')")
    ord = _check_ord("vector_norm", ord)
    shape = tuple(shape_of(x))
    if not shape:   # a scalar is a vector of one
        out = _vector_norm(_reshape(x, shape=(1,)), ord=ord, axis=(0,), keepdims=False)
        return _reshape(out, shape=())
    axis = tuple(range(len(shape))) if axis is None else normalize_axis(axis, len(shape))
    return _vector_norm(x, ord=ord, axis=axis, keepdims=bool(keepdims))


_MATRIX_ORDS = ("fro", "nuc", 1, -1, 2, -2, math.inf, -math.inf)


def _matrix_norm_over(x, ord, rows, cols, keepdims):
    """The matrix ``ord``-norm of x over axes (rows, cols) (non-negative, distinct)."""
    if ord == "fro":
        return vector_norm(x, axis=(rows, cols), keepdims=keepdims, ord=2)
    ndim = len(shape_of(x))
    if ord in ("nuc", 2, -2):
        rest = [i for i in range(ndim) if i not in (rows, cols)]
        s = svdvals(permute_dims(x, axes=tuple(rest) + (rows, cols)))
        out = _sum(s, axis=-1) if ord == "nuc" else (_max if ord == 2 else _min)(s, axis=-1)
    else:   # 1: the largest column sum of |x|; inf: the largest row sum
        summed, other = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = _sum(_abs(x), axis=summed)
        out = (_max if ord > 0 else _min)(sums, axis=other - (other > summed))
    if keepdims:
        out = _reshape(out, shape=kept_shape(tuple(shape_of(x)), (rows, cols)))
    return out


def _matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """The matrix ``ord``-norm over the last two axes, as the Array API's: 'fro', 'nuc' (sum
    of singular values), 2 / -2 (largest / smallest singular value), 1 / -1 (largest /
    smallest column sum of |x|), inf / -inf (row sums).  'nuc', 2 and -2 differentiate
    through the SVD (their second derivatives need distinct singular values)."""
    x = _matrices(x, "matrix_norm")
    ord = _check_ord("matrix_norm", ord, _MATRIX_ORDS)
    n = len(shape_of(x))
    return _matrix_norm_over(x, ord, n - 2, n - 1, bool(keepdims))


matrix_norm = register("matrix_norm", _matrix_norm, namespace="linalg")


def _norm(x, ord=None, axis=None, keepdims=False):
    """A vector or matrix norm, as NumPy's numpy.linalg.norm: ``axis`` None (x 1-d or 2-d, or
    any x with ord None: the 2-norm of all entries), an int (vector norms, any ord as
    vector_norm) or a pair of axes (matrix norms, ord as matrix_norm; None is 'fro').
    Also ``cr.norm``."""
    x = _as_tensor(x, "norm")
    if dtype_of(x) not in FLOATING:
        raise DTypeError(f"norm: expected a floating tensor, got {dtype_of(x)}; cast with .astype('float64')")
    ndim = len(shape_of(x))
    if axis is None:
        if ord is None:
            return vector_norm(x, keepdims=keepdims)
        if ndim not in (1, 2):
            raise ShapeError(f"norm: with ord={ord!r} and axis=None x must be 1-d or 2-d, got {ndim}-d; "
                             "pass axis (an int for vector norms, a pair for matrix norms)")
        axis = tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if len(axes) == 1:
        return vector_norm(x, axis=axes, keepdims=keepdims, ord=2 if ord is None else ord)
    if len(axes) != 2:
        raise ShapeError(f"norm: axis must be an int or a pair, got {axis!r}; use vector_norm for "
                         "norms over more axes")
    rows, cols = (a % max(ndim, 1) for a in axes)
    normalize_axis(axes, ndim)   # raises for axes out of range
    if rows == cols:
        raise ShapeError(f"norm: duplicate axes {axis!r}; pass two different axes")
    ord = _check_ord("norm", "fro" if ord is None else ord, _MATRIX_ORDS)
    return _matrix_norm_over(x, ord, rows, cols, bool(keepdims))


norm = register("norm", _norm)

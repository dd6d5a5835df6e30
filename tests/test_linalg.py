"""cr.linalg against torch.linalg (values, VJPs by torch.autograd, JVPs by torch.func.jvp), by
cr.gradcheck in both modes to order 2, under cr.vmap (against a loop), float32 and float64, on
every backend; and the documented errors and warnings where a derivative does not exist.

Inputs are kept where the functions are smooth and well conditioned: SPD matrices for
cholesky, well-separated eigenvalues for eigh/eig and singular values for svd.  Outputs
that are unique only up to signs (eigenvectors, singular vectors) are compared after the
same sign normalization on both sides."""
import math
import warnings
from typing import Callable, NamedTuple

import numpy as np
import pytest

import chainrule as cr
from backend_fixtures import backend  # noqa: F401  (a pytest fixture)
from conftest import F64

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests")
L = cr.linalg


# ------------------------------------------------------------------ inputs

def _rng(seed):
    return np.random.default_rng(4000 + seed)


def general(shape, seed=0):
    return _rng(seed).standard_normal(shape)


def well_conditioned(shape, seed=0):
    """Square, with the identity's weight keeping it away from singular."""
    return general(shape, seed) + 3 * np.eye(shape[-1])


def real_spectrum(shape, seed=0):
    """V diag(w) V^-1 with eigenvalues 1, 2, ... (+ small noise): real, well separated."""
    rng = _rng(seed)
    n = shape[-1]
    v = rng.standard_normal(shape) + 2 * np.eye(n)
    w = np.arange(1.0, n + 1) + 0.1 * rng.standard_normal(shape[:-1])
    return v @ (w[..., :, None] * np.linalg.inv(v))


def spd_of(a, lib):
    """a a^T + n I: symmetric positive definite, and symmetric perturbations of a's."""
    n = a.shape[-1]
    eye = cr.eye(n, dtype=a.dtype) if lib is cr else torch.eye(n, dtype=a.dtype)
    return a @ a.mT + n * eye


def flat(parts, lib):
    """Several outputs as one vector (each flattened), so one cotangent covers them all."""
    cat = cr.concat if lib is cr else torch.cat
    return cat([p.reshape(-1) for p in parts])


def signs_fixed(u, lib):
    """u with each column's sign chosen so that its largest-magnitude entry is positive:
    the same choice on both sides (eigen/singular vectors are unique up to sign)."""
    idx = (cr.argmax(cr.abs(u), axis=-2, keepdims=True) if lib is cr
           else torch.argmax(torch.abs(u), dim=-2, keepdim=True))
    pick = (cr.take_along_axis(u, idx, axis=-2) if lib is cr else torch.take_along_dim(u, idx, -2))
    return u * (cr.sign(pick) if lib is cr else torch.sign(pick))


class Case(NamedTuple):
    name: str
    fn: Callable          # fn(lib, *args) with lib cr or torch
    args: tuple           # NumPy arrays (float64)
    vmap: bool = True     # cr.vmap over a stack of two examples


def _svd_parts(a, lib, full=False):
    if lib is cr:
        u, s, vh = L.svd(a, full_matrices=full)
    else:
        u, s, vh = torch.linalg.svd(a, full_matrices=full)
    k = s.shape[-1]
    u_k = u[..., :, :k]
    flip = signs_fixed(u_k, lib) / u_k   # ±1 per column
    return u_k * flip, s, vh[..., :k, :] * flip.mT[..., :, :1] if False else vh[..., :k, :] * (
        flip[..., :1, :].mT)


def _eig_parts(a, lib):
    w, v = L.eig(a) if lib is cr else (t.real for t in torch.linalg.eig(a))
    # order- and sign-free: the spectrum's symmetric functions and V diag(w^2) V^T (V not orthogonal)
    f = v @ ((w * w)[..., :, None] * v.mT)
    return flat([(w ** 2).sum(-1), (w ** 3).sum(-1), f], lib)


def _norm(lib, x, ord=None, axis=None, keepdims=False):
    if lib is cr:
        return cr.norm(x, ord, axis, keepdims)
    return torch.linalg.norm(x, ord, axis, keepdims)


CASES = [
    Case("inv", lambda lib, a: (L.inv if lib is cr else torch.linalg.inv)(a), (well_conditioned((3, 3)),)),
    Case("inv batched", lambda lib, a: (L.inv if lib is cr else torch.linalg.inv)(a),
         (well_conditioned((2, 4, 4), 1),)),
    Case("det", lambda lib, a: (L.det if lib is cr else torch.linalg.det)(a), (well_conditioned((2, 3, 3), 2),)),
    Case("slogdet", lambda lib, a: flat((L.slogdet if lib is cr else torch.linalg.slogdet)(-a), lib),
         (well_conditioned((2, 3, 3), 3),)),
    Case("solve matrix", lambda lib, a, b: (L.solve if lib is cr else torch.linalg.solve)(a, b),
         (well_conditioned((3, 3), 4), general((3, 2), 5))),
    Case("solve vector", lambda lib, a, b: (L.solve if lib is cr else torch.linalg.solve)(a, b),
         (well_conditioned((3, 3), 6), general((3,), 7))),
    Case("solve broadcast", lambda lib, a, b: (L.solve if lib is cr else torch.linalg.solve)(a, b),
         (well_conditioned((2, 1, 3, 3), 8), general((2, 3, 1), 9)), vmap=False),
    Case("cholesky", lambda lib, a: (L.cholesky if lib is cr else torch.linalg.cholesky)(spd_of(a, lib)),
         (general((2, 3, 3), 10),)),
    Case("cholesky upper", lambda lib, a: (lambda m: L.cholesky(m, upper=True) if lib is cr else
                                            torch.linalg.cholesky(m, upper=True))(spd_of(a, lib)),
         (general((3, 3), 11),)),
    Case("qr", lambda lib, a: flat((L.qr if lib is cr else torch.linalg.qr)(a), lib), (general((2, 4, 3), 12),)),
    Case("qr wide", lambda lib, a: flat((L.qr if lib is cr else torch.linalg.qr)(a), lib), (general((2, 4), 13),)),
    Case("eigh", lambda lib, a: (lambda wv: flat([wv[0], signs_fixed(wv[1], lib)], lib))(
        (L.eigh if lib is cr else torch.linalg.eigh)(a + a.mT)), (general((2, 3, 3), 14),)),
    Case("eig", lambda lib, a: _eig_parts(a, lib), (real_spectrum((3, 3), 15),)),
    Case("eig batched", lambda lib, a: _eig_parts(a, lib), (real_spectrum((2, 3, 3), 16),)),
    Case("svd square", lambda lib, a: flat(_svd_parts(a, lib), lib), (general((3, 3), 17),)),
    Case("svd tall", lambda lib, a: flat(_svd_parts(a, lib), lib), (general((2, 4, 3), 18),)),
    Case("svd wide", lambda lib, a: flat(_svd_parts(a, lib), lib), (general((2, 4), 19),)),
    Case("svdvals", lambda lib, a: (L.svdvals if lib is cr else torch.linalg.svdvals)(a), (general((2, 3, 4), 20),)),
    Case("pinv tall", lambda lib, a: (L.pinv if lib is cr else torch.linalg.pinv)(a), (general((4, 3), 21),)),
    Case("pinv wide", lambda lib, a: (L.pinv if lib is cr else torch.linalg.pinv)(a), (general((2, 2, 4), 22),)),
    Case("lstsq", lambda lib, a, b: L.lstsq(a, b)[0] if lib is cr else torch.linalg.pinv(a) @ b,
         (general((5, 3), 23), general((5, 2), 24))),
    Case("matrix_power 3", lambda lib, a: (L.matrix_power if lib is cr else torch.linalg.matrix_power)(a, 3),
         (general((2, 3, 3), 25),)),
    Case("matrix_power -2", lambda lib, a: (L.matrix_power if lib is cr else torch.linalg.matrix_power)(a, -2),
         (well_conditioned((3, 3), 26),)),
    Case("vector_norm 2", lambda lib, x: (L.vector_norm(x) if lib is cr else torch.linalg.vector_norm(x)),
         (general((3, 4), 27),)),
    Case("vector_norm 3 axis", lambda lib, x: (L.vector_norm(x, ord=3, axis=(0, 2), keepdims=True) if lib is cr
                                               else torch.linalg.vector_norm(x, 3, (0, 2), True)),
         (general((2, 3, 4), 28),)),
    Case("vector_norm 0.5", lambda lib, x: (L.vector_norm(x, ord=0.5, axis=-1) if lib is cr
                                            else torch.linalg.vector_norm(x, 0.5, -1)), (general((3, 4), 29),)),
    Case("vector_norm -1.5", lambda lib, x: (L.vector_norm(x, ord=-1.5, axis=0) if lib is cr
                                             else torch.linalg.vector_norm(x, -1.5, 0)), (general((3, 4), 30),)),
    Case("matrix_norm nuc", lambda lib, x: (L.matrix_norm(x, ord="nuc") if lib is cr
                                            else torch.linalg.matrix_norm(x, "nuc")), (general((2, 3, 4), 31),)),
    Case("matrix_norm -2", lambda lib, x: (L.matrix_norm(x, ord=-2, keepdims=True) if lib is cr
                                           else torch.linalg.matrix_norm(x, -2, keepdim=True)), (general((2, 3, 4), 32),)),
    Case("norm fro", lambda lib, x: _norm(lib, x), (general((3, 4), 33),)),
    Case("norm inf rows", lambda lib, x: _norm(lib, x, math.inf, (1, 0)), (general((3, 4), 34),)),
    Case("norm 1 over (0, 2)", lambda lib, x: _norm(lib, x, 1, (0, 2), True), (general((3, 2, 4), 35),)),
    Case("norm 2 over (-1, 0)", lambda lib, x: _norm(lib, x, 2, (-1, 0)), (general((3, 2, 4), 36),)),
    Case("norm -inf axis 1", lambda lib, x: _norm(lib, x, -math.inf, 1), (general((3, 4), 37),)),
]
IDS = [c.name for c in CASES]


def _ours(case):
    return lambda *xs: case.fn(cr, *xs)


def _theirs(case):
    return lambda *xs: case.fn(torch, *xs)


def _close(ours, theirs, rtol=1e-8, atol=1e-10):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.numpy() if isinstance(ours, cr.Tensor) else np.asarray(ours)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ against torch

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_vjp_and_jvp_match_torch(backend, case):
    xs = [cr.tensor(a, dtype=F64) for a in case.args]
    ts = [torch.tensor(a, requires_grad=True) for a in case.args]
    out, pullback = cr.vjp(_ours(case), *xs)
    ref = _theirs(case)(*ts)
    _close(out, ref)
    rng = _rng(99)
    u = rng.standard_normal(tuple(ref.shape))
    cts = pullback(cr.tensor(u, dtype=F64))
    ref_cts = torch.autograd.grad(ref, ts, torch.tensor(u))
    for c, r in zip(cts, ref_cts):
        _close(c, r, rtol=1e-7, atol=1e-9)
    tangents = [rng.standard_normal(a.shape) for a in case.args]
    _, t_out = cr.jvp(_ours(case), xs, [cr.tensor(t, dtype=F64) for t in tangents])
    _, ref_t = torch.func.jvp(_theirs(case), tuple(torch.tensor(a) for a in case.args),
                              tuple(torch.tensor(t) for t in tangents))
    _close(t_out, ref_t, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_float32_values_and_gradient_dtypes(backend, case):
    xs = [cr.tensor(a, dtype="float32", requires_grad=True) for a in case.args]
    out = _ours(case)(*xs)
    ref = _theirs(case)(*[torch.tensor(a, dtype=torch.float32) for a in case.args])
    assert out.dtype == cr.float32
    _close(out, ref, rtol=2e-4, atol=2e-4)
    cr.sum(out * out).backward()
    for x in xs:
        assert (x.grad.dtype, x.grad.shape) == (cr.float32, x.shape)
    _, t_out = cr.jvp(_ours(case), [x.detach() for x in xs], [cr.ones(x.shape, dtype="float32") for x in xs])
    assert (t_out.dtype, t_out.shape) == (cr.float32, out.shape)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck_both_modes_to_order_2(backend, case):
    xs = [cr.tensor(a, dtype=F64) for a in case.args]
    assert cr.gradcheck(_ours(case), xs, modes=("fwd", "rev"), order=2) is True


@pytest.mark.parametrize("case", [c for c in CASES if c.vmap], ids=[c.name for c in CASES if c.vmap])
def test_vmap_matches_a_loop(case):
    """Two examples (the second a perturbed first: still well conditioned), batched by cr.vmap,
    and per-example gradients through vmap(grad)."""
    stacked = [np.stack([a, a + 0.05 * general(a.shape, 50 + i)]) for i, a in enumerate(case.args)]
    xs = [cr.tensor(s, dtype=F64) for s in stacked]
    out = cr.vmap(_ours(case))(*xs)
    loop = np.stack([_ours(case)(*[x[i] for x in xs]).numpy() for i in range(2)])
    _close(out, loop, rtol=1e-9, atol=1e-11)

    def loss(*args):
        return cr.sum(_ours(case)(*args) ** 2)
    grads = cr.vmap(cr.grad(loss, argnums=tuple(range(len(xs)))))(*xs)
    for j in range(2):
        ref = cr.grad(loss, argnums=tuple(range(len(xs))))(*[x[j] for x in xs])
        for g, r in zip(grads, ref):
            _close(g[j], r, rtol=1e-8, atol=1e-10)


def test_solve_under_vmap_with_an_unbatched_matrix_and_a_hessian_through_it():
    a = cr.tensor(well_conditioned((3, 3), 60), dtype=F64)
    bs = cr.tensor(general((4, 3), 61), dtype=F64)
    out = cr.vmap(lambda b: L.solve(a, b))(bs)
    _close(out, np.linalg.solve(a.numpy(), bs.numpy().T).T)
    # a Hessian through solve (forward-over-reverse), against torch's
    f = lambda lib, m: ((L.solve if lib is cr else torch.linalg.solve)(m, torch.ones(3, dtype=m.dtype)
                                                                        if lib is torch else cr.ones(3, dtype=m.dtype)) ** 3).sum()
    ours = cr.hessian(lambda m: f(cr, m))(a)
    theirs = torch.autograd.functional.hessian(lambda m: f(torch, m), torch.tensor(a.numpy()))
    _close(ours, theirs, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------ NumPy's API

def test_norm_follows_numpy_for_every_ord_axis_and_keepdims():
    x3 = general((3, 4, 2), 70)
    x3[0, 1, 1] = 0.0   # ord 0 counts nonzeros; negative ords see a zero
    for ord in [None, math.inf, -math.inf, 0, 1, -1, 2, -2, 3, 0.5, -1.5]:
        for axis in [0, -1, (1,)]:
            for keepdims in (False, True):
                _close(cr.norm(x3, ord, axis, keepdims), np.linalg.norm(x3, ord, axis, keepdims))
                _close(L.vector_norm(x3, ord=ord or 2, axis=axis, keepdims=keepdims),
                       np.linalg.vector_norm(x3, ord=ord or 2, axis=axis, keepdims=keepdims))
    for ord in [None, "fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2]:
        for axis in [(0, 1), (2, 0), (-1, -2)]:
            for keepdims in (False, True):
                _close(cr.norm(x3, ord, axis, keepdims), np.linalg.norm(x3, ord, axis, keepdims))
        _close(cr.norm(x3[0], ord), np.linalg.norm(x3[0], ord))
        _close(L.matrix_norm(x3, ord=ord or "fro", keepdims=True),
               np.linalg.matrix_norm(x3, ord=ord or "fro", keepdims=True))
    _close(cr.norm(x3), np.linalg.norm(x3))
    _close(cr.norm(x3, keepdims=True), np.linalg.norm(x3, keepdims=True))
    _close(L.vector_norm(x3, axis=(0, 2)), np.linalg.vector_norm(x3, axis=(0, 2)))
    assert cr.norm is L.norm


def test_norm_gradients_at_kinks_are_torchs_and_never_nan():
    """0 at x = 0 (torch's subgradient), ties of the inf-norm share the gradient."""
    x = np.array([[0.0, 3.0, -3.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    for ord in [2, 1, math.inf, -math.inf, 3, 0.5, 0]:
        g = cr.grad(lambda v: cr.sum(L.vector_norm(v, ord=ord, axis=-1)))(cr.tensor(x, dtype=F64))
        assert not np.isnan(g.numpy()).any(), ord
        if ord == 0:   # a count: piecewise constant (torch's graph has no gradient for it)
            _close(g, np.zeros_like(x))
            continue
        t = torch.tensor(x, requires_grad=True)
        (ref,) = torch.autograd.grad(torch.linalg.vector_norm(t, ord, -1).sum(), t)
        _close(g, ref)


def test_results_are_numpys_named_pairs():
    a = well_conditioned((2, 3, 3), 80)
    sign, logabsdet = L.slogdet(a)
    ref = np.linalg.slogdet(a)
    _close(sign, ref.sign)
    _close(L.slogdet(a).logabsdet, ref.logabsdet)
    _close(L.det(a), np.linalg.det(a))
    u, s, vh = L.svd(general((4, 3), 81))   # full_matrices=True by default, as NumPy
    assert (u.shape, s.shape, vh.shape) == ((4, 4), (3,), (3, 3))
    _close(L.svd(general((4, 3), 81), compute_uv=False), np.linalg.svd(general((4, 3), 81), compute_uv=False))
    assert L.svd(general((4, 3), 81)).S.shape == (3,)
    assert L.eigh(a + np.swapaxes(a, -1, -2)).eigenvalues.shape == (2, 3)
    assert L.qr(general((4, 3), 82)).R.shape == (3, 3)
    assert L.eig(real_spectrum((3, 3), 83)).eigenvectors.shape == (3, 3)
    _close(L.cholesky(spd_of(cr.tensor(a), cr), upper=True),
           np.linalg.cholesky(spd_of(cr.tensor(a), cr).numpy(), upper=True))


def test_lstsq_pinv_and_matrix_power_follow_numpy():
    a, b = general((6, 3), 90), general((6, 2), 91)
    for ours, ref in zip(L.lstsq(a, b), np.linalg.lstsq(a, b)):
        _close(ours, ref)
    x, res, rank, s = L.lstsq(a, b[:, 0])
    ref = np.linalg.lstsq(a, b[:, 0])
    _close(x, ref[0]), _close(res, ref[1])
    assert rank == ref[2] == 3 and isinstance(rank, int)
    deficient = np.outer(general((4,), 92), general((3,), 93))
    ours, ref = L.lstsq(deficient, b[:4]), np.linalg.lstsq(deficient, b[:4])
    _close(ours[0], ref[0]), _close(ours[1], ref[1])
    assert ours[2] == ref[2] == 1
    for rcond, rtol in [(None, None), (1e-3, None)]:
        _close(L.pinv(deficient, rcond), np.linalg.pinv(deficient, rcond))
    _close(L.pinv(deficient, rtol=None), np.linalg.pinv(deficient, rtol=None))
    m = general((2, 3, 3), 94)
    for n in [0, 1, 2, 5, -1, -3]:
        _close(L.matrix_power(m, n), np.linalg.matrix_power(m, n), rtol=1e-8, atol=1e-8)


# ------------------------------------------------------------------ where derivatives fail

def test_singular_matrices_raise_linalg_errors_that_name_the_fix():
    singular = cr.tensor([[1.0, 2.0], [2.0, 4.0]], dtype=F64)
    for f in (L.inv, lambda a: L.solve(a, cr.ones(2, dtype=F64))):
        with pytest.raises(L.LinAlgError, match="singular.*(pinv|lstsq)"):
            f(singular)
    assert float(L.det(singular)) == 0.0
    with pytest.raises(L.LinAlgError, match="det: the derivative needs the inverse of a singular matrix"):
        cr.grad(L.det)(singular)
    with pytest.raises(L.LinAlgError, match="positive definite"):
        L.cholesky(-cr.eye(3, dtype=F64))
    assert issubclass(L.LinAlgError, ValueError) and issubclass(L.LinAlgError, cr.ChainruleError)


def test_eig_of_a_complex_spectrum_points_to_eigh():
    rotation = cr.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=F64)
    with pytest.raises(L.LinAlgError, match="complex eigenvalues.*eigh"):
        L.eig(rotation)


def test_repeated_eigen_and_singular_values_raise_through_the_vectors_only():
    eye = cr.tensor(np.diag([2.0, 2.0, 1.0]), dtype=F64)
    with pytest.raises(L.LinAlgError, match="eigh: .* equal"):
        cr.grad(lambda a: cr.sum(L.eigh(a).eigenvectors[:, 2] * cr.arange(1.0, 4.0, dtype=F64)))(eye)
    with pytest.raises(L.LinAlgError, match="svd: .* equal"):
        cr.grad(lambda a: cr.sum(L.svd(a).U[:, 0] * cr.arange(1.0, 4.0, dtype=F64)))(eye)
    with pytest.raises(L.LinAlgError, match="eig: .* equal"):
        cr.grad(lambda a: cr.sum(L.eig(a).eigenvectors[:, 0] * cr.arange(1.0, 4.0, dtype=F64)))(eye)
    # the values alone are differentiable there: U diag(g) V^T, as torch's
    g = cr.grad(lambda a: cr.sum(L.svdvals(a)))(eye)
    _close(g, np.eye(3))
    with pytest.raises(L.LinAlgError, match="svd: the gradient through U is undefined: the matrix is rank deficient"):
        rank1 = cr.tensor(np.outer([1.0, 2.0, 3.0], [1.0, 1.0]), dtype=F64)
        cr.grad(lambda a: cr.sum(L.svd(a, full_matrices=False).U * cr.arange(2.0, dtype=F64)))(rank1)


def test_pinv_warns_at_a_rank_deficient_matrix_and_differentiates_along_its_rank():
    a = cr.tensor(np.outer(general((4,), 100), general((3,), 101)), dtype=F64)
    with pytest.warns(L.LinAlgWarning, match="rank 1 < 3"):
        g = cr.grad(lambda m: cr.sum(L.pinv(m) ** 2))(a)
    assert np.isfinite(g.numpy()).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # full rank: no warning
        cr.grad(lambda m: cr.sum(L.pinv(m)))(cr.tensor(general((4, 3), 102), dtype=F64))


@pytest.mark.parametrize("call, error, words", [
    (lambda: L.inv(cr.ones((2, 3))), cr.ShapeError, "square"),
    (lambda: L.det(cr.ones(3)), cr.ShapeError, "matrices"),
    (lambda: L.inv(cr.tensor([[1, 2], [3, 4]])), cr.DTypeError, "astype"),
    (lambda: L.solve(cr.eye(3), cr.ones(4)), cr.ShapeError, "n = 3"),
    (lambda: L.solve(cr.eye(3)[None].broadcast_to((2, 3, 3)) if hasattr(cr.Tensor, "broadcast_to")
                     else cr.broadcast_to(cr.eye(3), (2, 3, 3)), cr.ones((4, 3, 1))), cr.ShapeError, "broadcast"),
    (lambda: L.matrix_power(cr.eye(2), 1.5), cr.ArgumentError, "integer"),
    (lambda: cr.norm(cr.ones((2, 2)), "fro", axis=0), cr.ArgumentError, "matrix norms"),
    (lambda: cr.norm(cr.ones((2, 2)), 3, axis=(0, 1)), cr.ArgumentError, "ord must be one of"),
    (lambda: cr.norm(cr.ones((2, 2)), axis=(0, 0)), cr.ShapeError, "duplicate"),
    (lambda: cr.norm(cr.ones((2, 2, 2)), 1), cr.ShapeError, "1-d or 2-d"),
    (lambda: cr.norm(cr.ones((2, 2)), axis=(0, 5)), cr.ShapeError, "out of range"),
    (lambda: L.pinv(cr.ones((2, 2)), 1e-3, rtol=1e-3), cr.ArgumentError, "not both"),
    (lambda: cr.jvp(lambda a: L.svd(a).U, (cr.ones((3, 2)),), (cr.ones((3, 2)),)), L.LinAlgError,
     "full_matrices=False"),
])
def test_bad_inputs_raise_chainrule_errors_naming_the_fix(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_svd_full_matrices_gradient_ignores_the_completing_columns_as_torch():
    a = general((4, 2), 110)
    w = general((4, 4), 111)

    def loss(lib, m):   # sign-free, and it reads the completing columns of U too
        u, s, vh = L.svd(m) if lib is cr else torch.linalg.svd(m, full_matrices=True)
        return ((u[..., :, :2] * s) @ vh).sum() + (u * u * w_of(lib)).sum()

    w_of = lambda lib: cr.tensor(w, dtype=F64) if lib is cr else torch.tensor(w)
    g = cr.grad(lambda m: loss(cr, m))(cr.tensor(a, dtype=F64))
    t = torch.tensor(a, requires_grad=True)
    (ref,) = torch.autograd.grad(loss(torch, t), t)
    _close(g, ref)


def test_numpy_scalars_and_batched_lstsq_ranks():
    m = general((3, 3), 120)
    _close(L.matrix_power(m, np.int64(2)), m @ m)
    _close(L.vector_norm(m, ord=np.float64(3.0)), np.linalg.vector_norm(m, ord=3))
    a = np.stack([general((4, 2), 121), np.outer(general((4,), 122), general((2,), 123))])
    x, res, rank, s = L.lstsq(a, general((2, 4, 1), 124))
    assert rank.tolist() == [2, 1] and x.shape == (2, 2, 1) and res.shape == (2, 0)


def test_half_precision_is_computed_in_float32_and_rounded_back():
    x = cr.ones((3, 3), dtype="float16") + cr.eye(3, dtype="float16")
    for f in (L.inv, L.det, L.pinv, L.svdvals, L.cholesky, lambda m: L.eig(m)[0], lambda m: L.solve(m, m)):
        out = f(x)
        assert out.dtype == cr.float16
        _close(out, f(x.astype("float32")).numpy().astype(np.float16), rtol=1e-3, atol=1e-3)
    g = cr.grad(lambda m: cr.sum(L.inv(m)))(x)
    assert g.dtype == cr.float16
    assert L.matrix_norm(x).dtype == cr.float16 and cr.norm(x, 1).dtype == cr.float16
    _close(L.vector_norm(x), np.linalg.norm(x.numpy().astype(np.float32)), rtol=1e-3)

"""Products (einsum dot inner outer tensordot kron cross), scans (cumsum cumprod diff gradient)
and the NaN-skipping and log-sum-exp reductions, against torch 2.13 as the oracle.

Each case is checked four ways: values (float64 and float32) and a VJP and a JVP against
torch.func on the numpy and torch backends; cr.gradcheck in both modes to order 2; and cr.vmap
against torch.func.vmap.  Then the edges a sweep does not reach: cumprod's zeros (first and
second derivatives), NaNs in nansum/nanmean, einsum's spellings and its outputs being fresh
arrays, and bad inputs, each a chainrule error naming the fix.
"""
import warnings
from typing import Callable, NamedTuple

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, ShapeError
from conftest import data, assert_close, F64
from backend_fixtures import backend  # noqa: F401  (a pytest fixture)

torch = pytest.importorskip("torch", reason="torch 2.13 is the oracle (pip install -e '.[test]')")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


class Case(NamedTuple):
    label: str
    ours: Callable
    theirs: Callable
    shapes: tuple
    domain: str = "any"


# ------------------------------------------------------------ torch's spellings of NumPy's ops

def t_dot(a, b):
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return torch.tensordot(a, b, dims=([a.ndim - 1], [max(b.ndim - 2, 0)]))


def t_cross(a, b, axisa=-1, axisb=-1, axisc=-1):
    c = torch.linalg.cross(*torch.broadcast_tensors(a.movedim(axisa, -1), b.movedim(axisb, -1)), dim=-1)
    return c.movedim(-1, axisc)


def t_flat(fn):
    return lambda x: fn(x.reshape(-1), 0)


def t_diff(n=1, axis=-1, prepend=None, append=None):
    def run(x):
        def edge(v):
            if v is None:
                return None
            shape = list(x.shape)
            shape[axis] = 1
            return torch.full(shape, v, dtype=x.dtype)
        return torch.diff(x, n=n, dim=axis, prepend=edge(prepend), append=edge(append))
    return run


def t_axes(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


CASES = [
    # einsum: matrix product, traces and diagonals, implicit output, ellipsis, several operands
    Case("einsum ij,jk->ik", lambda a, b: cr.einsum("ij,jk->ik", a, b),
         lambda a, b: torch.einsum("ij,jk->ik", a, b), ((2, 3), (3, 4))),
    Case("einsum implicit ij,jk", lambda a, b: cr.einsum("ij,jk", a, b),
         lambda a, b: torch.einsum("ij,jk->ik", a, b), ((2, 3), (3, 2))),
    Case("einsum trace ii", lambda a: cr.einsum("ii", a), lambda a: torch.einsum("ii", a), ((3, 3),)),
    Case("einsum diagonal ii->i", lambda a: cr.einsum("ii->i", a), lambda a: torch.einsum("ii->i", a), ((3, 3),)),
    Case("einsum iij->ji", lambda a: cr.einsum("iij->ji", a), lambda a: torch.einsum("iij->ji", a), ((2, 2, 3),)),
    Case("einsum iii->i", lambda a: cr.einsum("iii->i", a), lambda a: torch.einsum("iii->i", a), ((2, 2, 2),)),
    Case("einsum ii,i->i", lambda a, b: cr.einsum("ii,i->i", a, b),
         lambda a, b: torch.einsum("ii,i->i", a, b), ((3, 3), (3,))),
    Case("einsum ij->j (sum)", lambda a: cr.einsum("ij->j", a), lambda a: torch.einsum("ij->j", a), ((3, 4),)),
    Case("einsum outer i,j->ij", lambda a, b: cr.einsum("i,j->ij", a, b),
         lambda a, b: torch.einsum("i,j->ij", a, b), ((2,), (3,))),
    Case("einsum batched bij,bjk->bik", lambda a, b: cr.einsum("bij,bjk->bik", a, b),
         lambda a, b: torch.einsum("bij,bjk->bik", a, b), ((2, 2, 3), (2, 3, 2))),
    Case("einsum ellipsis ...ij,jk->...ik", lambda a, b: cr.einsum("...ij,jk->...ik", a, b),
         lambda a, b: torch.einsum("...ij,jk->...ik", a, b), ((2, 2, 3), (3, 4))),
    Case("einsum ellipsis broadcast", lambda a, b: cr.einsum("...i,...i->...", a, b),
         lambda a, b: torch.einsum("...i,...i->...", a, b), ((2, 1, 3), (4, 3))),
    Case("einsum three operands", lambda a, b, c: cr.einsum("ab,bc,cd->ad", a, b, c),
         lambda a, b, c: torch.einsum("ab,bc,cd->ad", a, b, c), ((2, 3), (3, 4), (4, 2))),
    Case("einsum scalar operand", lambda a, b: cr.einsum(",ij->ji", a, b),
         lambda a, b: torch.einsum(",ij->ji", a, b), ((), (2, 3))),
    # products
    Case("dot vectors", cr.dot, t_dot, ((4,), (4,))),
    Case("dot matrices", cr.dot, t_dot, ((2, 3), (3, 4))),
    Case("dot 3-d with vector", cr.dot, t_dot, ((2, 3, 4), (4,))),
    Case("dot 3-d with 3-d", cr.dot, t_dot, ((2, 2, 3), (2, 3, 2))),
    Case("dot vector with 3-d", cr.dot, t_dot, ((3,), (2, 3, 2))),
    Case("dot scalar", cr.dot, t_dot, ((), (2, 3))),
    Case("inner", cr.inner, torch.inner, ((2, 3), (4, 3))),
    Case("inner vectors", cr.inner, torch.inner, ((3,), (3,))),
    Case("outer (flattens)", cr.outer, lambda a, b: torch.outer(a.reshape(-1), b.reshape(-1)), ((2, 2), (3,))),
    Case("tensordot 2", cr.tensordot, lambda a, b: torch.tensordot(a, b, 2), ((2, 3, 4), (3, 4, 2))),
    Case("tensordot 0", lambda a, b: cr.tensordot(a, b, 0), lambda a, b: torch.tensordot(a, b, 0), ((2,), (3,))),
    Case("tensordot pairs", lambda a, b: cr.tensordot(a, b, axes=([0, 2], [2, 0])),
         lambda a, b: torch.tensordot(a, b, dims=([0, 2], [2, 0])), ((2, 3, 4), (4, 3, 2))),
    Case("kron 2-d", cr.kron, torch.kron, ((2, 3), (2, 2))),
    Case("kron 1-d with 2-d", cr.kron, torch.kron, ((3,), (2, 2))),
    Case("cross", cr.cross, t_cross, ((4, 3), (4, 3))),
    Case("cross broadcast", cr.cross, t_cross, ((2, 1, 3), (4, 3))),
    Case("cross axisa axisb axisc", lambda a, b: cr.cross(a, b, axisa=0, axisb=1, axisc=0),
         lambda a, b: t_cross(a, b, 0, 1, 0), ((3, 2), (2, 3))),
    # scans
    Case("cumsum flat", cr.cumsum, t_flat(torch.cumsum), ((3, 4),)),
    Case("cumsum axis 0", lambda x: cr.cumsum(x, axis=0), lambda x: torch.cumsum(x, 0), ((3, 4),)),
    Case("cumsum method axis -1", lambda x: x.cumsum(axis=-1), lambda x: torch.cumsum(x, -1), ((2, 3, 4),)),
    Case("cumprod flat", cr.cumprod, t_flat(torch.cumprod), ((2, 3),)),
    Case("cumprod axis 1", lambda x: cr.cumprod(x, axis=1), lambda x: torch.cumprod(x, 1), ((3, 4),)),
    Case("diff", cr.diff, torch.diff, ((3, 5),)),
    Case("diff n=2 axis 0", lambda x: cr.diff(x, n=2, axis=0), t_diff(2, 0), ((4, 3),)),
    Case("diff prepend append", lambda x: cr.diff(x, prepend=0.5, append=-1.0),
         t_diff(prepend=0.5, append=-1.0), ((2, 4),)),
    Case("gradient 1-d", cr.gradient, lambda f: torch.gradient(f)[0], ((5,),)),
    Case("gradient 2-d both axes", lambda f: cr.stack(cr.gradient(f, 0.5)),
         lambda f: torch.stack(torch.gradient(f, spacing=0.5)), ((3, 4),)),
    Case("gradient edge_order 2 axis 1", lambda f: cr.gradient(f, 2.0, axis=1, edge_order=2),
         lambda f: torch.gradient(f, spacing=2.0, dim=1, edge_order=2)[0], ((3, 4),)),
    # reductions
    Case("logsumexp axes (0, 2) keepdims", lambda x: cr.logsumexp(x, axis=(0, 2), keepdims=True),
         lambda x: torch.logsumexp(x, (0, 2), keepdim=True), ((2, 3, 4),)),
    Case("logsumexp all", cr.logsumexp, lambda x: torch.logsumexp(x, (0, 1)), ((3, 4),)),
    Case("logsumexp axis -1", lambda x: cr.logsumexp(x, axis=-1), lambda x: torch.logsumexp(x, -1), ((3, 4),)),
    Case("nansum axis 0", lambda x: cr.nansum(x, axis=0), lambda x: torch.nansum(x, 0), ((3, 4),)),
    Case("nanmean keepdims", lambda x: cr.nanmean(x, axis=(0, 1), keepdims=True),
         lambda x: torch.nanmean(x, (0, 1), keepdim=True), ((2, 3, 2),)),
]
IDS = [c.label for c in CASES]


def arrays(case, seed=0):
    return [data(s, case.domain, seed + i) for i, s in enumerate(case.shapes)]


# ---------------------------------------------------------------- the sweep

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_values_vjp_and_jvp_match_torch(case, backend):
    xs = arrays(case)
    ts = [cr.tensor(x, dtype=F64) for x in xs]
    txs = [torch.tensor(x) for x in xs]
    out, pullback = cr.vjp(case.ours, *ts)
    tout, tpullback = torch.func.vjp(case.theirs, *txs)
    assert out.shape == tuple(tout.shape) and out.dtype == cr.float64
    assert_close(out, tout, 1e-10, 1e-12)
    rng = np.random.default_rng(5)
    u = rng.standard_normal(tuple(tout.shape))
    for ct, tct in zip(pullback(cr.tensor(u, dtype=F64)), tpullback(torch.tensor(u))):
        assert_close(ct, tct, 1e-10, 1e-12)
    vs = [rng.standard_normal(x.shape) for x in xs]
    _, t_out = cr.jvp(case.ours, ts, [cr.tensor(v, dtype=F64) for v in vs])
    _, tt_out = torch.func.jvp(case.theirs, tuple(txs), tuple(torch.tensor(v) for v in vs))
    assert_close(t_out, tt_out, 1e-10, 1e-12)
    # float32 in, float32 out, gradients float32 too
    out32, pullback32 = cr.vjp(case.ours, *[cr.tensor(x, dtype="float32") for x in xs])
    assert out32.dtype == cr.float32
    assert_close(out32, case.theirs(*[torch.tensor(x, dtype=torch.float32) for x in xs]), 1e-5, 1e-5)
    for ct, x in zip(pullback32(cr.ones(out32.shape, dtype="float32")), xs):
        assert (ct.dtype, ct.shape) == (cr.float32, x.shape)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradcheck_both_modes_order_2(case):
    assert cr.gradcheck(case.ours, [cr.tensor(x, dtype=F64) for x in arrays(case, 10)],
                        modes=("fwd", "rev"), order=2) is True


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_vmap_matches_torch_vmap(case):
    """Every operand batched (axis 0), then only the first (the others shared)."""
    rng = np.random.default_rng(3)
    batched = [rng.standard_normal((3,) + s) for s in case.shapes]
    got = cr.vmap(case.ours)(*[cr.tensor(b, dtype=F64) for b in batched])
    want = torch.func.vmap(case.theirs)(*[torch.tensor(b) for b in batched])
    assert_close(got, want, 1e-10, 1e-12)
    if len(case.shapes) > 1:
        rest = [data(s, case.domain, 20 + i) for i, s in enumerate(case.shapes[1:])]
        in_axes = (0,) + (None,) * len(rest)
        got = cr.vmap(case.ours, in_axes=in_axes)(cr.tensor(batched[0], dtype=F64),
                                                    *[cr.tensor(r, dtype=F64) for r in rest])
        want = torch.func.vmap(case.theirs, in_dims=in_axes)(torch.tensor(batched[0]),
                                                             *[torch.tensor(r) for r in rest])
        assert_close(got, want, 1e-10, 1e-12)


def test_per_example_gradients_of_einsum_and_cumprod():
    """vmap(grad(f)): the batch letter meets the VJP's identity matrices (a trace) and
    cumprod's zero handling."""
    def f(x, w):
        return cr.einsum("ii", x) * cr.sum(cr.cumprod(cr.einsum("ij,j->i", x, w)))

    def tf(x, w):
        return torch.einsum("ii", x) * torch.sum(torch.cumprod(torch.einsum("ij,j->i", x, w), 0))
    xs = data((4, 3, 3), seed=1)
    xs[1, 0] = 0.0   # a zero product along the way
    w = data((3,), seed=2)
    got = cr.vmap(cr.grad(f), in_axes=(0, None))(cr.tensor(xs, dtype=F64), cr.tensor(w, dtype=F64))
    want = torch.func.vmap(torch.func.grad(tf), in_dims=(0, None))(torch.tensor(xs), torch.tensor(w))
    assert_close(got, want, 1e-10, 1e-12)


# ------------------------------------------------------------------ einsum's spellings

@pytest.mark.parametrize("subscripts, shapes", [
    ("ij,jk", [(2, 3), (3, 4)]), ("ba,aB", [(2, 3), (3, 4)]), ("ii", [(3, 3)]), ("i,i", [(3,), (3,)]),
    ("...ii->...i", [(2, 3, 3)]), ("i...->...", [(2, 3, 4)]), ("...", [(2, 3)]), ("ij...,jk", [(2, 3, 5), (3, 4)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]), ("i j -> j i", [(2, 3)]), ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 2)]),
])
def test_einsum_values_match_numpy(subscripts, shapes, backend):
    xs = [data(s, seed=i) for i, s in enumerate(shapes)]
    got = cr.einsum(subscripts, *[cr.tensor(x, dtype=F64) for x in xs])
    assert_close(got, np.einsum(subscripts, *xs))


def test_einsum_sublist_form_and_numbers():
    a, b = data((2, 3)), data((3, 4), seed=1)
    got = cr.einsum(cr.tensor(a, dtype=F64), [0, 1], cr.tensor(b, dtype=F64), [1, 2], [0, 2])
    assert_close(got, np.einsum(a, [0, 1], b, [1, 2], [0, 2]))
    assert_close(cr.einsum(",i->i", 2.0, cr.tensor(a[0], dtype=F64)), 2.0 * a[0])


def test_einsum_gives_a_fresh_array_not_a_view(backend):
    """NumPy and torch answer 'ij->ji' and 'ii->i' with views; the op must not alias its input."""
    x = cr.tensor(data((3, 3)), dtype=F64)
    outs = [cr.einsum("ij->ji", x), cr.einsum("ii->i", x)]
    before = [o.numpy().copy() for o in outs]
    x.data[...] = 7.0
    for o, b in zip(outs, before):
        assert_close(o, b)


def test_einsum_second_derivatives_against_torch():
    """The VJP of a trace and a diagonal, differentiated again (Hessian-vector products)."""
    def f(a, b):
        return cr.sum(cr.einsum("ii,ij->j", a, b) ** 2) + cr.einsum(
            "iij,j->", cr.stack([a, a]).reshape(3, 3, 2)[:2, :2], b[0, :2])

    def tf(a, b):
        return torch.sum(torch.einsum("ii,ij->j", a, b) ** 2) + torch.einsum(
            "iij,j->", torch.stack([a, a]).reshape(3, 3, 2)[:2, :2], b[0, :2])
    a, b, va, vb = data((3, 3)), data((3, 2), seed=1), data((3, 3), seed=2), data((3, 2), seed=3)
    _, hv = cr.hvp(f, (cr.tensor(a, dtype=F64), cr.tensor(b, dtype=F64)),
                   (cr.tensor(va, dtype=F64), cr.tensor(vb, dtype=F64)))
    _, thv = torch.func.jvp(torch.func.grad(tf, argnums=(0, 1)), (torch.tensor(a), torch.tensor(b)),
                            (torch.tensor(va), torch.tensor(vb)))
    for h, th in zip(hv, thv):
        assert_close(h, th, 1e-10, 1e-12)


# ------------------------------------------------------------------ cumprod with zeros

@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, 1.5, 4.0], [2.0, 0.0, 3.0, 0.0, 4.0], [0.0, 0.5, 0.0, -1.0, 0.0],
                               [0.0, 0.0, 0.0, 0.0, 0.0]])
def test_cumprod_zeros_gradient_and_hessian_match_torch(x, backend):
    """torch's rule at zeros, first and second order, in both modes (no division by x)."""
    w = np.array([1.0, -2.0, 3.0, 0.5, 5.0])

    def f(v):
        return cr.sum(cr.cumprod(v) * cr.tensor(w, dtype=F64))

    def tf(v):
        return torch.sum(torch.cumprod(v, 0) * torch.tensor(w))
    xt = cr.tensor(np.array(x), dtype=F64)
    tx = torch.tensor(x, dtype=torch.float64)
    assert_close(cr.grad(f)(xt), torch.func.grad(tf)(tx))
    want = torch.autograd.functional.hessian(tf, tx)
    for hessian in (cr.hessian(f), cr.jacfwd(cr.grad(f)), cr.jacfwd(cr.jacfwd(f))):
        assert_close(hessian(xt), want, 1e-10, 1e-12)


def test_cumprod_zeros_along_an_axis_under_vmap():
    x = data((3, 4, 5), seed=4)
    x[0, 1, 2] = x[1, 2, 0] = x[1, 2, 3] = x[2, 0, 4] = 0.0
    g = cr.vmap(cr.grad(lambda v: cr.sum(cr.cumprod(v, axis=1) * v)))(cr.tensor(x, dtype=F64))
    tg = torch.func.vmap(torch.func.grad(lambda v: torch.sum(torch.cumprod(v, 1) * v)))(torch.tensor(x))
    assert_close(g, tg)


# ------------------------------------------------------------------ NaNs and infinities

def test_nansum_nanmean_values_and_zero_gradient_at_nans(backend):
    x = data((3, 4), seed=6)
    x[0, 1] = x[2, 3] = np.nan
    x[1, :] = np.nan   # an all-NaN row: nansum 0, nanmean nan
    for ours, theirs, kw in [(cr.nansum, torch.nansum, {}), (cr.nansum, torch.nansum, dict(axis=1)),
                             (cr.nanmean, torch.nanmean, dict(axis=0)), (cr.nanmean, torch.nanmean, {})]:
        dim = {"dim": kw["axis"]} if kw else {}
        xt = cr.tensor(x, dtype=F64)
        assert_close(ours(xt, **kw), theirs(torch.tensor(x), **dim))
        with warnings.catch_warnings():   # NumPy warns of the all-NaN row ("Mean of empty slice")
            warnings.simplefilter("ignore", RuntimeWarning)
            assert_close(ours(xt, **kw), (np.nansum if ours is cr.nansum else np.nanmean)(x, **kw))
        g = cr.grad(lambda v: cr.sum(cr.where(cr.isnan(ours(v, **kw)), 0.0, ours(v, **kw))))(xt)
        tv = torch.tensor(x, requires_grad=True)
        out = theirs(tv, **dim)
        torch.where(torch.isnan(out), 0.0, out).sum().backward()
        assert_close(g, tv.grad)
        assert not np.isnan(g.numpy()).any()


def test_logsumexp_infinities_and_low_precision():
    x = np.array([[-np.inf, -np.inf], [0.0, 1.0], [np.inf, 1.0]])
    assert_close(cr.logsumexp(cr.tensor(x, dtype=F64), axis=1), torch.logsumexp(torch.tensor(x), 1))
    big = np.array([1000.0, 1000.0, -1000.0])
    assert_close(cr.logsumexp(cr.tensor(big, dtype=F64)), 1000.0 + np.log(2.0))
    h = cr.logsumexp(cr.tensor(big, dtype="float16"), axis=0, keepdims=True)
    assert h.dtype == cr.float16 and h.shape == (1,)
    assert_close(cr.logsumexp(cr.tensor(data((3, 2)), dtype=F64), axis=()), data((3, 2)))


# ------------------------------------------------------------------ NumPy semantics

def test_scans_follow_numpy(backend):
    x = data((3, 4), seed=7)
    xt = cr.tensor(x, dtype=F64)
    assert_close(cr.cumsum(xt), np.cumsum(x))
    assert_close(xt.cumprod(axis=0), np.cumprod(x, axis=0))
    ints = cr.tensor(np.array([[1, 2], [3, 4]], dtype=np.int32))
    assert cr.cumsum(ints, axis=1).dtype == cr.int64 == cr.cumprod(cr.tensor([True, False])).dtype
    assert cr.cumsum(xt, dtype="float32").dtype == cr.float32
    assert_close(cr.cumsum(cr.tensor(2.5, dtype=F64)), np.cumsum(2.5))
    assert_close(cr.diff(xt, n=0), x)
    assert cr.diff(xt, n=7).shape == np.diff(x, n=7).shape == (3, 0)
    assert_close(cr.diff(xt, axis=0, prepend=x[:1], append=x[-1:]), np.diff(x, axis=0, prepend=x[:1], append=x[-1:]))
    assert_close(cr.diff(cr.tensor([True, False, False])), np.diff([True, False, False]))
    coords = np.cumsum(data((4,), "positive", seed=8))
    for edge_order in (1, 2):
        ours = cr.gradient(xt, 0.5, cr.tensor(coords, dtype=F64), edge_order=edge_order)
        want = np.gradient(x, 0.5, coords, edge_order=edge_order)
        assert isinstance(ours, tuple) and len(ours) == 2
        for o, w in zip(ours, want):
            assert_close(o, w)
        assert_close(cr.gradient(xt, coords, axis=-1, edge_order=edge_order),
                     np.gradient(x, coords, axis=-1, edge_order=edge_order))
    assert cr.gradient(cr.tensor([1, 4, 9])).dtype == cr.float64


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_scans_accumulate_in_float32_as_torch(dtype, backend):
    """NumPy's float16 running sum of 0.1s stalls at 256; torch's (and ours) reaches 500."""
    x = np.full(5000, 0.1)
    got = cr.cumsum(cr.tensor(x, dtype=dtype))
    want = torch.cumsum(torch.tensor(x, dtype=getattr(torch, dtype)), 0)
    assert got.dtype == dtype
    assert_close(cr.astype(got, "float64"), want.double(), 1e-2, 0)
    g = cr.grad(lambda v: cr.sum(cr.cumprod(v * 0.0 + 1.001)))(cr.tensor(x[:300], dtype=dtype))
    assert g.dtype == dtype


def test_gradient_with_coordinates_matches_torch_and_gradcheck():
    coords = np.cumsum(data((5,), "positive", seed=9))
    f = data((2, 5), seed=10)
    ours = lambda v: cr.gradient(v, cr.tensor(coords, dtype=F64), axis=1)   # noqa: E731
    theirs = torch.gradient(torch.tensor(f), spacing=(torch.tensor(coords),), dim=1)[0]
    assert_close(ours(cr.tensor(f, dtype=F64)), theirs)
    assert cr.gradcheck(ours, [cr.tensor(f, dtype=F64)], order=2)
    # the coordinates are differentiable too
    assert cr.gradcheck(lambda c: cr.gradient(cr.tensor(f, dtype=F64), c, axis=1), [cr.tensor(coords, dtype=F64)])


def test_products_follow_numpy(backend):
    a, b = data((2, 3, 4)), data((3, 4, 2), seed=1)
    at, bt = cr.tensor(a, dtype=F64), cr.tensor(b, dtype=F64)
    assert_close(cr.dot(at, bt), np.dot(a, b))
    assert_close(at.dot(cr.tensor(b[0, :, 0], dtype=F64)), a.dot(b[0, :, 0]))
    assert_close(cr.inner(at, cr.tensor(b[0].T, dtype=F64)), np.inner(a, b[0].T))
    assert_close(cr.outer(at, bt), np.outer(a, b))
    assert_close(cr.tensordot(at, bt, axes=([1, 2], [0, 1])), np.tensordot(a, b, axes=([1, 2], [0, 1])))
    assert_close(cr.tensordot(at, cr.tensor(b[0], dtype=F64), axes=1), np.tensordot(a, b[0], axes=1))
    assert_close(cr.kron(at, cr.tensor(b[0], dtype=F64)), np.kron(a, b[0]))
    assert_close(cr.kron(cr.tensor(2.0, dtype=F64), cr.tensor(3.0, dtype=F64)), np.kron(2.0, 3.0))
    c, d = data((2, 3)), data((3, 2), seed=2)
    assert_close(cr.cross(cr.tensor(c, dtype=F64), cr.tensor(d, dtype=F64), axisb=0, axisc=0),
                 np.cross(c, d, axisb=0, axisc=0))
    assert_close(cr.cross(cr.tensor(c.T, dtype=F64), cr.tensor(d, dtype=F64), axis=0), np.cross(c.T, d, axis=0))


# ------------------------------------------------------------------ bad inputs

X = cr.tensor(np.ones((2, 3)))


@pytest.mark.parametrize("call, error, words", [
    (lambda: cr.einsum("ij,jk", X), ArgumentError, "names 2 operands but 1"),
    (lambda: cr.einsum("ijk", X), ShapeError, "one letter per axis"),
    (lambda: cr.einsum("i1", X), ArgumentError, "letters a-z A-Z"),
    (lambda: cr.einsum("ij->ii", X), ArgumentError, "each letter once"),
    (lambda: cr.einsum("ij->k", X), ArgumentError, "only letters of the operands"),
    (lambda: cr.einsum("ij,ij", X, cr.ones((2, 4))), ShapeError, "one size"),
    (lambda: cr.einsum("ii", X), ShapeError, "a diagonal needs equal axes"),
    (lambda: cr.einsum("...j->j", cr.ones((2, 2, 3))), ShapeError, "add '...' to the output"),
    (lambda: cr.einsum(3, X), ArgumentError, "sublist"),
    (lambda: cr.einsum("ij", "x"), ArgumentError, "operands must be tensors"),
    (lambda: cr.dot(X, X), ShapeError, "do not align"),
    (lambda: cr.inner(X, cr.ones((2,))), ShapeError, "last axes"),
    (lambda: cr.tensordot(X, X, axes=3), ShapeError, "axes=3"),
    (lambda: cr.tensordot(X, X, axes=([0], [1])), ShapeError, "one length"),
    (lambda: cr.tensordot(X, X, axes=([0, 1], [1])), ArgumentError, "as many distinct axes"),
    (lambda: cr.tensordot(X, X, axes="x"), ArgumentError, "pair"),
    (lambda: cr.cross(X, cr.ones((2, 2))), ShapeError, "3 components"),
    (lambda: cr.cross(X, X, axisa=5), ShapeError, "out of range"),
    (lambda: cr.cumsum(X, axis=2), ShapeError, "out of range"),
    (lambda: cr.cumprod(X, axis=1.0), ArgumentError, "integer"),
    (lambda: cr.diff(cr.tensor(1.0)), ShapeError, "0-d"),
    (lambda: cr.diff(X, n=-1), ArgumentError, "n must be an integer >= 0"),
    (lambda: cr.diff(X, prepend=cr.ones((2, 2, 2))), ShapeError, ""),
    (lambda: cr.gradient(X, 1.0, 2.0, 3.0), ArgumentError, "one per axis"),
    (lambda: cr.gradient(X, edge_order=3), ArgumentError, "edge_order must be 1 or 2"),
    (lambda: cr.gradient(cr.ones((2, 2)), edge_order=2), ShapeError, "at least 3"),
    (lambda: cr.gradient(X, cr.ones((4,)), axis=1), ShapeError, "length 3"),
    (lambda: cr.gradient(X, axis=(1, 1)), ArgumentError, "repeats"),
    (lambda: cr.gradient(cr.tensor(2.0)), ShapeError, "no axis"),
    (lambda: cr.logsumexp(X, axis=2), ShapeError, "out of range"),
    (lambda: cr.nansum(X, axis="0"), ArgumentError, "axis must be"),
    (lambda: cr.nanmean(X, axis=(0, 5)), ShapeError, "out of range"),
])
def test_bad_inputs_raise_chainrule_errors_naming_the_fix(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)

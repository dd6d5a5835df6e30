"""NumPy's shape, indexing and sorting functions (issue 13): ravel, flatten, swapaxes,
moveaxis, atleast_Nd, the stacks, repeat, tile, pad, roll, the flips, rot90, the diagonals and
triangles, take_along_axis, index_add, select, where, clip with tensor bounds, sort, msort,
partition, argsort, topk.

Values against NumPy on every backend; values, VJPs and JVPs against torch (autograd and
torch.func.jvp) in float64 and float32; cr.gradcheck in both modes to order 2; cr.vmap against
a loop of torch calls; bad inputs raise chainrule errors.
"""
from typing import Callable, NamedTuple

import numpy as np
import pytest

import chainrule as cr
from torch_oracle import check_against_torch, close
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from backend_fixtures import backend   # noqa: F401  (a pytest fixture)
from conftest import data, F64

torch = pytest.importorskip("torch", reason="torch is the oracle for VJPs and JVPs")
TF = torch.nn.functional


class Case(NamedTuple):
    id: str
    ours: Callable          # chainrule tensors -> tensor
    theirs: Callable        # torch tensors -> tensor
    shapes: list            # of the differentiable float inputs
    domain: str = "distinct"


IDX = np.array([[2, 0, 3], [1, 1, 0]])            # take_along_axis on (2, 4) along axis 1
ROWS = np.array([0, 2, 0])                        # index_add: repeated row 0
MASK_A = np.array([[True, False, True], [False, False, True]])
MASK_B = np.array([[True, True, False], [False, True, True]])


def _ct(a):
    return cr.tensor(a), torch.tensor(a)


CASES = [
    Case("ravel", cr.ravel, lambda x: x.reshape(-1), [(2, 3)]),
    Case("ravel_F", lambda x: x.ravel("F"), lambda x: x.permute(2, 1, 0).reshape(-1), [(2, 3, 2)]),
    Case("flatten", lambda x: x.flatten(), torch.flatten, [(3, 2)]),
    Case("swapaxes", lambda x: x.swapaxes(0, -1), lambda x: x.swapaxes(0, -1), [(2, 3, 4)]),
    Case("moveaxis", lambda x: cr.moveaxis(x, [0, 1], [2, 0]), lambda x: torch.movedim(x, (0, 1), (2, 0)), [(2, 3, 4)]),
    Case("atleast_1d", cr.atleast_1d, torch.atleast_1d, [()]),
    Case("atleast_2d", cr.atleast_2d, torch.atleast_2d, [(3,)]),
    Case("atleast_3d_1d", cr.atleast_3d, torch.atleast_3d, [(3,)]),
    Case("atleast_3d_2d", cr.atleast_3d, torch.atleast_3d, [(2, 3)]),
    Case("hstack_1d", lambda x, y: cr.hstack([x, y]), lambda x, y: torch.hstack([x, y]), [(3,), (2,)]),
    Case("hstack_2d", lambda x, y: cr.hstack((x, y)), lambda x, y: torch.hstack([x, y]), [(2, 3), (2, 1)]),
    Case("vstack", lambda x, y: cr.vstack([x, y]), lambda x, y: torch.vstack([x, y]), [(3,), (2, 3)]),
    Case("dstack", lambda x, y: cr.dstack([x, y]), lambda x, y: torch.dstack([x, y]), [(2, 3), (2, 3, 2)]),
    Case("column_stack", lambda x, y: cr.column_stack([x, y]), lambda x, y: torch.column_stack([x, y]),
         [(3,), (3, 2)]),
    Case("repeat_int", lambda x: x.repeat(2, axis=1), lambda x: torch.repeat_interleave(x, 2, 1), [(2, 3)]),
    Case("repeat_counts", lambda x: cr.repeat(x, [1, 0, 3], axis=0),
         lambda x: torch.repeat_interleave(x, torch.tensor([1, 0, 3]), 0), [(3, 2)]),
    Case("repeat_flat", lambda x: cr.repeat(x, 2), lambda x: torch.repeat_interleave(x.reshape(-1), 2), [(2, 2)]),
    Case("tile", lambda x: cr.tile(x, (2, 1, 3)), lambda x: torch.tile(x, (2, 1, 3)), [(2, 2)]),
    Case("tile_short_reps", lambda x: cr.tile(x, 2), lambda x: torch.tile(x, (2,)), [(2, 3)]),
    Case("pad_constant", lambda x: cr.pad(x, ((1, 2), (0, 3)), constant_values=0.5),
         lambda x: TF.pad(x, (0, 3, 1, 2), value=0.5), [(3, 4)]),
    Case("pad_edge", lambda x: cr.pad(x, ((0, 0), (0, 0), (2, 3)), mode="edge"),
         lambda x: TF.pad(x, (2, 3), mode="replicate"), [(2, 3, 4)]),
    Case("pad_reflect", lambda x: cr.pad(x, ((0, 0), (0, 0), (3, 1)), mode="reflect"),
         lambda x: TF.pad(x, (3, 1), mode="reflect"), [(2, 3, 4)]),
    Case("pad_wrap", lambda x: cr.pad(x, ((0, 0), (0, 0), (1, 2), (2, 1)), mode="wrap"),
         lambda x: TF.pad(x, (2, 1, 1, 2), mode="circular"), [(1, 2, 3, 3)]),
    Case("roll", lambda x: cr.roll(x, (1, -5), (0, 1)), lambda x: torch.roll(x, (1, -5), (0, 1)), [(3, 4)]),
    Case("roll_flat", lambda x: cr.roll(x, 5), lambda x: torch.roll(x, 5), [(2, 3)]),
    Case("flip", lambda x: cr.flip(x, (0, 2)), lambda x: torch.flip(x, (0, 2)), [(2, 3, 2)]),
    Case("flip_all", cr.flip, lambda x: torch.flip(x, (0, 1)), [(2, 3)]),
    Case("fliplr", cr.fliplr, torch.fliplr, [(2, 3)]),
    Case("flipud", cr.flipud, torch.flipud, [(3,)]),
    Case("rot90", lambda x: cr.rot90(x), torch.rot90, [(2, 3)]),
    Case("rot90_k3", lambda x: cr.rot90(x, 3, (2, 0)), lambda x: torch.rot90(x, 3, (2, 0)), [(2, 3, 2)]),
    Case("rot90_k2", lambda x: cr.rot90(x, -2), lambda x: torch.rot90(x, -2), [(2, 3)]),
    Case("diag_build", lambda v: cr.diag(v, -1), lambda v: torch.diag(v, -1), [(3,)]),
    Case("diag_read", lambda m: cr.diag(m, 1), lambda m: torch.diag(m, 1), [(3, 4)]),
    Case("diagonal", lambda m: m.diagonal(-1, 2, 0), lambda m: torch.diagonal(m, -1, 2, 0), [(3, 2, 4)]),
    Case("trace", lambda m: m.trace(), torch.trace, [(3, 4)]),
    Case("trace_axes", lambda m: cr.trace(m, 1, 1, 2), lambda m: torch.diagonal(m, 1, 1, 2).sum(-1), [(2, 3, 3)]),
    Case("tril", lambda m: cr.tril(m, -1), lambda m: torch.tril(m, -1), [(2, 3, 4)]),
    Case("triu", lambda m: cr.triu(m, 1), lambda m: torch.triu(m, 1), [(4, 3)]),
    Case("take_along_axis", lambda x: cr.take_along_axis(x, cr.tensor(IDX), 1),
         lambda x: torch.take_along_dim(x, torch.tensor(IDX), 1), [(2, 4)]),
    Case("take_along_axis_broadcast", lambda x: cr.take_along_axis(x, IDX[:1, :, None], 1),
         lambda x: torch.take_along_dim(x, torch.tensor(IDX[:1, :, None]), 1), [(2, 4, 2)]),
    Case("index_add", lambda x, v: cr.index_add(x, 0, ROWS, v), lambda x, v: torch.index_add(x, 0, torch.tensor(ROWS), v),
         [(3, 2), (3, 2)], "any"),
    Case("index_add_method", lambda x, v: x.index_add(1, cr.tensor(ROWS), v),
         lambda x, v: x.index_add(1, torch.tensor(ROWS), v), [(2, 3), (2, 3)], "any"),
    Case("select", lambda x, y: cr.select([cr.tensor(MASK_A), cr.tensor(MASK_B)], [x, y], 0.5),
         lambda x, y: torch.where(torch.tensor(MASK_A), x, torch.where(torch.tensor(MASK_B), y, 0.5)),
         [(2, 3), (3,)], "any"),
    Case("where_broadcast", lambda x, y: cr.where(cr.tensor(MASK_A[:1].T), x, y),
         lambda x, y: torch.where(torch.tensor(MASK_A[:1].T), x, y), [(2,), (3, 1)], "any"),
    Case("clip_tensor_bounds", cr.clip, torch.clamp, [(2, 3), (3,), (2, 1)]),   # some hi < lo
    Case("clip_tensor_min", lambda x, lo: x.clip(lo), lambda x, lo: torch.clamp(x, min=lo), [(2, 3), (2, 1)]),
    Case("clip_tensor_max", lambda x, hi: cr.clip(x, -0.3, hi), lambda x, hi: torch.clamp(x, torch.tensor(-0.3, dtype=x.dtype), hi),
         [(4,), (4,)]),
    Case("sort", cr.sort, lambda x: torch.sort(x, stable=True).values, [(3, 4)]),
    Case("sort_axis0_desc", lambda x: cr.sort(x, 0, descending=True),
         lambda x: torch.sort(x, dim=0, descending=True, stable=True).values, [(3, 2)]),
    Case("sort_flat", lambda x: cr.sort(x, None), lambda x: torch.sort(x.reshape(-1)).values, [(2, 3)]),
    Case("msort", cr.msort, torch.msort, [(3, 2)]),
    Case("partition", lambda x: cr.partition(x, 1), lambda x: torch.sort(x).values, [(2, 4)]),
    Case("topk", lambda x: cr.topk(x, 2)[0], lambda x: torch.topk(x, 2).values, [(3, 4)]),
    Case("topk_smallest", lambda x: cr.topk(x, 3, axis=0, largest=False)[0],
         lambda x: torch.topk(x, 3, 0, largest=False).values, [(4, 2)]),
]
BY_ID = {c.id: c for c in CASES}


def _inputs(case, dtype=np.float64):
    return [data(s, case.domain, seed=i).astype(dtype) for i, s in enumerate(case.shapes)]


# ------------------------------------------------------------ VJPs and JVPs vs torch

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_values_vjp_and_jvp_match_torch(case, dtype, backend):
    xs = _inputs(case, np.dtype(dtype))
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    check_against_torch(case.ours, case.theirs, xs, dtype, **tol)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradcheck_both_modes_order_2(case):
    xs = [cr.tensor(x, dtype=F64) for x in _inputs(case)]
    assert cr.gradcheck(case.ours, xs, modes=("fwd", "rev"), order=2) is True


# --------------------------------------------------------------------------- vmap

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_vmap_matches_a_loop_of_torch(case):
    batch = [np.stack([data(s, case.domain, seed=10 * b + i) for b in range(3)])
             for i, s in enumerate(case.shapes)]
    out = cr.vmap(case.ours)(*[cr.tensor(x, dtype=F64) for x in batch])
    expected = torch.stack([case.theirs(*[torch.tensor(x[b]) for x in batch]) for b in range(3)])
    close(out, expected)


def test_vmap_of_sort_gradients_matches_torch():
    """sort's gather under vmap takes a different permutation per example (a batched index)."""
    x = data((3, 5), "distinct")
    g = cr.vmap(cr.grad(lambda r: (cr.sort(r) * cr.arange(5.0, dtype=F64)).sum()))(cr.tensor(x, dtype=F64))
    tx = torch.tensor(x, requires_grad=True)
    (torch.sort(tx, stable=True).values * torch.arange(5.0, dtype=torch.float64)).sum().backward()
    close(g, tx.grad)


def test_vmap_with_batched_indices():
    x, v = data((3, 4, 2)), data((3, 2, 2), seed=1)
    idx = np.array([[0, 3], [1, 1], [2, 0]])          # one index pair per example, a repeat in one
    tx, tv = torch.tensor(x, requires_grad=True), torch.tensor(v, requires_grad=True)
    ours = cr.vmap(lambda a, i, b: cr.index_add(a, 0, i, b))(cr.tensor(x), cr.tensor(idx), cr.tensor(v))
    close(ours, torch.stack([torch.index_add(tx[b], 0, torch.tensor(idx[b]), tv[b]) for b in range(3)]))
    taken = cr.vmap(lambda a, i: cr.take_along_axis(a, i[:, None], 0))(cr.tensor(x), cr.tensor(idx))
    close(taken, torch.stack([torch.take_along_dim(tx[b], torch.tensor(idx[b])[:, None], 0)
                               for b in range(3)]))
    # gradient wrt both x and values of the batched-index scatter, through vmap
    gx, gv = cr.vmap(cr.grad(lambda a, i, b: (cr.index_add(a, 0, i, b) ** 2).sum(), argnums=(0, 2)),
                     in_axes=(0, 0, 0))(cr.tensor(x), cr.tensor(idx), cr.tensor(v))
    sum(((torch.index_add(tx[b], 0, torch.tensor(idx[b]), tv[b])) ** 2).sum() for b in range(3)).backward()
    close(gx, tx.grad)
    close(gv, tv.grad)


# ------------------------------------------------------------- values vs NumPy

A = data((3, 4, 5))
M = data((4, 6), seed=1)
V3 = data((3,), seed=2)
NP_CASES = [
    ("ravel_F", lambda t: t.ravel("F"), lambda a: a.ravel("F")),
    ("flatten_F", lambda t: t.flatten("F"), lambda a: a.flatten("F")),
    ("moveaxis", lambda t: cr.moveaxis(t, 0, -1), lambda a: np.moveaxis(a, 0, -1)),
    ("repeat", lambda t: cr.repeat(t, [1, 0, 2], axis=0), lambda a: np.repeat(a, [1, 0, 2], axis=0)),
    ("tile", lambda t: cr.tile(t, (1, 2, 1, 3)), lambda a: np.tile(a, (1, 2, 1, 3))),
    ("roll", lambda t: cr.roll(t, (1, 2), (1, 1)), lambda a: np.roll(a, (1, 2), (1, 1))),
    ("roll_flat", lambda t: cr.roll(t, -7), lambda a: np.roll(a, -7)),
    ("rot90", lambda t: cr.rot90(t, 5, (-1, -2)), lambda a: np.rot90(a, 5, (-1, -2))),
    ("flip", lambda t: cr.flip(t, -1), lambda a: np.flip(a, -1)),
    ("diagonal_empty", lambda t: t.diagonal(7), lambda a: a.diagonal(7)),
    ("trace_offset", lambda t: t.trace(-2, 2, 1), lambda a: a.trace(-2, 2, 1)),
    ("tril", lambda t: cr.tril(t, 2), lambda a: np.tril(a, 2)),
    ("triu", lambda t: cr.triu(t, -1), lambda a: np.triu(a, -1)),
    ("take_along_axis_flat", lambda t: cr.take_along_axis(t, [59, 0, 7], None),
     lambda a: np.take_along_axis(a, np.array([59, 0, 7]), None)),
    ("sort", lambda t: cr.sort(t, 1), lambda a: np.sort(a, 1)),
    ("argsort", lambda t: cr.argsort(t, 0), lambda a: np.argsort(a, 0, kind="stable")),
    ("argsort_flat", lambda t: t.argsort(None), lambda a: np.argsort(a, None, kind="stable")),
    ("partition", lambda t: cr.partition(t, (0, -1), 2), lambda a: np.sort(a, 2)),
    ("select", lambda t: cr.select([t > 0.5, t < -0.5], [t, t * 2], -1.0),
     lambda a: np.select([a > 0.5, a < -0.5], [a, a * 2], -1.0)),
    ("index_add", lambda t: cr.index_add(t, 2, [4, 4, 0], cr.ones((3, 4, 3), dtype=F64)),
     lambda a: _add_at(a, (slice(None), slice(None), [4, 4, 0]), 1.0)),
] + [(f"pad_{mode}_{i}", (lambda m, w: lambda t: cr.pad(t, w, mode=m))(mode, w),
      (lambda m, w: lambda a: np.pad(a, w, mode=m))(mode, w))
     for mode in ("constant", "edge", "reflect", "symmetric", "wrap")
     for i, w in enumerate([1, (2, 3), ((0, 1), (4, 9), (2, 0)), ((1,), (2,), (3,))])] + [
    ("pad_constant_values", lambda t: cr.pad(t, ((1, 2), (0, 1), (1, 1)), constant_values=((1, 2), (3, 4), (5, 6))),
     lambda a: np.pad(a, ((1, 2), (0, 1), (1, 1)), constant_values=((1, 2), (3, 4), (5, 6)))),
]
SMALL_CASES = [   # on other inputs: atleast_*, stacks, diag, pads of short axes
    ("atleast_2d_0d", lambda: cr.atleast_2d(cr.tensor(2.5)), lambda: np.atleast_2d(2.5)),
    ("atleast_3d_3d", lambda: cr.atleast_3d(cr.tensor(A)), lambda: np.atleast_3d(A)),
    ("atleast_several", lambda: cr.atleast_1d(cr.tensor(1.0), cr.tensor(V3))[0], lambda: np.atleast_1d(1.0, V3)[0]),
    ("column_stack_0d", lambda: cr.column_stack([cr.tensor(1.0), cr.tensor(2.0)]),
     lambda: np.column_stack([1.0, 2.0])),
    ("dstack_1d", lambda: cr.dstack([cr.tensor(V3), cr.tensor(V3)]), lambda: np.dstack([V3, V3])),
    ("diag_k", lambda: cr.diag(cr.tensor(M), -3), lambda: np.diag(M, -3)),
    ("diag_build_k", lambda: cr.diag(cr.tensor(V3), 2), lambda: np.diag(V3, 2)),
] + [(f"pad_{mode}_short_{n}", (lambda m, n: lambda: cr.pad(cr.tensor(V3[:n]), (7, 8), mode=m))(mode, n),
      (lambda m, n: lambda: np.pad(V3[:n], (7, 8), mode=m))(mode, n))
     for mode in ("edge", "reflect", "symmetric", "wrap") for n in (1, 2, 3)]


def _add_at(a, index, v):
    out = a.copy()
    np.add.at(out, index, v)
    return out


@pytest.mark.parametrize("name, ours, theirs", NP_CASES, ids=[c[0] for c in NP_CASES])
def test_values_match_numpy(name, ours, theirs, backend):
    out = ours(cr.tensor(A, dtype=F64))
    np.testing.assert_array_equal(out.numpy(), theirs(A))


@pytest.mark.parametrize("name, ours, theirs", SMALL_CASES, ids=[c[0] for c in SMALL_CASES])
def test_small_values_match_numpy(name, ours, theirs, backend):
    np.testing.assert_array_equal(ours().numpy(), theirs())


def test_sort_ties_and_nan_as_numpy_and_torch(backend):
    x = np.array([[2.0, -1.0, 2.0, np.nan, 0.5, -1.0]])
    np.testing.assert_array_equal(cr.sort(cr.tensor(x)).numpy(), np.sort(x))
    np.testing.assert_array_equal(cr.argsort(cr.tensor(x)).numpy(), np.argsort(x, kind="stable"))
    desc = cr.argsort(cr.tensor(x), descending=True).numpy()
    np.testing.assert_array_equal(desc, torch.argsort(torch.tensor(x), descending=True, stable=True).numpy())
    # with ties, the gradient goes where the stable order says, as torch's stable sort
    w = np.arange(6.0)
    xs = cr.tensor(x[:, [0, 1, 2, 4, 5]])
    tx = torch.tensor(x[:, [0, 1, 2, 4, 5]], requires_grad=True)
    g = cr.grad(lambda r: (cr.sort(r, descending=True) * cr.tensor(w[:5])).sum())(xs)
    (torch.sort(tx, descending=True, stable=True).values * torch.tensor(w[:5])).sum().backward()
    close(g, tx.grad)


# ------------------------------------------------------------ semantics worth a test

def test_indices_carry_no_gradient():
    x = cr.tensor(data((3, 4)), requires_grad=True)
    assert not cr.argsort(x).requires_grad
    values, indices = cr.topk(x, 2)
    assert values.requires_grad and not indices.requires_grad
    assert indices.dtype == "int64"
    assert "argsort" in cr.ops.NON_DIFFERENTIABLE


def test_flatten_copies_ravel_views():
    x = cr.tensor(data((2, 3)))
    f = x.flatten()
    f[0] = 100.0
    assert float(x[0, 0]) != 100.0, "flatten must be a copy (ndarray.flatten)"
    r = x.ravel()
    assert np.shares_memory(r.numpy(), x.numpy()), "ravel of a contiguous tensor is a view"


def test_methods_exist_where_ndarray_has_them():
    x = cr.tensor(data((3, 3)))
    for name in ("ravel", "flatten", "swapaxes", "repeat", "diagonal", "trace", "argsort"):
        assert hasattr(x, name), name
    close(x.trace(), np.trace(data((3, 3))))


def test_pad_of_an_integer_tensor_keeps_its_dtype():
    x = cr.tensor([[1, 2], [3, 4]])
    out = cr.pad(x, 1, constant_values=7)
    assert out.dtype == "int64"
    np.testing.assert_array_equal(out.numpy(), np.pad(np.array([[1, 2], [3, 4]]), 1, constant_values=7))


def test_index_add_keeps_x_dtype_as_numpy_add_at(backend):
    x = cr.zeros((3, 2), dtype="float32", requires_grad=True)
    v = cr.ones((2, 2), dtype="float64", requires_grad=True)
    out = cr.index_add(x, 0, [2, 2], v)
    expected = np.zeros((3, 2), np.float32)
    np.add.at(expected, [2, 2], np.ones((2, 2)))
    assert out.dtype == "float32"
    np.testing.assert_array_equal(out.numpy(), expected)
    out.sum().backward()
    assert (x.grad.dtype, v.grad.dtype) == ("float32", "float64")
    np.testing.assert_array_equal(cr.index_add(cr.zeros(3, dtype="int64"), 0, [1], 2.0).numpy(), [0, 2, 0])


# ------------------------------------------------------------------ bad inputs

BAD = [
    (lambda x: cr.ravel(x, order="K"), ArgumentError, "order"),
    (lambda x: cr.swapaxes(x, 0, 3), ShapeError, "axis 3"),
    (lambda x: cr.moveaxis(x, [0, 1], [0]), ShapeError, "same number"),
    (lambda x: cr.moveaxis(x, [0, 0], [1, 2]), ShapeError, "repeated axis"),
    (lambda x: cr.repeat(x, [1, 2], axis=0), ShapeError, "one per element"),
    (lambda x: cr.repeat(x, -1), ArgumentError, "non-negative"),
    (lambda x: cr.repeat(x, 1.5), ArgumentError, "integer"),
    (lambda x: cr.tile(x, (2, -1)), ArgumentError, "non-negative"),
    (lambda x: cr.pad(x, 1, mode="median"), ArgumentError, "constant, edge, reflect"),
    (lambda x: cr.pad(x, -1), ArgumentError, "non-negative"),
    (lambda x: cr.pad(x, ((1, 2), (3, 4), (5, 6))), ArgumentError, "per axis"),
    (lambda x: cr.pad(x, 1.5), ArgumentError, "pad_width"),
    (lambda x: cr.pad(x[:, :0], 1, mode="reflect"), ShapeError, "mode='constant'"),
    (lambda x: cr.roll(x, (1, 2, 3), (0, 1)), ShapeError, "one per axis"),
    (lambda x: cr.roll(x, 1.0), ArgumentError, "integer"),
    (lambda x: cr.flip(x, 2), ShapeError, "out of range"),
    (lambda x: cr.fliplr(x[0]), ShapeError, "at least 2"),
    (lambda x: cr.rot90(x, 1, (0, 0)), ShapeError, "repeated axis"),
    (lambda x: cr.rot90(x, 1, (0,)), ArgumentError, "two axes"),
    (lambda x: cr.diagonal(x[0]), ShapeError, "at least 2"),
    (lambda x: cr.diag(x[None]), ShapeError, "1-d or 2-d"),
    (lambda x: cr.tril(x[0]), ShapeError, "at least 2"),
    (lambda x: cr.triu(x, 0.5), ArgumentError, "integer"),
    (lambda x: cr.take_along_axis(x, cr.tensor([0, 1]), 1), ShapeError, "same number"),
    (lambda x: cr.take_along_axis(x, cr.tensor([[0.5]]), 1), DTypeError, "astype"),
    (lambda x: cr.take_along_axis(x, cr.tensor([[0]]), 2), ShapeError, "out of range"),
    (lambda x: cr.index_add(x, 0, [0, 1], cr.ones((3, 4))), ShapeError, "do not fit"),
    (lambda x: cr.index_add(x, 2, [0], cr.ones((1, 4))), ShapeError, "out of range"),
    (lambda x: cr.index_add(x, 0, cr.tensor([0.0]), x[:1]), DTypeError, "integers"),
    (lambda x: cr.index_add(x.astype("int64"), 0, [0], x[:1]), DTypeError, "astype"),
    (lambda x: cr.select([x > 0], [x, x]), ArgumentError, "one condition per choice"),
    (lambda x: cr.select([x], [x]), DTypeError, "not bool"),
    (lambda x: cr.sort(x, axis=2), ShapeError, "out of range"),
    (lambda x: cr.clip(x, cr.ones((2,)), 1.0), ShapeError, "broadcast"),
    (lambda x: cr.sort(x.sum()), ShapeError, "0-d"),
    (lambda x: cr.argsort(x, descending="yes"), ArgumentError, "True or False"),
    (lambda x: cr.partition(x, 4), ShapeError, "kth 4"),
    (lambda x: cr.topk(x, 5), ArgumentError, "k must be"),
    (lambda x: cr.hstack(3), ArgumentError, "list or tuple"),
    (lambda x: cr.where(x > 0), ArgumentError, "pass both x and y"),
    (lambda x: cr.where(x > 0, x), ArgumentError, "pass both x and y"),
    (lambda x: cr.vstack([]), ShapeError, "at least one"),
]


@pytest.mark.parametrize("call, error, words", BAD, ids=[f"{e.__name__}-{w}" for _, e, w in BAD])
def test_bad_inputs_raise_errors_naming_the_fix(call, error, words):
    x = cr.tensor(data((3, 4)))
    with pytest.raises(error, match=words):
        call(x)

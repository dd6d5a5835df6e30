"""Sweep of linear algebra and indexing: the gradient of ``x[index] = v`` for the written
values ``v`` when the index repeats a position.

NumPy's rule (and chainrule's forward) is that the last write wins, so y = x.copy();
y[index] = v depends only on the entries of v that land last; the overwritten entries of v
reach nothing and their gradient must be exactly 0.  The reference gradient here is exact:
y is linear in v, so d sum(y * ct) / dv is found column by column with unit vectors in
NumPy (the same rule a finite difference would give, without rounding).  Covered: repeated
integer arrays on one or several axes, negative indices aliasing positive ones, mixed
basic + advanced indexing, Ellipsis, a broadcast v, a write through a view, float32 and
float64, the numpy and torch backends.  Non-repeating indices are checked as controls.
"""
import numpy as np
import pytest

import chainrule as cr

BACKENDS = ["numpy", "torch"]
DTYPES = ["float64", "float32"]

X_SHAPE = (4, 5, 6)

# name: (index, shape of v)
REPEATED = {
    "int_array_repeats": ((np.array([0, 0, 2]),), (3, 5, 6)),
    "broadcast_v": ((np.array([0, 0, 2]),), (6,)),
    "repeats_on_axis1": ((slice(None), np.array([1, 1, 1])), (4, 3, 6)),
    "two_arrays_2d": ((np.array([[0, 1], [0, 1]]), np.array([[2, 2], [2, 2]])), (2, 2, 6)),
    "mixed_negative_step": ((np.array([3, 3]), slice(None, None, -1), np.array([1, 1])), (2, 5)),
    "negative_alias": ((np.array([-1, 3]),), (2, 5, 6)),
    "ellipsis_array": ((Ellipsis, np.array([5, 5, 0])), (4, 5, 3)),
    "separated_arrays": ((np.array([0, 0]), slice(0, 2), np.array([1, 1])), (2, 2)),
    "separated_broadcast_v": ((np.array([0, 0]), slice(0, 2), np.array([1, 1])), (2, 1)),
}
CONTROLS = {
    "int": ((1,), ()),
    "slice": ((slice(1, 3),), (6,)),
    "negative_step": ((slice(None, None, -2), slice(None), 0), (2, 5)),
    "unique_array": ((np.array([2, 0]),), (2, 5, 6)),
    "bool_mask": ((np.arange(20).reshape(4, 5) % 3 == 0,), (7, 6)),
}


def _exact_grads(index, ct, vshape, v0):
    """(d/dx, d/dv) of sum(y * ct), y = x.copy(); y[index] = v, from NumPy's forward."""
    gx = ct.copy()
    gx[index] = 0
    gv = np.zeros(vshape)
    for k in np.ndindex(*vshape):
        e = np.zeros(vshape)
        e[k] = 1
        y1 = np.zeros(X_SHAPE)
        y1[index] = v0 + e
        y0 = np.zeros(X_SHAPE)
        y0[index] = v0
        gv[k] = ((y1 - y0) * ct).sum()
    return gx, gv


def _run(backend, dtype, index, vshape, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal(X_SHAPE)
    v0 = rng.standard_normal(vshape)
    ct = rng.standard_normal(X_SHAPE)
    x = cr.tensor(x0.astype(dtype), backend=backend, requires_grad=True)
    v = cr.tensor(v0.astype(dtype), backend=backend, requires_grad=True)
    y = x * 1
    y[index] = v
    ref = x0.astype(dtype).copy()
    ref[index] = v0.astype(dtype)
    np.testing.assert_array_equal(y.numpy(), ref)   # the forward: last write wins
    cr.sum(y * cr.tensor(ct.astype(dtype), backend=backend)).backward()
    gx, gv = _exact_grads(index, ct, vshape, v0)
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert str(v.grad.dtype) == dtype and tuple(v.grad.shape) == vshape
    np.testing.assert_allclose(x.grad.numpy(), gx, atol=tol)
    np.testing.assert_allclose(v.grad.numpy(), gv, atol=tol,
                               err_msg="an overwritten value of x[index] = v got a gradient")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(REPEATED))
def test_setitem_repeated_index_overwritten_values_get_zero_gradient(backend, dtype, name):
    index, vshape = REPEATED[name]
    _run(backend, dtype, index, vshape)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_setitem_gradient_controls(backend, name):
    index, vshape = CONTROLS[name]
    _run(backend, "float64", index, vshape)


@pytest.mark.parametrize("backend", BACKENDS)
def test_setitem_repeated_index_through_a_view(backend):
    """y[1][[0, 0, 2]] = v: the write through a view lands last-wins as well."""
    x = cr.tensor(np.zeros((2, 4)), requires_grad=True, backend=backend)
    v = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, backend=backend)
    y = x * 1
    row = y[1]
    row[np.array([0, 0, 2])] = v
    np.testing.assert_array_equal(y.numpy(), [[0, 0, 0, 0], [2, 0, 3, 0]])
    weights = np.arange(8.0).reshape(2, 4) * 10
    cr.sum(y * cr.tensor(weights, backend=backend)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 10, 20, 30], [0, 50, 0, 70]])
    np.testing.assert_array_equal(v.grad.numpy(), [0.0, 40.0, 60.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_setitem_repeated_index_second_order(backend):
    """The corrected gradient stays differentiable (create_graph): d/dv of (dL/dv . w)."""
    x = cr.tensor(np.ones(4), requires_grad=True, backend=backend)
    v = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, backend=backend)
    y = x * 1
    y[np.array([0, 0, 2])] = v
    loss = cr.sum(y ** 2)       # dL/dv = 2 v on the winners, 0 on the overwritten v[0]
    loss.backward(create_graph=True)
    np.testing.assert_allclose(v.grad.detach().numpy(), [0.0, 4.0, 6.0])

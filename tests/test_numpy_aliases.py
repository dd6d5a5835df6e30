"""NumPy's other spellings (core/ops/aliases.py) and the coverage of what HIPS autograd
differentiates: code written for ``autograd.numpy`` finds every function under the same name."""
import numpy as np
import pytest
import torch

import chainrule as cr

# The NumPy functions HIPS autograd registers a VJP for (autograd/numpy/numpy_vjps.py and
# linalg.py, read 2026-12), public names only; the complex-number helpers are real-input here.
AUTOGRAD_NUMPY = """abs absolute add amax amin angle arccos arccosh arcsin arcsinh arctan arctan2 arctanh
array_split atleast_1d atleast_2d atleast_3d broadcast_to clip concatenate conj conjugate cos cosh
cross cumsum deg2rad degrees diag diagonal diff divide dot dsplit einsum exp exp2 expand_dims expm1
fabs fliplr flipud fmax fmin full gradient hsplit hypot imag inner kron linspace log log10 log1p log2
logaddexp logaddexp2 matmul max maximum mean min minimum mod moveaxis msort multiply nan_to_num
negative outer pad partition power prod rad2deg radians ravel real real_if_close reciprocal remainder
repeat reshape roll rollaxis rot90 sin sinc sinh sort split sqrt square squeeze std subtract sum
swapaxes tan tanh tensordot tile trace transpose tril triu true_divide var vsplit where""".split()
AUTOGRAD_LINALG = "cholesky det eig eigh inv norm pinv slogdet solve svd".split()


def test_every_function_hips_autograd_differentiates_has_its_numpy_name():
    missing = [n for n in AUTOGRAD_NUMPY if not callable(getattr(cr, n, None))]
    missing += [f"linalg.{n}" for n in AUTOGRAD_LINALG if not callable(getattr(cr.linalg, n, None))]
    assert not missing, missing


X = np.array([[1.5, -2.0, 3.0, 0.5], [5.0, 6.0, -7.0, 8.0]])


@pytest.mark.parametrize("name, call", [
    ("absolute", lambda m, x: m.absolute(x)), ("fabs", lambda m, x: m.fabs(x)),
    ("true_divide", lambda m, x: m.true_divide(x, 3.0)), ("amax", lambda m, x: m.amax(x, axis=1)),
    ("amin", lambda m, x: m.amin(x, axis=0)), ("concatenate", lambda m, x: m.concatenate([x, x], axis=1)),
    ("rollaxis", lambda m, x: m.rollaxis(m.reshape(x, (2, 2, 2)), 2, 0)),
    ("real", lambda m, x: m.real(x)), ("conj", lambda m, x: m.conj(x)), ("imag", lambda m, x: m.imag(x)),
    ("angle", lambda m, x: m.angle(x)), ("angle deg", lambda m, x: m.angle(x, deg=True)),
    ("linspace", lambda m, x: m.linspace(-1.0, 2.0, 7)),
    ("linspace no end", lambda m, x: m.linspace(-1.0, 2.0, 6, endpoint=False)),
])
def test_values_are_numpys(name, call):
    ours = call(cr, cr.tensor(X, dtype="float64"))
    np.testing.assert_allclose(np.asarray(ours.numpy(), dtype=np.float64), call(np, X), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("name", ["hsplit", "vsplit", "array_split"])
def test_splits_are_numpys(name):
    x = np.arange(24.0).reshape(2, 4, 3)
    sections = 3 if name == "array_split" else 2
    ours = getattr(cr, name)(cr.tensor(x, dtype="float64"), sections)
    theirs = getattr(np, name)(x, sections)
    assert [o.numpy().tolist() for o in ours] == [t.tolist() for t in theirs]


def test_dsplit_and_an_uneven_split():
    x = np.arange(24.0).reshape(2, 3, 4)
    assert [o.numpy().tolist() for o in cr.dsplit(cr.tensor(x), 2)] == [t.tolist() for t in np.dsplit(x, 2)]
    with pytest.raises(cr.ShapeError, match="array_split"):
        cr.hsplit(cr.tensor(x), 2)     # axis 1 has length 3: NumPy refuses too
    with pytest.raises(cr.ShapeError):
        cr.vsplit(cr.ones((3,)), 3)


def test_linspace_is_differentiable_in_its_ends_like_torch():
    a, b = cr.tensor(-1.0, dtype="float64", requires_grad=True), cr.tensor(2.0, dtype="float64", requires_grad=True)
    w = np.arange(1.0, 8.0)
    cr.sum(cr.linspace(a, b, 7) * cr.tensor(w)).backward()
    ta, tb = torch.tensor(-1.0, dtype=torch.float64, requires_grad=True), torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    (((1 - t) * ta + t * tb) * torch.tensor(w)).sum().backward()
    assert a.grad.item() == pytest.approx(ta.grad.item()) and b.grad.item() == pytest.approx(tb.grad.item())
    assert cr.gradcheck(lambda a, b: cr.linspace(a, b, 5), (a.detach(), b.detach()), order=2)


def test_the_real_number_helpers_have_numpys_gradients():
    """real/conj are the identity; imag and angle are constants of a real input."""
    x = cr.tensor(X, dtype="float64", requires_grad=True)
    cr.sum(cr.real(x) * 2 + cr.conj(x) + cr.imag(x) + cr.angle(x)).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(X.shape, 3.0))


def test_rollaxis_refuses_an_axis_out_of_range():
    with pytest.raises(cr.ShapeError, match="rollaxis"):
        cr.rollaxis(cr.ones((2, 3)), 2)

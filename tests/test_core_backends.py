"""The backend tier of the core suite: the lessons' examples, transforms, in-place updates and
a training run on every backend that can run here, checked against the numpy backend."""
import numpy as np
import pytest

import chainrule as cr
from backend_fixtures import backend  # noqa: F401  (the fixture)


def _np(x):
    return np.asarray(x.numpy(), dtype=np.float64)


def test_lesson_graph_on_every_backend(backend):
    a, b, c = (cr.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
    ((a * b + c) ** 2).backward()
    assert a.backend == cr.get_backend().name
    assert (float(a.grad), float(b.grad), float(c.grad)) == (60.0, 40.0, 20.0)


def _ref(fn, arrays):
    with cr.use_backend("numpy"):
        return fn(*[cr.tensor(a, dtype="float64") for a in arrays])


CASES = {
    "grad": (lambda W, x: cr.grad(lambda W: cr.sum(cr.tanh(W @ x)))(W), [(4, 4), (4,)]),
    "hvp": (lambda W, x: cr.hvp(lambda W: cr.sum(cr.tanh(W @ x)), (W,), (W * 0.5,))[1], [(4, 4), (4,)]),
    "jacrev": (lambda x, y: cr.jacrev(lambda x: cr.nn.softmax(x * y))(x), [(5,), (5,)]),
    "jacfwd": (lambda x, y: cr.jacfwd(lambda x: cr.nn.gelu(x) * y)(x), [(5,), (5,)]),
    "grad3": (lambda x, y: cr.grad(cr.grad(cr.grad(lambda x: cr.sum(x ** 4 * y))))(x[0]), [(3,), (3,)]),
    "cross_entropy": (lambda z, w: cr.grad(lambda z: cr.nn.cross_entropy(z * w, cr.tensor([0, 2, 1])))(z),
                      [(3, 4), (3, 4)]),
    "layer_norm": (lambda x, w: cr.vjp(cr.nn.layer_norm, x)[1](w)[0], [(3, 5), (3, 5)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_transforms_agree_with_numpy_backend(backend, name):
    fn, shapes = CASES[name]
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in shapes]
    got = fn(*[cr.tensor(a, dtype="float64") for a in arrays])
    assert got.backend == cr.get_backend().name
    np.testing.assert_allclose(_np(got), _np(_ref(fn, arrays)), rtol=1e-10, atol=1e-12)


def test_gradcheck_through_the_backend(backend):
    x = cr.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype="float64")
    assert cr.gradcheck(lambda x: cr.nn.log_softmax(cr.sin(x) * x), (x,), order=2)


def test_inplace_and_version_errors(backend):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    b = x * 2
    c = b * b
    b += 1
    with pytest.raises(cr.InplaceError):
        c.sum().backward()
    with cr.no_grad():
        x -= 0.5
    assert x.tolist() == [0.5, 1.5]


def test_demo_training_matches_numpy(backend):
    from chainrule.demo import train
    losses = train(steps=40, quiet=True)
    with cr.use_backend("numpy"):
        ref = train(steps=40, quiet=True)
    np.testing.assert_allclose(losses, ref, rtol=2e-4, atol=2e-5)
    assert losses[-1] < losses[0]

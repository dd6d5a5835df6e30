"""cross_entropy to second order, against torch.func: its VJP is one op,
(softmax(z) - targets) / B, whose own VJP and JVP carry the Hessian
(reverse-over-reverse, forward-over-reverse, per example under vmap)."""
import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch", reason="torch is the oracle here (pip install -e '.[test]')")
from torch.func import grad as tgrad, hessian as thessian, jvp as tjvp, vmap as tvmap  # noqa: E402
import torch.nn.functional as F  # noqa: E402

RNG = np.random.default_rng(5)
LOGITS = RNG.standard_normal((4, 3)) * 2
CLASSES = np.array([2, 0, 1, 2])
PROBS = RNG.dirichlet(np.ones(3), size=4)
TANGENT = RNG.standard_normal((4, 3))


def _labels(kind, lib):
    values = CLASSES if kind == "classes" else PROBS
    return cr.tensor(values) if lib == "cr" else torch.tensor(values)


def _cr_loss(kind, reduction):
    def f(z, y=None):
        out = cr.nn.cross_entropy(z * 1.5, _labels(kind, "cr") if y is None else y, reduction=reduction)
        return out if reduction != "none" else cr.sum(out * cr.arange(1.0, 5.0, dtype="float64"))
    return f


def _torch_loss(kind, reduction):
    def f(z, y=None):
        out = F.cross_entropy(z * 1.5, _labels(kind, "torch") if y is None else y, reduction=reduction)
        return out if reduction != "none" else (out * torch.arange(1.0, 5.0, dtype=torch.float64)).sum()
    return f


CASES = [(kind, reduction) for kind in ("classes", "probabilities") for reduction in ("mean", "sum", "none")]


@pytest.mark.parametrize("kind, reduction", CASES)
def test_hessian_in_the_logits_matches_torch(kind, reduction):
    got = cr.hessian(_cr_loss(kind, reduction))(cr.tensor(LOGITS)).numpy()
    want = thessian(_torch_loss(kind, reduction))(torch.tensor(LOGITS)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind, reduction", CASES)
def test_hvp_forward_over_reverse_and_reverse_over_reverse_match_torch(kind, reduction):
    f, tf = _cr_loss(kind, reduction), _torch_loss(kind, reduction)
    z, v = cr.tensor(LOGITS), cr.tensor(TANGENT)
    _, fwd_rev = cr.jvp(cr.grad(f), (z,), (v,))
    rev_rev = cr.grad(lambda z: cr.sum(cr.grad(f)(z) * v))(z)
    _, want = tjvp(tgrad(tf), (torch.tensor(LOGITS),), (torch.tensor(TANGENT),))
    np.testing.assert_allclose(fwd_rev.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rev_rev.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mixed_second_derivative_in_probability_targets_matches_torch(reduction):
    """d/dy of dloss/dz: the residual's rule for the targets (-1) composed with the scale."""
    f, tf = _cr_loss("probabilities", reduction), _torch_loss("probabilities", reduction)
    got = cr.grad(lambda y: cr.sum(cr.grad(f)(cr.tensor(LOGITS), y) * cr.tensor(TANGENT)))(cr.tensor(PROBS))
    want = tgrad(lambda y: (tgrad(tf)(torch.tensor(LOGITS), y) * torch.tensor(TANGENT)).sum())(torch.tensor(PROBS))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["classes", "probabilities"])
def test_per_example_gradients_and_hessian_diagonals_under_vmap_match_torch(kind):
    labels = CLASSES if kind == "classes" else PROBS

    def cr_one(z, y):
        return cr.nn.cross_entropy(z * 1.5, y)

    def torch_one(z, y):
        return F.cross_entropy((z * 1.5)[None], y[None])
    z, y = cr.tensor(LOGITS), cr.tensor(labels)
    tz, ty = torch.tensor(LOGITS), torch.tensor(labels)
    np.testing.assert_allclose(cr.vmap(cr.grad(cr_one))(z, y).numpy(),
                               tvmap(tgrad(torch_one))(tz, ty).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cr.vmap(cr.hessian(cr_one))(z, y).numpy(),
                               tvmap(thessian(torch_one))(tz, ty).numpy(), rtol=1e-10, atol=1e-12)


# Probability targets that do not sum to 1 (weights, a smoothing done by hand, a zero row):
# the gradient is softmax(z) * sum(y) - y, not softmax(z) - y (which chainrule gave before).
UNNORMALIZED = {
    "doubled one-hot": np.eye(3)[CLASSES] * 2.0,
    "random weights": RNG.random((4, 3)) * 3,
    "a zero row": np.vstack([np.zeros((1, 3)), PROBS[1:]]),
    "negative entries": RNG.standard_normal((4, 3)),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("targets", sorted(UNNORMALIZED))
def test_targets_that_do_not_sum_to_one_match_torch_to_second_order(targets, reduction):
    y = UNNORMALIZED[targets]
    f, tf = _cr_loss("probabilities", reduction), _torch_loss("probabilities", reduction)
    z, tz = cr.tensor(LOGITS), torch.tensor(LOGITS)
    for got, want in [
        (cr.grad(f)(z, cr.tensor(y)), tgrad(tf)(tz, torch.tensor(y))),
        (cr.grad(f, argnums=1)(z, cr.tensor(y)), tgrad(tf, argnums=1)(tz, torch.tensor(y))),
        (cr.hessian(lambda z: f(z, cr.tensor(y)))(z), thessian(lambda z: tf(z, torch.tensor(y)))(tz)),
        (cr.jvp(lambda y: cr.grad(f)(z, y), (cr.tensor(y),), (cr.tensor(TANGENT),))[1],
         tjvp(lambda y: tgrad(tf)(tz, y), (torch.tensor(y),), (torch.tensor(TANGENT),))[1]),
    ]:
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)

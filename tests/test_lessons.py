"""The lessons' worked examples (shared/lessons/000, 002), reproduced with chainrule.
Truth: the lessons' hand computations, redone here in plain Python / NumPy."""
import math

import numpy as np
import pytest

import chainrule as cr
from conftest import rand, assert_close, F64


def test_a_times_b_plus_c_squared():
    a, b, c = (cr.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
    L = (a * b + c) ** 2
    L.backward()
    assert float(L) == 100.0
    assert (float(a.grad), float(b.grad), float(c.grad)) == (60.0, 40.0, 20.0)
    assert a.grad.dtype == cr.float32


def test_sigmoid_neuron_graph_by_hand():
    """Lesson 000: w, x, b, y = 0.5, 2.0, 0.1, 1.0; L = (sigmoid(w x + b) - y)^2."""
    w, x, b, y = 0.5, 2.0, 0.1, 1.0
    n1 = w * x
    n2 = n1 + b
    n3 = 1 / (1 + math.exp(-n2))
    n4 = n3 - y
    dL_n2 = 2 * n4 * n3 * (1 - n3)
    dL_dw, dL_db = dL_n2 * x, dL_n2
    tw, tb = cr.tensor(w, dtype=F64, requires_grad=True), cr.tensor(b, dtype=F64, requires_grad=True)
    L = (cr.nn.sigmoid(tw * x + tb) - y) ** 2
    L.backward()
    assert float(L) == pytest.approx(n4 ** 2, rel=1e-14)
    assert float(tw.grad) == pytest.approx(dL_dw, rel=1e-12)
    assert float(tb.grad) == pytest.approx(dL_db, rel=1e-12)
    # the lesson computes with e ~ 2.718 and prints 4 decimals: same numbers at that precision
    n3_lesson = 1 / (1 + 2.718 ** (-1.1))
    lesson_db = 2 * (n3_lesson - 1) * n3_lesson * (1 - n3_lesson)
    assert round(float(tb.grad), 3) == round(lesson_db, 3)
    assert round(float(tw.grad), 3) == round(lesson_db * 2.0, 3)
    assert abs(n3 - 0.750) < 1e-3 and abs(n4 ** 2 - 0.0625) < 1e-3


def test_chain_rule_step_by_step_mean_squared_sigmoid():
    """Lesson 000: L = mean((sigmoid(W x + b) - y)^2), W (1,3), x (3,)."""
    W0, x0, b0, y0 = np.array([[0.3, -0.2, 0.5]]), np.array([1.0, 2.0, 3.0]), np.array([0.1]), np.array([1.0])
    z = W0 @ x0 + b0
    a = 1 / (1 + np.exp(-z))
    dL_dz = 2 * (a - y0) / 1 * (a * (1 - a))
    W, b = cr.tensor(W0, requires_grad=True), cr.tensor(b0, requires_grad=True)
    x = cr.tensor(x0)
    L = cr.nn.mse_loss(cr.nn.sigmoid(W @ x + b), cr.tensor(y0))
    L.backward()
    assert_close(W.grad, dL_dz[:, None] * x0[None, :])
    assert_close(b.grad, dL_dz)


def test_matmul_backward_shapes_and_formulas():
    X, W = rand((4, 8), seed=1, requires_grad=True), rand((8, 16), seed=2, requires_grad=True)
    g = rand((4, 16), seed=3)
    (X @ W).backward(g)
    assert X.grad.shape == (4, 8) and W.grad.shape == (8, 16)
    assert_close(X.grad, g.numpy() @ W.numpy().T)      # dX = g W^T
    assert_close(W.grad, X.numpy().T @ g.numpy())      # dW = X^T g


def test_linear_relu_worked_example():
    """Lesson 002: X = [[1,2,3],[4,5,6]], W = [[1,0],[0,1],[1,1]] -> Z = [[4,5],[10,11]]; all
    positive, so ReLU's backward passes g through; dW = X^T g (3,2), dX = g W^T (2,3)."""
    X = cr.tensor([[1, 2, 3], [4, 5, 6]], dtype=F64, requires_grad=True)
    W = cr.tensor([[1, 0], [0, 1], [1, 1]], dtype=F64, requires_grad=True)
    Z = X @ W
    assert Z.tolist() == [[4, 5], [10, 11]]
    g = np.array([[1.0, -1.0], [0.5, 2.0]])
    cr.nn.relu(Z).backward(cr.tensor(g, dtype=F64))
    assert W.grad.shape == (3, 2) and X.grad.shape == (2, 3)
    assert_close(W.grad, X.numpy().T @ g)
    assert_close(X.grad, g @ W.numpy().T)


@pytest.mark.parametrize("B,C", [(5, 4), (1, 3), (16, 10)])
def test_softmax_cross_entropy_gradient_is_p_minus_onehot_over_B(B, C):
    z = rand((B, C), seed=B, requires_grad=True)
    y = cr.tensor(np.random.default_rng(B).integers(0, C, B))
    cr.nn.cross_entropy(z, y).backward()
    e = np.exp(z.numpy() - z.numpy().max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    assert_close(z.grad, (p - np.eye(C)[y.numpy()]) / B, rtol=1e-12)
    # the same from the unfused formula, and through cr.grad
    g = cr.grad(lambda z: -cr.mean(cr.sum(cr.nn.log_softmax(z) * cr.tensor(np.eye(C)[y.numpy()]), axis=-1)))(z.detach())
    assert_close(g, z.grad)


def test_cross_entropy_is_stable_for_huge_logits():
    for dtype in ("float32", "float64"):
        z = cr.tensor([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]], dtype=dtype, requires_grad=True)
        loss = cr.nn.cross_entropy(z, cr.tensor([1, 2]))
        loss.backward()
        assert float(loss) == pytest.approx(1000.0, rel=1e-6)      # (2000 + 0) / 2
        assert np.all(np.isfinite(z.grad.numpy()))
        assert_close(z.grad, np.array([[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]]), rtol=1e-6, atol=1e-7)
        assert np.isfinite(float(cr.logsumexp(z))) and float(cr.logsumexp(z)) == pytest.approx(1000 + math.log(2))
        assert np.all(np.isfinite(cr.nn.log_softmax(z).numpy()))


@pytest.mark.parametrize("C", [2, 10, 1000])
def test_loss_is_log_C_at_uniform_logits(C):
    z = cr.zeros((4, C), requires_grad=True)
    loss = cr.nn.cross_entropy(z, cr.tensor([0, 1, 1, C - 1]))
    assert float(loss) == pytest.approx(math.log(C), rel=1e-6)
    loss.backward()
    assert_close(z.grad.numpy().sum(1), np.zeros(4), atol=1e-7)   # rows of p - onehot sum to 0


def test_lesson_gradient_check_on_tanh_layer():
    """Code Lab 2.2: pred = tanh(W x + b), loss = mean(pred^2), by the lesson's own checker
    (central differences, relative error < 1e-5) against chainrule's gradients, and cr.gradcheck."""
    rng = np.random.default_rng(0)
    W0, b0 = rng.standard_normal((2, 3)), rng.standard_normal(2)
    x = np.array([1.0, 2.0, 3.0])

    def loss_np(W, b):
        return float(np.mean(np.tanh(W @ x + b) ** 2))

    W, b = cr.tensor(W0, requires_grad=True), cr.tensor(b0, requires_grad=True)
    cr.mean(cr.tanh(W @ cr.tensor(x) + b) ** 2).backward()
    h = 1e-5
    for p0, g, shift in ((W0, W.grad.numpy(), lambda d: (W0 + d, b0)), (b0, b.grad.numpy(), lambda d: (W0, b0 + d))):
        num = np.zeros_like(p0)
        for idx in np.ndindex(p0.shape):
            d = np.zeros_like(p0)
            d[idx] = h
            num[idx] = (loss_np(*shift(d)) - loss_np(*shift(-d))) / (2 * h)
        err = np.max(np.abs(g - num) / (np.abs(g) + np.abs(num) + 1e-8))
        assert err < 1e-5, err
    f = lambda W, b: cr.mean(cr.tanh(W @ cr.tensor(x) + b) ** 2)
    assert cr.gradcheck(f, (cr.tensor(W0), cr.tensor(b0)), order=2)


def test_gradcheck_names_a_broken_rule():
    bad = cr.ops.register("lesson_bad_tanh", lambda x: cr.tanh(x),
                          vjp=lambda ans, x: lambda g: g * (1 + ans * ans),   # sign error
                          jvp=lambda t, ans, x: t[0] * (1 - ans * ans), replace=True)
    x = rand((3,), seed=1)
    try:
        with pytest.raises(cr.GradcheckError) as err:
            cr.gradcheck(lambda x: bad(x), (x,), modes=("rev",))
        assert "argument 0" in str(err.value) and err.value.argnum == 0 and err.value.max_error > 0
        assert cr.gradcheck(lambda x: bad(x), (x,), modes=("fwd",))
    finally:
        cr.ops.registry._registry.pop("lesson_bad_tanh", None)   # leave the registry as built

"""Audit of the two lessons (shared/lessons/000_*.txt, the chapter "Calculus & Optimization";
shared/lessons/002_*.txt, the day "Backprop & Optimizers"): the rows that no example or test
checked before, each computed with chainrule and compared with the lesson's own formula or
number, the passage cited in the test's docstring.

The rows already reproduced and tested elsewhere (tests/test_lessons.py,
tests/test_examples_*.py, tests/test_optim.py, tests/test_schedules.py, tests/test_init.py,
tests/test_amp.py, tests/test_diagnostics.py) are not repeated here.  Where a lesson's
formula and chainrule's (torch's) convention differ, the test pins down the exact relation,
so that a change on either side shows.

Every test runs in float64 on the default backend unless it says otherwise, takes well under
a second, and needs no network.  Tolerances: "exact" (rel 1e-12..1e-15) where chainrule's
arithmetic is the lesson's formula operation for operation; otherwise the bound is derived
in a comment next to it.
"""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.autodiff import Interceptor, bind

F64 = "float64"
CHAPTER = "shared/lessons/000_c2e3b0b6b462dbb4.txt"
DAY = "shared/lessons/002_0ef235ddb465ec22.txt"


def t64(value, requires_grad=False):
    return cr.tensor(np.asarray(value, dtype=np.float64), dtype=F64, requires_grad=requires_grad)


def run_optimizer(name, p0, grads, **hp):
    """The parameter after each step of optimizer ``name`` fed the gradients ``grads``."""
    w = t64(p0.copy(), requires_grad=True)
    opt = cr.optim.create(name, [w], **hp)
    path = []
    for g in grads:
        w.grad = t64(g)
        opt.step()
        path.append(w.numpy().copy())
    return np.array(path)


@pytest.fixture
def problem():
    rng = np.random.default_rng(2024)
    return rng.standard_normal((3, 4)), [rng.standard_normal((3, 4)) for _ in range(25)]


class OpCounter(Interceptor):
    """Records the name of every op application (forward, and the ops backward rules bind)."""

    def __init__(self):
        super().__init__()
        self.names = []

    def apply(self, op, args, params):
        self.names.append(op.name)
        return bind(op, args, params)


# ----------------------------------------------------------------- chapter 2.6: vanishing

def test_vanishing_gradient_table_down_to_fifty_layers():
    """CHAPTER 2.6 "Demonstrating vanishing gradients": L=1: 2.50e-01, L=5: 9.77e-04,
    L=10: 9.54e-07, L=20: 9.09e-13, "L=50: sigmoid=~10^-30  relu=1.0".  Here the gradient
    really flows back through L chainrule sigmoids whose pre-activation is 0 (x - stop_grad(x)
    has derivative 1), and through L ReLUs at a positive input.  sigmoid'(0) = 0.5 * 0.5 is
    exact in binary, so the product is 0.25^L bit for bit (exact comparison)."""
    for depth in (1, 5, 10, 20, 50):
        sig = cr.grad(lambda x: _sigmoid_stack(x, depth))(t64(0.3))
        relu = cr.grad(lambda x: _relu_stack(x, depth))(t64(0.3))
        assert float(sig) == 0.25 ** depth
        assert float(relu) == 1.0
    printed = {1: "2.50e-01", 5: "9.77e-04", 10: "9.54e-07", 20: "9.09e-13"}
    for depth, text in printed.items():
        assert f"{0.25 ** depth:.2e}" == text
    assert 1e-31 < 0.25 ** 50 < 1e-30                         # "~10^-30" (7.9e-31)
    assert 0.25 ** 10 <= 1e-6                                 # 2.1: "(0.25)^10 ~ 0.000001"


def _sigmoid_stack(x, depth):
    for _ in range(depth):
        x = cr.nn.sigmoid(x - cr.stop_gradient(x))
    return x


def _relu_stack(x, depth):
    for _ in range(depth):
        x = cr.nn.relu(x)
    return x


# ----------------------------------------------------------------- momentum, two forms

def test_chapter_momentum_is_the_ema_form_with_lr_times_one_minus_beta(problem):
    """CHAPTER 2.7 "Momentum": v <- beta v + (1 - beta) g; theta <- theta - eta v (class
    SGDMomentum, lr=0.01, momentum=0.9, v from zeros).  chainrule's sgd is torch's heavy-ball
    form v <- beta v + g (the day lesson's), so the EMA velocity is (1 - beta) times it: the
    chapter's optimizer is sgd(momentum=beta, lr=eta (1 - beta)), step for step.  Same
    operations up to the order of one multiply: rel 1e-12."""
    p0, grads = problem
    eta, beta = 0.01, 0.9
    p, v, lesson = p0.copy(), np.zeros_like(p0), []
    for g in grads:
        v = beta * v + (1 - beta) * g
        p = p - eta * v
        lesson.append(p.copy())
    ours = run_optimizer("sgd", p0, grads, lr=eta * (1 - beta), momentum=beta)
    np.testing.assert_allclose(ours, lesson, rtol=1e-12, atol=1e-15)
    # dampening=beta is NOT the chapter's form: torch (and chainrule) skip the dampening on the
    # first step (buf_1 = g), so step 1 moves by eta * g, not eta * (1 - beta) * g
    damped = run_optimizer("sgd", p0, grads[:1], lr=eta, momentum=beta, dampening=beta)
    np.testing.assert_allclose(damped[0], p0 - eta * grads[0], rtol=1e-15)
    assert not np.allclose(damped[0], lesson[0])


def test_day_momentum_is_the_heavy_ball_form(problem):
    """DAY "SGD + Momentum": v <- beta v + grad (beta ~ 0.9); w <- w - lr v, and the table row
    "SGD + Momentum | v <- beta v + grad; w <- w - lr v | 1 (v)".  The same arithmetic: exact
    up to one rounding per step, rel 1e-12.  One state array per parameter."""
    p0, grads = problem
    lr, beta = 0.05, 0.9
    p, v, lesson = p0.copy(), np.zeros_like(p0), []
    for g in grads:
        v = beta * v + g
        p = p - lr * v
        lesson.append(p.copy())
    np.testing.assert_allclose(run_optimizer("sgd", p0, grads, lr=lr, momentum=beta), lesson,
                               rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------- Adam, AdamW, RMSProp, Lion

def lesson_adam(p0, grads, lr, b1, b2, eps, l2=0.0, decoupled=0.0, decay_after=False):
    """The lessons' Adam (CHAPTER 2.7 class Adam; DAY "Adam - Adaptive Moment Estimation"),
    with the day's AdamW term - lr * lambda * w (decoupled) or the chapter's order, "update w
    with g, then w <- w (1 - eta lambda)" (decay_after)."""
    p, m, v, path = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), []
    for t, g in enumerate(grads, 1):
        g = g + l2 * p                                   # Adam: g <- g + lambda w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        step = lr * m_hat / (np.sqrt(v_hat) + eps)
        if decay_after:
            p = (p - step) * (1 - lr * decoupled)
        else:
            p = p - step - lr * decoupled * p
        path.append(p.copy())
    return np.array(path)


def test_adam_defaults_and_update_rule(problem):
    """DAY table row "Adam | w <- w - lr m_hat/(sqrt(v_hat)+eps) | 2 (m, v) | lr, beta1=0.9,
    beta2=0.999, eps=1e-8" and "Adam works at lr = 1e-3"; CHAPTER 2.7 class Adam
    (b1=0.9, b2=0.999, eps=1e-8; its lr default is 3e-4, chainrule's and torch's 1e-3, the day
    lesson's number).  chainrule's Adam with its defaults is the lessons' formula: the same
    operations, regrouped (sqrt(v)/sqrt(1 - b2^t) for sqrt(v_hat)), so rel 1e-12."""
    defaults = cr.optim.get("adam").defaults
    assert defaults["betas"] == (0.9, 0.999) and defaults["eps"] == 1e-8 and defaults["lr"] == 1e-3
    p0, grads = problem
    np.testing.assert_allclose(run_optimizer("adam", p0, grads),
                               lesson_adam(p0, grads, 1e-3, 0.9, 0.999, 1e-8), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(run_optimizer("adam", p0, grads, lr=3e-4),            # the chapter's lr
                               lesson_adam(p0, grads, 3e-4, 0.9, 0.999, 1e-8), rtol=1e-12, atol=1e-15)
    w = t64(p0.copy(), requires_grad=True)
    opt = cr.optim.create("adam", [w])
    w.grad = t64(grads[0])
    opt.step()
    assert sorted(k for k, v in opt.state["0"].items() if not isinstance(v, int)) == ["exp_avg", "exp_avg_sq"]


def test_adam_bias_correction_makes_the_first_step_lr_sized():
    """DAY "Why bias correction?": m and v start at zero and underestimate; "without correction
    the very first updates would be enormous"; the 1/(1 - beta^t) terms divide that out.
    With correction, step 1 is lr * g / (|g| + eps): lr * sign(g) up to eps/|g| <= 1e-8/1e-3
    relative.  Without it, (1 - b1)/sqrt(1 - b2) = 0.1/0.0316 = 3.16 times that."""
    g = np.array([1e-3, -2.0, 50.0, -7e2])
    w = t64(np.zeros(4), requires_grad=True)
    opt = cr.optim.create("adam", [w], lr=0.1)
    w.grad = t64(g)
    opt.step()
    np.testing.assert_allclose(w.numpy(), -0.1 * np.sign(g), rtol=1e-5)
    uncorrected = 0.1 * (0.1 * g) / np.sqrt(0.001 * g * g)
    np.testing.assert_allclose(np.abs(uncorrected) / 0.1, 0.1 / math.sqrt(0.001), rtol=1e-12)


def test_adamw_gpt3_recipe_is_the_day_formula_and_close_to_the_chapter_order(problem):
    """DAY "AdamW": w <- w - lr m_hat/(sqrt(v_hat)+eps) - lr lambda w, "typical lambda = 0.1";
    CHAPTER 2.7 "Standard AdamW hyperparameters": lr 3e-4, betas (0.9, 0.95), eps 1e-8,
    weight_decay 0.1.  chainrule is the day's formula exactly (rel 1e-12).  The chapter writes
    the decay after the update, "update w with g, then w <- w (1 - eta lambda)", which differs
    by eta * lambda * (eta * u), u = m_hat/(sqrt(v_hat)+eps) with |u| <~ 3 (|u| = 1 at step 1):
    <= (3e-4)^2 * 0.1 * 3 = 2.7e-8 per step, and the differences add over 25 steps: atol 1e-6,
    still 300x below one step's size lr = 3e-4 (so the two orders are the same rule to first
    order, and not bit-identical)."""
    p0, grads = problem
    hp = dict(lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    ours = run_optimizer("adamw", p0, grads, **hp)
    np.testing.assert_allclose(ours, lesson_adam(p0, grads, 3e-4, 0.9, 0.95, 1e-8, decoupled=0.1),
                               rtol=1e-12, atol=1e-15)
    chapter = lesson_adam(p0, grads, 3e-4, 0.9, 0.95, 1e-8, decoupled=0.1, decay_after=True)
    np.testing.assert_allclose(ours, chapter, rtol=0, atol=1e-6)
    assert not np.array_equal(ours, chapter)
    # chainrule's default weight decay is torch's 0.01, not the lessons' "typical" 0.1
    assert cr.optim.get("adamw").defaults["weight_decay"] == 0.01


def test_adam_l2_decay_is_rescaled_by_sqrt_v_hat_adamw_is_not():
    """DAY "AdamW - Decoupled Weight Decay": Adam folds lambda w into the gradient, so "the
    regularization strength gets divided by sqrt(v_hat)": a parameter with small gradients
    gets its decay amplified, one with large gradients shrunk; AdamW's decay is lr lambda w
    for every parameter.  Two coordinates with the same w and gradients 1e-3 vs 1e3: Adam's
    decay share of the step (step with lambda minus step without) differs by orders of
    magnitude; AdamW's is exactly -lr lambda w for both (rel 1e-12).  CHAPTER 2.7 "Adam:
    g <- g + lambda w then update with g" is checked exactly (rel 1e-12)."""
    w0, g, lr, lam = np.array([1.0, 1.0]), np.array([1e-3, 1e3]), 0.01, 0.1

    def first_step(name, **hp):
        return run_optimizer(name, w0, [g], lr=lr, **hp)[0] - w0

    adam_share = first_step("adam", weight_decay=lam) - first_step("adam")
    adamw_share = first_step("adamw", weight_decay=lam) - first_step("adamw", weight_decay=0.0)
    np.testing.assert_allclose(adamw_share, -lr * lam * w0, rtol=1e-12)
    assert abs(adam_share[0]) > 100 * abs(adam_share[1])
    rng = np.random.default_rng(3)
    p0, grads = rng.standard_normal(5), [rng.standard_normal(5) for _ in range(10)]
    np.testing.assert_allclose(run_optimizer("adam", p0, grads, lr=0.01, weight_decay=lam),
                               lesson_adam(p0, grads, 0.01, 0.9, 0.999, 1e-8, l2=lam), rtol=1e-12)


def test_adam_is_invariant_to_rescaling_the_gradients_with_eps_zero(problem):
    """CHAPTER exercise 6: "Show that the Adam update is invariant to rescaling of gradients
    (multiply g by a constant c)".  With eps = 0 m_hat/sqrt(v_hat) is homogeneous of degree 0
    in g, so c = 1e-4 and 1e4 give the same path up to rounding (rel 1e-10)."""
    p0, grads = problem
    base = run_optimizer("adam", p0, grads, lr=0.01, eps=0.0)
    for c in (1e-4, 1e4):
        np.testing.assert_allclose(run_optimizer("adam", p0, [c * g for g in grads], lr=0.01, eps=0.0),
                                   base, rtol=1e-10, atol=1e-13)


def test_rmsprop_table_row(problem):
    """DAY table row "RMSProp | v <- beta2 v + (1-beta2) g^2; w <- w - lr g/sqrt(v+eps) | 1 (v) |
    beta2 ~ 0.999".  chainrule (torch) writes alpha for beta2 (default 0.99, not 0.999) and
    puts eps outside the root: g / (sqrt(v) + eps).  With eps = 0 both are g/sqrt(v): exact
    (rel 1e-12).  With eps = 1e-8: 1/sqrt(v + eps) = 1/sqrt(v) (1 - eps/(2v) + ...) and
    1/(sqrt(v)+eps) = 1/sqrt(v) (1 - eps/sqrt(v) + ...): each step's relative difference is
    <= eps/sqrt(v) + eps/(2v); here v >= (1-beta2) min g^2 ~ 1e-3 * 1e-4 so <= ~2e-3 on the
    worst element at step 1, and the path accumulates it: rtol 1e-2 bounds it, and the
    median element is far closer (checked at 1e-5)."""
    p0, grads = problem
    beta2 = 0.999

    def lesson(eps):
        p, v, path = p0.copy(), np.zeros_like(p0), []
        for g in grads:
            v = beta2 * v + (1 - beta2) * g ** 2
            p = p - 1e-2 * g / np.sqrt(v + eps)
            path.append(p.copy())
        return np.array(path)

    np.testing.assert_allclose(run_optimizer("rmsprop", p0, grads, lr=1e-2, alpha=beta2, eps=0.0),
                               lesson(0.0), rtol=1e-12, atol=1e-15)
    ours = run_optimizer("rmsprop", p0, grads, lr=1e-2, alpha=beta2, eps=1e-8)
    np.testing.assert_allclose(ours, lesson(1e-8), rtol=1e-2)
    assert np.median(np.abs(ours - lesson(1e-8)) / np.abs(lesson(1e-8))) < 1e-5
    assert cr.optim.get("rmsprop").defaults["alpha"] == 0.99           # torch's, not 0.999


def test_lion_table_row_and_defaults(problem):
    """DAY table row "Lion | w <- w - lr sign(beta1 m + (1-beta1) g) | 1 (m) | lr, beta1=0.9,
    beta2=0.99, lambda" and "Lion halves the optimizer state ... one running state": the
    defaults, one state array, and the update (the paper's m <- beta2 m + (1-beta2) g
    afterwards, which the table leaves out); sign() makes it exact (rel 1e-12)."""
    assert cr.optim.get("lion").defaults["betas"] == (0.9, 0.99)
    p0, grads = problem
    p, m, lesson = p0.copy(), np.zeros_like(p0), []
    for g in grads:
        p = p - 1e-3 * np.sign(0.9 * m + 0.1 * g)
        m = 0.99 * m + 0.01 * g
        lesson.append(p.copy())
    np.testing.assert_allclose(run_optimizer("lion", p0, grads, lr=1e-3), lesson, rtol=1e-12)


@pytest.mark.parametrize("name, hp, copies", [
    ("sgd", {}, 0), ("sgd", {"momentum": 0.9}, 1), ("rmsprop", {}, 1), ("adam", {}, 2),
    ("adamw", {}, 2), ("lion", {}, 1)])
def test_states_per_parameter_column(name, hp, copies):
    """DAY optimizer table, column "States / param": SGD 0, SGD + Momentum 1 (v), RMSProp 1 (v),
    Adam 2 (m, v), AdamW 2 (m, v), Lion 1 (m); counted as elements of the arrays chainrule
    really keeps (integer step counters aside), exact."""
    w = t64(np.ones((6, 5)), requires_grad=True)
    opt = cr.optim.create(name, [w], **hp)
    w.grad = t64(np.full((6, 5), 0.5))
    opt.step()
    elements = sum(v.size for v in opt.state.get("0", {}).values() if isinstance(v, np.ndarray))
    assert elements == copies * w.size


def test_adafactor_keeps_a_row_and_a_column():
    """DAY table row "AdaFactor | Factored second moment (row + col)": for an (n, m) weight the
    state is n + m numbers instead of Adam's 2 n m (exact count)."""
    w = t64(np.ones((30, 20)), requires_grad=True)
    opt = cr.optim.create("adafactor", [w])
    w.grad = t64(np.full((30, 20), 0.1))
    opt.step()
    elements = sum(v.size for v in opt.state["0"].values() if isinstance(v, np.ndarray))
    assert elements == 30 + 20


# ----------------------------------------------------------------- clipping

def test_clip_grad_norm_is_the_day_pseudocode():
    """DAY "Exploding gradients": total_norm = sqrt(sum_i ||g_i||^2) over ALL parameters;
    if total_norm > max_norm: g_i <- g_i * max_norm / total_norm.  chainrule (as torch) divides
    by total_norm + 1e-6: relative difference 1e-6 / total_norm <= 1e-7 here (total ~ 18), so
    rtol 1e-6.  Below max_norm nothing changes (bit for bit)."""
    rng = np.random.default_rng(7)
    gs = [5 * rng.standard_normal((3, 4)), 5 * rng.standard_normal(4)]
    ws = [t64(np.zeros(g.shape), requires_grad=True) for g in gs]
    for w, g in zip(ws, gs):
        w.grad = t64(g)
    total = math.sqrt(sum(float((g ** 2).sum()) for g in gs))
    assert float(cr.optim.clip_grad_norm_(ws, max_norm=1.0)) == pytest.approx(total, rel=1e-14)
    for w, g in zip(ws, gs):
        np.testing.assert_allclose(w.grad.numpy(), g * (1.0 / total), rtol=1e-6)
    after = math.sqrt(sum(float((w.grad.numpy() ** 2).sum()) for w in ws))
    assert after == pytest.approx(1.0, rel=1e-6)
    small = [t64(np.zeros(3), requires_grad=True)]
    small[0].grad = t64([0.1, -0.2, 0.3])
    cr.optim.clip_grad_norm_(small, max_norm=1.0)
    assert small[0].grad.tolist() == [0.1, -0.2, 0.3]


def test_exploding_gradients_grow_geometrically():
    """DAY "Exploding gradients": "If local Jacobians are consistently > 1, gradients grow
    exponentially".  A chain of L layers x <- 1.5 x has d/dx = 1.5^L; backward multiplies L
    times by 1.5, each product rounded once (rel <= 2^-53), so rel <= L * 1.1e-16 < 1e-14."""
    for depth in (1, 10, 40):
        def chain(x, depth=depth):
            for _ in range(depth):
                x = 1.5 * x
            return x
        assert float(cr.grad(chain)(t64(1.0))) == pytest.approx(1.5 ** depth, rel=1e-14)


# ----------------------------------------------------------------- gradient checking

def test_gradcheck_at_the_chapters_tolerance():
    """CHAPTER 2.8: analytic and numerical gradients "should agree to within ~1e-5"; the Code
    Lab's gradient_check uses h = 1e-5 and max |a - n| / (|a| + |n| + 1e-8) < 1e-5.
    cr.gradcheck's defaults are torch's (eps=1e-6, atol=1e-5, rtol=1e-3), 100x looser in
    relative terms: a backward rule wrong by 1e-4 (relative) passes them.  At the chapter's
    tolerance (rtol=1e-5, atol=1e-8; float64 central differences are good to ~1e-10 here)
    the lesson's my_loss passes and the 1e-4-wrong rule is caught."""
    rng = np.random.default_rng(0)
    W0, b0, x = rng.standard_normal((2, 3)), rng.standard_normal(2), t64([1.0, 2.0, 3.0])
    my_loss = lambda W, b: cr.mean(cr.tanh(W @ x + b) ** 2)
    assert cr.gradcheck(my_loss, (t64(W0), t64(b0)), rtol=1e-5, atol=1e-8)
    off = cr.ops.register("audit_tanh_off_by_1e4", lambda v: cr.tanh(v),
                          vjp=lambda ans, v: lambda g: g * (1 - ans * ans) * (1 + 1e-4),
                          jvp=lambda t, ans, v: t[0] * (1 - ans * ans) * (1 + 1e-4), replace=True)
    try:
        bad = lambda W, b: cr.mean(off(W @ x + b) ** 2)
        assert cr.gradcheck(bad, (t64(W0), t64(b0)))                     # the default lets it through
        with pytest.raises(cr.GradcheckError):
            cr.gradcheck(bad, (t64(W0), t64(b0)), rtol=1e-5, atol=1e-8)  # the chapter's does not
    finally:
        cr.ops.registry._registry.pop("audit_tanh_off_by_1e4", None)


# ----------------------------------------------------------------- the cost of backprop

def test_backward_of_a_linear_layer_is_two_matmuls():
    """DAY "Matmul backward, decoded": "every linear layer's backward pass costs two more matrix
    multiplications ... a training step costs about three times as many FLOPs as an inference
    step".  Counted: one matmul forward, two in backward (dL/dX = g W^T, dL/dW = X^T g), and
    each of the three has the same 2 B n m FLOPs (shapes (B,n)(n,m), (B,m)(m,n), (n,B)(B,m))."""
    X = t64(np.ones((4, 8)), requires_grad=True)
    W = t64(np.ones((8, 16)), requires_grad=True)
    counter = OpCounter()
    with counter:
        Y = X @ W
        forward = counter.names.count("matmul")
        Y.backward(t64(np.ones((4, 16))))
    backward = counter.names.count("matmul") - forward
    assert (forward, backward) == (1, 2)
    flops = {"forward": 2 * 4 * 8 * 16, "dX": 2 * 4 * 16 * 8, "dW": 2 * 8 * 4 * 16}
    assert sum(flops.values()) == 3 * flops["forward"]


def test_reverse_mode_one_pass_forward_mode_one_per_input():
    """DAY "Why reverse mode?": reverse mode gets every gradient of a scalar loss in one
    backward walk (O(graph)); forward mode needs one walk per parameter (O(graph x params)).
    Counted on f(x) = sum(tanh(x)^2) with n = 7 inputs: cr.grad evaluates tanh once;
    one cr.jvp per input direction evaluates it 7 times.  The gradients agree (rel 1e-14)."""
    n = 7
    f = lambda x: cr.sum(cr.tanh(x) ** 2)
    x = t64(np.linspace(-1, 1, n))
    rev = OpCounter()
    with rev:
        g = cr.grad(f)(x)
    fwd = OpCounter()
    with fwd:
        cols = [float(cr.jvp(f, (x,), (t64(np.eye(n)[i]),))[1]) for i in range(n)]
    assert rev.names.count("tanh") == 1 and fwd.names.count("tanh") == n
    np.testing.assert_allclose(cols, g.numpy(), rtol=1e-14)


def test_inference_keeps_no_graph():
    """DAY "What inference omits": inference throws activations away once used; under
    cr.no_grad nothing is recorded for backward (the output needs no grad and cannot be
    differentiated)."""
    W = t64(np.ones((3, 2)), requires_grad=True)
    with cr.no_grad():
        y = cr.nn.relu(t64(np.ones((4, 3))) @ W)
    assert not y.requires_grad
    with pytest.raises(Exception):
        y.sum().backward()


def test_gradients_accumulate_until_zero_grad():
    """CHAPTER 2.5 "Why Zero Gradients Before Each Step?": "each .backward() call adds to
    existing gradients"; optimizer.zero_grad() resets them.  Two backward passes of x^2 at 3
    give 6 + 6 = 12 (exact); after zero_grad, one more gives 6."""
    x = t64(3.0, requires_grad=True)
    opt = cr.optim.create("sgd", [x], lr=0.0)
    (x * x).backward()
    (x * x).backward()
    assert float(x.grad) == 12.0
    opt.zero_grad()
    assert x.grad is None
    (x * x).backward()
    assert float(x.grad) == 6.0


# ----------------------------------------------------------------- initialization

def test_equal_weights_stay_in_lockstep_random_ones_do_not():
    """DAY "Initialization", first principle: "If you initialize every weight to zero (or to any
    single value), every neuron in a given layer computes the same thing ... Their gradients
    then come out identical ... The neurons stay in lockstep forever."  An MLP 4-6-3 with
    every weight 0.3 and biases 0, trained 30 Adam steps on random data: the hidden units'
    incoming weight columns stay equal (to rounding: identical arithmetic per column, so
    atol 1e-12); with he_normal weights they differ by O(1)."""
    rng = np.random.default_rng(1)
    X, y = t64(rng.standard_normal((8, 4))), cr.tensor([0, 1, 2, 0, 1, 2, 0, 1])

    def train(init):
        net = cr.nn.MLP([4, 6, 3], activation="relu", init=init, dtype=F64)
        with cr.no_grad():
            for name, p in net.named_parameters():
                if name.endswith("bias"):
                    p[...] = 0.0
        opt = cr.optim.create("adam", net.parameters(), lr=1e-2)
        for _ in range(30):
            opt.zero_grad()
            cr.nn.cross_entropy(net(X), y).backward()
            opt.step()
        return dict(net.named_parameters())["layers.0.weight"].numpy()

    same = train(cr.init.create("constant", value=0.3))
    np.testing.assert_allclose(same, np.repeat(same[:, :1], 6, axis=1), rtol=0, atol=1e-12)
    assert np.abs(same - 0.3).max() > 1e-2                     # it did train, in lockstep
    cr.random.seed(0)
    spread = train("he_normal")
    assert np.ptp(spread, axis=1).min() > 0.1


def test_zero_biases_get_different_gradients_on_the_first_step():
    """DAY "Why bias initialized to zero is fine": db = dz.sum(axis=0); with random weights dz
    differs across neurons, so zero biases get different gradients on the very first
    backward.  chainrule's bias gradient is that column sum (rel 1e-12) and its entries are
    distinct."""
    cr.random.seed(3)
    layer = cr.nn.Linear(5, 4, init="he_normal", dtype=F64)
    with cr.no_grad():
        layer.bias[...] = 0.0
    X = t64(np.random.default_rng(4).standard_normal((10, 5)))
    z = layer(X)
    dz = np.random.default_rng(5).standard_normal((10, 4))
    z.backward(t64(dz))
    np.testing.assert_allclose(layer.bias.grad.numpy(), dz.sum(axis=0), rtol=1e-12)
    assert len(set(np.round(layer.bias.grad.numpy(), 12))) == 4
    assert float(cr.sum(layer.bias)) == 0.0


def test_transformer_practice_layernorm_and_gpt2_constants():
    """DAY "Transformer practice": "LayerNorm scale gamma: 1. LayerNorm bias beta: 0." (exact);
    "Linear weights: N(0, 0.02)" and the output projections "scaled down by an additional
    1/sqrt(2L)" (cr.init gpt2 / scaled_residual; std within 3% on 40,000 samples, where the
    sampling error of a std is ~1/sqrt(2 * 40000) = 0.35%)."""
    ln = cr.nn.LayerNorm(16, dtype=F64)
    assert ln.weight.tolist() == [1.0] * 16 and ln.bias.tolist() == [0.0] * 16
    cr.random.seed(0)
    gpt2 = cr.init.create("gpt2")((200, 200), dtype=F64).numpy()
    resid = cr.init.create("scaled_residual", n_layers=12)((200, 200), dtype=F64).numpy()
    assert gpt2.std() == pytest.approx(0.02, rel=0.03)
    assert resid.std() == pytest.approx(0.02 / math.sqrt(2 * 12), rel=0.03)
    emb = cr.init.create("gpt2")((500, 80), dtype=F64).numpy()   # "Embedding: N(0, 0.02)"
    assert emb.std() == pytest.approx(0.02, rel=0.03)


# ----------------------------------------------------------------- pathologies

def test_dead_relu_gets_no_gradient_leaky_relu_and_gelu_do():
    """DAY "Dead ReLUs": a unit whose pre-activation is negative on every input outputs 0,
    "the local derivative is zero, no gradient flows to the incoming weights"; the cure
    "switch to LeakyReLU or GELU (which have small but nonzero derivatives for negative
    inputs, so a 'dead' neuron can revive itself)".  ReLU: exactly 0.  LeakyReLU (slope
    0.01): dL/dw = 0.01 * sum x (exact up to one rounding: rel 1e-14).  GELU: nonzero."""
    X = t64([[-1.0, -2.0], [-0.5, -3.0], [-2.0, -0.1]])
    for act, check in ((cr.nn.relu, lambda g: np.all(g == 0.0)),
                       (cr.nn.leaky_relu, lambda g: np.allclose(g, 0.01 * X.numpy().sum(0)[:, None],
                                                                rtol=1e-14)),
                       (cr.nn.gelu, lambda g: np.all(np.abs(g) > 1e-3))):
        w = t64([[1.0], [1.0]], requires_grad=True)
        act(X @ w).sum().backward()
        assert check(w.grad.numpy()), act
    assert cr.diagnostics.dead_relu_fraction(X @ t64([[1.0], [1.0]])) == 1.0


# ----------------------------------------------------------------- mixed precision

def test_float_formats_bits_and_ranges():
    """DAY "Mixed Precision Preview" and its figure: FP32 8 exponent / 23 mantissa bits, FP16
    5 / 10 ("narrow range, can underflow"), BF16 8 / 7 ("FP32's range, less precision").
    Seen through chainrule's casts (exact: each value is either representable or rounds to a
    known neighbour): 1 + 2^-m survives iff m <= mantissa bits; FP16's largest finite is
    65504 and its smallest positive 2^-24 (2^-25 rounds to 0, ties to even); BF16 keeps 3e38
    and 2^-126 (FP32's smallest normal) as FP32 does.  On numpy and torch."""
    mantissa = {"float32": 23, "float16": 10, "bfloat16": 7}
    for backend in ("numpy", "torch"):
        def cast(values, dtype):
            with np.errstate(over="ignore"):
                return cr.tensor(np.asarray(values, dtype=np.float64), dtype=F64,
                                 backend=backend).astype(dtype).astype(F64).numpy()
        for dtype, bits in mantissa.items():
            kept, lost = cast([1 + 2.0 ** -bits, 1 + 2.0 ** -(bits + 1)], dtype)
            assert kept == 1 + 2.0 ** -bits and lost == 1.0, (backend, dtype)
        big, over, tiny, under = cast([65504.0, 65520.0, 2.0 ** -24, 2.0 ** -25], "float16")
        assert big == 65504.0 and math.isinf(over) and tiny == 2.0 ** -24 and under == 0.0
        for dtype in ("bfloat16", "float32"):
            huge, normal = cast([3e38, 2.0 ** -126], dtype)
            assert math.isfinite(huge) and huge == pytest.approx(3e38, rel=2 ** -7)
            assert normal == 2.0 ** -126
        assert cast([2.0 ** -126], "float16")[0] == 0.0


def test_grad_scaler_scales_up_before_backward_and_down_before_the_step():
    """DAY "Mixed Precision Preview": GradScaler "scales the loss up before backward and down
    before the optimizer step, keeping the gradients in FP16's representable range".  Default
    scale 2^16 (torch's); the gradient after backward is 2^16 times the true one and after
    unscale_ the true one (powers of two: exact); the step then uses the true gradient."""
    w = cr.tensor([0.5, -1.5], requires_grad=True)                      # float32 master weight
    opt = cr.optim.create("sgd", [w], lr=0.25)
    scaler = cr.amp.GradScaler()
    assert scaler.get_scale() == 2.0 ** 16
    loss = (w * w).sum()
    scaled = scaler.scale(loss)
    assert float(scaled) == float(loss) * 2 ** 16
    scaled.backward()
    assert w.grad.tolist() == [2 ** 16 * 1.0, 2 ** 16 * -3.0]
    scaler.unscale_(opt)
    assert w.grad.tolist() == [1.0, -3.0]
    scaler.step(opt)
    scaler.update()
    assert w.tolist() == [0.5 - 0.25 * 1.0, -1.5 + 0.25 * 3.0]


def test_mixed_precision_halves_the_activations_not_the_optimizer_bill():
    """DAY "Mixed Precision Preview": FP32 master weights, BF16/FP16 forward and backward, FP32
    optimizer step, "roughly a 2x memory reduction".  What halves is what the forward
    computes and saves: a matmul under autocast gives float16 activations, half the bytes
    (exact), while the master weight and its gradient stay float32.  The training-state bill
    does not halve: cr.diagnostics.memory_estimate gives 2P + 2P + 4P (master) + 8P (m, v) =
    16P for mixed-precision Adam, the same 16P as float32 Adam (exact)."""
    x, w = cr.ones((64, 32)), cr.ones((32, 128), requires_grad=True)
    full = x @ w
    with cr.amp.autocast("float16"):
        low = x @ w
    assert (full.dtype, low.dtype) == ("float32", "float16")
    assert low.numpy().nbytes * 2 == full.numpy().nbytes
    low.astype("float32").sum().backward()
    assert w.dtype == "float32" and w.grad.dtype == "float32"
    P = 1_000_000
    mixed = cr.diagnostics.memory_estimate(P, optimizer="adam", param_dtype="float16",
                                           master_weights=True)
    assert mixed["total"] == cr.diagnostics.memory_estimate(P, optimizer="adam")["total"] == 16 * P


def test_memory_math_for_a_7b_model():
    """DAY "Memory math for a 7B model": 7B x 4 bytes = 28 GB of weights; Adam "2 states x 4 bytes
    x 7B = another 56 GB - twice the weight cost"; "training ... needs at minimum ~84 GB in
    FP32" (weights + Adam state: the lesson leaves the 28 GB of gradients out there, and puts
    them back in "Optimizer state: the silent training-only cost", 16P = 112 GB); inference
    14 GB in FP16, 28 GB in FP32; Lion's state 28 GB.  All exact byte counts."""
    P, GB = 7 * 10 ** 9, 10 ** 9
    adam = cr.diagnostics.memory_estimate(P, optimizer="adam")
    assert adam["parameters"] == 28 * GB and adam["optimizer_state"] == 56 * GB == 2 * adam["parameters"]
    assert adam["parameters"] + adam["optimizer_state"] == 84 * GB
    assert adam["total"] == 112 * GB == adam["parameters"] + adam["optimizer_state"] + adam["gradients"]
    assert cr.diagnostics.memory_estimate(P, optimizer=None)["total"] == 28 * GB
    assert cr.diagnostics.memory_estimate(P, optimizer=None, param_dtype="float16")["total"] == 14 * GB
    assert cr.diagnostics.memory_estimate(P, optimizer="lion")["optimizer_state"] == 28 * GB

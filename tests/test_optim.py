"""Optimizers: step by step against torch.optim (float64), against the papers' pseudo-code
(lion, sophia, shampoo), convergence on a quadratic and Rosenbrock, the lessons' claims,
state_dict round trips and bad input."""
import math

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch", reason="torch is the oracle for the optimizer comparisons")

STEPS = 30


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    return dict(X=rng.normal(size=(8, 4)), Y=rng.normal(size=(8, 3)) * 0.5,
                W=rng.normal(size=(4, 3)), b=rng.normal(size=(3,)) * 0.1)


def _cr_loss(W, b, X, Y):
    return cr.mean((cr.tanh(X @ W + b) - Y) ** 2)


def _run_chainrule(name, kwargs, prob, steps=STEPS):
    W = cr.tensor(prob["W"].copy(), requires_grad=True)
    b = cr.tensor(prob["b"].copy(), requires_grad=True)
    X, Y = cr.tensor(prob["X"]), cr.tensor(prob["Y"])
    opt = cr.optim.create(name, [("W", W), ("b", b)], **kwargs)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        _cr_loss(W, b, X, Y).backward()
        opt.step()
        out.append((W.numpy().copy(), b.numpy().copy()))
    return out


def _run_torch(cls, kwargs, prob, steps=STEPS):
    W = torch.tensor(prob["W"].copy(), requires_grad=True)
    b = torch.tensor(prob["b"].copy(), requires_grad=True)
    X, Y = torch.tensor(prob["X"]), torch.tensor(prob["Y"])
    opt = cls([W, b], **kwargs)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        torch.mean((torch.tanh(X @ W + b) - Y) ** 2).backward()
        opt.step()
        out.append((W.detach().numpy().copy(), b.detach().numpy().copy()))
    return out


TORCH_CASES = [
    ("sgd", "SGD", dict(lr=0.1)),
    ("sgd", "SGD", dict(lr=0.1, momentum=0.9)),
    ("sgd", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
    ("sgd", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd", "SGD", dict(lr=0.1, momentum=0.8, weight_decay=0.1)),
    ("sgd", "SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("rmsprop", "RMSprop", dict(lr=0.01)),
    ("rmsprop", "RMSprop", dict(lr=0.01, centered=True)),
    ("rmsprop", "RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.1)),
    ("rmsprop", "RMSprop", dict(lr=0.01, momentum=0.9, eps=1e-3)),
    ("adagrad", "Adagrad", dict(lr=0.1)),
    ("adagrad", "Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
    ("adam", "Adam", dict(lr=0.01)),
    ("adam", "Adam", dict(lr=0.01, amsgrad=True, betas=(0.8, 0.9))),
    ("adam", "Adam", dict(lr=0.01, weight_decay=0.1, eps=1e-6)),
    ("adam", "Adam", dict(lr=0.01, maximize=True)),
    ("adamw", "AdamW", dict(lr=0.01)),
    ("adamw", "AdamW", dict(lr=0.01, weight_decay=0.1, betas=(0.9, 0.95), amsgrad=True)),
    ("adafactor", "Adafactor", dict(lr=0.01)),
    ("adafactor", "Adafactor", dict(lr=0.05, weight_decay=0.1, beta2_decay=-0.5)),
    ("adafactor", "Adafactor", dict(lr=0.01, eps=(1e-20, 1e-2), d=2.0, maximize=True)),
]


@pytest.mark.parametrize("name, torch_name, kwargs", TORCH_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[2])}" for c in TORCH_CASES])
def test_matches_torch_step_by_step(name, torch_name, kwargs):
    prob = _problem()
    ours = _run_chainrule(name, kwargs, prob)
    theirs = _run_torch(getattr(torch.optim, torch_name), kwargs, prob)
    for t, ((w1, b1), (w2, b2)) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(w1, w2, rtol=1e-7, atol=1e-12, err_msg=f"{name} W at step {t}")
        np.testing.assert_allclose(b1, b2, rtol=1e-7, atol=1e-12, err_msg=f"{name} b at step {t}")
    assert not np.allclose(ours[-1][0], prob["W"])  # it moved


# ------------------------------------------------ against the papers' pseudo-code

def _grad_np(W, b, X, Y):
    """Gradient of mean((tanh(XW + b) - Y)^2), by hand."""
    Z = np.tanh(X @ W + b)
    dZ = 2 * (Z - Y) / Z.size * (1 - Z ** 2)
    return X.T @ dZ, dZ.sum(0)


def _reference_run(update, prob, steps=STEPS):
    params = [prob["W"].copy(), prob["b"].copy()]
    states = [None, None]
    out = []
    for t in range(1, steps + 1):
        grads = _grad_np(params[0], params[1], prob["X"], prob["Y"])
        for i in range(2):
            params[i], states[i] = update(params[i], grads[i], states[i], t)
        out.append(tuple(p.copy() for p in params))
    return out


def _compare(ours, ref):
    for t, (a, r) in enumerate(zip(ours, ref)):
        for x, y in zip(a, r):
            np.testing.assert_allclose(x, y, rtol=1e-7, atol=1e-12, err_msg=f"step {t}")


@pytest.mark.parametrize("wd", [0.0, 0.5])
def test_lion_matches_paper(wd):
    lr, b1, b2 = 0.01, 0.9, 0.99

    def lion(p, g, m, t):  # Chen et al. 2023, Algorithm 2
        m = np.zeros_like(p) if m is None else m
        c = b1 * m + (1 - b1) * g
        p = p - lr * (np.sign(c) + wd * p)
        return p, b2 * m + (1 - b2) * g

    prob = _problem(1)
    _compare(_run_chainrule("lion", dict(lr=lr, betas=(b1, b2), weight_decay=wd), prob),
             _reference_run(lion, prob))


@pytest.mark.parametrize("update_freq", [1, 3])
def test_shampoo_matches_paper(update_freq):
    lr, eps = 0.1, 1e-4

    def root(H, k):
        w, V = np.linalg.eigh(H)
        return (V * np.maximum(w, eps * 1e-6) ** (-1 / k)) @ V.T

    def shampoo(p, G, st, t):  # Gupta et al. 2018, Algorithm 1 (matrix) / 2 (order-k tensor)
        if p.ndim == 2:
            if st is None:
                st = dict(L=eps * np.eye(p.shape[0]), R=eps * np.eye(p.shape[1]))
            st["L"] = st["L"] + G @ G.T
            st["R"] = st["R"] + G.T @ G
            if (t - 1) % update_freq == 0:
                st["Lr"], st["Rr"] = root(st["L"], 4), root(st["R"], 4)
            return p - lr * st["Lr"] @ G @ st["Rr"], st
        if st is None:
            st = dict(H=eps * np.eye(p.shape[0]))
        st["H"] = st["H"] + np.outer(G, G)
        if (t - 1) % update_freq == 0:
            st["Hr"] = root(st["H"], 2)
        return p - lr * st["Hr"] @ G, st

    prob = _problem(2)
    _compare(_run_chainrule("shampoo", dict(lr=lr, epsilon=eps, update_freq=update_freq), prob),
             _reference_run(shampoo, prob))


def test_shampoo_tensor_of_order_three_preconditions_each_axis():
    rng = np.random.default_rng(3)
    T0, G = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    p = cr.tensor(T0.copy(), requires_grad=True)
    opt = cr.optim.create("shampoo", [p], lr=1.0, epsilon=1e-3)
    p.grad = cr.tensor(G)
    opt.step()
    expected = G
    for axis in range(3):
        Gm = np.moveaxis(G, axis, 0).reshape(G.shape[axis], -1)
        H = 1e-3 * np.eye(G.shape[axis]) + Gm @ Gm.T
        w, V = np.linalg.eigh(H)
        P = (V * w ** (-1 / 6)) @ V.T
        expected = np.moveaxis(np.tensordot(P, np.moveaxis(expected, axis, 0), axes=1), 0, axis)
    np.testing.assert_allclose(p.numpy(), T0 - expected, rtol=1e-7, atol=1e-12)


def test_sophia_matches_paper():
    """Liu et al. 2023, Algorithm 3 with Hutchinson's estimator; the Rademacher draws are
    replayed from the same seed, the Hessian of the loss formed exactly with numpy."""
    lr, b1, b2, rho, eps, wd, k = 0.05, 0.9, 0.95, 0.5, 1e-12, 0.1, 3
    A = np.array([[3.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 2.0]])
    c = np.array([1.0, -2.0, 0.5])

    def loss(x):
        return 0.5 * cr.sum(x * (cr.tensor(A) @ x)) - cr.sum(cr.tensor(c) * x) + 0.1 * cr.sum(x ** 4)

    def hess(x):
        return A + np.diag(1.2 * x ** 2)

    x0 = np.array([0.3, -0.7, 1.1])
    cr.random.seed(7)
    x = cr.tensor(x0.copy(), requires_grad=True)
    opt = cr.optim.create("sophia", [x], lr=lr, betas=(b1, b2), rho=rho, eps=eps,
                          weight_decay=wd, hessian_interval=k)
    ours = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss(x).backward()
        opt.step(loss)
        ours.append(x.numpy().copy())
    # replay: the optimizer draws u = 2 * randint(0, 2) - 1 on refresh steps
    cr.random.seed(7)
    p, m, h, ref = x0.copy(), np.zeros(3), np.zeros(3), []
    for t in range(STEPS):
        g = A @ p - c + 0.4 * p ** 3
        m = b1 * m + (1 - b1) * g
        if t % k == 0:
            u = cr.random.randint(0, 2, (3,)).numpy() * 2.0 - 1.0
            h = b2 * h + (1 - b2) * u * (hess(p) @ u)
        p = p - lr * wd * p
        p = p - lr * np.clip(m / np.maximum(rho * h, eps), -1, 1)
        ref.append(p.copy())
    for t, (a, r) in enumerate(zip(ours, ref)):
        np.testing.assert_allclose(a, r, rtol=1e-7, atol=1e-12, err_msg=f"step {t}")


def test_sophia_without_closure_on_a_refresh_step_is_a_clear_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.create("sophia", [x])
    (x * x).sum().backward()
    with pytest.raises(TypeError, match="closure"):
        opt.step()
    assert x.tolist() == [1.0, 2.0]


# --------------------------------------------------------------- convergence

def _quadratic(x):
    return 0.5 * cr.sum(cr.tensor([1.0, 10.0]) * (x - cr.tensor([1.0, -2.0])) ** 2)


def _rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


CONVERGE = [  # (name, kwargs for the quadratic, kwargs for Rosenbrock, Rosenbrock steps)
    ("sgd", dict(lr=0.05, momentum=0.9), dict(lr=1e-3, momentum=0.9), 3000),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=1e-3, momentum=0.9, nesterov=True), 3000),
    ("rmsprop", dict(lr=0.01), dict(lr=1e-3, centered=True, momentum=0.9), 3000),
    ("adagrad", dict(lr=0.5), dict(lr=0.2), 8000),
    ("adam", dict(lr=0.05), dict(lr=0.02), 3000),
    ("adam", dict(lr=0.05, amsgrad=True), dict(lr=0.05, amsgrad=True), 3000),
    ("adamw", dict(lr=0.05, weight_decay=1e-4), dict(lr=0.02, weight_decay=1e-5), 3000),
    ("lion", dict(lr=0.01), dict(lr=1e-3), 6000),
    ("adafactor", dict(lr=0.05), dict(lr=0.05), 10000),
    ("sophia", dict(lr=0.05, weight_decay=0.0, rho=0.05, hessian_interval=1),
     dict(lr=0.01, weight_decay=0.0, rho=0.02, hessian_interval=1), 6000),
    ("shampoo", dict(lr=0.5), dict(lr=0.3), 8000),
]


def _minimize(name, kwargs, f, x0, steps):
    x = cr.tensor(np.array(x0), requires_grad=True)
    opt = cr.optim.create(name, [x], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        f(x).backward()
        opt.step(f) if opt.algorithm.needs_hvp else opt.step()
    return x.numpy()


@pytest.mark.parametrize("name, quad, rosen, steps", CONVERGE,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CONVERGE)])
def test_converges(name, quad, rosen, steps):
    x = _minimize(name, quad, _quadratic, [4.0, 3.0], 1000)
    np.testing.assert_allclose(x, [1.0, -2.0], atol=2e-2, err_msg=f"{name} on the quadratic")
    x = _minimize(name, rosen, _rosenbrock, [-1.0, 1.5], steps)
    np.testing.assert_allclose(x, [1.0, 1.0], atol=5e-2, err_msg=f"{name} on Rosenbrock")


# ------------------------------------------------------------- lessons' claims

def test_adam_update_is_invariant_to_rescaling_the_loss():
    prob = _problem(4)
    X, Y = cr.tensor(prob["X"]), cr.tensor(prob["Y"])
    results = []
    for scale in (1.0, 1000.0):
        W = cr.tensor(prob["W"].copy(), requires_grad=True)
        b = cr.tensor(prob["b"].copy(), requires_grad=True)
        opt = cr.optim.create("adam", [W, b], lr=0.01, eps=0.0)
        for _ in range(10):
            opt.zero_grad()
            (scale * _cr_loss(W, b, X, Y)).backward()
            opt.step()
        results.append(W.numpy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-9)


def test_adamw_decay_is_independent_of_the_gradient():
    """AdamW's step = Adam's step (no decay) - lr*wd*w, whatever the gradients: the decay is
    not rescaled by sqrt(v_hat).  With zero gradients w_T = w_0 (1 - lr*wd)^T."""
    lr, wd = 0.1, 0.5
    rng = np.random.default_rng(8)
    w = cr.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    v = cr.tensor(np.array([7.0, 3.0, -1.0]), requires_grad=True)   # Adam's direction ignores w
    adamw = cr.optim.create("adamw", [w], lr=lr, weight_decay=wd)
    adam = cr.optim.create("adam", [v], lr=lr)
    for scale in (1e-3, 1.0, 1e3):
        for _ in range(5):
            g = rng.normal(size=3) * scale
            w.grad, v.grad = cr.tensor(g), cr.tensor(g)
            w0, v0 = w.numpy().copy(), v.numpy().copy()
            adamw.step()
            adam.step()
            np.testing.assert_allclose(w.numpy() - w0, (v.numpy() - v0) - lr * wd * w0, rtol=1e-9, atol=1e-15)
    z = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = cr.optim.create("adamw", [z], lr=lr, weight_decay=wd)
    for _ in range(10):
        z.grad = cr.zeros(2, dtype="float64")
        opt.step()
    np.testing.assert_allclose(z.numpy(), np.array([1.0, -2.0]) * (1 - lr * wd) ** 10, rtol=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(5)
    gs = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    ps = [cr.tensor(np.zeros_like(g), requires_grad=True) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = cr.tensor(g.copy())
    tps = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in gs]
    for p, g in zip(tps, gs):
        p.grad = torch.tensor(g.copy())
    total = cr.optim.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert float(total) == pytest.approx(float(ttotal), rel=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_nonfinite_raises_and_changes_nothing():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    p.grad = cr.tensor([np.inf, 1.0])
    with pytest.raises(FloatingPointError, match="non-finite"):
        cr.optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert p.grad.tolist() == [np.inf, 1.0]


def test_clip_grad_value_matches_torch():
    g = np.array([-3.0, 0.2, 5.0])
    p = cr.tensor(np.zeros(3), requires_grad=True)
    p.grad = cr.tensor(g.copy())
    tp = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    tp.grad = torch.tensor(g.copy())
    cr.optim.clip_grad_value_([p], 1.0)
    torch.nn.utils.clip_grad_value_([tp], 1.0)
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy())


# ------------------------------------------------------------------ state

@pytest.mark.parametrize("name, kwargs", [("sgd", dict(lr=0.1, momentum=0.9)), ("adam", dict(lr=0.01, amsgrad=True)),
                                          ("adafactor", {}), ("shampoo", dict(update_freq=2)),
                                          ("rmsprop", dict(centered=True, momentum=0.5))])
def test_state_dict_round_trip_continues_identically(name, kwargs):
    prob = _problem(6)
    X, Y = cr.tensor(prob["X"]), cr.tensor(prob["Y"])

    def make_run():
        W = cr.tensor(prob["W"].copy(), requires_grad=True)
        b = cr.tensor(prob["b"].copy(), requires_grad=True)
        return W, b, cr.optim.create(name, [("W", W), ("b", b)], **kwargs)

    def train(W, b, opt, n):
        for _ in range(n):
            opt.zero_grad()
            _cr_loss(W, b, X, Y).backward()
            opt.step()

    W, b, opt = make_run()
    train(W, b, opt, 5)
    saved, saved_W, saved_b = opt.state_dict(), W.numpy().copy(), b.numpy().copy()
    train(W, b, opt, 5)
    W2, b2, opt2 = make_run()
    with cr.no_grad():
        W2.copy_(cr.tensor(saved_W))
        b2.copy_(cr.tensor(saved_b))
    opt2.load_state_dict(saved)
    train(W2, b2, opt2, 5)
    np.testing.assert_array_equal(W2.numpy(), W.numpy())
    np.testing.assert_array_equal(b2.numpy(), b.numpy())
    assert set(saved["state"]) == {"W", "b"}


def test_loading_a_state_for_other_parameters_is_an_error_and_changes_nothing():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.create("adam", [("a", a)], lr=0.1)
    (a * a).sum().backward()
    opt.step()
    before = {k: (v.numpy().copy() if isinstance(v, cr.Tensor) else v)
              for k, v in opt.state_dict()["state"]["a"].items()}
    other = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    opt_other = cr.optim.create("adam", [("z", other)], lr=0.5)
    (other * other).sum().backward()
    opt_other.step()
    with pytest.raises(cr.optim.StateDictError, match="'z'"):
        opt.load_state_dict(opt_other.state_dict())
    # same name, other shape
    opt_shape = cr.optim.create("adam", [("a", other)], lr=0.5)
    opt_shape.step()
    with pytest.raises(cr.optim.StateDictError, match="shape"):
        opt.load_state_dict(opt_shape.state_dict())
    # another algorithm
    with pytest.raises(cr.optim.StateDictError, match="sgd"):
        opt.load_state_dict(cr.optim.create("sgd", [("a", a)], lr=0.1).state_dict())
    after = opt.state_dict()
    for k, v in before.items():
        got = after["state"]["a"][k]
        np.testing.assert_array_equal(got.numpy() if isinstance(got, cr.Tensor) else got, v)
    assert after["param_groups"][0]["lr"] == 0.1


def _backends():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        avail = cr.backends.available()
    return [pytest.param(n, marks=() if r is None else pytest.mark.skip(reason=f"backend {n}: {r}"))
            for n, r in avail.items()]


@pytest.mark.parametrize("backend", _backends())
@pytest.mark.parametrize("name", ["sgd", "adam", "adafactor", "shampoo", "lion"])
def test_state_lives_on_the_parameters_dtype_and_backend(backend, name):
    w = cr.tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True, backend=backend)
    opt = cr.optim.create(name, [w], lr=0.1, **({"momentum": 0.9} if name == "sgd" else {}))
    (w * w).sum().backward()
    opt.step()
    assert w.dtype == cr.float32 and w.backend == backend and not np.allclose(w.numpy(), 1.0)
    arrays = {k: t for k, t in opt.state_dict()["state"]["0"].items() if isinstance(t, cr.Tensor)}
    assert arrays
    for t in arrays.values():
        assert t.dtype == cr.float32 and t.backend == w.backend
    opt.load_state_dict(opt.state_dict())
    opt.step()


def test_param_groups_like_torch():
    a = cr.tensor([1.0], requires_grad=True)
    b = cr.tensor([1.0], requires_grad=True)
    opt = cr.optim.create("sgd", [{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["params"][0] is b
    a.grad, b.grad = cr.tensor([1.0]), cr.tensor([1.0])
    opt.param_groups[0]["lr"] = 0.25          # edited by hand, as torch users do
    opt.step()
    assert a.tolist() == [0.75] and b.tolist() == [0.5]
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_named_parameters_of_a_module_are_the_state_keys():
    cr.random.seed(0)
    net = cr.nn.MLP([2, 4, 1])
    opt = cr.optim.create("sgd", net.named_parameters(), lr=0.1, momentum=0.9)
    cr.mean(net(cr.ones((3, 2))) ** 2).backward()
    opt.step()
    assert set(opt.state_dict()["state"]) == {n for n, _ in net.named_parameters()}


# -------------------------------------------------------------- bad input

@pytest.mark.parametrize("name, kwargs, fragment", [
    ("sgd", dict(lr=-0.1), "lr must be a number >= 0, got -0.1"),
    ("adam", dict(betas=(0.9, 1.0)), "betas[1] must be in [0, 1), got 1.0"),
    ("adamw", dict(betas=(-0.1, 0.9)), "betas[0]"),
    ("adam", dict(eps=-1.0), "eps"),
    ("rmsprop", dict(alpha=1.5), "alpha"),
    ("sgd", dict(nesterov=True), "nesterov"),
    ("lion", dict(betas=(0.9,)), "betas"),
    ("adafactor", dict(d=0.5), "d (the clipping threshold)"),
    ("sophia", dict(hessian_interval=0), "hessian_interval"),
    ("adam", dict(momentum=0.9), "no hyperparameter 'momentum'"),
])
def test_bad_hyperparameters_name_the_value(name, kwargs, fragment):
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(cr.HyperparameterError) as info:
        cr.optim.create(name, [w], **kwargs)
    assert fragment in str(info.value)


def test_unknown_optimizer_suggests_a_name():
    with pytest.raises(cr.UnknownNameError, match="adamw"):
        cr.optim.create("adamv", [cr.tensor([1.0], requires_grad=True)])


def test_lr_may_be_a_schedule():
    w = cr.tensor([0.0], requires_grad=True)
    sched = cr.schedules.create("step", lr=1.0, step_size=2, gamma=0.5)
    opt = cr.optim.create("sgd", [w], lr=sched)
    seen = []
    for _ in range(5):
        before = w.item()
        w.grad = cr.tensor([-1.0])
        opt.step()
        seen.append(w.item() - before)
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert opt.state_dict()["param_groups"][0]["lr"]["name"] == "step"


def test_every_builtin_is_listed():
    assert {"sgd", "rmsprop", "adagrad", "adam", "adamw", "lion", "adafactor", "sophia",
            "shampoo"} <= set(cr.optim.names())


# ------------------------------------------------ steps returned as Scaled(direction, scale)

@pytest.mark.parametrize("shape", [(3,), (784, 512)])   # one block, and many blocks
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_scaled_step_gives_the_values_of_the_array_step_bit_for_bit(shape, dtype):
    """SGD's Scaled(grad, -lr) is added block by block on NumPy: the same two roundings per
    entry as p += g * -lr (as the lessons write it), so the same parameters to the bit."""
    rng = np.random.default_rng(0)
    w0, g = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    w = cr.tensor(w0.copy(), requires_grad=True)
    w.grad = cr.tensor(g)
    cr.optim.create("sgd", [w], lr=0.01).step()
    expected = w0.copy()
    expected += g * -0.01
    assert np.array_equal(w.numpy(), expected)


def test_torch_backend_steps_with_add_alpha_as_torch_sgd():
    torch = pytest.importorskip("torch", reason="the torch backend needs torch")
    rng = np.random.default_rng(1)
    w0, g = rng.standard_normal((50, 40)).astype("float32"), rng.standard_normal((50, 40)).astype("float32")
    w = cr.tensor(w0.copy(), backend="torch", requires_grad=True)
    w.grad = cr.tensor(g, backend="torch")
    cr.optim.create("sgd", [w], lr=0.1).step()
    ref = torch.tensor(w0, requires_grad=True)
    ref.grad = torch.tensor(g)
    torch.optim.SGD([ref], lr=0.1).step()
    assert np.array_equal(w.numpy(), ref.detach().numpy())


@pytest.mark.parametrize("bad", ["string scale", "bool scale", "wrong shape", "integer direction"])
def test_a_bad_scaled_step_is_refused_and_changes_nothing(bad):
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    w.grad = cr.tensor([0.5, 0.5])

    def update(grad, state, param, hp):
        direction = {"wrong shape": grad[:1], "integer direction": (grad * 0).astype(int)}.get(bad, grad)
        scale = {"string scale": "-0.1", "bool scale": True}.get(bad, -0.1)
        return cr.optim.Scaled(direction, scale), state
    opt = cr.optim.create("sgd", [w], lr=0.1)
    opt.algorithm = cr.optim.Algorithm(defaults=opt.algorithm.defaults, update=update)
    with pytest.raises(TypeError, match="Scaled"):
        opt.step()
    assert w.tolist() == [1.0, 2.0] and opt.state == {}


@pytest.mark.parametrize("backend_name", ["numpy", "torch"])
@pytest.mark.parametrize("layout", ["the parameter itself", "its flip", "a window ahead in one buffer",
                                    "a window behind in one buffer"])
def test_a_scaled_step_sharing_the_parameters_memory_reads_it_before_writing(backend_name, layout):
    """A direction that is the parameter (weight decay) or a view of its memory: every entry
    of the step is the old value, as in p += alpha * (a copy of the direction)."""
    if backend_name == "torch":
        pytest.importorskip("torch", reason="the torch backend needs torch")
    n = 200_000   # several of the NumPy backend's blocks
    buffer = cr.tensor(np.random.default_rng(2).standard_normal(n + 1), backend=backend_name)
    w = {"a window ahead in one buffer": buffer[:n], "a window behind in one buffer": buffer[1:]}.get(
        layout, cr.tensor(buffer.numpy()[:n], backend=backend_name))
    direction = {"the parameter itself": lambda: w, "its flip": lambda: cr.flip(w, 0),
                 "a window ahead in one buffer": lambda: buffer[1:],
                 "a window behind in one buffer": lambda: buffer[:n]}[layout]()
    expected = w.numpy() + 0.5 * direction.numpy()   # copies, taken before the step
    cr.optim.add_step(w._backend, w._data, cr.optim.Scaled(direction._data, 0.5))
    np.testing.assert_array_equal(w.numpy(), expected)

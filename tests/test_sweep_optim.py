"""Sweep of optimizers, schedules, gradient clipping and the GradScaler for silently wrong
answers, with torch as the oracle where torch has the feature.

Covers (each a class of bug, parametrized over optimizers / hyperparameters / backends):
- ``maximize=True`` together with ``weight_decay`` (and momentum) matches torch.optim;
- a hyperparameter changed in ``param_groups`` mid-run (momentum switched on, lr, betas...)
  is followed as torch follows it;
- a parameter whose ``.grad`` is None on a step keeps its state exactly (none is created),
  for every built-in optimizer (sophia included, on a Hessian refresh step);
- ``load_state_dict`` refuses a per-parameter step count that is not an integer >= 0 and
  leaves the optimizer untouched;
- numeric hyperparameters refuse bools (True is not a number);
- ``sgdr`` with ``T_mult > 1`` restarts at every restart step (torch's stepping);
- schedules refuse integer arguments that are negative, fractional or bools;
- ``clip_grad_norm_`` over gradients of mixed dtypes measures the total in the widest
  dtype (as torch), whatever their order;
- ``clip_grad_value_`` refuses a negative or NaN bound and changes nothing.
"""
import math
import warnings

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch", reason="torch is the oracle")


def _backends():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        avail = cr.backends.available()
    return [b for b in ("numpy", "torch") if avail.get(b, "missing") is None]


BACKENDS = _backends()
SHAPES = [(3, 4), (5,), ()]


def _grads(steps, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) for s in SHAPES] for _ in range(steps)]


def _trajectories(name, torch_name, kwargs, backend, steps=8, change=None, change_at=None):
    """Both optimizers on the same float64 parameters and gradients; ``change`` is written
    into every param group before step ``change_at``.  Returns (ours, torch's) parameters."""
    init = [np.random.default_rng(10 + i).normal(size=s) for i, s in enumerate(SHAPES)]
    ours = [cr.tensor(x.copy(), requires_grad=True, backend=backend) for x in init]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in init]
    opt = cr.optim.create(name, ours, **kwargs)
    topt = getattr(torch.optim, torch_name)(theirs, **kwargs)
    for t, gs in enumerate(_grads(steps)):
        if t == change_at:
            for g in opt.param_groups + topt.param_groups:
                g.update(change)
        for p, tp, g in zip(ours, theirs, gs):
            p.grad = cr.tensor(g.copy(), backend=backend)
            tp.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
    return [p.numpy() for p in ours], [tp.detach().numpy() for tp in theirs]


# ------------------------------------------------- maximize with weight decay

MAXIMIZE_CASES = [
    ("sgd", "SGD", dict(lr=0.1, weight_decay=0.1, maximize=True)),
    ("sgd", "SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)),
    ("sgd", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05, maximize=True)),
    ("sgd", "SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
    ("sgd", "SGD", dict(lr=0.1, momentum=0.9, maximize=True)),
    ("rmsprop", "RMSprop", dict(lr=0.01, weight_decay=0.1, momentum=0.3, centered=True, maximize=True)),
    ("adagrad", "Adagrad", dict(lr=0.1, weight_decay=0.1, lr_decay=0.1, maximize=True)),
    ("adam", "Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("adamw", "AdamW", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("adafactor", "Adafactor", dict(lr=0.01, weight_decay=0.1, maximize=True)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, torch_name, kwargs", MAXIMIZE_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[2])}" for c in MAXIMIZE_CASES])
def test_maximize_with_weight_decay_matches_torch(name, torch_name, kwargs, backend):
    ours, theirs = _trajectories(name, torch_name, kwargs, backend)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# ------------------------------------------------ hyperparameters changed mid-run

MIDRUN_CASES = [
    ("sgd", "SGD", dict(lr=0.1), dict(momentum=0.9)),
    ("sgd", "SGD", dict(lr=0.1, weight_decay=0.1), dict(momentum=0.5, dampening=0.2)),
    ("sgd", "SGD", dict(lr=0.1), dict(momentum=0.9, nesterov=True)),
    ("sgd", "SGD", dict(lr=0.1, momentum=0.9), dict(momentum=0.0)),
    ("sgd", "SGD", dict(lr=0.1), dict(lr=0.02, weight_decay=0.1)),
    ("adam", "Adam", dict(lr=0.1), dict(lr=0.05, betas=(0.5, 0.6))),
    ("rmsprop", "RMSprop", dict(lr=0.01), dict(alpha=0.5, eps=1e-3)),
    ("adagrad", "Adagrad", dict(lr=0.1), dict(lr_decay=0.5)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, torch_name, kwargs, change", MIDRUN_CASES,
                         ids=[f"{c[0]}-{'-'.join(f'{k}={v}' for k, v in c[3].items())}" for c in MIDRUN_CASES])
def test_hyperparameter_changed_mid_run_is_followed_like_torch(name, torch_name, kwargs, change, backend):
    ours, theirs = _trajectories(name, torch_name, kwargs, backend, change=change, change_at=3)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# ------------------------------------------- a parameter without a gradient is skipped

def _step(opt, params):
    if opt.algorithm.needs_hvp:
        opt.step(lambda *xs: sum((x * x * x).sum() for x in xs))
    else:
        opt.step()


def _frozen(opt, name):
    st = opt.state.get(name)
    if st is None:
        return None
    return {k: (v if isinstance(v, (int, float, type(None))) else np.array(v, copy=True)) for k, v in st.items()}


def _same_state(a, b):
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", sorted(cr.optim.names()))
def test_a_parameter_without_gradient_keeps_its_state(name):
    """torch skips a parameter whose .grad is None: no state is created or advanced for it
    (sophia: also on a Hessian refresh step, where the others get a sample)."""
    kwargs = {"sgd": dict(momentum=0.9), "sophia": dict(hessian_interval=2)}.get(name, {})
    a = cr.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    b = cr.tensor(np.array([[0.3, -0.7], [1.1, 0.2]]), requires_grad=True)
    opt = cr.optim.create(name, [("a", a), ("b", b)], **kwargs)
    # step 0 (a refresh step for sophia): b has no gradient, so b gets no state
    a.grad = cr.tensor(np.array([0.1, 0.2, -0.3]))
    b.grad = None
    _step(opt, [a, b])
    assert "b" not in opt.state, sorted(opt.state["b"])
    # both step, then b sits out steps 2 and 3 (3 is not a refresh step): b's state stays as it was
    b.grad = cr.tensor(np.array([[0.5, -0.1], [0.2, 0.4]]))
    _step(opt, [a, b])
    before, b_before = _frozen(opt, "b"), b.numpy().copy()
    for _ in range(2):
        b.grad = None
        a.grad = cr.tensor(np.array([0.1, 0.2, -0.3]))
        _step(opt, [a, b])
        assert _same_state(_frozen(opt, "b"), before), (sorted(opt.state["b"]), sorted(before))
        np.testing.assert_array_equal(b.numpy(), b_before)


# ------------------------------------------- per-parameter step count in a loaded state

STEP_OPTIMIZERS = [("adam", {}), ("adamw", {}), ("rmsprop", {}), ("adagrad", {}), ("adafactor", {}),
                   ("sgd", dict(momentum=0.9)), ("shampoo", {}), ("sophia", {})]


@pytest.mark.parametrize("bad", [-3, 2.5, "4", True, None], ids=repr)
@pytest.mark.parametrize("name, kwargs", STEP_OPTIMIZERS, ids=[c[0] for c in STEP_OPTIMIZERS])
def test_loading_a_bad_step_count_is_refused_and_changes_nothing(name, kwargs, bad):
    w = cr.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    opt = cr.optim.create(name, [("w", w)], **kwargs)
    w.grad = cr.tensor(np.array([0.1, 0.2, -0.3]))
    _step(opt, [w])
    assert "step" in opt.state["w"]
    sd = opt.state_dict()
    before = _frozen(opt, "w")
    sd["state"]["w"]["step"] = bad
    with pytest.raises(cr.optim.StateDictError, match="step"):
        opt.load_state_dict(sd)
    assert _same_state(_frozen(opt, "w"), before)


def test_a_step_count_saved_as_a_float_tensor_still_loads():
    w = cr.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = cr.optim.create("adam", [("w", w)], lr=0.1)
    w.grad = cr.tensor(np.array([0.1, 0.2]))
    opt.step()
    sd = opt.state_dict()
    sd["state"]["w"]["step"] = cr.tensor(1.0)   # torch keeps its step as a float tensor
    opt.load_state_dict(sd)
    assert opt.state["w"]["step"] == 1 and type(opt.state["w"]["step"]) is int


# ------------------------------------------------ numeric hyperparameters refuse bools

def _numeric_hyperparameters():
    out = []
    for name in sorted(cr.optim.names()):
        for key, value in cr.optim.get(name).defaults.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append((name, key))
    return out


@pytest.mark.parametrize("flag", [True, False])
@pytest.mark.parametrize("name, key", _numeric_hyperparameters(), ids=lambda v: str(v))
def test_a_bool_is_not_a_number_for_any_hyperparameter(name, key, flag):
    with pytest.raises(cr.HyperparameterError, match=key):
        cr.optim.create(name, [cr.tensor([1.0], requires_grad=True)], **{key: flag})


# ------------------------------------------------------------------ schedules

def _sgdr_reference(t, T_0, T_mult, lr, eta_min):
    """torch's CosineAnnealingWarmRestarts.step(): the restarts walked in integers."""
    t_cur, t_i = t, T_0
    while t_cur >= t_i:
        t_cur, t_i = t_cur - t_i, t_i * T_mult
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2


@pytest.mark.parametrize("T_0, T_mult", [(1, 3), (2, 3), (3, 3), (1, 2), (5, 2), (2, 5), (4, 7)])
def test_sgdr_restarts_at_every_restart_step(T_0, T_mult):
    s = cr.schedules.create("sgdr", lr=0.5, T_0=T_0, T_mult=T_mult, eta_min=0.01)
    restarts = [T_0 * (T_mult ** n - 1) // (T_mult - 1) for n in range(12)]
    for r in restarts:
        for t in (r - 1, r, r + 1):
            if t >= 0:
                assert s(t) == pytest.approx(_sgdr_reference(t, T_0, T_mult, 0.5, 0.01), rel=1e-9), t
    for r in restarts[1:]:
        assert s(r) == 0.5, f"no restart at step {r}"


def test_sgdr_matches_torch_stepping_through_a_restart():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3, eta_min=0.01)
    ours = cr.schedules.create("sgdr", lr=0.5, T_0=2, T_mult=3, eta_min=0.01)
    for t in range(250):   # a restart at step 242
        assert ours(t) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-15), t
        opt.step()
        sched.step()


BAD_SCHEDULE_INTEGERS = [
    ("inverse_sqrt", dict(lr=0.1), "warmup", [-5, 2.5, True]),
    ("multistep", dict(lr=0.1), "milestones", [[-1, 3], [1.5, 3], [True, 3]]),
    ("step", dict(lr=0.1), "step_size", [-1, 2.5, True]),
    ("cosine", dict(lr=0.1), "T_max", [-1, 2.5, True]),
    ("sgdr", dict(lr=0.1, T_0=2), "T_mult", [-1, 2.5, True]),
    ("polynomial", dict(lr=0.1), "total_iters", [-1, 2.5, True]),
]


@pytest.mark.parametrize("name, base, key, bads", BAD_SCHEDULE_INTEGERS, ids=[c[2] for c in BAD_SCHEDULE_INTEGERS])
def test_schedule_integer_arguments_refuse_negative_fractional_and_bool(name, base, key, bads):
    for bad in bads:
        with pytest.raises(cr.HyperparameterError, match=key):
            cr.schedules.create(name, **base, **{key: bad})


def test_schedule_integer_arguments_accept_numpy_integers():
    s = cr.schedules.create("multistep", lr=1.0, milestones=np.array([2, 4]), gamma=0.5)
    assert [s(t) for t in range(6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert cr.schedules.create("inverse_sqrt", lr=1.0, warmup=np.int64(4))(2) == 0.5


# ------------------------------------------------------------------ clipping

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("order", ["float32-first", "float64-first"])
def test_clip_grad_norm_of_mixed_dtypes_is_measured_in_the_widest(order, backend):
    grads = [("float32", np.array([1.0, 2.0])), ("float64", np.array([1e39, 3.0]))]
    if order == "float64-first":
        grads = grads[::-1]
    ours, theirs = [], []
    for dt, g in grads:
        p = cr.tensor(np.zeros(2), backend=backend).astype(dt).detach().requires_grad_()
        p.grad = cr.tensor(g, backend=backend).astype(dt)
        ours.append(p)
        tp = torch.zeros(2, dtype=getattr(torch, dt), requires_grad=True)
        tp.grad = torch.tensor(g).to(getattr(torch, dt))
        theirs.append(tp)
    with np.errstate(over="ignore"):
        total = cr.optim.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert total.dtype == cr.float64
    assert float(total) == pytest.approx(float(ttotal), rel=1e-12)
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.astype("float64").numpy(), tp.grad.double().numpy(), rtol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_grad_norm_of_float32_and_float64_returns_torchs_total(backend):
    p = cr.tensor(np.zeros(3, np.float32), requires_grad=True, backend=backend)
    q = cr.tensor(np.zeros(2), requires_grad=True, backend=backend)
    p.grad = cr.tensor(np.array([1e-3, 2e-3, 1.0000001], np.float32), backend=backend)
    q.grad = cr.tensor(np.array([3.0, 4.0]), backend=backend)
    tp, tq = torch.zeros(3, requires_grad=True), torch.zeros(2, dtype=torch.float64, requires_grad=True)
    tp.grad = torch.tensor(np.array([1e-3, 2e-3, 1.0000001], np.float32))
    tq.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    total = cr.optim.clip_grad_norm_([p, q], 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_([tp, tq], 1.0)
    assert float(total) == pytest.approx(float(ttotal), rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [-1.0, -0.0001, float("nan"), -math.inf])
def test_clip_grad_value_refuses_a_negative_or_nan_bound_and_changes_nothing(bad, backend):
    p = cr.tensor(np.zeros(3), requires_grad=True, backend=backend)
    p.grad = cr.tensor(np.array([-3.0, 0.2, 5.0]), backend=backend)
    with pytest.raises(cr.HyperparameterError, match="clip_value"):
        cr.optim.clip_grad_value_([p], bad)
    assert p.grad.tolist() == [-3.0, 0.2, 5.0]

"""Schedules against torch.optim.lr_scheduler and the lessons' warmup + cosine."""
import math

import pytest

import chainrule as cr

torch = pytest.importorskip("torch", reason="torch.optim.lr_scheduler is the oracle")

LR = 0.5
S = torch.optim.lr_scheduler
CASES = [  # (our name, our kwargs, torch scheduler factory, steps)
    ("step", dict(lr=LR, step_size=3, gamma=0.5), lambda o: S.StepLR(o, step_size=3, gamma=0.5), 20),
    ("multistep", dict(lr=LR, milestones=[2, 5, 9], gamma=0.3),
     lambda o: S.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.3), 15),
    ("exponential", dict(lr=LR, gamma=0.9), lambda o: S.ExponentialLR(o, gamma=0.9), 20),
    ("linear", dict(lr=LR, start_factor=0.25, end_factor=1.0, total_iters=6),
     lambda o: S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=6), 12),
    ("linear", dict(lr=LR, start_factor=1.0, end_factor=0.1, total_iters=5),
     lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=5), 10),
    ("cosine", dict(lr=LR, T_max=10, eta_min=0.01), lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 11),
    ("sgdr", dict(lr=LR, T_0=4, T_mult=1, eta_min=0.001),
     lambda o: S.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=1, eta_min=0.001), 20),
    ("sgdr", dict(lr=LR, T_0=3, T_mult=2, eta_min=0.0),
     lambda o: S.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2), 40),
    ("one_cycle", dict(max_lr=LR, total_steps=20),
     lambda o: S.OneCycleLR(o, max_lr=LR, total_steps=20, cycle_momentum=False), 20),
    ("one_cycle", dict(max_lr=LR, total_steps=30, pct_start=0.25, anneal_strategy="linear",
                       div_factor=10.0, final_div_factor=100.0, three_phase=True),
     lambda o: S.OneCycleLR(o, max_lr=LR, total_steps=30, pct_start=0.25, anneal_strategy="linear",
                            div_factor=10.0, final_div_factor=100.0, three_phase=True,
                            cycle_momentum=False), 30),
    ("polynomial", dict(lr=LR, total_iters=8, power=2.0), lambda o: S.PolynomialLR(o, total_iters=8, power=2.0), 12),
]


@pytest.mark.parametrize("name, kwargs, make, steps", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_torch(name, kwargs, make, steps):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR)
    sched = make(opt)
    ours = cr.schedules.create(name, **kwargs)
    for t in range(steps):
        assert ours(t) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-15), f"{name} at step {t}"
        opt.step()
        sched.step()


def _lesson(step, warmup_steps, total_steps, max_lr, min_lr):  # the lesson's function, verbatim logic
    if step < warmup_steps:
        return max_lr * step / warmup_steps
    if step > total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def test_warmup_cosine_is_the_lessons_schedule():
    s = cr.schedules.create("warmup_cosine", peak_lr=3e-4, warmup=2000, total=100000, min_lr=3e-5)
    assert f"{s(0):.2e}" == "0.00e+00" and f"{s(2000):.2e}" == "3.00e-04" and f"{s(100000):.2e}" == "3.00e-05"
    for t in list(range(0, 100001, 997)) + [1999, 2000, 2001, 99999, 100000, 120000]:
        assert s(t) == pytest.approx(_lesson(t, 2000, 100000, 3e-4, 3e-5), rel=1e-12, abs=1e-18)
    values = [s(t) for t in range(0, 100001, 50)]
    assert max(values) == s(2000) == pytest.approx(3e-4)       # peak at the end of warmup
    assert min(values[40:]) == pytest.approx(3e-5)             # minimum at the end


def test_lr_at_with_zero_floor():
    s = cr.schedules.create("warmup_cosine", peak_lr=3e-4, warmup=500, total=10000)
    for t in range(0, 10001, 250):
        assert s(t) == pytest.approx(_lesson(t, 500, 10000, 3e-4, 0.0), rel=1e-12, abs=1e-18)


def test_join_and_constant_and_inverse_sqrt():
    up = cr.schedules.create("linear", lr=1.0, start_factor=0.0, end_factor=1.0, total_iters=4)
    s = cr.schedules.join([up, cr.schedules.create("constant", lr=0.25)], [4])
    assert [s(t) for t in range(7)] == [0.0, 0.25, 0.5, 0.75, 0.25, 0.25, 0.25]
    inv = cr.schedules.create("inverse_sqrt", lr=1.0, warmup=4)
    assert [inv(t) for t in (0, 2, 4, 16)] == [0.0, 0.5, 1.0, 0.5]


def test_optimizer_follows_a_schedule_like_torch():
    """sgd with lr=schedule equals torch SGD driven by the matching scheduler."""
    sched = cr.schedules.create("cosine", lr=0.1, T_max=10)
    w = cr.tensor([1.0, -1.0], dtype="float64", requires_grad=True)
    tw = torch.tensor([1.0, -1.0], dtype=torch.float64, requires_grad=True)
    opt = cr.optim.create("sgd", [w], lr=sched, momentum=0.9)
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    tsched = S.CosineAnnealingLR(topt, T_max=10)
    for _ in range(10):
        opt.zero_grad(); topt.zero_grad()
        cr.sum(w ** 4).backward(); torch.sum(tw ** 4).backward()
        opt.step(); topt.step(); tsched.step()
        assert w.numpy() == pytest.approx(tw.detach().numpy(), rel=1e-9)


@pytest.mark.parametrize("name, kwargs, fragment", [
    ("step", dict(lr=-1.0, step_size=2), "lr"), ("cosine", dict(lr=0.1, T_max=0), "T_max"),
    ("warmup_cosine", dict(peak_lr=1.0, warmup=10, total=5), "total"),
    ("one_cycle", dict(max_lr=1.0, total_steps=10, anneal_strategy="exp"), "anneal_strategy"),
    ("cosine", dict(lr=0.1), "T_max"),
])
def test_bad_hyperparameters(name, kwargs, fragment):
    with pytest.raises(cr.HyperparameterError, match=fragment):
        cr.schedules.create(name, **kwargs)


def test_names_and_unknown():
    assert {"constant", "step", "multistep", "exponential", "linear", "inverse_sqrt", "cosine",
            "warmup_cosine", "sgdr", "one_cycle", "polynomial"} <= set(cr.schedules.names())
    with pytest.raises(cr.UnknownNameError, match="cosine"):
        cr.schedules.create("cosin", lr=1.0)

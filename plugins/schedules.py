"""Built-in learning-rate schedules (entry point ``schedules``).

Each factory takes hyperparameters (torch.optim.lr_scheduler's names where torch
has the schedule, with ``lr`` the base learning rate) and returns ``step -> lr``.
Matching torch 2.13 (tests/test_schedules.py): step, multistep, exponential,
linear, cosine (up to T_max), sgdr, one_cycle, polynomial.

Past its end: a schedule with an end (``total``, ``total_steps``, ``total_iters``,
``T_max``) holds its final rate forever after, as each docstring says: a rate never
climbs again once the schedule is over (torch's CosineAnnealingLR climbs back after
T_max and OneCycleLR raises; a training loop that runs a few steps more keeps the
final rate instead).  Only ``sgdr`` climbs again, by design: its restarts have no end.
Steps count from 0; a negative step is refused (``chainrule.schedules.Schedule``).
"""
import bisect
import math
import numbers

from chainrule.errors import HyperparameterError
from chainrule.hookspecs import hookimpl
from chainrule.schedules import join


def _check(name, value, ok, what):
    if not ok:
        raise HyperparameterError(f"{name} must be {what}, got {value!r}")


def _positive_int(name, value):
    _check(name, value, isinstance(value, int) and not isinstance(value, bool) and value > 0,
           "an integer > 0")


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _lr(value, name="lr"):
    _check(name, value, _number(value) and 0 <= value < math.inf, "a finite number >= 0")


def _factor(name, value):
    _check(name, value, _number(value) and 0 < value < math.inf, "a finite number > 0")


def constant(lr):
    """lr at every step."""
    _lr(lr)
    return lambda step: lr


def step(lr, step_size, gamma=0.1):
    """lr * gamma ** (step // step_size)  (torch StepLR)."""
    _lr(lr)
    _positive_int("step_size", step_size)
    _factor("gamma", gamma)
    return lambda t: lr * gamma ** (t // step_size)


def multistep(lr, milestones, gamma=0.1):
    """lr * gamma ** (number of milestones <= step)  (torch MultiStepLR)."""
    _lr(lr)
    _factor("gamma", gamma)
    milestones = list(milestones)
    for m in milestones:   # torch decays when the step equals a milestone: 1.5 or -1 never is
        _check("milestones", m, _integer(m) and m >= 0, "integers >= 0")
    milestones = sorted(int(m) for m in milestones)
    return lambda t: lr * gamma ** bisect.bisect_right(milestones, t)


def exponential(lr, gamma):
    """lr * gamma ** step  (torch ExponentialLR)."""
    _lr(lr)
    _factor("gamma", gamma)
    return lambda t: lr * gamma ** t


def linear(lr, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    """lr * (start_factor -> end_factor linearly over total_iters), then lr * end_factor
    for every step after total_iters (torch LinearLR; start_factor=0 is a warmup from zero)."""
    _lr(lr)
    _positive_int("total_iters", total_iters)
    _lr(start_factor, "start_factor")
    _lr(end_factor, "end_factor")
    def f(t):
        p = min(t, total_iters) / total_iters
        return lr * (start_factor * (1 - p) + end_factor * p)   # exactly end_factor at the end
    return f


def inverse_sqrt(lr, warmup=0):
    """Linear warmup to lr, then lr * sqrt(warmup / step)  (the Transformer paper's shape)."""
    _lr(lr)
    _check("warmup", warmup, _integer(warmup) and warmup >= 0, "an integer >= 0")

    def f(t):
        if t < warmup:
            return lr * t / warmup
        return lr * math.sqrt(max(warmup, 1) / max(t, 1))
    return f


def cosine(lr, T_max, eta_min=0.0):
    """eta_min + (lr - eta_min) * (1 + cos(pi * step / T_max)) / 2, then eta_min for every
    step after T_max: torch CosineAnnealingLR up to T_max, where torch's climbs back to lr
    over the next T_max steps (use ``sgdr`` for restarts)."""
    _lr(lr)
    _lr(eta_min, "eta_min")
    _positive_int("T_max", T_max)
    return lambda t: eta_min + (lr - eta_min) * (1 + math.cos(math.pi * min(t, T_max) / T_max)) / 2


def warmup_cosine(peak_lr, warmup, total, min_lr=0.0):
    """Linear warmup 0 -> peak_lr over ``warmup`` steps, then cosine to min_lr at ``total``:
    a join of ``linear`` and ``cosine`` (0, peak_lr, min_lr at steps 0, warmup, total), then
    min_lr for every step after total."""
    _lr(peak_lr, "peak_lr")
    _lr(min_lr, "min_lr")
    _check("total", total, isinstance(total, int) and total > warmup >= 0, "an integer > warmup >= 0")
    decay = cosine(peak_lr, total - warmup, min_lr)
    if warmup == 0:
        return decay
    return join([linear(peak_lr, 0.0, 1.0, warmup), decay], [warmup])


def sgdr(lr, T_0, T_mult=1, eta_min=0.0):
    """Cosine annealing with warm restarts (Loshchilov & Hutter; torch CosineAnnealingWarmRestarts):
    the one schedule whose rate climbs again, back to lr at each restart, with no end."""
    _lr(lr)
    _lr(eta_min, "eta_min")
    _positive_int("T_0", T_0)
    _positive_int("T_mult", T_mult)

    def f(t):
        if T_mult == 1:
            t_cur, t_i = t % T_0, T_0
        else:   # walk the restarts exactly, as torch's step() does: a float log rounds
            t_cur, t_i = t, T_0   # T_0 * (T_mult**n - 1) / (T_mult - 1) down and misses the restart
            while t_cur >= t_i:
                t_cur, t_i = t_cur - t_i, t_i * T_mult
        return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2
    return f


def one_cycle(max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
              final_div_factor=1e4, three_phase=False):
    """Smith's one-cycle policy (torch OneCycleLR): up from max_lr/div_factor to max_lr over
    pct_start of the run, then down to max_lr/(div_factor*final_div_factor) at step
    total_steps - 1, the last step torch allows, and that final rate for every step after
    (torch raises there; its formula would climb again).  A phase of no steps (three_phase
    with pct_start * total_steps == 1, where torch divides by zero) is skipped."""
    _lr(max_lr, "max_lr")
    _positive_int("total_steps", total_steps)
    _factor("div_factor", div_factor)
    _factor("final_div_factor", final_div_factor)
    _check("pct_start", pct_start, 0 <= pct_start <= 1, "in [0, 1]")
    _check("anneal_strategy", anneal_strategy, anneal_strategy in ("cos", "linear"), "'cos' or 'linear'")
    initial = max_lr / div_factor
    low = initial / final_div_factor
    if three_phase:
        phases = [(pct_start * total_steps - 1, initial, max_lr),
                  (2 * pct_start * total_steps - 2, max_lr, initial),
                  (total_steps - 1, initial, low)]
    else:
        phases = [(pct_start * total_steps - 1, initial, max_lr), (total_steps - 1, max_lr, low)]

    def anneal(start, end, pct):
        if anneal_strategy == "linear":
            return (end - start) * pct + start
        return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)

    def f(t):
        if t >= total_steps - 1:   # the last step (also when it is the first: total_steps 1)
            return low
        begin = 0.0
        for i, (end_step, lo, hi) in enumerate(phases):
            if t <= end_step or i == len(phases) - 1:
                return hi if end_step == begin else anneal(lo, hi, (t - begin) / (end_step - begin))
            begin = end_step
    return f


def polynomial(lr, total_iters=5, power=1.0, end_lr=0.0):
    """(lr - end_lr) * (1 - min(step, total_iters) / total_iters) ** power + end_lr, so end_lr
    for every step after total_iters (torch PolynomialLR when end_lr = 0)."""
    _lr(lr)
    _lr(end_lr, "end_lr")
    _positive_int("total_iters", total_iters)
    _factor("power", power)   # power 0 would never decay: lr up to total_iters and at it (0 ** 0 = 1)
    return lambda t: (lr - end_lr) * (1 - min(t, total_iters) / total_iters) ** power + end_lr


@hookimpl
def chainrule_schedules():
    return {"constant": constant, "step": step, "multistep": multistep, "exponential": exponential,
            "linear": linear, "inverse_sqrt": inverse_sqrt, "cosine": cosine,
            "warmup_cosine": warmup_cosine, "sgdr": sgdr, "one_cycle": one_cycle,
            "polynomial": polynomial}

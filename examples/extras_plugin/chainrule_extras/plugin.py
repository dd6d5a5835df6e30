"""The hooks chainrule calls: one op, one optimizer, one initializer, one schedule."""
import math

import chainrule as cr
from chainrule.hookspecs import hookimpl
from chainrule.optim import Algorithm, check_betas, check_nonnegative


# ------------------------------------------------------------------ an op

def softsign_forward(x):
    """x / (1 + |x|): a tanh-like squashing with polynomial tails."""
    return x / (1.0 + cr.abs(x))


def softsign_slope(x):
    """d softsign / dx = 1 / (1 + |x|)^2 (1 at 0, where |x| has a kink: the two sides agree)."""
    return 1.0 / (1.0 + cr.abs(x)) ** 2


@hookimpl
def chainrule_ops(register):
    register("softsign", softsign_forward,
             vjp=lambda ans, x: lambda g: g * softsign_slope(x),
             jvp=lambda tangents, ans, x: tangents[0] * softsign_slope(x))


# ------------------------------------------------------------ an optimizer

class LAMB(Algorithm):
    """You et al. 2019: Adam's direction r = m_hat / (sqrt(v_hat) + eps) + wd * p, scaled per
    parameter by the trust ratio ||p|| / ||r||:  p -= lr * (||p|| / ||r||) * r."""

    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.0}

    def validate(self, hp):
        check_nonnegative(hp, "lr", "eps", "weight_decay")
        check_betas(hp)

    def init(self, param, hp):
        return {"step": 0, "exp_avg": cr.zeros_like(param), "exp_avg_sq": cr.zeros_like(param)}

    def update(self, grad, state, param, hp):
        b1, b2 = hp["betas"]
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * (grad * grad)
        r = (m / (1 - b1 ** t)) / (cr.sqrt(v / (1 - b2 ** t)) + hp["eps"]) + hp["weight_decay"] * param
        p_norm, r_norm = float(cr.sqrt(cr.sum(param * param))), float(cr.sqrt(cr.sum(r * r)))
        trust = p_norm / r_norm if p_norm > 0 and r_norm > 0 else 1.0
        return r * (-hp["lr"] * trust), state


@hookimpl
def chainrule_optimizers():
    return {"lamb": LAMB()}


# ---------------------------------------------------------- an initializer

def lecun_uniform():
    """U(-sqrt(3 / fan_in), sqrt(3 / fan_in)): variance 1 / fan_in."""
    def init(shape, fan_in=None, fan_out=None, dtype=None, backend=None):
        fan_in, _ = cr.init.fans(shape, fan_in, fan_out)
        bound = math.sqrt(3.0 / fan_in)
        return cr.random.uniform(shape, -bound, bound, dtype=dtype, backend=backend)
    return init


@hookimpl
def chainrule_initializers():
    return {"lecun_uniform": lecun_uniform}


# -------------------------------------------------------------- a schedule

def triangular(base_lr, max_lr, step_size):
    """Smith's cyclical learning rate: base_lr -> max_lr -> base_lr every 2 * step_size steps."""
    def schedule(step):
        cycle = step // (2 * step_size)
        x = abs(step / step_size - 2 * cycle - 1)
        return base_lr + (max_lr - base_lr) * max(0.0, 1 - x)
    return schedule


@hookimpl
def chainrule_schedules():
    return {"triangular": triangular}

"""Built-in optimizers, registered through this package's own entry point
(``optimizers = "chainrule.builtin_plugins.optimizers"``), exactly as a third party would.

Each is an ``Algorithm``: ``init(param) -> state`` and ``update(grad, state,
param, hp) -> (step, state)`` on raw arrays; ``step`` is added to the parameter.
Each is a pure update (``in_place = False``): it sets keys of the state dict it
is handed but never writes into the arrays in it, so the optimizer need not copy
them to keep a failed step from changing anything.
Hyperparameter names follow ``torch.optim``.  Matching torch 2.13 step by step
(float64, tests/test_optim.py): sgd, rmsprop, adagrad, adam, adamw, adafactor.
Checked against the papers' pseudo-code: lion, sophia, shampoo.
"""
import math

import chainrule as cr
from chainrule.backends import backend_of_raw
from chainrule.errors import HyperparameterError
from chainrule.hookspecs import hookimpl
from chainrule.optim import Algorithm, Scaled, check_betas, check_nonnegative, check_range


def _signed(grad, hp):
    return -grad if hp["maximize"] else grad


def _flag(hp, *names):
    for name in names:
        if not isinstance(hp.get(name), bool):
            raise HyperparameterError(f"{name} must be True or False, got {hp.get(name)!r}")


# ------------------------------------------------------------------- SGD

class SGD(Algorithm):
    """g += wd*p;  buf = momentum*buf + (1-dampening)*g;  p -= lr*(g + momentum*buf if nesterov else buf)."""

    in_place = False
    defaults = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                "nesterov": False, "maximize": False}

    def validate(self, hp):
        check_nonnegative(hp, "lr", "momentum", "dampening", "weight_decay")
        _flag(hp, "nesterov", "maximize")
        if hp["nesterov"] and (hp["momentum"] <= 0 or hp["dampening"] != 0):
            raise HyperparameterError(f"nesterov=True needs momentum > 0 and dampening = 0, got "
                                      f"momentum={hp['momentum']!r}, dampening={hp['dampening']!r}")

    def init(self, param, hp):
        if hp["momentum"] == 0:
            return {}
        return {"step": 0, "momentum_buffer": cr.zeros_like(param)}

    def update(self, grad, state, param, hp):
        momentum, wd = hp["momentum"], hp["weight_decay"]
        if not state and not wd and not momentum:      # plain SGD: the hot path
            return Scaled(grad, hp["lr"] if hp["maximize"] else -hp["lr"]), state
        if hp["maximize"]:    # as torch: negate first, so weight decay still pulls p towards 0
            grad = -grad
        if wd:
            grad = grad + wd * param
        if momentum:
            if "momentum_buffer" not in state:   # momentum switched on mid-run: torch starts a buffer
                state["momentum_buffer"], state["step"] = cr.zeros_like(param), 0
            buf = state["momentum_buffer"]
            damp, started = hp["dampening"], state["step"]
            if started:
                buf = buf * momentum
            buf = buf + (grad if not (damp and started) else (1 - damp) * grad)  # torch: buf_1 = g
            state["momentum_buffer"], state["step"] = buf, started + 1
            grad = grad + momentum * buf if hp["nesterov"] else buf
        return Scaled(grad, -hp["lr"]), state


# --------------------------------------------------------------- RMSprop

class RMSprop(Algorithm):
    """v = alpha*v + (1-alpha)*g^2;  p -= lr * g / (sqrt(v - mean(g)^2 if centered) + eps)."""

    in_place = False
    defaults = {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False, "maximize": False}

    def validate(self, hp):
        check_nonnegative(hp, "lr", "eps", "weight_decay", "momentum")
        check_range(hp, "alpha", 0.0, 1.0, hi_open=False)
        _flag(hp, "centered", "maximize")

    def init(self, param, hp):
        state = {"step": 0, "square_avg": cr.zeros_like(param)}
        if hp["momentum"] > 0:
            state["momentum_buffer"] = cr.zeros_like(param)
        if hp["centered"]:
            state["grad_avg"] = cr.zeros_like(param)
        return state

    def update(self, grad, state, param, hp):
        g = _signed(grad, hp)
        if hp["weight_decay"]:
            g = g + hp["weight_decay"] * param
        alpha = hp["alpha"]
        v = state["square_avg"] = state["square_avg"] * alpha + (1 - alpha) * (g * g)
        if hp["centered"]:
            mean = state["grad_avg"]
            mean = state["grad_avg"] = mean + (1 - alpha) * (g - mean)
            avg = cr.sqrt(v - mean * mean) + hp["eps"]
        else:
            avg = cr.sqrt(v) + hp["eps"]
        state["step"] += 1
        if hp["momentum"] > 0:
            buf = state["momentum_buffer"] = state["momentum_buffer"] * hp["momentum"] + g / avg
            return Scaled(buf, -hp["lr"]), state
        return Scaled(g / avg, -hp["lr"]), state


# --------------------------------------------------------------- Adagrad

class Adagrad(Algorithm):
    """s += g^2;  p -= lr / (1 + (t-1)*lr_decay) * g / (sqrt(s) + eps)."""

    in_place = False
    defaults = {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                "eps": 1e-10, "maximize": False}

    def validate(self, hp):
        check_nonnegative(hp, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
        _flag(hp, "maximize")

    def init(self, param, hp):
        return {"step": 0, "sum": cr.zeros_like(param) + hp["initial_accumulator_value"]}

    def update(self, grad, state, param, hp):
        g = _signed(grad, hp)
        if hp["weight_decay"]:
            g = g + hp["weight_decay"] * param
        state["step"] += 1
        clr = hp["lr"] / (1 + (state["step"] - 1) * hp["lr_decay"])
        s = state["sum"] = state["sum"] + g * g
        return Scaled(g / (cr.sqrt(s) + hp["eps"]), -clr), state


# ----------------------------------------------------------- Adam, AdamW

def scale_by_adam(g, state, hp):
    """Adam's statistics: the bias-corrected direction m_hat / (sqrt(v_hat) + eps)."""
    b1, b2 = hp["betas"]
    state["step"] += 1
    t = state["step"]
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m = state["exp_avg"] = m + (1 - b1) * (g - m)
    v = state["exp_avg_sq"] = v * b2 + (1 - b2) * (g * g)
    if hp["amsgrad"]:
        v = state["max_exp_avg_sq"] = cr.maximum(state["max_exp_avg_sq"], v)
    denom = cr.sqrt(v) / math.sqrt(1 - b2 ** t) + hp["eps"]
    return m / denom / (1 - b1 ** t)


class Adam(Algorithm):
    """m, v = EMAs of g and g^2;  p -= lr * m_hat / (sqrt(v_hat) + eps); weight_decay is L2 (in g)."""

    in_place = False
    defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                "amsgrad": False, "maximize": False}

    def validate(self, hp):
        check_nonnegative(hp, "lr", "eps", "weight_decay")
        check_betas(hp)
        _flag(hp, "amsgrad", "maximize")

    def init(self, param, hp):
        state = {"step": 0, "exp_avg": cr.zeros_like(param), "exp_avg_sq": cr.zeros_like(param)}
        if hp["amsgrad"]:
            state["max_exp_avg_sq"] = cr.zeros_like(param)
        return state

    def update(self, grad, state, param, hp):
        g = _signed(grad, hp)
        if hp["weight_decay"]:
            g = g + hp["weight_decay"] * param
        return Scaled(scale_by_adam(g, state, hp), -hp["lr"]), state


class AdamW(Adam):
    """Adam's statistics chained with decoupled decay: p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)."""

    defaults = {**Adam.defaults, "weight_decay": 1e-2}

    def update(self, grad, state, param, hp):
        direction = scale_by_adam(_signed(grad, hp), state, hp)
        if hp["weight_decay"]:
            direction = direction + hp["weight_decay"] * param
        return Scaled(direction, -hp["lr"]), state


# ------------------------------------------------------------------ Lion

class Lion(Algorithm):
    """Chen et al. 2023: p -= lr * (sign(b1*m + (1-b1)*g) + wd*p);  m = b2*m + (1-b2)*g."""

    in_place = False
    defaults = {"lr": 1e-4, "betas": (0.9, 0.99), "weight_decay": 0.0, "maximize": False}

    def validate(self, hp):
        check_nonnegative(hp, "lr", "weight_decay")
        check_betas(hp)
        _flag(hp, "maximize")

    def init(self, param, hp):
        return {"exp_avg": cr.zeros_like(param)}

    def update(self, grad, state, param, hp):
        g = _signed(grad, hp)
        b1, b2 = hp["betas"]
        m = state["exp_avg"]
        direction = cr.sign(b1 * m + (1 - b1) * g)
        if hp["weight_decay"]:
            direction = direction + hp["weight_decay"] * param
        state["exp_avg"] = m * b2 + (1 - b2) * g
        return Scaled(direction, -hp["lr"]), state


# ------------------------------------------------------------- Adafactor

_EPS = {"float64": 2.220446049250313e-16, "float32": 1.1920928955078125e-07,
        "float16": 0.0009765625, "bfloat16": 0.0078125}


def _rms(x):
    n = 1
    for d in backend_of_raw(x).shape(x):
        n *= d
    return float(cr.sqrt(cr.sum(x * x))) / math.sqrt(n)


class Adafactor(Algorithm):
    """Shazeer & Stern 2018 as torch.optim.Adafactor (2.13): factored second moments
    (row and column means of g^2 over the last two axes), beta2_t = 1 - t^beta2_decay,
    relative step rho_t = min(lr, 1/sqrt(t)) scaled by max(eps2, RMS(p)), update clipped
    to RMS <= d; no first moment; weight_decay decoupled."""

    in_place = False
    defaults = {"lr": 1e-2, "beta2_decay": -0.8, "eps": (None, 1e-3), "d": 1.0,
                "weight_decay": 0.0, "maximize": False}

    def validate(self, hp):
        check_nonnegative(hp, "lr", "weight_decay")
        if not isinstance(hp["beta2_decay"], (int, float)) or isinstance(hp["beta2_decay"], bool) \
                or not hp["beta2_decay"] <= 0:
            raise HyperparameterError(f"beta2_decay must be <= 0, got {hp['beta2_decay']!r}")
        eps = hp["eps"]
        if not isinstance(eps, (tuple, list)) or len(eps) != 2:
            raise HyperparameterError(f"eps must be a pair (eps1 or None, eps2), got {eps!r}")
        if eps[0] is not None:
            check_nonnegative({"eps[0]": eps[0]}, "eps[0]")
        check_nonnegative({"eps[1]": eps[1]}, "eps[1]")
        if not isinstance(hp["d"], (int, float)) or isinstance(hp["d"], bool) or not hp["d"] >= 1:
            raise HyperparameterError(f"d (the clipping threshold) must be >= 1, got {hp['d']!r}")
        _flag(hp, "maximize")

    def init(self, param, hp):
        b = backend_of_raw(param)
        shape = tuple(b.shape(param))
        if len(shape) > 1:
            dt = b.dtype(param)
            return {"step": 0, "row_var": b.zeros(shape[:-1] + (1,), dt),
                    "col_var": b.zeros(shape[:-2] + (1, shape[-1]), dt)}
        return {"step": 0, "variance": cr.zeros_like(param)}

    def update(self, grad, state, param, hp):
        b = backend_of_raw(param)
        g = _signed(grad, hp)
        eps1, eps2 = hp["eps"]
        if eps1 is None:
            eps1 = _EPS[b.dtype(param)]
        state["step"] += 1
        t = float(state["step"])
        w = t ** hp["beta2_decay"]                       # 1 - beta2_t
        rho = min(hp["lr"], 1 / t ** 0.5)
        alpha = max(eps2, _rms(param)) * rho
        decay = param * (-hp["lr"] * hp["weight_decay"]) if hp["weight_decay"] else None
        if "row_var" in state:
            r, c = state["row_var"], state["col_var"]
            r = state["row_var"] = r + w * (cr.mean(g * g, axis=-1, keepdims=True) - r)
            c = state["col_var"] = c + w * (cr.mean(g * g, axis=-2, keepdims=True) - c)
            var = (r @ c) / cr.maximum(cr.mean(r, axis=-2, keepdims=True), eps1)
        else:
            v = state["variance"]
            var = state["variance"] = v + w * (g * g - v)
        u = g / cr.sqrt(cr.maximum(var, eps1 * eps1))
        denom = max(1.0, _rms(u) / hp["d"])
        # torch decays p first, then adds the update: p_new = p*(1 - lr*wd) - alpha/denom * u
        step = u * (-alpha / denom)
        return (step + decay if decay is not None else step), state


# ---------------------------------------------------------------- Sophia

class Sophia(Algorithm):
    """Liu et al. 2023 (SophiaH): m = EMA_b1(g); every k steps h = EMA_b2(u * Hu), u Rademacher
    (Hutchinson's estimator through cr.hvp); p -= lr*wd*p; p -= lr * clip(m / max(rho*h, eps), 1).

    Needs ``opt.step(closure)`` with ``closure(*params) -> loss`` (a pure function of the
    parameters in the optimizer's order) on refresh steps: steps 0, k, 2k, ...
    """

    in_place = False
    defaults = {"lr": 1e-4, "betas": (0.965, 0.99), "rho": 0.04, "eps": 1e-12,
                "weight_decay": 0.1, "hessian_interval": 10, "maximize": False}
    needs_hvp = True

    def validate(self, hp):
        check_nonnegative(hp, "lr", "rho", "eps", "weight_decay")
        check_betas(hp)
        _flag(hp, "maximize")
        k = hp["hessian_interval"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise HyperparameterError(f"hessian_interval must be an integer >= 1, got {k!r}")

    def hessian_refresh(self, count, hp):
        return count % hp["hessian_interval"] == 0

    def init(self, param, hp):
        return {"step": 0, "exp_avg": cr.zeros_like(param), "hessian": cr.zeros_like(param)}

    def update(self, grad, state, param, hp):
        g = _signed(grad, hp)
        b1, b2 = hp["betas"]
        m = state["exp_avg"] = state["exp_avg"] * b1 + (1 - b1) * g
        h = state["hessian"]
        sample = state.pop("hessian_sample", None)
        if sample is not None:
            h = state["hessian"] = h * b2 + (1 - b2) * sample
        state["step"] += 1
        ratio = cr.clip(m / cr.maximum(hp["rho"] * h, hp["eps"]), -1.0, 1.0)
        step = ratio * -hp["lr"]
        if hp["weight_decay"]:
            step = step - (hp["lr"] * hp["weight_decay"]) * param
        return step, state


# --------------------------------------------------------------- Shampoo

def _matricize(x, axis):
    """x with ``axis`` moved first, flattened to (n_axis, rest)."""
    b = backend_of_raw(x)
    shape = tuple(b.shape(x))
    perm = (axis,) + tuple(i for i in range(len(shape)) if i != axis)
    return cr.reshape(cr.permute_dims(x, perm), (shape[axis], -1)), perm


def _contract(p, x, axis):
    """Multiply ``p`` (n x n) into axis ``axis`` of x."""
    b = backend_of_raw(x)
    shape = tuple(b.shape(x))
    mat, perm = _matricize(x, axis)
    moved = cr.reshape(p @ mat, tuple(shape[i] for i in perm))
    inverse = tuple(perm.index(i) for i in range(len(shape)))
    return cr.permute_dims(moved, inverse)


def _inverse_root(h, root, floor):
    w, v = cr.eigh(h)
    w = cr.maximum(w, floor) ** (-1.0 / root)
    return (v * w) @ cr.transpose(v)


class Shampoo(Algorithm):
    """Gupta, Koren & Singer 2018: for each axis i of a k-axis parameter,
    H_i += G_(i) G_(i)^T (from epsilon*I); every ``update_freq`` steps P_i = H_i^(-1/2k)
    via cr.eigh; p -= lr * G x_1 P_1 ... x_k P_k (for a matrix: L^-1/4 G R^-1/4)."""

    in_place = False
    defaults = {"lr": 1e-1, "epsilon": 1e-4, "update_freq": 1, "weight_decay": 0.0, "maximize": False}

    def validate(self, hp):
        check_nonnegative(hp, "lr", "weight_decay")
        check_range(hp, "epsilon", 0.0, math.inf, lo_open=True)
        k = hp["update_freq"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise HyperparameterError(f"update_freq must be an integer >= 1, got {k!r}")
        _flag(hp, "maximize")

    def init(self, param, hp):
        b = backend_of_raw(param)
        dt = b.dtype(param)
        shape = tuple(b.shape(param)) or (1,)
        state = {"step": 0}
        for i, n in enumerate(shape):
            state[f"preconditioner_{i}"] = b.eye(n, n, dt) * hp["epsilon"]
            state[f"inverse_root_{i}"] = b.eye(n, n, dt)
        return state

    def update(self, grad, state, param, hp):
        b = backend_of_raw(param)
        shape = tuple(b.shape(param))
        g = _signed(grad, hp)
        if hp["weight_decay"]:
            g = g + hp["weight_decay"] * param
        if not shape:
            g = cr.reshape(g, (1,))
        k = len(shape) or 1
        refresh = state["step"] % hp["update_freq"] == 0
        for i in range(k):
            mat, _ = _matricize(g, i)
            stat = state[f"preconditioner_{i}"] = state[f"preconditioner_{i}"] + mat @ cr.transpose(mat)
            if refresh:
                state[f"inverse_root_{i}"] = _inverse_root(stat, 2 * k, hp["epsilon"] * 1e-6)
        state["step"] += 1
        for i in range(k):
            g = _contract(state[f"inverse_root_{i}"], g, i)
        if not shape:
            g = cr.reshape(g, ())
        return Scaled(g, -hp["lr"]), state


@hookimpl
def chainrule_optimizers():
    return {"sgd": SGD(), "rmsprop": RMSprop(), "adagrad": Adagrad(), "adam": Adam(),
            "adamw": AdamW(), "lion": Lion(), "adafactor": Adafactor(), "sophia": Sophia(),
            "shampoo": Shampoo()}

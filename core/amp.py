"""``cr.amp``: mixed precision with ``torch.amp``'s semantics.

``autocast(dtype)`` runs the ops on its lower-precision list (matmul, linear) in
float16 or bfloat16 and those on its float32 list (reductions, softmax family,
losses, exp/log/pow, linear algebra) in float32, casting their tensor arguments on
the way in; every other op runs in the dtype of its inputs, and inputs of mixed
float dtypes promote to the widest, as NumPy and torch promote (so torch's
"promote" list needs nothing here).  Parameters stay float32 (master weights): a
cast is the differentiable ``astype``, so the float32 weight gets a float32 gradient.
The lists are torch's CUDA lists in chainrule's op names; add a plugin op's name
to ``LOWER_PRECISION_OPS`` or ``FLOAT32_OPS`` to place it.  Composite ops (``mean``,
``var``, ``mse_loss``, ``layer_norm``) never reach ``bind`` themselves: the ops they
call are cast, and like torch's ``mean`` they accumulate in float32 and return their
input's dtype (torch's CUDA list puts ``layer_norm`` and ``mse_loss`` in float32; here
they are float32 when an input is, as a float32 target or weight makes them).

``GradScaler`` keeps float16 gradients inside float16's range by dynamic loss
scaling (scale the loss before backward, unscale the gradients before the step,
skip a step whose gradients hold inf or NaN and halve the scale, double it after
``growth_interval`` clean steps), step for step like ``torch.amp.GradScaler``.

>>> import chainrule as cr
>>> w = cr.ones((2, 2), requires_grad=True)             # a float32 master weight
>>> with cr.amp.autocast("float16"):
...     y = cr.ones((3, 2)) @ w                           # computed in float16
...     loss = y.sum()                                     # reductions stay float32
>>> y.dtype, loss.dtype
(cr.float16, cr.float32)
>>> loss.backward(); w.grad.dtype
cr.float32
"""
import functools
import math
import struct
import threading

from ._state import replay_captures
from .autodiff import Interceptor, bind
from .creation import tensor
from .dtypes import canonical
from .errors import ChainruleError, DTypeError, HyperparameterError
from .ops.elementwise import astype_op
from .tensor import Tensor

# torch.autocast's CUDA op lists, in chainrule's op names (torch's CPU lists are shorter:
# on CPU softmax, exp, log, pow and sum keep the input dtype).
LOWER_PRECISION_OPS = {"matmul", "linear", "einsum"}   # conv1d/conv2d: unfold, then matmul
FLOAT32_OPS = {
    "exp", "expm1", "log", "log1p", "log2", "log10", "tan", "power",     # pointwise, range-sensitive
    "sinh", "cosh", "arcsin", "arccos", "softplus",
    "sum", "prod", "cumsum", "cumprod", "vector_norm",                   # reductions
    "softmax", "log_softmax", "logsumexp", "cross_entropy",              # losses and their parts
    "eigh", "qr", "solve_triangular",                                    # linear algebra
}
_LOW = frozenset({"float16", "bfloat16"})
_CASTABLE = frozenset({"float16", "bfloat16", "float32"})   # float64 is never cast, as in torch


class GradScalerError(ChainruleError, RuntimeError):
    """A GradScaler method called out of order, or a state dict that does not fit."""


# ---------------------------------------------------------------- autocast

class _Settings(threading.local):
    stack = ()   # the dtype of each autocast entered in this thread, None for enabled=False


_settings = _Settings()


class _Caster(Interceptor):
    """The one interceptor behind every ``autocast`` (entering is per thread): casts the
    tensor arguments of listed ops to the innermost autocast's dtype, or to float32."""

    def apply(self, op, args, params):
        stack = _settings.stack
        low = stack[-1] if stack else None   # empty: a checkpoint replaying a forward run outside
        if low is None:
            return bind(op, args, params)
        name = op.name
        target = low if name in LOWER_PRECISION_OPS else "float32" if name in FLOAT32_OPS else None
        if target is None:
            return bind(op, args, params)
        return bind(op, tuple([_cast(a, target) for a in args]), params)


def _cast(a, dtype):
    """A differentiable cast of a floating tensor; raw arrays (rules inside a plain backward),
    integers, float64 and Python numbers are left as they are."""
    if type(a) is Tensor and a.dtype in _CASTABLE and a.dtype != dtype:
        return astype_op(a, dtype=dtype)
    return a


_caster = _Caster()


class autocast:
    """Inside, listed ops compute in ``dtype`` (float16 or bfloat16) or float32 (see the
    module docstring); ``enabled=False`` turns an enclosing autocast off, as in torch.
    Per thread; a context manager or a decorator.  ``backward()`` may run after the block
    (as torch advises) or inside it: the rules run in the dtypes the forward chose.

    >>> import chainrule as cr
    >>> x = cr.ones((2, 2))
    >>> with cr.amp.autocast("float16"):
    ...     a = x @ x
    ...     with cr.amp.autocast(enabled=False):
    ...         b = x @ x
    >>> a.dtype, b.dtype
    (cr.float16, cr.float32)
    """

    def __init__(self, dtype="float16", enabled=True):
        if not isinstance(enabled, bool):
            raise TypeError(f"autocast: enabled must be True or False, got {enabled!r}")
        self.dtype = _low_precision(dtype)
        self.enabled = enabled

    def __enter__(self):
        _settings.stack += (self.dtype if self.enabled else None,)
        _caster.__enter__()
        return self

    def __exit__(self, *exc):
        _caster.__exit__()
        _settings.stack = _settings.stack[:-1]

    def __call__(self, fn):
        @functools.wraps(fn)
        def autocasted(*args, **kwargs):
            with autocast(self.dtype, self.enabled):
                return fn(*args, **kwargs)
        return autocasted


def _low_precision(dtype):
    d = canonical(dtype)
    if d not in _LOW:
        raise DTypeError(f"autocast computes in float16 or bfloat16, got {d}; pass "
                         "cr.amp.autocast('float16') or cr.amp.autocast('bfloat16') (parameters "
                         "stay in their own dtype; for float32 everywhere, leave autocast out)")
    return d


def autocast_dtype():
    """The dtype this thread's innermost autocast computes listed ops in, or None outside
    (or inside ``autocast(enabled=False)``)."""
    stack = _settings.stack
    return stack[-1] if stack else None


class _Replay:
    """Re-enters the autocast state captured by ``capture_for_replay`` (see there)."""

    def __init__(self, stack):
        self.stack = stack

    def __enter__(self):
        self.saved = _settings.stack
        _settings.stack = self.stack
        _caster.__enter__()
        return self

    def __exit__(self, *exc):
        _caster.__exit__()
        _settings.stack = self.saved


def capture_for_replay():
    """A context manager that brings back this thread's autocast state as it is now: what
    ``cr.checkpoint`` needs to recompute a forward in the dtypes it first ran in, whether the
    backward runs inside an autocast block or not (torch's checkpoint does the same)."""
    return _Replay(_settings.stack)


replay_captures.append(capture_for_replay)


# -------------------------------------------------------------- GradScaler

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


def _float32(x):
    """x rounded to float32, as torch keeps the scale (inf if it overflows)."""
    try:
        return struct.unpack("f", struct.pack("f", x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


class GradScaler:
    """Dynamic loss scaling, step for step like ``torch.amp.GradScaler``::

        scaler = cr.amp.GradScaler()
        with cr.amp.autocast("float16"):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)                      # optional: before clipping
        cr.optim.clip_grad_norm_(params, 1.0)
        scaler.step(opt)                          # skipped if a gradient is inf/NaN
        scaler.update()                           # x0.5 after a skip, x2 after growth_interval clean steps

    The scale is a float32 number, as torch's.  ``enabled=False`` makes every method a
    pass-through (``step`` just steps), so one loop serves both precisions.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> opt = cr.optim.create("sgd", [w], lr=0.25)
    >>> scaler = cr.amp.GradScaler(init_scale=1024.0)
    >>> scaler.scale((w * w).sum()).backward(); float(w.grad[0])
    2048.0
    >>> scaler.step(opt); scaler.update(); float(w.grad[0]), w.tolist(), scaler.get_scale()
    (2.0, [0.5], 1024.0)
    """

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        if not isinstance(enabled, bool):
            raise TypeError(f"GradScaler: enabled must be True or False, got {enabled!r}")
        _check_hyperparameters(init_scale, growth_factor, backoff_factor, growth_interval)
        self._enabled = enabled
        self._scale = _float32(init_scale)
        self._growth_factor, self._backoff_factor = float(growth_factor), float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0     # consecutive clean steps since the last change of scale
        self._started = False        # scale() was called: torch creates its scale tensor then
        self._per_optimizer = {}     # id(optimizer) -> {"stage": ..., "found_inf": bool}

    # --- the four calls of an iteration -----------------------------------
    def scale(self, outputs):
        """``outputs`` (a tensor, or a list/tuple of them) times the scale.  The scale is a
        float32 0-d tensor, so a float16 loss is multiplied in float32 and cannot overflow."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            self._started = True
            return outputs * tensor(self._scale, dtype="float32", backend=outputs.backend)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError(f"GradScaler.scale takes a tensor or a list/tuple of tensors, got "
                        f"{type(outputs).__name__}")

    def unscale_(self, optimizer):
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place, and note
        whether one holds inf or NaN.  Call it once per step, before clipping; ``step`` calls
        it if you did not."""
        if not self._enabled:
            return
        self._require_started("unscale_")
        state = self._optimizer_state(optimizer)
        if state["stage"] == _UNSCALED:
            raise GradScalerError("unscale_() was already called on this optimizer since the last "
                                  "update(); call it once per iteration (step() does not call it again)")
        if state["stage"] == _STEPPED:
            raise GradScalerError("unscale_() is being called after step(); unscale before "
                                  "step(), then call update() to start the next iteration")
        grads = _gradients(optimizer)
        inv_scale = _float32(1.0 / self._scale)   # in double, then float32, as torch
        found_inf = False
        for g in grads:
            found_inf = _unscale(g, inv_scale) or found_inf
        state["found_inf"], state["stage"] = found_inf, _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step(*args, **kwargs)`` with unscaled gradients, unless one of them is
        inf or NaN: then the step is skipped (returns None) and ``update`` backs off."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs or args:
            raise GradScalerError("GradScaler.step does not support a closure (as torch): compute "
                                  "the loss, scaler.scale(loss).backward(), then scaler.step(opt)")
        self._require_started("step")
        state = self._optimizer_state(optimizer)
        if state["stage"] == _STEPPED:
            raise GradScalerError("step() was already called since the last update(); call "
                                  "scaler.update() once per iteration, after every scaler.step()")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        out = None if state["found_inf"] else optimizer.step(**kwargs)
        state["stage"] = _STEPPED
        return out

    def update(self, new_scale=None):
        """End the iteration: halve the scale (``backoff_factor``) if a step was skipped, or
        double it (``growth_factor``) after ``growth_interval`` clean steps in a row.  A
        ``new_scale`` (a float or a one-element tensor) sets the scale instead."""
        if not self._enabled:
            return
        self._require_started("update")
        if new_scale is not None:
            self._scale = _float32(_positive_scale(new_scale))
        elif not self._per_optimizer:
            raise GradScalerError("update() found no step to account for; call scaler.step(opt) "
                                  "for every optimizer before scaler.update()")
        elif any(s["found_inf"] for s in self._per_optimizer.values()):
            self._scale = _float32(self._scale * self._backoff_factor)
            self._growth_tracker = 0
        else:
            self._grow()
        self._per_optimizer = {}

    def _grow(self):
        clean = self._growth_tracker + 1
        if clean == self._growth_interval:
            grown = _float32(self._scale * self._growth_factor)
            if math.isfinite(grown):
                self._scale = grown
            clean = 0
        self._growth_tracker = clean

    # --- reading and saving the state ---------------------------------------
    def get_scale(self):
        """The current scale as a Python float (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def is_enabled(self):
        return self._enabled

    def get_growth_tracker(self):
        """Clean steps in a row since the scale last changed (0 when disabled)."""
        return self._growth_tracker if self._enabled else 0

    def state_dict(self):
        """The scale and the settings, with torch's keys (so each loads the other's);
        empty when disabled.  Save it after ``update()``."""
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict):
        """Restore ``state_dict()``'s values; checked in full before anything changes."""
        if not self._enabled:
            return
        if not state_dict:
            raise GradScalerError("the GradScaler state dict is empty (saved from a disabled "
                                  "scaler?); pass a state_dict() of an enabled GradScaler")
        missing = [k for k in ("scale", "growth_factor", "backoff_factor", "growth_interval",
                               "_growth_tracker") if k not in state_dict]
        if missing:
            raise GradScalerError(f"the GradScaler state dict lacks {', '.join(missing)}; pass "
                                  "what GradScaler.state_dict() returned")
        sd = {k: v.item() if isinstance(v, Tensor) else v for k, v in state_dict.items()}
        _check_hyperparameters(sd["scale"], sd["growth_factor"], sd["backoff_factor"],
                               sd["growth_interval"])
        tracker = sd["_growth_tracker"]
        if not isinstance(tracker, int) or isinstance(tracker, bool) or tracker < 0:
            raise HyperparameterError(f"_growth_tracker must be an integer >= 0, got {tracker!r}")
        self._scale = _float32(sd["scale"])
        self._growth_factor, self._backoff_factor = float(sd["growth_factor"]), float(sd["backoff_factor"])
        self._growth_interval, self._growth_tracker = sd["growth_interval"], tracker

    # --- helpers -----------------------------------------------------------
    def _require_started(self, method):
        if not self._started:
            raise GradScalerError(f"GradScaler.{method}() before any scaler.scale(loss): scale "
                                  "the loss and call backward() on the result first")

    def _optimizer_state(self, optimizer):
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"GradScaler expects an optimizer (cr.optim.create(...)), got "
                            f"{type(optimizer).__name__}")
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    def __repr__(self):
        if not self._enabled:
            return "GradScaler(enabled=False)"
        return (f"GradScaler(scale={self._scale}, growth_factor={self._growth_factor}, "
                f"backoff_factor={self._backoff_factor}, growth_interval={self._growth_interval})")


def _check_hyperparameters(init_scale, growth_factor, backoff_factor, growth_interval):
    for name, value in (("init_scale", init_scale), ("growth_factor", growth_factor),
                        ("backoff_factor", backoff_factor)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise HyperparameterError(f"GradScaler: {name} must be a number, got {value!r}")
    if not (init_scale > 0 and math.isfinite(init_scale)):
        raise HyperparameterError(f"GradScaler: init_scale must be a finite number > 0, got {init_scale}")
    if not growth_factor > 1.0 or not math.isfinite(growth_factor):
        raise HyperparameterError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
    if not 0.0 < backoff_factor < 1.0:
        raise HyperparameterError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
    if not isinstance(growth_interval, int) or isinstance(growth_interval, bool) or growth_interval < 1:
        raise HyperparameterError(f"GradScaler: growth_interval must be an integer >= 1, got "
                                  f"{growth_interval!r}")


def _positive_scale(value):
    if isinstance(value, Tensor):
        if value.size != 1:
            raise HyperparameterError(f"GradScaler.update: new_scale must be a float or a "
                                      f"one-element tensor, got shape {value.shape}")
        value = value.item()
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
            value > 0 and math.isfinite(value)):
        raise HyperparameterError(f"GradScaler.update: new_scale must be a finite number > 0, "
                                  f"got {value!r}")
    return float(value)


def _gradients(optimizer):
    """The gradients of ``optimizer``'s parameters, all checked before any is changed."""
    grads = []
    for group in optimizer.param_groups:
        names = group.get("param_names") or [f"#{i}" for i in range(len(group["params"]))]
        for name, p in zip(names, group["params"]):
            g = p.grad
            if g is None:
                continue
            if not isinstance(g, Tensor):
                raise TypeError(f"GradScaler: the gradient of parameter {name!r} is a "
                                f"{type(g).__name__}, not a Tensor")
            if g.dtype == "float16":   # torch refuses too: unscaled values would lose bits
                raise DTypeError(
                    f"GradScaler: parameter {name!r} has a float16 gradient; keep parameters in "
                    "float32 (master weights) and let cr.amp.autocast compute in float16; "
                    "nothing was unscaled")
            grads.append(g)
    return grads


def _unscale(g, inv_scale):
    """g *= inv_scale in place (in float32 for low-precision gradients, as torch); True if g
    held inf or NaN."""
    b, raw = g._backend, g._data
    found_inf = not b.item(b.all(b.isfinite(raw), None, False))
    if inv_scale != 1.0:
        if "imul" in b.missing:
            b.assign(raw, b.multiply(raw, inv_scale))
        else:
            b.imul(raw, inv_scale)
    return found_inf


__all__ = ["FLOAT32_OPS", "GradScaler", "GradScalerError", "LOWER_PRECISION_OPS", "autocast",
           "autocast_dtype"]

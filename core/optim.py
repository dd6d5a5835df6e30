"""``cr.optim``: optimizers as small pure updates behind a familiar object.

An optimizer *algorithm* (what a plugin provides) is optax-shaped::

    algorithm.defaults                      # {"lr": 1e-3, "betas": (0.9, 0.999), ...}
    algorithm.validate(hparams)             # raises HyperparameterError naming the value
    algorithm.init(param, hparams) -> state # e.g. {"step": 0, "exp_avg": zeros_like(param)}
    algorithm.update(grad, state, param, hparams) -> (step, state)

``param``, ``grad`` and the arrays in ``state`` are *raw* backend arrays (NumPy,
torch, CuPy...).  ``update`` computes with Python operators and chainrule ops
(``cr.sqrt``, ``cr.maximum``... accept raw arrays and return raw arrays), so one
rule runs on every backend, and returns ``step``, which the optimizer *adds* to
the parameter in place.  Nothing is recorded: optimizers run at raw-array speed.
A step that is a direction times a number is best returned as
``Scaled(direction, -lr)``: the optimizer then adds ``-lr * direction`` in one
pass (torch's ``p.add_(d, alpha=-lr)``), without a temporary the size of the
parameter.

A step is all or nothing: ``update`` gets its own copy of the state dict (it may
set keys, ``state["step"] += 1``) and must not write into ``param`` or ``grad``.
An algorithm that writes into its state arrays (``m *= b1``) keeps the default
``in_place = True`` and is handed copies of them; a pure one (``m = m * b1``, as
the built-ins) sets ``in_place = False`` and saves that copy.  The new states and
steps are committed only when every parameter's update has succeeded.

The object users hold is the ``Optimizer`` that ``create`` returns: ``step()``,
``zero_grad()``, ``state_dict()`` / ``load_state_dict()`` (state keyed by
parameter name) and ``param_groups`` (a list of dicts, as in torch).

>>> import chainrule as cr
>>> w = cr.tensor([1.0, -2.0], requires_grad=True)
>>> opt = cr.optim.create("sgd", [w], lr=0.5)
>>> (w * w).sum().backward(); opt.step()
>>> w.tolist()
[0.0, 0.0]
"""
import math
import numbers
from typing import Any, NamedTuple

from . import plugins
from ._state import no_grad, enable_grad
from .errors import ChainruleError, HyperparameterError, RegistryError, ArgumentError, DTypeError
from .tensor import Tensor, make
from .dtypes import FLOATING as _FLOATING
from .backends import backend_of_raw
from .autodiff import bump_version, will_write
from . import ops, random, transforms
from .creation import tensor
from .nn.modules import reset_grads
from .ops.reduce import float32_if_low


class StateDictError(ChainruleError, ValueError):
    """An optimizer state does not fit this optimizer (other parameters, shapes, algorithm)."""


# ------------------------------------------------------------- algorithms

class Scaled(NamedTuple):
    """An update's step ``scale * direction``, added to the parameter in one pass."""
    direction: Any
    scale: float


def _is_real(x):
    return type(x) is float or (isinstance(x, numbers.Real) and not isinstance(x, bool))


def add_step(backend, data, step):
    """``data += step`` in place (an array step, or a ``Scaled`` one in one pass); returns
    ``data`` (a new array only for an immutable array type)."""
    if type(step) is not Scaled:
        data += step   # in place for numpy, torch and cupy arrays
    elif "iadd_scaled" in backend.missing:
        data += step.direction * step.scale
    else:
        backend.iadd_scaled(data, step.direction, step.scale)
    return data


class Algorithm:
    """An optimizer algorithm: ``defaults``, ``validate``, ``init``, ``update``.

    Subclass it (override the three methods) or build one from functions:
    ``Algorithm(defaults={"lr": 0.1}, init=..., update=..., validate=...)``.
    ``in_place = False`` marks a pure ``update`` (it replaces state arrays rather
    than writing into them; see the module docstring). ``needs_hvp`` marks
    algorithms that use Hessian-vector products: the
    optimizer then calls ``hessian_refresh(state_count, hparams)`` and, when it
    answers True, puts a Hutchinson sample ``u * (H u)`` in
    ``state["hessian_sample"]`` before ``update`` (see ``Optimizer.step``).
    """

    defaults = {}
    needs_hvp = False
    in_place = True     # update() may write into the state's arrays: hand it copies

    def __init__(self, defaults=None, init=None, update=None, validate=None, doc=None):
        if defaults is not None:
            self.defaults = dict(defaults)
        for name, fn in (("init", init), ("update", update), ("validate", validate)):
            if fn is not None:
                setattr(self, name, fn)
        if doc:
            self.__doc__ = doc

    def validate(self, hparams):
        """Raise HyperparameterError for an out-of-range value (default: lr >= 0)."""
        check_nonnegative(hparams, "lr")

    def init(self, param, hparams):
        return {}

    def update(self, grad, state, param, hparams):
        raise NotImplementedError(f"{type(self).__name__} must define update()")


def check_nonnegative(hparams, *names):
    """HyperparameterError unless every named value is a number >= 0 (a schedule lr is skipped)."""
    for name in names:
        value = hparams.get(name)
        if name == "lr" and callable(value):
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
            raise HyperparameterError(f"{name} must be a number >= 0, got {value!r}")


def check_range(hparams, name, lo, hi, lo_open=False, hi_open=True):
    """HyperparameterError unless lo <= value < hi (bounds' openness configurable)."""
    value = hparams.get(name)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > lo if lo_open else value >= lo) and (value < hi if hi_open else value <= hi)
    if not ok:
        interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise HyperparameterError(f"{name} must be in {interval}, got {value!r}")


def check_betas(hparams, name="betas", count=2):
    """Each beta in [0, 1)."""
    betas = hparams.get(name)
    if not isinstance(betas, (tuple, list)) or len(betas) != count:
        raise HyperparameterError(f"{name} must be a tuple of {count} numbers in [0, 1), got {betas!r}")
    for i, b in enumerate(betas):
        check_range({f"{name}[{i}]": b}, f"{name}[{i}]", 0, 1)


def _validate_algorithm(name, obj):
    missing = [m for m in ("init", "update", "validate") if not callable(getattr(obj, m, None))]
    if missing or not isinstance(getattr(obj, "defaults", None), dict):
        raise RegistryError(f"optimizer {name!r} must be a chainrule.optim.Algorithm (defaults dict, "
                            f"init, update, validate); {type(obj).__name__} lacks "
                            f"{', '.join(missing) or 'a defaults dict'}")


plugins.add_validator("optimizers", _validate_algorithm)


def _algorithms():
    return plugins.collect("optimizers")


def names():
    """Every optimizer name (built-ins and installed plugins), sorted."""
    return sorted(_algorithms())


def get(name):
    """The ``Algorithm`` registered under ``name``."""
    algos = _algorithms()
    if name not in algos:
        raise plugins.unknown_name("optimizer", name, algos)
    return algos[name]


def create(name, params, **hparams):
    """An ``Optimizer`` running algorithm ``name`` on ``params``.

    ``params``: a list of tensors (named "0", "1", ...), ``(name, tensor)`` pairs
    (``module.named_parameters()``), or a list of param-group dicts
    (``{"params": ..., "lr": ...}``; missing hyperparameters come from ``hparams``).
    ``lr`` may be a number or a schedule (a callable of the step count).
    """
    return Optimizer(name, params, **hparams)


# ------------------------------------------------------------ the optimizer

def _named(params, start):
    """[(name, tensor)] from tensors or (name, tensor) pairs."""
    if isinstance(params, Tensor):
        params = [params]
    out = []
    for i, item in enumerate(params):
        if type(item) is tuple and len(item) == 2 and isinstance(item[0], str):
            name, p = item
        else:
            name, p = str(start + i), item
        if not isinstance(p, Tensor):
            raise ArgumentError(f"optimizer parameters must be chainrule Tensors, got {type(p).__name__} "
                                f"for parameter {name!r}; pass model.parameters() or a list of tensors")
        if not p.dtype.is_floating:
            raise DTypeError(f"parameter {name!r} has dtype {p.dtype}; only floating tensors can be "
                             "optimized: create it with a floating dtype (.astype(cr.float32))")
        if p._trace is not None or not p.is_leaf:
            raise ValueError(f"can't optimize a non-leaf Tensor (parameter {name!r} is the result of an "
                             "op, as in torch); pass the leaf tensors it was computed from, or "
                             "x.detach().requires_grad_() for a new leaf")
        out.append((name, p))
    return out


class Optimizer:
    """The object users hold; it keeps per-parameter states, keyed by parameter name."""

    def __init__(self, name, params, **hparams):
        self.name = name
        self.algorithm = algo = get(name)
        unknown = [k for k in hparams if k not in algo.defaults]
        if unknown:
            raise HyperparameterError(f"optimizer {name!r} has no hyperparameter {unknown[0]!r}; "
                                      f"its hyperparameters are {', '.join(algo.defaults)}")
        self.defaults = {**algo.defaults, **hparams}
        params = list(params)
        if not params:
            raise ArgumentError(f"optimizer {name!r} got an empty parameter list; pass the model's "
                                "parameters (model.parameters() is empty before the layers are built?)")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups, self.state, self._count = [], {}, 0
        seen = {}
        for group in groups:
            self.add_param_group(group, _seen=seen)

    def add_param_group(self, group, _seen=None):
        """Add ``{"params": ..., **hyperparameters}``; validated before it is added."""
        seen = _seen if _seen is not None else {n: p for g in self.param_groups
                                                for n, p in zip(g["param_names"], g["params"])}
        unknown = [k for k in group if k not in self.algorithm.defaults and k not in ("params", "param_names")]
        if unknown:
            raise HyperparameterError(f"optimizer {self.name!r} has no hyperparameter {unknown[0]!r}; "
                                      f"its hyperparameters are {', '.join(self.algorithm.defaults)}")
        named = _named(group["params"], start=len(seen))
        if "param_names" in group:
            named = [(n, p) for n, (_, p) in zip(group["param_names"], named)]
        full = {**self.defaults, **{k: v for k, v in group.items() if k not in ("params", "param_names")}}
        self.algorithm.validate(full)
        for n, p in named:
            if n in seen or any(p is q for q in seen.values()):
                raise ValueError(f"parameter {n!r} appears twice in the optimizer's parameters; "
                                 "each parameter may belong to one group only")
            seen[n] = p
        full["params"] = [p for _, p in named]
        full["param_names"] = [n for n, _ in named]
        self.param_groups.append(full)

    # --- the step --------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset every parameter's ``.grad``: to None (the default, as torch 2.x), or with
        ``set_to_none=False`` to zeros written into the same array."""
        reset_grads((p for g in self.param_groups for p in g["params"]), set_to_none)

    def step(self, closure=None):
        """Apply one update to every parameter that has a ``.grad``; returns the closure's loss.

        ``closure``: for most algorithms, as in torch, a function that recomputes
        the loss (it is called with gradients enabled and its value returned).
        For algorithms with ``needs_hvp`` (sophia) it is the loss as a pure
        function of the parameters, ``closure(*params) -> loss`` in this
        optimizer's parameter order; on refresh steps the optimizer takes a
        Hutchinson sample of the Hessian diagonal with ``cr.hvp`` through it.

        All or nothing: every gradient is checked and every update computed (on
        copies of the states) before any parameter or state changes, so a step that
        raises (a bad gradient, a failing closure or algorithm) leaves the
        parameters, the states and the step count as they were.
        """
        if self.algorithm.needs_hvp:
            loss, samples = self._hessian_samples(closure)
        else:
            loss, samples = self._closure_loss(closure), {}
        self._commit(self._staged_updates(samples))
        return loss

    def _closure_loss(self, closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _staged_updates(self, samples):
        """[(name, param, new state, step or None)] for every parameter with a gradient (or a
        Hessian sample), computed without changing anything: states are updated on copies."""
        algo, state, staged = self.algorithm, self.state, []
        # raw arrays only: nothing here is recorded, so no cr.no_grad() is needed
        for group in self.param_groups:
            hp = group
            if callable(group["lr"]):
                hp = dict(group)
                hp["lr"] = float(group["lr"](self._count))
            for name, p in zip(group["param_names"], group["params"]):
                g, sample = p.grad, samples.get(name)
                if g is None:   # skipped, as torch: its state must not change (a Hessian sample
                    continue    # kept for later would be folded in at a step it was not taken on)
                data, b = p._data, p._backend
                st = state.get(name)
                work = algo.init(data, hp) if st is None else _copied_state(st, b, arrays=algo.in_place)
                if sample is not None:
                    work["hessian_sample"] = sample
                delta = None
                if g is not None:
                    if type(g) is not Tensor or g._backend is not b or \
                            b.shape(g._data) != b.shape(data) or b.dtype(g._data) != b.dtype(data):
                        self._bad_grad(name, p, g)
                    delta, work = algo.update(g._data, work, data, hp)
                    direction = delta.direction if type(delta) is Scaled else delta
                    if (direction is not g._data and (   # the gradient itself was checked above
                            backend_of_raw(direction) is not b or b.shape(direction) != b.shape(data)
                            or b.dtype(direction) not in _FLOATING)) \
                            or (type(delta) is Scaled and not _is_real(delta.scale)):
                        self._bad_step(name, p, delta)
                    if not getattr(getattr(data, "flags", None), "writeable", True):
                        raise ValueError(f"parameter {name!r} holds a read-only array (a broadcast view?); "
                                         "optimize a writable copy (x.copy()); nothing was updated")
                staged.append((name, p, work, delta))
        return staged

    def _commit(self, staged):
        """Write the staged states and steps (all checked: nothing here fails half-way)."""
        for name, p, st, delta in staged:
            self.state[name] = st
            if delta is None:
                continue
            will_write(p)   # an op output sharing p's memory keeps its own copy
            data = add_step(p._backend, p._data, delta)
            if data is not p._data:  # an immutable array type: write it back
                p._backend.assign(p._data, data)
            bump_version(p)
        self._count += 1

    def _bad_grad(self, name, p, g):
        """Raise naming how the gradient differs from its parameter (torch checks this when
        .grad is assigned; here .grad is a plain attribute, so the step checks it)."""
        if not isinstance(g, Tensor):
            problem = f"is a {type(g).__name__}, not a Tensor"
        elif g._backend is not p._backend:
            problem = f"is on backend {g.backend!r} but the parameter on {p.backend!r}"
        elif g.shape != p.shape:
            problem = f"has shape {g.shape} but the parameter {p.shape}"
        else:
            problem = f"has dtype {g.dtype} but the parameter {p.dtype}"
        raise ValueError(f"optimizer {self.name!r}: the gradient of parameter {name!r} {problem}; "
                         "assign p.grad a tensor like p (or None), or let backward() compute it; "
                         "nothing was updated")

    def _bad_step(self, name, p, delta):
        raise TypeError(f"optimizer {self.name!r} returned a step for parameter {name!r} that is not a "
                        f"floating {p.backend} array of shape {p.shape} (got {type(delta).__name__} "
                        f"{getattr(delta, 'shape', '')} {getattr(delta, 'dtype', '')}); its update() must "
                        "return (step, state) with step shaped like the parameter (or Scaled(direction, "
                        "number)); nothing was updated")

    def _hessian_samples(self, closure):
        """(loss, {name: u * (H u)}) with Rademacher u, for the parameters of the groups the
        algorithm refreshes on this step; nothing is stored here."""
        refresh = [g for g in self.param_groups if self.algorithm.hessian_refresh(self._count, g)]
        if not refresh:
            return None, {}
        if closure is None:
            raise TypeError(f"optimizer {self.name!r} estimates the Hessian diagonal on this step and "
                            "needs opt.step(closure) with closure(*params) -> loss, a pure function "
                            "of the parameters in the optimizer's order")
        params = [p for g in self.param_groups for p in g["params"]]
        primals = [make(p._data, p._backend) for p in params]
        us = []
        for p in params:
            bits = random.randint(0, 2, p.shape, backend=p._backend)
            us.append((bits * 2 - 1).astype(p.dtype))
        loss, hvs = transforms.hvp(closure, primals, us)
        if len(params) == 1:
            hvs = (hvs,)
        names = [n for g in self.param_groups for n in g["param_names"]]
        refreshed = {n for g in refresh for n in g["param_names"]}
        with no_grad():
            samples = {name: (u * hv)._data for name, u, hv in zip(names, us, hvs) if name in refreshed}
        return loss, samples

    # --- state -----------------------------------------------------------
    def _params_by_name(self):
        return {n: (p, g) for g in self.param_groups for n, p in zip(g["param_names"], g["params"])}

    def state_dict(self):
        """``{"algorithm", "step", "state": {param name: {key: Tensor | number}}, "param_groups"}``.

        Arrays are copied: the dict does not change as training goes on.
        Schedules (callable ``lr``) are stored as their ``spec`` when they have one.
        """
        by_name = self._params_by_name()
        state = {}
        for name, st in self.state.items():
            b = by_name[name][0]._backend
            state[name] = {k: (v if _is_plain(v) else make(b.copy(v), b)) for k, v in st.items()}
        groups = []
        for g in self.param_groups:
            out = {}
            for k, v in g.items():
                if k == "params":
                    continue
                if callable(v):
                    spec = getattr(v, "spec", None)
                    if spec is None:
                        continue
                    v = dict(spec)
                out[k] = list(v) if isinstance(v, (list, tuple)) else v
            groups.append(out)
        return {"algorithm": self.name, "step": self._count, "state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a ``state_dict()``; everything is checked before anything changes."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise StateDictError("load_state_dict expects the dict that Optimizer.state_dict() returns "
                                 "(keys 'state' and 'param_groups')")
        algo_name = state_dict.get("algorithm", self.name)
        if algo_name != self.name:
            raise StateDictError(f"this state was saved by optimizer {algo_name!r} but this optimizer is "
                                 f"{self.name!r}; create a {algo_name!r} optimizer to load it")
        saved_groups = state_dict["param_groups"]
        mine = [g["param_names"] for g in self.param_groups]
        theirs = [list(g.get("param_names", ())) for g in saved_groups]
        if mine != theirs:
            raise StateDictError(f"the state is for parameters {theirs} but this optimizer has {mine}; "
                                 "load it into an optimizer built on the same (named) parameters, "
                                 "in the same groups")
        by_name = self._params_by_name()
        other = [n for n in state_dict["state"] if n not in by_name]
        if other:
            raise StateDictError(f"the state holds parameters {other} that this optimizer does not have")
        new_hparams = []
        for g, saved in zip(self.param_groups, saved_groups):
            hp = {k: v for k, v in saved.items() if k != "param_names"}
            hp = {k: (tuple(v) if isinstance(g.get(k), tuple) else v) for k, v in hp.items()
                  if k in self.algorithm.defaults and not callable(g.get(k))}
            trial = {**g, **hp}
            self.algorithm.validate(trial)
            new_hparams.append(hp)
        new_state = {}
        for name, saved in state_dict["state"].items():
            p, group = by_name[name]
            new_state[name] = self._convert_state(name, saved, p, group)
        count = state_dict.get("step", self._count)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise StateDictError(f"the state's step count is {count!r}; it must be an integer >= 0")
        # everything checked: commit
        for g, hp in zip(self.param_groups, new_hparams):
            g.update(hp)
        self.state = new_state
        self._count = count
        return self

    def _convert_state(self, name, saved, p, group):
        b = p._backend
        fresh = self.algorithm.init(p._data, group)
        if set(saved) - {"hessian_sample"} != set(fresh) - {"hessian_sample"}:
            raise StateDictError(f"state of parameter {name!r} has keys {sorted(saved)} but "
                                 f"{self.name!r} keeps {sorted(fresh)}; it was saved by another algorithm "
                                 "or with other options")
        out = {}
        for k, v in saved.items():
            ref = fresh.get(k)
            if ref is not None and not _is_plain(ref):
                if isinstance(v, Tensor):
                    v = v.to(p.backend)._data if v.backend != p.backend else v._data
                raw = b.asarray(v, None)
                if tuple(b.shape(raw)) != tuple(b.shape(ref)):
                    raise StateDictError(f"state {k!r} of parameter {name!r} has shape "
                                         f"{tuple(b.shape(raw))}, expected {tuple(b.shape(ref))}; "
                                         "the state belongs to a parameter of another shape")
                out[k] = b.copy(b.astype(raw, b.dtype(ref)))
            else:
                if isinstance(v, Tensor):
                    v = v.item()
                if type(ref) is int:   # a step count: an integer >= 0 (5.0 from a float tensor is 5)
                    if type(v) is float and v.is_integer():
                        v = int(v)
                    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                        raise StateDictError(f"state {k!r} of parameter {name!r} is {v!r}; it must "
                                             "be an integer >= 0 (a step count)")
                out[k] = v
        return out

    def __repr__(self):
        n = sum(len(g["params"]) for g in self.param_groups)
        hp = ", ".join(f"{k}={v!r}" for k, v in self.param_groups[0].items()
                       if k not in ("params", "param_names"))
        return f"Optimizer({self.name!r}, {n} parameters, {hp})"


def _copied_state(state, backend, arrays=True):
    """A copy of a parameter's state for ``update``: the dict, and its arrays when ``arrays``."""
    if not arrays:
        return dict(state)
    return {k: (v if _is_plain(v) else backend.copy(v)) for k, v in state.items()}


def _is_plain(value):
    """A Python value in a state (a step count), as opposed to a backend array."""
    return value is None or isinstance(value, (bool, int, float, str, tuple, list))


# ------------------------------------------------------------- clipping

def _grads(params):
    if isinstance(params, Tensor):
        params = [params]
    out = []
    for item in params:
        p = item[1] if type(item) is tuple else item
        if p.grad is not None:
            out.append(p.grad)
    return out


def clip_grad_norm_(params, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients so that their joint ``norm_type``-norm is at most ``max_norm``
    (as torch: by ``max_norm / (total + 1e-6)`` when that is below 1).  Returns the total
    norm before clipping, a 0-d tensor.  float16/bfloat16 gradients are measured in float32
    (torch's norms accumulate so too) and the total is returned in float32: a norm above
    float16's 65504 must not become inf and zero the gradients.

    >>> import chainrule as cr
    >>> w = cr.tensor([3.0, 4.0], requires_grad=True); (w * w).sum().backward()
    >>> float(cr.optim.clip_grad_norm_([w], 1.0))
    10.0
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm >= 0.0:   # a negative bound would flip every gradient's sign
        raise HyperparameterError(f"clip_grad_norm_: max_norm={max_norm} must be >= 0 (the largest "
                                  "norm the gradients may have)")
    if not norm_type > 0.0:
        raise HyperparameterError(f"clip_grad_norm_: norm_type={norm_type} must be > 0 (2.0, 1.0 or inf)")
    grads = _grads(params)
    if not grads:
        return tensor(0.0)
    with no_grad():
        measured = [float32_if_low(g) for g in grads]
        if norm_type == math.inf:
            norms = [ops.max(ops.abs(g)) for g in measured]
        elif norm_type == 2.0:
            norms = [ops.sqrt(ops.sum(g * g)) for g in measured]
        else:
            norms = [ops.sum(ops.abs(g) ** norm_type) ** (1.0 / norm_type) for g in measured]
        # the total in the widest dtype of the norms (as torch promotes): a float64 gradient's
        # norm after a float32 one must not be rounded, or overflow, to float32
        wide = max((n.dtype for n in norms), key=lambda d: d.itemsize)
        same = all(n._backend is norms[0]._backend for n in norms)
        if not same:
            norms = [make(norms[0]._backend.asarray(float(n), wide), norms[0]._backend)
                     for n in norms]
        stacked = ops.stack([n.astype(wide) for n in norms])
        if norm_type == math.inf:
            total = ops.max(stacked)
        else:
            total = ops.sum(stacked ** norm_type) ** (1.0 / norm_type)
        value = float(total)
        if error_if_nonfinite and not math.isfinite(value):
            raise FloatingPointError(f"the total norm of order {norm_type} of the gradients is {value}; "
                                     "the gradients were not clipped (pass error_if_nonfinite=False "
                                     "to clip anyway, or find where the non-finite values come from)")
        coef = max_norm / (value + 1e-6)
        if not coef >= 1.0:   # a nan norm makes every gradient nan, as torch's clip (it must show)
            for g, m in zip(grads, measured):
                if m is not g:   # scaled in float32: coef may be below float16's normal range
                    g._backend.assign(g._data, (m * coef)._data)
                    continue
                raw = g._data
                raw *= coef
                if raw is not g._data:
                    g._backend.assign(g._data, raw)
    return total


def clip_grad_value_(params, clip_value):
    """Clip every gradient element into [-clip_value, clip_value], in place."""
    v = float(clip_value)
    if not v >= 0.0:   # a negative (or NaN) bound would set every gradient to -|v| (or NaN)
        raise HyperparameterError(f"clip_grad_value_: clip_value={v} must be >= 0 (the largest "
                                  "absolute value a gradient element may have)")
    for g in _grads(params):
        b = g._backend
        b.assign(g._data, b.clip(g._data, -v, v))


__all__ = ["Algorithm", "Optimizer", "StateDictError", "check_betas", "check_nonnegative",
           "check_range", "clip_grad_norm_", "clip_grad_value_", "create", "get", "names"]

"""``cr.diagnostics``: small tools that tell a training run's health.

- ``GradNormTracker``: the global and per-parameter gradient L2 norms after each backward
  (vanishing gradients shrink toward 0, exploding ones grow by orders of magnitude).
- ``dead_relu_fraction``: the share of ReLU units that are off for every example of a batch
  (a dead unit gets no gradient, so it never comes back).
- ``overfit_one_batch``: a model that cannot drive one batch's loss to ~0 has a bug.
- ``lr_finder``: an exponential learning-rate ramp (Smith 2015, fastai) that stops when the
  loss diverges; suggests a learning rate a decade below the loss's minimum.
- ``memory_estimate``: the bytes training needs: parameters, gradients, optimizer state,
  master weights, activations (4P + 4P + 8P = 16P for Adam in float32; 2P to serve in float16).

>>> import chainrule as cr
>>> cr.diagnostics.memory_estimate(1000, optimizer="adamw")["total"]   # 16 bytes a parameter
16000
"""
import math

from ._state import no_grad
from .creation import asarray
from .dtypes import canonical
from .errors import ArgumentError, ShapeError
from .nn.modules import Module
from .tensor import Tensor
from . import ops


# ------------------------------------------------------------ gradient norms

def _named_tensors(named_params):
    """[(name, tensor)] from a Module, a dict, (name, tensor) pairs or plain tensors."""
    if isinstance(named_params, Module):
        return list(named_params.named_parameters())
    if isinstance(named_params, dict):
        return list(named_params.items())
    items = list(named_params)
    if all(isinstance(p, Tensor) for p in items):
        return [(str(i), p) for i, p in enumerate(items)]
    if all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], Tensor) for p in items):
        return items
    raise ArgumentError("GradNormTracker takes a Module, a dict name -> tensor, (name, tensor) "
                        "pairs (model.named_parameters()) or a list of tensors")


def _l2_norm(x):
    """||x||_2 as a Python float, computed as max|x| * ||x / max|x| || so that float16/float32
    gradients of 1e30 give their norm and not inf (exploding gradients are the point)."""
    if x.dtype not in ("float32", "float64"):
        x = x.astype("float32")
    peak = float(ops.max(ops.abs(x))) if x.size else 0.0
    if peak == 0.0 or not math.isfinite(peak):
        return peak
    scaled = x / peak
    return peak * math.sqrt(float(ops.sum(scaled * scaled)))


class GradNormTracker:
    """Call ``record()`` after each ``backward()``: it appends the global L2 norm of all
    gradients to ``global_norms`` and each parameter's to ``per_parameter[name]``.
    A parameter without a gradient (``.grad`` is None: no path from the loss) counts as 0.

    >>> import chainrule as cr
    >>> w = cr.tensor([3.0, 4.0], requires_grad=True)
    >>> tracker = cr.diagnostics.GradNormTracker({"w": w})
    >>> (w * w).sum().backward()          # grad = 2w = [6, 8]
    >>> tracker.record()
    10.0
    """

    def __init__(self, named_params):
        self.params = _named_tensors(named_params)
        if not self.params:
            raise ArgumentError("GradNormTracker got no parameters; pass model.named_parameters() "
                                "or a dict name -> tensor")
        self.global_norms = []
        self.per_parameter = {name: [] for name, _ in self.params}

    def record(self):
        """Store the norms of the current gradients; returns the global norm."""
        squares = 0.0
        for name, p in self.params:
            norm = 0.0 if p.grad is None else _l2_norm(p.grad)
            self.per_parameter[name].append(norm)
            squares += norm * norm
        total = math.sqrt(squares)
        self.global_norms.append(total)
        return total


# ------------------------------------------------------------ dead ReLUs

def dead_relu_fraction(pre_activations):
    """The fraction of units (the last axis) whose pre-activation is <= 0 for every example
    of the batch (every other axis): ReLU passes no gradient through them.  A list of
    tensors (one per layer) gives a list of fractions.

    >>> import chainrule as cr
    >>> z = cr.tensor([[1.0, -1.0, 0.0], [2.0, -3.0, 5.0]])   # unit 1 is off for both rows
    >>> cr.diagnostics.dead_relu_fraction(z)
    0.3333333333333333
    """
    if isinstance(pre_activations, (list, tuple)):
        return [dead_relu_fraction(z) for z in pre_activations]
    z = pre_activations if isinstance(pre_activations, Tensor) else asarray(pre_activations)
    if z.ndim < 2:
        raise ShapeError(f"dead_relu_fraction needs pre-activations of shape (batch, ..., units), "
                         f"got shape {z.shape}; for one example use z[None]")
    units = z.shape[-1]
    if units == 0 or z.size == 0:
        raise ShapeError(f"dead_relu_fraction got an empty batch of shape {z.shape}")
    active = ops.any(z.reshape((-1, units)) > 0, axis=0)   # on for at least one example
    return (units - int(ops.sum(active.astype("int64")))) / units


# ------------------------------------------------------------ training loops

def _train_step(model, loss_fn, optimizer, inputs, targets):
    optimizer.zero_grad()
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return float(loss)


def overfit_one_batch(model, loss_fn, inputs, targets, optimizer, steps=200, tol=1e-2):
    """Train on one batch for up to ``steps`` steps; returns ``(losses, passed)`` where
    ``passed`` says the loss reached ``tol`` (training stops there).  A model that cannot
    memorise a handful of examples has a bug: a detached tensor, a wrong loss, a frozen layer.
    ``optimizer``: an optimizer over the model's parameters (``cr.optim.create(...)``)."""
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise ArgumentError(f"optimizer must be an optimizer over the model's parameters, got "
                            f"{optimizer!r}; pass cr.optim.create('adam', model.parameters(), lr=1e-2)")
    if not isinstance(steps, int) or steps < 1:
        raise ArgumentError(f"steps must be a positive integer, got {steps!r}")
    losses = []
    for _ in range(steps):
        losses.append(_train_step(model, loss_fn, optimizer, inputs, targets))
        if losses[-1] <= tol or not math.isfinite(losses[-1]):
            break
    if losses[-1] > tol and math.isfinite(losses[-1]):   # the loss after the last step
        with no_grad():
            losses.append(float(loss_fn(model(inputs), targets)))
    return losses, losses[-1] <= tol


def lr_finder(make_model_and_optimizer, loss_fn, batches, lr_min=1e-6, lr_max=1.0, steps=100):
    """Train a fresh model while the learning rate grows exponentially from ``lr_min`` to
    ``lr_max`` over ``steps`` steps (Smith 2015, "Cyclical Learning Rates"; fastai's
    lr_find); stop when the loss diverges (above 4x the best so far, or not finite).

    ``make_model_and_optimizer()`` returns a fresh ``(model, optimizer)``; ``batches`` is a
    list (or iterable) of ``(inputs, targets)``, cycled.  ``losses[i]`` is the loss of the
    batch at step i, before the update with ``lrs[i]``.  Returns ``(lrs, losses,
    suggested_lr)``: a tenth of the learning rate at the lowest loss, where the loss still
    fell fastest before it turned (the lowest loss is reached just before divergence).
    """
    if not (isinstance(steps, int) and steps >= 2):
        raise ArgumentError(f"steps must be an integer >= 2, got {steps!r}")
    if not 0 < lr_min < lr_max:
        raise ArgumentError(f"lr_finder needs 0 < lr_min < lr_max, got lr_min={lr_min!r}, "
                            f"lr_max={lr_max!r}")
    batches = list(batches)
    if not batches:
        raise ArgumentError("lr_finder got no batches; pass a list of (inputs, targets)")
    model, optimizer = make_model_and_optimizer()
    ratio = (lr_max / lr_min) ** (1.0 / (steps - 1))
    lrs, losses, best = [], [], math.inf
    for i in range(steps):
        lr = lr_min * ratio ** i
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, targets = batches[i % len(batches)]
        loss = _train_step(model, loss_fn, optimizer, inputs, targets)
        lrs.append(lr)
        losses.append(loss)
        if not math.isfinite(loss) or loss > 4 * best:
            break
        best = min(best, loss)
    lowest = min(range(len(losses)), key=lambda k: losses[k] if math.isfinite(losses[k]) else math.inf)
    return lrs, losses, lrs[lowest] / 10


# ------------------------------------------------------------ memory

# Arrays of the parameter's size each optimizer keeps per parameter (plugins/optimizers.py);
# adafactor and shampoo depend on the shape (_state_elements).
_STATE_COPIES = {"sgd": 0, "sgd_momentum": 1, "momentum": 1, "rmsprop": 1, "adagrad": 1,
                 "adam": 2, "adamw": 2, "lion": 1, "sophia": 2}
_SHAPED = ("adafactor", "shampoo")
OPTIMIZERS = tuple(sorted(set(_STATE_COPIES) | set(_SHAPED)))


def _state_copies(name, hp):
    copies = _STATE_COPIES[name]
    if name == "sgd" and hp.get("momentum", 0):
        copies = 1
    if name == "rmsprop":
        copies += (hp.get("momentum", 0) > 0) + bool(hp.get("centered"))
    if name in ("adam", "adamw") and hp.get("amsgrad"):
        copies = 3
    return copies


def _state_elements(name, hp, shape):
    """How many numbers the optimizer keeps for one parameter of this shape."""
    size = math.prod(shape)
    if name == "adafactor":   # row and column means of g^2 over the last two axes
        if len(shape) > 1:
            return math.prod(shape[:-1]) + math.prod(shape[:-2]) * shape[-1]
        return size
    if name == "shampoo":     # an n x n statistic and its inverse root per axis
        return sum(2 * n * n for n in (shape or (1,)))
    return _state_copies(name, hp) * size


def _optimizer_spec(optimizer):
    """(name, hyperparameters) from a name, (name, {hparams}) or a cr.optim Optimizer."""
    if optimizer is None:
        return None, {}
    if isinstance(optimizer, str):
        name, hp = optimizer, {}
    elif isinstance(optimizer, tuple) and len(optimizer) == 2 and isinstance(optimizer[1], dict):
        name, hp = optimizer
    elif hasattr(optimizer, "param_groups") and hasattr(optimizer, "name"):
        name, hp = optimizer.name, optimizer.param_groups[0]
    else:
        raise ArgumentError(f"optimizer must be a name ({', '.join(OPTIMIZERS)}), (name, "
                            f"{{hyperparameters}}), a cr.optim optimizer or None, got {optimizer!r}")
    name = name.lower()
    if name not in _STATE_COPIES and name not in _SHAPED:
        raise ArgumentError(f"memory_estimate does not know optimizer {name!r}; use one of "
                            f"{', '.join(OPTIMIZERS)} (or None: inference, no gradients or state)")
    return name, hp


def _shapes(params_or_model):
    """Shapes of the parameters; None when only a count was given."""
    if isinstance(params_or_model, bool):
        raise ArgumentError("memory_estimate takes a parameter count, a model or tensors, got a bool")
    if isinstance(params_or_model, int):
        if params_or_model < 0:
            raise ArgumentError(f"a parameter count must be >= 0, got {params_or_model}")
        return None
    if isinstance(params_or_model, Module):
        return [p.shape for p in params_or_model.parameters()]
    if isinstance(params_or_model, Tensor):
        return [params_or_model.shape]
    if isinstance(params_or_model, dict):
        params_or_model = list(params_or_model.values())
    try:
        items = list(params_or_model)
    except TypeError:
        items = None
    shapes = []
    for p in items if items is not None else [None]:
        if isinstance(p, Tensor):
            shapes.append(p.shape)
        elif isinstance(p, tuple) and all(isinstance(d, int) for d in p):
            shapes.append(p)
        elif isinstance(p, tuple) and len(p) == 2 and isinstance(p[1], Tensor):   # named_parameters
            shapes.append(p[1].shape)
        else:
            raise ArgumentError("memory_estimate takes a parameter count (int), a cr.nn.Module, "
                                "tensors, shapes or model.named_parameters(), got "
                                f"{type(params_or_model).__name__} holding {p!r}")
    return shapes


def _activation_bytes(activations):
    if activations is None:
        return 0
    if isinstance(activations, bool) or not isinstance(activations, (int, Tensor, list, tuple)):
        raise ArgumentError("activations must be a byte count (int), a tensor or a list of "
                            f"tensors, got {activations!r}")
    if isinstance(activations, int):
        return activations
    if isinstance(activations, Tensor):
        return activations.size * activations.dtype.itemsize
    return sum(_activation_bytes(a) for a in activations)


def memory_estimate(params_or_model, optimizer="adamw", param_dtype="float32", grad_dtype=None,
                    master_weights=False, activations=None):
    """Bytes that training (or, with ``optimizer=None``, inference) needs, as a dict with
    ``parameters``, ``gradients``, ``optimizer_state``, ``master_weights``, ``activations``
    and their ``total``.

    ``params_or_model``: a parameter count P, a ``cr.nn.Module``, tensors or shapes (adafactor
    and shampoo keep shape-dependent state, so they need shapes).  Parameters are counted in
    ``param_dtype``, gradients in ``grad_dtype`` (default: ``param_dtype``).  ``optimizer``:
    a name, ``(name, {hyperparameters})`` (``("sgd", {"momentum": 0.9})``), a cr.optim
    optimizer, or None for inference (no gradients, no optimizer state).  With
    ``master_weights=True`` (mixed precision) a float32 copy of the parameters is kept and
    the optimizer state is float32; otherwise the state has the parameters' dtype (as
    ``cr.optim`` keeps it).  ``activations``: bytes, or the tensors saved for backward.

    The rules of thumb: Adam in float32 is 4P + 4P + 8P = 16P; Adam in mixed precision is
    2P (float16 weights) + 2P (float16 gradients) + 4P (float32 master) + 8P (m, v) = 16P;
    serving in float16 is 2P.
    """
    name, hp = _optimizer_spec(optimizer)
    shapes = _shapes(params_or_model)
    count = params_or_model if shapes is None else sum(math.prod(s) for s in shapes)
    param_size = canonical(param_dtype).itemsize
    grad_size = canonical(grad_dtype).itemsize if grad_dtype is not None else param_size
    state_size = 4 if master_weights else param_size
    if name is None:
        state_elements = 0
    elif name in _SHAPED:
        if shapes is None:
            raise ArgumentError(f"{name}'s state depends on each parameter's shape; pass the model "
                                "or the parameters' shapes instead of a count")
        state_elements = sum(_state_elements(name, hp, tuple(s)) for s in shapes)
    else:
        state_elements = _state_copies(name, hp) * count
    sizes = {
        "parameters": count * param_size,
        "gradients": 0 if name is None else count * grad_size,
        "optimizer_state": state_elements * state_size,
        "master_weights": count * 4 if master_weights else 0,
        "activations": _activation_bytes(activations),
    }
    sizes["total"] = sum(sizes.values())
    return sizes

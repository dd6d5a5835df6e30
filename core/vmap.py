"""``cr.vmap``: a function of one example applied to a batch, as JAX's and torch.func's.

A ``BatchTrace`` is a third kind of trace next to ``VJPTrace`` and ``JVPTrace``: its boxes
hold the whole batch one level down, the batch axis always first, and show the program
one example (``x.shape`` leaves the batch axis out).  Each op on a box runs the op's
batching rule (``register(..., batch=...)``) once for the whole batch; an op without one
runs once per example in a loop, with a warning naming it.  Because it is a trace with a
level like the others, ``vmap(grad(f))`` (per-example gradients), ``grad(vmap(f))``,
``jvp(vmap(f))`` and ``vmap(vmap(f))`` need nothing special.
"""
import functools
import warnings

from . import autodiff
from .autodiff import box, bind, retire
from .creation import asarray
from .tensor import Tensor
from . import tree
from ._state import state
from . import ops
from .ops import _batching


class BatchTrace:
    """vmap at one level: every box of this trace is batched along axis 0 of its primal."""

    def __init__(self, batch_size):
        self.level = next(autodiff._levels)
        self.batch_size = batch_size

    @staticmethod
    def shape_of(box):
        return box._primal.shape[1:]

    def process(self, op, args, params):
        values, dims = [], []
        for a in args:   # a loop, not two comprehensions: each of those is a call in 3.11
            if type(a) is Tensor and a._trace is self:
                values.append(a._primal)
                dims.append(0)
            else:
                values.append(a)
                dims.append(None)
        if params:
            _refuse_batched_params(self, op, params)
        if op.batch is None:
            out = self._loop(op, values, dims, params)
        else:
            out = op.batch(dims, *values, **params)
        if type(out) is tuple:
            return tuple([box(self, o) for o in out])
        return box(self, out)

    def _loop(self, op, values, dims, params):
        """The fallback: the op once per example, the results stacked."""
        _warn_once(op)
        results = []
        for i in range(self.batch_size):
            example = tuple(v[i] if d == 0 else v for v, d in zip(values, dims))
            results.append(bind(op, example, params))
        if type(results[0]) is tuple:
            return tuple(ops.stack([r[k] for r in results]) for k in range(len(results[0])))
        return ops.stack(results)


_warned = set()


def _warn_once(op):
    if op.name not in _warned:
        _warned.add(op.name)
        warnings.warn(f"cr.vmap: op {op.name!r} (from {op.provider}) has no batching rule, so it "
                      "runs once per example in a Python loop (slow); register it with "
                      "batch=... (see cr.ops.register)", RuntimeWarning, stacklevel=4)


def _refuse_batched_params(trace, op, params):
    for key, value in params.items():
        for leaf in (value if isinstance(value, (tuple, list)) else (value,)):
            if type(leaf) is Tensor and leaf._trace is trace:
                raise ValueError(
                    f"cr.vmap: {op.name}'s parameter {key!r} is a batched tensor, but parameters "
                    "are one value for the whole batch; pass it as a positional tensor argument "
                    "(or out of the vmapped function, in_axes=None)")


# --------------------------------------------------------------------- vmap

def vmap(f, in_axes=0, out_axes=0, randomness="error"):
    """Vectorize ``f`` over a batch axis: ``vmap(f)(xs)`` is ``stack([f(x) for x in xs])``
    computed as one batched call (JAX semantics).

    in_axes   where each argument's batch axis is: an int (every argument), None (not
              batched, the same value for every example), or a tuple with one entry per
              positional argument, each an int, None or a tree matching that argument.
              Keyword arguments are batched along axis 0.
    out_axes  where the batch axis goes in the outputs (an int, or a tree prefix of them).
    randomness  what a draw from ``cr.random`` inside ``f`` does, as torch.func's: "error"
              (the default) raises, since one draw would be shared by every example where a
              loop would draw anew; "same" allows it and shares it.  For a draw per example,
              draw the (batch, ...) numbers outside and pass them in as a batched argument.

    Outputs that do not depend on a batched input are broadcast along the batch axis.
    Composes with every transform: ``vmap(grad(loss))`` gives per-example gradients.

    >>> import chainrule as cr
    >>> xs = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.vmap(lambda x: cr.sum(x * x))(xs).tolist()
    [5.0, 25.0]
    """
    _check_axis_spec(in_axes, "in_axes")
    _check_axis_spec(out_axes, "out_axes")
    if randomness not in ("error", "same"):
        raise ValueError(f"cr.vmap: randomness must be 'error' or 'same', got {randomness!r}; for "
                         "a different draw per example, draw them outside and pass them in batched")

    @functools.wraps(f)
    def batched(*args, **kwargs):
        leaves, axes, labels, rebuild = _inputs(args, kwargs, in_axes)
        size = _batch_size(leaves, axes, labels)
        trace = BatchTrace(size)
        try:
            boxed = [x if a is None else box(trace, _to_front(x, a)) for x, a in zip(leaves, axes)]
            new_args, new_kwargs = rebuild(boxed)
            outer = state.vmap_randomness
            state.vmap_randomness = outer + (randomness,)
            try:
                out = f(*new_args, **new_kwargs)
            finally:
                state.vmap_randomness = outer
        finally:
            retire(trace, "cr.vmap")
        return _outputs(trace, out, out_axes)
    return batched


def _check_axis_spec(spec, name):
    for leaf in tree.flatten(spec)[0]:
        if not isinstance(leaf, int) or isinstance(leaf, bool):
            raise ValueError(f"cr.vmap: {name} must hold ints or None, got {leaf!r}")


def _inputs(args, kwargs, in_axes):
    """(leaves, their batch axes, their names, rebuild(new leaves) -> (args, kwargs))."""
    if isinstance(in_axes, (tuple, list)):
        if len(in_axes) != len(args):
            raise ValueError(f"cr.vmap: in_axes has {len(in_axes)} entries but the function got "
                             f"{len(args)} positional arguments; give one entry per argument")
        specs = list(in_axes)
    elif isinstance(in_axes, dict):
        raise ValueError("cr.vmap: in_axes must be an int, None or a tuple with one entry per "
                         "positional argument (a dict only inside that tuple)")
    else:
        specs = [in_axes] * len(args)
    leaves, axes, labels, rebuilds = [], [], [], []
    for i, (arg, spec) in enumerate(zip(args, specs)):
        _spread_spec(arg, spec, f"argument {i}", leaves, axes, labels, rebuilds)
    for key, arg in kwargs.items():
        _spread_spec(arg, 0, f"keyword argument {key!r}", leaves, axes, labels, rebuilds)
    names = list(kwargs)

    def rebuild(new):
        out, start = [], 0
        for n, rb in rebuilds:
            out.append(rb(new[start:start + n]))
            start += n
        return tuple(out[:len(args)]), dict(zip(names, out[len(args):]))
    return leaves, axes, labels, rebuild


def _spread_spec(arg, spec, label, leaves, axes, labels, rebuilds):
    """One argument's leaves with their axes: spec is an int/None for all of them, or a
    tree of the argument's structure (JAX's tree prefix).  An unmapped argument (None) is
    one leaf, passed through as it is (no flattening and rebuilding of a parameter list
    on every call)."""
    if spec is None:
        leaves.append(arg)
        axes.append(None)
        labels.append(label)
        rebuilds.append((1, _first))
        return
    flat, rebuild = tree.flatten(arg)
    if spec is None or isinstance(spec, int):
        specs = [spec] * len(flat)
    else:
        specs = _matched(arg, spec, label)
    if len(flat) == 1 and flat[0] is arg:
        leaf_labels = [label]
    else:
        leaf_labels = [f"{label} (leaf {j})" for j in range(len(flat))]
    for x, a, name in zip(flat, specs, leaf_labels):
        leaves.append(_operand(x, a, name))
        axes.append(a)
        labels.append(name)
    rebuilds.append((len(flat), rebuild))


def _first(new):
    return new[0]


def _matched(arg, spec, label):
    """Per-leaf axes of ``arg`` from a spec tree that is a prefix of arg's structure."""
    if spec is None or isinstance(spec, int):
        return [spec] * len(tree.flatten(arg)[0])
    if isinstance(spec, (tuple, list)) and isinstance(arg, (tuple, list)) and len(spec) == len(arg):
        return [a for s, x in zip(spec, arg) for a in _matched(x, s, label)]
    if isinstance(spec, dict) and isinstance(arg, dict) and set(spec) == set(arg):
        return [a for k in arg for a in _matched(arg[k], spec[k], label)]
    raise ValueError(f"cr.vmap: the in_axes entry for {label} ({spec!r}) does not match its "
                     f"structure ({type(arg).__name__}); give an int, None, or a tree of the "
                     "same structure")


def _operand(x, axis, label):
    if axis is None:
        return x
    if type(x) is not Tensor:
        if isinstance(x, (int, float, complex, bool)):
            raise ValueError(f"cr.vmap: {label} is a Python scalar but in_axes maps it along axis "
                             f"{axis}; give it in_axes=None (or pass an array)")
        try:
            if isinstance(x, (str, bytes)):
                raise TypeError(x)
            x = asarray(x)
        except Exception:
            raise ValueError(f"cr.vmap: {label} ({type(x).__name__}) is mapped along axis {axis} "
                             "but is not an array (keyword arguments are always mapped); give it "
                             "in_axes=None, or bind it with functools.partial") from None
    ndim = len(x.shape)
    if not -ndim <= axis < ndim:
        raise ValueError(f"cr.vmap: in_axes={axis} is out of range for {label}, which has "
                         f"{ndim} dimensions (shape {tuple(x.shape)}); use an axis in "
                         f"[{-ndim}, {ndim - 1}]" if ndim else
                         f"cr.vmap: in_axes={axis} for {label}, a 0-d tensor: it has no axis to "
                         "map over; give it in_axes=None")
    return x


def _batch_size(leaves, axes, labels):
    sizes = [(label, x.shape[a]) for x, a, label in zip(leaves, axes, labels) if a is not None]
    if not sizes:
        raise ValueError("cr.vmap: in_axes maps no argument (all None); at least one argument "
                         "must have a batch axis")
    if len({s for _, s in sizes}) > 1:
        listed = ", ".join(f"{label}: {s}" for label, s in sizes)
        raise ValueError(f"cr.vmap: the batch axes have different sizes ({listed}); every mapped "
                         "argument needs the same batch size")
    return sizes[0][1]


def _to_front(x, axis):
    return _batching.moveaxis(x, axis % len(x.shape), 0)


def _outputs(trace, out, out_axes):
    """f's result as seen outside: batch axes moved to out_axes, unbatched outputs broadcast."""
    flat, rebuild = tree.flatten(out)
    if out_axes is None or isinstance(out_axes, int):
        specs = [out_axes] * len(flat)
    else:
        specs = _matched(out, out_axes, "the output")
    return rebuild([_output(trace, o, a, j) for j, (o, a) in enumerate(zip(flat, specs))])


def _output(trace, out, axis, j):
    if type(out) is Tensor and out._trace is trace:
        value, is_batched = out._primal, True
    else:
        value, is_batched = (out if type(out) is Tensor else asarray(out)), False
    if axis is None:
        if is_batched:
            raise ValueError(f"cr.vmap: out_axes is None for output {j}, but it depends on the "
                             "batched inputs; give it an int out_axes")
        return value
    if not is_batched:
        value = _batching.batched(value, None, trace.batch_size)
    ndim = len(value.shape)
    if not -ndim <= axis < ndim:
        raise ValueError(f"cr.vmap: out_axes={axis} is out of range for output {j}, which has "
                         f"{ndim} dimensions with the batch axis; use an axis in [{-ndim}, {ndim - 1}]")
    return _batching.moveaxis(value, 0, axis % ndim)

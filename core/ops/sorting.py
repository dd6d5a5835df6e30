"""Sorting: ``argsort`` is the one kernel (indices, not differentiable); ``sort``, ``msort``,
``partition`` and ``topk`` gather x at its indices (``take_along_axis``), so their gradients
flow back through the permutation: a scatter of the cotangent to where each value came from."""
from .registry import register, public
from ._util import shape_of
from .shape import axis_argument, ravel, take_along_axis, getitem, _is_int
from ..errors import ArgumentError, ShapeError


def _argsort_batch(dims, x, axis=-1, descending=False):
    return _argsort(x, axis=axis % (len(shape_of(x)) - 1) + 1, descending=descending)


_argsort = register("argsort", "argsort", batch=_argsort_batch, raw_rules=True)


def _flat_or_axis(op, x, axis):
    """(x, axis): axis None means x flattened, as in NumPy."""
    if axis is None:
        return ravel(x), 0
    return x, axis_argument(op, axis, len(shape_of(x)))


def _flag(op, name, value):
    if not isinstance(value, bool):
        raise ArgumentError(f"{op}: {name} must be True or False, got {value!r}")
    return value


@public(_argsort, method=True)
def argsort(x, axis=-1, *, descending=False, stable=True):
    """Indices that sort x along ``axis`` (None: flattened); stable (ties keep their order),
    NaN last (first when ``descending``).  Integer indices: no gradient."""
    _flag("argsort", "stable", stable)   # always stable; stable=False allows any order of ties
    x, axis = _flat_or_axis("argsort", x, axis)
    return _argsort(x, axis=axis, descending=_flag("argsort", "descending", descending))


def sort(x, axis=-1, *, descending=False, stable=True):
    """x sorted along ``axis`` (None: flattened), as NumPy's ``sort`` (out of place); the
    gradient goes back to each value's place."""
    x, axis = _flat_or_axis("sort", x, axis)
    return take_along_axis(x, argsort(x, axis, descending=descending, stable=stable), axis)


def msort(a):
    """``sort(a, axis=0)`` (NumPy's deprecated ``msort``)."""
    return sort(a, axis=0)


def partition(a, kth, axis=-1):
    """NumPy's ``partition``: the kth element in its sorted place, smaller ones before it and
    larger ones after.  The result is fully sorted (one valid partition for every kth)."""
    a, axis = _flat_or_axis("partition", a, axis)
    n = shape_of(a)[axis]
    kths = [kth] if _is_int(kth) else list(kth) if isinstance(kth, (tuple, list)) else None
    if kths is None or not all(_is_int(k) for k in kths):
        raise ArgumentError(f"partition: kth must be an integer or a sequence of integers, got {kth!r}")
    bad = [k for k in kths if not -n <= k < n]
    if bad:
        raise ShapeError(f"partition: kth {bad[0]} is out of bounds for an axis of length {n}; "
                         f"use kth in [{-n}, {n - 1}]")
    return sort(a, axis)


def topk(x, k, axis=-1, largest=True, sorted=True):
    """The k largest (``largest=False``: smallest) values along ``axis`` and their indices, as
    torch's ``topk``: ``(values, indices)``, values in order; values carry the gradient."""
    ndim = len(shape_of(x))
    axis = axis_argument("topk", axis, ndim)
    n = shape_of(x)[axis]
    if not _is_int(k) or not 0 <= k <= n:
        raise ArgumentError(f"topk: k must be an integer in [0, {n}] (the length of axis {axis}), got {k!r}")
    _flag("topk", "sorted", sorted)   # always sorted: a valid answer for sorted=False too
    order = argsort(x, axis, descending=_flag("topk", "largest", largest))
    indices = getitem(order, (slice(None),) * axis + (slice(0, k),))
    return take_along_axis(x, indices, axis), indices


for _fn in (sort, msort, partition, topk):
    register(_fn.__name__, _fn)

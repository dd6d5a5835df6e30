"""What batching rules (``cr.vmap``) share.

A rule gets its arguments one level down, each batched one with its batch axis first, and
``dims``: per positional argument 0 (batched) or None.  It computes the whole batch with
ordinary ops and returns the output with its batch axis first.  The helpers here do the
index arithmetic every rule needs: per-example ranks, axes shifted past the batch axis,
batched operands lined up with unbatched ones for broadcasting.  Ops are looked up by name
(the families import this module, so it cannot import them).
"""
from ._util import shape_of, normalize_axis, dtype_of
from .registry import _registry
from ..tensor import Tensor


def op(name):
    """The public function of the registered op ``name``."""
    return _registry[name].fn


def rank(x, d):
    """Per-example rank of an argument (a Python scalar has rank 0)."""
    if type(x) is not Tensor:
        return 0
    return len(shape_of(x)) - (d == 0)


def size(args, dims):
    """The batch size: the leading axis of any batched argument."""
    for x, d in zip(args, dims):
        if d == 0:
            return shape_of(x)[0]
    raise ValueError("a batching rule ran with no batched argument")


def with_rank(x, n):
    """Batched x with singleton axes inserted after the batch axis up to per-example rank n:
    then it broadcasts against unbatched operands of rank <= n as one example would."""
    shape = shape_of(x)
    missing = n - (len(shape) - 1)
    if missing <= 0:
        return x
    return op("reshape")(x, shape=(shape[0],) + (1,) * missing + tuple(shape[1:]))


def aligned(args, dims):
    """Every batched argument raised to the largest per-example rank (see ``with_rank``).
    Most calls find them aligned already: one pass over the ranks says so (every op of a
    vmapped function comes through here, so it is kept cheap)."""
    low = high = free = -1   # smallest and largest batched rank, largest unbatched one
    for x, d in zip(args, dims):
        if type(x) is Tensor:
            r = len(shape_of(x))
            if d == 0:
                r -= 1
                low = r if low < 0 or r < low else low
                high = r if r > high else high
            elif r > free:
                free = r
    if low == high and low >= free:
        return args
    n = max(high, free)
    return [with_rank(x, n) if d == 0 and rank(x, d) < n else x for x, d in zip(args, dims)]


def batched(x, d, b):
    """x with a batch axis of size b first (an unbatched x is broadcast, not copied)."""
    if d == 0:
        return x
    shape = tuple(shape_of(x))
    return op("broadcast_to")(op("expand_dims")(x, axis=0), shape=(b,) + shape)


def all_batched(args, dims):
    """Every argument batched (unbatched ones broadcast), for ops that cannot mix the two."""
    b = size(args, dims)
    return [batched(x, d, b) for x, d in zip(args, dims)]


def shifted(axes):
    """A per-example axis tuple as axes of the batched value (non-negative axes in)."""
    return tuple(a + 1 for a in axes)


def moveaxis(x, source, dest):
    """x with axis ``source`` moved to position ``dest`` (both non-negative)."""
    if source == dest:
        return x
    order = [i for i in range(len(shape_of(x))) if i != source]
    order.insert(dest, source)
    return op("permute_dims")(x, axes=tuple(order))


# ------------------------------------------------------------------ rule factories

def elementwise(name):
    """The rule of an elementwise op (any number of operands, NumPy broadcasting)."""
    def rule(dims, *args, **params):
        return _registry[name].fn(*(args if len(args) == 1 else aligned(args, dims)), **params)
    rule.__name__ = f"{name}_batch"
    return rule


def reduction(name):
    """The rule of a reduction whose ``axis`` is a sorted tuple of non-negative axes or None."""
    def rule(dims, x, axis=None, keepdims=False, **params):   # params: var's correction
        n = len(shape_of(x)) - 1
        axis = tuple(range(n)) if axis is None else normalize_axis(axis, n)
        if not axis:   # a per-example scalar: reduce a length-1 axis (an empty axis means "all" to torch)
            return op(name)(op("expand_dims")(x, axis=1), axis=(1,), keepdims=False, **params)
        return op(name)(x, axis=shifted(axis), keepdims=keepdims, **params)
    rule.__name__ = f"{name}_batch"
    return rule


def index_of(name):
    """The rule of argmax/argmin, whose axis is an int (maybe negative) or None (flattened)."""
    def rule(dims, x, axis=None, keepdims=False):
        shape = shape_of(x)
        n = len(shape) - 1
        if axis is None:
            out = op(name)(op("reshape")(x, shape=(shape[0], -1)), axis=1, keepdims=False)
            return op("reshape")(out, shape=(shape[0],) + (1,) * n) if keepdims else out
        return op(name)(x, axis=axis % n + 1, keepdims=keepdims)
    rule.__name__ = f"{name}_batch"
    return rule


def along_axis(name):
    """The rule of an op acting along one non-negative ``axis`` (softmax, log_softmax)."""
    def rule(dims, x, axis, **params):
        return op(name)(x, axis=axis + 1, **params)
    rule.__name__ = f"{name}_batch"
    return rule


def each_leading(name):
    """The rule of an op already batched over leading axes (eigh, qr): the batch is one more."""
    def rule(dims, *args, **params):
        return op(name)(*args, **params)
    rule.__name__ = f"{name}_batch"
    return rule


# ------------------------------------------------------------------ indexing

def advanced_first(index):
    """For a per-example index (raw parts): None if x[(slice(None),) + index] keeps the
    batch axis first, else where the batch axis lands.  NumPy puts the broadcast advanced
    axes first when advanced parts (arrays; ints among them) are not side by side, and the
    batch axis then follows them."""
    arrays = [i for i, p in enumerate(index) if _is_array(p)]
    if not arrays:
        return None
    advanced = [i for i, p in enumerate(index) if _is_array(p) or isinstance(p, int)]
    if advanced[-1] - advanced[0] + 1 == len(advanced):
        return None   # side by side: their axes take their place, after the batch axis
    return max(1 if _is_bool(index[i]) else len(shape_of(index[i])) for i in arrays)


def _is_array(part):
    return not (isinstance(part, (int, slice)) or part is None or part is Ellipsis)


def _is_bool(part):
    return dtype_of(part) == "bool"

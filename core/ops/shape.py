"""Shape ops and indexing.  All are linear, so each JVP is the op itself."""
import numbers

from .registry import register, on_kernels, public
from ._util import shape_of, normalize_axis, dtype_of
from ..tensor import Tensor, _batched
from ..errors import ShapeError, DTypeError, ArgumentError
from .. import backends as _backends
from ..creation import arange, tensor
from . import _batching as B
from ._batching import op as _op


# ------------------------------------------------- checking what users pass
# Fronts check the kind of each shape-like argument before any arithmetic on it, so a float
# axis or a string shape is named (ArgumentError), not a TypeError from inside a helper.

def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def axis_argument(op, axis, ndim, new_axis=False):
    """One axis as an int in [0, ndim): checked, negative counted from the end.  ``new_axis``:
    where an axis is inserted (expand_dims, stack), in [0, ndim]."""
    if not _is_int(axis):
        raise ArgumentError(f"{op}: axis must be an integer, got {axis!r}")
    n = ndim + 1 if new_axis else ndim
    if not -n <= axis < n:
        if not n:
            raise ShapeError(f"{op}: a 0-d tensor has no axis {axis}; reshape it to (1,) first")
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor with {ndim} dimensions; "
                         f"use an axis in [{-n}, {n - 1}]")
    return int(axis) % n


def axes_argument(op, axis):
    """None, an int or a sequence of ints (checked in kind; ranges by ``normalize_axis``)."""
    if axis is None or _is_int(axis):
        return axis
    if isinstance(axis, (tuple, list)) and all(_is_int(a) for a in axis):
        return tuple(axis)
    raise ArgumentError(f"{op}: axis must be None, an integer or a tuple of integers, got {axis!r}")


def shape_argument(op, shape):
    """An int or a sequence of ints, as a tuple."""
    if _is_int(shape):
        return (int(shape),)
    if isinstance(shape, (tuple, list)) and all(_is_int(d) for d in shape):
        return tuple(int(d) for d in shape)
    raise ArgumentError(f"{op}: a shape must be an integer or a tuple of integers, got {shape!r}")


def _tensors_argument(op, tensors):
    if isinstance(tensors, (tuple, list)) or type(tensors) is Tensor:
        tensors = tuple(tensors)
    else:
        raise ArgumentError(f"{op} takes a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ShapeError(f"{op} needs at least one tensor")
    return tensors


# ------------------------------------------------------------ batching rules
# (cr.vmap: batched arguments come with their batch axis first; see _batching)

def _reshape_batch(dims, x, shape):
    return _op("reshape")(x, shape=(shape_of(x)[0],) + tuple(shape))


def _permute_batch(dims, x, axes):
    return _op("permute_dims")(x, axes=(0,) + B.shifted(axes))


def _matrix_transpose_batch(dims, x):
    return _op("matrix_transpose")(x) if len(shape_of(x)) >= 3 else x


def _broadcast_to_batch(dims, x, shape):
    return _op("broadcast_to")(B.with_rank(x, len(shape)), shape=(shape_of(x)[0],) + tuple(shape))


def _sum_to_batch(dims, x, shape):
    xshape = shape_of(x)
    lead = len(xshape) - 1 - len(shape)
    if lead > 0:   # per-example leading axes: summed here, so sum_to never meets the batch axis
        x = _op("sum")(x, axis=tuple(range(1, lead + 1)), keepdims=False)
    return _op("sum_to")(x, shape=(xshape[0],) + tuple(shape))


def _expand_dims_batch(dims, x, axis):
    n = len(shape_of(x))   # the per-example rank after the insertion
    return _op("expand_dims")(x, axis=axis % n + 1)


def _squeeze_batch(dims, x, axis):
    return _op("squeeze")(x, axis=B.shifted(axis))


def _joined_batch(name):
    """concat / stack: every operand batched (unbatched ones broadcast), axis shifted."""
    def rule(dims, *xs, axis):
        return _op(name)(*B.all_batched(xs, dims), axis=axis + 1)
    return rule


def _getitem_batch(dims, x, index):
    out = _op("getitem")(x, index=(slice(None),) + index)
    lands = B.advanced_first(index)
    return out if lands is None else B.moveaxis(out, lands, 0)


def _scatter_batch(dims, g, shape, index):
    lands = B.advanced_first(index)
    if lands is not None:   # g's batch axis where x[(slice(None),) + index] put it
        g = B.moveaxis(g, 0, lands)
    return _op("index_scatter")(g, shape=(shape_of(g)[lands or 0],) + tuple(shape),
                                index=(slice(None),) + index)


def _index_update_batch(dims, x, v, index):
    b = B.size((x, v), dims)
    x = B.batched(x, dims[0], b)
    full = (slice(None),) + index
    lands = B.advanced_first(index)
    if type(v) is Tensor and (dims[1] == 0 or lands is not None):
        # v broadcasts against x[full]: its batch axis where x[full] has it
        v = B.batched(v, dims[1], b)
        v = B.with_rank(v, len(shape_of(_op("getitem")(x, index=full))) - 1)
        if lands is not None:
            v = B.moveaxis(v, 0, lands)
    return _op("index_update")(x, v, index=full)


_reshape = register("reshape", "reshape", batch=_reshape_batch,
                    vjp=lambda ans, x, shape: lambda g: _reshape(g, shape=shape_of(x)),
                    jvp="linear", raw_rules=True, view=True)


@public(_reshape)
def reshape(x, shape):
    """View x with a new shape (one entry may be -1)."""
    return _reshape(x, shape=shape_argument("reshape", shape))


def _inverse(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


_permute = register("permute_dims", "transpose", batch=_permute_batch,
                    vjp=lambda ans, x, axes: lambda g: _permute(g, axes=_inverse(axes)),
                    jvp="linear", raw_rules=True, view=True)


@public(_permute, method=True)
def permute_dims(x, axes):
    """Reorder axes with a full permutation (Array API ``permute_dims``)."""
    ndim = len(shape_of(x))
    if not isinstance(axes, (tuple, list)) or not all(_is_int(a) for a in axes):
        raise ArgumentError(f"permute_dims needs a permutation of range({ndim}) (a tuple of "
                            f"integers), got {axes!r}")
    axes = tuple(int(a) % ndim for a in axes) if ndim else tuple(axes)
    if sorted(axes) != list(range(ndim)):
        raise ShapeError(f"permute_dims needs a permutation of range({ndim}), got {axes}")
    return _permute(x, axes=axes)


def transpose(x, axes=None):
    """Swap the last two axes (or the two given axes, or apply a full permutation)."""
    if axes is None:
        return matrix_transpose(x)
    ndim = len(shape_of(x))
    if not isinstance(axes, (tuple, list)):
        raise ArgumentError(f"transpose: axes must be two axes to swap or a full permutation, got {axes!r}")
    axes = tuple(axes)
    if len(axes) == 2:
        perm = list(range(ndim))
        i, j = (axis_argument("transpose", a, ndim) for a in axes)
        perm[i], perm[j] = perm[j], perm[i]
        return _permute(x, axes=tuple(perm))
    return permute_dims(x, axes)


@on_kernels
def _swap_last(k, x):
    n = len(k.shape(x))
    return k.transpose(x, tuple(range(n - 2)) + (n - 1, n - 2)) if n >= 2 else x


matrix_transpose = register("matrix_transpose", _swap_last, batch=_matrix_transpose_batch,
                            vjp=lambda ans, x: lambda g: matrix_transpose(g),
                            jvp="linear", raw_rules=True, view=True,
                            doc="Swap the last two axes (Array API ``matrix_transpose``).")


# broadcast_to's cotangent is g itself: the engine's unbroadcast sums it back to x's shape
_broadcast_to = register("broadcast_to", "broadcast_to", batch=_broadcast_to_batch, vjp=lambda ans, x, shape: lambda g: g,
                         jvp="linear", raw_rules=True, view=True)


@public(_broadcast_to, method=True)
def broadcast_to(x, shape):
    return _broadcast_to(x, shape=shape_argument("broadcast_to", shape))


@on_kernels
def _sum_to_forward(k, x, shape):
    xshape = tuple(k.shape(x))
    lead = len(xshape) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape)
                                      if d == 1 and xshape[i + lead] != 1)
    out = k.sum(x, axes, True) if axes else x
    return k.reshape(out, shape) if lead or tuple(k.shape(out)) != shape else out


sum_to = register("sum_to", _sum_to_forward, batch=_sum_to_batch,
                  vjp=lambda ans, x, shape: lambda g: _broadcast_to(g, shape=shape_of(x)),
                  jvp="linear", raw_rules=True, view=True, namespace=None,
                  doc="Sum x down to ``shape`` (undo broadcasting); used by the backward walk.")
_sum_to = sum_to
sum_to = lambda x, shape: _sum_to(x, shape=tuple(shape))  # noqa: E731
sum_to.__name__ = "sum_to"

_expand_dims = register("expand_dims", "expand_dims", batch=_expand_dims_batch,
                        vjp=lambda ans, x, axis: lambda g: _reshape(g, shape=shape_of(x)),
                        jvp="linear", raw_rules=True, view=True)
_squeeze = register("squeeze", "squeeze", batch=_squeeze_batch,
                    vjp=lambda ans, x, axis: lambda g: _reshape(g, shape=shape_of(x)),
                    jvp="linear", raw_rules=True, view=True)


@public(_expand_dims, method=True)
def expand_dims(x, axis=0):
    """Insert a length-1 axis at ``axis``."""
    axis_argument("expand_dims", axis, len(shape_of(x)), new_axis=True)
    return _expand_dims(x, axis=int(axis))


@public(_squeeze, method=True)
def squeeze(x, axis=None):
    """Remove length-1 axes (all of them, or the given ones)."""
    shape = shape_of(x)
    if axis is None:
        axis = tuple(i for i, d in enumerate(shape) if d == 1)
    axis = normalize_axis(axes_argument("squeeze", axis), len(shape))
    if not shape:   # a 0-d tensor: axis 0 (or -1) names it, as in torch; nothing to remove
        return _squeeze(x, axis=())
    bad = [a for a in axis if shape[a] != 1]
    if bad:
        raise ShapeError(f"squeeze: axis {bad[0]} has length {shape[bad[0]]}, not 1")
    return _squeeze(x, axis=axis)


def flatten(x):
    return _reshape(x, shape=(-1,))


# ---------------------------------------------------------- joining, splitting

def _slices(axis, sizes):
    """Index tuples cutting an axis into consecutive pieces of the given sizes."""
    out, start = [], 0
    for size in sizes:
        out.append((slice(None),) * axis + (slice(start, start + size),))
        start += size
    return out


def _one_or_tuple(cts):
    """A bare cotangent for a single input: what every backward path accepts for one argument."""
    return cts[0] if len(cts) == 1 else cts


def _concat_vjp(ans, *xs, axis):
    sizes = [shape_of(x)[axis] for x in xs]
    return lambda g: _one_or_tuple(tuple(getitem(g, idx) for idx in _slices(axis, sizes)))


_concat = register("concat", on_kernels(lambda k, *xs, axis: k.concat(list(xs), axis)), batch=_joined_batch("concat"),
                   vjp=_concat_vjp, jvp="linear", raw_rules=True)


@public(_concat)
def concat(tensors, axis=0):
    """Join tensors along an existing axis."""
    tensors = _tensors_argument("concat", tensors)
    ndim = len(shape_of(tensors[0]))
    if not ndim:
        raise ShapeError("concat cannot join 0-d tensors along an axis; use cr.stack")
    return _concat(*tensors, axis=axis_argument("concat", axis, ndim))


def _stack_vjp(ans, *xs, axis):
    n = len(xs)
    return lambda g: _one_or_tuple(tuple(getitem(g, (slice(None),) * axis + (i,)) for i in range(n)))


_stack = register("stack", on_kernels(lambda k, *xs, axis: k.stack(list(xs), axis)), batch=_joined_batch("stack"),
                  vjp=_stack_vjp, jvp="linear", raw_rules=True)


@public(_stack)
def stack(tensors, axis=0):
    """Join tensors along a new axis."""
    tensors = _tensors_argument("stack", tensors)
    return _stack(*tensors, axis=axis_argument("stack", axis, len(shape_of(tensors[0])), new_axis=True))


def split(x, indices_or_sections, axis=0):
    """Split like ``numpy.array_split``: n near-equal pieces, or cut at the given indices."""
    axis = axis_argument("split", axis, len(shape_of(x)))
    n = shape_of(x)[axis]
    if _is_int(indices_or_sections):
        k = indices_or_sections
        if k <= 0:
            raise ShapeError(f"split: the number of sections must be positive, got {k}")
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
        cuts, acc = [], 0
        for s in sizes[:-1]:
            acc += s
            cuts.append(acc)
    elif isinstance(indices_or_sections, (tuple, list)) and all(_is_int(i) for i in indices_or_sections):
        cuts = list(indices_or_sections)
    else:
        raise ArgumentError("split takes a number of sections or a list of indices to cut at, got "
                            f"{indices_or_sections!r}")
    bounds = [0] + cuts + [n]
    return [getitem(x, (slice(None),) * axis + (slice(bounds[i], bounds[i + 1]),))
            for i in range(len(bounds) - 1)]


# ----------------------------------------------------------------- indexing

def is_basic(index):
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in index)


def _is_int_array(part, b):
    if isinstance(part, (int, slice)) or part is None or part is Ellipsis:
        return False
    return b.dtype(part) != "bool"


@on_kernels
def _scatter_forward(k, g, shape, index):
    """zeros(shape) with g added at index: the transpose of x[index]."""
    out = k.zeros(tuple(shape), k.dtype(g))
    if not any(_is_int_array(p, k) for p in index):  # no repeats possible: plain write
        k.setitem(out, index, g)
    else:
        k.scatter_add(out, index, g)
    return out


_getitem = register("getitem", "getitem", batch=_getitem_batch,
                    vjp=lambda ans, x, index: lambda g: _scatter(g, shape=shape_of(x), index=index),
                    jvp="linear", raw_rules=True,
                    view=lambda params: is_basic(params["index"]))   # a view where NumPy's is
_scatter = register("index_scatter", _scatter_forward, batch=_scatter_batch,
                    vjp=lambda ans, g, shape, index: lambda gg: _getitem(gg, index=index),
                    jvp="linear", raw_rules=True, namespace=None,
                    doc="zeros(shape) with g scatter-added at index (getitem's transpose).")


def _raw_index(part, b):
    """One part of an index as ``b`` indexes: Tensors, lists, NumPy or other libraries'
    arrays become b's raw integer/bool arrays (so x[np.array(...)] on torch scatters back
    with torch kernels); NumPy integer scalars become ints (basic indexing)."""
    if isinstance(part, (int, slice)) or part is None or part is Ellipsis:
        return part
    if type(part) is Tensor:
        if part.dtype.is_floating:
            raise DTypeError(f"tensors used as indices must be integer or bool, got {part.dtype}; "
                             "cast with .astype('int64')")
        if part._trace is not None and _batched(part):
            raise ValueError("an index tensor batched by cr.vmap (a different index per example) "
                             "can read (x[i], cr.take) but not write (x[i] = v, index_update); "
                             "write with cr.where(cr.arange(n) == i, v, x) instead")
        part = part._data
    elif isinstance(part, list):
        if part and isinstance(part[0], Tensor):
            return part
        raw = _index_list(part, b)
        if b is None:
            return raw
        part = raw
    elif isinstance(part, numbers.Integral):   # np.int64(2)
        return int(part)
    if b is None:
        return part
    raw = b.asarray(part)
    if b.dtype(raw) not in _INDEX_DTYPES:
        raise DTypeError(f"arrays used as indices must be integer or bool, got {b.dtype(raw)}; "
                         "cast with .astype('int64')")
    return raw


_INDEX_DTYPES = frozenset({"bool", "int8", "uint8", "int16", "int32", "int64"})


def _index_list(part, b):
    """A list used as an index, as an array of ``b`` (or of the current backend)."""
    try:
        if b is None:
            return tensor(part, dtype="int64" if not part else None)._data
        return b.asarray(part, "int64" if not part else None)
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"a list used as an index must hold integers or bools in nested lists "
                            f"of equal length, got {part!r} ({exc})") from None


def normalize_index(index, like=None):
    """A tuple index whose array parts are raw integer/bool arrays of ``like``'s backend
    (a Tensor or raw array; None: Tensor parts unwrapped, other parts as given)."""
    if not isinstance(index, tuple):
        index = (index,)
    b = None if like is None else (like._backend if type(like) is Tensor else
                                   _backends.backend_of_raw(like))
    return tuple(_raw_index(p, b) for p in index)


@public(_getitem)
def getitem(x, index):
    """``x[index]``: ints, slices, None, Ellipsis, integer or bool arrays; backward scatter-adds."""
    parts = index if isinstance(index, tuple) else (index,)
    if any(type(p) is Tensor and p._trace is not None and _batched(p) for p in parts):
        return _gather_by(x, parts)
    return _getitem(x, index=normalize_index(index, x) if not isinstance(index, tuple) or
                    not is_basic(index) else index)


# ------------------------------------------- indexing with index tensors batched by vmap
# getitem keeps its index in a parameter, which vmap does not see.  x[i] with an i batched
# by vmap (a different index per example) is this op instead: the index tensors are its
# positional arguments; ``template`` is the index with _SLOT where each of them goes.

class _Slot:
    def __repr__(self):
        return "<index tensor>"


_SLOT = _Slot()


def _filled(template, idx):
    tensors = iter(idx)
    return tuple(next(tensors) if p is _SLOT else p for p in template)


def _gather_by(x, parts):
    template, idx = [], []
    for p in parts:
        if type(p) is Tensor:
            if p.dtype.is_floating or p.dtype == "bool":
                raise DTypeError(f"cr.vmap: a batched index tensor must hold integers, got {p.dtype} "
                                 "(a batched boolean mask would give each example its own shape)")
            template.append(_SLOT)
            idx.append(p)
        else:
            template.append(_raw_index(p, x._backend))
    return _gather(x, *idx, template=tuple(template))


def _is_advanced(p):
    return p is _SLOT or not (isinstance(p, slice) or p is None or p is Ellipsis)


def _batched_index(template, idx, dims, b, ndim):
    """The index of a whole batch: an arange over the batch first, then the example's index,
    its batched tensors lined up behind the arange.  NumPy then puts the batch axis and the
    k axes of the index tensors first; ``perm`` moves those k axes to where one example's
    result has them (where its first index tensor is, when they are side by side)."""
    if any(p is not _SLOT and _is_advanced(p) and not isinstance(p, int) and
           dtype_of(p) == "bool" for p in template):
        raise DTypeError("cr.vmap: a boolean mask together with a batched index tensor is not "
                         "supported; turn the mask into integer positions")
    ranks = [len(shape_of(i)) - (d == 0) for i, d in zip(idx, dims)]
    ranks += [len(shape_of(p)) for p in template if p is not _SLOT and _is_advanced(p)
              and not isinstance(p, int)]
    k = max(ranks)
    some = next(i for i, d in zip(idx, dims) if d == 0)
    batch = _op("reshape")(_batch_range(some, b), shape=(b,) + (1,) * k)
    lined = [B.with_rank(i, k) if d == 0 else i for i, d in zip(idx, dims)]
    advanced = [j for j, p in enumerate(template) if _is_advanced(p)]
    adjacent = advanced[-1] - advanced[0] + 1 == len(advanced)
    before = _result_dims(template[:advanced[0]], template, ndim) if adjacent else 0
    named = tuple(template) if any(p is Ellipsis for p in template) else tuple(template) + (Ellipsis,)
    others = list(range(1 + k, 1 + k + _result_dims(named, template, ndim)))
    perm = [0] + others[:before] + list(range(1, 1 + k)) + others[before:]
    return (_SLOT,) + tuple(template), [batch] + lined, tuple(perm)


def _result_dims(parts, template, ndim):
    """Axes of one example's result made by the basic parts among ``parts``: slices, None,
    and Ellipsis (the axes the index does not name); the index tensors' axes are apart."""
    consumed = sum(1 for p in template if p is not None and p is not Ellipsis)
    return sum(1 if isinstance(p, slice) or p is None else ndim - consumed if p is Ellipsis
               else 0 for p in parts)


def _batch_range(like, b):
    return arange(b, dtype="int64", backend=like._backend)


def _gather_batch(dims, x, *idx, template):
    b = B.size((x,) + idx, dims)
    x = B.batched(x, dims[0], b)
    full, tensors, perm = _batched_index(template, idx, dims[1:], b, len(shape_of(x)) - 1)
    return _op("permute_dims")(_gather(x, *tensors, template=full), axes=perm)


def _gather_scatter_batch(dims, g, *idx, shape, template):
    b = B.size((g,) + idx, dims)
    g = B.batched(g, dims[0], b)
    full, tensors, perm = _batched_index(template, idx, dims[1:], b, len(shape))
    g = _op("permute_dims")(g, axes=_inverse(perm))
    return _gather_scatter(g, *tensors, shape=(b,) + tuple(shape), template=full)


_gather = register(
    "gather", on_kernels(lambda k, x, *idx, template: k.getitem(x, _filled(template, idx))),
    batch=_gather_batch,
    vjp=lambda ans, x, *idx, template: lambda g: (
        _gather_scatter(g, *idx, shape=shape_of(x), template=template),) + (None,) * len(idx),
    jvp=lambda t, ans, x, *idx, template: None if t[0] is None else _gather(
        t[0], *idx, template=template), raw_rules=True, namespace=None,
    doc="x[index] with the index tensors as arguments (an index batched by cr.vmap).")
_gather_scatter = register(
    "gather_scatter", on_kernels(lambda k, g, *idx, shape, template: _scatter_forward(
        k, g, shape, _filled(template, idx))),
    batch=_gather_scatter_batch,
    vjp=lambda ans, g, *idx, shape, template: lambda gg: (
        _gather(gg, *idx, template=template),) + (None,) * len(idx),
    jvp=lambda t, ans, g, *idx, shape, template: None if t[0] is None else _gather_scatter(
        t[0], *idx, shape=shape, template=template), raw_rules=True, namespace=None,
    doc="zeros(shape) with g scatter-added at the index (gather's transpose).")


def take(x, indices, axis=0):
    """Gather along ``axis`` (like numpy.take); repeated indices accumulate in backward."""
    axis = axis_argument("take", axis, len(shape_of(x)))
    return getitem(x, (slice(None),) * axis + (indices,))


@on_kernels
def _index_update_forward(k, x, v, index):
    out = k.copy(x)
    k.setitem(out, index, v)
    return out


_index_update = register(
    "index_update", _index_update_forward, batch=_index_update_batch,
    vjp=(lambda ans, x, v, index: lambda g: _index_update(g, 0, index=index),
         lambda ans, x, v, index: lambda g: _getitem(g, index=index)),
    jvp="linear", raw_rules=True, namespace=None,
    doc="A copy of x with x[index] = v (what ``x[index] = v`` records).")


def index_update(x, v, index):
    return _index_update(x, v, index=index)


# composites: no rules of their own, differentiated through the ops they call
register("transpose", transpose)
register("flatten", flatten, method=True)
register("split", split)
register("take", take)

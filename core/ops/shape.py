"""Shape ops and indexing.  All are linear, so each JVP is the op itself."""
import math
import numbers

from .registry import register, on_kernels, public
from ._util import shape_of, normalize_axis, dtype_of
from ..tensor import Tensor, _batched, make
from ..errors import ShapeError, DTypeError, ArgumentError
from .. import backends as _backends
from ..creation import arange, tensor, full, zeros
from ..dtypes import FLOATING
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


def flatten(x, order="C"):
    """A 1-d copy of x, row-major ('C') or column-major ('F'), as ``ndarray.flatten``: never a
    view, so writing into it leaves x alone (``ravel`` is the view when it can be)."""
    return _op("clone")(ravel(x, order))


def ravel(x, order="C"):
    """x as a 1-d tensor, row-major ('C') or column-major ('F'); a view when the layout allows."""
    if order not in ("C", "F"):
        raise ArgumentError(f"ravel/flatten: order must be 'C' (row-major) or 'F' (column-major), "
                            f"got {order!r}")
    ndim = len(shape_of(x))
    if order == "F" and ndim > 1:
        x = _permute(x, axes=tuple(reversed(range(ndim))))
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


def _batched_index(template, idx, dims, b, ndim, like):
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
    # like: the batched operand (x or g); the index tensors may all be unbatched at this
    # level (batched by an outer vmap only, as in vmap(jacrev(f)) of a sort or a gather)
    batch = _op("reshape")(_batch_range(like, b), shape=(b,) + (1,) * k)
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
    full, tensors, perm = _batched_index(template, idx, dims[1:], b, len(shape_of(x)) - 1, x)
    return _op("permute_dims")(_gather(x, *tensors, template=full), axes=perm)


def _gather_scatter_batch(dims, g, *idx, shape, template):
    b = B.size((g,) + idx, dims)
    g = B.batched(g, dims[0], b)
    full, tensors, perm = _batched_index(template, idx, dims[1:], b, len(shape), g)
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


def _written(x, index):
    """Where x[index] = v really lands, as a bool array shaped like x[index] (None: everywhere).
    With repeated integer indices the last write wins (NumPy's rule): the earlier entries of v
    are overwritten and reach nothing.  Found with the backend's own setitem, so it agrees
    with the forward: each position of x[index] writes its number, and reads it back."""
    b = x._backend if type(x) is Tensor else _backends.backend_of_raw(x)
    if not any(_is_int_array(p, b) for p in index):   # no repeats possible
        return None
    board = b.zeros(tuple(shape_of(x)), "int64")
    shape = tuple(b.shape(b.getitem(board, index)))
    ids = b.reshape(b.arange(0, math.prod(shape), 1, "int64"), shape)
    b.setitem(board, index, ids)
    kept = b.equal(b.getitem(board, index), ids)
    return None if b.to_numpy(kept).all() else make(kept, b)


def _index_update_vjp_v(ans, x, v, index):
    kept = _written(x, index)

    def vjp(g):
        picked = _getitem(g, index=index)
        if kept is None:
            return picked
        return _op("where")(kept if type(picked) is Tensor else kept._data, picked, 0)
    return vjp


_index_update = register(
    "index_update", _index_update_forward, batch=_index_update_batch,
    vjp=(lambda ans, x, v, index: lambda g: _index_update(g, 0, index=index),
         _index_update_vjp_v),
    jvp="linear", raw_rules=True, namespace=None,
    doc="A copy of x with x[index] = v (what ``x[index] = v`` records).")


def index_update(x, v, index):
    return _index_update(x, v, index=index)


# composites: no rules of their own, differentiated through the ops they call
register("transpose", transpose)
register("flatten", flatten, method=True)
register("ravel", ravel, method=True)
register("split", split)
register("take", take)


# ------------------------------------------------ NumPy's shape and indexing functions
# Composites of the view, join and gather ops above (so their rules, batching and second
# order come with them); each checks its arguments and names the fix.

def _as_tensor(x):
    return x if isinstance(x, Tensor) else tensor(x)


def swapaxes(x, axis1, axis2):
    """x with axes ``axis1`` and ``axis2`` interchanged (a view)."""
    ndim = len(shape_of(x))
    i, j = (axis_argument("swapaxes", a, ndim) for a in (axis1, axis2))
    perm = list(range(ndim))
    perm[i], perm[j] = j, i
    return _permute(x, axes=tuple(perm))


def _axes_list(op, axes, ndim):
    """An int or a sequence of ints as a list of distinct non-negative axes, in the given order."""
    axes = [axes] if _is_int(axes) else list(axes) if isinstance(axes, (tuple, list)) else None
    if axes is None or not all(_is_int(a) for a in axes):
        raise ArgumentError(f"{op}: axes must be an integer or a sequence of integers")
    out = [axis_argument(op, a, ndim) for a in axes]
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axes}; name each axis once")
    return out


def moveaxis(x, source, destination):
    """x with the axes ``source`` moved to ``destination`` (ints or equal-length sequences);
    the other axes keep their order (a view)."""
    ndim = len(shape_of(x))
    src = _axes_list("moveaxis", source, ndim)
    dst = _axes_list("moveaxis", destination, ndim)
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: source {source} and destination {destination} must name "
                         "the same number of axes")
    order = [a for a in range(ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _permute(x, axes=tuple(order))


def _at_least(op, rank, place):
    """atleast_Nd: each argument reshaped to rank >= N by ``place(shape) -> new shape``;
    one argument gives one tensor, several a tuple (as NumPy 2)."""
    def fn(*arys):
        if not arys:
            raise ArgumentError(f"{op} needs at least one tensor")
        out = []
        for a in arys:
            a = _as_tensor(a)
            shape = tuple(shape_of(a))
            out.append(a if len(shape) >= rank else _reshape(a, shape=place(shape)))
        return out[0] if len(out) == 1 else tuple(out)
    fn.__name__ = op
    fn.__doc__ = f"View each input with at least {rank} dimensions (NumPy's ``{op}``)."
    return fn


atleast_1d = _at_least("atleast_1d", 1, lambda s: (1,))
atleast_2d = _at_least("atleast_2d", 2, lambda s: (1,) * (2 - len(s)) + s)
# NumPy's rule: a 1-d (N,) becomes (1, N, 1), a 2-d (M, N) becomes (M, N, 1)
atleast_3d = _at_least("atleast_3d", 3, lambda s: {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)])


def _each(fn, tensors, op):
    out = fn(*_tensors_argument(op, tensors))
    return out if isinstance(out, tuple) else (out,)


def hstack(tup):
    """Join along axis 1 (axis 0 for 1-d inputs), as NumPy's ``hstack``."""
    arrs = _each(atleast_1d, tup, "hstack")
    return concat(arrs, axis=0 if len(shape_of(arrs[0])) == 1 else 1)


def vstack(tup):
    """Join along axis 0 after ``atleast_2d`` (1-d inputs become rows)."""
    return concat(_each(atleast_2d, tup, "vstack"), axis=0)


def dstack(tup):
    """Join along axis 2 after ``atleast_3d``."""
    return concat(_each(atleast_3d, tup, "dstack"), axis=2)


def column_stack(tup):
    """1-d inputs as columns (N, 1), 2-d inputs as they are, joined along axis 1."""
    cols = []
    for a in _tensors_argument("column_stack", tup):
        a = _as_tensor(a)
        shape = tuple(shape_of(a))
        cols.append(a if len(shape) >= 2 else _reshape(a, shape=(-1, 1) if shape else (1, 1)))
    return concat(cols, axis=1)


# ------------------------------------------------------------- repeating, padding

def _count_list(op, counts, n, what):
    """An int or a sequence of n (or 1) non-negative ints as a list of n ints."""
    if type(counts) is Tensor:
        if counts._trace is not None or counts.dtype.is_floating:
            raise ArgumentError(f"{op}: {what} must be integers known when the op runs (not a "
                                "traced or floating tensor)")
        counts = counts.tolist()
    counts = [counts] if _is_int(counts) else counts
    if not isinstance(counts, (tuple, list)) or not all(_is_int(c) for c in counts):
        raise ArgumentError(f"{op}: {what} must be an integer or a sequence of integers, got {counts!r}")
    if any(c < 0 for c in counts):
        raise ArgumentError(f"{op}: {what} must be non-negative, got {list(counts)}")
    if len(counts) == 1:
        counts = list(counts) * n
    if len(counts) != n:
        raise ShapeError(f"{op}: {len(counts)} {what} for an axis of length {n}; give one, or one per element")
    return list(counts)


def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times (an int, or one count per element) along ``axis``
    (None: of the flattened x), as NumPy's ``repeat``; backward sums the copies."""
    if axis is None:
        x, axis = ravel(x), 0
    axis = axis_argument("repeat", axis, len(shape_of(x)))
    n = shape_of(x)[axis]
    counts = _count_list("repeat", repeats, n, "repeats")
    index = [i for i, c in enumerate(counts) for _ in range(c)]
    return getitem(x, (slice(None),) * axis + (index,))


def tile(x, reps):
    """x repeated ``reps`` times along each axis (NumPy's ``tile``: reps and x's shape are
    padded with leading 1s to the same length)."""
    shape = tuple(shape_of(x))
    reps = tuple(_count_list("tile", reps, len(reps) if isinstance(reps, (tuple, list)) else 1, "reps"))
    ndim = max(len(shape), len(reps))
    shape = (1,) * (ndim - len(shape)) + shape
    reps = (1,) * (ndim - len(reps)) + reps
    # (1, s0, 1, s1, ...) broadcast to (r0, s0, r1, s1, ...), then merged pairwise
    spread = _reshape(x, shape=tuple(d for s in shape for d in (1, s)))
    spread = _broadcast_to(spread, shape=tuple(d for r, s in zip(reps, shape) for d in (r, s)))
    out = _reshape(spread, shape=tuple(r * s for r, s in zip(reps, shape)))
    if all(r == 1 or s == 1 for r, s in zip(reps, shape)):
        # the reshape could merge every (r, s) pair without copying: out is still a view of
        # x (a broadcast one when some r > 1); NumPy's tile always returns new memory
        out = _op("clone")(out)
    return out


PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _pairs(op, value, ndim, what, kind):
    """NumPy's (before, after) per axis from a scalar, (v,), (before, after) or one pair per axis."""
    def bad():
        return ArgumentError(f"{op}: {what} must be a {kind.__name__ if kind is not numbers.Real else 'number'}, "
                             f"(before, after), or one (before, after) per axis ({ndim}), got {value!r}")
    ok = (lambda v: _is_int(v)) if kind is int else (lambda v: isinstance(v, numbers.Real))
    if ok(value):
        return [(value, value)] * ndim
    if not isinstance(value, (tuple, list)):
        raise bad()
    rows = [tuple(r) if isinstance(r, (tuple, list)) else None for r in value]
    if all(ok(v) for v in value):
        rows = [tuple(value)]
    elif any(r is None or not all(ok(v) for v in r) for r in rows):
        raise bad()
    if len(rows) not in (1, ndim) or any(len(r) not in (1, 2) for r in rows):
        raise bad()
    rows = rows * ndim if len(rows) == 1 else rows
    return [(r[0], r[-1]) for r in rows]


def _source_positions(mode, n, before, after):
    """For an axis of length n padded by (before, after): the index of x each output takes."""
    out = []
    for p in range(-before, n + after):
        if mode == "edge":
            out.append(min(max(p, 0), n - 1))
        elif mode == "wrap":
            out.append(p % n)
        elif mode == "symmetric":
            q = p % (2 * n)
            out.append(q if q < n else 2 * n - 1 - q)
        else:   # reflect: mirrored about the edge elements, which are not repeated
            q = p % (2 * n - 2) if n > 1 else 0
            out.append(q if q < n else 2 * n - 2 - q)
    return out


def pad(x, pad_width, mode="constant", constant_values=0):
    """NumPy's ``pad`` for modes 'constant' (``constant_values``), 'edge', 'reflect',
    'symmetric' and 'wrap'; pad widths as NumPy takes them.  Differentiable in x (the padding
    holds copies of x's values, whose gradients add up; constants get none)."""
    if mode not in PAD_MODES:
        raise ArgumentError(f"pad: mode {mode!r} is not supported; use one of {', '.join(PAD_MODES)}")
    shape = tuple(shape_of(x))
    ndim = len(shape)
    widths = _pairs("pad", pad_width, ndim, "pad_width", int)
    if any(w < 0 for pair in widths for w in pair):
        raise ArgumentError(f"pad: pad widths must be non-negative, got {pad_width!r}")
    if mode == "constant":
        values = _pairs("pad", constant_values, ndim, "constant_values", numbers.Real)
        return _pad_constant(x, widths, values)
    for axis, (before, after) in enumerate(widths):
        if before or after:
            if not shape[axis]:
                raise ShapeError(f"pad: cannot extend the empty axis {axis} in mode {mode!r}; "
                                 "use mode='constant'")
            x = getitem(x, (slice(None),) * axis + (_source_positions(mode, shape[axis], before, after),))
    return x


def _pad_constant(x, widths, values):
    """Blocks of the constant joined on each side, axis after axis (a later axis fills the
    corners, as in NumPy)."""
    dtype = dtype_of(x)
    backend = x._backend if type(x) is Tensor else _backends.backend_of_raw(x)
    for axis, ((before, after), (v_before, v_after)) in enumerate(zip(widths, values)):
        if not (before or after):
            continue
        shape = list(shape_of(x))
        parts = []
        for width, value in ((before, v_before), (after, v_after)):
            shape[axis] = width
            block = full(tuple(shape), _cast_number(value, dtype), dtype=dtype, backend=backend)
            parts.append(block)
        x = concat([parts[0], x, parts[1]], axis=axis)
    return x


def _cast_number(value, dtype):
    """A pad constant as x's dtype takes it (NumPy truncates floats into integer arrays)."""
    if dtype == "bool":
        return bool(value)
    return int(value) if dtype.startswith(("int", "uint")) else float(value)


# ------------------------------------------------------------------ rolling, flipping

def roll(x, shift, axis=None):
    """Shift elements along ``axis`` (None: the flattened x), wrapping around, as NumPy's
    ``roll``; shift and axis may be sequences (broadcast against each other)."""
    if axis is None:
        if not _is_int(shift):
            raise ArgumentError(f"roll: with axis=None, shift must be an integer, got {shift!r}")
        return _reshape(roll(ravel(x), shift, 0), shape=tuple(shape_of(x)))
    ndim = len(shape_of(x))
    shifts = [shift] if _is_int(shift) else list(shift) if isinstance(shift, (tuple, list)) else None
    axes = [axis] if _is_int(axis) else list(axis) if isinstance(axis, (tuple, list)) else None
    if shifts is None or axes is None or not all(_is_int(s) for s in shifts):
        raise ArgumentError("roll: shift and axis must be integers or sequences of integers")
    if len(shifts) != len(axes) and 1 not in (len(shifts), len(axes)):
        raise ShapeError(f"roll: {len(shifts)} shifts for {len(axes)} axes; give one, or one per axis")
    n = max(len(shifts), len(axes))
    total = {}
    for s, a in zip(shifts * n if len(shifts) == 1 else shifts, axes * n if len(axes) == 1 else axes):
        a = axis_argument("roll", a, ndim)
        total[a] = total.get(a, 0) + s   # shifts of one axis add up, as in NumPy
    rolled = False
    for a, s in sorted(total.items()):
        size = shape_of(x)[a]
        s = s % size if size else 0
        if s:
            before = (slice(None),) * a
            x = concat([getitem(x, before + (slice(size - s, None),)),
                        getitem(x, before + (slice(0, size - s),))], axis=a)
            rolled = True
    # no net shift: still new memory, as NumPy's roll (never x itself, which x[i] = v would reach)
    return x if rolled else _op("clone")(x)


def flip(m, axis=None):
    """Reverse the order of elements along ``axis`` (None: every axis)."""
    ndim = len(shape_of(m))
    axes = range(ndim) if axis is None else _axes_list("flip", axis, ndim)
    index = [slice(None)] * ndim
    for a in axes:
        index[a] = slice(None, None, -1)
    return getitem(m, tuple(index)) if ndim else m


def fliplr(m):
    """Reverse the columns (axis 1); m needs at least 2 dimensions."""
    if len(shape_of(m)) < 2:
        raise ShapeError("fliplr needs a tensor with at least 2 dimensions; use flip(m, 0) for 1-d")
    return flip(m, 1)


def flipud(m):
    """Reverse the rows (axis 0); m needs at least 1 dimension."""
    if len(shape_of(m)) < 1:
        raise ShapeError("flipud needs a tensor with at least 1 dimension; reshape a 0-d one first")
    return flip(m, 0)


def rot90(m, k=1, axes=(0, 1)):
    """Rotate by 90 degrees k times in the plane of ``axes``, from the first axis towards the
    second (NumPy's ``rot90``)."""
    ndim = len(shape_of(m))
    if not _is_int(k):
        raise ArgumentError(f"rot90: k must be an integer, got {k!r}")
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise ArgumentError(f"rot90: axes must be two axes, got {axes!r}")
    a, b = _axes_list("rot90", axes, ndim)
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(m, (a, b))
    swap = list(range(ndim))
    swap[a], swap[b] = b, a
    if k == 1:
        return _permute(flip(m, b), axes=tuple(swap))
    return flip(_permute(m, axes=tuple(swap)), b)


# ------------------------------------------------------------------ diagonals, triangles

def _diagonal_positions(n1, n2, offset):
    """Row and column indices of the ``offset`` diagonal of an (n1, n2) matrix."""
    rows0, cols0 = max(-offset, 0), max(offset, 0)
    length = max(0, min(n1 - rows0, n2 - cols0))
    return list(range(rows0, rows0 + length)), list(range(cols0, cols0 + length))


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The ``offset`` diagonal of the (axis1, axis2) planes, as the last axis (NumPy's
    ``diagonal``; a copy, where NumPy's is a read-only view)."""
    ndim = len(shape_of(a))
    if ndim < 2:
        raise ShapeError(f"diagonal needs at least 2 dimensions, got {ndim}; use diag to build a matrix")
    if not _is_int(offset):
        raise ArgumentError(f"diagonal: offset must be an integer, got {offset!r}")
    i, j = _axes_list("diagonal", (axis1, axis2), ndim)
    order = [d for d in range(ndim) if d not in (i, j)] + [i, j]
    moved = _permute(a, axes=tuple(order)) if order != list(range(ndim)) else a
    rows, cols = _diagonal_positions(shape_of(a)[i], shape_of(a)[j], offset)
    return getitem(moved, (Ellipsis, rows, cols))


def trace(a, offset=0, axis1=0, axis2=1):
    """Sum of the ``offset`` diagonal (of the (axis1, axis2) planes), as NumPy's ``trace``."""
    d = diagonal(a, offset, axis1, axis2)
    return _op("sum")(d, axis=(len(shape_of(d)) - 1,), keepdims=False)   # reduce's sum


def diag(v, k=0):
    """1-d v: a square matrix with v on its k-th diagonal; 2-d v: its k-th diagonal."""
    shape = tuple(shape_of(v))
    if not _is_int(k):
        raise ArgumentError(f"diag: k must be an integer, got {k!r}")
    if len(shape) == 2:
        return diagonal(v, k)
    if len(shape) != 1:
        raise ShapeError(f"diag needs a 1-d or 2-d tensor, got {len(shape)}-d; use diagonal for "
                         "higher dimensions")
    n = shape[0] + abs(k)
    rows, cols = _diagonal_positions(n, n, k)
    return index_update(_zeros(v, (n, n)), v, normalize_index((rows, cols), v))


def _zeros(like, shape):
    """Zeros of ``shape`` with like's dtype and backend (a constant)."""
    backend = like._backend if type(like) is Tensor else _backends.backend_of_raw(like)
    return zeros(shape, dtype=dtype_of(like), backend=backend)


def _triangle(op, keep):
    def fn(m, k=0):
        shape = tuple(shape_of(m))
        if len(shape) < 2:
            raise ShapeError(f"{op} needs at least 2 dimensions (a matrix or a stack of them), got {len(shape)}")
        if not _is_int(k):
            raise ArgumentError(f"{op}: k must be an integer, got {k!r}")
        backend = m._backend if type(m) is Tensor else _backends.backend_of_raw(m)
        rows = _reshape(arange(shape[-2], dtype="int64", backend=backend), shape=(shape[-2], 1))
        offsets = arange(shape[-1], dtype="int64", backend=backend) - rows   # column - row
        return _op("where")(keep(offsets, k), m, 0)
    fn.__name__ = op
    return fn


tril = _triangle("tril", lambda offsets, k: offsets <= k)
tril.__doc__ = "The lower triangle of the last two axes: entries with column - row <= k, others 0."
triu = _triangle("triu", lambda offsets, k: offsets >= k)
triu.__doc__ = "The upper triangle of the last two axes: entries with column - row >= k, others 0."


# ------------------------------------------------------------------ gathers and scatters

def _index_tensor(op, index, like):
    """An integer index as a Tensor of like's backend (lists and NumPy arrays accepted)."""
    if type(index) is not Tensor:
        backend = like._backend if type(like) is Tensor else None
        try:
            index = tensor(index, dtype="int64" if isinstance(index, (list, tuple)) and not index
                           else None, backend=backend)
        except (TypeError, ValueError) as exc:
            raise ArgumentError(f"{op}: indices must be integers, got {index!r} ({exc})") from None
    if index.dtype.is_floating or index.dtype == "bool":
        raise DTypeError(f"{op}: indices must be integers, got {index.dtype}; cast with .astype('int64')")
    return index


def take_along_axis(arr, indices, axis=-1):
    """Pick values along ``axis`` at ``indices`` (same rank as arr; other axes broadcast), as
    NumPy's ``take_along_axis`` (axis None: of the flattened arr, 1-d indices); the gradient
    scatter-adds back."""
    indices = _index_tensor("take_along_axis", indices, arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    shape = tuple(shape_of(arr))
    ishape = tuple(shape_of(indices))
    if len(ishape) != len(shape):
        raise ShapeError(f"take_along_axis: indices have {len(ishape)} dimensions and arr "
                         f"{len(shape)}; they must have the same number (expand_dims the indices)")
    axis = axis_argument("take_along_axis", axis, len(shape))
    backend = arr._backend if type(arr) is Tensor else _backends.backend_of_raw(arr)
    index = []
    for d, n in enumerate(shape):   # NumPy's fancy index: an arange on each other axis
        if d == axis:
            index.append(indices)
        else:
            index.append(_reshape(arange(n, dtype="int64", backend=backend),
                                  shape=(1,) * d + (n,) + (1,) * (len(shape) - d - 1)))
    return getitem(arr, tuple(index))


def index_add(x, axis, index, values):
    """A copy of x with ``values`` added at ``index`` along ``axis``, repeated indices adding
    up: ``out[..., index[i], ...] += values[..., i, ...]`` (torch's ``index_add``; NumPy's
    ``np.add.at(x, (slice(None),) * axis + (index,), values)`` out of place).  Differentiable
    in x (the gradient passes through) and in values (the gradient gathered at index)."""
    shape = tuple(shape_of(x))
    axis = axis_argument("index_add", axis, len(shape))
    index = _index_tensor("index_add", index, x)
    target = shape[:axis] + tuple(shape_of(index)) + shape[axis + 1:]
    values = _in_dtype_of(x, values)
    vshape = tuple(shape_of(values))
    if not _broadcasts_to(vshape, target):
        raise ShapeError(f"index_add: values of shape {vshape} do not fit x[..., index, ...] of shape "
                         f"{target}; give values that shape (or one that broadcasts to it)")
    if index._trace is not None and _batched(index):   # a different index per example (vmap)
        full = _broadcast_to(values, shape=target) if vshape != target else values
        added = _gather_scatter(full, index, shape=shape, template=(slice(None),) * axis + (_SLOT,))
    else:
        added = _scatter(values, shape=shape, index=normalize_index((slice(None),) * axis + (index,), x))
    return x + added


def _in_dtype_of(x, values):
    """values as x's dtype, as NumPy's add.at keeps x's (a float cast is differentiable)."""
    dtype = dtype_of(x)
    if type(values) is not Tensor:
        return tensor(values, dtype=dtype, backend=x._backend if type(x) is Tensor else None)
    if values.dtype == dtype:
        return values
    if values.dtype.is_floating and dtype not in FLOATING:
        raise DTypeError(f"index_add: cannot add {values.dtype} values into a {dtype} tensor; "
                         "cast x with .astype first")
    return _op("astype")(values, dtype=dtype)


def _broadcasts_to(a, b):
    return len(a) <= len(b) and all(x in (1, y) for x, y in zip(a[::-1], b[::-1]))


def select(condlist, choicelist, default=0):
    """NumPy's ``select``: where the first true condition is, its choice; elsewhere default
    (everything broadcasts; differentiable in the choices and default)."""
    if not isinstance(condlist, (tuple, list)) or not isinstance(choicelist, (tuple, list)):
        raise ArgumentError("select takes a list of conditions and a list of choices")
    if len(condlist) != len(choicelist):
        raise ArgumentError(f"select: {len(condlist)} conditions for {len(choicelist)} choices; "
                            "give one condition per choice")
    if not condlist:
        raise ArgumentError("select needs at least one condition and choice")
    where = _op("where")   # elementwise's, looked up by name (no import between families)
    out = default
    for i, (cond, choice) in reversed(list(enumerate(zip(condlist, choicelist)))):
        cond = _as_tensor(cond)
        if cond.dtype != "bool":
            raise DTypeError(f"select: condition {i} is {cond.dtype}, not bool; compare (x > 0) "
                             "or cast with .astype('bool')")
        out = where(cond, choice, out)
    return out if isinstance(out, Tensor) else tensor(out)


# composites of NumPy's names (issue 13): their rules are those of the ops they call
register("swapaxes", swapaxes, method=True)
register("moveaxis", moveaxis)
for _fn in (atleast_1d, atleast_2d, atleast_3d, hstack, vstack, dstack, column_stack, tile, pad,
            roll, flip, fliplr, flipud, rot90, diag, tril, triu, take_along_axis, select):
    register(_fn.__name__, _fn)
register("repeat", repeat, method=True)
register("diagonal", diagonal, method=True)
register("trace", trace, method=True)
register("index_add", index_add, method=True)

"""In-place updates, as torch does them.

What an in-place op changes is memory, not a Tensor object: every tensor viewing
that memory (a slice, reshape, transpose, ``detach()``) shares one version counter
(``autodiff.Version``).  So a backward whose rule saved any alias raises instead of
reading the new values, and an op's saved output is copied before it is overwritten.

Without recording (nothing needs a gradient, or under ``no_grad`` as optimizers
run) the new value is written straight into the memory.  When a gradient is
involved the update is recorded like ``x = f(x, y)`` and the graph is rebased:
x's node becomes the new one; when x is a view, its base's node becomes "the base
with this region replaced" (torch's CopySlices), and every view of that base
re-derives its node from the new base, so no alias keeps a stale graph.
"""
from ._state import state, enable_grad
from .errors import (BackendError, ChainruleError, DTypeError, GraphError, IndexingError, InplaceError,
                     ShapeError, kernel_failure)
from .tensor import Tensor, LeafNode, make
from .autodiff import bump_version, compute, version_of, will_write
from . import ops


def _check_target(x, opname):
    if x._trace is not None:
        raise InplaceError(f"{opname}: values traced by a transform cannot be modified in place; "
                           "write x = x + y instead")
    if not state.grad_enabled:
        return
    if isinstance(x._node, LeafNode):
        raise InplaceError(f"{opname}: a leaf tensor that requires grad cannot be modified in "
                           "place while recording; do it under `with cr.no_grad():` (as "
                           "optimizers do) or use x = x + y")
    if x._view is not None and isinstance(x._view[0]._node, LeafNode):
        raise InplaceError(f"{opname}: x is a view (slice, reshape, transpose...) of a leaf tensor "
                           "that requires grad, and such a leaf cannot be modified in place while "
                           "recording; do it under `with cr.no_grad():` or work on a clone()")


def _check_no_overlap(x, opname):
    """A broadcast view has elements sharing one memory location: writing it is ambiguous."""
    if x._view is None or not any(op.name == "broadcast_to" for op, _ in x._view[1]):
        return
    positions = x._backend.to_numpy(_positions(*x._view)).tolist()
    if len(set(positions)) != len(positions):
        raise InplaceError(f"{opname}: more than one element of this tensor refers to the same "
                           "memory location (it is a broadcast_to view); clone() it before "
                           "modifying it in place")


def _records(x, other):
    """Must this update be recorded?  When a gradient flows through x, its base or other."""
    if not state.grad_enabled:
        return type(other) is Tensor and other._trace is not None
    if x._node is not None:
        return True
    if type(other) is Tensor and (other._node is not None or other._trace is not None):
        return True
    return x._view is not None and x._view[0]._node is not None


def _write(x, write):
    """The one way memory changes: protect saved outputs, write, bump the version."""
    will_write(x)
    write()
    bump_version(x)


def _cast_for(x, new, opname):
    """new's raw array in x's dtype (an in-place op cannot change the dtype)."""
    if new.shape != x.shape:
        raise GraphError(f"{opname}: the result has shape {new.shape} but the tensor has shape "
                         f"{x.shape}; an in-place op cannot change the shape")
    if new.dtype == x.dtype:
        return new._data
    if x.dtype.is_floating or not new.dtype.is_floating:
        return x._backend.astype(new._data, x.dtype)
    raise DTypeError(f"{opname}: result dtype {new.dtype} cannot be stored in a "
                     f"{x.dtype} tensor in place; use x = x.astype(...) op ... instead")


def _commit(x, new, opname):
    """Write ``new`` (a Tensor with x's shape) into x; rebase the graph if new was recorded."""
    new_data = _cast_for(x, new, opname)
    if new._trace is not None:
        raise InplaceError(f"{opname}: the new value is traced by a transform but the tensor is "
                           "not; write x = x + y (a new tensor) instead of updating x in place")
    node = new._node
    if node is None:
        _write(x, lambda: x._backend.assign(x._data, new_data))
        return x
    version = version_of(x)
    _save_before_write(node, version)   # the new node must see the values before the write
    base = x
    if x._view is not None:             # rebase the base: its region now holds new
        base, chain = x._view
        before = make(base._backend.copy(base._data), base._backend, base._node)
        flat = ops.reshape(before, (-1,))
        updated = ops.index_update(flat, ops.reshape(new, (-1,)), index=(_positions(base, chain),))
        node = ops.reshape(updated, base.shape)._node
    _write(x, lambda: x._backend.assign(x._data, new_data))
    node.ans = base._data               # the node's output is now base's memory
    version.producers.append(node)
    base._node = node
    _rederive_views(base, version)
    return x


def _save_before_write(node, version):
    """Arguments of ``node`` that live in the memory about to change are replaced by
    copies holding their current values (and their graphs)."""
    args = list(node.args)
    for i, a in enumerate(args):
        if type(a) is Tensor and a._counter is version:
            args[i] = make(a._backend.copy(a._data), a._backend, a._node)
    node.args = tuple(args)
    if node.raw is not None:
        node.raw = [a._data if type(a) is Tensor else a for a in node.args]


def _positions(base, chain):
    """For each element of the view base -> chain, its flat position in base: the view
    ops applied to arange(base.size), so layout and copies never matter."""
    b = base._backend
    index = b.reshape(b.arange(0, base.size, 1, "int64"), base.shape)
    for op, params in chain:
        index = compute(op, b, (index,), params)
    return b.reshape(index, (-1,))


def _rederive_views(base, version):
    """After base's graph changed, every live view of it takes its node from the new base."""
    with enable_grad():
        for view in list(version.views or ()):
            if view._view is None or view._view[0] is not base:
                continue
            t = base
            for op, params in view._view[1]:
                t = op.fn(t, **params)
            view._node = t._node


def apply(x, fn, other, opname, kernel=None):
    """x <- fn(x, other), in place: recorded when a gradient needs it, else a kernel
    writing straight into x's memory (the optimizers' path)."""
    _check_target(x, opname)
    _check_no_overlap(x, opname)
    b = x._backend
    if _records(x, other) or kernel is None or kernel in b.missing:
        return _commit(x, fn(x, other), opname)
    if type(other) is Tensor:
        if other._backend is not b:
            raise BackendError(f"{opname}: the tensors live on different backends ({x.backend}, "
                               f"{other.backend}); move one with .to({x.backend!r}) first")
        other = other._data

    def write():
        try:
            getattr(b, kernel)(x._data, other)
        except TypeError as exc:  # numpy's casting="same_kind" refusal, say float into int
            raise DTypeError(f"{opname}: cannot store the result in a {x.dtype} tensor in place "
                             f"({exc}); cast first or compute out of place") from None
    _write(x, write)
    return x


def copy_(x, value):
    """Overwrite x's values with ``value`` (broadcast), in place; differentiable in both,
    like ``x[...] = value``."""
    if type(value) is Tensor and value._backend is not x._backend:
        value = value.to(x.backend)
    setitem(x, Ellipsis, value, "copy_")
    return x


def setitem(x, index, value, opname="__setitem__"):
    """``x[index] = value``; differentiable in x (zeroed at index) and in value."""
    _check_target(x, opname)
    _check_no_overlap(x, opname)
    idx = ops.shape.normalize_index(index, x)
    if value is None:   # NumPy would store NaN, torch refuses
        raise DTypeError(f"{opname}: x[{index!r}] = None; pass a number, array or tensor")
    if _records(x, value):
        _commit(x, ops.index_update(x, value, index=idx), opname)
        return

    def write():
        try:
            x._backend.setitem(x._data, idx, _value_for(x, value))
        except (ChainruleError, NotImplementedError):
            raise
        except Exception as exc:   # the kernel refused before writing: say what and why
            raise _refused_write(x, index, value, exc, opname) from exc
    _write(x, write)


def _value_for(x, value):
    """value as x's dtype, cast as NumPy's x[i] = v casts (unsafely: 1.7 -> 1 in an int tensor);
    torch's index_put refused any other dtype.  Python numbers go as they are: the backends
    range-check them (NumPy refuses 300 into int8)."""
    b = x._backend
    if type(value) is Tensor:
        raw = value._data if value._backend is b else b.asarray(value.numpy(), None)
        return raw if b.dtype(raw) == x.dtype else b.astype(raw, x.dtype)
    if type(value) in (bool, int, float):
        return value
    return b.asarray(value, x.dtype)


def _refused_write(x, index, value, exc, opname):
    shape = value.shape if type(value) is Tensor else getattr(value, "shape", type(value).__name__)
    what = f"{opname}: x[{index!r}] = value (x: {x.dtype}{list(x.shape)}, value: {shape}) failed: {exc}"
    kind = kernel_failure(exc)
    if kind is IndexingError:
        return IndexingError(f"{what}; each index must lie in [-n, n) for an axis of length n")
    if kind is ShapeError:
        return ShapeError(f"{what}; the value must broadcast to the shape x[index] has "
                          "(reshape it, or index fewer entries)")
    return DTypeError(f"{what}; pass a value of x's dtype (value.astype(x.dtype))")

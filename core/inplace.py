"""In-place updates with version counters.

Without recording (no grad needed, or under no_grad, as optimizers run) the new
value is written into the tensor's own buffer.  When the tensor is part of a
recorded graph, the update is recorded like ``x = x + y`` and the tensor is
rebased onto the new node; every in-place change bumps ``_version`` so a
backward that saved the old value raises instead of using the new one.
"""
from ._state import state
from .errors import DTypeError, GraphError, InplaceError
from .tensor import Tensor, make
from .autodiff import bump_version


def _check_target(x, opname):
    if x._trace is not None:
        raise InplaceError(f"{opname}: values traced by a transform cannot be modified in place; "
                           "write x = x + y instead")
    from .autodiff import LeafNode
    if isinstance(x._node, LeafNode) and state.grad_enabled:
        raise InplaceError(f"{opname}: a leaf tensor that requires grad cannot be modified in "
                           "place while recording; do it under `with cr.no_grad():` (as "
                           "optimizers do) or use x = x + y")


def _commit(x, new, opname):
    """Write ``new`` (a Tensor with x's shape) into x and bump its version."""
    if new.shape != x.shape:
        raise GraphError(f"{opname}: the result has shape {new.shape} but the tensor has shape "
                         f"{x.shape}; an in-place op cannot change the shape")
    if new.dtype != x.dtype:
        if x.dtype.is_floating or not new.dtype.is_floating:
            new_data = x._backend.astype(new._data, x.dtype)
        else:
            raise DTypeError(f"{opname}: result dtype {new.dtype} cannot be stored in a "
                             f"{x.dtype} tensor in place; use x = x.astype(...) op ... instead")
    else:
        new_data = new._data
    old_node = x._node
    if new._node is not None:  # recorded: x now stands for the new node's output
        _protect_saved_output(x)  # its rule still needs the old value
        node = new._node
        # the new node saw x before the update: give it a copy of that value
        before = make(x._backend.copy(x._data), x._backend, old_node)
        node.args = tuple(before if a is x else a for a in node.args)
        if node.raw is not None:
            node.raw = [a._data if type(a) is Tensor else a for a in node.args]
        node.ans = x._data  # the node's output is now x's buffer
        x._node = node
    x._backend.assign(x._data, new_data)
    bump_version(x)
    return x


def apply(x, fn, other, opname, kernel=None):
    """x <- fn(x, other), in place: recorded when a gradient needs it, else a kernel
    writing straight into x's buffer (the optimizers' path)."""
    _check_target(x, opname)
    recorded = type(other) is Tensor and (other._node is not None or other._trace is not None)
    if (state.grad_enabled and (x._node is not None or recorded)) or kernel is None \
            or kernel in x._backend.missing or recorded:
        return _commit(x, fn(x, other), opname)
    b = x._backend
    if type(other) is Tensor:
        if other._backend is not b:
            from . import autodiff
            autodiff._mixed_backends(fn, (x, other))
        other = other._data
    _protect_saved_output(x)
    try:
        getattr(b, kernel)(x._data, other)
    except TypeError as exc:  # numpy's casting="same_kind" refusal, say float into int
        raise DTypeError(f"{opname}: cannot store the result in a {x.dtype} tensor in place "
                         f"({exc}); cast first or compute out of place") from None
    bump_version(x)
    return x


def _protect_saved_output(x):
    """x's own producer node saved x's buffer as its output; keep a copy for it."""
    from .autodiff import Node
    node = x._node
    if isinstance(node, Node) and node.ans is x._data:
        node.ans = x._backend.copy(x._data)


def copy_(x, value):
    """Overwrite x's values with ``value`` (broadcast), in place."""
    _check_target(x, "copy_")
    if type(value) is Tensor:
        if value._backend is not x._backend:
            value = value.to(x.backend)
        if value._node is not None and state.grad_enabled:
            from . import ops
            return _commit(x, ops.broadcast_to(value, x.shape) + 0, "copy_")
        x._backend.assign(x._data, value._data)
    else:
        x._backend.assign(x._data, value)
    bump_version(x)
    return x


def setitem(x, index, value):
    """``x[index] = value``; differentiable in x (zeroed at index) and in value."""
    _check_target(x, "__setitem__")
    from . import ops
    needs_graph = state.grad_enabled and (x._node is not None or
                                          (type(value) is Tensor and value._node is not None))
    if not needs_graph:
        v = value._data if type(value) is Tensor else value
        x._backend.setitem(x._data, ops.shape.normalize_index(index), v)
        bump_version(x)
        return
    idx = ops.shape.normalize_index(index)
    new = ops.index_update(x, value, index=idx)
    _commit(x, new, "__setitem__")

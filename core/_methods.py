"""Operators and methods of Tensor, each a thin call into the op functions."""
from . import ops
from .tensor import Tensor, make, LeafNode
from . import inplace
from .autodiff import backprop, take_owned
from ._state import no_grad
from .creation import tensor, asarray
from .errors import GraphError, ShapeError
from .ops import moves


def _binary(name):
    """(x.__op__, x.__rop__): the op's own function, whose fast path serves operators too."""
    fn = getattr(ops, name)
    return fn, lambda self, other: fn(other, self)


def install():
    T = Tensor
    T.__init__ = _init
    T.to = moves.to
    T.__add__, T.__radd__ = _binary("add")
    T.__sub__, T.__rsub__ = _binary("subtract")
    T.__mul__, T.__rmul__ = _binary("multiply")
    T.__truediv__, T.__rtruediv__ = _binary("divide")
    T.__pow__, T.__rpow__ = _binary("power")
    T.__mod__, T.__rmod__ = _binary("remainder")   # NumPy's %: the sign of the divisor
    T.__matmul__, T.__rmatmul__ = _binary("matmul")
    T.__neg__ = ops.negative
    T.__pos__ = lambda self: self
    T.__abs__ = ops.abs
    T.__gt__, T.__ge__ = ops.greater, ops.greater_equal
    T.__lt__, T.__le__ = ops.less, ops.less_equal
    T.__eq__, T.__ne__ = ops.equal, ops.not_equal
    T.__and__, T.__or__, T.__invert__ = ops.logical_and, ops.logical_or, ops.logical_not
    T.__getitem__ = ops.getitem
    T.__setitem__ = inplace.setitem
    T.__iadd__ = lambda self, other: inplace.apply(self, ops.add, other, "__iadd__", "iadd")
    T.__isub__ = lambda self, other: inplace.apply(self, ops.subtract, other, "__isub__", "isub")
    T.__imul__ = lambda self, other: inplace.apply(self, ops.multiply, other, "__imul__", "imul")
    T.__itruediv__ = lambda self, other: inplace.apply(self, ops.divide, other, "__itruediv__", "idiv")
    T.add_ = lambda self, other, alpha=1: inplace.apply(
        self, ops.add, other if alpha == 1 else other * alpha, "add_", "iadd")
    T.sub_ = lambda self, other, alpha=1: inplace.apply(
        self, ops.subtract, other if alpha == 1 else other * alpha, "sub_", "isub")
    T.mul_ = lambda self, other: inplace.apply(self, ops.multiply, other, "mul_", "imul")
    T.div_ = lambda self, other: inplace.apply(self, ops.divide, other, "div_", "idiv")
    T.copy_ = inplace.copy_
    T.zero_ = lambda self: inplace.copy_(self, 0)
    T.fill_ = inplace.copy_

    # the ops registered with method=True (exp, sum, astype...) install themselves
    T.reshape = lambda self, *shape: ops.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)
    T.transpose = lambda self, *axes: ops.transpose(self, axes or None)
    T.T = property(lambda self: ops.permute_dims(self, tuple(reversed(range(self.ndim)))))
    T.mT = property(lambda self: ops.transpose(self))
    T.detach = ops.stop_gradient
    T.clone = ops.clone
    T.backward = _backward


def _init(self, *args, **kwargs):
    """``Tensor(data, ...)`` is ``cr.tensor(data, ...)``."""
    t = tensor(*args, **kwargs)
    for slot in Tensor.__slots__[:-1]:
        object.__setattr__(self, slot, getattr(t, slot))


def _backward(self, grad=None, retain_graph=None, create_graph=False):
    """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf with requires_grad.

    ``grad`` is the cotangent of self (needed unless self has one element).
    The graph is freed afterwards unless ``retain_graph``; with
    ``create_graph`` the gradients are themselves differentiable.
    """
    if self._trace is not None:
        raise GraphError("backward() on a value traced by a transform; return it from the "
                         "function and let cr.grad / cr.vjp differentiate it")
    if self._node is None:
        raise GraphError("backward() on a tensor that does not require grad: no input of the "
                         "computation had requires_grad=True (or it ran under cr.no_grad())")
    b = self._backend
    if grad is None:
        shape = b.shape(self._data)
        for d in shape:
            if d != 1:
                raise GraphError(f"backward() on a tensor of shape {self.shape} needs grad= (the "
                                 "cotangent, same shape); or reduce it first, e.g. y.sum().backward()")
        g = b.ones(shape, b.dtype(self._data))
    else:
        gt = asarray(grad, backend=b)
        if gt.shape != self.shape:
            raise ShapeError(f"backward(grad=...) needs shape {self.shape}, got {gt.shape}")
        g = gt._data if gt.dtype == self.dtype else b.astype(gt._data, self.dtype)
    if retain_graph is None:
        retain_graph = create_graph
    if create_graph:
        if grad is not None and gt._node is not None and gt._trace is None:
            # a cotangent that requires grad stays in the graph: the gradients are then
            # differentiable in it too (torch's double-backward / double-vjp trick)
            g = gt if gt.dtype == self.dtype else gt.astype(self.dtype)
        else:
            g = make(g, b)
    if isinstance(self._node, LeafNode):
        leaves = {self._node: g}
    else:  # rules on raw arrays record nothing; tensor rules run under no_grad (autodiff.cotangents)
        leaves = backprop(self._node, g, create_graph=create_graph, retain_graph=retain_graph)
    del g   # so that a cotangent nothing else holds can become a .grad without a copy
    for leaf, ct in take_owned(leaves).items():
        t = leaf.ref() if leaf.ref is not None else None
        if t is None or t._node is None:   # gone, or requires_grad_(False) since: as torch
            continue
        if type(ct) is not Tensor:
            ct = make(ct, t._backend)
        if t.grad is None:
            t.grad = ct
        elif create_graph or type(t.grad) is not Tensor or t.grad._node is not None:
            t.grad = t.grad + ct
        else:   # accumulate into the array the tensor owns, as torch does
            with no_grad():
                t.grad += ct

"""Operators and methods of Tensor, each a thin call into the op functions."""
from . import ops
from .tensor import Tensor, make, LeafNode
from . import inplace
from .autodiff import backprop, take_owned
from ._state import no_grad
from .creation import tensor, asarray
from .errors import DTypeError, GraphError, ShapeError
from .ops import moves


def _binary(name):
    """(x.__op__, x.__rop__): the op's own function, whose fast path serves operators too."""
    fn = getattr(ops, name)
    return fn, lambda self, other: fn(other, self)


def _logical(name, fn):
    """``&``, ``|``, ``^``, ``~`` on bool tensors: there NumPy's bitwise ops are the logical ones.
    On integers NumPy's are bitwise (5 & 3 == 1), which chainrule has no op for: refuse, since
    logical_and would answer True silently."""
    def check(*args):
        for a in args:
            dt = a.dtype if isinstance(a, Tensor) else getattr(a, "dtype", None)
            if (dt is not None and str(dt) != "bool") or (dt is None and type(a) is not bool):
                raise DTypeError(f"{name} works on bool tensors only (it is logical here, bitwise in "
                                 f"NumPy); got {dt if dt is not None else type(a).__name__}; for a "
                                 "mask write (x != 0), or call cr.logical_and / logical_or / logical_not")
        return fn(*args)
    return check


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
    T.__and__ = _logical("&", ops.logical_and)
    T.__rand__ = _logical("&", lambda self, other: ops.logical_and(other, self))
    T.__or__ = _logical("|", ops.logical_or)
    T.__ror__ = _logical("|", lambda self, other: ops.logical_or(other, self))
    T.__xor__ = _logical("^", ops.not_equal)     # for bools, a ^ b is a != b
    T.__rxor__ = _logical("^", lambda self, other: ops.not_equal(other, self))
    T.__invert__ = _logical("~", ops.logical_not)
    T.__contains__ = lambda self, value: bool(ops.any(self == value))   # NumPy's and torch's `in`
    T.__getitem__ = ops.getitem
    T.__setitem__ = inplace.setitem
    T.__iadd__ = lambda self, other: inplace.apply(self, ops.add, other, "__iadd__", "iadd")
    T.__isub__ = lambda self, other: inplace.apply(self, ops.subtract, other, "__isub__", "isub")
    T.__imul__ = lambda self, other: inplace.apply(self, ops.multiply, other, "__imul__", "imul")
    T.__itruediv__ = lambda self, other: inplace.apply(self, ops.divide, other, "__itruediv__", "idiv")
    # without these Python rebinds x = x ** y: a view's base stayed unchanged, and a leaf that
    # requires grad was silently replaced instead of refused
    T.__ipow__ = lambda self, other: inplace.apply(self, ops.power, other, "__ipow__")
    T.__imod__ = lambda self, other: inplace.apply(self, ops.remainder, other, "__imod__")
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
    T.transpose = _transpose
    T.T = property(lambda self: ops.permute_dims(self, tuple(reversed(range(self.ndim)))))
    T.mT = property(lambda self: ops.transpose(self))
    T.detach = ops.stop_gradient
    T.clone = ops.clone
    T.backward = _backward


def _transpose(self, *axes):
    """``x.transpose()`` reverses the axes and ``x.transpose((1, 0, 2))`` permutes them, as
    ndarray's; ``x.transpose(0, 1)`` swaps two, as torch's (the guide's table)."""
    if len(axes) == 1 and not isinstance(axes[0], int):
        axes = tuple(axes[0])
    if not axes:
        return ops.permute_dims(self, tuple(reversed(range(self.ndim))))
    return ops.transpose(self, axes)


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
    targets = []
    for leaf, ct in take_owned(leaves).items():
        t = leaf.ref() if leaf.ref is not None else None
        if t is None or t._node is None:   # gone, or requires_grad_(False) since: as torch
            continue
        _check_assigned_grad(t)            # every one before any is written
        targets.append((t, ct))
    for t, ct in targets:
        if type(ct) is not Tensor:
            ct = make(ct, t._backend)
        if t.grad is None:
            t.grad = ct
        elif create_graph or type(t.grad) is not Tensor or t.grad._node is not None:
            t.grad = t.grad + ct
        else:   # accumulate into the array the tensor owns, as torch does
            with no_grad():
                t.grad += ct


def _check_assigned_grad(t):
    """A ``.grad`` assigned by hand must be like its tensor before backward adds to it (torch
    checks at assignment; here .grad is a plain attribute).  Else a float64 .grad of a float32
    leaf stayed float64, and a wrong shape failed inside NumPy or broadcast."""
    g = t.grad
    if g is None or (type(g) is Tensor and g._backend is t._backend and g.dtype == t.dtype
                     and g.shape == t.shape):
        return
    what = (f"{g.dtype}{list(g.shape)} on {g.backend}" if type(g) is Tensor else
            f"a {type(g).__name__}")
    raise GraphError(f"backward(): a leaf's .grad was assigned {what}, but the leaf is "
                     f"{t.dtype}{list(t.shape)} on {t.backend}; set .grad = None (or a tensor "
                     "like the leaf) before backward(); no .grad was changed")

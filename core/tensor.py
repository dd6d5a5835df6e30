"""The Tensor: a backend array plus what autodiff needs to know about it.

Fields (slots, for a fast path):
  _data     the raw backend array (always the concrete value, even when traced)
  _backend  the loaded Backend whose kernels compute on _data
  _node     eager graph: the Node that produced it, or a LeafNode when it is a
            leaf with requires_grad; None when it needs no gradient.
            Traced by a reverse transform: that transform's Node / LeafNode.
  _trace    None, or the transform (JVPTrace / VJPTrace) whose value this is
  _primal   when traced: the same value one level down
  _tangent  when traced by a JVPTrace: the tangent (a lower-level value)
  _counter  None, or the Version shared by every tensor viewing this memory: the
            engine clock at its last in-place change, which backward compares with
            the clock when a node saved it (see autodiff.Version)
  _view     for a differentiable view (slice, reshape, transpose...): (base, chain),
            the tensor whose memory it views and the (op, params) that lead there
  grad      accumulated gradient of an eager leaf (None until the first backward)
"""


import itertools
import weakref

from .dtypes import ALL as _DTYPES
from .errors import DTypeError, GraphError


class Tensor:
    __slots__ = ("_data", "_backend", "_node", "_trace", "_primal", "_tangent",
                 "_counter", "_view", "grad", "__weakref__")
    __array_priority__ = 1000  # so numpy_array * tensor calls Tensor.__rmul__

    # Construction is through cr.tensor (also Tensor(...)) and ops; make() is the fast
    # internal path.  Operators and methods that apply ops are installed by _methods.

    # --- metadata --------------------------------------------------------
    @property
    def data(self):
        """The raw backend array (a NumPy array on the numpy backend)."""
        return self._data

    @property
    def shape(self):
        """The shape this value has for the program (a traced value asks its trace:
        inside ``vmap`` the batch axis is not part of it)."""
        if self._trace is None:
            return tuple(self._backend.shape(self._data))
        return self._trace.shape_of(self)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def dtype(self):
        return _DTYPES[self._backend.dtype(self._data)]

    @property
    def backend(self):
        """The backend's name (``"numpy"``, ``"torch:cuda:0"``...)."""
        return self._backend.name

    @property
    def _version(self):
        """How many times this tensor's memory was changed in place, as an increasing
        stamp (0: never); as torch's ``x._version``, shared by all views of the memory."""
        return 0 if self._counter is None else self._counter.clock

    @property
    def requires_grad(self):
        return self._node is not None and self._trace is None

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, flag=True):
        """Make this tensor a leaf that accumulates ``.grad`` (floating dtypes only)."""
        if self._trace is not None:
            raise GraphError("requires_grad cannot be changed on a value traced by a transform")
        if not flag:
            if isinstance(self._node, LeafNode) or self._node is None:
                self._node = None
                return self
            raise GraphError("requires_grad=False on a non-leaf tensor would cut the graph "
                             "silently; use y = x.detach() instead")
        if self._node is None:
            if not self.dtype.is_floating:
                raise DTypeError(f"only floating-point tensors can require gradients, got dtype "
                                 f"{self.dtype}; create it with dtype='float32' (or cast with .astype)")
            self._node = LeafNode(self)
        return self

    @property
    def is_leaf(self):
        return self._node is None or isinstance(self._node, LeafNode)

    def __len__(self):
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use cr.any(x) or cr.all(x)")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.is_floating:
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    def __format__(self, spec):
        """``f"{loss:.4f}"`` formats the number of a one-element tensor, as torch and NumPy."""
        if spec and self.size == 1:
            return format(self.item(), spec)
        return format(str(self), spec)

    __hash__ = object.__hash__

    # --- conversion -------------------------------------------------------
    def numpy(self):
        """A NumPy array with the values: a read-only view where the backend shares memory (as
        JAX's), else a copy.  A write into a view would change the tensor behind the engine's
        back (a saved value, a gradient) with no version bump; ``x.numpy().copy()`` to edit."""
        if self._trace is not None:
            _refuse_if_batched(self, "numpy()")
        out = self._backend.to_numpy(self._data)
        if out.flags.writeable and (out is self._data or out.base is not None):   # a view, maybe of ours
            out = out.view()
            out.flags.writeable = False
        return out

    def item(self):
        if self._trace is not None:
            _refuse_if_batched(self, "item() (or float(), int(), bool())")
        if self.size != 1:   # one error on every backend (torch's is a RuntimeError)
            raise ValueError(f"item() of a tensor of shape {self.shape}: only a one-element "
                             "tensor converts to a Python scalar")
        return self._backend.item(self._data)

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(x)``: the values, as torch's ``__array__``.  Without it NumPy built an
        object array of 0-d tensors, on which np.sort misplaced NaN and a bool mask's
        ``.sum()`` was True, not the count.  Refused, as torch refuses, for a tensor that
        requires grad or is traced by a transform: np.sin(x) would compute outside the graph,
        and cr.sum(x * np.sin(x)) would silently lose the gradient through np.sin."""
        if self._node is not None or self._trace is not None:
            raise TypeError("NumPy cannot take a tensor that requires grad (or is traced by a "
                            "transform): its result would leave the graph and silently drop that "
                            "part of the gradient; use chainrule's op of the same name (cr.sin, "
                            "cr.sum, ...), or x.detach() for the values")
        out = self.numpy()
        if dtype is not None and out.dtype != dtype:
            return out.astype(dtype)
        return out.copy() if copy else out

    def tolist(self):
        return self.numpy().tolist()

    def __repr__(self):
        if _batched(self):
            return f"tensor(<one example of a cr.vmap batch>, shape={self.shape}, dtype={self.dtype})"
        body = repr(self.numpy()).replace("array(", "tensor(", 1).replace("dtype(bfloat16)", "bfloat16")
        if body.startswith("tensor("):
            body = body[:-1]
        else:
            body = f"tensor({body}"
        extras = []
        if "dtype=" not in body:
            extras.append(f"dtype={self.dtype}")
        if self._backend.name != "numpy":
            extras.append(f"backend={self._backend.name!r}")
        if self._trace is not None:
            extras.append(f"traced={type(self._trace).__name__}@{self._trace.level}")
        elif self._node is not None:
            extras.append("requires_grad=True")
        return body + "".join(", " + e for e in extras) + ")"


def _batched(x):
    """Is x batched by a cr.vmap at some level (its ``_data`` then holds the whole batch)?"""
    while x._trace is not None:
        if getattr(x._trace, "batch_size", None) is not None:   # a vmap.BatchTrace
            return True
        x = x._primal
    return False


def _refuse_if_batched(x, what):
    if _batched(x):
        raise ValueError(f"{what} of a value batched by cr.vmap: inside vmap a value stands for "
                         "every example at once, so Python cannot branch on or read one number; "
                         "use array ops (cr.where instead of if, keep values as tensors) or call "
                         "the function outside vmap")


def make(data, backend, node=None):
    """Wrap a raw array without checks (the internal fast path)."""
    t = object.__new__(Tensor)
    t._data = data
    t._backend = backend
    t._node = node
    t._trace = None
    t._primal = None
    t._tangent = None
    t._counter = None
    t._view = None
    t.grad = None
    return t


# ------------------------------------------------------------------- the tape

class Node:
    """One recorded op: what its VJP rule needs later, and where cotangents go."""

    __slots__ = ("op", "args", "params", "ans", "parents", "stamp", "trace", "seq", "raw")

    def __init__(self, op, args, params, ans, parents, stamp, trace, raw=None):
        self.op, self.args, self.params, self.ans = op, args, params, ans
        self.parents, self.stamp, self.trace = parents, stamp, trace
        self.raw = raw      # eager nodes: the raw arrays of args, kept from the forward call
        self.seq = next(_sequence)

    def __repr__(self):
        return f"<Node {self.op.name}>"


# Every node gets a number in creation order.  A node's inputs always exist
# before it, so walking nodes from the highest number down visits each one
# after every node that feeds it a cotangent: a topological order for free,
# with no graph search (PyTorch orders its backward by sequence numbers too).
_sequence = itertools.count()


class LeafNode:
    """Where cotangents of an input collect: an eager leaf (weakly) or a transform input."""

    __slots__ = ("ref", "seq", "__weakref__")
    parents = ()
    op = None

    def __init__(self, tensor=None):
        self.ref = weakref.ref(tensor) if tensor is not None else None
        self.seq = next(_sequence)

"""The engine: dispatching an op, recording it, and walking the graph backward.

Three ways a value can be differentiated, one mechanism each:

* eager (PyTorch-style): a tensor with ``requires_grad`` records a ``Node`` per
  op on itself; ``backward()`` walks those nodes.  With ``create_graph`` the
  rules run on recorded tensors again, so the gradient is differentiable.
* reverse transforms (``cr.grad``, ``cr.vjp``): a ``VJPTrace`` with its own
  level boxes its inputs; each op on a box records a ``Node`` whose saved
  values live one level down, so rules computed in backward are ordinary ops
  on lower-level values: higher order is just more tracing.
* forward transforms (``cr.jvp``): a ``JVPTrace`` boxes (primal, tangent)
  pairs; each op computes its output tangent at once with its JVP rule.

``bind`` sends an op to the highest-level trace among its arguments (levels
grow with nesting, so each transform only sees its own perturbation: no
perturbation confusion), else computes it with the backend kernel and, if an
argument requires grad, records it eagerly.  With nothing traced and nothing
requiring grad this is a short loop and one kernel call.
"""
import heapq
import itertools
import sys
import threading
import weakref

from ._state import state, enable_grad, no_grad, moments
from .dtypes import FLOATING
from .errors import (BackendError, ChainruleError, DTypeError, GraphError, InplaceError,
                     RegistryError, ShapeError)
from .tensor import Tensor, make, Node, LeafNode
from .creation import tensor
from . import backends as _backends

_levels = itertools.count(1)


# Interceptors see every op application and every VJP result of the threads that entered
# them: cr.amp.autocast (casts arguments before), cr.detect_anomaly (checks results after).
# A process-wide list, empty in the common case, so bind pays one truth test for them.
interceptors = []


class Interceptor:
    """A context manager that sees the ops its thread applies, in bind and in backward.

    Subclasses override ``apply`` (around an op application; call ``bind`` inside it to
    compute, which runs the interceptors entered before this one) and/or
    ``check_cotangents`` (after a VJP rule ran).  Entering registers it for the current
    thread only; re-entrant.
    """

    def __init__(self):
        self._local = threading.local()

    def active(self):
        local = self._local
        return getattr(local, "depth", 0) > 0 and not getattr(local, "inside", False)

    def __enter__(self):
        local = self._local
        local.depth = getattr(local, "depth", 0) + 1
        if local.depth == 1:
            interceptors.append(self)
        return self

    def __exit__(self, *exc):
        local = self._local
        local.depth -= 1
        if local.depth == 0:
            interceptors.remove(self)

    def apply(self, op, args, params):
        return bind(op, args, params)

    def check_cotangents(self, node, cotangents):
        """Called with the fitted cotangents of ``node``'s arguments; may raise."""


def _intercepted(op, args, params):
    """bind under the innermost interceptor active in this thread, or None if none is."""
    for hook in reversed(interceptors):
        if hook.active():
            local = hook._local
            local.inside = True      # its own bind calls go past it
            try:
                return hook.apply(op, args, params)
            finally:
                local.inside = False
    return None


# In-place changes are stamped with a global clock: a node remembers the clock when it
# saved its inputs, and backward compares.  When no in-place op ran since (the
# common case) the check is one integer comparison, not a loop over inputs.
_clock = 0


class Version:
    """The version counter of one piece of memory, shared by every tensor that views it.

    Created lazily: a tensor's ``_counter`` is None until it is first aliased (a view,
    ``detach()``) or modified in place, so an ordinary op pays nothing for it.

    clock      the engine clock at the last in-place change of this memory (0: never)
    producers  nodes whose saved output (``ans``) is this memory: copied before the
               first write, so their rules still see the value they computed
    views      None, or the live differentiable views of this memory (a WeakSet), whose
               nodes are re-derived from their base when an in-place op changes its graph
    """

    __slots__ = ("clock", "producers", "views", "refusal")

    def __init__(self):
        self.clock = 0
        self.producers = []
        self.views = None
        self.refusal = None   # why this memory must not be written (see _share_memory)


def version_of(x):
    """x's shared version counter, created on first need (with x's producer recorded)."""
    version = x._counter
    if version is None:
        version = x._counter = Version()
        node = x._node
        if type(node) is Node and node.ans is x._data:
            version.producers.append(node)
    return version


def will_write(x):
    """Call before any in-place write into x's memory: saved outputs get their own copy."""
    version = version_of(x)
    if version.refusal is not None:
        raise InplaceError(version.refusal)
    for node in version.producers:
        if node.args is not None and node.ans is not None:
            node.ans = x._backend.copy(node.ans)
    version.producers.clear()
    return version


def bump_version(x):
    """Record an in-place change of x's memory (called by every in-place op, after writing)."""
    global _clock
    _clock += 1
    version_of(x).clock = _clock


def take_owned(leaves):
    """Empty ``{leaf: cotangent}`` into a new dict whose arrays nothing else refers to:
    what a ``.grad`` (and what ``cr.grad`` returns) must be.

    A cotangent the walk made fresh and handed to this leaf alone is kept; one that is a
    view (``sum``'s broadcast), shared (``add`` hands its cotangent to both inputs) or
    held by someone else (``backward(grad=g)``) is copied.  As in torch's
    AccumulateGrad, "nothing else refers to it" is read off the reference count, once
    the cotangent is popped: the local variable and getrefcount's argument, no more.
    """
    out = {}
    while leaves:
        leaf, ct = leaves.popitem()
        if type(ct) is Tensor:
            if sys.getrefcount(ct) > 2 or not _owned(ct):
                ct = engine_ops.clone(ct)
        else:
            b = _backends.backend_of_raw(ct)
            if not _exclusive(ct, b):
                ct = b.copy(ct)
        out[leaf] = ct
    return out


def _exclusive(raw, backend, holders=1):
    """Is ``raw`` its own memory (no view), held only by its ``holders`` (take_owned's
    variable or the Tensors' slots), this parameter and getrefcount's argument?
    Backends without ``owns_memory`` always copy."""
    return ("owns_memory" not in backend.missing and backend.owns_memory(raw)
            and sys.getrefcount(raw) <= 2 + holders)


def _owned(ct):
    """Does nothing but ``ct`` hold its array?  A traced ct (a per-example gradient inside
    vmap) shares it with the values below it, each held only by the one above."""
    holders, x = 1, ct
    while x._trace is not None:
        x = x._primal
        if sys.getrefcount(x) > 3:   # the slot above, x, getrefcount's argument
            return False
        holders += 1
    return _exclusive(ct._data, ct._backend, holders)



def backprop(root, g, create_graph=False, retain_graph=False):
    """Walk the graph below ``root`` with output cotangent ``g``; return {LeafNode: cotangent}.

    Nodes are taken newest first from a heap (see ``tensor.Node``), each when it has
    received all its cotangents; ``cotangents`` runs its VJP rule.
    """
    grads = {root: g}
    heap = [(-root.seq, root)]
    leaves = {}
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        node = pop(heap)[1]
        g = grads.pop(node)
        if node.op is None:                # a LeafNode
            leaves[node] = g
            continue
        for parent, ct in zip(node.parents, cotangents(node, g, create_graph)):
            if parent is None or ct is None:
                continue
            prev = grads.get(parent)
            if prev is None:
                grads[parent] = ct
                push(heap, (-parent.seq, parent))
            else:
                grads[parent] = prev + ct
        if not retain_graph:
            node.args = node.ans = node.params = node.raw = None
    return leaves


def cotangents(node, g, create_graph=False):
    """The one place a VJP rule runs: the cotangents of ``node``'s arguments for output
    cotangent ``g``, one per argument (None = zero), each checked and fitted to its
    argument's shape and dtype (broadcasting undone once, here, for every rule).

    Rules run on what the node saved: raw arrays in a plain eager backward when the op
    allows it (``raw_rules``: the fast path of ``loss.backward()``, no Tensor wrapped),
    else tensors (recorded again under ``create_graph``, so the gradient is differentiable;
    a transform's node holds lower-level tensors already).
    """
    op, args = node.op, node.args
    if args is None:
        raise GraphError(
            f"backward through {op.name!r} a second time, but its saved values were already "
            "freed; pass retain_graph=True to the first backward() if you need to walk the "
            "graph twice")
    if node.stamp is not None and node.stamp != _clock:
        _check_versions(node)
    ans, params, raw = node.ans, node.params, node.raw
    if type(g) is Tensor and raw is not None and g._trace is None and g._node is None:
        g = g._data               # a transform's node over concrete values, a concrete g
    if raw is not None and type(g) is not Tensor and not create_graph and op.raw_rules:
        inputs = raw              # rules on raw arrays
        if type(ans) is Tensor:
            ans = ans._data
        if op.vjp is not None and len(raw) == 1 and not params:   # the most common rule, inlined
            cts = op.vjp(ans, raw[0])(g)
            if type(cts) is not tuple and type(cts) is not list:
                cts = [cts]
        else:
            cts = _call_vjp(op, node.parents, ans, inputs, params, g)
    else:
        inputs = args
        concrete_g = type(g) is not Tensor
        if concrete_g:
            g = make(g, _backends.backend_of_raw(g))   # the op's output backend
        if node.trace is not None:    # a transform's node: values are lower-level tensors
            cts = _call_vjp(op, node.parents, ans, args, params, g)
            if concrete_g:            # raw in, raw out: the walk adds it to raw cotangents
                cts = [c._data if type(c) is Tensor and c._trace is None and c._node is None else c
                       for c in cts]
        elif create_graph:
            with enable_grad():
                cts = _call_vjp(op, node.parents, make(ans, g._backend, node), args, params, g)
        else:                         # a rule that wants tensors, in a plain backward
            detached = tuple(make(a._data, a._backend) if type(a) is Tensor else a for a in args)
            with no_grad():
                cts = _call_vjp(op, node.parents, make(ans, g._backend), detached, params, g)
            inputs = raw
            cts = [c._data if type(c) is Tensor else c for c in cts]
    parents = node.parents
    if len(cts) != len(parents):
        raise RegistryError(f"the VJP of {op.name!r} (from {op.provider}) returned {len(cts)} "
                            f"cotangents for {len(parents)} arguments; return one per "
                            "positional argument (None = zero)")
    if type(cts) is not list:
        cts = list(cts)
    for i, ct in enumerate(cts):
        # the common case, read off the arrays' own attributes: already the argument's
        # shape and dtype (the raw arrays of a plain backward)
        if ct is not None and parents[i] is not None and (
                type(ct) is Tensor or ct.shape != inputs[i].shape or ct.dtype != inputs[i].dtype):
            cts[i] = _fit(ct, inputs[i], op)
    if interceptors:
        for hook in interceptors:
            if hook.active():
                hook.check_cotangents(node, cts)
    return cts


def _call_vjp(op, parents, ans, args, params, g):
    """Run the rule: per-argument makers (only those of arguments that need a gradient),
    or one maker giving every argument's cotangent."""
    if op.vjps is not None:
        return [None if p is None or maker is None else maker(ans, *args, **params)(g)
                for p, maker in zip(parents, op.vjps)]
    if op.vjp is None:
        raise NotImplementedError(f"op {op.name!r} (from {op.provider}) has no VJP rule; "
                                  "register one with cr.ops.register(..., vjp=..., replace=True)")
    cts = op.vjp(ans, *args, **params)(g)
    return cts if type(cts) is tuple or type(cts) is list else (cts,)


def _check_versions(node):
    if not node.op.reads_inputs:   # a view's or exp's rule never reads the values given
        return
    for i, a in enumerate(node.args):
        if type(a) is Tensor and a._counter is not None and a._counter.clock > node.stamp:
            raise InplaceError(
                f"argument {i} of {node.op.name!r} was saved for backward and then modified in "
                f"place (by an in-place op such as +=, add_ or x[i] = v, on it or on a view or "
                f"detach() of the same memory); compute it out of place (y = x + 1 instead of "
                "x += 1) or clone() it before modifying")


def _fit(ct, ref, op):
    """``ct`` with ``ref``'s shape (broadcasting summed away) and dtype.  ``ref`` is the
    argument: a Tensor, a raw array, or a Python scalar (nothing to fit).  A cotangent
    whose shape the argument's does not broadcast to is the rule's error: named."""
    if type(ct) is Tensor:
        if type(ref) is not Tensor:
            if type(ref) in _PY_SCALARS:
                return ct
            ref = make(ref, _backends.backend_of_raw(ref))
        shape = ref.shape
        if ct.shape != shape:
            _check_broadcasts(op, shape, ct.shape)
            ct = engine_ops.sum_to(ct, shape)
        if ct._backend.dtype(ct._data) != ref._backend.dtype(ref._data):
            _check_floating(op, ct._backend.dtype(ct._data), ref._backend.dtype(ref._data))
            ct = engine_ops.astype(ct, ref.dtype)
        return ct
    if type(ref) is Tensor:
        ref = ref._data
    elif type(ref) in _PY_SCALARS:
        return ct
    b = _backends.backend_of_raw(ref)
    shape, ct_shape = tuple(b.shape(ref)), tuple(b.shape(ct))
    if ct_shape != shape:
        lead = len(ct_shape) - len(shape)
        if lead > 0 and ct_shape[lead:] == shape:   # a bias: only leading axes to sum
            ct = b.sum(ct, tuple(range(lead)), False)
        else:
            _check_broadcasts(op, shape, ct_shape)
            ct = engine_ops.sum_to(ct, shape)
    if b.dtype(ct) != b.dtype(ref):
        _check_floating(op, b.dtype(ct), b.dtype(ref))
        ct = b.astype(ct, b.dtype(ref))
    return ct


def _check_floating(op, ct_dtype, dtype):
    """Another float dtype is cast back to the argument's (rules may compute in float32
    or float64); an integer or bool cotangent for a float argument is the rule's error."""
    if ct_dtype not in FLOATING and dtype in FLOATING:
        raise DTypeError(f"the VJP of {op.name!r} (from {op.provider}) returned a {ct_dtype} "
                         f"cotangent for a {dtype} argument; a cotangent is floating point (cast "
                         "it with .astype or multiply by a float)")


def _check_broadcasts(op, shape, ct_shape):
    lead = len(ct_shape) - len(shape)
    if lead < 0 or any(d != c and d != 1 for d, c in zip(shape, ct_shape[lead:])):
        raise ShapeError(f"the VJP of {op.name!r} (from {op.provider}) returned a cotangent of "
                         f"shape {tuple(ct_shape)} for an argument of shape {tuple(shape)}; a "
                         "cotangent has its argument's shape (or one it broadcasts to)")


class _EngineOps:
    """The few ops the engine itself applies (fitting cotangents, owning gradients, tangents
    of linear ops), filled in by ``chainrule.ops`` when it loads: the op layer sits above
    this one, so the engine looks them up here instead of importing it."""

    sum_to = astype = broadcast_to = clone = None


engine_ops = _EngineOps()


# ---------------------------------------------------------------- dispatch

def bind(op, args, params):
    """Apply ``op``: the one path from ``cr.<op>(...)`` to its result.

    1. Read the arguments: their backend, the innermost transform tracing one of them,
       whether one requires grad.  Array-likes that are not tensors (NumPy arrays and
       scalars, lists) become tensors of that backend; with no tensor at all the op runs
       on raw arrays (rules inside a plain backward), raw in, raw out.
    2. A value of a transform among them: that transform applies the op (``process``
       records a node, pushes a tangent or maps a batch, and binds again one level down).
    3. Compute on the raw arrays: the backend kernel, or the op's forward.
    4. An argument requires grad: record a Node for reverse mode.
    With nothing traced and nothing requiring grad this is one loop and one kernel call.
    An active ``Interceptor`` (autocast, anomaly mode) applies the op around this.
    """
    if interceptors:
        out = _intercepted(op, args, params)
        if out is not None:
            return out
    backend = top = foreign = None
    record = False
    raw, parents = [], []
    for a in args:
        if type(a) is Tensor:
            trace = a._trace
            if trace is not None:
                if top is None or trace.level > top.level:
                    top = trace
            elif a._node is not None:
                record = True
            if a._backend is not backend:
                if backend is None:
                    backend = a._backend
                else:
                    _mixed_backends(op, args)
            raw.append(a._data)
            parents.append(a._node)
        else:
            if a is not None and type(a) not in _PY_SCALARS:
                foreign = a
            raw.append(a)
            parents.append(None)
    if foreign is not None:
        if backend is None:   # raw arrays only: a rule inside a plain backward
            # a cached array type, else looked up (torch tensors: by their device)
            backend = _backends._raw_types.get(type(foreign)) or _backends.backend_of_raw(foreign)
            if backend is not None:
                if op.kernel is not None and not params:
                    try:
                        return getattr(backend, op.kernel)(*raw)
                    except Exception:   # again through compute, which names the op and operands
                        pass
                return compute(op, backend, raw, params)
        return _bind_arraylike(op, args, params)
    if top is not None:
        return top.process(op, args, params)
    if backend is None:
        return _bind_python(op, args, params)
    kernel = op.kernel
    if kernel is not None:   # the common case, inlined: one kernel call
        try:
            out = getattr(backend, kernel)(*raw, **params) if params else getattr(backend, kernel)(*raw)
        except Exception:
            out = compute(op, backend, raw, params, args)   # raises, naming the op and operands
    else:
        out = compute(op, backend, raw, params, args)
        if type(out) is Tensor:   # a forward that moved backends (.to)
            backend, out = out._backend, out._data
    if record and op.differentiable and state.grad_enabled:
        if type(out) is tuple:
            _several_outputs(op)
        result = make(out, backend, Node(op, args, params, out, tuple(parents), _clock, None, raw))
    elif type(out) is tuple:
        return tuple([make(o, backend) for o in out])
    else:
        result = make(out, backend)
    if op.view:
        _share_memory(result, args[0], op, params)
    return result


def _several_outputs(op):
    """A differentiable op has one output: its rules take one ``ans`` and one ``g``."""
    raise RegistryError(
        f"op {op.name!r} (from {op.provider}) returned a tuple, but a differentiable op has one "
        "output (its VJP takes one cotangent); register one op per output, or return one "
        "tensor that holds them all (stacked) and split it after the call, as cr.eigh does")


def compute(op, backend, raw, params, args=None):
    """The op's value on raw arrays: its kernel, its forward on kernels, or its forward
    on (fresh, unrecorded) tensors.  A failure is re-raised naming the op and operands."""
    try:
        kernel = op.kernel
        if kernel is not None:
            return getattr(backend, kernel)(*raw, **params)
        if op.kforward is not None:
            return op.kforward(backend, *raw, **params)
        out = op.forward(*[r if r is None or type(r) in _PY_SCALARS else make(r, backend)
                           for r in raw], **params)
    except ChainruleError:   # the library's own (a missing kernel included): already named
        raise
    except Exception as exc:
        raise op.explain(exc, args if args is not None else raw) from exc
    if type(out) is tuple:
        return tuple([o._data if type(o) is Tensor else o for o in out])
    if type(out) is Tensor and out._backend is backend:
        return out._data
    return out


def _bind_arraylike(op, args, params):
    """Arguments that are neither tensors nor Python scalars.  With a tensor among them,
    the others (NumPy arrays and scalars, lists) become tensors of its backend, keeping a
    NumPy value's dtype, so rules only ever meet one kind of array.  With none, they are
    raw backend arrays (a rule inside a plain backward) of a type first seen now, or lists."""
    backend = next((a._backend for a in args if type(a) is Tensor), None)
    if backend is not None:
        return bind(op, tuple([
            a if type(a) is Tensor or type(a) in _PY_SCALARS or a is None else
            make(a, backend) if _backends.backend_of_raw(a) is backend else
            tensor(a, backend=backend) for a in args]), params)
    for a in args:
        if a is not None and type(a) not in _PY_SCALARS:
            backend = _backends.backend_of_raw(a)
            if backend is not None:
                return compute(op, backend, args, params)
            break
    return _bind_python(op, args, params)


def _bind_python(op, args, params):
    """Only Python values: the first number or list becomes a tensor on the current backend."""
    first = next((i for i, a in enumerate(args) if type(a) in _PY_SCALARS or isinstance(a, (list, tuple))), None)
    if first is None:
        raise TypeError(f"{op.name}: expected tensors, got {', '.join(type(a).__name__ for a in args)}")
    args = list(args)
    args[first] = tensor(args[first])
    return bind(op, tuple(args), params)


def _share_memory(view, source, op, params):
    """``view`` came out of a view op on ``source``: if it really shares source's memory,
    it shares its version counter; a differentiable view also remembers its base and
    the ops that lead there, so an in-place change can rebase the base's graph."""
    b = source._backend
    if "shares_memory" in b.missing or b.shares_memory(view._data, source._data):
        version = view._counter = version_of(source)
        if op.differentiable:
            base, chain = source._view or (source, ())
            view._view = (base, chain + ((op, params),))
            if version.views is None:
                version.views = weakref.WeakSet()
            version.views.add(view)
    elif op.view_expected is not None and op.view_expected(params) and view.size:
        # a view in NumPy, but this backend had to copy (torch has no negative strides): an
        # in-place change would silently miss the sliced tensor, so it is refused
        view._counter = Version()
        view._counter.refusal = (
            f"this slice of a {b.name} tensor is a copy, not a view ({b.name} cannot view "
            "negative steps), so an in-place change would not reach the tensor it was sliced "
            "from; assign through that tensor (x[index] = value) or clone() the slice first")


_PY_SCALARS = (float, int, bool, complex)


def _mixed_backends(op, args):
    names = sorted({a._backend.name for a in args if type(a) is Tensor})
    raise BackendError(
        f"{op.name}: arguments live on different backends ({', '.join(names)}); move them to one "
        f"with x.to({names[0]!r}) before combining them")


# ------------------------------------------------------------------ traces

def retire(trace, who):
    """The transform that owns ``trace`` (``who``: "cr.grad", "cr.vmap"...) has returned: from
    now on an op on one of its values raises (``bind`` calls ``trace.process``), except while
    checkpoint recomputes a function recorded under it, which must see the trace as it was."""
    live = type(trace).process

    def process(op, args, params):
        if state.replaying:
            return live(trace, op, args, params)
        raise GraphError(
            f"{op.name}: this value was traced by {who} and escaped it (it was kept in a list, a "
            "global or an attribute while the transform ran), so it has no meaning outside; return "
            "it from the function instead (has_aux=True for extra outputs), or keep "
            "cr.stop_gradient(value)")
    trace.process = process


def box(trace, primal, node=None, tangent=None):
    t = make(primal._data, primal._backend, node)
    t._trace = trace
    t._primal = primal
    t._tangent = tangent
    return t


class VJPTrace:
    """Reverse mode at one level: records a Node per op on its boxes."""

    def __init__(self):
        self.level = next(_levels)
        self.began = next(moments)   # a no_grad block entered after this stops the recording

    def lift(self, x):
        return box(self, x, LeafNode())

    @staticmethod
    def shape_of(box):
        return box._primal.shape

    def process(self, op, args, params):
        began, enabled = state.grad_mode
        if not enabled and began > self.began:   # cr.no_grad inside the function: a constant here
            return bind(op, tuple(a._primal if type(a) is Tensor and a._trace is self else a
                                  for a in args), params)
        primals, parents, concrete = [], [], True
        for a in args:
            if type(a) is Tensor:
                if a._trace is self:
                    parents.append(a._node)
                    a = a._primal
                else:
                    parents.append(None)
                if concrete and (a._trace is not None or a._node is not None):
                    concrete = False
            else:
                parents.append(None)
            primals.append(a)
        primals = tuple(primals)
        out = bind(op, primals, params)
        if not op.differentiable:
            return out
        if type(out) is tuple:
            _several_outputs(op)
        # all concrete below this level: backward may run the rules on raw arrays
        raw = [p._data if type(p) is Tensor else p for p in primals] if concrete else None
        return box(self, out, Node(op, primals, params, out, tuple(parents), _clock, self, raw))


class JVPTrace:
    """Forward mode at one level: carries a tangent with each box."""

    def __init__(self):
        self.level = next(_levels)

    def lift(self, x, tangent):
        return box(self, x, tangent=tangent)

    @staticmethod
    def shape_of(box):
        return box._primal.shape

    def process(self, op, args, params):
        primals, tangents, moving = [], [], False
        for a in args:
            if type(a) is Tensor and a._trace is self:
                primals.append(a._primal)
                tangents.append(a._tangent)
                moving = moving or a._tangent is not None
            else:
                primals.append(a)
                tangents.append(None)
        primals = tuple(primals)
        out = bind(op, primals, params)
        if not moving or not op.differentiable:
            return out
        if type(out) is tuple:
            _several_outputs(op)
        t = op.call_jvp(tangents, out, primals, params)
        if t is None:
            return out
        if type(t) is Tensor:
            b, td, od = out._backend, t._data, out._data
            if t.shape != out.shape:
                t = engine_ops.broadcast_to(t, out.shape)
            if b.dtype(td) != b.dtype(od):
                t = engine_ops.astype(t, out.dtype)
        return box(self, out, tangent=t)

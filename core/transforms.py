"""Function transforms, JAX style: grad, value_and_grad, vjp, jvp, jacfwd, jacrev,
hessian, hvp, checkpoint.  They compose freely, because each one is a trace at
its own level (see ``autodiff``), and they never touch ``.grad``.
Inputs and outputs may be tensors or tuples/lists/dicts of tensors.

Inputs are checked where they enter: a differentiated input must have a floating
dtype and a tangent its primal's dtype and shape (an integer input has no
derivative; JAX and torch.func refuse it too).  A transform's trace dies when the
transform returns, so a traced value that escaped it (kept in a list, a global, an
attribute) raises when used later instead of computing with a stale trace.
"""
import contextlib
import functools
import warnings
import weakref

from . import backends as _backends
from ._state import state, replay_captures
from .autodiff import VJPTrace, JVPTrace, Node, LeafNode, backprop, retire, take_owned
from .creation import asarray, zeros_like, ones_like
from .dtypes import get_default_dtype
from .errors import ArgumentError, BackendError, DTypeError, GraphError, InplaceError, ShapeError
from .tensor import Tensor, make
from . import tree
from . import ops, random
from .creation import eye
from .vmap import vmap


class TangentShapeError(ShapeError, DTypeError):
    """A tangent's shape differs from its primal's: a ShapeError that is also a TypeError,
    as SPEC asks of every malformed transform input."""


def _as_tensor(x):
    return x if type(x) is Tensor else asarray(x)


def _cotangent(g, primal):
    """g as a tensor of numbers (strings and objects are refused here, not deep in a rule)."""
    try:
        g = _as_tensor(g)
        g.dtype
    except DTypeError:
        raise DTypeError(f"vjp_fn: the cotangent {g!r:.60} holds no numbers; pass a floating tensor "
                         f"like the output (shape {primal.shape}, dtype {primal.dtype})") from None
    return g


def _differentiable(x, who, label):
    """x as a tensor, refused unless floating: an integer or bool input has no derivative."""
    t = _as_tensor(x)
    if not t.dtype.is_floating:
        raise DTypeError(f"{who}: {label} has dtype {t.dtype}, but only floating-point inputs can "
                         "be differentiated; cast it (x.astype('float32')) or, for integer data "
                         "such as labels, leave it out of the differentiated arguments")
    return t


_PYTHON_DATA = (int, float, list)


def _leaf_labels(label, n):
    return [label] if n == 1 else [f"{label} (leaf {j} of its tree)" for j in range(n)]


def _unbox(trace, x):
    """(primal one level down, node or tangent) of x at this trace; x may be a constant."""
    if type(x) is Tensor and x._trace is trace:
        return x._primal, (x._node if isinstance(trace, VJPTrace) else x._tangent)
    return x, None


# ------------------------------------------------------------- trace lifetime

# ---------------------------------------------------------------- reverse

def vjp(f, *primals, has_aux=False):
    """``(f(*primals), vjp_fn)`` with ``vjp_fn(g) -> tuple of cotangents, one per primal``.

    >>> import chainrule as cr
    >>> out, f_vjp = cr.vjp(lambda x: x * x, cr.tensor(3.0))
    >>> float(f_vjp(cr.tensor(1.0))[0])
    6.0
    """
    return _vjp(f, primals, has_aux, "cr.vjp", [f"primal {i}" for i in range(len(primals))])


def _vjp(f, primals, has_aux, who, labels):
    flat, rebuild_in = tree.flatten(primals)
    flat_labels = [lab for p, label in zip(primals, labels)
                   for lab in _leaf_labels(label, len(tree.flatten(p)[0]))]
    inputs = [_differentiable(x, who, lab) for x, lab in zip(flat, flat_labels)]
    trace = VJPTrace()
    try:
        leaves = [trace.lift(x) for x in inputs]
        unboxed, rebuild_out, aux = _unbox_result(trace, f(*rebuild_in(leaves)), has_aux)
    finally:
        retire(trace, who)
    out_primal = rebuild_out([p for p, _ in unboxed])

    def vjp_fn(g):
        g_flat = tree.flatten(g)[0]
        if len(g_flat) != len(unboxed):
            raise ShapeError(f"vjp_fn got {len(g_flat)} cotangents for {len(unboxed)} outputs")
        totals = {}
        for (primal, node), gi in zip(unboxed, g_flat):
            if node is None:
                continue
            gi = _cotangent(gi, primal)
            if gi.shape != primal.shape:
                raise ShapeError(f"the cotangent has shape {gi.shape} but the output has shape "
                                 f"{primal.shape}; pass one of the output's shape")
            if gi._backend is not primal._backend:
                raise BackendError(f"the cotangent lives on backend {gi._backend.name!r} but the "
                                   f"output on {primal._backend.name!r}; move it with "
                                   f"g.to({primal._backend.name!r})")
            found = backprop(node, gi, retain_graph=True)
            for leaf, ct in found.items():
                totals[leaf] = ct if leaf not in totals else totals[leaf] + ct
            found = ct = None   # hold no cotangent: take_owned copies only what is shared
        totals = take_owned(totals)   # what we return aliases nothing (nor each other)
        cts = [totals.get(leaf._node) for leaf in leaves]
        cts = [zeros_like(x._primal) if c is None else
               c if type(c) is Tensor else make(c, x._backend) for c, x in zip(cts, leaves)]
        return rebuild_in(cts)

    return (out_primal, vjp_fn, aux) if has_aux else (out_primal, vjp_fn)


def _is_tree(x):
    return type(x) is Tensor or isinstance(x, (tuple, list, dict))


def _check_argnums(argnums, n):
    nums = (argnums,) if isinstance(argnums, int) else argnums
    if not isinstance(nums, (tuple, list)) or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in nums):
        raise ArgumentError(f"argnums must be an int or a tuple of ints (positions of the "
                            f"arguments to differentiate), got {argnums!r}")
    nums = tuple(nums)
    for a in nums:
        if not -n <= a < n:
            raise ValueError(f"argnums={argnums} but the function got {n} positional arguments")
    return nums


def _selecting(f, args, nums, kwargs=None):
    """f as a function of the arguments at ``nums`` only, the others fixed."""
    def of_selected(*selected):
        full = list(args)
        for i, s in zip(nums, selected):
            full[i] = s
        return f(*full, **(kwargs or {}))
    return of_selected


def value_and_grad(f, argnums=0, has_aux=False):
    """A function returning ``(f(*args), gradient)`` (``((value, aux), g)`` with has_aux).

    ``f`` must return a scalar.  ``argnums`` int -> one gradient, tuple -> a tuple.
    """
    return _value_and_grad(f, argnums, has_aux, "cr.value_and_grad")


def _value_and_grad(f, argnums, has_aux, who):
    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        nums = _check_argnums(argnums, len(args))
        res = _vjp(_selecting(f, args, nums, kwargs), [args[i] for i in nums], has_aux, who,
                   [f"argument {i}" for i in nums])
        value, pullback = res[0], res[1]
        if type(value) is not Tensor or value.size != 1:
            shape = value.shape if type(value) is Tensor else type(value).__name__
            raise GraphError(f"grad needs f to return a scalar, got {shape}; reduce it (e.g. "
                             ".sum()) or use cr.vjp / cr.jacrev for non-scalar outputs")
        grads = pullback(ones_like(value))
        grads = grads[0] if isinstance(argnums, int) else tuple(grads)
        return ((value, res[2]), grads) if has_aux else (value, grads)
    return wrapped


def grad(f, argnums=0, has_aux=False):
    """The gradient of a scalar function: ``grad(f)(x)`` has x's shape and dtype.

    >>> import chainrule as cr
    >>> float(cr.grad(lambda x: x ** 3)(cr.tensor(2.0)))
    12.0
    """
    vg = _value_and_grad(f, argnums, has_aux, "cr.grad")

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapped


# ---------------------------------------------------------------- forward

def jvp(f, primals, tangents, has_aux=False):
    """Forward mode: ``(f(*primals), J @ tangents)`` in one pass, no graph kept.

    >>> import chainrule as cr
    >>> out, t = cr.jvp(lambda x: x * x, (cr.tensor(3.0),), (cr.tensor(1.0),))
    >>> float(t)
    6.0
    """
    primals, tangents = _argument_tuples(primals, tangents, "cr.jvp")
    return _jvp(f, primals, tangents, has_aux, "cr.jvp")


def _argument_tuples(primals, tangents, who):
    """Primals and tangents are tuples (or lists), one entry per argument of f, as in JAX: a
    bare tensor would be iterated along its first axis, silently changing every shape."""
    for what, xs in (("primals", primals), ("tangents", tangents)):
        if not isinstance(xs, (tuple, list)):
            raise ArgumentError(f"{who}: {what} must be a tuple with one entry per argument of f, "
                                f"got {type(xs).__name__}; write {who}(f, (x,), (t,))")
    return tuple(primals), tuple(tangents)


def _jvp(f, primals, tangents, has_aux, who):
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp got {len(primals)} primals but {len(tangents)} tangents")
    trace = JVPTrace()
    try:
        inputs = []
        for i, (p, t) in enumerate(zip(primals, tangents)):
            if t is None:                       # a constant argument (integer labels, say)
                inputs.append(p)
                continue
            p_flat, rebuild = tree.flatten(p)
            t_flat = tree.flatten(t)[0]
            if len(t_flat) != len(p_flat):
                raise ValueError(f"{who}: tangent {i} has {len(t_flat)} leaves but primal {i} "
                                 f"has {len(p_flat)}; give the tangent the primal's structure")
            labels = _leaf_labels(f"primal {i}", len(p_flat))
            inputs.append(rebuild([trace.lift(*_tangent_pair(pi, ti, who, label))
                                   for pi, ti, label in zip(p_flat, t_flat, labels)]))
        pairs, rebuild_out, aux = _unbox_result(trace, f(*inputs), has_aux)
    finally:
        retire(trace, who)
    primal_out = rebuild_out([p for p, _ in pairs])
    tangent_out = rebuild_out([zeros_like(p) if t is None else t for p, t in pairs])
    return (primal_out, tangent_out, aux) if has_aux else (primal_out, tangent_out)


def _unbox_result(trace, result, has_aux):
    """f's result seen from outside the trace: ([(value, node or tangent)] per output leaf,
    the function rebuilding the output tree, aux as plain values (as in JAX))."""
    out, aux = result if has_aux else (result, None)
    if has_aux:
        aux = tree.tree_map(lambda a: _unbox(trace, a)[0], aux) if _is_tree(aux) else aux
    out_flat, rebuild_out = tree.flatten(out)
    return [_unbox(trace, o) for o in out_flat], rebuild_out, aux


def _tangent_pair(p, t, who, label):
    """(primal, tangent) as tensors, the tangent of the primal's dtype and shape.  A tangent
    given as Python numbers has no dtype of its own: it takes the primal's."""
    p = _differentiable(p, who, label)
    t = asarray(t, dtype=p.dtype, backend=p._backend) if isinstance(t, _PYTHON_DATA) else _as_tensor(t)
    tlabel = label.replace("primal", "tangent", 1)
    if t.shape != p.shape:
        raise TangentShapeError(f"{who}: {tlabel} has shape {t.shape} but its primal has shape "
                                f"{p.shape}; a tangent has its primal's shape")
    if t.dtype != p.dtype:
        raise DTypeError(f"{who}: {tlabel} has dtype {t.dtype} but its primal has dtype "
                         f"{p.dtype}; cast the tangent (t.astype({str(p.dtype)!r}))")
    if t._backend is not p._backend:
        raise BackendError(f"{who}: {tlabel} lives on backend {t._backend.name!r} but its primal "
                           f"on {p._backend.name!r}; move it with t.to({p._backend.name!r})")
    return p, t


# --------------------------------------------------------------- jacobians

def _basis(x):
    """The unit tensors e_i shaped like x, stacked: shape (x.size,) + x.shape."""
    n = x.size
    return ops.reshape(_eye_like(x, n), (n,) + x.shape)


def _eye_like(x, n):
    return eye(n, dtype=x.dtype, backend=x._backend)


def jacfwd(f, argnums=0):
    """Jacobian by forward mode: a JVP along every input direction at once (``vmap`` over
    the basis of tangents); shape ``out.shape + in.shape``.  Cheapest when inputs are fewer
    than outputs (use jacrev otherwise)."""

    def jac(*args):
        nums = _check_argnums(argnums, len(args))
        per_arg, rebuild_out = [], None
        for i in nums:
            x = _differentiable(args[i], "cr.jacfwd", f"argument {i}")
            f_i = _selecting(f, args, (i,))
            column = lambda e: _jvp(f_i, (x,), (e,), False, "cr.jacfwd")[1]  # noqa: E731
            # per output: out.shape + (x.size,); one evaluation of f, so its draws are shared
            cols = vmap(column, out_axes=-1, randomness="same")(_basis(x))
            leaves, rebuild_out = tree.flatten(cols)
            per_arg.append([ops.reshape(c, c.shape[:-1] + x.shape) for c in leaves])
        if isinstance(argnums, int):
            return rebuild_out(per_arg[0])
        # as JAX and torch.func: the output's structure outside, a tuple over argnums inside
        return rebuild_out([tuple(p[j] for p in per_arg) for j in range(len(per_arg[0]))])
    return jac


def jacrev(f, argnums=0):
    """Jacobian by reverse mode: the VJP of every output cotangent at once (``vmap`` over
    the basis of cotangents); shape ``out.shape + in.shape``.  Cheapest when outputs are
    fewer than inputs (use jacfwd otherwise)."""

    def jac(*args):
        nums = _check_argnums(argnums, len(args))
        selected = [args[i] for i in nums]
        out, pullback = _vjp(_selecting(f, args, nums), selected, False, "cr.jacrev",
                             [f"argument {i}" for i in nums])
        outs, rebuild_out = tree.flatten(out)
        per_out = []
        for k, o in enumerate(outs):
            def pull(e, k=k):    # the cotangent e for output k, zeros for the others
                return pullback(rebuild_out([e if j == k else zeros_like(other)
                                             for j, other in enumerate(outs)]))
            rows = vmap(pull, randomness="same")(_basis(o))           # per argument: (o.size,) + x.shape
            per_out.append([tree.tree_map(lambda r, xl: ops.reshape(r, o.shape + _as_tensor(xl).shape),
                                          r, x) for r, x in zip(rows, selected)])
        if isinstance(argnums, int):
            return rebuild_out([p[0] for p in per_out])
        return rebuild_out([tuple(p) for p in per_out])
    return jac


def hessian(f, argnums=0):
    """Matrix of second derivatives, ``jacfwd(jacrev(f))``: forward-over-reverse, the
    cheap order.  For a Hessian-vector product alone, ``hvp`` costs one gradient or so."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f, primals, tangents):
    """``(f(*primals), H @ tangents)`` without forming H; ``f`` returns a scalar.

    Computed as the gradient of the directional derivative, grad_x <grad f(x), v>
    = H v (H is symmetric): reverse over forward.  Forward over reverse (a JVP of
    the gradient) gives the same numbers but also computes the gradient itself and
    throws it away; this order skips that work, so an HVP costs about 1.5
    gradients instead of 2 (for sum(tanh(W x)) the outer product is done once).
    """
    primals, tangents = _argument_tuples(primals, tangents, "cr.hvp")

    def directional(*xs):
        value, slope = _jvp(f, xs, tangents, False, "cr.hvp")
        if type(value) is not Tensor or value.size != 1:
            shape = value.shape if type(value) is Tensor else type(value).__name__
            raise GraphError(f"hvp needs f to return a scalar, got {shape}; reduce it (e.g. "
                             ".sum()), or use cr.jacfwd(cr.jacrev(f)) for the full second derivative")
        return slope, value

    slope, pullback, value = _vjp(directional, primals, True, "cr.hvp",
                                  [f"primal {i}" for i in range(len(primals))])
    hv = pullback(ones_like(slope))
    return value, (hv[0] if len(primals) == 1 else tuple(hv))


# ------------------------------------------------------------- checkpoint

def checkpoint(f):
    """Activation checkpointing: ``checkpoint(f)(*args, **kwargs)`` computes
    ``f(*args, **kwargs)`` with exactly f's gradients, but the values f's ops saved for
    backward are dropped when f returns and recomputed, by running f again, when a
    backward walk first needs them: memory traded for compute.

    ``f`` runs normally, so its graph is recorded with every edge it has: to its
    arguments (the same tensor twice included) and to every tensor it reaches any
    other way (a module's parameters, a closure, a list, a dict, a global).  Nothing
    has to be guessed or passed explicitly.  Then the nodes f recorded drop their
    saved values.  The first node of them a backward reads (``backward()``,
    create_graph, grad, vjp, nested transforms) runs f again on the same arguments,
    in the same grad mode, backend and random state (dropout draws the same mask),
    checks that the run recorded the same ops on the same tensors, and hands the
    fresh values to the original nodes: the backward then goes on as if nothing had
    been dropped.  This is torch.utils.checkpoint(use_reentrant=False)'s design;
    forward mode needs no saved values, so ``jvp`` of a checkpointed f just works.

    Like torch, f should be a pure function of what it reads: a recomputation that
    records different ops or draws different random numbers raises GraphError, and a
    tensor f read that was modified in place before backward raises InplaceError.  A
    call that modifies its arguments in place cannot be run twice: it keeps its saved
    values (a warning says so) and differentiates exactly as f does.
    """
    @functools.wraps(f)
    def checkpointed(*args, **kwargs):
        context = _Context()
        inputs = [a for a in tree.flatten((args, kwargs))[0] if type(a) is Tensor]
        clocks = [_memory_clock(a) for a in inputs]
        start = LeafNode().seq         # every node f records gets a higher number
        out = f(*args, **kwargs)
        found = _recorded_since(start, out)
        if not found.nodes:
            return out
        if any(_memory_clock(a) != c for a, c in zip(inputs, clocks)):
            warnings.warn(f"cr.checkpoint: {getattr(f, '__name__', 'the function')} modified an "
                          "argument in place, so running it again would modify it twice; its "
                          "saved values are kept (no memory saved)", stacklevel=2)
            return out
        context.finish(found.backends)
        _Region(f, args, kwargs, context, found).strip()
        return out
    return checkpointed


class _Context:
    """What a checkpointed call ran under and must run under again: grad mode, the
    backend stack, the default dtype, autocast, and the random generators that it advanced."""

    def __init__(self):
        self.grad_enabled, self.backend_stack = state.grad_enabled, state.backend_stack
        self.default_dtype = get_default_dtype()
        self.captured = [capture() for capture in replay_captures]   # autocast, ...
        # a cr.random.seed not yet applied to a backend is applied by its next draw: now
        backends = [random._backend(b) for b in _loaded_backends()]
        self.before = {b: b.rng_state() for b in backends if "rng_state" not in b.missing}

    def finish(self, used):
        """After the forward: keep (state before, state after) of each generator that moved.
        A backend whose state was not saved cannot replay its draws: refuse it."""
        for b in used:
            if b not in self.before:
                why = ("has no rng_state/set_rng_state kernels" if "rng_state" in b.missing
                       else "was first loaded inside the checkpointed function")
                raise BackendError(
                    f"cr.checkpoint cannot replay random draws on backend {b.name!r}: it {why}; "
                    "create a tensor on it before the checkpoint (or implement the kernels)")
        self.drawn = {}
        for b, before in self.before.items():
            after = b.rng_state()
            if after != before:
                self.drawn[b] = (before, after)
        self.before = None

    def replay(self, run):
        """``run()`` in the forward's state; the caller's generators are left as they were."""
        if get_default_dtype() != self.default_dtype:
            raise GraphError(f"cr.checkpoint: the default dtype changed from {self.default_dtype} "
                             f"to {get_default_dtype()} between the forward and the backward, so "
                             "the recomputation would differ; change it outside that window")
        saved = (state.grad_enabled, state.backend_stack)
        current = {b: b.rng_state() for b in self.drawn}
        state.grad_enabled, state.backend_stack = self.grad_enabled, self.backend_stack
        state.replaying += 1
        try:
            for b, (before, _) in self.drawn.items():
                b.set_rng_state(before)
            with contextlib.ExitStack() as stack:
                for captured in self.captured:
                    stack.enter_context(captured)
                out = run()
            for b, (before, after) in self.drawn.items():
                end = b.rng_state()
                if end != after and end != before:   # equal to before: f drew nothing, another thread did
                    raise GraphError(
                        f"cr.checkpoint: the function drew different random numbers on backend "
                        f"{b.name!r} when recomputed (a draw that depends on something other than "
                        "its inputs, or another thread drawing at the same time); draw the random "
                        "values outside the checkpointed function and pass them in")
            return out
        finally:
            state.replaying -= 1
            for b, snapshot in current.items():
                b.set_rng_state(snapshot)
            state.grad_enabled, state.backend_stack = saved


def _loaded_backends():
    return set(_backends._loaded.values())


class _Found:
    """The graph a checkpointed call recorded: its nodes (oldest first), the tensors those
    nodes saved that it did not produce, and the backends it touched."""

    def __init__(self):
        self.nodes, self.outside, self.backends = [], [], set()
        self.inherited = []    # an inner checkpoint's records of its outside tensors


def _recorded_since(start, out):
    """The nodes numbered above ``start`` that ``out`` depends on, at every level: through
    graph edges (parents), saved tensors (args, ans), and a traced value's primal and
    tangent.  A node already stripped by a checkpoint inside f brings its call's nodes."""
    found = _Found()
    outputs = [t for t in tree.flatten(out)[0] if type(t) is Tensor]
    seen, saved, stack = set(), [], outputs
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if type(item) is Tensor:
            found.backends.add(item._backend)
            stack.extend(x for x in (item._node, item._primal, item._tangent) if x is not None)
            continue
        if item.seq <= start:                  # recorded before f: outside the call
            continue
        found.nodes.append(item)
        if isinstance(item, LeafNode):
            continue
        stack.extend(p for p in item.parents if p is not None)
        args = _ARGS.__get__(item)
        if type(args) is _Region:              # an inner checkpoint's node: its call knows the rest
            stack.extend(args.nodes)
            stack.extend(t for t in tree.flatten((args.args, args.kwargs))[0] if type(t) is Tensor)
            found.inherited.extend(args.outside)
            continue
        tensors = [a for a in _flat_args(args) if type(a) is Tensor]
        saved.extend((t, item) for t in tensors)
        stack.extend(tensors)
        ans = _ANS.__get__(item)
        if type(ans) is Tensor:
            stack.append(ans)
    found.nodes.sort(key=lambda n: n.seq)
    inside = set(found.nodes)
    found.outside = [(t, node) for t, node in saved if t._node not in inside]
    return found


def _flat_args(args):
    for a in args:
        if isinstance(a, (list, tuple)):    # concat and stack take a sequence of tensors
            yield from a
        else:
            yield a


# The slots of a node that hold saved values (what checkpoint drops), and the ones a
# recomputation refreshes: everything but the node's identity and its place in the graph.
_ARGS, _RAW, _ANS = Node.args, Node.raw, Node.ans
_REFRESHED = [getattr(Node, s) for s in Node.__slots__
              if s not in ("op", "params", "parents", "trace", "seq")]


class _Region:
    """One checkpointed call whose nodes dropped their saved values: enough to run it
    again (f, its arguments, its context) and to check the rerun against the original."""

    __slots__ = ("f", "args", "kwargs", "context", "nodes", "outside", "aliases")

    def __init__(self, f, args, kwargs, context, found):
        self.f, self.args, self.kwargs, self.context = f, args, kwargs, context
        self.nodes = found.nodes
        self.aliases = {}   # set when an outer checkpoint's rerun made this call: its node -> ours
        # tensors from outside saved by the nodes, weakly, with the clock when they were
        # saved: one modified in place since would make the recomputation differ from the
        # forward (f's own backward raises for it too)
        # (with its version counter: a view made inside f, x[1:] or x.detach(), dies with
        # the saved values, but the counter it shares with x still sees x's changes)
        self.outside = [(weakref.ref(t), t._counter, node.stamp, node) for t, node in found.outside]
        self.outside += found.inherited

    def strip(self):
        for node in self.nodes:
            if isinstance(node, LeafNode):
                continue
            # the output's own node too: its rerun ``ans`` is a copy, which an in-place
            # change of the output cannot reach
            _ARGS.__set__(node, self)
            _RAW.__set__(node, self)
            _ANS.__set__(node, self)
            node.__class__ = _Stripped

    def refill(self):
        """Run f again and give every node of the call its saved values back."""
        for ref, counter, stamp, node in self.outside:
            if _outside_clock(ref, counter) > stamp:
                raise InplaceError(
                    f"a tensor that {node.op.name!r} saved inside cr.checkpoint was modified in "
                    "place after the forward (by an in-place op such as +=, add_ or x[i] = v); "
                    "compute it out of place or clone it before modifying")
        start = []

        def run():
            start.append(LeafNode().seq)
            return self.f(*self.args, **self.kwargs)
        out = self.context.replay(run)
        for ref, counter, stamp, node in self.outside:
            if _outside_clock(ref, counter) > stamp:
                # the rerun itself wrote into memory f reads from outside (closed-over state
                # updated in place before it is read): the recomputed values are not the
                # forward's, so the gradient would silently differ from f's
                raise InplaceError(
                    f"cr.checkpoint: recomputing the function modified in place a tensor that "
                    f"{node.op.name!r} reads from outside it (closed-over state such as a "
                    "buffer), so the recomputation did not see the forward's values; update such "
                    "state outside the checkpointed function, or do not checkpoint it")
        again = _recorded_since(start[0], out).nodes
        pairs = self._matched(again)
        moved = {}
        for old, new in pairs:
            if isinstance(old, LeafNode):
                continue
            for slot in _REFRESHED:
                slot.__set__(old, slot.__get__(new))
            if type(new) is _Stripped:            # a checkpoint inside f: it refills later
                moved[new] = old
            else:
                old.__class__ = Node
        # a checkpoint inside f ran again with f: its nodes are now ours, and the rerun's
        # nodes it reads from outside stand for ours too
        rerun_to_ours = {**self.aliases, **{new: old for old, new in pairs}}
        for inner in {_ARGS.__get__(new) for new in moved}:
            inner.nodes = [moved.get(n, n) for n in inner.nodes]
            inner.aliases = rerun_to_ours
        self.nodes = self.args = self.kwargs = None

    def _matched(self, again):
        """Pair the original nodes with the rerun's, checking the same op on the same inputs."""
        old_nodes = self.nodes
        if len(again) != len(old_nodes):
            raise _diverged(f"it recorded {len(again)} ops instead of {len(old_nodes)}")
        old_index = {n: i for i, n in enumerate(old_nodes)}
        new_index = {n: i for i, n in enumerate(again)}
        for i, (old, new) in enumerate(zip(old_nodes, again)):
            if old.op is not new.op or len(old.parents) != len(new.parents):
                raise _diverged(f"op {i} was {_op_name(old)} and is now {_op_name(new)}")
            for k, (p_old, p_new) in enumerate(zip(old.parents, new.parents)):
                inside = old_index.get(p_old)
                if inside is None:
                    same = p_old is p_new or self.aliases.get(p_new) is p_old
                else:
                    same = new_index.get(p_new) == inside
                if not same:
                    raise _diverged(f"argument {k} of op {i} ({_op_name(old)}) is another tensor "
                                    "(a tensor it reads was replaced?)")
        return list(zip(old_nodes, again))


def _memory_clock(t):
    """The engine clock at the last in-place change of t's memory (0: never)."""
    counter = t._counter
    return 0 if counter is None else counter.clock


def _outside_clock(ref, counter):
    """The memory clock of a tensor a checkpointed call saved from outside: read through the
    version counter it had then (shared with every alias, alive after the tensor), else
    through the tensor if it still lives (a counter created since), else 0 (gone unaliased:
    nothing can have changed it)."""
    if counter is not None:
        return counter.clock
    t = ref()
    return 0 if t is None else _memory_clock(t)


def _op_name(node):
    return "an input" if node.op is None else repr(node.op.name)


def _diverged(detail):
    return GraphError(f"cr.checkpoint: recomputing the function did not repeat its forward: "
                      f"{detail}; a checkpointed function must compute the same ops from the same "
                      "tensors each time it runs (no branching on state that changes in between)")


def _saved_value(slot):
    """A saved-value slot that, while it holds its call's _Region, recomputes first."""
    def get(node):
        value = slot.__get__(node)
        while type(value) is _Region:
            region = value
            region.refill()
            value = slot.__get__(node)
            if value is region:
                raise GraphError("cr.checkpoint: internal error, a node was not refilled")
        return value
    return property(get, slot.__set__)


class _Stripped(Node):
    """A node recorded in a checkpointed call, its saved values dropped: reading one runs
    the call again (once, for all its nodes) and turns the node back into a plain Node."""

    __slots__ = ()
    args, raw, ans = _saved_value(_ARGS), _saved_value(_RAW), _saved_value(_ANS)

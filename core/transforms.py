"""Function transforms, JAX style: grad, value_and_grad, vjp, jvp, jacfwd, jacrev,
hessian, hvp, checkpoint.  They compose freely, because each one is a trace at
its own level (see ``autodiff``), and they never touch ``.grad``.
Inputs and outputs may be tensors or tuples/lists/dicts of tensors.
"""
import functools

from . import autodiff
from .autodiff import VJPTrace, JVPTrace, backprop
from .creation import asarray, zeros_like, ones_like
from .errors import GraphError, ShapeError
from .tensor import Tensor, make
from . import tree


def _as_tensor(x):
    return x if type(x) is Tensor else asarray(x)


def _unbox(trace, x):
    """(primal one level down, node or tangent) of x at this trace; x may be a constant."""
    if type(x) is Tensor and x._trace is trace:
        return x._primal, (x._node if isinstance(trace, VJPTrace) else x._tangent)
    return x, None


def vjp(f, *primals, has_aux=False):
    """``(f(*primals), vjp_fn)`` with ``vjp_fn(g) -> tuple of cotangents, one per primal``.

    >>> import chainrule as cr
    >>> out, f_vjp = cr.vjp(lambda x: x * x, cr.tensor(3.0))
    >>> float(f_vjp(cr.tensor(1.0))[0])
    6.0
    """
    trace = VJPTrace()
    flat, rebuild_in = tree.flatten(primals)
    leaves = [trace.lift(_as_tensor(x)) for x in flat]
    result = f(*rebuild_in(leaves))
    out, aux = result if has_aux else (result, None)
    if has_aux:  # aux comes back as plain values, as in JAX
        aux = tree.tree_map(lambda a: _unbox(trace, a)[0], aux) if _is_tree(aux) else aux
    out_flat, rebuild_out = tree.flatten(out)
    unboxed = [_unbox(trace, o) for o in out_flat]
    out_primal = rebuild_out([p for p, _ in unboxed])

    def vjp_fn(g):
        g_flat = tree.flatten(g)[0]
        if len(g_flat) != len(unboxed):
            raise ShapeError(f"vjp_fn got {len(g_flat)} cotangents for {len(unboxed)} outputs")
        totals = {}
        for (primal, node), gi in zip(unboxed, g_flat):
            if node is None:
                continue
            gi = _as_tensor(gi)
            if gi.shape != primal.shape:
                raise ShapeError(f"the cotangent has shape {gi.shape} but the output has shape "
                                 f"{primal.shape}; pass one of the output's shape")
            found = backprop(node, gi, retain_graph=True)
            for leaf, ct in found.items():
                totals[leaf] = ct if leaf not in totals else totals[leaf] + ct
        cts = [totals.get(leaf._node) for leaf in leaves]
        cts = [zeros_like(x._primal) if c is None else
               c if type(c) is Tensor else make(c, x._backend) for c, x in zip(cts, leaves)]
        return rebuild_in(cts)

    return (out_primal, vjp_fn, aux) if has_aux else (out_primal, vjp_fn)


def _is_tree(x):
    return type(x) is Tensor or isinstance(x, (tuple, list, dict))


def _check_argnums(argnums, n):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -n <= a < n:
            raise ValueError(f"argnums={argnums} but the function got {n} positional arguments")
    return nums


def value_and_grad(f, argnums=0, has_aux=False):
    """A function returning ``(f(*args), gradient)`` (``((value, aux), g)`` with has_aux).

    ``f`` must return a scalar.  ``argnums`` int -> one gradient, tuple -> a tuple.
    """
    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        nums = _check_argnums(argnums, len(args))

        def of_selected(*selected):
            full = list(args)
            for i, s in zip(nums, selected):
                full[i] = s
            return f(*full, **kwargs)

        res = vjp(of_selected, *[args[i] for i in nums], has_aux=has_aux)
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
    vg = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapped


def jvp(f, primals, tangents, has_aux=False):
    """Forward mode: ``(f(*primals), J @ tangents)`` in one pass, no graph kept.

    >>> import chainrule as cr
    >>> out, t = cr.jvp(lambda x: x * x, (cr.tensor(3.0),), (cr.tensor(1.0),))
    >>> float(t)
    6.0
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp got {len(primals)} primals but {len(tangents)} tangents")
    trace = JVPTrace()
    inputs = []
    for p, t in zip(primals, tangents):
        if t is None:                           # a constant argument (integer labels, say)
            inputs.append(p)
            continue
        p_flat, rebuild = tree.flatten(p)
        t_flat = tree.flatten(t)[0]
        boxed = []
        for pi, ti in zip(p_flat, t_flat):
            pi, ti = _as_tensor(pi), _as_tensor(ti)
            if ti.shape != pi.shape:
                raise ShapeError(f"a tangent has shape {ti.shape} but its primal has shape {pi.shape}")
            boxed.append(trace.lift(pi, ti))
        inputs.append(rebuild(boxed))
    result = f(*inputs)
    out, aux = result if has_aux else (result, None)
    out_flat, rebuild_out = tree.flatten(out)
    pairs = [_unbox(trace, o) for o in out_flat]
    primal_out = rebuild_out([p for p, _ in pairs])
    tangent_out = rebuild_out([zeros_like(p) if t is None else t for p, t in pairs])
    return (primal_out, tangent_out, aux) if has_aux else (primal_out, tangent_out)


def _basis(x):
    """Unit tensors e_i shaped like x, one per element."""
    from . import ops
    n = x.size
    eye = ops.reshape(_eye_like(x, n), (n,) + x.shape)
    return [eye[i] for i in range(n)]


def _eye_like(x, n):
    from .creation import eye
    return eye(n, dtype=x.dtype, backend=x._backend)


def jacfwd(f, argnums=0):
    """Jacobian by forward mode: one JVP per input element; shape ``out.shape + in.shape``.
    Cheapest when inputs are fewer than outputs (use jacrev otherwise)."""
    from . import ops

    def jac(*args):
        nums = _check_argnums(argnums, len(args))
        results = []
        for i in nums:
            x = _as_tensor(args[i])

            def f_i(xi):
                full = list(args)
                full[i] = xi
                return f(*full)
            cols = [jvp(f_i, (x,), (e,))[1] for e in _basis(x)]
            out = ops.stack(cols, axis=-1) if cols else None
            results.append(ops.reshape(out, out.shape[:-1] + x.shape))
        return results[0] if isinstance(argnums, int) else tuple(results)
    return jac


def jacrev(f, argnums=0):
    """Jacobian by reverse mode: one VJP per output element; shape ``out.shape + in.shape``.
    Cheapest when outputs are fewer than inputs (use jacfwd otherwise)."""
    from . import ops

    def jac(*args):
        nums = _check_argnums(argnums, len(args))
        selected = [args[i] for i in nums]

        def of_selected(*sel):
            full = list(args)
            for i, s in zip(nums, sel):
                full[i] = s
            return f(*full)
        out, pullback = vjp(of_selected, *selected)
        rows = [pullback(e) for e in _basis(out)]
        results = []
        for k, x in enumerate(selected):
            x = _as_tensor(x)
            stacked = ops.stack([r[k] for r in rows], axis=0)
            results.append(ops.reshape(stacked, out.shape + x.shape))
        return results[0] if isinstance(argnums, int) else tuple(results)
    return jac


def hessian(f, argnums=0):
    """Matrix of second derivatives, ``jacfwd(jacrev(f))``: forward-over-reverse, the
    cheap order.  For a Hessian-vector product alone, ``hvp`` costs one gradient or so."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f, primals, tangents):
    """``(f(*primals), H @ tangents)`` without forming H.

    Computed as the gradient of the directional derivative, grad_x <grad f(x), v>
    = H v (H is symmetric): reverse over forward.  Forward over reverse (a JVP of
    the gradient) gives the same numbers but also computes the gradient itself and
    throws it away; this order skips that work, so an HVP costs about 1.5
    gradients instead of 2 (for sum(tanh(W x)) the outer product is done once).
    """
    primals, tangents = tuple(primals), tuple(tangents)

    def directional(*xs):
        value, slope = jvp(f, xs, tangents)
        return slope, value

    slope, pullback, value = vjp(directional, *primals, has_aux=True)
    hv = pullback(ones_like(slope))
    return value, (hv[0] if len(primals) == 1 else tuple(hv))


def checkpoint(f):
    """Activation checkpointing: ``checkpoint(f)(*xs)`` computes ``f`` but keeps only its
    inputs and output for backward, recomputing the inside when the gradient is needed
    (memory for compute, as in the lessons).  ``f`` takes and returns tensors.

    Parameters ``f`` closes over (a module's, for ``checkpoint(net.forward)``) get their
    gradients too: they are found and passed to the op as extra inputs.
    """
    name = "checkpoint_" + "".join(c if c.isalnum() else "_" for c in getattr(f, "__name__", "f"))

    def forward(*inputs, n):
        out = f(*inputs[:n])
        if type(out) is Tensor and out._trace is not None:
            raise GraphError("checkpoint: the function closes over a value traced by a transform; "
                             "pass that value as an argument of the checkpointed function")
        return out

    def ckpt_vjp(ans, *inputs, n):
        if not any(type(x) is Tensor and x._trace is not None for x in inputs):
            from ._state import state
            if state.grad_enabled:   # backward(create_graph=True): the gradient must be differentiable
                return lambda g: _recompute_traced(f, inputs, n, g)
            return lambda g: _recompute_eager(f, inputs, n, g)
        return lambda g: tuple(vjp(f, *inputs[:n])[1](g)) + (None,) * (len(inputs) - n)

    def ckpt_jvp(tangents, ans, *inputs, n):
        xs = inputs[:n]
        filled = tuple(t if t is not None else zeros_like(x) for t, x in zip(tangents, xs))
        return jvp(f, xs, filled)[1]

    op = _make_private_op(name, forward, ckpt_vjp, ckpt_jvp)

    @functools.wraps(f)
    def wrapped(*xs):
        xs = tuple(_as_tensor(x) for x in xs)
        captured = tuple(t for t in _closed_over_tensors(f) if all(t is not x for x in xs))
        return autodiff.bind(op, xs + captured, {"n": len(xs)})
    return wrapped


def _closed_over_tensors(f):
    """Tensors requiring grad that ``f`` reaches through its closure or its module."""
    from .nn import Module
    found, seen = [], set()
    owners = [getattr(f, "__self__", None)]
    owners += [c.cell_contents for c in (getattr(f, "__closure__", None) or ()) if _has_contents(c)]
    code, globs = getattr(f, "__code__", None), getattr(f, "__globals__", {})
    owners += [globs.get(name) for name in (code.co_names if code else ())]
    for obj in owners:
        items = obj.parameters() if isinstance(obj, Module) else [obj]
        for t in items:
            if type(t) is Tensor and t._node is not None and id(t) not in seen:
                seen.add(id(t))
                found.append(t)
    return found


def _has_contents(cell):
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def _recompute_eager(f, inputs, n, g):
    """Run f again, recording, from fresh leaves; cotangents for inputs and captured params."""
    from ._state import enable_grad
    from .tensor import make
    leaves = [make(x._data, x._backend).requires_grad_() if type(x) is Tensor and x.dtype.is_floating
              else x for x in inputs[:n]]
    with enable_grad():
        out = f(*leaves)
    if out._node is None:
        return (None,) * len(inputs)
    found = backprop(out._node, g if type(g) is Tensor else make(g, out._backend))
    # captured params arrive here as detached copies sharing their buffers: match by buffer
    by_data = {id(leaf.ref()._data): ct for leaf, ct in found.items()
               if leaf.ref is not None and leaf.ref() is not None}
    return tuple(by_data.get(id(x._data)) if type(x) is Tensor else None for x in leaves + list(inputs[n:]))


def _recompute_traced(f, inputs, n, g):
    """Cotangents for inputs and captured params that are themselves recorded (create_graph):
    f runs again under a reverse trace on the real inputs.  The params f closes over are
    traced too, by turning them into the trace's inputs for the duration of the call."""
    from .autodiff import LeafNode
    trace = VJPTrace()
    leaves = [trace.lift(x) if type(x) is Tensor and x.dtype.is_floating else x for x in inputs[:n]]
    captured = [x for x in inputs[n:] if type(x) is Tensor]
    saved = [(p._node, p._trace, p._primal) for p in captured]
    try:
        for p in captured:
            twin = make(p._data, p._backend, p._node)   # the param itself, one level down
            p._primal, p._trace, p._node = twin, trace, LeafNode()
        out = f(*leaves)
        nodes = [p._node for p in captured]
    finally:
        for p, (node, tr, primal) in zip(captured, saved):
            p._node, p._trace, p._primal = node, tr, primal
    _, node = _unbox(trace, out)
    if node is None:
        return (None,) * len(inputs)
    found = backprop(node, g if type(g) is Tensor else make(g, out._backend), retain_graph=True)
    cts = [found.get(x._node) if type(x) is Tensor and x._trace is trace else None for x in leaves]
    return tuple(cts) + tuple(found.get(nd) for nd in nodes)


def _make_private_op(name, forward, vjp_rule, jvp_rule):
    """An Op object not entered in the registry (checkpoint makes one per function)."""
    from .ops import registry
    saved = registry._registry.get(name)
    registry.register(name, forward, vjp=vjp_rule, jvp=jvp_rule, replace=True)
    op = registry._registry.pop(name)
    if saved is not None:
        registry._registry[name] = saved
    return op

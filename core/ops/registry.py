"""The op registry: every op is one entry holding its forward, VJP and JVP.

``register(name, forward, vjp=None, jvp=None, batch=None)``

forward
    A backend kernel name (``"exp"``: the fast path, see ``chainrule.backends.KERNELS``)
    or ``forward(*args, **params)``, called with concrete (untraced, unrecorded)
    tensors, computing with chainrule ops.  A forward decorated with
    ``@on_kernels`` is instead called as ``forward(kernels, *raw_args, **params)``
    with the backend's kernel namespace and raw arrays: no tensor is wrapped on
    the way, which is what a fused op like ``cross_entropy`` wants.  With no
    ``vjp`` and no ``jvp`` the op is a *composite*: forward is called on whatever
    it gets and differentiated through.
vjp
    Reverse mode.  Runs later than the forward, so it is curried: it first gets
    what it keeps, ``vjp(ans, *args, **params)``, and returns a function of the
    output cotangent ``g`` giving one cotangent per positional argument (None =
    zero).  Or a tuple with one such maker per argument, each returning a
    function of ``g`` giving that argument's cotangent: only the makers of
    arguments that need a gradient run (``matmul`` skips ``X^T g`` for data).
jvp
    Forward mode.  Runs at once, so it takes the tangents directly:
    ``jvp(tangents, ans, *args, **params)`` with one tangent per positional
    argument (None = zero) returns the output tangent.  Or a tuple of
    per-argument rules ``jvp_i(x_dot, ans, *args, **params)`` whose results are
    summed, or ``"linear"`` when the op is linear in its arguments (the JVP is
    the op applied to the tangents).

batch
    vmap (``cr.vmap``).  ``batch(dims, *args, **params)`` gets the arguments one level
    down, every batched one with its batch axis first, and ``dims``: per positional
    argument 0 (batched) or None (not batched); it returns the output with its batch
    axis first (a tuple of such for an op with several outputs).  An op without one is
    run once per example in a loop (a warning, once, names it).

view
    ``view=True`` says the output may share memory with the first argument (reshape,
    slicing, transposes, ``detach``): when the backend reports that it does, the two
    share one version counter, and an in-place change through either is seen by
    every rule that saved the other.  A view's VJP must read only shapes.
reads_inputs
    ``reads_inputs=False`` says the VJP reads only ``ans`` and shapes (``exp``: ``g * ans``),
    so an in-place change of an input after the op does not invalidate it (the output
    itself is kept safe by the engine); as torch, which then saves only the result.

Rules are written with chainrule ops, so a gradient of a gradient is just
more tracing.  Broadcasting is undone and dtypes restored once, by the engine,
not in each rule.  Cotangents ``g``, tangents ``x_dot``, output ``ans``.
"""
from ..backends import KERNELS
from .. import backends as _backends
from ..errors import RegistryError, ShapeError, DTypeError
from ..tensor import Tensor, make
from .. import autodiff

# Ops whose outputs never carry a gradient: comparisons, indices, rounding.
NON_DIFFERENTIABLE = (
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
    "logical_and", "logical_or", "logical_not", "isfinite", "isnan",
    "sign", "floor", "argmax", "argmin", "any", "all", "stop_gradient",
)


class Op:
    """A registry entry. ``fn`` is the public function that applies it."""

    __slots__ = ("name", "kernel", "kforward", "forward", "vjp", "vjps", "jvp", "jvps", "linear",
                 "differentiable", "raw_rules", "view", "batch", "reads_inputs", "provider", "fn", "composite", "__dict__")

    def __repr__(self):
        return f"<op {self.name} from {self.provider}>"

    # --- forward ---------------------------------------------------------
    def run(self, backend, args, params):
        """Compute on concrete tensors (and Python scalars); returns raw output."""
        try:
            if self.kernel is not None:
                return getattr(backend, self.kernel)(
                    *[a._data if type(a) is Tensor else a for a in args], **params)
            if self.kforward is not None:
                return self.kforward(backend, *[a._data if type(a) is Tensor else a for a in args],
                                     **params)
            out = self.forward(*[make(a._data, backend) if type(a) is Tensor else a
                                 for a in args], **params)
        except (NotImplementedError, RegistryError, ShapeError, DTypeError):
            raise
        except Exception as exc:
            raise explain(self, exc, args, params) from exc
        if type(out) is tuple:
            return tuple(o._data if type(o) is Tensor else o for o in out)
        return out

    def run_raw(self, backend, args, params):
        """Compute on raw backend arrays (inside a plain backward); returns raw output."""
        if self.kernel is not None:
            return getattr(backend, self.kernel)(*args, **params)
        if self.kforward is not None:
            return self.kforward(backend, *args, **params)
        wrapped = [a if type(a) in autodiff._PY_SCALARS or a is None else make(a, backend) for a in args]
        out = self.forward(*wrapped, **params)
        return out._data if type(out) is Tensor else out

    # --- rules -----------------------------------------------------------
    def call_vjp(self, parents, ans, args, params, g):
        """The cotangents of the arguments, as a tuple (backprop checks their count)."""
        if self.vjps is not None:
            return [None if p is None or maker is None else maker(ans, *args, **params)(g)
                    for p, maker in zip(parents, self.vjps)]
        if self.vjp is None:
            raise NotImplementedError(f"op {self.name!r} (from {self.provider}) has no VJP rule; "
                                      "register one with cr.ops.register(..., vjp=..., replace=True)")
        cts = self.vjp(ans, *args, **params)(g)
        return cts if type(cts) is tuple else (cts,)

    def call_jvp(self, tangents, ans, primals, params):
        if self.linear:
            filled = tuple(t if t is not None else
                           (_zeros_like(p) if type(p) is Tensor else p)
                           for t, p in zip(tangents, primals))
            return autodiff.bind(self, filled, params)
        if self.jvps is not None:
            out = None
            for t, rule in zip(tangents, self.jvps):
                if t is None or rule is None:
                    continue
                term = rule(t, ans, *primals, **params)
                if term is not None:
                    out = term if out is None else out + term
            return out
        if self.jvp is None:
            raise NotImplementedError(f"op {self.name!r} (from {self.provider}) has no JVP rule; "
                                      "register one with cr.ops.register(..., jvp=..., replace=True)")
        return self.jvp(tangents, ans, *primals, **params)


_registry = {}


def _zeros_like(x):
    return make(x._backend.zeros(x.shape, x._backend.dtype(x._data)), x._backend)


def on_kernels(forward):
    """Mark a forward as ``forward(kernels, *raw_args, **params)`` (see the module docstring)."""
    forward._on_kernels = True
    return forward


def register(name, forward, vjp=None, jvp=None, *, batch=None, differentiable=None, raw_rules=False,
             view=False, reads_inputs=True, replace=False, provider="chainrule", doc=None):
    """Register an op; returns its public function (see the module docstring).

    >>> import chainrule as cr
    >>> softplus = cr.ops.register(
    ...     "doc_softplus", lambda x: cr.log1p(cr.exp(x)),
    ...     vjp=lambda ans, x: lambda g: g * cr.nn.sigmoid(x),
    ...     jvp=lambda t, ans, x: t[0] * cr.nn.sigmoid(x))
    >>> float(cr.grad(lambda x: softplus(x))(cr.tensor(0.0)))
    0.5
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise RegistryError(f"op names must be identifiers, got {name!r}")
    if name in _registry and not replace:
        raise RegistryError(f"op {name!r} is already registered by {_registry[name].provider!r}; "
                            "pick another name, or pass replace=True to override it")
    if differentiable is None:
        differentiable = name not in NON_DIFFERENTIABLE
    op = Op()
    op.name, op.provider = name, provider
    op.differentiable, op.raw_rules, op.view = differentiable, raw_rules, view
    op.reads_inputs = reads_inputs and not view
    op.kforward = None
    if isinstance(forward, str):
        if forward not in KERNELS:
            raise RegistryError(f"op {name!r}: forward {forward!r} is not a kernel name; "
                                f"use one of chainrule.backends.KERNELS or pass a function")
        op.kernel, op.forward = forward, None
    elif callable(forward):
        op.kernel, op.forward = None, forward
        if getattr(forward, "_on_kernels", False):
            op.kforward = forward
    else:
        raise RegistryError(f"op {name!r}: forward must be a kernel name or a function, got {forward!r}")
    op.composite = (differentiable and vjp is None and jvp is None and op.kernel is None
                   and op.kforward is None)
    op.vjp = op.vjps = op.jvp = op.jvps = None
    if isinstance(vjp, (tuple, list)):
        op.vjps = tuple(vjp)
    elif vjp is not None:
        op.vjp = vjp
    if batch is not None and not callable(batch):
        raise RegistryError(f"op {name!r}: batch must be a callable, got {batch!r}")
    op.batch = batch
    op.linear = jvp == "linear"
    if isinstance(jvp, (tuple, list)):
        op.jvps = tuple(jvp)
    elif jvp is not None and not op.linear:
        op.jvp = jvp
    for rule in (op.vjp, op.jvp, *(op.vjps or ()), *(op.jvps or ())):
        if rule is not None and not callable(rule):
            raise RegistryError(f"op {name!r}: rules must be callables, got {rule!r}")
    if op.composite:
        fn = forward
    elif op.kernel is not None or op.kforward is not None:
        fn = _kernel_op_function(op)
    else:
        def fn(*args, **params):
            return autodiff.bind(op, args, params)
    fn.__name__ = name
    fn.__doc__ = doc or getattr(forward, "__doc__", None) or f"The {name} op."
    op.fn = fn
    _registry[name] = op
    return fn


def _kernel_op_function(op):
    """The public function of a kernel op.  The generic path is ``autodiff.bind``; inlined
    here are the cases that are most of a small model's time: one or two concrete
    tensors (recorded or not), and raw arrays (rules inside a plain backward)."""
    bind, raw_types, Node, state = autodiff.bind, _backends._raw_types, autodiff.Node, autodiff.state
    backend_of_raw = _backends.backend_of_raw
    kernel, kforward = op.kernel, op.kforward
    record = op.differentiable
    py_scalars = autodiff._PY_SCALARS
    fast = kernel is not None and not op.view   # a view's memory bookkeeping lives in bind
    no_params = {}

    def fn(*args, **params):
        if fast and not params and len(args) == 2:
            x, y = args
            if type(x) is Tensor and x._trace is None:
                b = x._backend
                if type(y) is Tensor:
                    if y._trace is not None or y._backend is not b:
                        return bind(op, args, params)
                    yd, ny = y._data, y._node
                elif type(y) in py_scalars:
                    yd, ny = y, None
                else:   # a NumPy array or scalar: bind makes it a tensor of x's backend
                    return bind(op, args, params)
                xd, nx = x._data, x._node
            elif type(y) is Tensor and y._trace is None and type(x) in py_scalars:
                b, xd, nx, yd, ny = y._backend, x, None, y._data, y._node
            elif type(x) is not Tensor and type(y) is not Tensor:   # raw arrays: a rule
                b = raw_types.get(type(x)) or raw_types.get(type(y))
                if b is None:   # a device-carrying type (torch), or Python scalars
                    return _untraced(args, params)
                return getattr(b, kernel)(x, y)
            else:
                return _untraced(args, params)
            try:
                out = getattr(b, kernel)(xd, yd)
            except Exception:
                return bind(op, args, params)   # re-raised with the op and operands named
            if (nx is not None or ny is not None) and record and state.grad_enabled:
                return make(out, b, Node(op, args, no_params, out, (nx, ny), autodiff._clock,
                                         None, [xd, yd]))
            return make(out, b)
        if fast and not params and len(args) == 1:
            x = args[0]
            if type(x) is not Tensor:                 # a raw array: a rule in backward
                b = raw_types.get(type(x))
                if b is not None:
                    return getattr(b, kernel)(x)
            elif x._trace is None:
                b = x._backend
                try:
                    out = getattr(b, kernel)(x._data)
                except Exception:
                    return bind(op, args, params)
                if x._node is not None and record and state.grad_enabled:
                    return make(out, b, Node(op, args, no_params, out, (x._node,), autodiff._clock,
                                             None, [x._data]))
                return make(out, b)
        return _untraced(args, params)

    def _untraced(args, params):
        for a in args:
            if type(a) is Tensor:
                return bind(op, args, params)
        for a in args:
            backend = raw_types.get(type(a)) or (
                None if type(a) in autodiff._PY_SCALARS or a is None else backend_of_raw(a))
            if backend is not None:
                break
        else:
            return bind(op, args, params)
        if kernel is not None:
            return getattr(backend, kernel)(*args, **params)
        return kforward(backend, *args, **params)
    return fn


def get(name):
    """The ``Op`` registered under ``name`` (looking into plugins when built-ins lack it)."""
    op = _registry.get(name)
    if op is None:
        from .. import plugins
        plugins.collect("ops")
        op = _registry.get(name)
    if op is None:
        from .. import plugins
        raise plugins.unknown_name("op", name, _registry)
    return op


def names():
    """Every registered op name, sorted (plugins included)."""
    from .. import plugins
    plugins.collect("ops")
    return sorted(_registry)


def explain(op, exc, args, params):
    """Turn a kernel's exception into one that names the op, the operands and the fix."""
    parts = []
    for a in args:
        if type(a) is Tensor:
            parts.append(f"{a.dtype}{list(a.shape)}")
        else:
            parts.append(type(a).__name__)
    operands = ", ".join(parts)
    text = str(exc)
    if "broadcast" in text or "shape" in text or "size" in text or "dimension" in text or "axis" in text:
        hint = ("shapes must broadcast (trailing axes equal or 1): reshape, expand_dims or "
                "transpose an operand" if op.name != "matmul" else
                "matmul needs x.shape[-1] == y.shape[-2]: transpose an operand")
        return ShapeError(f"{op.name}({operands}) failed: {text}; {hint}")
    if "dtype" in text or "type" in text or "cast" in text:
        return DTypeError(f"{op.name}({operands}) failed: {text}; cast operands with .astype(...)")
    return type(exc)(f"{op.name}({operands}): {text}") if _rebuildable(exc) else exc


def _rebuildable(exc):
    try:
        type(exc)("x")
        return True
    except Exception:
        return False

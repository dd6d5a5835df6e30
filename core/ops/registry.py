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
import numbers
import sys

from ..backends import KERNELS, backend_of_raw
from ..errors import (RegistryError, ShapeError, DTypeError, IndexingError, ArgumentError,
                      BackendError, kernel_failure)
from ..tensor import Tensor, make
from .. import autodiff, plugins
from ._hints import hinted, hinting

# Ops whose outputs never carry a gradient: comparisons, indices, rounding.
NON_DIFFERENTIABLE = (
    "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
    "logical_and", "logical_or", "logical_not", "isfinite", "isnan",
    "sign", "floor", "argmax", "argmin", "any", "all", "stop_gradient",
    "argsort",   # issue 13: sort's indices
    "ceil", "trunc", "round",   # issue 13: rounding
)


class Op:
    """A registry entry: what an op computes and its rules.  ``fn`` applies it (through
    ``autodiff.bind``); ``public`` is what users call (``cr.<name>``, or ``cr.nn.<name>``
    for namespace "nn"): ``fn`` itself, or a front that checks and normalizes arguments."""

    __slots__ = ("name", "kernel", "kforward", "forward", "vjp", "vjps", "jvp", "jvps", "linear",
                 "batch", "differentiable", "raw_rules", "view", "view_expected", "reads_inputs",
                 "composite", "provider", "namespace", "method", "public", "fn", "__dict__")

    def __repr__(self):
        return f"<op {self.name} from {self.provider}>"

    def call_jvp(self, tangents, ans, primals, params):
        """The one place a JVP rule runs (forward mode, ``JVPTrace``): the output tangent."""
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

    def explain(self, exc, args):
        """A kernel's exception as one that names the op, the operands and the fix."""
        operands = ", ".join(f"{a.dtype}{list(a.shape)}" if type(a) is Tensor else type(a).__name__
                             for a in args)
        text = str(exc)
        failed = f"{self.name}({operands}) failed: {text}"
        if isinstance(exc, TypeError) and "keyword argument" in text:   # hinted by the applier
            return ArgumentError(f"{failed}; see help(cr.{self.name}) for its keywords")
        odd = [type(a).__name__ for a in args if not _is_operand(a)]
        if isinstance(exc, (AttributeError, KeyError)) or (odd and isinstance(exc, TypeError)):
            # the kernel choked on a None or an object (a None bound of clip is fine: a
            # shape error with one present is still a shape error)
            return ArgumentError(f"{failed}; {self.name} takes tensors, arrays and numbers"
                                 + (f", not {', '.join(odd)}" if odd else ""))
        if "0-dimensional" in text or "array of dimension 0" in text:   # NumPy's words for a 0-d array
            if self.name == "getitem":
                return IndexingError(f"{failed}; a 0-d tensor has no axis to index: read its value "
                                     "with .item(), or reshape it to (1,) first")
            return ShapeError(f"{failed}; a 0-d tensor has no axes: call {self.name} without "
                              "axis=, or reshape it to 1-d first")
        if "zero-size" in text or "no identity" in text:
            return ShapeError(f"{failed}; {self.name} of an empty axis has no value (there is "
                              "nothing to take it of): check the shape, or reduce with sum")
        kind = kernel_failure(exc)
        if kind is IndexingError:
            return IndexingError(f"{failed}; an index must lie in [-n, n) for an axis of length n")
        if kind is ShapeError:
            hint = ("matmul needs x.shape[-1] == y.shape[-2]: transpose an operand"
                    if self.name == "matmul" else
                    "shapes must broadcast (trailing axes equal or 1): reshape, expand_dims or "
                    "transpose an operand")
            return ShapeError(f"{failed}; {hint}")
        if kind is DTypeError:
            return DTypeError(f"{failed}; cast operands with .astype(...)")
        if isinstance(exc, RuntimeError):   # torch's catch-all: the library's error, as it said it
            return BackendError(f"{failed}; the backend's kernel refused these operands")
        try:
            return type(exc)(f"{self.name}({operands}): {text}")
        except Exception:   # an exception type that takes other arguments: as it is
            return exc


_registry = {}


def _is_operand(a):
    """What an op computes on: a tensor, a number, a list of numbers, a backend's array."""
    return (type(a) is Tensor or isinstance(a, (numbers.Number, list, tuple))
            or backend_of_raw(a) is not None)


def _zeros_like(x):
    return make(x._backend.zeros(x.shape, x._backend.dtype(x._data)), x._backend)


def on_kernels(forward):
    """Mark a forward as ``forward(kernels, *raw_args, **params)`` (see the module docstring)."""
    forward._on_kernels = True
    return forward


def register(name, forward, vjp=None, jvp=None, *, batch=None, public=None, method=False,
             namespace="chainrule", differentiable=None, raw_rules=False, view=False,
             reads_inputs=True, replace=False, provider=None, doc=None):
    """Register an op; returns the function that applies it (see the module docstring).

    >>> import chainrule as cr
    >>> softplus = cr.ops.register(
    ...     "doc_softplus", lambda x: cr.log1p(cr.exp(x)),
    ...     vjp=lambda ans, x: lambda g: g * cr.nn.sigmoid(x),
    ...     jvp=lambda t, ans, x: t[0] * cr.nn.sigmoid(x))
    >>> float(cr.grad(lambda x: cr.doc_softplus(x))(cr.tensor(0.0)))
    0.5
    """
    if provider is None:   # whoever called register: the library, a plugin module, a user
        caller = sys._getframe(1).f_globals.get("__name__", "?")
        provider = "chainrule" if caller.split(".")[0] == "chainrule" else caller
    if not isinstance(name, str) or not name.isidentifier():
        raise RegistryError(f"op names must be identifiers, got {name!r}")
    earlier = _registry.get(name)
    if earlier is not None and not replace:
        raise RegistryError(f"op {name!r} is already registered by {earlier.provider!r}; "
                            "pick another name, or pass replace=True to override it")
    op = Op()
    op.name, op.provider, op.namespace, op.method = name, provider, namespace, method
    op.differentiable = name not in NON_DIFFERENTIABLE if differentiable is None else differentiable
    op.raw_rules, op.batch = raw_rules, batch
    op.view, op.view_expected = bool(view), view if callable(view) else None
    op.reads_inputs = reads_inputs and not view
    _set_forward(op, forward)
    _set_rules(op, vjp, jvp, batch)
    op.composite = (op.differentiable and vjp is None and jvp is None and op.kernel is None
                    and op.kforward is None)
    _check_method(op, earlier)  # before anything changes: a refused op replaces nothing
    if earlier is not None:     # replace in place: every reference to the op (cr.<name>,
        for slot in Op.__slots__[:-1]:   # the Tensor method, fronts calling it) follows
            if slot not in ("fn", "public"):
                setattr(earlier, slot, getattr(op, slot))
        if public is not None:
            earlier.public = public
        _install_method(earlier)
        return earlier.fn
    op.fn = _applier(op)
    op.fn.__name__ = op.fn.__qualname__ = name
    op.fn.__doc__ = doc or getattr(forward, "__doc__", None) or f"The {name} op."
    op.public = public or op.fn
    _install_method(op)
    _registry[name] = op
    return op.fn


def _install_method(op):
    """``method=True`` (or a method name): the op's public function becomes a Tensor method;
    never over an attribute Tensor has for another reason (``shape``, ``backward``...)."""
    if not op.method:
        return
    _check_method(op, _registry.get(op.name))
    setattr(Tensor, op.method if isinstance(op.method, str) else op.name, op.public)


def _check_method(op, earlier):
    """Refuse a method name that Tensor has for another reason (``earlier``: the op it replaces)."""
    if not op.method:
        return
    name = op.method if isinstance(op.method, str) else op.name
    current = getattr(Tensor, name, None)
    if current is not None and not (earlier is not None and current in (earlier.public, earlier.fn)):
        raise RegistryError(f"op {op.name!r}: Tensor already has an attribute {name!r}; register "
                            "it without method=True, or with method='<another name>'")


def _set_forward(op, forward):
    op.kernel = op.kforward = op.forward = None
    if isinstance(forward, str):
        if forward not in KERNELS:
            raise RegistryError(f"op {op.name!r}: forward {forward!r} is not a kernel name; "
                                "use one of chainrule.backends.KERNELS or pass a function")
        op.kernel = forward
    elif callable(forward):
        op.forward = forward
        if getattr(forward, "_on_kernels", False):
            op.kforward = forward
    else:
        raise RegistryError(f"op {op.name!r}: forward must be a kernel name or a function, "
                            f"got {forward!r}")


def _set_rules(op, vjp, jvp, batch):
    op.vjp = op.vjps = op.jvp = op.jvps = None
    if isinstance(vjp, (tuple, list)):
        op.vjps = tuple(vjp)
    elif vjp is not None:
        op.vjp = vjp
    op.linear = jvp == "linear"
    if isinstance(jvp, (tuple, list)):
        op.jvps = tuple(jvp)
    elif jvp is not None and not op.linear:
        op.jvp = jvp
    for rule in (op.vjp, op.jvp, batch, *(op.vjps or ()), *(op.jvps or ())):
        if rule is not None and not callable(rule):
            raise RegistryError(f"op {op.name!r}: rules must be callables, got {rule!r}")


def _applier(op):
    """The function that applies ``op``: ``autodiff.bind``, or for a composite (no rules
    of its own) its forward, called on whatever it gets and differentiated through."""
    bind = autodiff.bind

    def apply(*args, **params):
        try:    # free until something raises; then a torch habit (dim=) gets its hint
            if op.composite:
                return op.forward(*args, **params)
            return bind(op, args, params)
        except TypeError as exc:
            raise hinted(op.name, exc, params)
    return apply


def public(op_fn, method=False):
    """Decorator: the decorated front (checking and normalizing arguments, then calling
    ``op_fn``) is what ``cr.<name>`` calls; ``method=True`` also makes it a Tensor method."""
    op = get(op_fn.__name__)

    def attach(front):
        previous = op.public
        # users get the front with torch habits hinted (cr.sum(x, dim=0) names axis=); the
        # library's own calls keep the bare front, without the extra frame
        op.public, op.method = hinting(front, op.name), method or op.method
        if op.method and getattr(Tensor, op.name, None) in (previous, op.fn):
            setattr(Tensor, op.name, op.public)   # the method follows the op's public function
        elif op.method:
            _install_method(op)
        return front
    return attach


def exports(namespace):
    """``{name: public function}`` of the built-in ops in ``namespace`` ("chainrule", "nn")."""
    return {name: op.public for name, op in _registry.items() if op.namespace == namespace}


def _register_plugin_op(name, request):
    """Register the op a plugin's ``chainrule_ops`` asks for (a ``plugins.OpRequest``), with the
    plugin as provider.  Raising refuses it: the plugin is warned about, the earlier op stays."""
    earlier = _registry.get(name)
    if earlier is not None and not request.replace:
        raise RegistryError(f"op {name!r} is already registered by {earlier.provider!r}; a plugin "
                            "replaces it only when the user allows it; the first one is kept")
    options = {**request.options, "replace": request.replace}   # the user's choice, not the plugin's
    register(name, request.forward, request.vjp, request.jvp, provider=request.plugin, **options)


plugins.add_validator("ops", _register_plugin_op)


def get(name):
    """The ``Op`` registered under ``name`` (looking into plugins when built-ins lack it)."""
    op = _registry.get(name)
    if op is None:
        plugins.collect("ops")
        op = _registry.get(name)
    if op is None:
        raise plugins.unknown_name("op", name, _registry)
    return op


def names():
    """Every registered op name, sorted (plugins included)."""
    plugins.collect("ops")
    return sorted(_registry)

"""Anomaly mode: ``cr.detect_anomaly()`` names the first op that made a NaN or an inf.

Inside ``with cr.detect_anomaly():`` every op's result is checked, in this thread only:

* forward: an op whose output (or, under ``cr.jvp``, whose output tangent) holds NaN or
  inf while its inputs held none raises ``AnomalyError`` naming the op, where it was
  called, and its inputs' shapes, dtypes, min / max / mean and NaN / inf counts.  An op
  that only passes on a NaN it was given is not blamed: the error names the first.
* backward: a VJP rule that returns a NaN or inf cotangent from a finite incoming gradient
  and finite saved inputs raises ``AnomalyError`` naming the op, the argument, and the
  line where the op was called in the forward (recorded while anomaly mode is on).

As with ``torch.autograd.detect_anomaly``, the backward is checked only when it runs
inside the block too: put ``loss.backward()`` (or the ``cr.grad`` call) in it.  The check
is strict: an inf that a later ``cr.where`` masks out (``where(x > 0, log(x), 0)``) is
reported, since its gradient is NaN all the same (0 * inf); compute the masked branch on
a safe input (``log(where(x > 0, x, 1))``).  Outside the block nothing is checked and
nothing is recorded; inside, each op costs a finiteness test and a look at the stack.

>>> import chainrule as cr
>>> x = cr.tensor([1.0, 0.0])
>>> with cr.detect_anomaly():
...     cr.log(x)
Traceback (most recent call last):
...
chainrule.anomaly.AnomalyError: the forward of 'log' (from chainrule) produced -inf in its output ...
"""
import collections
import linecache
import math
import os
import sys
import threading

from . import autodiff
from . import backends as _backends
from .dtypes import FLOATING
from .errors import ChainruleError
from .tensor import Tensor, Node

# chainrule's own files (the package and its built-in plugins, as imported and as stored):
# a call site is the innermost frame outside them
_HERE = os.path.dirname(os.path.abspath(__file__))
_LIBRARY = tuple({os.path.join(d, "") for base in (_HERE, os.path.realpath(_HERE)) for d in (
    base, os.path.realpath(os.path.join(base, "builtin_backends")),
    os.path.realpath(os.path.join(base, "builtin_plugins")))})
_SITES_KEPT = 100_000   # call sites remembered for backward messages (oldest dropped first)
_FIX = ("fix: keep the op's input away from the point where it is undefined or overflows (add "
        "an epsilon, clip, subtract the max before exp, or compute a masked branch on a safe "
        "input with cr.where)")
_HUGE = 1e15   # inputs this large mean the values were already exploding upstream


class AnomalyError(ChainruleError, FloatingPointError):
    """An op made NaN or inf from finite values under ``cr.detect_anomaly()``.

    ``op`` is the op's name, ``phase`` "forward", "jvp" or "backward", ``argnum`` the
    argument whose gradient went bad (backward), ``where`` the call site as
    ``(filename, lineno, function)`` or None.  A FloatingPointError, as NumPy raises under
    ``np.errstate(all="raise")``.
    """

    def __init__(self, message, *, op=None, phase=None, argnum=None, where=None):
        super().__init__(message)
        self.op, self.phase, self.argnum, self.where = op, phase, argnum, where


class AnomalyMode(autodiff.Interceptor):
    """The interceptor behind ``cr.detect_anomaly()`` (one for the process; entering it is
    per thread and re-entrant)."""

    def __init__(self):
        super().__init__()
        self._sites = collections.OrderedDict()   # Node.seq -> call site of its forward
        self._lock = threading.Lock()

    def apply(self, op, args, params):
        out = autodiff.bind(op, args, params)
        if not _finite(out, tangents=False):
            self._forward_anomaly(op, args, params, out, "forward")
        elif not _finite(out, tangents=True):
            self._forward_anomaly(op, args, params, out, "jvp")
        self._remember(out)
        return out

    def check_cotangents(self, node, cotangents):
        bad = next((i for i, ct in enumerate(cotangents) if ct is not None and not _finite(ct)), None)
        if bad is None:
            return
        g = _incoming_gradient(sys._getframe(1))
        inputs = node.raw if node.raw is not None else node.args
        if not (_finite(g) and _finite(tuple(inputs)) and _finite(node.ans)):
            return   # a NaN or inf it was given, not one it made
        raise AnomalyError(_backward_message(node, bad, cotangents[bad], g, inputs,
                                             self._sites.get(node.seq)),
                           op=node.op.name, phase="backward", argnum=bad,
                           where=self._sites.get(node.seq))

    def _forward_anomaly(self, op, args, params, out, phase):
        if not _finite(tuple(args), tangents=phase == "jvp") or _in_backward():
            return   # not the first op to see it; or a rule's step: its cotangent is judged
        where = _call_site()
        raise AnomalyError(_forward_message(op, args, params, out, phase, where),
                           op=op.name, phase=phase, where=where)

    def _remember(self, out):
        """Keep where the node of ``out`` was made, for a later backward message."""
        node = out._node if type(out) is Tensor else None
        if type(node) is not Node:
            return
        site = _call_site()
        with self._lock:
            self._sites[node.seq] = site
            if len(self._sites) > _SITES_KEPT:
                self._sites.popitem(last=False)


_mode = AnomalyMode()


def detect_anomaly():
    """A context manager: inside it, the first op whose forward or backward makes NaN or inf
    from finite values raises ``AnomalyError`` naming it (see ``chainrule.anomaly``).
    Per thread; run the backward inside it too.

    >>> import chainrule as cr
    >>> x = cr.tensor([4.0, 0.0], requires_grad=True)
    >>> with cr.detect_anomaly():
    ...     cr.sum(cr.sqrt(x)).backward()
    Traceback (most recent call last):
    ...
    chainrule.anomaly.AnomalyError: the backward of 'sqrt' (from chainrule) produced inf in the gradient of argument 0 ...
    """
    return _mode


# ------------------------------------------------------------------ checks

def _finite(value, tangents=True):
    """Does ``value`` (a Tensor, raw array, number, None, or a tuple of them) hold no NaN or
    inf?  Tensors of a transform are read through to their concrete values, and, with
    ``tangents``, to the tangent ``cr.jvp`` carries with them."""
    if value is None or type(value) is bool or type(value) is int:
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is tuple or type(value) is list:
        return all(_finite(v, tangents) for v in value)
    if type(value) is Tensor:
        if tangents and value._trace is not None and value._tangent is not None:
            if not _finite(value._tangent):
                return False
        return _finite_raw(value._data, value._backend)
    return _finite_raw(value, _backends.backend_of_raw(value))


def _finite_raw(raw, backend):
    if backend is None or backend.dtype(raw) not in FLOATING:
        return True
    return bool(backend.all(backend.isfinite(raw), None, False))


def _in_backward():
    """Is a VJP rule running (``autodiff.cotangents`` on the stack)?  Only asked when an op
    made a NaN or inf, so the stack walk costs nothing in the common case."""
    code = autodiff.cotangents.__code__
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def _incoming_gradient(frame):
    """The output cotangent ``g`` that ``autodiff.cotangents`` (the caller of
    ``check_cotangents``) gave the rule, or None when called from elsewhere."""
    if frame.f_code is autodiff.cotangents.__code__:
        return frame.f_locals.get("g")
    return None


def _call_site():
    """(filename, lineno, function) of the innermost frame outside chainrule: the user's
    line that applied the op."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY):
        frame = frame.f_back
    if frame is None:
        return None
    return frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name


# ---------------------------------------------------------------- messages

def _forward_message(op, args, params, out, phase, where):
    what = "output tangent (cr.jvp)" if phase == "jvp" else "output"
    outs = out if type(out) is tuple else (out,)
    vals = [o._tangent if phase == "jvp" else o for o in outs]
    kinds = ", ".join(sorted({k for v in vals for k in _bad_kinds(v)}))
    lines = [f"the {phase} of {op.name!r} (from {op.provider}) produced {kinds} in its {what} "
             f"from finite inputs{_site_text(where)}"]
    lines += _describe_all("argument", args)
    if params:
        lines.append("  parameters: " + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    lines += [f"  {what}: {_describe(v)}" for v in vals]
    lines += _hints(kinds, vals, args)
    return "\n".join(lines)


def _backward_message(node, argnum, ct, g, inputs, where):
    op = node.op
    lines = [f"the backward of {op.name!r} (from {op.provider}) produced "
             f"{', '.join(_bad_kinds(ct))} in the gradient of argument {argnum} from a finite "
             f"incoming gradient and finite inputs{_site_text(where, 'forward called')}"]
    lines += _describe_all("argument", inputs)
    if node.params:
        lines.append("  parameters: " + ", ".join(f"{k}={v!r}" for k, v in node.params.items()))
    lines.append(f"  incoming gradient: {_describe(g)}")
    lines.append(f"  gradient of argument {argnum}: {_describe(ct)}")
    lines += _hints(", ".join(_bad_kinds(ct)), [ct], tuple(inputs) + (g,))
    return "\n".join(lines)


def _hints(kinds, outputs, inputs):
    """Where such a value comes from, what to check, and the usual fix."""
    lines = []
    if "nan" in kinds:
        lines.append("nan comes from an undefined operation: 0/0, inf - inf, 0 * inf, or log, sqrt "
                     "or a fractional power of a negative number")
    if "inf" in kinds:
        lines.append("inf comes from a pole (division by 0, log(0), the slope of sqrt at 0) or an "
                     "overflow (exp of a large number, a product beyond the dtype's largest value)")
    low = sorted({_raw(o)[1].dtype(_raw(o)[0]) for o in outputs if o is not None and not isinstance(
        o, (int, float))} & {"float16", "bfloat16"})
    if low:
        lines.append(f"in {low[0]} the largest finite value is {65504 if low[0] == 'float16' else 3.39e38:g}: "
                     "run this op in float32 (autocast keeps a float32 list) and scale the loss with "
                     "cr.amp.GradScaler")
    largest = max((_max_abs(v) for v in inputs), default=0.0)
    if largest >= _HUGE:
        lines.append(f"the inputs are already huge (largest |value| {largest:.3g}): values are exploding "
                     "upstream; lower the learning rate or clip gradients with "
                     "cr.optim.clip_grad_norm_(params, 1.0)")
    return lines + [_FIX]


def _max_abs(value):
    """The largest finite |entry| of ``value`` (0 for non-floating values and None)."""
    if value is None or isinstance(value, (bool, int, str)):
        return 0.0
    if type(value) is float:
        return abs(value) if math.isfinite(value) else 0.0
    raw, b = _raw(value)
    if b is None or b.dtype(raw) not in FLOATING or not _size(tuple(b.shape(raw))):
        return 0.0
    x = b.astype(raw, "float64")
    return b.item(b.max(b.abs(b.where(b.isfinite(x), x, 0.0)), None, False))


def _site_text(where, verb="called"):
    if where is None:
        return ""
    filename, lineno, function = where
    source = linecache.getline(filename, lineno).strip()
    return f"; {verb} at {filename}:{lineno} in {function}" + (f":\n    {source}" if source else "")


def _describe_all(label, values):
    return [f"  {label} {i}: {_describe(v)}" for i, v in enumerate(values)]


def _describe(value):
    """dtype[shape], min / max / mean of the finite entries, NaN and inf counts (computed
    with the backend's kernels: the core imports no NumPy)."""
    if value is None:
        return "None"
    if not isinstance(value, Tensor) and type(value) in (bool, int, float, complex):
        return f"{type(value).__name__} {value!r}"
    raw, b = _raw(value)
    if b is None:
        return type(value).__name__
    dtype, shape = b.dtype(raw), tuple(b.shape(raw))
    head = f"{dtype}{list(shape)}"
    if dtype not in FLOATING:
        return head
    x = b.astype(raw, "float64")
    finite = b.isfinite(x)
    n = _count(b, finite)
    stats = "no finite entries"
    if n:
        low = b.item(b.min(b.where(finite, x, math.inf), None, False))
        high = b.item(b.max(b.where(finite, x, -math.inf), None, False))
        mean = b.item(b.sum(b.where(finite, x, 0.0), None, False)) / n
        stats = f"min {low:.6g}, max {high:.6g}, mean {mean:.6g}"
    nan, pos, neg = _bad_counts(b, x)
    return f"{head}: {stats}; nan {nan}, +inf {pos}, -inf {neg} of {_size(shape)}"


def _bad_kinds(value):
    """Which of nan, inf, -inf ``value`` holds."""
    if type(value) is float:
        return ["nan"] if math.isnan(value) else ["inf" if value > 0 else "-inf"]
    raw, b = _raw(value)
    if b is None or b.dtype(raw) not in FLOATING:
        return []
    counts = _bad_counts(b, b.astype(raw, "float64"))
    return [name for name, c in zip(("nan", "inf", "-inf"), counts) if c]


def _raw(value):
    if isinstance(value, Tensor):
        return value._data, value._backend
    return value, _backends.backend_of_raw(value)


def _bad_counts(b, x):
    return (_count(b, b.isnan(x)), _count(b, b.equal(x, math.inf)), _count(b, b.equal(x, -math.inf)))


def _count(b, mask):
    return int(b.item(b.sum(b.astype(mask, "int64"), None, False)))


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n

"""The gradient checker, shipped in the library: any rule, built-in or a plugin's, can be checked.

* forward mode: the JVP along a random direction v against the central
  difference (f(x + eps v) - f(x - eps v)) / 2 eps;
* reverse mode: the VJP through <u, J v> = <J^T u, v> with random u, v, so no
  full Jacobian is ever built;
* order=2 checks the first derivatives' own derivatives the same way;
* plus torch's extra checks: backward returns each input's dtype and shape,
  is linear in its incoming gradient, and is reentrant (same answer twice).

Run it in float64: finite differences in float32 are too noisy for the tolerances.
"""
from . import ops
from .creation import asarray, zeros_like
from .errors import DTypeError, GradcheckError, HyperparameterError
from .tensor import Tensor
from .transforms import jvp, vjp
from . import random as _random


def _dot(a, b):
    return float(ops.sum(a * b).item())


def _rand_like(x):
    return _random.normal(x.shape, dtype=x.dtype, backend=x._backend)


def _name(f):
    return getattr(f, "__name__", repr(f))


def gradcheck(f, args, modes=("fwd", "rev"), order=1, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check f's derivatives at ``args``; True, or raise ``GradcheckError`` naming the
    argument, mode and largest error.

    >>> import chainrule as cr
    >>> x = cr.tensor([0.5, 1.5], dtype="float64")
    >>> cr.gradcheck(cr.tanh, (x,), order=2)
    True
    """
    args = tuple(asarray(a) if not isinstance(a, Tensor) else a for a in args)
    diff = [i for i, a in enumerate(args) if a.dtype.is_floating]
    _check_arguments(f, args, diff, modes, eps)
    _random.seed(seed)
    try:
        _check_first_order(f, args, diff, modes, eps, atol, rtol)
    except GradcheckError as e:
        raise _with_precision_hint(e, args, diff) from None
    if order >= 2:
        # the derivative along a fixed direction is itself a function: check it the same way
        directions = {i: _rand_like(args[i]) for i in diff}

        def directional(*xs):
            tangents = tuple(directions.get(i) for i in range(len(xs)))
            return jvp(f, xs, tangents)[1]
        directional.__name__ = f"d({_name(f)})"
        gradcheck(directional, args, modes, order - 1, eps, atol, rtol, seed + 1)
    return True


def _check_arguments(f, args, diff, modes, eps):
    """Refuse a check that could not check anything, or only noise."""
    for mode in modes:
        if mode not in ("fwd", "rev"):
            raise ValueError(f"modes must be 'fwd' and/or 'rev', got {mode!r}")
    if not diff:
        dtypes = ", ".join(str(a.dtype) for a in args) or "none"
        raise DTypeError(f"gradcheck: {_name(f)} has no floating-point argument to check (dtypes: "
                         f"{dtypes}); pass float64 tensors (x.astype('float64'))")
    if not (isinstance(eps, (int, float)) and eps > 0):
        raise HyperparameterError(f"gradcheck: eps must be a number > 0, got {eps!r}")


_PRECISION_HINT = "finite differences in {} are too noisy for these tolerances: run gradcheck on float64 inputs"


def _with_precision_hint(error, args, diff):
    """``error``, its message telling to use float64 when an argument checked is not float64."""
    low = sorted({str(args[i].dtype) for i in diff if str(args[i].dtype) != "float64"})
    if not low or "run gradcheck on float64" in str(error):
        return error
    which = ", ".join(f"argument {i} is {args[i].dtype}" for i in diff if str(args[i].dtype) != "float64")
    hint = _PRECISION_HINT.format(" and ".join(low))
    return GradcheckError(f"{error}; {which}: {hint} (x.astype('float64'))", op=error.op,
                          argnum=error.argnum, mode=error.mode, max_error=error.max_error)


def _perturbed(f, args, i, delta):
    shifted = list(args)
    shifted[i] = args[i] + delta
    return f(*shifted)


def _check_first_order(f, args, diff, modes, eps, atol, rtol):
    out = f(*args)
    if not isinstance(out, Tensor):
        raise GradcheckError(f"gradcheck: {_name(f)} must return a tensor, got {type(out).__name__}")
    for i in diff:
        x = args[i]
        v = _rand_like(x)
        numeric = (_perturbed(f, args, i, v * eps) - _perturbed(f, args, i, v * -eps)) / (2 * eps)
        if "fwd" in modes:
            _, analytic = jvp(f, args, _float_tangents(args, i, v))
            _compare(f, i, "fwd (JVP vs central differences)", analytic, numeric, atol, rtol)
        if "rev" in modes:
            u = _rand_like(out)
            # vjp differentiates every input it gets: give it the floating ones only
            k = diff.index(i)
            _, pullback = vjp(lambda *xs: f(*_with(args, diff, xs)), *[args[j] for j in diff])
            cts = pullback(u)
            ct = cts[k]
            if ct.dtype != x.dtype or ct.shape != x.shape:
                raise GradcheckError(
                    f"gradcheck: the VJP of {_name(f)} for argument {i} has dtype {ct.dtype} and "
                    f"shape {ct.shape}, but the argument has {x.dtype} {x.shape}",
                    op=_name(f), argnum=i, mode="rev")
            lhs, rhs = _dot(ct, v), _dot(u, numeric)
            _compare_scalar(f, i, "rev (<J^T u, v> vs <u, J v> by differences)", lhs, rhs, atol, rtol)
            twice = pullback(u * 2.0)[k]                       # linear in its incoming gradient
            _compare(f, i, "rev linearity (vjp(2u) vs 2 vjp(u))", twice, ct * 2.0, atol, rtol)
            again = pullback(u)[k]                             # reentrant
            _compare(f, i, "rev reentrancy (second call)", again, ct, atol, rtol)


def _with(args, positions, values):
    """args with the ones at ``positions`` replaced by ``values``."""
    full = list(args)
    for j, value in zip(positions, values):
        full[j] = value
    return full


def _float_tangents(args, i, v):
    return tuple(v if j == i else zeros_like(a) if a.dtype.is_floating else None
                 for j, a in enumerate(args))


def _compare(f, i, mode, analytic, numeric, atol, rtol):
    analytic, numeric = ops.stop_gradient(analytic), ops.stop_gradient(numeric)
    err = ops.abs(analytic - numeric)
    ok = analytic.shape == numeric.shape and bool(ops.all(err <= atol + rtol * ops.abs(numeric)).item())
    if not ok:
        worst = float(ops.max(err).item()) if err.size else float("nan")
        raise GradcheckError(
            f"gradcheck failed for {_name(f)}, argument {i}, mode {mode}: max abs error "
            f"{worst:.3g} (atol={atol}, rtol={rtol})", op=_name(f), argnum=i, mode=mode,
            max_error=worst)


def _compare_scalar(f, i, mode, a, b, atol, rtol):
    err = abs(a - b)
    if not err <= atol + rtol * abs(b):
        raise GradcheckError(
            f"gradcheck failed for {_name(f)}, argument {i}, mode {mode}: {a:.6g} vs {b:.6g} "
            f"(error {err:.3g}, atol={atol}, rtol={rtol})", op=_name(f), argnum=i, mode=mode,
            max_error=err)

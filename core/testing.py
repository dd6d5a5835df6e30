"""The conformance kit for backend authors: is your backend NumPy's twin?

One call checks every kernel of ``chainrule.backends.KERNELS`` against the NumPy
backend (shapes, dtypes, values, errors) on ordinary inputs and edge values
(empty arrays, 0-d arrays, broadcasting, NaN and inf, mixed dtypes), then runs
``cr.gradcheck`` through the backend, in forward and reverse mode, for a
representative set of ops::

    import chainrule.testing
    chainrule.testing.check_backend("mybackend")      # True, or AssertionError listing failures

In a pytest suite, one test per kernel case (so a failure names backend and kernel)::

    from chainrule.testing import parametrize_kernels, parametrize_gradchecks, run_case

    @parametrize_kernels(["mybackend"])
    def test_kernel(backend_name, case):
        run_case(backend_name, case)                   # pytest.skip for a dtype you lack

    @parametrize_gradchecks(["mybackend"])
    def test_gradients(backend_name, case):
        run_case(backend_name, case)

Random kernels are checked on their own (seeding, shape, dtype, range, moments):
different backends use different generators.  A dtype a backend refuses with a
``TypeError`` saying "no dtype ..." (CuPy has no bfloat16) skips the case.
"""
import dataclasses
import warnings
from typing import Any, Callable, Optional

import chainrule as cr
from .backends import KERNELS, load
from .nn.functional import _softmax_forward, _log_softmax_forward
from .optim import Scaled, add_step

__all__ = ["Case", "Skip", "check_backend", "gradcheck_cases", "kernel_cases",
           "parametrize_gradchecks", "parametrize_kernels", "run_case"]


class Skip(Exception):
    """The case needs something the backend declines (a dtype it lacks)."""


@dataclasses.dataclass(frozen=True)
class Case:
    """One check.  ``fn(k, *args)`` runs kernels of backend ``k`` on ``args`` (NumPy
    arrays and ``Typed`` values are converted to the backend first); its result is
    compared with the NumPy backend's.  ``own(k)`` instead checks the backend alone."""

    kernel: str
    label: str
    fn: Optional[Callable] = None
    args: tuple = ()
    compare: Optional[Callable] = None       # compare(expected, got) -> error text or None
    own: Optional[Callable] = None           # own(backend) -> error text or None
    rtol: Optional[float] = None

    @property
    def id(self):
        return f"{self.kernel}[{self.label}]"


@dataclasses.dataclass(frozen=True)
class Typed:
    """An input array converted with ``astype(asarray(values), dtype)``: for dtypes NumPy
    may lack (bfloat16)."""
    values: Any
    dtype: str


# ------------------------------------------------------------------ running

def _convert(k, a):
    import numpy as np
    if isinstance(a, Typed):
        try:
            return k.astype(k.asarray(np.asarray(a.values, dtype=np.float32), None), a.dtype)
        except TypeError as exc:
            if a.dtype in str(exc):
                raise Skip(f"backend {k.name!r} has no dtype {a.dtype}: {exc}") from exc
            raise
    if isinstance(a, np.ndarray):
        return k.asarray(a.copy(), None)   # kernels may write into it: never into the case's array
    if isinstance(a, tuple):
        return tuple(_convert(k, p) for p in a)
    if isinstance(a, list):
        return [_convert(k, p) for p in a]
    return a


def _plain(k, value):
    """A result as ("array", dtype name, NumPy copy) / ("tuple", ...) / the Python value."""
    import numpy as np
    if value is None or (isinstance(value, (bool, int, float, str)) and not hasattr(value, "dtype")):
        return value
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), np.array(value, copy=True))
    if isinstance(value, tuple) and not hasattr(value, "dtype"):
        if all(isinstance(v, int) for v in value):
            return ("shape", tuple(value))
        return ("tuple",) + tuple(_plain(k, v) for v in value)
    return ("array", k.dtype(value), np.array(k.to_numpy(value), copy=True))


def _evaluate(k, case):
    import numpy as np
    args = _convert(k, case.args)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _plain(k, case.fn(k, *args))


_TOL = {"float16": (1e-2, 1e-3), "bfloat16": (2e-2, 1e-2), "float32": (2e-5, 1e-6),
        "float64": (1e-10, 1e-12)}


def _same(expected, got, rtol=None):
    """Error text, or None when got matches expected (dtype, shape, values; nan == nan)."""
    import numpy as np
    if isinstance(expected, tuple) and expected and expected[0] == "array":
        if not (isinstance(got, tuple) and got and got[0] == "array"):
            return f"expected an array, got {got!r}"
        _, edt, ev = expected
        _, gdt, gv = got
        if edt != gdt:
            return f"dtype {gdt}, expected {edt}"
        if ev.shape != gv.shape:
            return f"shape {gv.shape}, expected {ev.shape}"
        if edt in _TOL:
            r, a = _TOL[edt]
            r = rtol or r
            ev64, gv64 = ev.astype(np.float64), gv.astype(np.float64)
            ok = np.isclose(gv64, ev64, rtol=r, atol=a, equal_nan=True) | \
                ((gv64 == ev64) & np.isinf(ev64))
            if not ok.all():
                bad = np.argwhere(~ok)[0]
                return (f"values differ at {tuple(int(i) for i in bad)}: {gv64[tuple(bad)]!r} vs "
                        f"expected {ev64[tuple(bad)]!r} (rtol={r}, atol={a})")
        elif not np.array_equal(ev, gv):
            return f"values {gv.tolist()!r}, expected {ev.tolist()!r}"
        return None
    if isinstance(expected, tuple) and expected and expected[0] == "tuple":
        if not (isinstance(got, tuple) and got and got[0] == "tuple") or len(got) != len(expected):
            return f"expected a tuple of {len(expected) - 1}, got {got!r}"
        for i, (e, g) in enumerate(zip(expected[1:], got[1:])):
            err = _same(e, g, rtol)
            if err:
                return f"item {i}: {err}"
        return None
    if isinstance(expected, float) and isinstance(got, (int, float)):
        return None if abs(expected - got) <= 1e-6 * max(1.0, abs(expected)) else f"{got!r}, expected {expected!r}"
    if expected != got or type(expected) is not type(got) and not isinstance(got, type(expected)):
        return f"{got!r}, expected {expected!r}"
    return None


def _check(name, case):
    """Error text for one case on backend ``name``, or None.  Raises Skip."""
    k = load(name)
    if case.own is not None:
        return case.own(k)
    ref = load("numpy")
    try:
        expected = _evaluate(ref, case)
    except Skip:
        raise
    except Exception as exc:
        expected = exc
    try:
        got = _evaluate(k, case)
    except Skip:
        raise
    except Exception as exc:
        if isinstance(expected, Exception):
            return None                      # both refuse: fine
        if isinstance(exc, TypeError) and "no dtype" in str(exc):
            raise Skip(f"backend {name!r} declines: {exc}") from exc
        return f"raised {type(exc).__name__}: {exc}"
    if isinstance(expected, Exception):
        return (f"NumPy raises {type(expected).__name__} ({expected}) but the backend returned "
                f"{got!r}; raise an error too")
    if case.compare is not None:
        return case.compare(expected, got)
    return _same(expected, got, case.rtol)


def run_case(name, case):
    """Run one case (a kernel ``Case`` or a ``GradCase``) on backend ``name``; raise
    AssertionError naming backend and kernel on a mismatch, ``pytest.skip`` when skipped."""
    try:
        err = case.run(name) if isinstance(case, GradCase) else _check(name, case)
    except Skip as exc:
        import pytest
        pytest.skip(str(exc))
    if err:
        raise AssertionError(f"backend {name!r}, kernel {case.kernel!r}, case {case.label}: {err}")


def check_backend(name, gradcheck=True, kernels=None):
    """Check every kernel of backend ``name`` against NumPy and (if ``gradcheck``) run
    gradcheck through it.  Returns a summary dict; raises AssertionError listing every
    failure (backend, kernel, case, what differs).

    >>> import chainrule.testing
    >>> chainrule.testing.check_backend("numpy")["failed"]
    0
    """
    cases = kernel_cases(kernels) + (gradcheck_cases() if gradcheck else [])
    failures, skipped = [], []
    for case in cases:
        try:
            err = case.run(name) if isinstance(case, GradCase) else _check(name, case)
        except Skip as exc:
            skipped.append(f"{case.id}: {exc}")
            continue
        except Exception as exc:  # a broken case must not hide the others
            err = f"raised {type(exc).__name__}: {exc}"
        if err:
            failures.append(f"backend {name!r}, kernel {case.kernel!r}, case {case.label}: {err}")
    if failures:
        raise AssertionError(f"{len(failures)} of {len(cases)} conformance checks failed:\n  "
                             + "\n  ".join(failures))
    return {"backend": name, "cases": len(cases), "failed": 0, "skipped": skipped}


def parametrize_kernels(backends, kernels=None):
    """``pytest.mark.parametrize("backend_name, case", ...)`` over backends x kernel cases."""
    import pytest
    cases = kernel_cases(kernels)
    return pytest.mark.parametrize(
        "backend_name, case", [(b, c) for b in backends for c in cases],
        ids=[f"{b}-{c.id}" for b in backends for c in cases])


def parametrize_gradchecks(backends):
    """``pytest.mark.parametrize("backend_name, case", ...)`` over backends x gradcheck cases."""
    import pytest
    cases = gradcheck_cases()
    return pytest.mark.parametrize(
        "backend_name, case", [(b, c) for b in backends for c in cases],
        ids=[f"{b}-{c.id}" for b in backends for c in cases])


# ----------------------------------------------------------------- the cases

def kernel_cases(kernels=None):
    """Every kernel case (``kernels``: only those kernels).  A kernel of KERNELS with no
    case gets a failing one, so a new kernel cannot slip past the kit."""
    cases = _kernel_cases()
    covered = {c.kernel for c in cases}
    for kernel in KERNELS:
        if kernel not in covered:
            cases.append(Case(kernel, "coverage", own=lambda k, kernel=kernel: (
                f"the conformance kit has no case for kernel {kernel!r}; add one to "
                "chainrule/testing.py")))
    if kernels is not None:
        cases = [c for c in cases if c.kernel in set(kernels)]
    return cases


def _kernel_cases():
    import numpy as np
    rng = np.random.default_rng(0)

    def a(*shape, dtype="float32", low=None):
        x = rng.standard_normal(shape)
        if low is not None:
            x = np.abs(x) + low
        return x.astype(dtype)

    nan, inf = float("nan"), float("inf")
    edge = np.array([nan, inf, -inf, 0.0, -0.0, 1.5, -2.0, 0.25])
    edge_y = np.array([1.0, inf, inf, 0.0, nan, 0.0, -2.0, 3.0])
    ints = np.array([3, -1, 0, 7, 2], dtype=np.int64)
    bools = np.array([True, False, True, False])
    cases = []

    def add(kernel, label, fn, *args, **kw):
        cases.append(Case(kernel, label, fn, args, **kw))

    # --- conversion and metadata
    add("asarray", "list float32", lambda k: k.asarray([[1.0, 2.0], [3.0, 4.5]], "float32"))
    add("asarray", "list int64", lambda k: k.asarray([1, 2, 3], "int64"))
    add("asarray", "float scalar float64", lambda k: k.asarray(2.5, "float64"))
    add("asarray", "numpy float64 keeps dtype", lambda k, x: k.asarray(k.to_numpy(x), None), a(2, 3, dtype="float64"))
    add("asarray", "numpy bool", lambda k: k.asarray(np.array([True, False]), None))
    add("asarray", "numpy 0-d", lambda k: k.asarray(np.float32(3.5), None))
    add("asarray", "numpy to float16", lambda k: k.asarray(np.arange(4.0), "float16"))
    add("asarray", "empty", lambda k: k.asarray(np.zeros((0, 3), np.float32), None))
    add("to_numpy", "values", lambda k, x: k.to_numpy(x), a(3, 4))
    add("to_numpy", "is ndarray", lambda k, x: type(k.to_numpy(x)).__name__, a(3))
    add("shape", "2-d", lambda k, x: k.shape(x), a(3, 4))
    add("shape", "0-d", lambda k, x: k.shape(x), np.float64(1.0) * np.ones(()))
    add("shape", "empty", lambda k, x: k.shape(x), a(0, 3))
    for dt in ("bool", "int8", "uint8", "int16", "int32", "int64", "float16", "float32", "float64"):
        add("dtype", dt, lambda k, x: k.dtype(x), np.zeros(2, dtype=dt))
    add("dtype", "bfloat16", lambda k, x: k.dtype(x), Typed([1.0, 2.0], "bfloat16"))
    add("astype", "float32 -> int32 truncates", lambda k, x: k.astype(x, "int32"), np.array([1.7, -1.7, 0.2], np.float32))
    add("astype", "float64 -> float16", lambda k, x: k.astype(x, "float16"), a(5, dtype="float64"))
    add("astype", "float -> bool", lambda k, x: k.astype(x, "bool"), np.array([0.0, 2.0, nan]))
    add("astype", "int -> float32", lambda k, x: k.astype(x, "float32"), ints)
    add("astype", "float32 -> bfloat16", lambda k, x: k.astype(x, "bfloat16"), a(4))
    add("astype", "same dtype", lambda k, x: k.astype(x, "float32"), a(2, 2))

    def copy_independent(k, x):
        y = k.copy(x)
        k.assign(y, 5.0)
        return x, y
    add("copy", "values", lambda k, x: k.copy(x), a(3, 2))
    add("copy", "is independent", copy_independent, a(3))
    add("shares_memory", "a slice of x", lambda k, x: k.shares_memory(k.getitem(x, (slice(1, 3),)), x), a(4))
    add("shares_memory", "a reshape of x", lambda k, x: k.shares_memory(k.reshape(x, (6,)), x), a(3, 2))
    add("shares_memory", "a copy of x", lambda k, x: k.shares_memory(k.copy(x), x), a(3))
    add("owns_memory", "a new array", lambda k, x: k.owns_memory(k.copy(x)), a(3))
    add("owns_memory", "a slice", lambda k, x: k.owns_memory(k.getitem(x, (slice(1, 3),))), a(4))
    add("owns_memory", "a transpose", lambda k, x: k.owns_memory(k.transpose(x, (1, 0))), a(3, 2))
    add("item", "0-d float", lambda k, x: k.item(x), np.array(2.5))
    add("item", "1-element int", lambda k, x: k.item(x), np.array([7]))
    add("item", "bool", lambda k, x: k.item(x), np.array(True))

    def mutated(kernel):
        def fn(k, x, *rest):
            getattr(k, kernel)(x, *rest)
            return x
        return fn
    add("assign", "broadcast row", mutated("assign"), a(3, 4), a(4))
    add("assign", "scalar", mutated("assign"), a(2, 2), 1.5)
    add("assign", "float64 into float32", mutated("assign"), a(3), a(3, dtype="float64"))
    for kernel in ("iadd", "isub", "imul", "idiv"):
        add(kernel, "same dtype", mutated(kernel), a(3, 4), a(3, 4, low=0.5))
        add(kernel, "broadcast", mutated(kernel), a(3, 4), a(4, low=0.5))
        add(kernel, "python float", mutated(kernel), a(3), 0.5)
        add(kernel, "0-d", mutated(kernel), np.array(2.0), np.array(4.0))
    add("iadd", "int", mutated("iadd"), ints.copy(), 2)
    # the fused step: the backend's own (when it has one) against x += alpha * y composed
    def stepped(k, x, y, alpha):
        add_step(k, x, Scaled(y, alpha))
        return x
    big = a(300, 300)   # above the NumPy backend's block size: added block by block
    add("iadd_scaled", "float32", stepped, a(3, 4), a(3, 4), -0.25)
    add("iadd_scaled", "float64 blocks", stepped, big.astype("float64"), a(300, 300, dtype="float64"), 1e-3)
    add("iadd_scaled", "float32 blocks", stepped, big, a(300, 300), -0.01)
    add("iadd_scaled", "float32 step into float16", stepped, a(5, dtype="float16"), a(5), 0.5)
    add("iadd_scaled", "strided", lambda k, x, y, alpha: stepped(k, k.transpose(x, (1, 0)), y, alpha),
        a(4, 3), a(3, 4), 2.0)
    add("idiv", "int refuses (true divide)", mutated("idiv"), ints.copy(), 2)

    # --- creation
    add("zeros", "2-d float32", lambda k: k.zeros((2, 3), "float32"))
    add("zeros", "0-d int64", lambda k: k.zeros((), "int64"))
    add("ones", "empty bool", lambda k: k.ones((0,), "bool"))
    add("ones", "float16", lambda k: k.ones((2, 2), "float16"))
    add("full", "float64", lambda k: k.full((2, 2), 1.5, "float64"))
    add("full", "int32", lambda k: k.full((3,), 7, "int32"))
    add("full", "nan", lambda k: k.full((2,), nan, "float32"))
    add("arange", "int64", lambda k: k.arange(0, 5, 1, "int64"))
    add("arange", "float32 step", lambda k: k.arange(0.0, 1.0, 0.25, "float32"))
    add("arange", "negative step", lambda k: k.arange(5, 0, -2, "int64"))
    add("arange", "empty", lambda k: k.arange(3, 3, 1, "float64"))
    add("eye", "rectangular", lambda k: k.eye(3, 4, "float32"))
    add("eye", "empty", lambda k: k.eye(0, 0, "float64"))

    # --- random: each backend its own generator; check the contract, not the numbers
    cases.extend(Case(kernel, label, own=check) for kernel, label, check in _random_checks())

    # --- elementwise
    unary = ["negative", "exp", "log", "log1p", "expm1", "sqrt", "abs", "sign", "sin", "cos",
             "tan", "tanh", "erf", "floor"]
    positive = ("log", "log1p", "sqrt")
    for kernel in unary:
        fn = (lambda kernel: lambda k, x: getattr(k, kernel)(x))(kernel)
        low = 0.1 if kernel in positive else None
        add(kernel, "float32 2-d", fn, a(3, 4, low=low))
        add(kernel, "float64 0-d", fn, np.array(0.75))
        add(kernel, "empty", fn, a(0, 3))
        add(kernel, "nan inf edges", fn, edge)
        add(kernel, "float16", fn, a(5, dtype="float16", low=low))
        add(kernel, "bfloat16", fn, Typed(np.abs(a(4)) + 0.5, "bfloat16"), rtol=3e-2)
        if kernel not in ("log", "log1p", "tan"):
            add(kernel, "int64 input", fn, np.abs(ints) if kernel == "sqrt" else ints)
    for kernel in ("isfinite", "isnan"):
        add(kernel, "edges", lambda k, x, kernel=kernel: getattr(k, kernel)(x), edge)
        add(kernel, "int", lambda k, x, kernel=kernel: getattr(k, kernel)(x), ints)
        add(kernel, "empty", lambda k, x, kernel=kernel: getattr(k, kernel)(x), a(0))
    add("logical_not", "bool", lambda k, x: k.logical_not(x), bools)
    add("logical_not", "float", lambda k, x: k.logical_not(x), edge)

    binary = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
              "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
              "logical_and", "logical_or"]
    for kernel in binary:
        fn = (lambda kernel: lambda k, x, y: getattr(k, kernel)(x, y))(kernel)
        low = 0.5 if kernel == "power" else None
        add(kernel, "float32 same shape", fn, a(3, 4, low=low), a(3, 4))
        add(kernel, "broadcast (3,1) x (1,4) float64", fn, a(3, 1, dtype="float64", low=low), a(1, 4, dtype="float64"))
        add(kernel, "0-d with 1-d", fn, np.array(1.5), a(3))
        add(kernel, "empty broadcast", fn, a(0, 3, low=low), a(3))
        add(kernel, "nan inf edges", fn, edge, edge_y)
        add(kernel, "python float right", fn, a(2, 3, low=low), 0.5)
        add(kernel, "python float left", fn, 2.0, a(2, 3, low=low))
        add(kernel, "python int right", fn, a(2, 3, low=low), 2)
        add(kernel, "float32 with float64", fn, a(4, low=low), a(4, dtype="float64"))
        add(kernel, "float32 with 0-d float64", fn, a(4, low=low), np.array(0.5))
        add(kernel, "int64 with float32", fn, np.abs(ints), a(5))
        add(kernel, "int64 with python float", fn, np.abs(ints), 0.5)
        add(kernel, "int64 same dtype", fn, np.abs(ints), np.array([1, 2, 3, 1, 2]))
        add(kernel, "int32 with int64", fn, np.abs(ints).astype(np.int32), np.array([1, 2, 3, 1, 2]))
        add(kernel, "float16", fn, a(4, dtype="float16", low=low), a(4, dtype="float16"))
        add(kernel, "bool", fn, bools, bools[::-1].copy())
    add("where", "broadcast with python scalar", lambda k, c, x, y: k.where(c, x, y),
        np.array([[True], [False], [True]]), a(1, 4), 0.0)
    add("where", "same shape", lambda k, c, x, y: k.where(c, x, y), bools, a(4), a(4))
    add("where", "mixed float32 float64", lambda k, c, x, y: k.where(c, x, y), bools, a(4), a(4, dtype="float64"))
    add("where", "scalar left", lambda k, c, x, y: k.where(c, x, y), bools, 1.0, a(4))
    add("where", "nan", lambda k, c, x, y: k.where(c, x, y), bools, edge[:4], edge_y[:4])
    add("where", "empty", lambda k, c, x, y: k.where(c, x, y), np.zeros(0, bool), a(0), a(0))
    add("where", "int condition", lambda k, c, x, y: k.where(c, x, y), ints, a(5), 0.0)
    add("clip", "both bounds", lambda k, x: k.clip(x, -0.5, 0.5), a(3, 4))
    add("clip", "upper only", lambda k, x: k.clip(x, None, 0.5), a(3, 4))
    add("clip", "lower only", lambda k, x: k.clip(x, -0.5, None), a(3, 4))
    add("clip", "keywords lo hi", lambda k, x: k.clip(x, lo=-0.5, hi=0.5), a(5))
    add("clip", "nan edges", lambda k, x: k.clip(x, -1.0, 1.0), edge)
    add("clip", "array bounds broadcast", lambda k, x, lo, hi: k.clip(x, lo, hi), a(3, 4), a(4) - 1, a(3, 1) + 1)
    add("clip", "int with int bounds", lambda k, x: k.clip(x, 0, 3), ints)
    add("clip", "empty", lambda k, x: k.clip(x, 0.0, 1.0), a(0, 2))

    # --- NumPy's elementwise names (issue 13)
    lows = {"arccosh": 1.0, "log2": 0.1, "log10": 0.1}        # inside the domain
    units = ("arcsin", "arccos", "arctanh")                    # |x| < 1
    for kernel in ("sinh", "cosh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh",
                   "exp2", "log2", "log10", "sinc", "erfc", "ceil", "trunc", "round", "nan_to_num"):
        fn = (lambda kernel: lambda k, x: getattr(k, kernel)(x))(kernel)
        low = lows.get(kernel)

        def inside(x, kernel=kernel):
            return np.tanh(x).astype(x.dtype) if kernel in units else x
        add(kernel, "float32 2-d", fn, inside(a(3, 4, low=low)))
        add(kernel, "float64 0-d", fn, np.array(0.75 + (low or 0.0)))
        add(kernel, "empty", fn, a(0, 3))
        add(kernel, "nan inf edges", fn, edge)
        add(kernel, "edges of the domains", fn, np.array([1.0, -1.0, 0.5, 2.5, -2.5, 1e300, -1e300]))
        add(kernel, "float16", fn, inside(a(5, dtype="float16", low=low)))
        add(kernel, "bfloat16", fn, Typed(np.tanh(a(4)) * 0.9 if kernel in units else np.abs(a(4)) + 1.0,
                                          "bfloat16"), rtol=3e-2)
        add(kernel, "int64 input", fn, np.abs(ints) + 1 if kernel == "arccosh" else ints)
        if kernel in ("ceil", "trunc", "nan_to_num"):   # bools stay bools (others give float16)
            add(kernel, "bool input", fn, bools)
    for decimals in (1, 2, -1, -2):
        add("round", f"decimals {decimals}", lambda k, x, d=decimals: k.round(x, d),
            np.array([1.25, 1.35, -2.5, 15.0, 25.0, 1234.5678, nan, inf]))
        add("round", f"float32 decimals {decimals}", lambda k, x, d=decimals: k.round(x, decimals=d), a(3, 4) * 100)
        add("round", f"int64 decimals {decimals}", lambda k, x, d=decimals: k.round(x, d),
            np.array([15, 25, -15, 1234, 0, 7], dtype=np.int64))
    for label, params in (("replacements", (5.0, 1e3, -1e3)), ("keywords", dict(nan=-1.0, neginf=-7.0)),
                          ("posinf only", dict(posinf=9.0))):
        pos, kw = (params, {}) if isinstance(params, tuple) else ((), params)
        for dt in ("float16", "float32", "float64"):
            add("nan_to_num", f"{label} {dt}", lambda k, x, p=pos, q=kw: k.nan_to_num(x, *p, **q),
                edge.astype(dt))
        add("nan_to_num", f"{label} bfloat16", lambda k, x, p=pos, q=kw: k.nan_to_num(x, *p, **q),
            Typed(edge, "bfloat16"))
    add("nan_to_num", "int64 copied", lambda k, x: k.nan_to_num(x, 1.0, 2.0, 3.0), ints)
    # remainder: Python's sign convention, signed zeros, int % 0 = 0
    signs = np.array([-3.5, 3.5, -3.5, 3.5, 0.0, -0.0, 7.0, -1e-20, 1e-20, 5.0, -1.0, 2.0])
    divisors = np.array([2.0, -2.0, -2.0, 2.0, -3.0, 3.0, 0.0, 1.0, -1.0, inf, inf, nan])
    # optional fused softmax kernels: the backend's own (when it has one) against the
    # composition of max, exp, sum and log that the NumPy backend runs
    for kernel, composed in (("softmax", _softmax_forward), ("log_softmax", _log_softmax_forward)):
        fn = (lambda composed: lambda k, x, axis: composed(k, x, axis))(composed)
        add(kernel, "float32 rows", fn, a(3, 4), 1)
        add(kernel, "float64 columns", fn, a(3, 4, dtype="float64"), 0)
        add(kernel, "3-d middle axis", fn, a(2, 3, 4), 1)
        add(kernel, "logits of +-1000", fn, np.array([[1000.0, -1000.0, 999.0], [0.0, 0.0, 0.0]]), 1)
        add(kernel, "-inf entries", fn, np.array([[-inf, 0.0, 1.0], [2.0, -inf, -inf]]), 1)
        add(kernel, "float16", fn, a(3, 4, dtype="float16"), 1)
    for kernel in ("arctan2", "hypot", "logaddexp", "logaddexp2", "remainder"):
        fn = (lambda kernel: lambda k, x, y: getattr(k, kernel)(x, y))(kernel)
        add(kernel, "float32 same shape", fn, a(3, 4), a(3, 4))
        add(kernel, "broadcast (3,1) x (1,4) float64", fn, a(3, 1, dtype="float64"), a(1, 4, dtype="float64"))
        add(kernel, "0-d with 1-d", fn, np.array(1.5), a(3))
        add(kernel, "empty broadcast", fn, a(0, 3), a(3))
        add(kernel, "nan inf edges", fn, edge, edge_y)
        add(kernel, "signs and zeros", fn, signs, divisors)
        add(kernel, "python float right", fn, a(2, 3), 0.5)
        add(kernel, "python float left", fn, 2.0, a(2, 3))
        add(kernel, "python int right", fn, a(2, 3), 2)
        add(kernel, "float32 with float64", fn, a(4), a(4, dtype="float64"))
        add(kernel, "float32 with 0-d float64", fn, a(4), np.array(0.5))
        add(kernel, "int64 with float32", fn, ints, a(5))
        add(kernel, "int64 same dtype", fn, ints, np.array([1, -2, 3, 1, 0]))
        add(kernel, "int32 with int64", fn, ints.astype(np.int32), np.array([1, 2, -3, 1, 2]))
        add(kernel, "float16", fn, a(4, dtype="float16"), a(4, dtype="float16"))
        add(kernel, "bfloat16", fn, Typed(a(4), "bfloat16"), Typed(a(4) + 3.0, "bfloat16"), rtol=3e-2)
        add(kernel, "bool", fn, bools, bools[::-1].copy())

    # --- reductions
    for kernel in ("sum", "prod", "max", "min", "any", "all"):
        fn = (lambda kernel: lambda k, x, *p: getattr(k, kernel)(x, *p))(kernel)
        x = a(2, 3, 4)
        add(kernel, "all axes", fn, x)
        add(kernel, "all axes keepdims", fn, x, None, True)
        add(kernel, "axis 1", fn, x, 1, False)
        add(kernel, "axis -1 keepdims", fn, x, -1, True)
        add(kernel, "axes (0, 2)", fn, x, (0, 2), False)
        add(kernel, "axes (0, 2) keepdims", fn, x, (0, 2), True)
        add(kernel, "keywords", lambda k, x, kernel=kernel: getattr(k, kernel)(x, axis=0, keepdims=True), a(3, 2))
        add(kernel, "0-d", fn, np.array(2.5))
        add(kernel, "nan inf", fn, edge)
        add(kernel, "int32", fn, np.abs(ints).astype(np.int32))
        add(kernel, "uint8 (sums and products in int64)", fn, np.array([[200, 100], [7, 1]], np.uint8), 0)
        add(kernel, "bool", fn, bools)
        add(kernel, "float16", fn, a(6, dtype="float16"))
        add(kernel, "empty axis 0", fn, a(0, 3), 0, False)
        add(kernel, "empty all axes", fn, a(0, 3))
    for kernel in ("argmax", "argmin"):
        fn = (lambda kernel: lambda k, x, *p: getattr(k, kernel)(x, *p))(kernel)
        add(kernel, "flat", fn, a(3, 4))
        add(kernel, "flat keepdims", fn, a(3, 4), None, True)
        add(kernel, "axis 1", fn, a(3, 4), 1)
        add(kernel, "axis 0 keepdims", fn, a(3, 4), 0, True)
        add(kernel, "ties take the first", fn, np.array([1.0, 3.0, 3.0, -1.0, -1.0]))
        add(kernel, "int", fn, ints)
        add(kernel, "bool", fn, np.array([[False, True, True], [False, False, False]]), 1)
        add(kernel, "empty", fn, a(0))

    # --- shape
    add("reshape", "-1", lambda k, x: k.reshape(x, (3, -1)), a(3, 4))
    add("reshape", "0-d to (1, 1)", lambda k, x: k.reshape(x, (1, 1)), np.array(3.0))
    add("reshape", "to 0-d", lambda k, x: k.reshape(x, ()), a(1))
    add("reshape", "empty", lambda k, x: k.reshape(x, (3, 0)), a(0, 3))
    add("reshape", "keyword", lambda k, x: k.reshape(x, shape=(4, 3)), a(3, 4))
    add("reshape", "bad size raises", lambda k, x: k.reshape(x, (5,)), a(3, 4))
    add("transpose", "3-d permutation", lambda k, x: k.transpose(x, (2, 0, 1)), a(2, 3, 4))
    add("transpose", "keyword", lambda k, x: k.transpose(x, axes=(1, 0)), a(2, 3))
    add("transpose", "0-d", lambda k, x: k.transpose(x, ()), np.array(1.0))
    add("broadcast_to", "(3,1) to (2,3,4)", lambda k, x: k.broadcast_to(x, (2, 3, 4)), a(3, 1))
    add("broadcast_to", "0-d", lambda k, x: k.broadcast_to(x, (2, 2)), np.array(1.5))
    add("broadcast_to", "to empty", lambda k, x: k.broadcast_to(x, (0, 3)), a(3))
    add("broadcast_to", "incompatible raises", lambda k, x: k.broadcast_to(x, (4,)), a(3))
    add("expand_dims", "0", lambda k, x: k.expand_dims(x, 0), a(3))
    add("expand_dims", "-1", lambda k, x: k.expand_dims(x, -1), a(2, 3))
    add("expand_dims", "0-d", lambda k, x: k.expand_dims(x, axis=0), np.array(1.0))
    add("squeeze", "all", lambda k, x: k.squeeze(x, None), a(1, 3, 1))
    add("squeeze", "axis", lambda k, x: k.squeeze(x, 0), a(1, 3, 1))
    add("squeeze", "tuple", lambda k, x: k.squeeze(x, (0, 2)), a(1, 3, 1))
    add("squeeze", "keyword", lambda k, x: k.squeeze(x, axis=(2,)), a(1, 3, 1))
    add("squeeze", "non-1 axis raises", lambda k, x: k.squeeze(x, 1), a(1, 3, 1))
    add("concat", "axis 0", lambda k, x, y: k.concat([x, y], 0), a(2, 3), a(1, 3))
    add("concat", "axis 1", lambda k, x, y: k.concat([x, y], 1), a(2, 3), a(2, 2))
    add("concat", "with empty", lambda k, x, y: k.concat([x, y], 0), a(0, 3), a(2, 3))
    add("concat", "mixed dtypes", lambda k, x, y: k.concat([x, y], 0), a(2), a(3, dtype="float64"))
    add("concat", "mismatch raises", lambda k, x, y: k.concat([x, y], 0), a(2, 3), a(2, 2))
    add("stack", "axis 0", lambda k, x, y: k.stack([x, y], 0), a(2, 3), a(2, 3))
    add("stack", "axis -1", lambda k, x, y: k.stack([x, y], -1), a(2, 3), a(2, 3))
    add("stack", "0-d", lambda k, x, y: k.stack([x, y], 0), np.array(1.0), np.array(2.0))

    # --- indexing
    x = a(4, 5)
    idx = np.array([3, 0, 3, -1])
    for label, index in [
            ("int", (1,)), ("int pair", (2, -1)), ("slice", (slice(1, 3),)),
            ("step slice", (slice(None, None, 2), slice(1, None))),
            ("negative step", (slice(None, None, -1),)), ("negative step 2", (slice(None), slice(4, 0, -2))),
            ("None", (None, slice(None), 1)), ("Ellipsis", (Ellipsis, 2)), ("empty tuple", ()),
            ("int array with repeats", (idx,)), ("int array on axis 1", (slice(None), idx)),
            ("two int arrays", (np.array([0, 1, 2, 3]), np.array([4, 0, 2, 2]))),
            ("int array 2-d", (np.array([[0, 1], [3, 3]]),)),
            ("bool mask", (np.array([True, False, True, True]),)),
            ("bool mask 2-d", (x > 0,)),
            ("empty int array", (np.zeros(0, np.int64),)),
            ("out of range raises", (7,))]:
        add("getitem", label, lambda k, x, index: k.getitem(x, index), x, index)
    add("getitem", "0-d array", lambda k, x: k.getitem(x, ()), np.array(3.0))
    add("getitem", "keyword", lambda k, x, index: k.getitem(x, index=index), x, (slice(1, 2),))

    def setitem(k, x, index, v):
        k.setitem(x, index, v)
        return x
    add("setitem", "scalar at int", setitem, a(3, 4), (1,), 0.0)
    add("setitem", "row broadcast into slice", setitem, a(3, 4), (slice(0, 2),), a(4))
    add("setitem", "int array", setitem, a(5), (np.array([0, 3]),), a(2))
    add("setitem", "bool mask", setitem, a(5), (np.array([True, False, True, False, False]),), -1.0)
    add("setitem", "int array on axis 1", setitem, a(3, 4), (slice(None), np.array([0, 2])), 9.0)

    def scatter(k, dst, index, v):
        k.scatter_add(dst, index, v)
        return dst
    add("scatter_add", "repeated indices add up", scatter, np.zeros(4, np.float32),
        (np.array([0, 2, 0, 0]),), np.array([1.0, 2.0, 3.0, 4.0], np.float32))
    add("scatter_add", "rows with repeats", scatter, np.zeros((3, 2)), (np.array([2, 2, 0]),), a(3, 2, dtype="float64"))
    add("scatter_add", "pairs (rows, labels)", scatter, np.zeros((3, 4), np.float32),
        (np.array([0, 1, 2, 0]), np.array([1, 1, 3, 1])), np.ones(4, np.float32))
    add("scatter_add", "slice then int array", scatter, np.zeros((2, 4), np.float32),
        (slice(None), np.array([1, 1, 3])), np.ones((2, 3), np.float32))
    add("scatter_add", "broadcast value", scatter, np.zeros(5), (np.array([1, 1, 4]),), 2.0)
    add("scatter_add", "bool mask", scatter, np.zeros(4), (np.array([True, False, True, False]),), np.array([1.0, 2.0]))
    add("scatter_add", "negative indices", scatter, np.zeros(4), (np.array([-1, 3, 0]),), np.array([1.0, 2.0, 5.0]))
    add("scatter_add", "empty index", scatter, np.zeros(3), (np.zeros(0, np.int64),), np.zeros(0))
    add("take", "axis 0", lambda k, x, i: k.take(x, i, 0), a(4, 3), idx)
    add("take", "axis 1", lambda k, x, i: k.take(x, i, axis=1), a(3, 5), idx)
    add("take", "2-d indices", lambda k, x, i: k.take(x, i, 0), a(4), np.array([[0, 1], [3, 3]]))
    add("take", "empty indices", lambda k, x, i: k.take(x, i, 0), a(4, 2), np.zeros(0, np.int64))
    # every integer dtype indexes as NumPy's (torch refuses int8/int16 and reads uint8 as a mask)
    for dt in ("int8", "uint8", "int16", "int32"):
        rows = np.array([2, 0, 2, 1], dtype=dt)
        add("getitem", f"{dt} index array", lambda k, x, i: k.getitem(x, (i,)), a(4, 3), rows)
        add("getitem", f"{dt} index pair", lambda k, x, i: k.getitem(x, (i, i)), a(4, 3), rows)
        add("setitem", f"{dt} index array", lambda k, x, i: (k.setitem(x, (i,), 7.0), x)[1], a(4, 3), rows)
        add("scatter_add", f"{dt} index array", lambda k, x, i, v: (k.scatter_add(x, (i,), v), x)[1],
            np.zeros((4, 3), np.float32), rows, a(4, 3))
        add("take", f"{dt} indices", lambda k, x, i: k.take(x, i, 0), a(4, 3), rows)
    add("take_along_axis", "labels", lambda k, x, i: k.take_along_axis(x, i, 1), a(3, 4), np.array([[1], [3], [0]]))
    add("take_along_axis", "axis 0", lambda k, x, i: k.take_along_axis(x, i, 0), a(3, 4), np.array([[2, 0, 1, 1]]))
    add("take_along_axis", "axis -1", lambda k, x, i: k.take_along_axis(x, i, -1), a(2, 3), np.array([[2, 2], [0, 1]]))
    for dt in ("int32", "uint8"):
        add("take_along_axis", f"{dt} indices", lambda k, x, i: k.take_along_axis(x, i, 1), a(3, 4),
            np.array([[1], [3], [0]], dtype=dt))
    ties = np.array([[2.0, -1.0, 2.0, nan, 0.5, -1.0], [0.0, 0.0, 1.0, -inf, inf, 0.0]])
    add("argsort", "ties stable, nan last", lambda k, x: k.argsort(x, 1, False), ties)
    add("argsort", "descending: ties stable, nan first", lambda k, x: k.argsort(x, 1, True), ties)
    add("argsort", "axis 0", lambda k, x: k.argsort(x, 0, False), a(4, 3))
    add("argsort", "int64 descending", lambda k, x: k.argsort(x, 0, True), ints)
    add("argsort", "empty axis", lambda k, x: k.argsort(x, 1, False), a(2, 0))

    # --- scans and einsum (issue 13)
    for kernel in ("cumsum", "cumprod"):
        fn = (lambda kernel: lambda k, x, axis: getattr(k, kernel)(x, axis))(kernel)
        add(kernel, "axis 0", fn, a(3, 4), 0)
        add(kernel, "axis 1 float64", fn, a(3, 4, dtype="float64"), 1)
        add(kernel, "1-d with zeros", fn, np.array([2.0, 0.0, -1.5, 0.0, 3.0]), 0)
        add(kernel, "nan inf", fn, edge, 0)
        add(kernel, "int32 accumulates in int64", fn, np.abs(ints).astype(np.int32), 0)
        add(kernel, "bool counts in int64", fn, bools, 0)
        add(kernel, "uint8 accumulates in int64", fn, np.array([200, 100, 7, 3], np.uint8), 0)
        add(kernel, "empty axis", fn, a(0, 3), 0)
        add(kernel, "keyword", lambda k, x, kernel=kernel: getattr(k, kernel)(x, axis=1), a(2, 3))
        add(kernel, "float16 accumulates in float32", fn,
            np.full(3000, 0.1 if kernel == "cumsum" else 1.001, np.float16), 0)
    for label, spec, shapes in [("matrix product", "ij,jk->ik", [(3, 4), (4, 2)]), ("trace", "ii->", [(3, 3)]),
                                ("diagonal", "ii->i", [(3, 3)]), ("transpose", "ij->ji", [(2, 3)]),
                                ("sum an axis", "ijk->ik", [(2, 3, 4)]), ("outer", "i,j->ij", [(2,), (3,)]),
                                ("three operands", "ab,bc,cd->da", [(2, 3), (3, 4), (4, 2)]),
                                ("batched", "bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]), ("0-d operand", ",i->i", [(), (3,)]),
                                ("empty contraction", "ij,jk->ik", [(2, 0), (0, 3)]), ("big (planned)", "ij,jk->ik", [(70, 70), (70, 3)])]:
        add("einsum", label, lambda k, spec, *xs: k.einsum(spec, *xs), spec, *[a(*sh) for sh in shapes], rtol=1e-4)
    add("einsum", "float32 with float64", lambda k, x, y: k.einsum("ij,j->i", x, y), a(2, 3), a(3, dtype="float64"))
    add("einsum", "int64", lambda k, x, y: k.einsum("i,i->", x, y), ints, ints)
    add("einsum", "bool (any of ands)", lambda k, x, y: k.einsum("ij,jk->ik", x, y),
        np.array([[True, False], [False, False]]), np.array([[True, True], [True, False]]))
    add("power", "int to a negative int power refuses", lambda k, x, y: k.power(x, y),
        np.array([2, 3], np.int64), np.array([1, -1], np.int64))
    add("power", "int to a negative python int refuses", lambda k, x: k.power(x, -2), np.array([2, 3], np.int32))

    def einsum_copies(k):
        x = k.asarray(np.arange(9.0).reshape(3, 3), "float64")
        outs = [k.einsum("ij->ji", x), k.einsum("ii->i", x)]
        k.assign(x, 0.0)
        if k.to_numpy(outs[0])[0, 1] != 3.0 or k.to_numpy(outs[1])[1] != 4.0:
            return "einsum returned a view of its operand; it must return a new array (copy it)"
        return None
    cases.append(Case("einsum", "a new array, not a view", own=einsum_copies))

    # --- linear algebra
    for label, (xs, ys) in [("2-d", ((3, 4), (4, 5))), ("vector @ matrix", ((4,), (4, 5))),
                            ("matrix @ vector", ((3, 4), (4,))), ("vector @ vector", ((4,), (4,))),
                            ("batched", ((2, 3, 4), (4, 5))), ("broadcast batch", ((2, 1, 3, 4), (5, 4, 2))),
                            ("empty", ((0, 4), (4, 2))), ("mismatch raises", ((3, 4), (3, 4)))]:
        add("matmul", label, lambda k, x, y: k.matmul(x, y), a(*xs), a(*ys))
    add("matmul", "float64", lambda k, x, y: k.matmul(x, y), a(3, 4, dtype="float64"), a(4, 2, dtype="float64"))
    add("matmul", "float32 @ float64", lambda k, x, y: k.matmul(x, y), a(3, 4), a(4, 2, dtype="float64"))
    add("matmul", "nan propagates", lambda k, x, y: k.matmul(x, y), np.array([[nan, 1.0]]), np.ones((2, 2)))
    sym = a(4, 4, dtype="float64")
    sym = sym + sym.T
    add("eigh", "symmetric 4x4", lambda k, x: k.eigh(x), sym, compare=_compare_eigh(sym))
    add("qr", "4x3", lambda k, x: k.qr(x), a(4, 3, dtype="float64"), compare=_compare_qr())
    # cr.linalg's kernels: well-conditioned inputs (diagonal 3 added), batches, float32 too
    square = a(2, 3, 3, dtype="float64") + 3 * np.eye(3)
    add("solve", "batched, matrix b", lambda k, x, y: k.solve(x, y), square, a(2, 3, 2, dtype="float64"))
    add("solve", "broadcast b", lambda k, x, y: k.solve(x, y), square, a(3, 1, dtype="float64"))
    add("solve", "float32", lambda k, x, y: k.solve(x, y), square.astype("float32"), a(3, 2))
    add("solve", "singular raises", lambda k, x, y: k.solve(x, y), np.ones((2, 2)), np.ones((2, 1)))
    add("inv", "batched", lambda k, x: k.inv(x), square)
    add("inv", "float32", lambda k, x: k.inv(x), square[0].astype("float32"))
    add("det", "batched", lambda k, x: k.det(x), square)
    add("det", "one matrix, 0-d result", lambda k, x: k.det(x), square[0])
    add("slogdet", "batched, negative det", lambda k, x: k.slogdet(x), -square)
    spd = square @ np.swapaxes(square, -1, -2)
    add("cholesky", "batched", lambda k, x: k.cholesky(x), spd)
    add("cholesky", "not positive definite raises", lambda k, x: k.cholesky(x), -spd[0])
    for full in (False, True):
        add("svd", f"4x3 full_matrices={full}", lambda k, x, f=full: k.svd(x, f), a(4, 3, dtype="float64"),
            compare=_compare_svd())
    real = np.array([[2.0, 1.0, 0.0], [0.5, 3.0, 0.0], [0.0, 0.0, -1.0]])
    add("eig", "real spectrum", lambda k, x: k.eig(x), real, compare=_compare_eig(real))
    add("eig", "complex spectrum raises", lambda k, x: k.eig(x), np.array([[0.0, -1.0], [1.0, 0.0]]))
    return cases


def _compare_svd():
    """U diag(S) Vh reproduces A, S descending, U and Vh orthonormal (signs may differ)."""
    import numpy as np

    def compare(expected, got):
        if not (isinstance(got, tuple) and got[0] == "tuple" and len(got) == 4):
            return f"expected (u, s, vh), got {got!r}"
        (_, _, u), (_, _, s), (_, _, vh) = got[1:]
        eu, es, evh = (e[2] for e in expected[1:])
        if (u.shape, s.shape, vh.shape) != (eu.shape, es.shape, evh.shape):
            return f"shapes {u.shape}, {s.shape}, {vh.shape}, expected {eu.shape}, {es.shape}, {evh.shape}"
        k = s.shape[-1]
        if not np.allclose(s, es, atol=1e-10) or not np.allclose(
                (u[:, :k] * s) @ vh[:k], (eu[:, :k] * es) @ evh[:k], atol=1e-10):
            return "U diag(S) Vh does not reproduce the input, or S differs"
        if not (np.allclose(u.T @ u, np.eye(u.shape[1]), atol=1e-10)
                and np.allclose(vh @ vh.T, np.eye(vh.shape[0]), atol=1e-10)):
            return "U or Vh is not orthonormal"
        return None
    return compare


def _compare_eig(matrix):
    import numpy as np

    def compare(expected, got):
        if not (isinstance(got, tuple) and got[0] == "tuple" and len(got) == 3):
            return f"expected (eigenvalues, eigenvectors), got {got!r}"
        (_, wd, w), (_, vd, v) = got[1], got[2]
        if wd != expected[1][1] or vd != expected[2][1]:
            return f"dtypes {wd}, {vd}: expected real {expected[1][1]} arrays"
        if not np.allclose(np.sort(w), np.sort(expected[1][2]), atol=1e-10):
            return f"eigenvalues {w.tolist()}, expected {expected[1][2].tolist()}"
        if not np.allclose(matrix @ v, v * w, atol=1e-8) or not np.allclose(np.linalg.norm(v, axis=0), 1.0):
            return "eigenvectors are not unit columns with A v = w v"
        return None
    return compare


def _compare_eigh(sym):
    import numpy as np

    def compare(expected, got):
        if not (isinstance(got, tuple) and got[0] == "tuple" and len(got) == 3):
            return f"expected (eigenvalues, eigenvectors), got {got!r}"
        err = _same(expected[1], got[1])
        if err:
            return f"eigenvalues: {err}"
        w, q = got[1][2], got[2][2]
        if not np.allclose(sym @ q, q * w, atol=1e-8):   # eigenvector signs may differ
            return "eigenvectors do not satisfy A q = w q"
        return None
    return compare


def _compare_qr():
    import numpy as np

    def compare(expected, got):
        if not (isinstance(got, tuple) and got[0] == "tuple" and len(got) == 3):
            return f"expected (q, r), got {got!r}"
        (_, qd, q), (_, rd, r) = got[1], got[2]
        eq, er = expected[1][2], expected[2][2]
        if (qd, rd) != (expected[1][1], expected[2][1]):
            return f"dtypes {qd}, {rd}, expected {expected[1][1]}, {expected[2][1]}"
        if q.shape != eq.shape or r.shape != er.shape:
            return f"shapes {q.shape}, {r.shape}, expected {eq.shape}, {er.shape} (reduced QR)"
        if not np.allclose(q @ r, eq @ er, atol=1e-10):
            return "q @ r does not reproduce the input"
        if not np.allclose(np.triu(r), r) or not np.allclose(q.T @ q, np.eye(q.shape[1]), atol=1e-10):
            return "r is not upper triangular or q is not orthonormal"
        return None
    return compare


def _random_checks():
    import numpy as np

    def seeded(k):
        out = []
        for _ in range(2):
            k.seed(1234)
            out.append((k.to_numpy(k.normal((5,), "float32")), k.to_numpy(k.uniform((3,), "float64")),
                        k.to_numpy(k.randint(0, 10, (4,))), k.to_numpy(k.permutation(6))))
        same = all(np.array_equal(x, y) for x, y in zip(*out))
        return None if same else "seed(n) twice does not give the same numbers"

    def normal(k):
        k.seed(0)
        x = k.normal((200, 100), "float32")
        if k.dtype(x) != "float32" or tuple(k.shape(x)) != (200, 100):
            return f"normal gave {k.dtype(x)} {tuple(k.shape(x))}, expected float32 (200, 100)"
        v = k.to_numpy(x).astype(np.float64)
        if abs(v.mean()) > 0.03 or abs(v.std() - 1) > 0.03:
            return f"normal samples have mean {v.mean():.3f} and std {v.std():.3f}, expected 0 and 1"
        for dt in ("float64", "float16"):
            try:
                got = k.dtype(k.normal((2, 2), dt))
            except TypeError as exc:
                if dt == "float16" and "no dtype" in str(exc):
                    continue                 # an optional dtype the backend declines
                raise
            if got != dt:
                return f"normal(..., {dt!r}) has dtype {k.dtype(k.normal((2, 2), dt))}"
        if tuple(k.shape(k.normal((), "float32"))) != ():
            return "normal(()) is not 0-d"
        return None

    def uniform(k):
        k.seed(0)
        v = k.to_numpy(k.uniform((20000,), "float64"))
        if v.dtype != np.float64 or v.min() < 0 or v.max() >= 1 or abs(v.mean() - 0.5) > 0.01:
            return f"uniform samples: dtype {v.dtype}, range [{v.min()}, {v.max()}], mean {v.mean():.3f}"
        if k.dtype(k.uniform((0, 2), "float32")) != "float32":
            return "uniform(..., 'float32') has the wrong dtype"
        return None

    def randint(k):
        k.seed(0)
        x = k.randint(-3, 4, (5000,))
        v = k.to_numpy(x)
        if k.dtype(x) != "int64" or v.min() != -3 or v.max() != 3:
            return f"randint(-3, 4): dtype {k.dtype(x)}, range [{v.min()}, {v.max()}]"
        return None

    def permutation(k):
        k.seed(0)
        x = k.permutation(50)
        v = k.to_numpy(x)
        if k.dtype(x) != "int64" or sorted(v.tolist()) != list(range(50)):
            return f"permutation(50) is not a permutation of range(50): {v.tolist()}"
        if v.tolist() == list(range(50)):
            return "permutation(50) returned the identity"
        return None

    def snapshot(k):
        if "rng_state" in k.missing or "set_rng_state" in k.missing:
            raise Skip(f"backend {k.name!r} has no rng_state/set_rng_state (optional: without "
                       "them cr.checkpoint refuses functions computed on it)")
        k.seed(0)
        k.uniform((2,), "float32")
        state = k.rng_state()
        first = k.to_numpy(k.uniform((4,), "float64"))
        if k.rng_state() == state:
            return "rng_state() did not change after a draw"
        k.set_rng_state(state)
        if not np.array_equal(k.to_numpy(k.uniform((4,), "float64")), first):
            return "set_rng_state(rng_state()) does not replay the same draws"
        return None

    return [("rng_state", "replays", snapshot), ("set_rng_state", "replays", snapshot),
            ("seed", "reproducible", seeded), ("normal", "moments dtype shape", normal),
            ("uniform", "range and mean", uniform), ("randint", "range and dtype", randint),
            ("permutation", "is a permutation", permutation)]


# ------------------------------------------------------------ gradient checks

@dataclasses.dataclass(frozen=True)
class GradCase:
    """``cr.gradcheck(f, args)`` through a backend, in forward and reverse mode."""

    kernel: str           # the op checked (named like kernels, for messages)
    label: str
    f: Callable
    shapes: tuple
    positive: bool = False
    order: int = 1
    int_args: tuple = ()

    @property
    def id(self):
        return f"{self.kernel}[{self.label}]"

    def run(self, name):
        import numpy as np
        rng = np.random.default_rng(1)
        args = []
        for shape in self.shapes:
            x = rng.standard_normal(shape)
            args.append(cr.tensor(np.abs(x) + 0.5 if self.positive else x, dtype="float64", backend=name))
        args += [cr.tensor(np.asarray(v), backend=name) for v in self.int_args]
        with cr.use_backend(name):
            out = self.f(*args)
            if out.backend != load(name).name:
                return f"the result lives on backend {out.backend!r}, not {name!r}"
            try:
                cr.gradcheck(self.f, tuple(args), modes=("fwd", "rev"), order=self.order)
            except cr.GradcheckError as exc:
                return f"gradcheck: {exc}"
            return self._eager(args)

    def _eager(self, args):
        """loss.backward() runs the rules on raw backend arrays (their operators too):
        it must agree with the transform's VJP."""
        import numpy as np
        leaves = [cr.tensor(a.numpy(), backend=a._backend, requires_grad=a.dtype.is_floating)
                  for a in args]
        out = self.f(*leaves)
        u = cr.random.normal(out.shape, dtype=out.dtype)
        try:
            cr.sum(out * u).backward()
        except Exception as exc:
            return f"loss.backward() raised {type(exc).__name__}: {exc}"
        n = len(self.shapes)   # the floating arguments; the int_args follow, not differentiated
        _, pullback = cr.vjp(lambda *xs: self.f(*xs, *args[n:]), *args[:n])
        for i, (leaf, ct) in enumerate(zip(leaves, pullback(u))):
            if leaf.requires_grad and not np.allclose(leaf.grad.numpy(), ct.numpy(), rtol=1e-8, atol=1e-10):
                return f"loss.backward() gradient of argument {i} differs from cr.vjp's"
        return None


def gradcheck_cases():
    """Representative ops, gradchecked in float64 through the backend (both modes)."""
    nn = cr.nn
    G = GradCase
    return [
        G("add", "broadcast", lambda x, y: x + y, ((3, 1), (4,))),
        G("multiply", "broadcast", lambda x, y: x * y, ((2, 3), (3,))),
        G("divide", "", lambda x, y: x / y, ((3,), (3,)), positive=True),
        G("power", "", lambda x, y: x ** y, ((3,), (3,)), positive=True),
        G("exp", "second order", cr.exp, ((4,),), order=2),
        G("log", "", cr.log, ((4,),), positive=True),
        G("tanh", "second order", cr.tanh, ((2, 3),), order=2),
        G("sqrt", "", cr.sqrt, ((3,),), positive=True),
        G("sin", "", cr.sin, ((3,),)),
        G("maximum", "", lambda x, y: cr.maximum(x, y), ((5,), (5,))),
        G("where", "", lambda x: cr.where(x > 0, x * x, -x), ((6,),)),
        G("clip", "", lambda x: cr.clip(x * 3, -1.0, 1.0), ((6,),)),
        G("sum", "axis", lambda x: cr.sum(x, axis=1), ((3, 4),)),
        G("max", "axis keepdims", lambda x: cr.max(x, axis=0, keepdims=True), ((3, 4),)),
        G("prod", "", lambda x: cr.prod(x, axis=1), ((2, 3),), positive=True),
        G("matmul", "", lambda x, y: x @ y, ((3, 4), (4, 2))),
        G("matmul", "vector", lambda x, y: x @ y, ((4,), (4, 2))),
        G("reshape", "transpose", lambda x: cr.transpose(cr.reshape(x, (3, 2))), ((2, 3),)),
        G("broadcast_to", "", lambda x: cr.broadcast_to(x, (2, 3)), ((3,),)),
        G("concat", "", lambda x, y: cr.concat([x, y * 2.0], axis=1), ((2, 3), (2, 2))),
        G("stack", "", lambda x, y: cr.stack([x, y * 2.0], axis=-1), ((2,), (2,))),
        G("getitem", "int array with repeats", lambda x, i: x[i], ((4, 3),), int_args=([0, 2, 0],)),
        G("getitem", "slices", lambda x: x[1:, ::2], ((3, 4),)),
        G("take_along_axis", "cross_entropy", _cross_entropy, ((4, 3),)),
        G("exp", "softmax", lambda x: nn.softmax(x, axis=-1), ((2, 3),)),
        G("log", "log_softmax", lambda x: nn.log_softmax(x, axis=-1), ((2, 3),)),
        G("erf", "gelu", lambda x: nn.gelu(x), ((5,),)),
        G("maximum", "relu", lambda x: nn.relu(x), ((6,),)),
        G("matmul", "mlp layer", lambda x, w, b: nn.relu(x @ w + b), ((4, 3), (3, 2), (2,))),
        G("mean", "layer_norm", lambda x: nn.layer_norm(x), ((2, 4),)),
        # sliding windows: strided getitem/setitem, full, stack (unfold) and fold's scatter-add
        G("setitem", "conv2d", lambda x, w: nn.conv2d(x, w, stride=2, padding=1), ((1, 2, 4, 3), (3, 2, 2, 2))),
        G("argmax", "max_pool2d", lambda x: nn.max_pool2d(x, 2, 1, 1), ((1, 2, 3, 3),)),
    ]


def _cross_entropy(logits):
    labels = cr.tensor([0, 2, 1, 2], backend=logits._backend)
    return cr.nn.cross_entropy(logits, labels)

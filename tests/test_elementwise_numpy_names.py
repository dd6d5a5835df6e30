"""NumPy's elementwise functions (issue 13): square, reciprocal, the hyperbolic and inverse
trigonometric functions, arctan2, hypot, exp2, log2, log10, logaddexp(2), sinc, the angle
conversions, fmax/fmin, mod/remainder and ``%``, the rounding functions, nan_to_num, erfc.

Values against NumPy (dtypes, NaN/inf edges) on every backend; values, VJPs (cr.vjp and eager
backward) and JVPs against torch (autograd, torch.func.jvp) in float64 and float32; cr.gradcheck
in both modes to order 2; cr.vmap against torch.func.vmap; torch's numbers at the edge points
(arcsin at +-1, hypot and arctan2 at (0, 0), sinc at 0); bad inputs raise chainrule errors.
"""
import math
import sys
from typing import Callable, NamedTuple

import numpy as np
import pytest

import chainrule as cr
from torch_oracle import check_against_torch, close
from chainrule.errors import ArgumentError, DTypeError, ShapeError
from backend_fixtures import backend   # noqa: F401  (a pytest fixture)
from conftest import F64

torch = pytest.importorskip("torch", reason="torch is the oracle for VJPs and JVPs")

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")   # NumPy warns at the edges

DOMAINS = {
    "any": lambda rng, s: rng.standard_normal(s),
    "unit": lambda rng, s: rng.uniform(-0.9, 0.9, s),                  # arcsin, arccos, arctanh
    "positive": lambda rng, s: rng.uniform(0.5, 2.0, s),
    "above1": lambda rng, s: rng.uniform(1.2, 3.0, s),                 # arccosh
    "nonzero": lambda rng, s: rng.choice([-1.0, 1.0], s) * rng.uniform(0.3, 2.0, s),
}


def draw(shape, domain="any", seed=0):
    return np.asarray(DOMAINS[domain](np.random.default_rng(500 + seed), shape), dtype=np.float64)


class Case(NamedTuple):
    id: str
    ours: Callable
    theirs: Callable
    domains: tuple = ("any",)
    shapes: tuple = ((3, 4),)


BINARY = ((3, 1), (4,))   # broadcasting both ways
CASES = [
    Case("square", cr.square, torch.square),
    Case("reciprocal", cr.reciprocal, torch.reciprocal, ("nonzero",)),
    Case("sinh", cr.sinh, torch.sinh),
    Case("cosh", cr.cosh, torch.cosh),
    Case("arcsin", cr.arcsin, torch.asin, ("unit",)),
    Case("arccos", cr.arccos, torch.acos, ("unit",)),
    Case("arctan", cr.arctan, torch.atan),
    Case("arcsinh", cr.arcsinh, torch.asinh),
    Case("arccosh", cr.arccosh, torch.acosh, ("above1",)),
    Case("arctanh", cr.arctanh, torch.atanh, ("unit",)),
    Case("exp2", cr.exp2, torch.exp2),
    Case("log2", cr.log2, torch.log2, ("positive",)),
    Case("log10", cr.log10, torch.log10, ("positive",)),
    Case("sinc", cr.sinc, torch.sinc),
    Case("deg2rad", cr.deg2rad, torch.deg2rad),
    Case("radians", cr.radians, torch.deg2rad),
    Case("rad2deg", cr.rad2deg, torch.rad2deg),
    Case("degrees", cr.degrees, torch.rad2deg),
    Case("erfc", cr.erfc, torch.erfc),
    Case("nan_to_num", lambda x: cr.nan_to_num(x, posinf=3.0), lambda x: torch.nan_to_num(x, posinf=3.0)),
    Case("arctan2", cr.arctan2, torch.atan2, ("any", "any"), BINARY),
    Case("hypot", cr.hypot, torch.hypot, ("any", "any"), BINARY),
    Case("logaddexp", cr.logaddexp, torch.logaddexp, ("any", "any"), BINARY),
    Case("logaddexp2", cr.logaddexp2, torch.logaddexp2, ("any", "any"), BINARY),
    Case("remainder", cr.remainder, torch.remainder, ("any", "nonzero"), BINARY),
    Case("mod", cr.mod, torch.remainder, ("any", "nonzero"), ((2, 3), (2, 3))),
    Case("mod_operator", lambda x, y: x % y, lambda x, y: x % y, ("any", "nonzero"), BINARY),
    Case("rmod_operator", lambda y: 2.5 % y, lambda y: torch.remainder(torch.tensor(2.5, dtype=y.dtype), y),
         ("nonzero",)),
    Case("fmax", cr.fmax, torch.fmax, ("any", "any"), BINARY),
    Case("fmin", cr.fmin, torch.fmin, ("any", "any"), BINARY),
    Case("fmax_scalar", lambda x: cr.fmax(x, 0.1), lambda x: torch.fmax(x, torch.tensor(0.1, dtype=x.dtype))),
    Case("arctan2_scalar_left", lambda x: cr.arctan2(0.5, x), lambda x: torch.atan2(torch.tensor(0.5, dtype=x.dtype), x)),
]


def _inputs(case, dtype=np.float64):
    return [draw(s, d, seed=i).astype(dtype) for i, (s, d) in enumerate(zip(case.shapes, case.domains))]


# ------------------------------------------------------------ VJPs and JVPs vs torch

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_values_vjp_and_jvp_match_torch(case, dtype, backend):
    xs = _inputs(case, np.dtype(dtype))
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-6)
    check_against_torch(case.ours, case.theirs, xs, dtype, **tol)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradcheck_both_modes_order_2(case):
    xs = [cr.tensor(x, dtype=F64) for x in _inputs(case)]
    assert cr.gradcheck(case.ours, xs, modes=("fwd", "rev"), order=2) is True


@pytest.mark.parametrize("shapes", [((), ()), ((2, 1, 3), (4, 1)), ((5,), ())], ids=str)
@pytest.mark.parametrize("name", ["arctan2", "hypot", "logaddexp", "logaddexp2", "remainder", "fmin"])
def test_gradcheck_binary_shape_sweep(name, shapes):
    domains = ("any", "nonzero") if name == "remainder" else ("any", "any")
    xs = [cr.tensor(draw(s, d, seed=7 + i), dtype=F64) for i, (s, d) in enumerate(zip(shapes, domains))]
    assert cr.gradcheck(getattr(cr, name), xs, modes=("fwd", "rev"), order=2) is True


def test_gradcheck_on_the_torch_backend():
    with cr.use_backend("torch"):
        for fn, domain in ((cr.arcsin, "unit"), (cr.sinc, "any"), (cr.log10, "positive")):
            x = cr.tensor(draw((4,), domain, 3), dtype=F64)
            assert cr.gradcheck(fn, [x], modes=("fwd", "rev"), order=2) is True
        xs = [cr.tensor(draw((3,), d, 4 + i), dtype=F64) for i, d in enumerate(("any", "nonzero"))]
        assert cr.gradcheck(cr.remainder, xs, modes=("fwd", "rev"), order=2) is True


# --------------------------------------------------------------------------- vmap

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_vmap_matches_torch_vmap(case):
    batch = [np.stack([draw(s, d, seed=10 * b + i) for b in range(3)])
             for i, (s, d) in enumerate(zip(case.shapes, case.domains))]
    out = cr.vmap(case.ours)(*[cr.tensor(x, dtype=F64) for x in batch])
    close(out, torch.func.vmap(case.theirs)(*[torch.tensor(x) for x in batch]))
    if len(batch) == 2:   # the second operand shared by every example
        shared = draw(case.shapes[1], case.domains[1], seed=99)
        out = cr.vmap(case.ours, in_axes=(0, None))(cr.tensor(batch[0], dtype=F64), cr.tensor(shared, dtype=F64))
        close(out, torch.func.vmap(case.theirs, in_dims=(0, None))(torch.tensor(batch[0]), torch.tensor(shared)))


def test_vmap_of_grad_matches_torch():
    x, y = draw((3, 4)), draw((3, 4), "nonzero", 1)
    f = lambda a, b: (cr.hypot(a, b) + cr.remainder(a, b) * cr.arctan(a)).sum()   # noqa: E731
    tf = lambda a, b: (torch.hypot(a, b) + torch.remainder(a, b) * torch.atan(a)).sum()   # noqa: E731
    gx, gy = cr.vmap(cr.grad(f, argnums=(0, 1)))(cr.tensor(x), cr.tensor(y))
    tgx, tgy = torch.func.vmap(torch.func.grad(tf, argnums=(0, 1)))(torch.tensor(x), torch.tensor(y))
    close(gx, tgx)
    close(gy, tgy)


def test_vmap_of_round_and_nan_to_num_keeps_their_keywords():
    x = np.array([[1.25, np.nan, -np.inf], [25.5, np.inf, 0.35]])
    close(cr.vmap(lambda r: cr.round(r, 1))(cr.tensor(x)), np.round(x, 1))
    close(cr.vmap(lambda r: cr.nan_to_num(r, nan=-1.0, neginf=-2.0))(cr.tensor(x)),
           np.nan_to_num(x, nan=-1.0, neginf=-2.0))


# ------------------------------------------------------------- values vs NumPy

EDGES = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -2.5, 3.5, 1e300, -7.25])
UNARY_NUMPY = ["square", "reciprocal", "sinh", "cosh", "arcsin", "arccos", "arctan", "arcsinh",
               "arccosh", "arctanh", "exp2", "log2", "log10", "sinc", "deg2rad", "rad2deg", "degrees",
               "radians", "floor", "ceil", "trunc", "round", "nan_to_num"]
_TOL = {"float64": 1e-14, "float32": 1e-6, "float16": 1e-3}


def _same_as_numpy(ours, expected, dtype):
    got = ours.numpy()
    assert got.dtype == expected.dtype, f"dtype {got.dtype}, NumPy's {expected.dtype}"
    np.testing.assert_allclose(got.astype(np.float64), expected.astype(np.float64),
                               rtol=_TOL.get(dtype, 0), atol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("name", UNARY_NUMPY)
def test_unary_values_match_numpy(name, dtype, backend):
    x = EDGES.astype(dtype)
    expected = getattr(np, name)(x)
    if name == "sinc" and dtype == "float16":   # np.sinc is no ufunc: it rounds pi * x to float16
        expected = np.sinc(x.astype(np.float32)).astype(np.float16)   # first; ours computes as torch
    _same_as_numpy(getattr(cr, name)(cr.tensor(x)), expected, dtype)


@pytest.mark.parametrize("name", [n for n in UNARY_NUMPY if n != "reciprocal"])
def test_integer_inputs_are_typed_as_numpy(name, backend):
    x = np.array([3, -1, 0, 7, 1, 2])
    _same_as_numpy(getattr(cr, name)(cr.tensor(x)), getattr(np, name)(x), "float64")


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16", "int32"])
def test_small_integers_and_bools_are_typed_as_numpy(dtype, backend):
    x = np.array([1, 0, 3, 2]).astype(dtype)
    for name in ("square", "deg2rad", "rad2deg", "degrees", "radians", "sinh", "arctan", "log2", "sinc",
                 "ceil", "trunc", "nan_to_num", "exp2"):
        expected = getattr(np, name)(x)
        got = getattr(cr, name)(cr.tensor(x))
        assert got.dtype == expected.dtype.name, f"{name}: {got.dtype}, NumPy's {expected.dtype}"
        np.testing.assert_allclose(got.numpy().astype(np.float64), expected.astype(np.float64), rtol=1e-3)


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_erf_and_erfc_match_the_c_library(name, backend):
    x = np.concatenate([EDGES, np.linspace(-6, 6, 25)])
    expected = np.array([getattr(math, name)(v) for v in x])
    np.testing.assert_allclose(getattr(cr, name)(cr.tensor(x)).numpy(), expected, rtol=1e-14, atol=1e-300)
    assert getattr(cr, name)(cr.tensor(x.astype(np.float16))).dtype == "float16"


def test_erfc_is_the_same_without_scipy(monkeypatch):
    """The NumPy backend's fallback (math.erfc per element) gives SciPy's numbers (to 1e-13
    relative out in the tail, where erfc is ~1e-278; beyond x = 26.5 SciPy flushes the
    subnormal results to 0, the C library keeps them)."""
    pytest.importorskip("scipy", reason="the comparison needs SciPy's erfc as the other side")
    from chainrule.builtin_backends import numpy as numpy_backend
    x = np.concatenate([EDGES[:-2], np.linspace(-26, 26, 261)])
    with_scipy = numpy_backend._erfc_float64()(x)
    monkeypatch.setitem(sys.modules, "scipy.special", None)   # import fails as if not installed
    without = numpy_backend._erfc_float64()(x)
    assert without.dtype == np.float64
    np.testing.assert_allclose(without, with_scipy, rtol=1e-13, atol=0)


X2 = np.array([-3.5, 3.5, -3.5, 3.5, 0.0, -0.0, 7.0, -1e-20, 5.0, -1.0, 2.0, np.nan, 1.0, np.inf, 0.0, 3.0])
Y2 = np.array([2.0, -2.0, -2.0, 2.0, -3.0, 3.0, 0.0, 1.0, np.inf, np.inf, np.nan, 1.0, np.nan, np.inf, 0.0, 3.0])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["arctan2", "hypot", "logaddexp", "logaddexp2", "remainder", "mod",
                                  "fmax", "fmin"])
def test_binary_values_match_numpy(name, dtype, backend):
    x, y = X2.astype(dtype), Y2.astype(dtype)
    expected = getattr(np, name)(x, y)
    _same_as_numpy(getattr(cr, name)(cr.tensor(x), cr.tensor(y)), expected, dtype)
    number = ~np.isnan(expected)   # a NaN's sign bit means nothing
    np.testing.assert_array_equal(np.signbit(getattr(cr, name)(cr.tensor(x), cr.tensor(y)).numpy())[number],
                                  np.signbit(expected)[number], err_msg="signed zeros")
    # mixed operands: a Python float, an integer tensor
    _same_as_numpy(getattr(cr, name)(cr.tensor(x), 0.75), getattr(np, name)(x, 0.75), dtype)
    ints = np.array([3, -1, 0, 7, 1, 2, 4, 5, 2, 1, 6, 3, 2, 1, 0, 9])
    _same_as_numpy(getattr(cr, name)(cr.tensor(ints), cr.tensor(x)), getattr(np, name)(ints, x),
                   "float64" if dtype == "float64" else "float32")


def test_remainder_of_integers_as_numpy(backend):
    x, y = np.array([7, -7, 7, -7, 5, 0]), np.array([3, 3, -3, -3, 0, 4])
    got = cr.remainder(cr.tensor(x), cr.tensor(y))
    assert got.dtype == "int64"
    np.testing.assert_array_equal(got.numpy(), np.remainder(x, y))   # x % 0 is 0, as NumPy
    np.testing.assert_array_equal((cr.tensor(x) % 4).numpy(), x % 4)
    np.testing.assert_array_equal((10 % cr.tensor(y[:4])).numpy(), 10 % y[:4])
    assert [int(v) for v in (cr.tensor(x[:4]) % 3).numpy()] == [v % 3 for v in x[:4].tolist()]   # Python's


@pytest.mark.parametrize("decimals", [0, 1, 2, -1, -2])
def test_round_decimals_as_numpy(decimals, backend):
    x = np.array([1.25, 1.35, -2.5, 0.5, 1.5, 15.0, 25.0, 1234.5678, -0.0, np.nan, np.inf])
    for dt in ("float64", "float32"):
        _same_as_numpy(cr.round(cr.tensor(x.astype(dt)), decimals), np.round(x.astype(dt), decimals), dt)
    _same_as_numpy(cr.tensor(x).round(decimals=decimals), np.round(x, decimals), "float64")
    ints = np.array([15, 25, -15, 1234, 0, 7])
    got = cr.round(cr.tensor(ints), decimals)
    assert got.dtype == "int64"
    np.testing.assert_array_equal(got.numpy(), np.round(ints, decimals))


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_nan_to_num_as_numpy(dtype, backend):
    x = EDGES.astype(dtype)
    for args, kwargs in (((), {}), ((True, 5.0, 1e3, -1e3), {}), ((), dict(nan=-1.0, neginf=-7.0)),
                         ((), dict(posinf=9))):
        _same_as_numpy(cr.nan_to_num(cr.tensor(x), *args, **kwargs), np.nan_to_num(x, *args, **kwargs), dtype)
    ints = np.array([3, -1, 0])
    _same_as_numpy(cr.nan_to_num(cr.tensor(ints), nan=5.0), np.nan_to_num(ints, nan=5.0), "int64")


def test_nan_to_num_of_bfloat16_replaces_with_its_own_bounds(backend):
    pytest.importorskip("ml_dtypes", reason="bfloat16 on NumPy needs ml_dtypes")
    x = cr.tensor(np.array([np.nan, np.inf, -np.inf, 1.5]), dtype="bfloat16")
    got = cr.nan_to_num(x).astype("float64").numpy()
    want = torch.nan_to_num(torch.tensor([np.nan, np.inf, -np.inf, 1.5], dtype=torch.bfloat16)).double().numpy()
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------- torch's edge points

def _torch_grad(fn, *xs):
    ts = [torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True) for x in xs]
    return torch.autograd.grad(fn(*ts).sum(), ts)


def _torch_jvp(fn, *xs):
    ts = tuple(torch.tensor(np.asarray(x, dtype=np.float64)) for x in xs)
    return torch.func.jvp(fn, ts, tuple(torch.ones_like(t) for t in ts))[1]


EDGE_POINTS = [
    ("arcsin", cr.arcsin, torch.asin, [np.array([1.0, -1.0, 0.0, 2.0])]),
    ("arccos", cr.arccos, torch.acos, [np.array([1.0, -1.0, 0.0, 2.0])]),
    ("arctanh", cr.arctanh, torch.atanh, [np.array([1.0, -1.0, 0.0])]),
    ("arccosh", cr.arccosh, torch.acosh, [np.array([1.0, 1e200, 0.5])]),
    ("sinc", cr.sinc, torch.sinc, [np.array([0.0, -0.0, 1.0, 2.0, 1e-9])]),
    ("log2", cr.log2, torch.log2, [np.array([0.0, np.inf, 1.0])]),
    ("hypot", cr.hypot, torch.hypot, [np.zeros(2), np.array([0.0, 1.0])]),
    ("arctan2", cr.arctan2, torch.atan2, [np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])]),
    ("logaddexp", cr.logaddexp, torch.logaddexp,
     [np.array([-np.inf, np.inf, 1000.0, 0.0]), np.array([-np.inf, np.inf, 0.0, 1000.0])]),
    ("logaddexp2", cr.logaddexp2, torch.logaddexp2, [np.array([-np.inf, 3.0]), np.array([-np.inf, 3.0])]),
    ("nan_to_num", cr.nan_to_num, torch.nan_to_num, [np.array([np.nan, np.inf, -np.inf, 2.0])]),
    ("remainder", cr.remainder, torch.remainder, [np.array([-3.5, 3.5, 7.0]), np.array([2.0, -2.0, 0.5])]),
    ("fmax_nan", cr.fmax, torch.fmax, [np.array([np.nan, 1.0, np.nan, 2.0]), np.array([1.0, np.nan, np.nan, 1.0])]),
    ("fmin_nan", cr.fmin, torch.fmin, [np.array([np.nan, 1.0, np.nan, 2.0]), np.array([1.0, np.nan, np.nan, 1.0])]),
]


@pytest.mark.parametrize("name, ours, theirs, xs", EDGE_POINTS, ids=[e[0] for e in EDGE_POINTS])
def test_gradients_at_edge_points_are_torchs(name, ours, theirs, xs, backend):
    """The VJP (cr.grad and eager backward) and the JVP where torch has a fixed answer: inf at
    arcsin(+-1), nan for hypot at (0, 0), 0 for arctan2's backward there (nan forward), 0 at sinc(0)."""
    want = _torch_grad(theirs, *xs)
    got = cr.grad(lambda *a: ours(*a).sum(), argnums=tuple(range(len(xs))))(*[cr.tensor(x) for x in xs])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
    leaves = [cr.tensor(x, requires_grad=True) for x in xs]
    ours(*leaves).sum().backward()
    for leaf, w in zip(leaves, want):
        np.testing.assert_array_equal(leaf.grad.numpy(), w.numpy())
    _, tangent = cr.jvp(ours, tuple(cr.tensor(x) for x in xs), tuple(cr.ones(np.shape(x), dtype=F64) for x in xs))
    np.testing.assert_array_equal(tangent.numpy(), _torch_jvp(theirs, *xs).numpy())


def test_sinc_second_derivative_is_finite_at_zero():
    """The slope's 0 at x = 0 is taken without a 0 / 0 in the graph: no NaN leaks into higher
    orders (near 0 the second derivative tends to -pi^2/3)."""
    d2 = cr.grad(cr.grad(cr.sinc))
    assert float(d2(cr.tensor(0.0, dtype=F64))) == 0.0
    np.testing.assert_allclose(float(d2(cr.tensor(1e-3, dtype=F64))), -math.pi ** 2 / 3, rtol=1e-5)


def test_fmax_fmin_ties_split_the_gradient_as_maximum():
    """Ties give each operand half (the convention of cr.maximum/minimum and torch's maximum);
    torch's fmax gives the whole gradient to x instead, so ties are checked here on their own."""
    x, y = cr.tensor([1.0, 2.0, 3.0]), cr.tensor([1.0, 1.0, 3.0])
    for fn, pairwise in ((cr.fmax, cr.maximum), (cr.fmin, cr.minimum)):
        gx, gy = cr.grad(lambda a, b: fn(a, b).sum(), argnums=(0, 1))(x, y)
        px, py = cr.grad(lambda a, b: pairwise(a, b).sum(), argnums=(0, 1))(x, y)
        np.testing.assert_array_equal(gx.numpy(), px.numpy())
        np.testing.assert_array_equal(gy.numpy(), py.numpy())
        assert gx.numpy()[0] == gy.numpy()[0] == 0.5


# ------------------------------------------------------------- rounding: no gradient

@pytest.mark.parametrize("name", ["floor", "ceil", "trunc", "round"])
def test_rounding_has_zero_gradient_as_torch(name):
    assert name in cr.ops.NON_DIFFERENTIABLE
    x = cr.tensor([1.5, -0.3, 2.0], dtype=F64, requires_grad=True)
    assert not getattr(cr, name)(x).requires_grad
    g = cr.grad(lambda a: (getattr(cr, name)(a) * a).sum())(x)
    t = torch.tensor([1.5, -0.3, 2.0], dtype=torch.float64, requires_grad=True)
    (getattr(torch, name)(t) * t).sum().backward()
    np.testing.assert_array_equal(g.numpy(), t.grad.numpy())
    _, tangent = cr.jvp(getattr(cr, name), (x,), (cr.ones((3,), dtype=F64),))
    np.testing.assert_array_equal(tangent.numpy(), np.zeros(3))


# ------------------------------------------------------------------ bad inputs

def test_bad_inputs_raise_chainrule_errors():
    x = cr.tensor([1.0, 2.0, 3.0])
    with pytest.raises(DTypeError, match=r"astype\('float64'\)"):
        cr.reciprocal(cr.tensor([1, 2]))
    with pytest.raises(ArgumentError, match="decimals"):
        cr.round(x, 1.5)
    with pytest.raises(ArgumentError, match="decimals"):
        x.round(decimals="1")
    with pytest.raises(ArgumentError, match="nan_to_num"):
        cr.nan_to_num(x, nan="zero")
    with pytest.raises(ArgumentError, match="nan_to_num"):
        cr.nan_to_num(x, posinf=[1.0])
    with pytest.raises(ArgumentError, match="nan takes a real number"):
        cr.nan_to_num(x, nan=None)
    for fn in (cr.arctan2, cr.hypot, cr.logaddexp, cr.logaddexp2, cr.remainder, cr.fmax, cr.fmin):
        with pytest.raises(ShapeError, match="broadcast"):
            fn(x, cr.tensor([1.0, 2.0]))
    with pytest.raises(ShapeError, match="broadcast"):
        x % cr.tensor([1.0, 2.0])


def test_methods_and_operators():
    x = cr.tensor([-3.5, 3.5, 1.26])
    np.testing.assert_array_equal(x.round(1).numpy(), np.round(x.numpy(), 1))
    np.testing.assert_array_equal((x % 2).numpy(), x.numpy() % 2)
    np.testing.assert_array_equal((5 % x).numpy(), 5 % x.numpy())

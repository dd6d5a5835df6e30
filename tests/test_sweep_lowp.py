"""float16/bfloat16 numerics that the other suites do not reach, on the numpy and torch backends.

The reference everywhere is "compute accurately, round once to the low-precision dtype"
(SPEC: float16/bfloat16 reductions, norms and losses accumulate in float32 and return the
input dtype; a gradient has its tensor's dtype), taken from torch in float32/float64 on the
same rounded inputs wherever torch's own half-precision CPU kernel is not itself accurate.

Covered:
- ``prod`` of many float16/bfloat16 values (torch's CPU prod multiplies in half precision;
  the torch backend passed that through: a 1000-term bfloat16 product 30% off) and its gradient;
- 0-d bfloat16 NumPy arrays on the torch backend (they became shape (1,)): ``cr.tensor``,
  ``.to("torch")``, ``cr.load(..., backend="torch")``, and a bfloat16 NumPy scalar operand;
- the gradient (and JVP) of ``max``/``min`` and of the inf-norms, which split the cotangent
  between tied entries counted in the input dtype (65520 float16 ties count as inf: gradient 0;
  bfloat16 counts round from 257 on);
- the gradient of ``vector_norm`` for p-norms, whose slope |x|^(p-1) / ||x||^(p-1) was computed
  in float16 (inf / inf = nan for ||x||_3 of values ~300, 0 for ||x||_-2 of values ~1);
- ``gelu`` (both forms) and ``sigmoid`` computed step by step in float16/bfloat16: 1 + erf(x/sqrt2)
  cancels to 0, so gelu(-3.5) was -0 instead of -8e-4, and its gradient 0 or 20% off;
- a Python float next to a float16/bfloat16 tensor: ``x * 70000.0`` (finite result) was inf on
  numpy and ``70000.0 * x`` inf on torch while ``x * 70000.0`` was not; ``x / 1e5`` was 0.
"""
import math
import os
import tempfile

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests")
ml_dtypes = pytest.importorskip("ml_dtypes")

BACKENDS = ["numpy", "torch"]
LOW = ["float16", "bfloat16"]
EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}


def _t(dtype):
    return getattr(torch, dtype)


def _np(x):
    return np.asarray(x.astype("float64").numpy())


def _low(values, dtype, backend, requires_grad=False):
    """values rounded to dtype, as a chainrule tensor and as the same torch tensor."""
    t = torch.tensor(np.asarray(values, np.float32)).to(_t(dtype))
    x = cr.tensor(t.float().numpy(), backend=backend).astype(dtype)
    x.requires_grad = requires_grad
    return x, t


def _assert_ulps(ours, ref, dtype, ulps=2, what=""):
    """ours within ``ulps`` units of dtype's precision of ref, relative to |ref| (and to the
    largest |ref| for entries near zero)."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    assert not np.isnan(ours).any() or np.array_equal(np.isnan(ours), np.isnan(ref)), (what, ours)
    scale = np.maximum(np.abs(ref), 1e-3 * np.max(np.abs(ref), initial=0.0))
    err = np.abs(ours - ref) / np.where(scale > 0, scale, 1.0)
    bad = err > ulps * EPS[dtype]
    assert not bad.any(), f"{what}: {bad.sum()} of {bad.size} off by more than {ulps} ulps; " \
        f"worst ours {ours.flat[np.argmax(err)]} vs {ref.flat[np.argmax(err)]}"


# ---------------------------------------------------------------- prod in float32

@pytest.mark.parametrize("axis", [None, 1, (0, 1)])
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("backend", BACKENDS)
def test_prod_accumulates_in_float32(backend, dtype, axis):
    rng = np.random.default_rng(0)
    x, t = _low(rng.uniform(0.98, 1.02, (4, 1000)), dtype, backend, requires_grad=True)
    out = cr.prod(x, axis=axis)
    t32 = t.float().requires_grad_(True)
    ref = t32.prod() if axis is None else t32.prod(1) if axis == 1 else t32.prod(1).prod(0)
    assert out.dtype == dtype
    _assert_ulps(_np(out), ref.detach().to(_t(dtype)).double().numpy(), dtype, what="prod value")
    g = rng.uniform(0.5, 1.5, tuple(ref.shape)).astype(np.float32)
    out.backward(cr.tensor(g, backend=backend).astype(dtype))
    ref.backward(torch.tensor(g).to(_t(dtype)).float())
    assert x.grad.dtype == dtype
    _assert_ulps(_np(x.grad), t32.grad.to(_t(dtype)).double().numpy(), dtype, ulps=4, what="prod gradient")


@pytest.mark.parametrize("dtype", LOW)
def test_prod_agrees_across_backends(dtype):
    rng = np.random.default_rng(1)
    values = rng.uniform(0.99, 1.01, 3000)
    a, _ = _low(values, dtype, "numpy")
    b, _ = _low(values, dtype, "torch")
    assert float(cr.prod(a)) == float(cr.prod(b))


# ----------------------------------------------------- 0-d bfloat16 on the torch backend

def _zero_d_cases():
    bf = ml_dtypes.bfloat16
    def load_torch():
        d = tempfile.mkdtemp()
        path = os.path.join(d, "s.safetensors")
        cr.save(path, {"s": cr.tensor(np.array(1.5, bf))})
        return cr.load(path, backend="torch")["s"]
    return {
        "tensor of a 0-d array": lambda: cr.tensor(np.array(1.5, bf), backend="torch"),
        "tensor of a NumPy scalar": lambda: cr.tensor(bf(1.5), backend="torch"),
        "to('torch')": lambda: cr.tensor(np.array(1.5, bf)).to("torch"),
        "load(backend='torch')": load_torch,
        "0-d tensor * bfloat16 scalar": lambda: cr.ones((), dtype="float32", backend="torch") * bf(2),
        "sum * bfloat16 scalar": lambda: cr.sum(cr.ones((3,), dtype="bfloat16", backend="torch")) * bf(2),
    }


@pytest.mark.parametrize("case", list(_zero_d_cases()))
def test_zero_d_bfloat16_stays_zero_d_on_torch(case):
    out = _zero_d_cases()[case]()
    assert out.backend == "torch" and out.shape == ()


# -------------------------------------------------- max/min ties counted in float32

@pytest.mark.parametrize("op", ["max", "min", "inf-norm", "-inf-norm"])
@pytest.mark.parametrize("dtype, n", [("float16", 70000), ("bfloat16", 3000)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_tied_extremes_split_the_gradient_as_torch(backend, dtype, n, op):
    """n equal values: each gets 1/n of the cotangent, rounded once (torch: f16(1/70000) =
    1.43e-5, not 0; bf16(1/3000), not 1/bf16(3000))."""
    ours = {"max": cr.max, "min": cr.min,
            "inf-norm": lambda v: cr.linalg.vector_norm(v, ord=math.inf),
            "-inf-norm": lambda v: cr.linalg.vector_norm(v, ord=-math.inf)}[op]
    theirs = {"max": torch.amax, "min": torch.amin,
              "inf-norm": lambda v: torch.linalg.vector_norm(v, ord=math.inf),
              "-inf-norm": lambda v: torch.linalg.vector_norm(v, ord=-math.inf)}[op]
    x = cr.ones((n,), dtype=dtype, backend=backend, requires_grad=True)
    ours(x).backward()
    t = torch.ones(n, dtype=_t(dtype), requires_grad=True)
    theirs(t).backward()
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(_np(x.grad), t.grad.double().numpy())
    # forward mode: the average of the tied tangents, 1 for a tangent of ones
    _, tangent = cr.jvp(ours, (cr.ones((n,), dtype=dtype, backend=backend),),
                        (cr.ones((n,), dtype=dtype, backend=backend),))
    assert tangent.dtype == dtype and float(tangent) == 1.0


# ------------------------------------------------ p-norm gradients in float32

@pytest.mark.parametrize("ord_, scale", [(3, 300.0), (4, 300.0), (4, 1e-3), (-2, 1.0), (3, 3000.0),
                                         (0.5, 0.01), (2, 60000.0)])
@pytest.mark.parametrize("dtype", ["float16"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_vector_norm_gradient_is_accurate_then_rounded(backend, dtype, ord_, scale):
    """d||x||_p/dx = sign(x) (|x| / ||x||)^(p-1): O(1) numbers that float16 holds, though
    |x|^(p-1) and ||x||^(p-1) apart overflow or underflow it.  torch's own float16 backward
    gives nan here too; the reference is float64 on the rounded inputs, rounded."""
    rng = np.random.default_rng(2)
    x, t = _low(rng.uniform(0.5, 1.5, 512) * scale, dtype, backend, requires_grad=True)
    cr.linalg.vector_norm(x, ord=ord_).backward()
    t64 = t.double().requires_grad_(True)
    torch.linalg.vector_norm(t64, ord=ord_).backward()
    assert x.grad.dtype == dtype
    _assert_ulps(_np(x.grad), t64.grad.to(_t(dtype)).double().numpy(), dtype, ulps=4,
                 what=f"d||x||_{ord_}/dx")
    # forward mode: the same slope, along a positive tangent
    u = torch.tensor(rng.uniform(0, 1, 512) / 512).to(_t(dtype))
    _, tangent = cr.jvp(lambda v: cr.linalg.vector_norm(v, ord=ord_), (x.detach(),),
                        (cr.tensor(u.float().numpy(), backend=backend).astype(dtype),))
    assert tangent.dtype == dtype
    _assert_ulps([float(tangent)], [float((t64.grad * u.double()).sum())], dtype, ulps=8, what="JVP")


# ---------------------------------------------- gelu and sigmoid rounded once

F = torch.nn.functional
ACTIVATIONS = {
    "gelu": (cr.nn.gelu, F.gelu, (-5.0, 5.0)),
    "gelu_tanh": (lambda v: cr.nn.gelu(v, approximate="tanh"), lambda v: F.gelu(v, approximate="tanh"),
                  (-5.0, 5.0)),
    "sigmoid": (cr.nn.sigmoid, torch.sigmoid, (-9.0, 9.0)),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("backend", BACKENDS)
def test_activation_values_are_rounded_once(backend, dtype, name):
    """Within one unit of the float32 value rounded once (torch's result), also in gelu's
    negative tail where 1 + erf(x / sqrt 2) cancels."""
    ours, theirs, (lo, hi) = ACTIVATIONS[name]
    x, t = _low(np.linspace(lo, hi, 1201), dtype, backend)
    out = ours(x)
    ref = theirs(t.float()).to(_t(dtype)).double().numpy()
    assert out.dtype == dtype
    o = _np(out)
    # one unit of dtype's precision at the value, or float32's last bits near 0
    tol = EPS[dtype] * np.abs(ref) * 1.01 + 1e-6
    bad = np.abs(o - ref) > tol
    assert not bad.any(), f"{name}: {bad.sum()} values off, e.g. x={t[bad.argmax()].item()}: " \
        f"ours {o[bad.argmax()]} vs {ref[bad.argmax()]}"


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", LOW)
@pytest.mark.parametrize("backend", BACKENDS)
def test_gelu_gradient_is_computed_in_float32(backend, dtype, approximate):
    x, t = _low(np.linspace(-4.0, 4.0, 801), dtype, backend, requires_grad=True)
    cr.nn.gelu(x, approximate=approximate).backward(cr.ones_like(x.detach()))
    t32 = t.float().requires_grad_(True)
    F.gelu(t32, approximate=approximate).backward(torch.ones_like(t32))
    ref = t32.grad.to(_t(dtype)).double().numpy()
    assert x.grad.dtype == dtype
    tol = 2 * EPS[dtype] * np.abs(ref) + 1e-5
    g = _np(x.grad)
    bad = np.abs(g - ref) > tol
    assert not bad.any(), f"{bad.sum()} gradients off, e.g. x={t[bad.argmax()].item()}: " \
        f"ours {g[bad.argmax()]} vs {ref[bad.argmax()]}"


# --------------------------------------- a Python float with a float16/bfloat16 tensor

SCALAR_OPS = {
    "x * s": (lambda x, s: x * s, lambda a, s: a * s),
    "s * x": (lambda x, s: s * x, lambda a, s: s * a),
    "x / s": (lambda x, s: x / s, lambda a, s: a / s),
    "s / x": (lambda x, s: s / x, lambda a, s: s / a),
    "x - s": (lambda x, s: x - s, lambda a, s: a - s),
    "s - x": (lambda x, s: s - x, lambda a, s: s - a),
}


@pytest.mark.parametrize("s", [70000.0, 1e5, 1e-7])
@pytest.mark.parametrize("op", list(SCALAR_OPS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_python_float_with_float16_is_computed_then_rounded_once(backend, op, s):
    """SPEC: a Python float is a float32 value that never promotes a low-precision tensor:
    the result is float16, the float32 result rounded once, as torch's (and the same for both
    operand orders and both backends): 0.5 * 70000.0 is 35008, not inf; 1 / 1e5 is 1e-5, not 0."""
    ours, ref = SCALAR_OPS[op]
    x, t = _low([0.5, 2.0, 1000.0, -3.0], "float16", backend)
    out = ours(x, s)
    expected = ref(t.float(), s).to(torch.float16).double().numpy()
    assert out.dtype == "float16"
    np.testing.assert_array_equal(_np(out), expected)


IN_PLACE = {"+=": "__iadd__", "-=": "__isub__", "*=": "__imul__", "/=": "__itruediv__"}


@pytest.mark.parametrize("s", [70000.0, 1e5, 1e-7, 70000])
@pytest.mark.parametrize("op", list(IN_PLACE))
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_in_place_python_number_into_low_precision_is_torchs(backend, dtype, op, s):
    """x *= 70000.0 gives what x * 70000.0 gives, and what torch's in-place op gives: computed in
    float32 and rounded once (NumPy's out= rounded the number to float16 first: inf, or 0)."""
    x, t = _low([0.5, 2.0, 1000.0, -3.0], dtype, backend)
    with np.errstate(over="ignore"):
        getattr(x, IN_PLACE[op])(s)
    getattr(t, IN_PLACE[op])(s)
    assert x.dtype == dtype
    np.testing.assert_array_equal(_np(x), t.double().numpy())

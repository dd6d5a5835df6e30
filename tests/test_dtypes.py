"""Dtypes, on the numpy and torch backends: NumPy scalars keep their dtype and promote as
the installed NumPy does (NEP 50), Python floats never promote a low-precision tensor,
every op answers the backend's own array type (never a NumPy scalar), and float16/bfloat16
reductions accumulate in float32 and return the input dtype (torch as the oracle)."""
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import testing
from backend_fixtures import backend  # noqa: F401  (a pytest fixture)

torch = pytest.importorskip("torch", reason="torch 2.13 is the oracle (pip install -e '.[test]')")
pytest.importorskip("hypothesis", reason="hypothesis drives the property tests")
ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 on NumPy needs ml_dtypes (a dependency)")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
TF = torch.nn.functional

DTYPES = ["bool", "int8", "uint8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
NUMPY_DTYPES = [d for d in DTYPES if d != "bfloat16"]
LOW = ["float16", "bfloat16"]


def np_dtype(name):
    return np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)


def array_type(name):
    return np.ndarray if name == "numpy" else torch.Tensor


def as_numpy(t):
    """A Tensor's values as float64 (bfloat16 included) and its dtype name."""
    return np.asarray(t.numpy(), dtype=np.float64), str(t.dtype)


# ------------------------------------------- (a) NumPy scalars keep their dtype

numpy_scalars = st.builds(lambda dt, v: np.dtype(dt).type(v), st.sampled_from(NUMPY_DTYPES),
                          st.sampled_from([0, 1, 3]))
zero_d_arrays = st.builds(lambda dt, v: np.array(v, dtype=dt), st.sampled_from(NUMPY_DTYPES),
                          st.sampled_from([1, 2]))
python_scalars = st.sampled_from([0.5, -1.5, 2.0, 1, 3, True, False])
operands = st.one_of(python_scalars, numpy_scalars, zero_d_arrays)


@PROPERTY
@given(value=st.one_of(numpy_scalars, zero_d_arrays), listed=st.booleans())
def test_numpy_scalar_data_keeps_its_dtype(backend, value, listed):
    data = [value, value] if listed else value
    expected = np.asarray(data)
    t = cr.tensor(data)
    assert t.dtype == expected.dtype.name, (repr(data), t.dtype)
    assert np.array_equal(t.numpy(), expected)
    assert cr.full((2,), value).dtype == np.full((2,), value).dtype.name


BINARY = [("add", cr.add, np.add), ("subtract", cr.subtract, np.subtract),
          ("multiply", cr.multiply, np.multiply), ("divide", cr.divide, np.true_divide),
          ("maximum", cr.maximum, np.maximum), ("minimum", cr.minimum, np.minimum),
          ("greater", cr.greater, np.greater),
          ("where", lambda x, y: cr.where(cr.tensor([True, False, True]), x, y),
           lambda x, y: np.where(np.array([True, False, True]), x, y))]


@PROPERTY
@given(dtype=st.sampled_from(DTYPES), other=operands, op=st.sampled_from(BINARY),
       tensor_first=st.booleans())
def test_operands_promote_as_numpy_does(backend, dtype, other, op, tensor_first):
    """Every backend gives the installed NumPy's dtype and values for tensor (op) scalar,
    where the scalar is a Python number, a NumPy scalar or a 0-d array."""
    _, ours, theirs = op
    values = np.array([1, 2, 3]).astype(np_dtype(dtype))
    x = cr.tensor(values, dtype=dtype)
    args_np = (values, other) if tensor_first else (other, values)
    args_cr = (x, other) if tensor_first else (other, x)
    try:
        with np.errstate(all="ignore"):
            expected = np.asarray(theirs(*args_np))
    except (TypeError, OverflowError) as exc:   # NumPy refuses (bool - bool): so must we
        with pytest.raises(Exception):
            ours(*args_cr)
        print("NumPy refuses:", exc)
        return
    got = ours(*args_cr)
    assert got.dtype == expected.dtype.name, (dtype, repr(other), got.dtype, expected.dtype)
    assert type(got._data) is array_type(backend)
    np.testing.assert_allclose(*[np.asarray(a, dtype=np.float64) for a in (got.numpy(), expected)],
                               rtol=1e-2 if expected.dtype.itemsize == 2 else 1e-6)


@pytest.mark.parametrize("dtype", LOW + ["float32"])
def test_python_floats_never_promote_a_floating_tensor(backend, dtype):
    x = cr.tensor([1.0, 2.0], dtype=dtype)
    for out in (x * 0.5, 0.5 * x, x + 1.5, x / 3.0, x - 2, 2.0 ** x, cr.maximum(x, 0.25)):
        assert out.dtype == dtype


@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "int64"])
def test_integer_tensor_times_python_float_is_numpys_float64(backend, dtype):
    """NumPy's rule (torch would give its default dtype, float32): every backend agrees."""
    out = cr.tensor([1, 0], dtype=dtype) * 0.5
    assert out.dtype == (np.array([1, 0], dtype=dtype) * 0.5).dtype.name == "float64"


@PROPERTY
@given(scalar=st.one_of(st.builds(lambda dt, v: np.dtype(dt).type(v),
                                   st.sampled_from(["float16", "float32", "float64", "int64", "int8"]),
                                   st.sampled_from([2, 3])),
                        st.builds(lambda v: np.array(v), st.sampled_from([2.0, 3.0]))),
       op=st.sampled_from([("multiply", lambda x, s: x * s), ("rmultiply", lambda x, s: s * x),
                           ("divide", lambda x, s: x / s), ("rdivide", lambda x, s: s / x),
                           ("power", lambda x, s: x ** s), ("add", lambda x, s: cr.add(s, x)),
                           ("maximum", lambda x, s: cr.maximum(x, s)),
                           ("where", lambda x, s: cr.where(x > 1.0, x, s))]))
def test_numpy_scalar_operands_differentiate(backend, scalar, op):
    """The gradient keeps x's dtype (float32) however the scalar promoted the value, and equals
    torch's (float64)."""
    name, f = op
    if backend == "torch" and name == "maximum" and type(scalar) is np.ndarray:
        return   # test_a_0d_array_operand_of_maximum_differentiates_on_torch (a known failure)
    x = cr.tensor([0.5, 1.5, 2.5], requires_grad=True)
    f(x, scalar).sum().backward()
    assert x.grad.dtype == "float32" and type(x.grad._data) is array_type(backend)
    tx = torch.tensor([0.5, 1.5, 2.5], dtype=torch.float64, requires_grad=True)
    s = float(scalar)
    tf = {"maximum": lambda x, s: torch.clamp_min(x, s),
          "where": lambda x, s: torch.where(x > 1.0, x, torch.tensor(s, dtype=torch.float64)),
          "add": lambda x, s: s + x}.get(name, f)
    tf(tx, s).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(cr.grad(lambda x: f(x, scalar).sum())(x).numpy(), tx.grad.numpy(), rtol=1e-5)


@pytest.mark.parametrize("operand", [np.array(2.0), np.float64(2.0), np.array([2.0, 2.0]), [2.0, 2.0]],
                         ids=["0-d array", "scalar", "array", "list"])
def test_a_numpy_operand_becomes_a_tensor_of_the_backend(backend, operand):
    """The engine binds NumPy (and list) operands as tensors of the other operand's backend,
    so rules never meet two kinds of array (torch refuses tensor > ndarray)."""
    x = cr.tensor([1.0, 3.0], dtype="float64", requires_grad=True)
    cr.maximum(x, operand).sum().backward()
    (x * operand).sum().backward()
    xt = torch.tensor([1.0, 3.0], dtype=torch.float64, requires_grad=True)
    other = torch.as_tensor(np.asarray(operand, dtype=np.float64))
    (torch.maximum(xt, other).sum() + (xt * other).sum()).backward()
    assert x.grad.tolist() == xt.grad.tolist()


# ------------------------------------- (b) outputs are the backend's array type

def _converted(k, a):
    if isinstance(a, testing.Typed):
        return k.astype(k.asarray(np.asarray(a.values, dtype=np.float32), None), a.dtype)
    if isinstance(a, np.ndarray):
        return k.asarray(a.copy(), None)
    if isinstance(a, (tuple, list)):
        return type(a)(_converted(k, p) for p in a)
    return a


def _numpy_scalars_in(value):
    if isinstance(value, np.generic):
        return [value]
    if isinstance(value, (tuple, list)):
        return [s for v in value for s in _numpy_scalars_in(v)]
    return []


def test_no_kernel_answers_a_numpy_scalar(backend):
    """Every case of the conformance kit (0-d inputs, full reductions, full integer indexes,
    1-d @ 1-d...): no kernel answers a NumPy scalar; ``item`` answers a Python number."""
    k = cr.backends.load(backend)
    checked = 0
    for case in testing.kernel_cases():
        if case.fn is None:
            continue
        try:
            args = _converted(k, case.args)
        except TypeError as exc:
            assert "bfloat16" in str(exc), exc   # the only dtype a backend here may lack
            continue
        with np.errstate(all="ignore"):
            try:
                out = case.fn(k, *args)
            except Exception:   # cases that check an error; the kit checks which
                continue
        assert not _numpy_scalars_in(out), f"{case.id} answered {_numpy_scalars_in(out)!r}"
        checked += 1
    assert checked > 300


ELEMENTWISE = [("negative", cr.negative), ("exp", cr.exp), ("log", lambda x: cr.log(cr.abs(x) + 1)),
               ("sqrt", lambda x: cr.sqrt(cr.abs(x))), ("tanh", cr.tanh), ("erf", cr.erf),
               ("sign", cr.sign), ("relu", cr.nn.relu), ("sigmoid", cr.nn.sigmoid), ("gelu", cr.nn.gelu),
               ("clip", lambda x: cr.clip(x, -0.5, 0.5)), ("astype", lambda x: cr.astype(x, "float64")),
               ("add", lambda x: x + x), ("divide", lambda x: x / 3.0), ("power", lambda x: x ** 2),
               ("maximum", lambda x: cr.maximum(x, 0.1)), ("where", lambda x: cr.where(x > 0, x, 1.0)),
               ("greater", lambda x: x > 0), ("isfinite", cr.isfinite)]
REDUCTIONS = [("sum", cr.sum), ("mean", cr.mean), ("max", cr.max), ("min", cr.min), ("prod", cr.prod),
              ("var", cr.var), ("std", cr.std), ("logsumexp", cr.logsumexp),
              ("argmax", cr.argmax), ("argmin", cr.argmin),
              ("any", lambda x, axis=None: cr.any(x > 0, axis=axis)),
              ("all", lambda x, axis=None: cr.all(x > 0, axis=axis))]


@st.composite
def op_and_input(draw):
    shape = draw(st.sampled_from([(), (1,), (3,), (2, 3)]))
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2)))
    kind = draw(st.sampled_from(["elementwise", "reduction", "index"]))
    if kind == "elementwise":
        name, f = draw(st.sampled_from(ELEMENTWISE))
    elif kind == "reduction":
        name, g = draw(st.sampled_from(REDUCTIONS))
        axis = draw(st.sampled_from([None] + list(range(len(shape)))))
        if name.startswith("arg") and axis is None:
            f = g
        else:
            f = lambda x, g=g, axis=axis: g(x, axis=axis)   # noqa: E731
    else:
        if not shape:
            name, f = "matmul 0-d", lambda x: cr.reshape(x, (1,)) @ cr.reshape(x, (1,))
        else:
            name = draw(st.sampled_from(["int index", "matmul", "take"]))
            f = {"int index": lambda x: x[(0,) * x.ndim],
                 "matmul": lambda x: cr.reshape(x, (-1,)) @ cr.reshape(x, (-1,)),
                 "take": lambda x: cr.take(cr.reshape(x, (-1,)), 0)}[name]
    return name, f, values


@PROPERTY
@given(case=op_and_input())
def test_every_op_answers_the_backends_array_type(backend, case):
    """Values and gradients are arrays of the backend's type, 0-d results included (NumPy
    would answer np.float64 scalars, whose ``+=`` rebinds instead of writing)."""
    name, f, values = case
    x = cr.tensor(values, requires_grad=True)
    out = f(x)
    assert type(out._data) is array_type(backend), (name, type(out._data))
    if out.dtype.is_floating:
        cr.sum(out).backward()
        assert type(x.grad._data) is array_type(backend), (name, type(x.grad._data))


def test_a_full_integer_index_is_a_0d_view(backend):
    """x[i] of a 1-d tensor is a 0-d array viewing x's memory (as torch's), not a copy."""
    x = cr.tensor([1.0, 2.0, 3.0])
    y = x[1]
    assert type(y._data) is array_type(backend) and y.shape == ()
    if backend == "numpy":
        assert np.shares_memory(y._data, x._data)
    else:
        assert y._data.untyped_storage().data_ptr() == x._data.untyped_storage().data_ptr()
    s = x.sum()
    s += 1       # an array, so in place: the Tensor stays a Tensor of the backend's type
    assert type(s._data) is array_type(backend) and float(s) == 7.0


# --------------------- (c) float16/bfloat16 accumulate in float32, as in torch

def _torch_sum(t, axis):
    return t.sum() if axis is None else t.sum(axis)


LOW_OPS = {  # name: (chainrule f(x, axis), torch f(t, axis))
    "sum": (lambda x, a: cr.sum(x, axis=a), _torch_sum),
    "mean": (lambda x, a: cr.mean(x, axis=a), lambda t, a: t.mean() if a is None else t.mean(a)),
    "var": (lambda x, a: cr.var(x, axis=a), lambda t, a: torch.var(t, a, correction=0)),
    "std": (lambda x, a: cr.std(x, axis=a), lambda t, a: torch.std(t, a, correction=0)),
    "logsumexp": (lambda x, a: cr.logsumexp(x, axis=a),
                  lambda t, a: torch.logsumexp(t, tuple(range(t.ndim)) if a is None else a)),
    "softmax": (lambda x, a: cr.nn.softmax(x, axis=-1 if a is None else a),
                lambda t, a: torch.softmax(t, -1 if a is None else a)),
    "log_softmax": (lambda x, a: cr.nn.log_softmax(x, axis=-1 if a is None else a),
                    lambda t, a: torch.log_softmax(t, -1 if a is None else a)),
    # torch's float16 CPU kernel leaves rounding noise where x - mean is exactly 0 (one element:
    # -0.066 for 16432, where float32 and float64 give 0): the reference is torch in float32 on
    # the same rounded inputs, rounded back, which is what accumulating in float32 means
    "layer_norm": (lambda x, a: cr.nn.layer_norm(x),
                   lambda t, a: TF.layer_norm(t.float(), t.shape[-1:]).to(t.dtype)),
    "mse_loss": (lambda x, a: cr.nn.mse_loss(x, cr.zeros_like(x)),
                 lambda t, a: TF.mse_loss(t, torch.zeros_like(t))),
    "cross_entropy": (lambda x, a: cr.nn.cross_entropy(cr.reshape(x, (-1, x.shape[-1])), _labels(x.shape)),
                      lambda t, a: TF.cross_entropy(t.reshape(-1, t.shape[-1]),
                                                    torch.from_numpy(_labels(tuple(t.shape)).numpy()))),
}


def _labels(shape):
    rows = math.prod(shape[:-1])
    return cr.tensor(np.arange(rows) % shape[-1], dtype="int64")


def _close(ours, theirs, dtype, what, floor=1e-2):
    """Within a few units in the last place of the low-precision dtype, scaled by the
    result's magnitude (at least ``floor``); infinities must match."""
    o, t = ours.astype(np.float64), theirs.astype(np.float64)
    inf = np.isinf(t)
    assert np.array_equal(np.isinf(o), inf) and np.array_equal(o[inf], t[inf]), (what, o, t)
    eps = 2.0 ** -10 if dtype == "float16" else 2.0 ** -7
    scale = max(np.max(np.abs(t[~inf]), initial=0.0), floor)   # exact zeros vs rounding noise
    np.testing.assert_allclose(o[~inf], t[~inf], rtol=4 * eps, atol=4 * eps * scale, err_msg=what)


@PROPERTY
@given(dtype=st.sampled_from(LOW), name=st.sampled_from(sorted(LOW_OPS)),
       shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
       scale=st.sampled_from([1.0, 3000.0, 60000.0]), axis_pick=st.integers(-1, 2),
       seed=st.integers(0, 2 ** 16))
def test_low_precision_reductions_match_torch(backend, dtype, name, shape, scale, axis_pick, seed):
    """Values (also where float16 accumulation would overflow: scale 3000 and 60000) and
    gradients match torch's, and both keep the input dtype."""
    ours, theirs = LOW_OPS[name]
    axis = None if axis_pick < 0 else axis_pick % len(shape)
    rng = np.random.default_rng(seed)
    values = (rng.uniform(-1, 1, shape) * scale).astype(np.float32)
    x = cr.tensor(values, dtype=dtype, requires_grad=True)
    t = torch.tensor(values).to(getattr(torch, dtype)).requires_grad_(True)
    out, tout = ours(x, axis), theirs(t, axis)
    assert out.dtype == dtype and out.shape == tuple(tout.shape)
    # layer_norm's outputs are O(1) by construction: torch's rounding noise where the exact
    # value is 0 (one element: x - mean = 0) is measured against 1
    _close(as_numpy(out)[0], tout.detach().float().numpy(), dtype, f"{name} value",
           floor=1.0 if name == "layer_norm" else 1e-2)
    if not np.isfinite(tout.detach().float().numpy()).all():
        return     # torch's gradient through an inf is not a reference
    if name == "std" and (values.size if axis is None else shape[axis]) == 1:
        print("std of one value is a constant's std, whose gradient is section 6's edge case")
        return
    u = rng.uniform(-1, 1, tuple(tout.shape)).astype(np.float32)
    out.backward(cr.tensor(u, dtype=dtype))
    tout.backward(torch.tensor(u).to(getattr(torch, dtype)))
    assert x.grad.dtype == dtype and x.grad.shape == x.shape
    _close(as_numpy(x.grad)[0], t.grad.float().numpy(), dtype, f"{name} gradient")


@pytest.mark.parametrize("dtype", LOW)
def test_mean_of_many_float16_values_does_not_overflow(backend, dtype):
    x = cr.full((10_000,), 100.0, dtype=dtype)
    expected = torch.full((10_000,), 100.0, dtype=getattr(torch, dtype)).mean()
    assert x.mean().dtype == dtype
    assert float(x.mean()) == float(expected)


@PROPERTY
@given(dtype=st.sampled_from(LOW), scale=st.sampled_from([1.0, 300.0, 3000.0]),
       sizes=st.lists(st.integers(1, 400), min_size=1, max_size=3),
       norm_type=st.sampled_from([2.0, 1.0, math.inf]),
       seed=st.integers(0, 2 ** 16))
def test_clip_grad_norm_measures_low_precision_gradients_in_float32(backend, dtype, scale, sizes,
                                                                     norm_type, seed):
    """The total norm is the float64 norm of the gradients (even above float16's 65504),
    and the clipped gradients are grad * max_norm / total: never zeroed."""
    rng = np.random.default_rng(seed)
    params = []
    for n in sizes:
        p = cr.tensor(np.zeros(n), dtype=dtype, requires_grad=True)
        p.grad = cr.tensor(rng.uniform(-1, 1, n) * scale, dtype=dtype)
        params.append(p)
    before = [as_numpy(p.grad)[0] for p in params]
    flat = np.concatenate(before)
    if norm_type == math.inf:
        truth = np.max(np.abs(flat))
    else:
        truth = np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    total = cr.optim.clip_grad_norm_(params, 1.0, norm_type=norm_type)
    assert math.isfinite(float(total))
    np.testing.assert_allclose(float(total), truth, rtol=1e-3)
    coef = min(1.0, 1.0 / (truth + 1e-6))
    for p, g in zip(params, before):
        assert p.grad.dtype == dtype
        _close(as_numpy(p.grad)[0], (g * coef).astype(np_dtype(dtype)), dtype, "clipped gradient")
        assert np.count_nonzero(as_numpy(p.grad)[0]) == np.count_nonzero(g.astype(np_dtype(dtype)) * coef)


def test_clip_grad_norm_across_backends_matches_torch():
    """Gradients on numpy and torch together (the total is gathered on one backend)."""
    grads = [np.array([3.0, 4.0], np.float32), np.array([12.0, -1.0], np.float32)]
    params = []
    for g, name in zip(grads, ["numpy", "torch"]):
        p = cr.tensor(np.zeros(2), dtype="float32", requires_grad=True, backend=name)
        p.grad = cr.tensor(g, backend=name)
        params.append(p)
    theirs = [torch.zeros(2, requires_grad=True) for _ in grads]
    for t, g in zip(theirs, grads):
        t.grad = torch.tensor(g)
    total = cr.optim.clip_grad_norm_(params, 1.0)
    np.testing.assert_allclose(float(total), float(torch.nn.utils.clip_grad_norm_(theirs, 1.0)), rtol=1e-6)
    for p, t in zip(params, theirs):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("x_dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("w_dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("b_dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("b_shape", [(4,), (1,), (), (3, 1), (2, 3, 4)])
def test_fused_linear_is_x_at_w_plus_b(backend, x_dtype, w_dtype, b_dtype, b_shape):
    """cr.nn.linear adds the bias in place when it can: never with another dtype or shape than
    x @ W + b gives (a float64 bias promotes, a (2, 3, 4) bias broadcasts), values the same."""
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((3, 5)).astype(x_dtype), backend=backend)
    w = cr.tensor(rng.standard_normal((5, 4)).astype(w_dtype), backend=backend)
    b = cr.tensor(rng.standard_normal(b_shape).astype(b_dtype), backend=backend)
    fused, plain = cr.nn.linear(x, w, b), x @ w + b
    assert (fused.dtype, fused.shape) == (plain.dtype, plain.shape)
    np.testing.assert_array_equal(fused.numpy(), plain.numpy())

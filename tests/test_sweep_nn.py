"""cr.nn sweep against torch: classes of silent wrong answers found in cr.nn's functional ops
and modules, each checked on the numpy and torch backends.

- max_pool2d with padding: a window whose input entries are all -inf ties with its -inf
  padding; torch sends the gradient to the window's first maximum *inside the input*, never
  to padding (where it would be lost).
- cross_entropy with probability targets of another float dtype: the loss takes the promoted
  dtype (float16 logits, float32 targets -> float32), as torch and NumPy promotion, not the
  logits' low-precision dtype; each gradient keeps its input's dtype.
- layer_norm / LayerNorm: weight and bias must have the normalized axis' shape (x.shape[-1],),
  as torch's; other shapes used to broadcast silently (x (5, 1) with weight (5,) gave (5, 5)).
- Module.load_state_dict: integer values beyond a float16 parameter's range are refused (as
  floating ones already are) instead of silently loading inf, and nothing is written.
"""
import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch", reason="torch is the oracle")
TF = torch.nn.functional
BACKENDS = ["numpy", "torch"]
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=2e-5, atol=2e-5)}


# ------------------------------------------------------------ max_pool2d: -inf windows + padding

POOLS = [dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=3, stride=2, padding=1),
         dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0)),
         dict(kernel_size=(2, 3), stride=1, padding=(1, 1), dilation=(1, 2))]


def _masked_input():
    """Mostly -inf (a masked map), with a few finite entries: many windows see only -inf
    input entries plus -inf padding."""
    x = np.full((1, 2, 4, 5), -np.inf)
    x[0, 0, 2, 2], x[0, 1, 0, 4], x[0, 1, 3, 1] = 0.5, -1.0, 2.0
    return x


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", POOLS, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool2d_gradient_of_all_minus_inf_windows_goes_inside_the_input_as_torch(backend, kw, dtype):
    x = _masked_input()
    tx = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
    ty = TF.max_pool2d(tx, **kw)
    g = np.random.default_rng(0).standard_normal(tuple(ty.shape))
    want, = torch.autograd.grad(ty, tx, torch.tensor(g, dtype=getattr(torch, dtype)))
    xs = cr.tensor(x, dtype=dtype, backend=backend)
    y, pullback = cr.vjp(lambda v: cr.nn.max_pool2d(v, **kw), xs)
    np.testing.assert_array_equal(y.numpy().astype(np.float64), ty.detach().double().numpy())
    got, = pullback(cr.tensor(g, dtype=dtype, backend=backend))
    np.testing.assert_allclose(got.numpy().astype(np.float64), want.double().numpy(),
                               err_msg="gradient lost to -inf padding", **TOL[dtype])


# ------------------------------------------------------------ cross_entropy: mixed float dtypes

MIXED = [("float16", "float32"), ("float16", "float64"), ("bfloat16", "float32"),
         ("float32", "float64"), ("float64", "float32"), ("float32", "float16")]


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("logits_dtype, targets_dtype", MIXED, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_with_targets_of_another_float_dtype_promotes_as_torch(
        backend, logits_dtype, targets_dtype, reduction):
    rng = np.random.default_rng(1)
    z, p = rng.standard_normal((3, 5)) * 2, rng.dirichlet(np.ones(5), size=3)
    tz = torch.tensor(z).to(getattr(torch, logits_dtype)).requires_grad_()
    tp = torch.tensor(p).to(getattr(torch, targets_dtype)).requires_grad_()
    want = TF.cross_entropy(tz, tp, reduction=reduction)
    zs = cr.tensor(z, backend=backend).astype(logits_dtype)
    ps = cr.tensor(p, backend=backend).astype(targets_dtype)
    got = cr.nn.cross_entropy(zs, ps, reduction=reduction)
    assert str(got.dtype) == str(want.dtype).replace("torch.", ""), \
        f"loss dtype {got.dtype}, torch (and NumPy promotion) {want.dtype}"
    # the exact loss of the rounded inputs, in float64: the promoted result is as close as its dtype
    exact = TF.cross_entropy(tz.detach().double(), tp.detach().double(), reduction=reduction)
    tol = 1e-3 if "float16" in str(want.dtype) else 2e-6
    np.testing.assert_allclose(got.numpy().astype(np.float64), exact.numpy(), rtol=tol, atol=tol)
    gz, gp = cr.grad(lambda a, b: cr.sum(cr.nn.cross_entropy(a, b, reduction=reduction)),
                     argnums=(0, 1))(zs, ps)
    assert (str(gz.dtype), str(gp.dtype)) == (logits_dtype, targets_dtype)


# ------------------------------------------------------------ layer_norm: weight / bias shapes

LN_BAD = [   # (x shape, weight shape or None, bias shape or None)
    ((5, 1), (5,), None),       # broadcast to (5, 5)
    ((2, 4), (1,), None),       # a scalar scale, silently
    ((2, 4), None, (2, 1)),     # a per-row shift, silently
    ((2, 4), (3,), None),       # no broadcast: the error must name layer_norm
    ((2, 3, 4), (3, 4), (4,)),  # torch's normalized_shape (3, 4) is not what cr normalizes
]


@pytest.mark.parametrize("xs, ws, bs", LN_BAD, ids=str)
@pytest.mark.parametrize("backend", BACKENDS)
def test_layer_norm_refuses_weight_or_bias_not_of_the_normalized_axis_shape(backend, xs, ws, bs):
    x = cr.ones(xs, backend=backend)
    w = None if ws is None else cr.ones(ws, backend=backend)
    b = None if bs is None else cr.zeros(bs, backend=backend)
    with pytest.raises(cr.ShapeError, match=r"layer_norm: (weight|bias) must have shape"):
        cr.nn.layer_norm(x, weight=w, bias=b)


@pytest.mark.parametrize("features, width", [(1, 4), (3, 4), (4, 1)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_layer_norm_module_refuses_inputs_of_another_width(backend, features, width):
    layer = cr.nn.LayerNorm(features, backend=backend)
    before = [p.numpy().copy() for p in layer.parameters()]
    with pytest.raises(cr.ShapeError, match="layer_norm"):
        layer(cr.random.normal((2, width), backend=backend))
    for p, b in zip(layer.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), b)


# ------------------------------------------------------------ load_state_dict: integer overflow

@pytest.mark.parametrize("value", [np.full((2, 2), 70000, dtype=np.int64),
                                   np.full((2, 2), 65520, dtype=np.int32),
                                   [[1, 2], [3, 10 ** 6]]], ids=["int64", "int32", "list"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_load_state_dict_refuses_integers_beyond_a_float16_parameter(backend, value):
    model = cr.nn.Linear(2, 2, dtype="float16", backend=backend)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(cr.DTypeError, match="weight.*beyond the range of float16"):
        model.load_state_dict({"weight": value, "bias": np.zeros(2, dtype=np.int64)})
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    assert np.isfinite(model.weight.numpy()).all()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_is_x_times_torchs_mask_and_keeps_nan_and_inf_visible(backend, dtype, p):
    """dropout(x) is x * (keep / (1 - p)) as torch computes it, bit for bit in every float dtype,
    and its gradient is g times that mask; a dropped NaN or inf gives NaN (0 * nan), as in
    torch, never a 0 that hides it."""
    rng = np.random.default_rng(0)
    values = rng.uniform(0.1, 10, 400)
    values[:40] = np.nan
    values[40:80] = np.inf
    x = cr.tensor(values, dtype=dtype, backend=backend, requires_grad=True)
    with np.errstate(invalid="ignore"):
        out = cr.nn.dropout(x, p, seed=1)
    keep = np.isfinite(out.numpy().astype(np.float64)[80:]) & (out.numpy().astype(np.float64)[80:] != 0)
    dropped = cr.nn.dropout(cr.ones((400,), dtype=dtype, backend=backend), p, seed=1).numpy() == 0
    assert 0 < dropped.sum() < 400 and (keep == ~dropped[80:]).all()
    t = torch.tensor(values).to(getattr(torch, dtype))
    mask = torch.tensor(~dropped).to(t.dtype).div_(1 - p)
    want = (t * mask).double().numpy()
    got = out.numpy().astype(np.float64)
    np.testing.assert_array_equal(got, want)          # NaN where torch has NaN, inf where it has inf
    assert np.isnan(got[:80][dropped[:80]]).all()     # dropped NaN and inf entries stay NaN
    out.backward(cr.ones((400,), dtype=dtype, backend=backend))
    np.testing.assert_array_equal(x.grad.numpy().astype(np.float64), mask.double().numpy())


@pytest.mark.parametrize("groups", [1, 4])
@pytest.mark.parametrize("name, torch_init", [
    ("kaiming_normal", lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu")),
    ("kaiming_uniform", lambda w: torch.nn.init.kaiming_uniform_(w, nonlinearity="relu")),
    ("xavier_normal", torch.nn.init.xavier_normal_),
    ("xavier_uniform", torch.nn.init.xavier_uniform_),
])
def test_conv_init_uses_torchs_fans_for_the_out_in_kernel_layout(name, torch_init, groups):
    """A Conv2d weight is (out, in/groups, kh, kw), torch's layout, not the (in, out) cr.init
    reads off a bare shape: Conv2d(init=...) draws with torch's fans, so its spread is
    torch's (out=16, in=128: a fan read the other way round is off by a factor sqrt(8))."""
    cr.random.seed(0)
    conv = cr.nn.Conv2d(128, 16, 3, groups=groups, init=name)
    w = torch.empty(tuple(conv.weight.shape))
    torch_init(w)
    expected = float(w.std())
    got = float(conv.weight.numpy().std())
    assert abs(got / expected - 1) < 0.06, (got, expected)


@pytest.mark.parametrize("layer, args", [
    ("AvgPool2d", (3, 2, 1)), ("AvgPool2d", (3, 2, 1, False)), ("AvgPool2d", (3, 2, 1, False, False)),
    ("AvgPool2d", (3, 1, 1, False, True, 2)), ("MaxPool2d", (3, 2, 1)), ("MaxPool2d", (3, 1, 1, 2)),
])
def test_pool_layers_read_positional_arguments_in_torchs_order(layer, args):
    """AvgPool2d(3, 2, 1, False) is torch's ceil_mode=False; it was read as count_include_pad=False
    (a silently different average at padded borders)."""
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6)).astype("float32")
    got = getattr(cr.nn, layer)(*args)(cr.tensor(x)).numpy()
    want = getattr(torch.nn, layer)(*args)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("pred_shape, target_shape", [((3, 1), (3,)), ((3,), (3, 1)), ((4, 3), (3,)), ((2,), ())])
def test_mse_loss_warns_as_torch_when_shapes_differ(pred_shape, target_shape):
    """A (B, 1) prediction against a (B,) target broadcasts to B * B errors: torch warns, and so
    does chainrule (it was silent); equal shapes and Python numbers give no warning."""
    with pytest.warns(UserWarning, match="broadcast"):
        cr.nn.mse_loss(cr.ones(pred_shape), cr.zeros(target_shape))
    with pytest.warns(UserWarning, match="broadcast"):
        torch.nn.functional.mse_loss(torch.ones(pred_shape), torch.zeros(target_shape))
    import warnings as _w
    with _w.catch_warnings():
        _w.simplefilter("error")
        cr.nn.mse_loss(cr.ones(pred_shape), cr.zeros(pred_shape))
        cr.nn.mse_loss(cr.ones(pred_shape), 2.0)

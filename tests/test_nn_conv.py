"""cr.nn windows, lookup and normalization against torch.nn.functional: conv1d, conv2d,
max_pool2d, avg_pool2d, unfold, fold, embedding, batch_norm, softplus, seeded dropout, and
their modules.  Values, VJPs (torch.autograd) and JVPs (torch.func.jvp) on every backend,
float32 and float64; cr.gradcheck in both modes to order 2; cr.vmap against torch.func.vmap.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, DTypeError, IndexingError, ShapeError
from backend_fixtures import backend   # noqa: F401  (a pytest fixture)

torch = pytest.importorskip("torch", reason="torch is the oracle (pip install -e '.[test]')")
TF = torch.nn.functional
TOL = {"float64": dict(rtol=1e-10, atol=1e-10), "float32": dict(rtol=2e-5, atol=2e-5)}


def arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


def close(ours, theirs, dtype, what):
    ours = np.asarray(ours.numpy() if isinstance(ours, cr.Tensor) else ours, dtype=np.float64)
    theirs = theirs.detach().cpu().double().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, err_msg=what, **TOL[dtype])


def against_torch(ours, theirs, inputs, dtype="float64"):
    """ours(*cr tensors) and theirs(*torch tensors) agree on the value, the VJP of a random
    cotangent (torch.autograd) and the JVP of random tangents (torch.func.jvp)."""
    rng = np.random.default_rng(99)
    xs = [cr.tensor(a, dtype=dtype) for a in inputs]
    txs = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in inputs]
    out, tout = ours(*xs), theirs(*txs)
    close(out, tout, dtype, "value")
    g = rng.standard_normal(tuple(tout.shape))
    grads = cr.vjp(ours, *xs)[1](cr.tensor(g, dtype=dtype))
    tgrads = torch.autograd.grad(tout, txs, torch.tensor(g, dtype=getattr(torch, dtype)))
    for i, (a, b) in enumerate(zip(grads, tgrads)):
        assert str(a.dtype) == dtype, f"VJP {i} has dtype {a.dtype}, not its primal's {dtype}"
        close(a, b, dtype, f"VJP of argument {i}")
    ts = [rng.standard_normal(np.shape(a)) for a in inputs]
    tangent = cr.jvp(ours, tuple(xs), tuple(cr.tensor(t, dtype=dtype) for t in ts))[1]
    ttangent = torch.func.jvp(theirs, tuple(t.detach() for t in txs),
                              tuple(torch.tensor(t, dtype=getattr(torch, dtype)) for t in ts))[1]
    close(tangent, ttangent, dtype, "JVP")


def gradcheck(fn, *inputs):
    xs = [cr.tensor(a, dtype="float64") for a in inputs]
    assert cr.gradcheck(fn, xs, modes=("fwd", "rev"), order=2) is True


# ------------------------------------------------------------------ convolution

CONV2D = [   # (input shape, weight shape, keywords)
    ((2, 4, 6, 5), (3, 4, 3, 2), {}),
    ((2, 4, 7, 6), (6, 2, 3, 3), dict(stride=2, padding=1, groups=2)),
    ((1, 3, 6, 6), (2, 3, 2, 3), dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1))),
    ((2, 2, 5, 4), (4, 2, 2, 2), dict(padding="same", dilation=2)),
    ((2, 6, 4, 4), (6, 1, 3, 3), dict(padding="valid", groups=6)),   # depthwise
    ((3, 5, 5), (2, 3, 3, 3), dict(padding=1)),                       # unbatched (C, H, W)
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("xs, ws, kw", CONV2D)
def test_conv2d_matches_torch(backend, xs, ws, kw, dtype):
    x, w, b = arrays(xs, ws, ws[:1])
    against_torch(lambda x, w, b: cr.nn.conv2d(x, w, b, **kw),
                  lambda x, w, b: TF.conv2d(x, w, b, **kw), [x, w, b], dtype)


@pytest.mark.parametrize("xs, ws, kw", [
    ((2, 3, 9), (4, 3, 3), dict(stride=2, padding=1)),
    ((2, 4, 8), (4, 2, 2), dict(dilation=3, groups=2)),
    ((3, 7), (2, 3, 4), dict(padding="same")),
])
def test_conv1d_matches_torch(backend, xs, ws, kw):
    x, w = arrays(xs, ws)
    against_torch(lambda x, w: cr.nn.conv1d(x, w, **kw), lambda x, w: TF.conv1d(x, w, **kw), [x, w])


def test_conv_gradcheck_order_2():
    x, w, b = arrays((1, 2, 4, 3), (4, 1, 2, 2), (4,))
    gradcheck(lambda x, w, b: cr.nn.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2), x, w, b)
    x, w = arrays((2, 2, 5), (1, 2, 3))
    gradcheck(lambda x, w: cr.nn.conv1d(x, w, padding="same", dilation=2), x, w)


def test_conv_under_vmap_matches_torch_func_vmap(backend):
    x, w = arrays((3, 2, 4, 5, 5), (6, 2, 3, 3))
    ws = arrays((3, 6, 2, 3, 3), seed=1)[0]
    kw = dict(stride=2, padding=1, groups=2)
    got = cr.vmap(lambda x: cr.nn.conv2d(x, cr.tensor(w), **kw))(cr.tensor(x))
    want = torch.func.vmap(lambda x: TF.conv2d(x, torch.tensor(w), **kw))(torch.tensor(x))
    close(got, want, "float64", "vmap over inputs")
    got = cr.vmap(lambda w: cr.nn.conv2d(cr.tensor(x[0]), w, **kw))(cr.tensor(ws))
    want = torch.func.vmap(lambda w: TF.conv2d(torch.tensor(x[0]), w, **kw))(torch.tensor(ws))
    close(got, want, "float64", "vmap over weights")
    # per-example gradients: vmap(grad)
    loss = lambda x, w: cr.sum(cr.tanh(cr.nn.conv2d(x, w, **kw)))       # noqa: E731
    tloss = lambda x, w: torch.tanh(TF.conv2d(x, w, **kw)).sum()        # noqa: E731
    got = cr.vmap(cr.grad(loss, argnums=1), in_axes=(0, None))(cr.tensor(x), cr.tensor(w))
    want = torch.func.vmap(torch.func.grad(tloss, argnums=1), in_dims=(0, None))(
        torch.tensor(x), torch.tensor(w))
    close(got, want, "float64", "vmap(grad) per-example weight gradients")


# ------------------------------------------------------------------ unfold / fold

@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=(2, 3), padding=1, stride=2),
                                dict(kernel_size=2, dilation=(2, 1), stride=(1, 2))])
def test_unfold_and_fold_match_torch(backend, kw):
    x, = arrays((2, 3, 6, 5))
    against_torch(lambda x: cr.nn.unfold(x, **kw), lambda x: TF.unfold(x, **kw), [x])
    cols = TF.unfold(torch.tensor(x), **kw).numpy()
    against_torch(lambda c: cr.nn.fold(c, (6, 5), **kw), lambda c: TF.fold(c, (6, 5), **kw), [cols])


def test_unfold_fold_gradcheck_order_2_and_vmap():
    x, = arrays((1, 2, 4, 3))
    gradcheck(lambda x: cr.nn.unfold(x, (2, 2), padding=1, stride=(2, 1)), x)
    gradcheck(lambda c: cr.nn.fold(c, (4, 3), 2, padding=1), cr.nn.unfold(cr.tensor(x), 2, padding=1).numpy())
    xs, = arrays((3, 2, 4, 3))
    got = cr.vmap(lambda x: cr.nn.fold(cr.nn.unfold(x, 2), (4, 3), 2))(cr.tensor(xs))
    want = torch.func.vmap(lambda x: TF.fold(TF.unfold(x, 2), (4, 3), 2))(torch.tensor(xs))
    close(got, want, "float64", "vmap of fold(unfold)")


# ------------------------------------------------------------------ pooling

POOL = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
        dict(kernel_size=(3, 2), stride=1, padding=(1, 1))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", POOL)
def test_max_pool2d_matches_torch(backend, kw, dtype):
    x, = arrays((2, 3, 6, 5))
    against_torch(lambda x: cr.nn.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [x], dtype)
    kw = dict(kw, dilation=2)
    against_torch(lambda x: cr.nn.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [x], dtype)


def test_max_pool2d_ties_send_the_gradient_to_the_first_max_as_torch(backend):
    """Small integers tie inside windows: the whole gradient goes to the first maximum in
    row-major window order (torch's rule), in both modes and under vmap."""
    x = np.round(np.random.default_rng(3).standard_normal((2, 2, 5, 5)))
    kw = dict(kernel_size=3, stride=1, padding=1)
    against_torch(lambda x: cr.nn.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [x])
    got = cr.vmap(cr.grad(lambda x: cr.sum(cr.sin(cr.nn.max_pool2d(x, **kw)))))(cr.tensor(x))
    want = torch.func.vmap(torch.func.grad(lambda x: torch.sin(TF.max_pool2d(x, **kw)).sum()))(torch.tensor(x))
    close(got, want, "float64", "vmap(grad) with ties")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", POOL + [dict(kernel_size=3, padding=1, count_include_pad=False),
                                       dict(kernel_size=2, padding=1, divisor_override=3)])
def test_avg_pool2d_matches_torch(backend, kw, dtype):
    x, = arrays((2, 3, 6, 5))
    against_torch(lambda x: cr.nn.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), [x], dtype)


def test_pooling_gradcheck_order_2_and_vmap():
    x = np.random.default_rng(5).permutation(24).reshape(1, 2, 3, 4) * 0.3   # no near-ties
    gradcheck(lambda x: cr.nn.max_pool2d(x, 2, 1, 1), x)
    gradcheck(lambda x: cr.nn.avg_pool2d(x, 3, 2, 1, count_include_pad=False), x)
    xs, = arrays((3, 2, 4, 4))
    for ours, theirs in [(cr.nn.max_pool2d, TF.max_pool2d), (cr.nn.avg_pool2d, TF.avg_pool2d)]:
        got = cr.vmap(lambda x: ours(x, 2, 2, 1))(cr.tensor(xs))
        want = torch.func.vmap(lambda x: theirs(x, 2, 2, 1))(torch.tensor(xs))
        close(got, want, "float64", f"vmap of {ours.__name__}")


def test_pools_keep_the_input_dtype_under_autocast_as_torch():
    """autocast runs sums in float32; a pool of float16 stays float16 (torch's pools are on
    neither of its lists), and conv2d runs in float16 as torch's (its matmul is listed)."""
    x = cr.random.normal((1, 2, 4, 4))
    with cr.amp.autocast("float16"):
        for pool in (lambda x: cr.nn.max_pool2d(x, 2), lambda x: cr.nn.avg_pool2d(x, 2),
                     lambda x: cr.nn.avg_pool2d(x, 3, 1, 1, count_include_pad=False)):
            assert str(pool(x.astype("float16")).dtype) == "float16"
            assert str(pool(x).dtype) == "float32"
        assert str(cr.nn.conv2d(x, cr.random.normal((3, 2, 2, 2))).dtype) == "float16"


# ------------------------------------------------------------------ embedding

def test_embedding_sums_repeated_indices_as_torch(backend):
    w, = arrays((6, 3))
    idx = [[0, 2, 2], [5, 2, 0]]
    against_torch(lambda w: cr.nn.embedding(cr.tensor(idx), w),
                  lambda w: TF.embedding(torch.tensor(idx), w), [w])
    against_torch(lambda w: cr.nn.embedding(cr.tensor(idx), w, padding_idx=2),
                  lambda w: TF.embedding(torch.tensor(idx), w, padding_idx=2), [w])


def test_embedding_padding_row_is_dropped_from_the_vjp_only_as_torch():
    """padding_idx is a convention on the gradient: the VJP leaves that row's gradient zero, the
    JVP is the true derivative (torch does the same), so gradcheck holds in forward mode and
    (the padding row being the exception) the VJP is the true one of the other rows."""
    w, = arrays((4, 2))
    idx = cr.tensor([1, 3, 1, 0])
    assert cr.gradcheck(lambda w: cr.nn.embedding(idx, w, padding_idx=1), [cr.tensor(w)],
                        modes=("fwd",), order=2)
    g = cr.grad(lambda w: cr.sum(cr.nn.embedding(idx, w, padding_idx=1) * 3.0))(cr.tensor(w))
    np.testing.assert_array_equal(g.numpy(), [[3.0, 3.0], [0.0, 0.0], [0.0, 0.0], [3.0, 3.0]])


def test_embedding_under_vmap_with_batched_indices_or_tables(backend):
    w, = arrays((5, 3))
    idx = np.array([[0, 4], [2, 2], [1, 0]])
    got = cr.vmap(lambda i: cr.nn.embedding(i, cr.tensor(w)))(cr.tensor(idx))
    want = torch.func.vmap(lambda i: TF.embedding(i, torch.tensor(w)))(torch.tensor(idx))
    close(got, want, "float64", "vmap over indices")
    ws, = arrays((3, 5, 3), seed=2)
    got = cr.vmap(cr.grad(lambda w: cr.sum(cr.nn.embedding(cr.tensor([1, 1, 4]), w) ** 2)))(cr.tensor(ws))
    want = torch.func.vmap(torch.func.grad(
        lambda w: (TF.embedding(torch.tensor([1, 1, 4]), w) ** 2).sum()))(torch.tensor(ws))
    close(got, want, "float64", "vmap(grad) over tables")


# ------------------------------------------------------------------ batch_norm

def test_batch_norm_training_updates_running_statistics_as_torch(backend):
    x1, x2, w, b = arrays((4, 3, 2, 2), (5, 3, 2, 2), (3,), (3,))
    rm, rv = cr.zeros(3, dtype="float64"), cr.ones(3, dtype="float64")
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for x in (x1, x2 * 3 + 1):
        against_torch(lambda x, w, b: cr.nn.batch_norm(x, None, None, w, b, training=True),
                      lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), [x, w, b])
        y = cr.nn.batch_norm(cr.tensor(x), rm, rv, training=True, momentum=0.3)
        ty = TF.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.3)
        close(y, ty, "float64", "training output")
        close(rm, trm, "float64", "running_mean")
        close(rv, trv, "float64", "running_var (unbiased)")
    m, v = rm.numpy(), rv.numpy()   # eval: the running statistics (torch: not differentiable)
    against_torch(lambda x, w, b: cr.nn.batch_norm(x, cr.tensor(m), cr.tensor(v), w, b, eps=1e-3),
                  lambda x, w, b: TF.batch_norm(x, torch.tensor(m), torch.tensor(v), w, b, eps=1e-3),
                  [x1, w, b])


def test_batch_norm_gradcheck_order_2_and_vmap():
    x, w, b = arrays((3, 2, 2), (2,), (2,))
    gradcheck(lambda x, w, b: cr.nn.batch_norm(x, None, None, w, b, training=True), x, w, b)
    xs, = arrays((4, 3, 2, 3))
    got = cr.vmap(lambda x: cr.nn.batch_norm(x, None, None, training=True))(cr.tensor(xs))
    want = torch.func.vmap(lambda x: TF.batch_norm(x, None, None, training=True))(torch.tensor(xs))
    close(got, want, "float64", "vmap (each example's own statistics)")
    with pytest.raises(ArgumentError, match="inside cr.vmap"):
        cr.vmap(lambda x: cr.nn.batch_norm(x, cr.zeros(2), cr.ones(2), training=True))(cr.tensor(xs[:, :, :2]))


def test_batch_norm_module_train_eval_and_state_dict(backend):
    x, = arrays((6, 3, 4, 4))
    ours, theirs = cr.nn.BatchNorm2d(3, momentum=0.2), torch.nn.BatchNorm2d(3, momentum=0.2)
    for _ in range(2):
        close(ours(cr.tensor(x, dtype="float32")), theirs(torch.tensor(x, dtype=torch.float32)), "float32", "train")
    ours.eval(), theirs.eval()
    close(ours(cr.tensor(x, dtype="float32")), theirs(torch.tensor(x, dtype=torch.float32)), "float32", "eval")
    state = ours.state_dict()
    assert sorted(state) == ["bias", "running_mean", "running_var", "weight"]
    other = cr.nn.BatchNorm2d(3).load_state_dict(state)
    np.testing.assert_array_equal(other.running_var.numpy(), ours.running_var.numpy())
    with pytest.raises(ShapeError, match="rank 4"):
        ours(cr.ones((2, 3)))


# ------------------------------------------------------------------ softplus, dropout

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", [{}, dict(beta=2.0, threshold=1.0), dict(beta=0.5)])
def test_softplus_matches_torch(backend, kw, dtype):
    x = np.concatenate([arrays((7,))[0] * 3, [-800.0, 800.0, 0.0, 30.0]])   # no overflow
    against_torch(lambda x: cr.nn.softplus(x, **kw), lambda x: TF.softplus(x, **kw), [x], dtype)


def test_softplus_gradcheck_order_2_and_vmap():
    x, = arrays((2, 3))
    gradcheck(lambda x: cr.nn.softplus(x * 3, beta=2.0, threshold=1.5), x)
    got = cr.vmap(cr.grad(lambda x: cr.sum(cr.nn.softplus(x, beta=2.0))))(cr.tensor(x))
    want = torch.func.vmap(torch.func.grad(lambda x: TF.softplus(x, beta=2.0).sum()))(torch.tensor(x))
    close(got, want, "float64", "vmap(grad)")


def test_dropout_with_a_seed_is_deterministic_and_leaves_the_stream_alone(backend):
    x = cr.ones((50, 40))
    cr.random.seed(4)
    first = cr.random.uniform((3,))
    cr.random.seed(4)
    a = cr.nn.dropout(x, 0.3, seed=11)
    np.testing.assert_array_equal(cr.random.uniform((3,)).numpy(), first.numpy())
    b, c = cr.nn.dropout(x, 0.3, seed=11), cr.nn.dropout(x, 0.3, seed=12)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert (a.numpy() != c.numpy()).any()
    kept = a.numpy() != 0
    assert set(np.unique(a.numpy())) <= {0.0, np.float32(1 / 0.7)}
    assert 0.6 < kept.mean() < 0.8, f"kept fraction {kept.mean()}, expected about 0.7"
    g = cr.grad(lambda x: cr.sum(cr.nn.dropout(x, 0.3, seed=11)))(x)
    np.testing.assert_array_equal(g.numpy(), a.numpy())


# ------------------------------------------------------------------ modules

def test_a_small_cnn_matches_torch_modules():
    """Conv2d -> BatchNorm2d -> relu -> MaxPool2d -> AvgPool2d, plus an Embedding; the same
    weights in both, gradients of every parameter compared."""
    cr.random.seed(0)
    conv, bn = cr.nn.Conv2d(2, 4, 3, padding=1, dtype="float64"), cr.nn.BatchNorm2d(4, dtype="float64")
    emb = cr.nn.Embedding(5, 4, padding_idx=0, dtype="float64")
    tconv, tbn = torch.nn.Conv2d(2, 4, 3, padding=1).double(), torch.nn.BatchNorm2d(4).double()
    temb = torch.nn.Embedding(5, 4, padding_idx=0).double()
    with torch.no_grad():
        for t, p in [(tconv.weight, conv.weight), (tconv.bias, conv.bias), (temb.weight, emb.weight)]:
            t.copy_(torch.tensor(p.numpy()))
    x, = arrays((3, 2, 6, 6))
    idx = [1, 0, 3]

    def net(conv, bn, emb, F, x, idx):
        h = F.avg_pool2d(F.max_pool2d(F.relu(bn(conv(x))), 2), 3)          # (3, 4, 1, 1)
        return (h.reshape(3, 4) * emb(idx)).sum()
    loss = net(conv, bn, emb, cr.nn, cr.tensor(x), cr.tensor(idx))
    loss.backward()
    tloss = net(tconv, tbn, temb, TF, torch.tensor(x), torch.tensor(idx))
    tloss.backward()
    close(loss, tloss, "float64", "loss")
    for name, p, t in [("conv.weight", conv.weight, tconv.weight), ("conv.bias", conv.bias, tconv.bias),
                       ("bn.weight", bn.weight, tbn.weight), ("emb.weight", emb.weight, temb.weight)]:
        close(p.grad, t.grad, "float64", f"gradient of {name}")
    assert conv.weight.shape == (4, 2, 3, 3) and float(cr.sum(cr.abs(emb.weight[0]))) == 0.0


# ------------------------------------------------------------------ bad inputs

BAD = [
    (lambda: cr.nn.conv2d(cr.ones((3, 4, 4)), cr.ones((1, 3, 2, 2))), None),   # unbatched is fine
    (lambda: cr.nn.conv2d(cr.ones((3, 4)), cr.ones((1, 3, 2, 2))), (ShapeError, "input must have shape")),
    (lambda: cr.nn.conv2d(cr.ones((1, 3, 4, 4)), cr.ones((1, 2, 2, 2))), (ShapeError, "3 channels")),
    (lambda: cr.nn.conv2d(cr.ones((1, 4, 4, 4)), cr.ones((3, 2, 2, 2)), groups=2), (ArgumentError, "groups")),
    (lambda: cr.nn.conv2d(cr.ones((1, 3, 4, 4)), cr.ones((1, 3, 2))), (ShapeError, "weight must have shape")),
    (lambda: cr.nn.conv2d(cr.ones((1, 1, 2, 2)), cr.ones((1, 1, 3, 3))), (ShapeError, "smaller than the kernel")),
    (lambda: cr.nn.conv2d(cr.ones((1, 1, 4, 4)), cr.ones((1, 1, 2, 2)), stride=0), (ArgumentError, "stride")),
    (lambda: cr.nn.conv2d(cr.ones((1, 1, 4, 4)), cr.ones((1, 1, 2, 2)), stride=2, padding="same"),
     (ArgumentError, "stride 1")),
    (lambda: cr.nn.conv2d(cr.ones((1, 1, 4, 4)), cr.ones((1, 1, 2, 2)), padding="full"), (ArgumentError, "padding")),
    (lambda: cr.nn.conv2d(cr.ones((1, 1, 4, 4)), cr.ones((1, 1, 2, 2), dtype="float64")), (DTypeError, "one dtype")),
    (lambda: cr.nn.conv2d(cr.ones((1, 1, 4, 4), dtype="int64"), cr.ones((1, 1, 2, 2))), (DTypeError, "floating")),
    (lambda: cr.nn.conv2d(cr.ones((1, 1, 4, 4)), cr.ones((2, 1, 2, 2)), cr.ones(3)), (ShapeError, "bias")),
    (lambda: cr.nn.max_pool2d(cr.ones((1, 1, 4, 4)), 2, padding=2), (ArgumentError, "half the kernel")),
    (lambda: cr.nn.max_pool2d(cr.ones((1, 1, 4, 4)), 2, ceil_mode=True), (ArgumentError, "ceil_mode")),
    (lambda: cr.nn.avg_pool2d(cr.ones((1, 1, 4, 4)), (2, 2, 2)), (ArgumentError, "tuple of 2 ints")),
    (lambda: cr.nn.fold(cr.ones((1, 5, 4)), (3, 3), 2), (ShapeError, "does not match")),
    (lambda: cr.nn.embedding(cr.tensor([0, 5]), cr.ones((5, 2))), (IndexingError, "out of range")),
    (lambda: cr.nn.embedding(cr.tensor([-1]), cr.ones((5, 2))), (IndexingError, "out of range")),
    (lambda: cr.nn.embedding(cr.tensor([0.0]), cr.ones((5, 2))), (DTypeError, "integer")),
    (lambda: cr.nn.embedding(cr.tensor([0]), cr.ones(5)), (ShapeError, "2-D")),
    (lambda: cr.nn.batch_norm(cr.ones((4, 3)), None, None), (ArgumentError, "running_mean")),
    (lambda: cr.nn.batch_norm(cr.ones((1, 3)), None, None, training=True), (ShapeError, "more than one")),
    (lambda: cr.nn.batch_norm(cr.ones((4, 3)), cr.zeros(2), cr.ones(2)), (ShapeError, r"\(3,\)")),
    (lambda: cr.nn.softplus(cr.ones(3), beta=0), (ArgumentError, "beta")),
    (lambda: cr.nn.dropout(cr.ones(3), seed=-1), (ArgumentError, "seed")),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_inputs_raise_chainrule_errors_naming_the_fix(case):
    call, expected = BAD[case]
    if expected is None:
        call()
        return
    with pytest.raises(expected[0], match=expected[1]):
        call()


def test_batch_norm_under_checkpoint_updates_its_running_statistics_once():
    """cr.checkpoint runs the forward again in backward; the running statistics move once per
    training step, as without checkpointing (and the gradients are the same)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3, 4, 4))
    runs = {}
    for checkpointed in (False, True):
        cr.random.seed(0)
        bn = cr.nn.BatchNorm2d(3)
        bn.weight = cr.tensor(rng.standard_normal(3) * 0 + 1.5, requires_grad=True)
        xt = cr.tensor(x, dtype="float32", requires_grad=True)
        f = cr.checkpoint(bn) if checkpointed else bn
        cr.sum(f(xt) ** 2).backward()
        runs[checkpointed] = (bn.running_mean.numpy().copy(), bn.running_var.numpy().copy(), xt.grad.numpy())
    for plain, check in zip(runs[False], runs[True]):
        np.testing.assert_allclose(check, plain, rtol=1e-6, atol=1e-7)
    mean = x.astype(np.float32).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(runs[True][0], 0.1 * mean, rtol=1e-5, atol=1e-7)   # one update

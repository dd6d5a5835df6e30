"""cr.vmap: every built-in op batched (in_axes 0, 1, -1, None, trees, keywords) against the
definition, stack([f(x) for x in xs]), on numpy and torch; compositions with grad, jvp,
jacobians and itself against torch.func; a hypothesis property over random programs; the
fallback loop; the errors."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck

import chainrule as cr
from chainrule.vmap import BatchTrace
from backend_fixtures import backend  # noqa: F401  (a pytest fixture)
from conftest import data, assert_close, F64

B = 3


def raw_index(like, *parts):
    """An index as the indexing ops take it: arrays as raw arrays of like's backend."""
    return cr.ops.shape.normalize_index(parts, like)


def op(name):
    return cr.ops.get(name).public


def t(array, dtype=None):
    return cr.tensor(np.asarray(array), dtype=dtype)


def batch_of(shape, domain="any", seed=0, axis=0, dtype=F64):
    """A batch of B examples of ``shape``, the batch along ``axis``."""
    return t(np.moveaxis(data((B,) + tuple(shape), domain, seed), 0, axis), dtype)


def example(x, axis, i):
    return x if axis is None else cr.take(x, cr.tensor(i), axis=axis)


def looped(f, args, in_axes, kwargs=None):
    """The definition of vmap: f on each example, the results stacked."""
    kwargs = kwargs or {}
    outs = [f(*[example(a, ax, i) for a, ax in zip(args, in_axes)],
              **{k: example(v, 0, i) for k, v in kwargs.items()}) for i in range(B)]
    if isinstance(outs[0], (tuple, list)):
        return type(outs[0])(cr.stack([o[k] for o in outs]) for k in range(len(outs[0])))
    return cr.stack(outs)


def assert_same(ours, expected):
    if isinstance(expected, (tuple, list)):
        assert isinstance(ours, type(expected)) and len(ours) == len(expected)
        for a, b in zip(ours, expected):
            assert_same(a, b)
        return
    assert ours.shape == expected.shape, (ours.shape, expected.shape)
    assert ours.dtype == expected.dtype, (ours.dtype, expected.dtype)
    assert_close(ours, expected.numpy(), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------- every op
# name: (f, per-example shapes, domain).  f takes one example's arguments.

UNARY = ["negative", "exp", "expm1", "abs", "sin", "cos", "tanh", "erf", "sign",
         "floor", "isfinite", "isnan", "clone", "stop_gradient"]
CASES = {name: (op(name), [(2, 3)], "any") for name in UNARY}
CASES.update({
    "log": (cr.log, [(2, 3)], "positive"),
    "log1p": (cr.log1p, [(2, 3)], "unit"),
    "sqrt": (cr.sqrt, [(2, 3)], "positive"),
    "tan": (cr.tan, [(2, 3)], "unit"),
    "logical_not": (lambda x: cr.logical_not(x > 0), [(4,)], "any"),
    "relu": (cr.nn.relu, [(2, 3)], "nonzero"),
    "sigmoid": (cr.nn.sigmoid, [(2, 3)], "any"),
    "gelu": (lambda x: cr.nn.gelu(x) + cr.nn.gelu(x, approximate="tanh"), [(2, 3)], "any"),
    "leaky_relu": (lambda x: cr.nn.leaky_relu(x, 0.1), [(2, 3)], "nonzero"),
    "astype": (lambda x: cr.astype(x, "float32"), [(2, 3)], "any"),
    "clip": (lambda x: cr.clip(x, -0.5, 0.7), [(2, 3)], "any"),
    # binary, with the operands of different ranks (the batch axis must not meet a data axis)
    "add": (cr.add, [(2, 3), (3,)], "any"),
    "subtract": (cr.subtract, [(3,), (2, 3)], "any"),
    "multiply": (cr.multiply, [(2, 1), (2, 3)], "any"),
    "divide": (cr.divide, [(2, 3), (3,)], "positive"),
    "power": (cr.power, [(2, 3), (3,)], "positive"),
    "power_scalar": (lambda x: x ** 3 + 2.0 ** x, [(2, 3)], "any"),
    "maximum": (cr.maximum, [(2, 3), (3,)], "distinct"),
    "minimum": (cr.minimum, [(3,), (2, 3)], "distinct"),
    "compare": (lambda x, y: cr.stack([cr.greater(x, y), cr.greater_equal(x, y), cr.less(x, y),
                                       cr.less_equal(x, y), cr.equal(x, x), cr.not_equal(x, y)]),
                [(2, 3), (3,)], "distinct"),
    "logical": (lambda x, y: cr.logical_and(x > 0, y > 0) | cr.logical_or(x > 0, y < 0),
                [(2, 3), (3,)], "any"),
    "where": (lambda c, x, y: cr.where(c > 0, x, y), [(3,), (2, 3), (2, 1)], "any"),
    # reductions
    "sum": (lambda x: cr.sum(x) + cr.sum(x, axis=0)[0] + cr.sum(x, axis=-1, keepdims=True)[0, 0],
            [(2, 3)], "any"),
    "sum_scalar": (lambda x: cr.sum(x), [()], "any"),
    "max": (lambda x: cr.stack([cr.max(x), cr.max(x, axis=1)[0], cr.max(x, axis=(0, 1), keepdims=True)[0, 0]]),
            [(2, 3)], "distinct"),
    "min": (lambda x: cr.min(x, axis=0), [(2, 3)], "distinct"),
    "prod": (lambda x: cr.prod(x, axis=-1, keepdims=True), [(2, 3)], "any"),
    "any_all": (lambda x: cr.stack([cr.any(x > 1), cr.all(x > -1, axis=0)[0]]), [(2, 3)], "any"),
    "argmax": (lambda x: cr.stack([cr.argmax(x), cr.argmax(x, axis=-1)[1], cr.argmin(x, axis=0)[2],
                                   cr.argmin(x, keepdims=True)[0, 0]]), [(2, 3)], "distinct"),
    "logsumexp": (lambda x: cr.logsumexp(x, axis=1) + cr.logsumexp(x), [(2, 3)], "any"),
    "mean_var_std": (lambda x: cr.stack([cr.mean(x), cr.var(x), cr.std(x, axis=0)[1]]), [(2, 3)], "any"),
    # shape ops
    "reshape": (lambda x: cr.reshape(x, (3, -1)), [(2, 3)], "any"),
    "permute_dims": (lambda x: cr.permute_dims(x, (2, 0, 1)), [(2, 3, 4)], "any"),
    "matrix_transpose": (lambda x: cr.matrix_transpose(x) + cr.transpose(x, (0, 1)), [(2, 2)], "any"),
    "broadcast_to": (lambda x: cr.broadcast_to(x, (2, 4, 3)), [(3,)], "any"),
    "expand_dims": (lambda x: cr.expand_dims(x, -1) + cr.expand_dims(x, 0)[..., None], [(2, 3)], "any"),
    "squeeze": (lambda x: cr.squeeze(x) + cr.squeeze(x, axis=0)[:, 0], [(1, 3, 1)], "any"),
    "flatten": (cr.flatten, [(2, 3)], "any"),
    "concat": (lambda x, y: cr.concat([x, y, x], axis=-1), [(2, 3), (2, 1)], "any"),
    "stack": (lambda x, y: cr.stack([x, y], axis=1), [(2, 3), (2, 3)], "any"),
    "split": (lambda x: tuple(cr.split(x, 2, axis=1)), [(2, 3)], "any"),
    "take": (lambda x: cr.take(x, cr.tensor([2, 0, 2]), axis=1), [(2, 3)], "any"),
    "argsort": (lambda x: cr.argsort(x) + cr.argsort(x, 0, descending=True)[:1], [(3, 4)], "distinct"),
    "sort": (lambda x: cr.sort(x, 0) + cr.topk(x, 2)[0][:, :1], [(3, 4)], "distinct"),   # batched indices
    "getitem": (lambda x: x[1:, ::-1] + x[..., 0:1][None] + x[-1], [(2, 3)], "any"),
    "getitem_advanced": (lambda x: x[np.array([1, 0, 1]), :, 0], [(2, 3, 4)], "any"),
    "getitem_advanced_split": (lambda x: x[np.array([1, 0]), :, np.array([3, 2])], [(2, 3, 4)], "any"),
    "gather": (lambda x: x[cr.argmax(x, axis=-1)] + x[..., cr.argmin(x, axis=0)], [(3, 3)], "distinct"),
    "getitem_bool": (lambda x: x[np.array([True, False, True])], [(3, 2)], "any"),
    "sum_to": (lambda x: op("sum_to")(x, shape=(1, 3)), [(4, 2, 3)], "any"),
    "index_update": (lambda x, v: op("index_update")(x, v, index=raw_index(x, np.array([0, 2]), slice(None))),
                     [(3, 4), (4,)], "any"),
    "index_update_split": (lambda x, v: op("index_update")(x, v, index=raw_index(x, 0, slice(None), np.array([1, 0]))),
                           [(2, 3, 2), (2, 3)], "any"),
    "index_scatter": (lambda g: op("index_scatter")(g, shape=(3, 4), index=raw_index(g, np.array([0, 0]), slice(1, 3))),
                      [(2, 2)], "any"),
    # linear algebra
    "matmul": (lambda x, y: x @ y, [(2, 3), (3, 4)], "any"),
    "matmul_vector_left": (lambda x, y: x @ y, [(3,), (2, 3, 4)], "any"),
    "matmul_vector_right": (lambda x, y: x @ y, [(2, 2, 3), (3,)], "any"),
    "matmul_dot": (lambda x, y: x @ y, [(3,), (3,)], "any"),
    "matmul_matrix_vector": (lambda m, v: m @ v, [(2, 3), (3,)], "any"),   # (None, 0): one GEMM
    "matmul_stacked": (lambda x, y: x @ y, [(1, 2, 3), (4, 3, 2)], "any"),
    "solve_triangular": (lambda m, c: op("solve_triangular")(m + 3 * cr.eye(3, dtype=F64), c, upper=True),
                         [(3, 3), (3, 2)], "any"),
    "eigh": (lambda m: cr.eigh(m + cr.matrix_transpose(m)), [(3, 3)], "distinct"),
    "qr": (lambda m: cr.qr(m), [(3, 2)], "any"),
    # nn
    "linear": (cr.nn.linear, [(3,), (3, 2), (2,)], "any"),
    "linear_rows": (cr.nn.linear, [(4, 3), (3, 2), (2,)], "any"),
    "softmax": (lambda x: cr.nn.softmax(x) + cr.nn.softmax(x, axis=0), [(2, 3)], "any"),
    "log_softmax": (lambda x: cr.nn.log_softmax(x, axis=0), [(2, 3)], "any"),
    "cross_entropy": (lambda z, p: cr.nn.cross_entropy(z, cr.nn.softmax(p)) +
                      cr.nn.cross_entropy(z, cr.tensor([0, 2]), reduction="sum") +
                      cr.nn.cross_entropy(z, cr.tensor([1, 1]), reduction="none")[0],
                      [(2, 3), (2, 3)], "any"),
    "cross_entropy_row": (lambda z: cr.nn.cross_entropy(z, cr.tensor(1)), [(3,)], "any"),
    # its gradient is one op, cross_entropy_residual (probability targets need not sum to 1)
    "cross_entropy_grad": (lambda z, p: cr.grad(lambda z: cr.nn.cross_entropy(z, p))(z) +
                           cr.grad(lambda z: cr.nn.cross_entropy(z, cr.tensor([0, 2]), reduction="sum"))(z),
                           [(2, 3), (2, 3)], "any"),
    "to_backend": (lambda x: x.to("numpy") * 2, [(2, 3)], "any"),
})
# windows, embedding, batch_norm, softplus (issue 13; vs torch.func.vmap in tests/test_nn_conv.py)
CASES.update({
    "conv2d": (lambda x, w: cr.nn.conv2d(x, w, stride=2, padding=1), [(1, 2, 4, 3), (3, 2, 2, 2)], "any"),
    "conv1d_unbatched": (lambda x, w: cr.nn.conv1d(x, w, groups=2), [(2, 5), (4, 1, 2)], "any"),
    "fold": (lambda c: cr.nn.fold(c, (3, 3), 2, padding=1, stride=2), [(1, 8, 4)], "any"),
    "max_pool2d": (lambda x: cr.nn.max_pool2d(x, 2, 1, 1), [(2, 3, 3)], "distinct"),
    "avg_pool2d": (lambda x: cr.nn.avg_pool2d(x, 2, 1, 1, count_include_pad=False), [(1, 2, 3, 3)], "any"),
    "embedding": (lambda w: cr.nn.embedding(cr.tensor([[0, 2], [2, 1]]), w, padding_idx=2), [(3, 2)], "any"),
    "batch_norm": (lambda x, w: cr.nn.batch_norm(x, None, None, w, training=True), [(3, 2, 2), (2,)], "any"),
    "softplus": (lambda x: cr.nn.softplus(x, beta=2.0, threshold=1.0), [(2, 3)], "any"),
})
# einsum and the scans (issue 13; vs torch.func.vmap in tests/test_products_scans.py)
CASES.update({
    "einsum": (lambda a, b: cr.einsum("ij,jk->ik", a, b) * cr.einsum("ii", b[:, :3]), [(2, 3), (3, 4)], "any"),
    "einsum_diagonal": (lambda a: cr.einsum("ii->i", a) + cr.einsum("...ii", a), [(3, 3)], "any"),
    "cumsum": (lambda x: cr.cumsum(x, axis=0) + cr.cumsum(x, axis=-1), [(2, 3)], "any"),
    "cumprod": (lambda x: cr.cumprod(x, axis=1) + cr.cumprod(x)[:3], [(2, 3)], "any"),
    "products": (lambda a, b: cr.dot(a, b) + cr.tensordot(a, b, 1) + cr.cross(b, b[::-1]).sum(), [(2, 3), (3, 3)], "any"),
})
# cr.linalg (issue 13; more sweeps under vmap in tests/test_linalg.py); square inputs made
# well conditioned (+ 3 I) or SPD, results free of the vectors' sign conventions
_I3 = np.eye(3)
CASES.update({
    "inv": (lambda m: cr.linalg.inv(m + 3 * cr.tensor(_I3, dtype=m.dtype)), [(3, 3)], "any"),
    "det": (lambda m: cr.linalg.det(m + 3 * cr.tensor(_I3, dtype=m.dtype)), [(3, 3)], "any"),
    "slogdet": (lambda m: cr.linalg.slogdet(m - 3 * cr.tensor(_I3, dtype=m.dtype))[1], [(3, 3)], "any"),
    "solve": (lambda m, b: cr.linalg.solve(m + 3 * cr.tensor(_I3, dtype=m.dtype), b), [(3, 3), (3,)], "any"),
    "cholesky": (lambda m: cr.linalg.cholesky(m @ cr.matrix_transpose(m) + 3 * cr.tensor(_I3, dtype=m.dtype)),
                 [(3, 3)], "any"),
    "eig": (lambda m: cr.linalg.eig(m * 0.1 + cr.tensor(np.diag([1.0, 2.0, 3.0]), dtype=m.dtype))[0], [(3, 3)], "any"),
    "svd": (lambda m: cr.linalg.svd(m, full_matrices=False)[1], [(3, 2)], "any"),
    "svdvals": (cr.linalg.svdvals, [(2, 3)], "any"),
    "pinv": (cr.linalg.pinv, [(3, 2)], "any"),
    "vector_norm": (lambda x: cr.linalg.vector_norm(x, ord=3, axis=-1), [(2, 3)], "any"),
})

# NumPy's elementwise names (issue 13; vs torch.func.vmap in tests/test_elementwise_numpy_names.py)
CASES.update({
    "hyperbolic": (lambda x: cr.sinh(x) + cr.cosh(x) + cr.arcsinh(x) + cr.arctan(x) + cr.exp2(x), [(2, 3)], "any"),
    "inverse_trig": (lambda x: cr.arcsin(x) + cr.arccos(x) + cr.arctanh(x) + cr.arccosh(2 - x), [(2, 3)], "unit"),
    "logs_sinc_erfc": (lambda x: cr.log2(x) + cr.log10(x) + cr.sinc(x) + cr.erfc(x), [(2, 3)], "positive"),
    "rounding": (lambda x: cr.ceil(x) + cr.trunc(x) + cr.round(x, 1) + cr.nan_to_num(cr.log(x), neginf=-2.0),
                 [(2, 3)], "any"),
    "arctan2_hypot": (lambda x, y: cr.arctan2(x, y) + cr.hypot(x, y), [(2, 3), (3,)], "nonzero"),
    "logaddexps": (lambda x, y: cr.logaddexp(x, y) + cr.logaddexp2(y, x), [(3,), (2, 3)], "any"),
    "remainder": (lambda x, y: cr.remainder(x, y) + x % 0.7 + 2.5 % y, [(2, 3), (3,)], "nonzero"),
})


def _variants(n):
    """in_axes to try for n arguments: all 0, all 1 or -1 (where the rank allows), the first
    unbatched, a tuple mixing them."""
    yield (0,) * n
    yield (-1,) * n
    if n > 1:
        yield (None,) + (0,) * (n - 1)
        yield (1,) + (None,) * (n - 1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_op_under_vmap_is_the_loop_over_examples(backend, name):
    f, shapes, domain = CASES[name]
    for in_axes in _variants(len(shapes)):
        args = []
        for k, (shape, ax) in enumerate(zip(shapes, in_axes)):
            if ax is None:
                args.append(t(data(shape, domain, seed=k)))
            else:
                args.append(batch_of(shape, domain, seed=k, axis=ax % (len(shape) + 1)))
        expected = looped(f, args, in_axes)
        assert_same(cr.vmap(f, in_axes=in_axes)(*args), expected)


def test_the_cases_reach_every_built_in_op():
    """Every non-composite built-in op is run by the cases above under a BatchTrace, so a
    new op needs a case (and a batching rule) here."""
    seen = set()
    process = BatchTrace.process

    def spy(self, op, args, params):
        seen.add(op.name)
        return process(self, op, args, params)
    BatchTrace.process = spy
    try:
        for name, (f, shapes, domain) in CASES.items():
            cr.vmap(f)(*[batch_of(s, domain, seed=k) for k, s in enumerate(shapes)])
        xs = batch_of((2, 3))   # rules only reached through backward
        cr.vmap(cr.grad(lambda x: cr.sum(x[np.array([0, 0])])))(xs)
        cr.vmap(cr.grad(lambda x: cr.sum(x[cr.argmax(x, axis=0)])))(xs)
    finally:
        BatchTrace.process = process
    builtin = {n for n in cr.ops.names() if cr.ops.get(n).provider == "chainrule"
               and not cr.ops.get(n).composite and not n.startswith("doc_")}
    assert builtin - seen == set()


def test_every_built_in_op_has_a_batching_rule():
    missing = [n for n in cr.ops.names()
               if cr.ops.get(n).provider == "chainrule" and not cr.ops.get(n).composite
               and cr.ops.get(n).batch is None]
    assert missing == []


# -------------------------------------------------------------- in_axes, out_axes

def test_in_axes_trees_and_keywords(backend):
    def f(pair, scale, *, shift):
        a, b = pair
        return {"s": cr.sum(a * b["w"]) * scale + shift, "a": a}
    a = batch_of((3,), axis=1)              # (3, B): batch axis 1
    w = t(data((3,), seed=1))                 # shared
    scale = batch_of((), seed=2)
    shift = batch_of((), seed=3)              # keywords: axis 0
    out = cr.vmap(f, in_axes=((1, {"w": None}), 0))((a, {"w": w}), scale, shift=shift)
    for i in range(B):
        one = f((a[:, i], {"w": w}), scale[i], shift=shift[i])
        assert_close(out["s"][i], one["s"].numpy())
        assert_close(out["a"][i], one["a"].numpy())


def test_out_axes_and_unbatched_outputs_are_broadcast(backend):
    x = batch_of((2, 3))
    c = t(data((4,), seed=1))
    y, const = cr.vmap(lambda x: (x * 2, c), out_axes=(-1, 0))(x)
    assert y.shape == (2, 3, B) and const.shape == (B, 4)
    assert_close(y, np.moveaxis(x.numpy() * 2, 0, -1))
    assert_close(const, np.broadcast_to(c.numpy(), (B, 4)))
    # out_axes=None for an output that does not depend on the batch: returned as is
    _, same = cr.vmap(lambda x: (x, c), out_axes=(0, None))(x)
    assert same.shape == (4,)


def test_python_scalars_unbatched_and_numpy_inputs(backend):
    xs = data((B, 3))
    out = cr.vmap(lambda x, k: x * k, in_axes=(0, None))(xs, 2.5)
    assert_close(out, xs * 2.5)


# ------------------------------------------------------------------ compositions

def mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = cr.tanh(x @ w1 + b1)
    return cr.nn.cross_entropy(h @ w2 + b2, y)


def torch_mlp_loss(params, x, y):
    w1, b1, w2, b2 = params
    h = torch.tanh(x @ w1 + b1)
    return torch.nn.functional.cross_entropy((h @ w2 + b2)[None], y[None])


def _mlp(backend):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) * 0.5 for s in [(5, 4), (4,), (4, 3), (3,)]]
    X, Y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    return arrays, X, Y


def test_per_example_gradients_of_an_mlp_match_torch_func(backend):
    arrays, X, Y = _mlp(backend)
    params = [t(a) for a in arrays]
    ours = cr.vmap(cr.grad(mlp_loss), in_axes=(None, 0, 0))(params, t(X), cr.tensor(Y))
    tp = [torch.tensor(a) for a in arrays]
    theirs = torch.func.vmap(torch.func.grad(torch_mlp_loss), in_dims=(None, 0, 0))(
        tp, torch.tensor(X), torch.tensor(Y))
    for a, b in zip(ours, theirs):
        assert a.shape == tuple(b.shape)
        assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_grad_of_vmap_and_vmap_of_vmap(backend):
    x = batch_of((4,))
    w = t(data((4,), seed=1))
    g = cr.grad(lambda w: cr.sum(cr.vmap(lambda x: cr.sin(x * w).sum())(x)))(w)
    tx = torch.tensor(x.numpy())
    tg = torch.func.grad(lambda w: torch.func.vmap(lambda x: torch.sin(x * w).sum())(tx).sum())(
        torch.tensor(w.numpy()))
    assert_close(g, tg)
    xx = t(data((2, B, 4)))
    ours = cr.vmap(cr.vmap(lambda x: cr.nn.softmax(x) @ w), in_axes=1)(xx)
    tw = torch.tensor(w.numpy())
    theirs = torch.func.vmap(torch.func.vmap(lambda x: torch.softmax(x, -1) @ tw),
                             in_dims=1)(torch.tensor(xx.numpy()))
    assert_close(ours, theirs)


def test_vmap_of_jvp_and_jvp_of_vmap(backend):
    x, v = batch_of((3,)), batch_of((3,), seed=1)
    f = lambda x: cr.tanh(x) * cr.sum(x * x)
    tf = lambda x: torch.tanh(x) * (x * x).sum()
    out, tan = cr.vmap(lambda x, v: cr.jvp(f, (x,), (v,)))(x, v)
    t_out, t_tan = torch.func.vmap(lambda x, v: torch.func.jvp(tf, (x,), (v,)))(
        torch.tensor(x.numpy()), torch.tensor(v.numpy()))
    assert_close(out, t_out)
    assert_close(tan, t_tan)
    out, tan = cr.jvp(cr.vmap(f), (x,), (v,))
    assert_close(out, t_out)
    assert_close(tan, t_tan)


def test_vmap_of_hessian_and_jacobians(backend):
    x = batch_of((3,))
    f = lambda x: cr.sum(cr.sin(x) * x[0])
    tf = lambda x: (torch.sin(x) * x[0]).sum()
    tx = torch.tensor(x.numpy())
    assert_close(cr.vmap(cr.hessian(f))(x), torch.func.vmap(torch.func.hessian(tf))(tx))
    g = lambda x: cr.tanh(x) * x[1]
    tg = lambda x: torch.tanh(x) * x[1]
    assert_close(cr.vmap(cr.jacrev(g))(x), torch.func.vmap(torch.func.jacrev(tg))(tx))
    assert_close(cr.vmap(cr.jacfwd(g))(x), torch.func.vmap(torch.func.jacfwd(tg))(tx))


def test_per_example_second_derivatives_through_a_vector_times_a_matrix(backend):
    """x @ W with a 1-d x has its own VJP formulas (dx = W g, dW = outer(x, g)): per-example
    Hessians through them, in x and in W, against torch.func."""
    xs, w = batch_of((3,)), t(data((3, 2), seed=1))
    f = lambda w, x: cr.sum(cr.tanh(x @ w) ** 2)
    tf = lambda w, x: (torch.tanh(x @ w) ** 2).sum()
    tw, tx = torch.tensor(w.numpy()), torch.tensor(xs.numpy())
    for arg in (0, 1):
        ours = cr.vmap(cr.hessian(f, argnums=arg), in_axes=(None, 0))(w, xs)
        theirs = torch.func.vmap(torch.func.hessian(tf, argnums=arg), in_dims=(None, 0))(tw, tx)
        assert ours.shape == tuple(theirs.shape)
        assert_close(ours, theirs)


def _memory(x):
    return x.numpy() if x.backend == "numpy" else x.data.numpy()


@pytest.mark.parametrize("f", [
    lambda x, c: cr.sum(x),                       # the cotangent is sum's broadcast view
    lambda x, c: cr.sum(x * c),                   # the gradient is c itself, unbatched
    lambda x, c: cr.sum(x) + cr.sum(x * x),       # add hands one cotangent to both sides
    lambda x, c: cr.sum(cr.exp(x) * c),           # a fresh array, kept without a copy
])
def test_per_example_gradients_alias_nothing(backend, f):
    """vmap(grad) returns gradients whose memory is their own: not an input's, not a
    constant's, not each other's (the copy is skipped only when nothing else holds it)."""
    xs, c = batch_of((3,)), t(data((3,), seed=1))
    gx, gc = cr.vmap(cr.grad(f, argnums=(0, 1)), in_axes=(0, None))(xs, c)
    for g in (gx, gc):
        for other in (xs, c):
            assert not np.shares_memory(_memory(g), _memory(other))
    assert not np.shares_memory(_memory(gx), _memory(gc))
    expected = looped(cr.grad(f, argnums=(0, 1)), [xs, c], (0, None))
    assert_same(gx, expected[0])
    assert_same(gc, expected[1])


@pytest.mark.parametrize("f", [lambda x: cr.reshape(x, (-1,)), lambda x: x + 1.0,
                               lambda x: cr.matrix_transpose(x)[0]])
def test_per_example_cotangents_that_view_the_input_cotangent_are_copied(backend, f):
    """Rules that hand the cotangent on (add) or view it (reshape, transpose) would return
    the caller's memory: vmap(vjp) copies those, batched or not."""
    xs = batch_of((2, 3))
    out = f(xs[0])
    vs = batch_of(out.shape, seed=1)
    (ct,) = cr.vmap(lambda x, v: cr.vjp(f, x)[1](v))(xs, vs)
    assert not np.shares_memory(_memory(ct), _memory(vs))
    assert_same(ct, looped(lambda x, v: cr.vjp(f, x)[1](v)[0], [xs, vs], (0, 0)))


def test_grad_of_vmap_of_a_checkpointed_function(backend):
    """checkpoint recomputes f on vmap's values after vmap returned: allowed while it replays."""
    xs, w = batch_of((3,)), t(data((3,), seed=1))
    f = lambda x, w: cr.sum(cr.tanh(x * w) ** 2)
    total = lambda f: lambda w: cr.sum(cr.vmap(f, in_axes=(0, None))(xs, w))
    assert_same(cr.grad(total(cr.checkpoint(f)))(w), cr.grad(total(f))(w))


# ------------------------------------------------------------- property test

PROGRAM_OPS = [
    lambda x, c: cr.tanh(x) * c,
    lambda x, c: x + c[::-1],
    lambda x, c: cr.exp(-x * x) - cr.sum(x, axis=-1, keepdims=True),
    lambda x, c: cr.maximum(x, c),
    lambda x, c: cr.where(x > 0, x, c * 0.5),
    lambda x, c: cr.nn.softmax(x) + cr.matrix_transpose(cr.reshape(x, (-1, 1)))[0],
    lambda x, c: cr.concat([x[1:], x[:1]]) * cr.max(x),
    lambda x, c: cr.expand_dims(x, 0)[0] @ cr.eye(4, dtype=F64) + cr.mean(x * c),
    lambda x, c: cr.stack([x, c])[1] - cr.logsumexp(x),
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=st.lists(st.integers(0, len(PROGRAM_OPS) - 1), min_size=1, max_size=6),
       seed=st.integers(0, 100), batched_c=st.booleans())
def test_random_programs_batch_as_the_loop(program, seed, batched_c):
    def f(x, c):
        for k in program:
            x = PROGRAM_OPS[k](x, c)
        return x
    xs = batch_of((4,), seed=seed)
    c = batch_of((4,), seed=seed + 1) if batched_c else t(data((4,), seed=seed + 1))
    in_axes = (0, 0 if batched_c else None)
    assert_same(cr.vmap(f, in_axes=in_axes)(xs, c), looped(f, [xs, c], in_axes))
    # and its per-example gradient is the loop's
    g = lambda x, c: cr.grad(lambda x: cr.sum(f(x, c)))(x)
    assert_same(cr.vmap(g, in_axes=in_axes)(xs, c), looped(g, [xs, c], in_axes))


# ------------------------------------------------------------------- fallback

def test_an_op_without_a_rule_runs_in_a_loop_and_warns_once():
    def fwd(x):
        return x * cr.sum(x)
    cube = cr.ops.register("vmap_test_no_rule", fwd, vjp=lambda ans, x: lambda g: g * cr.sum(x) + cr.sum(g * x),
                           jvp=lambda tg, ans, x: tg[0] * cr.sum(x) + x * cr.sum(tg[0]), replace=True)
    xs = batch_of((3,))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = cr.vmap(cube)(xs)
        again = cr.vmap(cr.grad(lambda x: cr.sum(cube(x))))(xs)
    named = [w for w in caught if "vmap_test_no_rule" in str(w.message)]
    assert len(named) == 1 and "batch=" in str(named[0].message)
    x = xs.numpy()
    assert_close(out, x * x.sum(axis=1, keepdims=True))
    assert_close(again, np.broadcast_to(2 * x.sum(axis=1, keepdims=True), x.shape))   # d/dx (sum x)^2


# --------------------------------------------------------------------- errors

def test_mismatched_batch_sizes_name_the_arguments():
    with pytest.raises(ValueError, match=r"argument 0: 3, argument 1: 4"):
        cr.vmap(cr.add)(batch_of((2,)), t(data((4, 2))))


def test_bad_in_axes_raise_value_errors():
    x = batch_of((2,))
    with pytest.raises(ValueError, match=r"in_axes=2 is out of range for argument 0"):
        cr.vmap(cr.exp, in_axes=2)(x)
    with pytest.raises(ValueError, match="one entry per argument"):
        cr.vmap(cr.add, in_axes=(0,))(x, x)
    with pytest.raises(ValueError, match="all None"):
        cr.vmap(cr.exp, in_axes=None)(x)
    with pytest.raises(ValueError, match="Python scalar"):
        cr.vmap(cr.add)(x, 1.0)
    with pytest.raises(ValueError, match="keyword argument 'mode'.*functools.partial"):
        cr.vmap(lambda x, mode: x)(x, mode="fast")
    with pytest.raises(ValueError, match="ints or None"):
        cr.vmap(cr.exp, in_axes=0.5)
    with pytest.raises(ValueError, match="out_axes=3 is out of range"):
        cr.vmap(cr.exp, out_axes=3)(x)


@pytest.mark.parametrize("read", [float, bool, lambda v: v.item(), lambda v: v.numpy(), lambda v: v.tolist()])
def test_python_reading_a_batched_value_raises_naming_vmap(read):
    with pytest.raises(ValueError, match="cr.vmap"):
        cr.vmap(lambda x: read(cr.sum(x)) * x)(batch_of((2,)))


INDEXINGS = {
    "rows": lambda x, i: x[i],
    "after_a_slice": lambda x, i: x[1:, i[0], 2],
    "split_by_a_slice": lambda x, i: x[i, :, 2],       # NumPy puts the index axes first
    "after_an_ellipsis": lambda x, i: x[..., i],
    "with_none": lambda x, i: x[None, i, ..., 1],
    "twice": lambda x, i: x[i, i],
}


@pytest.mark.parametrize("name", sorted(INDEXINGS))
def test_indexing_with_a_batched_index_tensor(backend, name):
    """x[i] with a different i per example (labels, embedding ids), x batched or not, and its
    gradient and JVP, as the loop over examples."""
    f = INDEXINGS[name]
    rng = np.random.default_rng(0)
    i = cr.tensor(rng.integers(0, 4, (B, 2)))
    for x, x_axis in ((batch_of((4, 4, 5)), 0), (t(data((4, 4, 5))), None)):
        in_axes = (x_axis, 0)
        assert_same(cr.vmap(f, in_axes=in_axes)(x, i), looped(f, [x, i], in_axes))
        g = lambda x, i: cr.grad(lambda x: cr.sum(cr.tanh(f(x, i))))(x)
        assert_same(cr.vmap(g, in_axes=in_axes)(x, i), looped(g, [x, i], in_axes))
        j = lambda x, i: cr.jvp(lambda x: f(x, i) * 2, (x,), (cr.ones_like(x),))[1]
        assert_same(cr.vmap(j, in_axes=in_axes)(x, i), looped(j, [x, i], in_axes))


def test_per_example_embedding_gradients_match_torch_func(backend):
    rng = np.random.default_rng(1)
    table, ids = data((10, 3)), rng.integers(0, 10, (B, 4))
    ours = cr.vmap(cr.grad(lambda e, i: cr.sum(cr.tanh(e[i]))), in_axes=(None, 0))(t(table), cr.tensor(ids))
    theirs = torch.func.vmap(torch.func.grad(lambda e, i: torch.tanh(e[i]).sum()), in_dims=(None, 0))(
        torch.tensor(table), torch.tensor(ids))
    assert_close(ours, theirs)


def test_batched_masks_and_in_place_writes_raise():
    xs = batch_of((3,))
    with pytest.raises(cr.DTypeError, match="boolean mask"):
        cr.vmap(lambda x: x[x > 0])(xs)
    update = lambda x, i: op("index_update")(x, 1.0, index=raw_index(x, i))
    with pytest.raises(ValueError, match="can read .* but not write"):
        cr.vmap(update)(xs, cr.tensor([0, 1, 2]))
    with pytest.raises(cr.InplaceError):
        cr.vmap(lambda x: x.__iadd__(1.0))(xs)


def test_dropout_refuses_to_share_one_mask_across_the_batch():
    with pytest.raises(ValueError, match="one mask"):
        cr.vmap(lambda x: cr.nn.dropout(x, 0.5))(batch_of((4,)))


def test_a_batched_value_that_escapes_raises():
    kept = []
    cr.vmap(lambda x: kept.append(x * 2) or x)(batch_of((2,)))
    with pytest.raises(cr.GraphError, match="cr.vmap"):
        kept[0] + 1
    assert "cr.vmap" in repr(kept[0])


def test_the_per_example_benchmark_contenders_compute_the_same_gradients():
    """compare.py's vmap rows time vmap(grad), a loop of grads and torch.func on one problem:
    they must give the same per-example gradients (and their mean the batched gradient)."""
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "asv_bench"))
    from benchmarks import workloads as W
    sizes = (64, 32, 10)
    ours = W.chainrule_per_example_grads(sizes=sizes)()
    loop = W.chainrule_per_example_loop(sizes=sizes)()
    theirs = W.torch_per_example_grads(sizes=sizes)()
    batch = W.chainrule_batch_grad(sizes=sizes)()
    by_hand = W.numpy_per_example_grads(sizes=sizes)()
    for k in range(4):
        assert_close(ours[k], by_hand[k], rtol=1e-4, atol=1e-6)
        assert_close(ours[k], np.stack([g[k].numpy() for g in loop]), rtol=1e-5, atol=1e-6)
        assert_close(ours[k], theirs[k], rtol=1e-4, atol=1e-6)
        assert_close(ours[k].numpy().mean(axis=0), batch[k].numpy(), rtol=1e-4, atol=1e-6)

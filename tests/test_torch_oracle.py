"""torch 2.13 (CPU, float64) as an oracle: values, VJPs and JVPs of every op, of random
compositions of ops (hypothesis), and of hessian / jacfwd / jacrev / hvp."""
import numpy as np
import pytest

import chainrule as cr
from conftest import data, assert_close, F64

torch = pytest.importorskip("torch", reason="torch 2.13 is the oracle (pip install -e '.[test]')")
hypothesis = pytest.importorskip("hypothesis", reason="hypothesis drives the random compositions")
from hypothesis import given, settings, strategies as st  # noqa: E402

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def compare(ours, theirs, arrays, rtol=1e-9, atol=1e-11):
    """Values, a VJP with a random cotangent, and a JVP with random tangents, against torch."""
    xs = [cr.tensor(a, dtype=F64) for a in arrays]
    txs = [torch.tensor(a) for a in arrays]
    out, pullback = cr.vjp(ours, *xs)
    tout = theirs(*txs)
    assert out.shape == tuple(tout.shape), (out.shape, tuple(tout.shape))
    assert_close(out, tout, rtol, atol)
    rng = np.random.default_rng(11)
    u = rng.standard_normal(tuple(tout.shape))
    cts = pullback(cr.tensor(u, dtype=F64))
    _, tvjp = torch.func.vjp(theirs, *txs)
    for ct, tct in zip(cts, tvjp(torch.tensor(u))):
        assert_close(ct, tct, rtol, atol)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    _, t_out = cr.jvp(ours, xs, [cr.tensor(v, dtype=F64) for v in vs])
    _, tt_out = torch.func.jvp(theirs, tuple(txs), tuple(torch.tensor(v) for v in vs))
    assert_close(t_out, tt_out, rtol, atol)


def amax(x, axis, keepdims):
    return torch.amax(x, tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)


def amin(x, axis, keepdims):
    return torch.amin(x, tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)


def tsum(x, axis, keepdims):
    return torch.sum(x, tuple(range(x.ndim)) if axis is None else axis, keepdim=keepdims)


def tprod(x, axis, keepdims):
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    for a in sorted((a % x.ndim for a in axes), reverse=True):
        x = torch.prod(x, a, keepdim=keepdims)
    return x


UNARY = [  # name, chainrule, torch, domain
    ("negative", cr.negative, torch.neg, "any"), ("exp", cr.exp, torch.exp, "any"),
    ("log", cr.log, torch.log, "positive"), ("log1p", cr.log1p, torch.log1p, "positive"),
    ("expm1", cr.expm1, torch.expm1, "any"), ("sqrt", cr.sqrt, torch.sqrt, "positive"),
    ("abs", cr.abs, torch.abs, "any"), ("sin", cr.sin, torch.sin, "any"),
    ("cos", cr.cos, torch.cos, "any"), ("tan", cr.tan, torch.tan, "unit"),
    ("tanh", cr.tanh, torch.tanh, "any"), ("erf", cr.erf, torch.erf, "any"),
    ("relu", cr.nn.relu, torch.relu, "any"), ("sigmoid", cr.nn.sigmoid, torch.sigmoid, "any"),
    ("leaky_relu", cr.nn.leaky_relu, TF.leaky_relu, "any"),
    ("leaky_relu_0.3", lambda x: cr.nn.leaky_relu(x, negative_slope=0.3), lambda x: TF.leaky_relu(x, 0.3), "any"),
    ("gelu", cr.nn.gelu, TF.gelu, "any"),
    ("gelu_tanh", lambda x: cr.nn.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), "any"),
    ("clip", lambda x: cr.clip(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7), "any"),
    ("clip_min", lambda x: cr.clip(x, min=0.1), lambda x: torch.clamp(x, min=0.1), "any"),
    ("astype", lambda x: cr.astype(x, "float64") * 3, lambda x: x.double() * 3, "any"),
    ("softmax", cr.nn.softmax, lambda x: torch.softmax(x, -1), "any"),
    ("softmax_0", lambda x: cr.nn.softmax(x, axis=0), lambda x: torch.softmax(x, 0), "any"),
    ("log_softmax", cr.nn.log_softmax, lambda x: torch.log_softmax(x, -1), "any"),
    ("layer_norm", cr.nn.layer_norm, lambda x: TF.layer_norm(x, x.shape[-1:]), "any"),
    ("reshape", lambda x: cr.reshape(x, (-1,)), lambda x: x.reshape(-1), "any"),
    ("transpose", cr.transpose, lambda x: x.transpose(-1, -2), "any"),
    ("T", lambda x: x.T, lambda x: x.permute(*reversed(range(x.ndim))), "any"),
    ("expand_dims", lambda x: cr.expand_dims(x, 1), lambda x: x.unsqueeze(1), "any"),
    ("broadcast_to", lambda x: cr.broadcast_to(x, (2,) + x.shape), lambda x: x.expand(2, *x.shape), "any"),
    ("getitem", lambda x: x[1:, ::-1], lambda x: x[1:].flip(-1), "any"),
    ("getitem_int", lambda x: x[cr.tensor([2, 0, 2])], lambda x: x[torch.tensor([2, 0, 2])], "any"),
    ("getitem_bool", lambda x: x[cr.tensor([True, False, True])], lambda x: x[torch.tensor([True, False, True])], "any"),
    ("take", lambda x: cr.take(x, cr.tensor([1, 1, 3]), axis=1), lambda x: x[:, [1, 1, 3]], "any"),
    ("split", lambda x: cr.split(x, 2, axis=1)[1], lambda x: torch.tensor_split(x, 2, 1)[1], "any"),
    ("flatten", cr.flatten, lambda x: x.reshape(-1), "any"),
    ("squeeze", lambda x: cr.squeeze(cr.expand_dims(x, 0)), lambda x: x.unsqueeze(0).squeeze(), "any"),
    ("mse_to_zero", lambda x: cr.nn.mse_loss(x, cr.zeros_like(x)), lambda x: TF.mse_loss(x, torch.zeros_like(x)), "any"),
    ("ce_int", lambda z: cr.nn.cross_entropy(z, cr.tensor([0, 3, 1])),
     lambda z: TF.cross_entropy(z, torch.tensor([0, 3, 1])), "any"),
    ("ce_sum", lambda z: cr.nn.cross_entropy(z, cr.tensor([2, 2, 0]), reduction="sum"),
     lambda z: TF.cross_entropy(z, torch.tensor([2, 2, 0]), reduction="sum"), "any"),
    ("ce_none", lambda z: cr.nn.cross_entropy(z, cr.tensor([1, 0, 3]), reduction="none"),
     lambda z: TF.cross_entropy(z, torch.tensor([1, 0, 3]), reduction="none"), "any"),
]


@pytest.mark.parametrize("name,ours,theirs,domain", UNARY, ids=[u[0] for u in UNARY])
def test_unary_and_shape_ops(name, ours, theirs, domain):
    compare(ours, theirs, [data((3, 4), domain, 1)])


BINARY = [
    ("add", cr.add, torch.add, "any"), ("subtract", cr.subtract, torch.sub, "any"),
    ("multiply", cr.multiply, torch.mul, "any"), ("divide", cr.divide, torch.div, "positive"),
    ("power", cr.power, torch.pow, "positive"), ("maximum", cr.maximum, torch.maximum, "any"),
    ("minimum", cr.minimum, torch.minimum, "any"),
    ("where", lambda x, y: cr.where(x > y, x, y * 2), lambda x, y: torch.where(x > y, x, y * 2), "any"),
    ("concat", lambda x, y: cr.concat([x, cr.broadcast_to(y, x.shape)], axis=0),
     lambda x, y: torch.cat([x, y.expand(x.shape)], 0), "any"),
    ("stack", lambda x, y: cr.stack([x, x * y], axis=1), lambda x, y: torch.stack([x, x * y], 1), "any"),
    ("mse", cr.nn.mse_loss, lambda x, y: TF.mse_loss(*torch.broadcast_tensors(x, y)), "any"),
    ("ce_probs", lambda z, p: cr.nn.cross_entropy(z, cr.nn.softmax(cr.broadcast_to(p, z.shape))),
     lambda z, p: TF.cross_entropy(z, torch.softmax(p.expand(z.shape), -1)), "any"),
]


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 4), (1, 4))], ids=str)
@pytest.mark.parametrize("name,ours,theirs,domain", BINARY, ids=[b[0] for b in BINARY])
def test_binary_ops(name, ours, theirs, domain, shapes):
    compare(ours, theirs, [data(shapes[0], domain, 2), data(shapes[1], domain, 3)])


REDUCE = [("sum", cr.sum, tsum, "any"), ("mean", cr.mean, lambda x, a, k: torch.mean(
    x, tuple(range(x.ndim)) if a is None else a, keepdim=k), "any"),
    ("max", cr.max, amax, "any"), ("min", cr.min, amin, "any"), ("prod", cr.prod, tprod, "positive"),
    ("var", cr.var, lambda x, a, k: torch.var(x, a, correction=0, keepdim=k), "any"),
    ("std", cr.std, lambda x, a, k: torch.std(x, a, correction=0, keepdim=k), "any"),
    ("logsumexp", cr.logsumexp, lambda x, a, k: torch.logsumexp(
        x, tuple(range(x.ndim)) if a is None else a, keepdim=k), "any")]


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, True), (-1, False), ((0, 2), True)], ids=str)
@pytest.mark.parametrize("name,ours,theirs,domain", REDUCE, ids=[r[0] for r in REDUCE])
def test_reductions(name, ours, theirs, domain, axis, keepdims):
    compare(lambda x: ours(x, axis=axis, keepdims=keepdims), lambda x: theirs(x, axis, keepdims),
            [data((2, 3, 4), domain, 4)])


@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((4,), (4, 3)), ((3, 4), (4,)),
                                    ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2))], ids=str)
def test_matmul_and_linear(shapes):
    compare(cr.matmul, torch.matmul, [data(shapes[0], "any", 5), data(shapes[1], "any", 6)])
    if len(shapes[1]) == 2:
        compare(cr.nn.linear, lambda x, w, b: x @ w + b,
                [data(shapes[0], "any", 5), data(shapes[1], "any", 6), data(shapes[1][-1:], "any", 7)])


def test_var_with_correction():
    compare(lambda x: cr.var(x, axis=0, correction=1), lambda x: torch.var(x, 0, correction=1), [data((5, 3))])


# ----------------------------------------------------- ties and kinks, as torch does them

@pytest.mark.parametrize("name,ours,theirs", [
    ("max_ties", lambda x: cr.max(x, axis=1), lambda x: torch.amax(x, 1)),
    ("min_ties", lambda x: cr.min(x), lambda x: torch.amin(x, (0, 1))),
    ("maximum_ties", lambda x: cr.maximum(x, x[::-1]), lambda x: torch.maximum(x, x.flip(0))),
    ("relu_at_0", cr.nn.relu, torch.relu), ("abs_at_0", cr.abs, torch.abs),
    ("clip_at_bounds", lambda x: cr.clip(x, 0.0, 1.0), lambda x: torch.clamp(x, 0.0, 1.0)),
    ("prod_with_a_zero", lambda x: cr.prod(x, axis=1), lambda x: torch.prod(x, 1)),
])
def test_ties_and_kinks(name, ours, theirs):
    x = np.array([[1.0, 0.0, 1.0], [0.0, -2.0, 1.0], [1.0, 1.0, 3.0]])
    compare(ours, theirs, [x])


# ------------------------------------------------ random compositions (hypothesis)

UNARY_GEN = [(cr.tanh, torch.tanh), (cr.sin, torch.sin), (cr.nn.sigmoid, torch.sigmoid),
             (lambda x: cr.exp(x * 0.3), lambda x: torch.exp(x * 0.3)),
             (lambda x: cr.log1p(x * x), lambda x: torch.log1p(x * x)),
             (lambda x: cr.sqrt(x * x + 1), lambda x: torch.sqrt(x * x + 1)),
             (cr.nn.gelu, TF.gelu), (cr.nn.softmax, lambda x: torch.softmax(x, -1)),
             (lambda x: cr.sum(x, axis=-1, keepdims=True), lambda x: x.sum(-1, keepdim=True)),
             (lambda x: cr.logsumexp(x, axis=0, keepdims=True), lambda x: torch.logsumexp(x, 0, keepdim=True))]
BINARY_GEN = [(cr.add, torch.add), (cr.subtract, torch.sub), (cr.multiply, torch.mul),
              (lambda x, y: x / (y * y + 1), lambda x, y: x / (y * y + 1)),
              (cr.maximum, torch.maximum)]
SHAPES = [(3, 4), (4,), (1, 4), (3, 1)]


@st.composite
def expressions(draw, depth=3):
    """(chainrule fn, torch fn, number of inputs) of a random expression over x0..x2."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        i = draw(st.integers(0, 2))
        return (lambda xs: xs[i]), (lambda xs: xs[i])
    if draw(st.booleans()):
        k = draw(st.integers(0, len(UNARY_GEN) - 1))
        a, ta = draw(expressions(depth - 1))
        return (lambda xs: UNARY_GEN[k][0](a(xs))), (lambda xs: UNARY_GEN[k][1](ta(xs)))
    k = draw(st.integers(0, len(BINARY_GEN) - 1))
    a, ta = draw(expressions(depth - 1))
    b, tb = draw(expressions(depth - 1))
    return (lambda xs: BINARY_GEN[k][0](a(xs), b(xs))), (lambda xs: BINARY_GEN[k][1](ta(xs), tb(xs)))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(expr=expressions(), shapes=st.lists(st.sampled_from(SHAPES), min_size=3, max_size=3),
       seed=st.integers(0, 1000))
def test_random_compositions_match_torch(expr, shapes, seed):
    ours, theirs = expr
    arrays = [data(s, "any", seed + i) for i, s in enumerate(shapes)]
    # maximum's ties are measure-zero for random data; reductions keep shapes broadcastable
    compare(lambda *xs: ours(xs) * 1.0, lambda *xs: theirs(xs) * 1.0, arrays, rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------- composed transforms

def _w_v():
    return data((4, 4), "any", 2), data((4,), "any", 5)


def test_hessian_against_torch():
    W, v = _w_v()
    f = lambda W: cr.sum(cr.tanh(W @ cr.tensor(v, dtype=F64)))
    tf = lambda W: torch.sum(torch.tanh(W @ torch.tensor(v)))
    assert_close(cr.hessian(f)(cr.tensor(W, dtype=F64)), torch.func.hessian(tf)(torch.tensor(W)))
    g = lambda x: cr.sum(cr.nn.softmax(x) * cr.sin(x)) + cr.logsumexp(x * x)
    tg = lambda x: torch.sum(torch.softmax(x, -1) * torch.sin(x)) + torch.logsumexp(x * x, -1)
    assert_close(cr.hessian(g)(cr.tensor(v, dtype=F64)), torch.autograd.functional.hessian(tg, torch.tensor(v)))


def test_jacobians_against_torch():
    W, v = _w_v()
    f = lambda v: cr.nn.softmax(cr.tensor(W, dtype=F64) @ cr.tanh(v))
    tf = lambda v: torch.softmax(torch.tensor(W) @ torch.tanh(v), -1)
    J = torch.func.jacrev(tf)(torch.tensor(v))
    assert_close(cr.jacfwd(f)(cr.tensor(v, dtype=F64)), J)
    assert_close(cr.jacrev(f)(cr.tensor(v, dtype=F64)), J)
    # two arguments, argnums tuple, a matrix input
    h = lambda A, x: cr.tanh(A @ x)
    th = lambda A, x: torch.tanh(A @ x)
    ours = cr.jacrev(h, argnums=(0, 1))(cr.tensor(W, dtype=F64), cr.tensor(v, dtype=F64))
    theirs = torch.func.jacrev(th, argnums=(0, 1))(torch.tensor(W), torch.tensor(v))
    for a, b in zip(ours, theirs):
        assert_close(a, b)
    ours = cr.jacfwd(h, argnums=(0, 1))(cr.tensor(W, dtype=F64), cr.tensor(v, dtype=F64))
    for a, b in zip(ours, theirs):
        assert_close(a, b)


def test_hvp_against_torch():
    W, v = _w_v()
    f = lambda W: cr.sum(cr.tanh(W @ cr.tensor(v, dtype=F64)))
    tf = lambda W: torch.sum(torch.tanh(W @ torch.tensor(v)))
    d = data((4, 4), "any", 9)
    val, hv = cr.hvp(f, (cr.tensor(W, dtype=F64),), (cr.tensor(d, dtype=F64),))
    tval, thv = torch.autograd.functional.hvp(tf, torch.tensor(W), torch.tensor(d))
    assert_close(val, tval)
    assert_close(hv, thv)
    # two primals: a tuple of products
    g = lambda x, y: cr.sum(cr.sin(x) * cr.exp(y))
    tg = lambda x, y: torch.sum(torch.sin(x) * torch.exp(y))
    xs = (data((3,), "any", 1), data((3,), "any", 2))
    ts = (data((3,), "any", 3), data((3,), "any", 4))
    _, hv = cr.hvp(g, tuple(cr.tensor(a, dtype=F64) for a in xs), tuple(cr.tensor(a, dtype=F64) for a in ts))
    _, thv = torch.autograd.functional.hvp(tg, tuple(map(torch.tensor, xs)), tuple(map(torch.tensor, ts)))
    for a, b in zip(hv, thv):
        assert_close(a, b)


def test_prod_second_derivatives_at_zeros_against_torch():
    for x in ([2.0, 0.0, 3.0, -1.5], [0.0, 0.0, 3.0, 2.0], [1.5, 2.0, -0.5, 3.0]):
        x = np.array(x)
        assert_close(cr.hessian(cr.prod)(cr.tensor(x, dtype=F64)),
                     torch.func.hessian(torch.prod)(torch.tensor(x)))
        assert_close(cr.grad(cr.prod)(cr.tensor(x, dtype=F64)), torch.func.grad(torch.prod)(torch.tensor(x)))


Y = [1, 0, 3]
HESSIANS = {  # second derivatives of the fused and composite ops, against torch.func.hessian
    "cross_entropy": (lambda z: cr.nn.cross_entropy(z, cr.tensor(Y)), lambda z: TF.cross_entropy(z, torch.tensor(Y))),
    "cross_entropy_none": (lambda z: cr.sum(cr.nn.cross_entropy(z, cr.tensor(Y), reduction="none") ** 2),
                           lambda z: (TF.cross_entropy(z, torch.tensor(Y), reduction="none") ** 2).sum()),
    "cross_entropy_probs": (lambda z: cr.nn.cross_entropy(z, cr.nn.softmax(z * 0.5)),
                            lambda z: TF.cross_entropy(z, torch.softmax(z * 0.5, -1))),
    "log_softmax": (lambda z: cr.sum(cr.nn.log_softmax(z, axis=0) ** 2), lambda z: (torch.log_softmax(z, 0) ** 2).sum()),
    "softmax": (lambda z: cr.sum(cr.nn.softmax(z) ** 3), lambda z: (torch.softmax(z, -1) ** 3).sum()),
    "logsumexp": (lambda z: cr.sum(cr.logsumexp(z, axis=1) ** 2), lambda z: (torch.logsumexp(z, 1) ** 2).sum()),
    "layer_norm": (lambda z: cr.sum(cr.nn.layer_norm(z) ** 3), lambda z: (TF.layer_norm(z, (4,)) ** 3).sum()),
    "gelu": (lambda z: cr.sum(cr.nn.gelu(z) ** 2), lambda z: (TF.gelu(z) ** 2).sum()),
    "gelu_tanh": (lambda z: cr.sum(cr.nn.gelu(z, approximate="tanh") ** 2),
                  lambda z: (TF.gelu(z, approximate="tanh") ** 2).sum()),
    "std": (lambda z: cr.sum(cr.std(z, axis=0) ** 3), lambda z: (torch.std(z, 0, correction=0) ** 3).sum()),
    "max": (lambda z: cr.sum(cr.max(z, axis=0) ** 3), lambda z: (torch.amax(z, 0) ** 3).sum()),
    "mse_loss": (lambda z: cr.nn.mse_loss(cr.tanh(z), cr.ones((3, 4), dtype=F64)),
                 lambda z: TF.mse_loss(torch.tanh(z), torch.ones(3, 4, dtype=torch.float64))),
    "linear": (lambda z: cr.sum(cr.tanh(cr.nn.linear(z, z.T, cr.sum(z, axis=0)[:3]))),
               lambda z: torch.tanh(z @ z.T + z.sum(0)[:3]).sum()),
}


@pytest.mark.parametrize("name", sorted(HESSIANS))
def test_hessians_of_nn_ops_against_torch(name):
    ours, theirs = HESSIANS[name]
    z = data((3, 4), "any", 0)
    assert_close(cr.hessian(ours)(cr.tensor(z, dtype=F64)), torch.func.hessian(theirs)(torch.tensor(z)),
                 rtol=1e-9, atol=1e-11)

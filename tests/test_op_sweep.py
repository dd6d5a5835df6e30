"""Every op swept over scalar / vector / matrix / broadcast shapes and its keyword values:
gradcheck (JVP vs central differences, VJP via <u, J v>) to order 2, and torch 2.13 in
float64 as an oracle for values and gradients.  One line per op, one helper per family."""
import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch", reason="torch 2.13 is the oracle (pip install -e '.[test]')")

UNARY_SHAPES = [(), (5,), (3, 4)]
BINARY_SHAPES = [((), ()), ((4,), (4,)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3))]


def _data(shape, domain, seed):
    rng = np.random.default_rng(seed)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "unit":
        return rng.uniform(-0.9, 0.9, shape)
    return rng.standard_normal(shape)


def _check(ours, theirs, arrays):
    """gradcheck order 2 in both modes, then values and a VJP against torch."""
    xs = [cr.tensor(a, dtype="float64") for a in arrays]
    assert cr.gradcheck(ours, xs, order=2, atol=1e-5, rtol=1e-4)
    txs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, pullback = cr.vjp(ours, *xs)
    tout = theirs(*txs)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    u = np.random.default_rng(9).standard_normal(tout.shape)
    ours_g = pullback(cr.tensor(u, dtype="float64"))
    theirs_g = torch.autograd.grad(tout, txs, torch.tensor(u), allow_unused=True)
    for g, tg in zip(ours_g, theirs_g):
        expected = np.zeros(g.shape) if tg is None else tg.numpy()
        np.testing.assert_allclose(g.numpy(), expected, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- unary
UNARY = {  # name: (chainrule, torch, domain)
    "negative": (cr.negative, torch.neg, "any"), "exp": (cr.exp, torch.exp, "any"),
    "log": (cr.log, torch.log, "positive"), "log1p": (cr.log1p, torch.log1p, "positive"),
    "expm1": (cr.expm1, torch.expm1, "any"), "sqrt": (cr.sqrt, torch.sqrt, "positive"),
    "abs": (cr.abs, torch.abs, "positive"), "sin": (cr.sin, torch.sin, "any"),
    "cos": (cr.cos, torch.cos, "any"), "tan": (cr.tan, torch.tan, "unit"),
    "tanh": (cr.tanh, torch.tanh, "any"), "erf": (cr.erf, torch.erf, "any"),
    "relu": (cr.nn.relu, torch.relu, "any"), "sigmoid": (cr.nn.sigmoid, torch.sigmoid, "any"),
    "leaky_relu": (lambda x: cr.nn.leaky_relu(x, 0.2), lambda x: torch.nn.functional.leaky_relu(x, 0.2), "any"),
    "gelu": (cr.nn.gelu, torch.nn.functional.gelu, "any"),
    "gelu_tanh": (lambda x: cr.nn.gelu(x, approximate="tanh"),
                  lambda x: torch.nn.functional.gelu(x, approximate="tanh"), "any"),
    "clip": (lambda x: cr.clip(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7), "any"),
}


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape):
    ours, theirs, domain = UNARY[name]
    _check(ours, theirs, [_data(shape, domain, 1)])


# --------------------------------------------------------------- binary
BINARY = {
    "add": (cr.add, torch.add, "any"), "subtract": (cr.subtract, torch.sub, "any"),
    "multiply": (cr.multiply, torch.mul, "any"), "divide": (cr.divide, torch.div, "positive"),
    "power": (cr.power, torch.pow, "positive"), "maximum": (cr.maximum, torch.maximum, "any"),
    "minimum": (cr.minimum, torch.minimum, "any"),
    "where": (lambda x, y: cr.where(x > y, x, y * 2), lambda x, y: torch.where(x > y, x, y * 2), "any"),
}


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, shapes):
    ours, theirs, domain = BINARY[name]
    _check(ours, theirs, [_data(s, domain, i + 2) for i, s in enumerate(shapes)])


# ----------------------------------------------------------- reductions
AXES = [(None, False), (0, False), (-1, True), ((0, 1), False)]
REDUCE = {
    "sum": (cr.sum, lambda x, a, k: torch.sum(x, a, keepdim=k) if a is not None else torch.sum(x)),
    "mean": (cr.mean, lambda x, a, k: torch.mean(x, a, keepdim=k) if a is not None else torch.mean(x)),
    "max": (cr.max, lambda x, a, k: torch.amax(x, a if a is not None else (0, 1), keepdim=k)),
    "min": (cr.min, lambda x, a, k: torch.amin(x, a if a is not None else (0, 1), keepdim=k)),
    "prod": (cr.prod, lambda x, a, k: torch.prod(x.reshape(-1)) if a is None else
             (torch.prod(torch.prod(x, 0, keepdim=k), 0 if k else 0, keepdim=k) if isinstance(a, tuple)
              else torch.prod(x, a, keepdim=k))),
    "var": (cr.var, lambda x, a, k: torch.var(x, a, correction=0, keepdim=k)),
    "std": (cr.std, lambda x, a, k: torch.std(x, a, correction=0, keepdim=k)),
    "logsumexp": (cr.logsumexp, lambda x, a, k: torch.logsumexp(x, a if a is not None else (0, 1), keepdim=k)),
}


@pytest.mark.parametrize("axis,keepdims", AXES, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCE))
def test_reduction(name, axis, keepdims):
    ours, theirs = REDUCE[name]
    domain = "positive" if name == "prod" else "any"
    _check(lambda x: ours(x, axis=axis, keepdims=keepdims),
           lambda x: theirs(x, axis, keepdims), [_data((3, 4), domain, 5)])


# ---------------------------------------------------------- shape, linalg, nn
OTHER = {
    "reshape": (lambda x: cr.reshape(x, (2, 6)), lambda x: x.reshape(2, 6), [(3, 4)]),
    "permute_dims": (lambda x: cr.permute_dims(x, (1, 2, 0)), lambda x: x.permute(1, 2, 0), [(2, 3, 4)]),
    "transpose": (cr.transpose, lambda x: x.transpose(-1, -2), [(2, 3, 4)]),
    "broadcast_to": (lambda x: cr.broadcast_to(x, (2, 3, 4)), lambda x: x.expand(2, 3, 4), [(3, 1)]),
    "expand_dims": (lambda x: cr.expand_dims(x, 0), lambda x: x.unsqueeze(0), [(3,)]),
    "squeeze": (lambda x: cr.squeeze(x), lambda x: x.squeeze(), [(3, 1)]),
    "concat": (lambda x, y: cr.concat([x, y], axis=0), lambda x, y: torch.cat([x, y], 0), [(2, 3), (1, 3)]),
    "stack": (lambda x, y: cr.stack([x, y], axis=1), lambda x, y: torch.stack([x, y], 1), [(2, 3), (2, 3)]),
    "split": (lambda x: cr.split(x, 3)[1] * 2, lambda x: torch.tensor_split(x, 3)[1] * 2, [(7, 2)]),
    "getitem_int": (lambda x: x[cr.tensor([2, 0, 2])], lambda x: x[torch.tensor([2, 0, 2])], [(4, 3)]),
    "getitem_slice": (lambda x: x[1:, ::2], lambda x: x[1:, ::2], [(4, 5)]),
    "take": (lambda x: cr.take(x, cr.tensor([1, 1]), axis=1), lambda x: x[:, [1, 1]], [(3, 4)]),
    "matmul_mm": (cr.matmul, torch.matmul, [(3, 4), (4, 2)]),
    "matmul_batched": (cr.matmul, torch.matmul, [(2, 3, 4), (4, 2)]),
    "matmul_vec": (cr.matmul, torch.matmul, [(4,), (4, 3)]),
    "matmul_mv": (cr.matmul, torch.matmul, [(3, 4), (4,)]),
    "matmul_dot": (cr.matmul, torch.matmul, [(4,), (4,)]),
    "linear": (cr.nn.linear, lambda x, w, b: x @ w + b, [(5, 3), (3, 2), (2,)]),
    "softmax": (lambda x: cr.nn.softmax(x, axis=0), lambda x: torch.softmax(x, 0), [(3, 4)]),
    "log_softmax": (cr.nn.log_softmax, lambda x: torch.log_softmax(x, -1), [(3, 4)]),
    "layer_norm": (cr.nn.layer_norm, lambda x: torch.nn.functional.layer_norm(x, x.shape[-1:]), [(3, 5)]),
    "mse_loss": (cr.nn.mse_loss, torch.nn.functional.mse_loss, [(3, 4), (3, 4)]),
    "cross_entropy_sum": (lambda z: cr.nn.cross_entropy(z, cr.tensor([1, 0, 3]), reduction="sum"),
                          lambda z: torch.nn.functional.cross_entropy(z, torch.tensor([1, 0, 3]), reduction="sum"),
                          [(3, 4)]),
    "cross_entropy_none": (lambda z: cr.nn.cross_entropy(z, cr.tensor([1, 0, 3]), reduction="none"),
                           lambda z: torch.nn.functional.cross_entropy(z, torch.tensor([1, 0, 3]), reduction="none"),
                           [(3, 4)]),
    "cross_entropy_probs": (lambda z, p: cr.nn.cross_entropy(z, cr.nn.softmax(p)),
                            lambda z, p: torch.nn.functional.cross_entropy(z, torch.softmax(p, -1)),
                            [(3, 4), (3, 4)]),
    "astype": (lambda x: cr.astype(x, "float64") * 2.0, lambda x: x.double() * 2.0, [(3,)]),
}


@pytest.mark.parametrize("name", sorted(OTHER))
def test_other_ops(name):
    ours, theirs, shapes = OTHER[name]
    _check(ours, theirs, [_data(s, "any", i + 7) for i, s in enumerate(shapes)])


def test_every_registered_op_is_swept_or_nondifferentiable():
    covered = set(UNARY) | set(BINARY) | set(REDUCE) | {n.split("_")[0] for n in OTHER} | set(OTHER)
    covered |= {"permute_dims", "matrix_transpose", "getitem", "index_scatter", "index_update", "sum_to",
                "to_backend", "gelu", "leaky_relu", "log_softmax", "cross_entropy", "linear", "stop_gradient"}
    for name in cr.ops.names():
        op = cr.ops.get(name)
        if op.provider != "chainrule" or not op.differentiable or op.composite or name.startswith("checkpoint"):
            continue
        assert name in covered, f"op {name} is not swept in tests/test_op_sweep.py"


def test_stop_gradient_is_a_constant_to_every_transform():
    x = cr.tensor([0.5, -1.5], dtype="float64")
    tx = torch.tensor(x.numpy(), requires_grad=True)
    g = cr.grad(lambda x: cr.sum(x * cr.stop_gradient(x)))(x)
    (tg,) = torch.autograd.grad((tx * tx.detach()).sum(), tx)
    np.testing.assert_allclose(g.numpy(), tg.numpy())
    assert cr.jvp(lambda x: cr.stop_gradient(x) * 3, (x,), (cr.ones_like(x),))[1].tolist() == [0.0, 0.0]


def test_astype_gradient_comes_back_in_the_input_dtype():
    x = cr.tensor([0.5, -1.5], dtype="float64", requires_grad=True)
    cr.sum(cr.astype(x, "float32") * 3).backward()
    assert x.grad.dtype == cr.float64 and x.grad.tolist() == [3.0, 3.0]

"""Transforms: argnums and has_aux conventions (JAX's), trees, nesting in every order,
no perturbation confusion, checkpoint, stop_gradient, and `.grad` never touched."""
import math

import numpy as np
import pytest

import chainrule as cr
from backend_fixtures import backend  # noqa: F401  (a pytest fixture)
from conftest import rand, assert_close, F64


def t(v):
    return cr.tensor(v, dtype=F64)


# ------------------------------------------------------------ argnums, has_aux

def test_argnums_int_gives_one_gradient_tuple_gives_a_tuple():
    f = lambda a, b, c: a * b * b + c
    a, b, c = t(2.0), t(3.0), t(5.0)
    g = cr.grad(f)(a, b, c)
    assert isinstance(g, cr.Tensor) and float(g) == 9.0
    assert float(cr.grad(f, argnums=1)(a, b, c)) == 12.0
    gs = cr.grad(f, argnums=(0, 2))(a, b, c)
    assert isinstance(gs, tuple) and [float(x) for x in gs] == [9.0, 1.0]
    (g1,) = cr.grad(f, argnums=(1,))(a, b, c)
    assert float(g1) == 12.0
    assert float(cr.grad(f, argnums=-1)(a, b, c)) == 1.0
    v, gs = cr.value_and_grad(f, argnums=(0, 1))(a, b, c)
    assert float(v) == 23.0 and [float(x) for x in gs] == [9.0, 12.0]
    with pytest.raises(ValueError, match="argnums"):
        cr.grad(f, argnums=3)(a, b, c)


def test_has_aux():
    f = lambda x: (cr.sum(x * x), {"mean": cr.mean(x), "tag": "aux"})
    x = t([1.0, 2.0])
    g, aux = cr.grad(f, has_aux=True)(x)
    assert g.tolist() == [2.0, 4.0] and float(aux["mean"]) == 1.5 and aux["tag"] == "aux"
    assert not aux["mean"].requires_grad and aux["mean"]._trace is None   # plain values
    (value, aux), g = cr.value_and_grad(f, has_aux=True)(x)
    assert float(value) == 5.0 and g.tolist() == [2.0, 4.0] and aux["tag"] == "aux"


def test_grad_needs_a_scalar_output():
    with pytest.raises(cr.GraphError, match="scalar"):
        cr.grad(lambda x: x * 2)(t([1.0, 2.0]))


def test_grad_keeps_shape_and_dtype():
    for dtype in ("float32", "float64"):
        x = cr.tensor(np.ones((2, 3)), dtype=dtype)
        g = cr.grad(lambda x: cr.sum(cr.tanh(x) * 2.0))(x)
        assert g.shape == (2, 3) and g.dtype == dtype


# ----------------------------------------------------------------- trees

def test_vjp_and_jvp_with_tuples_and_dicts():
    def f(p):
        return {"y": p["w"] * p["b"], "z": (cr.sum(p["w"]), p["b"] * 2.0)}
    p = {"w": t([1.0, 2.0]), "b": t(3.0)}
    out, pullback = cr.vjp(f, p)
    assert out["y"].tolist() == [3.0, 6.0] and float(out["z"][0]) == 3.0
    (ct,) = pullback({"y": t([1.0, 1.0]), "z": (t(1.0), t(1.0))})
    assert ct["w"].tolist() == [4.0, 4.0] and float(ct["b"]) == 3.0 + 2.0
    out, tangent = cr.jvp(f, (p,), ({"w": t([1.0, 0.0]), "b": t(1.0)},))
    assert tangent["y"].tolist() == [1.0 * 3.0 + 1.0, 0.0 + 2.0]
    assert float(tangent["z"][0]) == 1.0 and float(tangent["z"][1]) == 2.0
    # several positional primals
    out, pullback = cr.vjp(lambda a, b: (a * b, a + b), t(2.0), t(5.0))
    ga, gb = pullback((t(1.0), t(1.0)))
    assert (float(ga), float(gb)) == (6.0, 3.0)
    grads = cr.grad(lambda ps: cr.sum(ps[0] * ps[1]))((t([1.0, 2.0]), t([3.0, 4.0])))
    assert isinstance(grads, tuple) and grads[0].tolist() == [3.0, 4.0] and grads[1].tolist() == [1.0, 2.0]


def test_vjp_rejects_a_cotangent_of_the_wrong_shape():
    _, pullback = cr.vjp(lambda x: x * 2, t([1.0, 2.0]))
    with pytest.raises(cr.ShapeError, match="shape"):
        pullback(t([1.0, 2.0, 3.0]))


# ---------------------------------------------------------------- nesting

@pytest.mark.parametrize("x0", [-1.3, 0.5, 2.0])
def test_grad_of_grad_of_grad(x0):
    f = lambda x: x ** 4
    x = t(x0)
    assert float(cr.grad(f)(x)) == pytest.approx(4 * x0 ** 3, rel=1e-12)
    assert float(cr.grad(cr.grad(f))(x)) == pytest.approx(12 * x0 ** 2, rel=1e-12)
    assert float(cr.grad(cr.grad(cr.grad(f)))(x)) == pytest.approx(24 * x0, rel=1e-12)
    assert float(cr.grad(cr.grad(cr.grad(cr.grad(f))))(x)) == pytest.approx(24.0, rel=1e-12)


def test_jvp_of_grad_and_grad_of_jvp():
    f = lambda x: cr.sin(x) * x
    x, one = t(0.7), t(1.0)
    second = 2 * math.cos(0.7) - 0.7 * math.sin(0.7)
    assert float(cr.jvp(cr.grad(f), (x,), (one,))[1]) == pytest.approx(second, rel=1e-12)
    assert float(cr.grad(lambda x: cr.jvp(f, (x,), (one,))[1])(x)) == pytest.approx(second, rel=1e-12)
    # jvp of jvp: the second derivative too
    inner = lambda x: cr.jvp(f, (x,), (one,))[1]
    assert float(cr.jvp(inner, (x,), (one,))[1]) == pytest.approx(second, rel=1e-12)


def test_jacfwd_of_jacrev_is_the_hessian():
    x = rand((3,), seed=1)
    f = lambda x: cr.sum(cr.exp(x) * cr.sin(x[::-1]))
    H = cr.jacfwd(cr.jacrev(f))(x)
    H2 = cr.jacrev(cr.jacfwd(f))(x)
    H3 = cr.hessian(f)(x)
    assert H.shape == (3, 3)
    assert_close(H, H2)
    assert_close(H, H3)
    assert_close(H, H.numpy().T)       # symmetric
    # against the formula: d2/dxi dxj sum_k e^{x_k} sin(x_{2-k})
    xv = x.numpy()
    exp = np.zeros((3, 3))
    for k in range(3):
        j = 2 - k
        if k == j:
            exp[k, k] += np.exp(xv[k]) * (np.sin(xv[k]) + 2 * np.cos(xv[k]) - np.sin(xv[k]))
        else:
            exp[k, k] += np.exp(xv[k]) * np.sin(xv[j])
            exp[j, j] += -np.exp(xv[k]) * np.sin(xv[j])
            exp[k, j] += np.exp(xv[k]) * np.cos(xv[j])
            exp[j, k] += np.exp(xv[k]) * np.cos(xv[j])
    assert_close(H, exp)


@pytest.mark.parametrize("x0", [-2.0, 0.0, 1.0, 3.5])
def test_no_perturbation_confusion(x0):
    """d/dx [x * d/dy (x + y)] = 1 (not 2) for grad-in-grad, jvp-in-jvp, and mixed."""
    x, one = t(x0), t(1.0)
    rev = cr.grad(lambda x: x * cr.grad(lambda y: x + y)(one))(x)
    fwd = cr.jvp(lambda x: x * cr.jvp(lambda y: x + y, (one,), (one,))[1], (x,), (one,))[1]
    mixed1 = cr.grad(lambda x: x * cr.jvp(lambda y: x + y, (one,), (one,))[1])(x)
    mixed2 = cr.jvp(lambda x: x * cr.grad(lambda y: x + y)(one), (x,), (one,))[1]
    assert [float(v) for v in (rev, fwd, mixed1, mixed2)] == [1.0, 1.0, 1.0, 1.0]
    # a nonlinear variant: d/dx [x * d/dy (x * y)]|y=1 = d/dx x^2 = 2x
    assert float(cr.grad(lambda x: x * cr.grad(lambda y: x * y)(one))(x)) == 2 * x0


# ------------------------------------------------------------ checkpoint

def test_checkpoint_gives_the_same_gradients_first_and_second_order():
    x = rand((4,), seed=2)
    W = rand((4, 4), seed=3)
    f = lambda x, W: cr.tanh(W @ x) * cr.sin(x)
    ck = cr.checkpoint(f)
    loss = lambda g: lambda x, W: cr.sum(g(x, W) ** 2)
    for a, b in zip(cr.grad(loss(f), argnums=(0, 1))(x, W), cr.grad(loss(ck), argnums=(0, 1))(x, W)):
        assert_close(a, b)
    assert_close(cr.hessian(loss(f))(x, W), cr.hessian(loss(ck))(x, W))
    # forward mode through a checkpoint
    v = rand((4,), seed=4)
    assert_close(cr.jvp(lambda x: f(x, W), (x,), (v,))[1], cr.jvp(lambda x: ck(x, W), (x,), (v,))[1])
    # eager backward, and create_graph double backward
    xs = [rand((4,), seed=2, requires_grad=True) for _ in range(2)]
    cr.sum(f(xs[0], W) ** 2).backward(create_graph=True)
    cr.sum(ck(xs[1], W) ** 2).backward(create_graph=True)
    assert_close(xs[0].grad, xs[1].grad)
    g0, g1 = xs[0].grad, xs[1].grad
    xs[0].grad = xs[1].grad = None
    cr.sum(g0 * g0).backward()
    cr.sum(g1 * g1).backward()
    assert_close(xs[0].grad, xs[1].grad)


def test_checkpoint_of_a_module_trains_its_parameters():
    net = cr.nn.MLP([3, 5, 2])
    X = cr.random.normal((4, 3))
    cr.sum(cr.checkpoint(net.forward)(X) ** 2).backward()
    ck = [p.grad.numpy().copy() for p in net.parameters()]
    net.zero_grad()
    cr.sum(net(X) ** 2).backward()
    for a, p in zip(ck, net.parameters()):
        assert_close(a, p.grad, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ stop_gradient

def test_stop_gradient_is_a_constant_everywhere():
    x = t([0.5, -1.5])
    assert cr.grad(lambda x: cr.sum(x * cr.stop_gradient(x)))(x).tolist() == [0.5, -1.5]
    assert cr.jvp(lambda x: cr.stop_gradient(x) * 3, (x,), (cr.ones_like(x),))[1].tolist() == [0.0, 0.0]
    assert float(cr.grad(cr.grad(lambda x: cr.stop_gradient(x * x) * x))(t(3.0))) == 0.0
    w = rand((2,), requires_grad=True)
    cr.sum(cr.stop_gradient(w) * w).backward()
    assert_close(w.grad, w.detach())
    assert not cr.stop_gradient(w).requires_grad


# ------------------------------------------------------------- .grad untouched

def test_transforms_never_touch_grad():
    w = rand((3,), requires_grad=True)
    f = lambda w: cr.sum(cr.tanh(w) ** 2)
    cr.grad(f)(w)
    cr.value_and_grad(f)(w)
    cr.vjp(f, w)[1](t(1.0))
    cr.jvp(f, (w,), (cr.ones_like(w),))
    cr.hessian(f)(w)
    cr.jacrev(cr.tanh)(w)
    cr.jacfwd(cr.tanh)(w)
    cr.hvp(f, (w,), (cr.ones_like(w),))
    assert w.grad is None
    f(w).backward()
    before = w.grad.numpy().copy()
    cr.grad(f)(w)
    np.testing.assert_array_equal(w.grad.numpy(), before)


def test_grad_of_a_requires_grad_tensor_gives_the_same_numbers():
    w = rand((3,), seed=5, requires_grad=True)
    f = lambda w: cr.sum(cr.exp(w) * w)
    g = cr.grad(f)(w)
    f(w).backward()
    assert_close(g, w.grad)
    assert_close(g, np.exp(w.numpy()) * (1 + w.numpy()))


def test_checkpoint_of_a_module_double_backward_matches():
    """A gradient penalty through checkpoint(net.forward): create_graph reaches the parameters."""
    grads = []
    for use_ckpt in (False, True):
        cr.random.seed(1)
        net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh() if hasattr(cr.nn, "Tanh") else cr.nn.Linear(4, 4),
                               cr.nn.Linear(4, 2))
        X = cr.random.normal((5, 3))
        fwd = cr.checkpoint(net.forward) if use_ckpt else net.forward
        params = list(net.parameters())
        cr.sum(cr.tanh(fwd(X)) ** 2).backward(create_graph=True)
        first = [p.grad for p in params]
        for p in params:
            p.grad = None
        penalty = sum(cr.sum(g * g) for g in first)
        penalty.backward()
        grads.append([p.grad.numpy().copy() for p in params])
    for a, b in zip(*grads):
        assert_close(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------ inputs are checked where they enter

def torch_func():
    """torch.func, the oracle of what a transform refuses."""
    return pytest.importorskip("torch.func", reason="torch is the oracle of the refusals")


SQUARE_SUM = lambda x: cr.sum(x * x)   # noqa: E731
TRANSFORMS = {   # name: (call with input x, the same call in torch.func or None)
    "grad": (lambda x: cr.grad(SQUARE_SUM)(x), lambda x: torch_func().grad(lambda x: (x * x).sum())(x)),
    "value_and_grad": (lambda x: cr.value_and_grad(SQUARE_SUM)(x), None),
    "vjp": (lambda x: cr.vjp(lambda x: x * 2, x), lambda x: torch_func().vjp(lambda x: x * 2, x)),
    "jvp": (lambda x: cr.jvp(lambda x: x * 2, (x,), (x,)),
            lambda x: torch_func().jvp(lambda x: x * 2, (x,), (x,))),
    "jacfwd": (lambda x: cr.jacfwd(lambda x: x * 2)(x), lambda x: torch_func().jacfwd(lambda x: x * 2)(x)),
    "jacrev": (lambda x: cr.jacrev(lambda x: x * 2)(x), lambda x: torch_func().jacrev(lambda x: x * 2)(x)),
    "hessian": (lambda x: cr.hessian(SQUARE_SUM)(x),
                lambda x: torch_func().hessian(lambda x: (x * x).sum())(x)),
    "hvp": (lambda x: cr.hvp(SQUARE_SUM, (x,), (x,)), None),
}
INTEGER_INPUTS = {"int64": lambda: cr.tensor([1, 2]), "bool": lambda: cr.tensor([True, False]),
                  "Python int": lambda: 3, "int32": lambda: cr.tensor([1, 2], dtype="int32")}


@pytest.mark.parametrize("kind", sorted(INTEGER_INPUTS))
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_an_integer_input_is_a_type_error_naming_it(backend, name, kind):
    """Today's silent integer zeros are a TypeError naming the argument, as torch.func refuses."""
    ours, theirs = TRANSFORMS[name]
    x = INTEGER_INPUTS[kind]()
    with pytest.raises(TypeError, match=r"(argument|primal) 0 has dtype (int|bool)"):
        ours(x)
    if theirs is not None and kind != "Python int":
        with pytest.raises(Exception):
            theirs(pytest.importorskip("torch").tensor(x.numpy()))


def test_the_integer_argument_is_named_and_undifferentiated_ones_may_be_integers():
    f = lambda x, labels: cr.sum(x * labels)
    x, labels = t([1.0, 2.0]), cr.tensor([3, 4])
    assert cr.grad(f)(x, labels).tolist() == [3.0, 4.0]          # labels not differentiated
    assert cr.jacrev(f)(x, labels).tolist() == [3.0, 4.0]
    assert cr.jvp(f, (x, labels), (t([1.0, 0.0]), None))[1].item() == 3.0
    with pytest.raises(TypeError, match="argument 1 has dtype int64"):
        cr.grad(f, argnums=(0, 1))(x, labels)
    with pytest.raises(TypeError, match=r"primal 0 \(leaf 1 of its tree\) has dtype int64"):
        cr.vjp(lambda p: p[0] * 2.0, (t(1.0), cr.tensor(2)))


def test_python_floats_and_lists_of_floats_still_work():
    """Python numbers are float inputs (lists are trees of them, as in JAX)."""
    assert float(cr.grad(lambda x: x * x)(3.0)) == 6.0
    assert [float(g) for g in cr.grad(lambda x: x[0] * x[1])([2.0, 5.0])] == [5.0, 2.0]
    assert float(cr.jvp(lambda x: x ** 3, (2.0,), (1.0,))[1]) == 12.0
    assert float(cr.jacrev(lambda x: x * x)(3.0)) == 6.0
    assert float(cr.jacfwd(lambda x: x * x)(3.0)) == 6.0
    assert float(cr.hessian(lambda x: x ** 3)(2.0)) == 12.0
    value, hv = cr.hvp(lambda x: x[0] ** 3 * x[1], ([1.0, 2.0],), ([1.0, 0.0],))
    assert float(value) == 2.0 and [float(h) for h in hv] == [12.0, 3.0]
    # a Python-number tangent takes its primal's dtype
    assert cr.jvp(lambda x: x * x, (t(2.0),), (1.0,))[1].dtype == cr.float64


@pytest.mark.parametrize("transform", ["jvp", "hvp"])
def test_a_tangent_of_another_dtype_or_shape_is_a_type_error_naming_it(backend, transform):
    call = (lambda p, v: cr.jvp(SQUARE_SUM, (p,), (v,))) if transform == "jvp" else \
        (lambda p, v: cr.hvp(SQUARE_SUM, (p,), (v,)))
    x = t([1.0, 2.0])
    with pytest.raises(TypeError, match=r"tangent 0 has dtype float32 but its primal has dtype float64"):
        call(x, cr.tensor([1.0, 0.0], dtype="float32"))
    shape_message = r"tangent 0 has shape \(3,\) but its primal has shape \(2,\)"
    with pytest.raises(TypeError, match=shape_message) as info:
        call(x, t([1.0, 0.0, 0.0]))
    assert isinstance(info.value, cr.ShapeError)      # a ShapeError too, for existing handlers
    # torch.func refuses the shape too (it lets the dtype through: we are stricter)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch_func().jvp(lambda x: (x * x).sum(), (torch.ones(2),), (torch.ones(3),))


def test_hvp_of_a_non_scalar_function_raises():
    with pytest.raises(cr.GraphError, match="hvp needs f to return a scalar"):
        cr.hvp(lambda x: x * x, (t([1.0, 2.0]),), (t([1.0, 0.0]),))


# ------------------------------------------------ a traced value cannot escape

def _leaky(transform):
    """Run ``transform`` on a function that also stores an intermediate outside."""
    kept = []

    def f(x):
        y = cr.sin(x) * 2.0
        kept.append(y)
        kept.append(cr.stop_gradient(y))
        return cr.sum(y)
    x = t([0.5, 1.0])
    transform(f, x)
    return kept


ESCAPES = {
    "grad": lambda f, x: cr.grad(f)(x),
    "value_and_grad": lambda f, x: cr.value_and_grad(f)(x),
    "vjp": lambda f, x: cr.vjp(f, x)[1](t(1.0)),
    "jvp": lambda f, x: cr.jvp(f, (x,), (t([1.0, 0.0]),)),
    "jacrev": lambda f, x: cr.jacrev(f)(x),
    "jacfwd": lambda f, x: cr.jacfwd(f)(x),
    "hessian": lambda f, x: cr.hessian(f)(x),
    "hvp": lambda f, x: cr.hvp(f, (x,), (t([1.0, 0.0]),)),
}


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_a_value_that_escaped_a_transform_raises_when_used(backend, name):
    escaped, kept = _leaky(ESCAPES[name])[-2:]
    for use in (lambda v: v + 1.0, lambda v: cr.exp(v), lambda v: v.reshape(-1), lambda v: v[0],
                lambda v: cr.grad(lambda z: cr.sum(z * v))(t([1.0, 1.0]))):
        with pytest.raises(cr.GraphError, match="escaped"):
            use(escaped)
    with pytest.raises(cr.GraphError):
        escaped.backward()
    assert_close(kept + 1.0, 2 * np.sin([0.5, 1.0]) + 1.0)   # stop_gradient's copy is free to go


def test_transforms_still_work_after_an_escape():
    _leaky(ESCAPES["grad"])
    assert float(cr.grad(lambda x: x ** 3)(t(2.0))) == 12.0
    out, pullback = cr.vjp(lambda x: x * x, t(3.0))       # pullback after vjp returned
    assert float(pullback(t(1.0))[0]) == 6.0
    assert float(pullback(t(1.0))[0]) == 6.0


def test_aux_comes_back_as_plain_values_and_outlives_the_transform():
    f = lambda x: (cr.sum(x * x), {"double": x * 2.0})
    for aux in (cr.grad(f, has_aux=True)(t([1.0, 2.0]))[1],
                cr.jvp(f, (t([1.0, 2.0]),), (t([1.0, 0.0]),), has_aux=True)[2]):
        assert aux["double"]._trace is None
        assert (aux["double"] + 1.0).tolist() == [3.0, 5.0]

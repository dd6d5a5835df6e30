"""State is never half-changed: a failing ``load_state_dict`` or ``optimizer.step()`` leaves
every parameter and optimizer state bit-identical; optimizers refuse what torch refuses;
``zero_grad(set_to_none=...)`` and modules held in lists and dicts behave as in torch."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch 2.13 is the oracle (pip install -e '.[test]')")
pytest.importorskip("hypothesis", reason="hypothesis drives the property tests")
from hypothesis import HealthCheck, assume, given, settings, strategies as st  # noqa: E402

import chainrule as cr  # noqa: E402
from backend_fixtures import backend  # noqa: F401,E402  (a pytest fixture)

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def bits(value):
    """A value with every tensor replaced by (dtype, shape, bytes): equal iff bit-identical."""
    if isinstance(value, cr.Tensor):
        return str(value.dtype), value.shape, value.numpy().tobytes()
    if isinstance(value, dict):
        return {k: bits(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [bits(v) for v in value]
    return value


def module_bits(net):
    return {name: bits(p) for name, p in net.state_dict().items()}


# ------------------------------------------------------- load_state_dict

DEFECTS = ["missing", "unexpected", "shape", "string", "none", "complex", "overflow", "tied"]


def _mlp_with_tie(sizes, dtype):
    net = cr.nn.MLP(sizes, dtype=dtype)
    net.head = net.layers[-1]            # one module under two names: tied weights
    return net


def _defective(state, net, defect, key, rng):
    """``state`` with one defect at ``key``; returns (state, expected error type)."""
    state = {k: v.numpy().copy() for k, v in state.items()}
    shape = state[key].shape
    if defect == "missing":
        del state[key]
        return state, KeyError
    if defect == "unexpected":
        state[key + "_extra"] = state[key]
        return state, KeyError
    if defect == "shape":
        state[key] = np.zeros(shape[:-1] + (shape[-1] + 1,))
        return state, cr.ShapeError
    if defect == "string":
        state[key] = "weights.bin"
        return state, cr.DTypeError
    if defect == "none":
        state[key] = None
        return state, cr.DTypeError
    if defect == "complex":
        state[key] = state[key] + 1j
        return state, cr.DTypeError
    if defect == "overflow":                 # finite in float64, inf in float32
        value = state[key].astype(np.float64)
        value.flat[rng.integers(value.size)] = 1e300
        state[key] = value
        return state, cr.DTypeError
    suffix = key.split(".")[-1]               # "tied": the two names of one tensor disagree
    twin = "layers.2." + suffix if key.startswith("head.") else "head." + suffix
    state[twin] = state[twin] + 1.0
    return state, ValueError


@PROPERTY
@given(hidden=st.integers(1, 4), defect=st.sampled_from(DEFECTS), position=st.integers(0, 10**6),
       seed=st.integers(0, 2**16))
def test_a_failed_load_changes_no_parameter(backend, hidden, defect, position, seed):
    rng = np.random.default_rng(seed)
    net = _mlp_with_tie([3, hidden, 2], "float32")
    source = _mlp_with_tie([3, hidden, 2], "float32")
    keys = list(source.state_dict())
    key = keys[position % len(keys)]
    state, error = _defective(source.state_dict(), source, defect, key, rng)
    before = module_bits(net)
    with pytest.raises(error) as info:
        net.load_state_dict(state)
    assert "nothing was loaded" in str(info.value)
    if defect not in ("tied", "missing", "unexpected"):
        assert repr(key) in str(info.value)
    assert module_bits(net) == before
    state_ok = {k: v.numpy() for k, v in source.state_dict().items()}
    net.load_state_dict(state_ok)             # the same model still loads a good state
    assert module_bits(net) == module_bits(source)


def test_every_bad_key_is_named_in_one_error(backend):
    net = cr.nn.MLP([3, 4, 2])
    state = {k: v.numpy() for k, v in net.state_dict().items()}
    state["layers.0.weight"] = np.zeros((4, 4))
    state["layers.2.bias"] = "zeros"
    with pytest.raises(cr.ShapeError) as info:   # a shape problem makes it a ShapeError
        net.load_state_dict(state)
    assert "'layers.0.weight'" in str(info.value) and "'layers.2.bias'" in str(info.value)
    with pytest.raises(KeyError, match="missing keys.*layers.0.bias.*unexpected keys.*extra"):
        net.load_state_dict({**{k: v for k, v in state.items() if k != "layers.0.bias"}, "extra": 1})


@pytest.mark.parametrize("source_dtype", ["float64", "float16", "int64", "bool"])
def test_dtype_casts_as_torch_copy(backend, source_dtype):
    """float64, float16, integers and bools load into float32 parameters as torch's copy_ casts."""
    rng = np.random.default_rng(0)
    values = {"weight": rng.standard_normal((3, 2)) * 3, "bias": rng.standard_normal(2) * 3}
    values = {k: v.astype(source_dtype) for k, v in values.items()}
    ours = cr.nn.Linear(3, 2)
    ours.load_state_dict({k: cr.tensor(v) for k, v in values.items()})
    theirs = torch.nn.Linear(3, 2)
    theirs.load_state_dict({"weight": torch.from_numpy(values["weight"].T.copy()),
                            "bias": torch.from_numpy(values["bias"])})
    assert ours.weight.dtype == cr.float32 and ours.weight.backend == backend
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy().T)
    np.testing.assert_array_equal(ours.bias.numpy(), theirs.bias.detach().numpy())


def test_a_state_that_aliases_the_parameters_loads_the_old_values():
    """Swapping two parameters through a state that holds the parameters themselves: every
    value is read before any is written."""
    net = cr.nn.MLP([2, 2, 2])
    a, b = net.layers[0].weight.numpy().copy(), net.layers[2].weight.numpy().copy()
    state = net.state_dict()
    state["layers.0.weight"], state["layers.2.weight"] = state["layers.2.weight"], state["layers.0.weight"]
    net.load_state_dict(state)
    np.testing.assert_array_equal(net.layers[0].weight.numpy(), b)
    np.testing.assert_array_equal(net.layers[2].weight.numpy(), a)


def test_non_strict_load_skips_missing_and_unexpected_keys():
    net = cr.nn.Linear(2, 2)
    bias = net.bias.numpy().copy()
    net.load_state_dict({"weight": np.ones((2, 2)), "other": np.zeros(3)}, strict=False)
    np.testing.assert_array_equal(net.weight.numpy(), np.ones((2, 2)))
    np.testing.assert_array_equal(net.bias.numpy(), bias)
    with pytest.raises(TypeError, match="dict"):
        net.load_state_dict([("weight", np.ones((2, 2)))])


# ------------------------------------------------------ optimizer.step()

def _kwargs(name):
    return {"sgd": dict(lr=0.1, momentum=0.9, nesterov=True), "adam": dict(lr=0.1, amsgrad=True),
            "rmsprop": dict(lr=0.01, centered=True, momentum=0.5), "shampoo": dict(update_freq=2),
            "sophia": dict(lr=0.1, hessian_interval=2)}.get(name, {})


def _loss(*params):
    return sum(cr.sum(cr.sin(p) * p * (i + 1)) for i, p in enumerate(params))


class FailingAt(cr.optim.Algorithm):
    """An algorithm that runs ``inner``'s update and then raises on update call ``index``:
    the inner update has already changed whatever it changes in place."""

    def __init__(self, inner, index):
        self.inner, self.index, self.calls = inner, index, 0
        self.defaults, self.in_place, self.needs_hvp = inner.defaults, inner.in_place, inner.needs_hvp

    def hessian_refresh(self, count, hp):
        return self.inner.hessian_refresh(count, hp)

    def init(self, param, hp):
        return self.inner.init(param, hp)

    def update(self, grad, state, param, hp):
        out = self.inner.update(grad, state, param, hp)
        self.calls += 1
        if self.calls == self.index + 1:
            raise FloatingPointError("injected: a NaN check in the algorithm fired")
        return out


class InPlaceMomentum(cr.optim.Algorithm):
    """A plugin-style algorithm that writes into its state arrays (in_place = True)."""

    defaults = {"lr": 0.1}

    def init(self, param, hp):
        return {"step": 0, "buf": cr.zeros_like(param)}

    def update(self, grad, state, param, hp):
        buf = state["buf"]
        buf *= 0.9
        buf += grad
        state["step"] += 1
        return buf * -hp["lr"], state


def _setup(name, shapes, backend, algorithm=None):
    params = [cr.tensor(np.random.default_rng(i).standard_normal(s), dtype="float64",
                        requires_grad=True) for i, s in enumerate(shapes)]
    opt = cr.optim.create(name, list(zip("abcdefgh", params)), **_kwargs(name))
    if algorithm is not None:
        opt.algorithm = algorithm
    return params, opt


def _train_step(opt, params, seed=0):
    """One step; seeded, so that sophia's Hutchinson samples are the same for twin optimizers."""
    opt.zero_grad()
    _loss(*params).backward()
    cr.random.seed(seed)
    return opt.step(_loss if opt.algorithm.needs_hvp else None)


def _snapshot(opt, params):
    return bits(opt.state_dict()), [bits(p) for p in params]


FAILURES = ["algorithm", "grad_shape", "grad_dtype", "grad_backend", "grad_type", "closure", "bad_step"]


@pytest.mark.parametrize("name", cr.optim.names())
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(failure=st.sampled_from(FAILURES),
       shapes=st.lists(st.sampled_from([(), (3,), (2, 3), (2, 1, 2)]), min_size=1, max_size=4),
       warmup=st.integers(0, 3), position=st.integers(0, 10**6))
def test_a_failed_step_changes_no_parameter_and_no_state(backend, name, failure, shapes, warmup, position):
    index = position % len(shapes)
    params, opt = _setup(name, shapes, backend)
    twin_params, twin = _setup(name, shapes, backend)
    for i in range(warmup):
        _train_step(opt, params, i)
        _train_step(twin, twin_params, i)
    opt.zero_grad()
    _loss(*params).backward()
    before = _snapshot(opt, params)
    inner = opt.algorithm
    assume(failure != "closure" or not inner.needs_hvp
           or inner.hessian_refresh(opt._count, opt.param_groups[0]))  # else no closure is called
    error = _inject(failure, opt, params, index, inner)
    with pytest.raises(error):
        opt.step(_raising_closure if failure == "closure" else _loss if inner.needs_hvp else None)
    assert _snapshot(opt, params) == before
    # nothing hidden changed either: the next good step is the twin's, bit for bit
    opt.algorithm = inner
    _train_step(opt, params, warmup)
    _train_step(twin, twin_params, warmup)
    assert _snapshot(opt, params) == _snapshot(twin, twin_params)


def _raising_closure(*params):
    raise RuntimeError("injected: the closure failed")


def _materialized(step):
    """A step as one array (the built-ins return cr.optim.Scaled(direction, -lr))."""
    return step.direction * step.scale if isinstance(step, cr.optim.Scaled) else step


def _inject(failure, opt, params, index, inner):
    """Arrange for the next step to fail at parameter ``index``; returns the expected error."""
    p = params[index]
    if failure == "algorithm":
        opt.algorithm = FailingAt(inner, index)
        return FloatingPointError
    if failure == "bad_step":
        wrong = FailingAt(inner, -1)
        wrong.update = lambda g, s, x, hp: (_materialized(inner.update(g, s, x, hp)[0])[..., None], s)
        opt.algorithm = wrong
        return TypeError
    if failure == "closure":
        return RuntimeError
    if failure == "grad_shape":
        p.grad = cr.zeros(p.shape + (2,), dtype=p.dtype)
    elif failure == "grad_dtype":
        p.grad = p.grad.astype("float32")
    elif failure == "grad_backend":
        other = "numpy" if p.backend != "numpy" else "torch"
        p.grad = p.grad.to(other)
    else:
        p.grad = p.grad.numpy()
    return ValueError


@PROPERTY
@given(shapes=st.lists(st.sampled_from([(3,), (2, 2)]), min_size=2, max_size=4),
       position=st.integers(0, 10**6), warmup=st.integers(1, 2))
def test_an_in_place_algorithm_is_given_copies_of_its_state(backend, shapes, position, warmup):
    index = position % len(shapes)
    params = [cr.tensor(np.full(s, 1.0 + i), requires_grad=True) for i, s in enumerate(shapes)]
    opt = cr.optim.create("sgd", params, lr=0.1)
    opt.algorithm = algo = InPlaceMomentum()
    for _ in range(warmup):
        _train_step(opt, params)
    _loss(*params).backward()
    before = _snapshot(opt, params)
    opt.algorithm = FailingAt(algo, index)
    with pytest.raises(FloatingPointError):
        opt.step()
    assert _snapshot(opt, params) == before


# ------------------------------------------------- what optimizers accept

def test_optimizers_refuse_and_accept_what_torch_does():
    leaf = cr.zeros((2,)).requires_grad_()
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor") as info:
        cr.optim.create("sgd", [leaf * 2], lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        torch.optim.SGD([torch.zeros(2, requires_grad=True) * 2], lr=0.1)
    assert "detach().requires_grad_()" in str(info.value)
    # a tensor that does not require grad is accepted (torch too); it has no grad, so no step
    plain = cr.tensor([1.0, 2.0])
    torch.optim.SGD([torch.zeros(2)], lr=0.1)
    opt = cr.optim.create("sgd", [plain], lr=0.1)
    opt.step()
    assert plain.tolist() == [1.0, 2.0]
    # empty: ValueError in both
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        cr.optim.create("sgd", [], lr=0.1)
    # duplicates: torch raises across groups and warns within one (stepping the parameter
    # twice); chainrule raises in both cases
    with pytest.raises(ValueError, match="appears twice"):
        cr.optim.create("sgd", [leaf, leaf], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        cr.optim.create("sgd", [{"params": [leaf]}, {"params": [leaf]}], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        t = torch.zeros(2, requires_grad=True)
        torch.optim.SGD([{"params": [t]}, {"params": [t]}], lr=0.1)


def test_a_step_that_is_not_shaped_like_the_parameter_is_refused():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.create("sgd", [w], lr=0.1)
    w.grad = cr.tensor([1.0, 1.0])
    opt.algorithm = FailingAt(opt.algorithm, -1)
    opt.algorithm.update = lambda g, s, p, hp: (g.sum(), s)
    with pytest.raises(TypeError, match="shape \\(2,\\).*nothing was updated"):
        opt.step()
    assert w.tolist() == [1.0, 2.0]


# ---------------------------------------------------------------- zero_grad

@pytest.mark.parametrize("holder", ["optimizer", "module"])
def test_zero_grad_set_to_none_as_torch(backend, holder):
    net = cr.nn.Linear(2, 2)
    tnet = torch.nn.Linear(2, 2)
    opt, topt = cr.optim.create("sgd", net.parameters(), lr=0.1), torch.optim.SGD(tnet.parameters(), lr=0.1)
    zero = opt.zero_grad if holder == "optimizer" else net.zero_grad
    tzero = topt.zero_grad if holder == "optimizer" else tnet.zero_grad
    net(cr.ones((1, 2))).sum().backward()
    tnet(torch.ones(1, 2)).sum().backward()
    arrays = [p.grad._data for p in net.parameters()]
    tgrads = [p.grad for p in tnet.parameters()]
    net.weight.grad._data[0, 0] = float("nan")      # zeroing must not be multiplication
    zero(set_to_none=False)
    tzero(set_to_none=False)
    for p, arr, tp, tg in zip(net.parameters(), arrays, tnet.parameters(), tgrads):
        assert tp.grad is tg and p.grad._data is arr        # same memory, zeroed
        assert p.grad.numpy().tolist() == np.zeros(p.shape).tolist()
        assert p.grad.dtype == p.dtype and p.grad.backend == backend
    zero()
    tzero()
    assert all(p.grad is None for p in net.parameters())
    assert all(p.grad is None for p in tnet.parameters())


# ---------------------------------------------- modules in lists and dicts

class Blocks(cr.nn.Module):
    def __init__(self):
        self.scale = cr.ones((2,)).requires_grad_()
        self.layers = [cr.nn.Linear(2, 3), [cr.nn.Linear(3, 3)], cr.nn.ReLU()]
        self.blocks = {"enc": cr.nn.Linear(3, 2), "dec": cr.nn.Linear(2, 2), "note": "not a module"}
        self.extra = (cr.zeros((1,)).requires_grad_(),)
        self.tied = self.blocks["enc"]

    def forward(self, x):
        x = self.layers[2](self.layers[1][0](self.layers[0](x * self.scale)))
        return self.blocks["dec"](self.blocks["enc"](x)) + self.extra[0]


class TorchBlocks(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(2))
        self.layers = torch.nn.ModuleList([torch.nn.Linear(2, 3), torch.nn.ModuleList([torch.nn.Linear(3, 3)]),
                                           torch.nn.ReLU()])
        self.blocks = torch.nn.ModuleDict({"enc": torch.nn.Linear(3, 2), "dec": torch.nn.Linear(2, 2)})
        self.extra = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(1))])
        self.tied = self.blocks["enc"]


def test_modules_in_lists_and_dicts_are_named_as_torch_names_them():
    ours, theirs = Blocks(), TorchBlocks()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(ours.parameters()) == len(list(theirs.parameters()))   # the tied module counted once
    containers = (torch.nn.ModuleList, torch.nn.ModuleDict, torch.nn.ParameterList)
    assert [type(m).__name__ for m in ours.modules()] == \
        [type(m).__name__.replace("Torch", "") for m in theirs.modules() if not isinstance(m, containers)]


def test_modules_in_lists_and_dicts_train_move_and_reset():
    net = Blocks()
    opt = cr.optim.create("sgd", net.named_parameters(), lr=0.1)
    net(cr.ones((4, 2))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    before = net.blocks["dec"].weight.numpy().copy()
    opt.step()
    assert not np.array_equal(net.blocks["dec"].weight.numpy(), before)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.train(False)
    assert not net.layers[1][0].training and not net.blocks["enc"].training
    state = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    net.to("torch")
    assert {p.backend for p in net.parameters()} == {"torch"}
    assert net.tied is net.blocks["enc"] and isinstance(net.extra, tuple)
    assert net.blocks["note"] == "not a module"
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k])
    assert net(cr.ones((4, 2), backend="torch")).backend == "torch"


def test_a_dict_of_modules_needs_string_keys_without_dots():
    net = cr.nn.Module()
    net.blocks = {1: cr.nn.Linear(2, 2)}
    with pytest.raises(TypeError, match="keys of dicts of modules must be strings"):
        net.parameters()
    net.blocks = {"a.b": cr.nn.Linear(2, 2)}
    with pytest.raises(ValueError, match="no '.'"):
        net.parameters()
    net.blocks = {1: "a plain dict is left alone"}
    assert net.parameters() == []


@pytest.mark.parametrize("bad", [{"step": "7"}, {"step": -1}, {"lr": -1.0}, {"state_shape": True}])
def test_a_failed_optimizer_load_changes_nothing(bad):
    params, opt = _setup("adam", [(2,), (3,)], "numpy")
    _train_step(opt, params)
    saved = opt.state_dict()
    _train_step(opt, params, 1)
    before = _snapshot(opt, params), opt.param_groups[0]["lr"]
    if "step" in bad:
        saved["step"] = bad["step"]
    if "lr" in bad:
        saved["param_groups"][0]["lr"] = bad["lr"]
    if "state_shape" in bad:
        saved["state"]["b"]["exp_avg"] = cr.zeros((4,), dtype="float64")
    with pytest.raises((cr.optim.StateDictError, cr.HyperparameterError)):
        opt.load_state_dict(saved)
    assert (_snapshot(opt, params), opt.param_groups[0]["lr"]) == before


def test_to_moves_gradients_with_their_parameters_as_torch():
    net = cr.nn.MLP([2, 3, 1])
    net(cr.ones((2, 2))).sum().backward()
    grads = [p.grad.numpy().copy() for p in net.parameters()]
    net.to("torch")
    for p, g in zip(net.parameters(), grads):
        assert p.backend == "torch" and p.grad.backend == "torch" and p.is_leaf and p.requires_grad
        np.testing.assert_array_equal(p.grad.numpy(), g)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph:UserWarning")
def test_zero_grad_in_place_detaches_a_gradient_that_records_a_graph():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    (w ** 3).sum().backward(create_graph=True)
    assert w.grad.requires_grad                        # 3 w^2, itself differentiable
    array = w.grad._data
    cr.optim.create("sgd", [w], lr=0.1).zero_grad(set_to_none=False)
    assert w.grad._data is array and not w.grad.requires_grad and w.grad.tolist() == [0.0, 0.0]
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    (tw ** 3).sum().backward(create_graph=True)
    torch.optim.SGD([tw], lr=0.1).zero_grad(set_to_none=False)
    assert not tw.grad.requires_grad and tw.grad.tolist() == [0.0, 0.0]

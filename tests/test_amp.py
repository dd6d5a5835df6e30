"""cr.amp: autocast's dtypes and values against torch.autocast, GradScaler step for step
against torch.amp.GradScaler, and the float16 underflow example."""
import math
import pathlib
import runpy
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import autodiff

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests")
F = torch.nn.functional

BACKENDS = ["numpy", "torch"]
LOW = ["float16", "bfloat16"]
# relative precision of one rounding, with room for a few: float16 has 11 significant bits,
# bfloat16 8
TOL = {"float16": 4e-3, "bfloat16": 3e-2, "float32": 1e-5, "float64": 1e-12}
EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "amp_float16_underflow.py"


def _torch_dtype(name):
    return getattr(torch, name)


def _to_float64(value):
    if isinstance(value, cr.Tensor):
        return np.asarray(value.astype("float64").numpy())
    return value.detach().double().numpy()


def _assert_values(ours, ref, dtype):
    ref = _to_float64(ref)
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(_to_float64(ours), ref, rtol=TOL[dtype], atol=TOL[dtype] * scale)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((4, 3)).astype(np.float32),
            "w": rng.standard_normal((3, 5)).astype(np.float32),
            "b": rng.standard_normal(5).astype(np.float32),
            "logits": rng.standard_normal((4, 5)).astype(np.float32),
            "target": rng.standard_normal((4, 5)).astype(np.float32),
            "labels": rng.integers(0, 5, 4),
            "spd": (lambda a: a @ a.T + 3 * np.eye(3))(rng.standard_normal((3, 3))).astype(np.float32)}


# ------------------------------------------------------------------- autocast

# op -> (ours, torch's, the dtype autocast gives (a dtype name, "low" or "float32"), where
# torch.autocast("cpu") has the same list entry as torch's CUDA lists, which autocast follows)
SAME_ON_CPU = {
    "matmul": (lambda c: c["x"] @ c["w"], lambda t: t["x"] @ t["w"], "low"),
    "einsum": (lambda c: cr.einsum("ij,jk->ik", c["x"], c["w"]),
               lambda t: torch.einsum("ij,jk->ik", t["x"], t["w"]), "low"),
    "linear": (lambda c: cr.nn.linear(c["x"], c["w"], c["b"]),
               lambda t: F.linear(t["x"], t["w"].T, t["b"]), "low"),
    "matmul of low and float32": (lambda c: c["logits_low"] @ c["w"].T,
                                  lambda t: t["logits_low"] @ t["w"].T, "low"),
    "prod": (lambda c: cr.prod(c["logits_low"], axis=1), lambda t: t["logits_low"].prod(1), "float32"),
    "cross_entropy": (lambda c: cr.nn.cross_entropy(c["logits_low"], c["labels"]),
                      lambda t: F.cross_entropy(t["logits_low"], t["labels"]), "float32"),
    "mse_loss": (lambda c: cr.nn.mse_loss(c["logits_low"], c["target"]),
                 lambda t: F.mse_loss(t["logits_low"], t["target"]), "float32"),
    "eigh": (lambda c: cr.eigh(c["spd_low"])[0], lambda t: torch.linalg.eigh(t["spd_low"])[0], "float32"),
    "tanh (unlisted)": (lambda c: cr.tanh(c["logits_low"]), lambda t: t["logits_low"].tanh(), "low"),
    "relu (unlisted)": (lambda c: cr.nn.relu(c["logits_low"]), lambda t: F.relu(t["logits_low"]), "low"),
    # composites accumulate in float32 and round to the input dtype, as torch's mean; torch's
    # CUDA list has layer_norm in float32 (a known gap: composites do not reach the interceptor)
    "mean (composite)": (lambda c: cr.mean(c["logits_low"]), lambda t: t["logits_low"].mean(), "low"),
    "layer_norm (composite)": (lambda c: cr.nn.layer_norm(c["logits_low"]),
                               lambda t: F.layer_norm(t["logits_low"], (5,)), "low"),
    "max (unlisted)": (lambda c: cr.max(c["logits_low"], axis=1), lambda t: t["logits_low"].amax(1), "low"),
    "add promotes": (lambda c: c["logits_low"] + c["target"], lambda t: t["logits_low"] + t["target"],
                     "float32"),
    "concat promotes": (lambda c: cr.concat([c["logits_low"], c["target"]]),
                        lambda t: torch.cat([t["logits_low"], t["target"]]), "float32"),
    "float64 is never cast": (lambda c: c["x"].astype("float64") @ c["w"].astype("float64"),
                              lambda t: t["x"].double() @ t["w"].double(), "float64"),
}

# on torch's CUDA float32 list but not its CPU list: the truth is torch on float32 inputs
CUDA_FLOAT32 = {
    "softmax": (lambda c: cr.nn.softmax(c["logits_low"]), lambda t: F.softmax(t, -1)),
    "log_softmax": (lambda c: cr.nn.log_softmax(c["logits_low"]), lambda t: F.log_softmax(t, -1)),
    "logsumexp": (lambda c: cr.logsumexp(c["logits_low"], axis=-1), lambda t: torch.logsumexp(t, -1)),
    "exp": (lambda c: cr.exp(c["logits_low"]), torch.exp),
    "expm1": (lambda c: cr.expm1(c["logits_low"]), torch.expm1),
    "log": (lambda c: cr.log(cr.abs(c["logits_low"])), lambda t: t.abs().log()),
    "log1p": (lambda c: cr.log1p(cr.abs(c["logits_low"])), lambda t: t.abs().log1p()),
    "pow": (lambda c: c["logits_low"] ** 3, lambda t: t ** 3),
    "sum": (lambda c: cr.sum(c["logits_low"]), torch.sum),
    "sinh": (lambda c: cr.sinh(c["logits_low"]), torch.sinh),
    "cosh": (lambda c: cr.cosh(c["logits_low"]), torch.cosh),
    "log2": (lambda c: cr.log2(cr.abs(c["logits_low"])), lambda t: t.abs().log2()),
    "softplus": (lambda c: cr.nn.softplus(c["logits_low"]), F.softplus),
    "cumsum": (lambda c: cr.cumsum(c["logits_low"], axis=-1), lambda t: torch.cumsum(t, -1)),
    "cumprod": (lambda c: cr.cumprod(c["logits_low"], axis=-1), lambda t: torch.cumprod(t, -1)),
    "vector_norm": (lambda c: cr.linalg.vector_norm(c["logits_low"]), torch.linalg.vector_norm),
}


def _inputs(data, backend, low):
    ours = {k: cr.tensor(v, backend=backend) for k, v in data.items()}
    theirs = {k: torch.tensor(v) for k, v in data.items()}
    for name in ("logits", "spd"):
        ours[f"{name}_low"] = ours[name].astype(low)
        theirs[f"{name}_low"] = theirs[name].to(_torch_dtype(low))
    return ours, theirs


def _expected_dtype(rule, low):
    return low if rule == "low" else rule


@pytest.mark.parametrize("low", LOW)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", list(SAME_ON_CPU))
def test_autocast_matches_torch_autocast_on_cpu(op, backend, low, data):
    ours_fn, torch_fn, rule = SAME_ON_CPU[op]
    c, t = _inputs(data, backend, low)
    with cr.amp.autocast(low):
        ours = ours_fn(c)
    with torch.autocast("cpu", dtype=_torch_dtype(low)):
        ref = torch_fn(t)
    expected = _expected_dtype(rule, low)
    assert str(ref.dtype) == f"torch.{expected}", "the table disagrees with torch.autocast"
    assert ours.dtype == expected and ours.backend == backend
    _assert_values(ours, ref, expected)


@pytest.mark.parametrize("low", LOW)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", list(CUDA_FLOAT32))
def test_autocast_float32_list_runs_in_float32(op, backend, low, data):
    ours_fn, torch_fn = CUDA_FLOAT32[op]
    c, t = _inputs(data, backend, low)
    with cr.amp.autocast(low):
        ours = ours_fn(c)
    ref = torch_fn(t["logits_low"].float())      # what torch's CUDA autocast computes
    assert ours.dtype == "float32"
    _assert_values(ours, ref, "float32")
    assert ours_fn(c).dtype == low                 # outside autocast: the input's dtype


@pytest.mark.parametrize("low", LOW)
@pytest.mark.parametrize("backend", BACKENDS)
def test_master_weights_get_float32_gradients_like_torch(backend, low, data):
    """An MLP (linear, relu, linear, cross_entropy) under autocast: loss and float32
    gradients of the float32 weights match torch.autocast's within the dtype's precision."""
    rng = np.random.default_rng(1)
    arrays = {"w1": rng.standard_normal((3, 8)), "b1": rng.standard_normal(8),
              "w2": rng.standard_normal((8, 5)), "b2": rng.standard_normal(5)}
    ours = {k: cr.tensor(v.astype(np.float32), backend=backend, requires_grad=True) for k, v in arrays.items()}
    theirs = {k: torch.tensor(v.astype(np.float32), requires_grad=True) for k, v in arrays.items()}
    x, y = data["x"], data["labels"]
    with cr.amp.autocast(low):
        h = cr.nn.relu(cr.nn.linear(cr.tensor(x, backend=backend), ours["w1"], ours["b1"]))
        loss = cr.nn.cross_entropy(cr.nn.linear(h, ours["w2"], ours["b2"]), cr.tensor(y, backend=backend))
    loss.backward()
    with torch.autocast("cpu", dtype=_torch_dtype(low)):
        h = F.relu(torch.tensor(x) @ theirs["w1"] + theirs["b1"])
        ref = F.cross_entropy(h @ theirs["w2"] + theirs["b2"], torch.tensor(y))
    ref.backward()
    assert loss.dtype == "float32" and str(ref.dtype) == "torch.float32"
    _assert_values(loss, ref, low)
    for k in arrays:
        assert ours[k].grad.dtype == "float32" and ours[k].dtype == "float32"
        _assert_values(ours[k].grad, theirs[k].grad, low)


def test_autocast_inside_transforms_and_backward_inside_the_block():
    w = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    x = cr.tensor([[0.5, -1.0]])

    def f(w):
        y = x @ w
        assert y.dtype == "float16"
        return cr.sum(y * y)

    with cr.amp.autocast("float16"):
        g = cr.grad(f)(w)
        w2 = w.detach().requires_grad_()
        f(w2).backward()                  # rules run inside the block too
    expected = 2 * x.numpy().T @ (x.numpy() @ w.numpy())
    assert g.dtype == "float32" and w2.grad.dtype == "float32"
    np.testing.assert_allclose(g.numpy(), expected, rtol=2e-3)
    np.testing.assert_allclose(w2.grad.numpy(), expected, rtol=2e-3)


def test_enabled_false_nests_and_decorator_and_exit_restore():
    x = cr.ones((2, 2))
    assert autodiff.interceptors == []

    @cr.amp.autocast("bfloat16")
    def low():
        return cr.amp.autocast_dtype()

    with cr.amp.autocast("float16"):
        assert (x @ x).dtype == "float16" and cr.amp.autocast_dtype() == "float16"
        with cr.amp.autocast(enabled=False):
            assert (x @ x).dtype == "float32" and cr.amp.autocast_dtype() is None
            assert cr.exp(x.astype("float16")).dtype == "float16"
            with cr.amp.autocast("float16"):
                assert (x @ x).dtype == "float16"
        assert low() == "bfloat16"
        assert (x @ x).dtype == "float16"
    assert (x @ x).dtype == "float32" and cr.amp.autocast_dtype() is None
    assert autodiff.interceptors == []
    with pytest.raises(ZeroDivisionError):
        with cr.amp.autocast("float16"):
            1 / 0
    assert autodiff.interceptors == [] and (x @ x).dtype == "float32"


def test_autocast_is_per_thread():
    x = cr.ones((2, 2))
    inside, outside = threading.Barrier(2), []

    def other():
        inside.wait()                  # the main thread is inside autocast now
        outside.append((x @ x).dtype)
        inside.wait()

    t = threading.Thread(target=other)
    t.start()
    with cr.amp.autocast("float16"):
        inside.wait()
        inside.wait()
        mine = (x @ x).dtype
    t.join()
    assert outside == ["float32"] and mine == "float16"


def test_capture_for_replay_brings_back_the_forward_state():
    """What cr.checkpoint needs to recompute a forward in its first dtypes."""
    x = cr.ones((2, 2))
    with cr.amp.autocast("float16"):
        inside = cr.amp.capture_for_replay()
    outside = cr.amp.capture_for_replay()
    with inside:
        assert (x @ x).dtype == "float16" and cr.exp(x.astype("float16")).dtype == "float32"
    with cr.amp.autocast("bfloat16"):
        with outside:
            assert (x @ x).dtype == "float32"
        with inside:
            assert (x @ x).dtype == "float16"
        assert cr.amp.autocast_dtype() == "bfloat16"
    assert (x @ x).dtype == "float32" and autodiff.interceptors == []


def test_checkpoint_recomputes_in_the_dtypes_of_its_forward():
    w = cr.tensor(np.arange(9.0).reshape(3, 3) / 9, dtype="float32", requires_grad=True)
    x = cr.tensor([[1.0, -0.5, 0.25], [0.5, 0.5, -1.0]])
    f = lambda x, w: cr.tanh(x @ w)  # noqa: E731
    with cr.amp.autocast("float16"):
        loss = cr.checkpoint(f)(x, w).astype("float32").sum()
    loss.backward()                       # outside the block: the replay must cast again
    checkpointed, w.grad = w.grad.numpy(), None
    with cr.amp.autocast("float16"):
        loss = f(x, w).astype("float32").sum()
    loss.backward()
    np.testing.assert_array_equal(checkpointed, w.grad.numpy())


@pytest.mark.parametrize("dtype", ["int32", "float32", "float64", "bool"])
def test_autocast_refuses_a_dtype_that_is_not_low_precision(dtype):
    with pytest.raises(cr.DTypeError, match="float16 or bfloat16"):
        cr.amp.autocast(dtype)
    with pytest.raises(cr.DTypeError, match="unknown dtype"):
        cr.amp.autocast("half-ish")
    with pytest.raises(TypeError, match="enabled"):
        cr.amp.autocast("float16", enabled="yes")
    assert autodiff.interceptors == []


# ----------------------------------------------------------------- GradScaler

def _mlp_params(seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((6, 16)).astype(np.float32) * 0.5, np.zeros(16, np.float32),
            rng.standard_normal((16, 4)).astype(np.float32) * 0.5, np.zeros(4, np.float32)]


def _side_by_side(backend, steps, inject, growth_interval, clip, optimizer="sgd"):
    """Train the same MLP with cr and torch, each with its GradScaler; inject[step] is the
    value written into one gradient after backward (inf/NaN: an overflowing step).
    Returns per step (our scale, torch's scale, our tracker, torch's, max relative param error)."""
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((32, 6)).astype(np.float32), rng.integers(0, 4, 32)
    ours = [cr.tensor(a, backend=backend, requires_grad=True) for a in _mlp_params(3)]
    theirs = [torch.tensor(a, requires_grad=True) for a in _mlp_params(3)]
    if optimizer == "sgd":
        opt_c = cr.optim.create("sgd", ours, lr=0.1, momentum=0.9)
        opt_t = torch.optim.SGD(theirs, lr=0.1, momentum=0.9)
    else:
        opt_c = cr.optim.create("adam", ours, lr=1e-2)
        opt_t = torch.optim.Adam(theirs, lr=1e-2)
    sc = cr.amp.GradScaler(init_scale=2.0 ** 16, growth_interval=growth_interval)
    st = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16, growth_interval=growth_interval)
    xc, yc, xt, yt = cr.tensor(x, backend=backend), cr.tensor(y, backend=backend), torch.tensor(x), torch.tensor(y)
    history = []
    for step in range(steps):
        w1, b1, w2, b2 = ours
        loss_c = cr.nn.cross_entropy(cr.nn.relu(xc @ w1 + b1) @ w2 + b2, yc)
        w1, b1, w2, b2 = theirs
        loss_t = F.cross_entropy(F.relu(xt @ w1 + b1) @ w2 + b2, yt)
        sc.scale(loss_c).backward()
        st.scale(loss_t).backward()
        if step in inject:
            ours[2].grad[1, 2] = inject[step]
            theirs[2].grad[1, 2] = inject[step]
        if clip:
            sc.unscale_(opt_c)
            st.unscale_(opt_t)
            with np.errstate(invalid="ignore"):   # inf * 0 on an overflowing step, as torch
                norm_c = cr.optim.clip_grad_norm_(ours, 1.0)
            norm_t = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
            if math.isfinite(float(norm_t)):
                np.testing.assert_allclose(float(norm_c), float(norm_t), rtol=1e-5)
        sc.step(opt_c)
        st.step(opt_t)
        sc.update()
        st.update()
        error = max(float(np.max(np.abs(c.numpy() - t.detach().numpy())) / np.max(np.abs(t.detach().numpy())))
                    for c, t in zip(ours, theirs))   # relative to each parameter's size
        history.append((sc.get_scale(), st.get_scale(), sc.get_growth_tracker(), st._get_growth_tracker(), error))
        opt_c.zero_grad()
        opt_t.zero_grad()
    return history, ours, theirs


INJECT = {2: math.inf, 3: math.nan, 9: -math.inf}


@pytest.mark.parametrize("clip", [False, True], ids=["step", "unscale-clip-step"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_grad_scaler_matches_torch_step_for_step(backend, clip):
    history, _, _ = _side_by_side(backend, steps=16, inject=INJECT, growth_interval=3, clip=clip)
    scales = [h[0] for h in history]
    assert scales == [h[1] for h in history]                   # scale after every update()
    assert [h[2] for h in history] == [h[3] for h in history]  # growth tracker
    assert max(h[4] for h in history) < 2e-6, history          # parameters after every step
    # the sequence itself: halved at each injected overflow, doubled after 3 clean steps
    assert scales[:6] == [2.0 ** 16, 2.0 ** 16, 2.0 ** 15, 2.0 ** 14, 2.0 ** 14, 2.0 ** 14]
    assert scales[6] == 2.0 ** 15 and scales[9] == 2.0 ** 14 and scales[12] == 2.0 ** 15


def test_grad_scaler_matches_torch_with_adam():
    history, _, _ = _side_by_side("numpy", steps=8, inject={1: math.inf}, growth_interval=2,
                                  clip=False, optimizer="adam")
    assert [h[0] for h in history] == [h[1] for h in history]
    assert max(h[4] for h in history) < 2e-6, history


@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_training_overflows_and_backs_off_like_torch(backend):
    """autocast float16 and a GradScaler, no injection: the first scaled gradients overflow
    float16 (|2 (out - target) / N| * 2^16 > 65504), both scalers skip and back off until they
    fit, then grow; same scales, same skipped steps, parameters within float16's precision."""
    rng = np.random.default_rng(4)
    x, target = rng.standard_normal((4, 6)).astype(np.float32), 10 * rng.standard_normal((4, 2)).astype(np.float32)
    ours = [cr.tensor(a[:, :2] if a.ndim == 2 else a[:2], backend=backend, requires_grad=True)
            for a in _mlp_params(5)[:2]]
    theirs = [torch.tensor(a[:, :2] if a.ndim == 2 else a[:2], requires_grad=True) for a in _mlp_params(5)[:2]]
    opt_c, opt_t = cr.optim.create("sgd", ours, lr=0.01), torch.optim.SGD(theirs, lr=0.01)
    sc = cr.amp.GradScaler(growth_interval=2)
    st = torch.amp.GradScaler("cpu", growth_interval=2)
    scales = []
    for _ in range(10):
        with cr.amp.autocast("float16"):
            loss_c = cr.nn.mse_loss(cr.nn.linear(cr.tensor(x, backend=backend), *ours),
                                    cr.tensor(target, backend=backend))
        with torch.autocast("cpu", dtype=torch.float16):
            loss_t = F.mse_loss(torch.tensor(x) @ theirs[0] + theirs[1], torch.tensor(target))
        assert loss_c.dtype == "float32" and loss_t.dtype == torch.float32
        with np.errstate(over="ignore", invalid="ignore"):   # NumPy warns of the overflows
            sc.scale(loss_c).backward()
            sc.step(opt_c)
        st.scale(loss_t).backward()
        st.step(opt_t)
        sc.update()
        st.update()
        scales.append(sc.get_scale())
        assert sc.get_scale() == st.get_scale(), scales
        for c, t in zip(ours, theirs):
            np.testing.assert_allclose(c.numpy(), t.detach().numpy(), rtol=4e-3, atol=4e-3)
        opt_c.zero_grad()
        opt_t.zero_grad()
    print("scales after each update:", scales)
    assert scales[0] < 2.0 ** 16 and max(scales[1:]) > min(scales)   # backed off, then grew


def test_skipped_step_leaves_parameters_and_optimizer_state_unchanged():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.create("adam", [w], lr=0.1)
    scaler = cr.amp.GradScaler(init_scale=8.0)
    scaler.scale((w * w).sum()).backward()
    w.grad[0] = math.nan
    before, state = w.tolist(), opt.state_dict()
    assert scaler.step(opt) is None
    scaler.update()
    assert w.tolist() == before and opt.state_dict()["state"] == state["state"]
    assert scaler.get_scale() == 4.0 and scaler.get_growth_tracker() == 0


def test_unscale_divides_gradients_once_and_orders_calls_like_torch():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.create("sgd", [w], lr=0.5)
    scaler = cr.amp.GradScaler(init_scale=4.0)
    with pytest.raises(cr.amp.GradScalerError, match="before any scaler.scale"):
        scaler.unscale_(opt)
    loss = scaler.scale((w * w).sum())
    assert float(loss) == 20.0 and loss.dtype == "float32"
    loss.backward()
    assert w.grad.tolist() == [8.0, 16.0]
    scaler.unscale_(opt)
    assert w.grad.tolist() == [2.0, 4.0]
    with pytest.raises(cr.amp.GradScalerError, match="already called"):
        scaler.unscale_(opt)
    assert w.grad.tolist() == [2.0, 4.0]          # not divided twice
    scaler.step(opt)                              # does not unscale again
    assert w.tolist() == [0.0, 0.0]
    with pytest.raises(cr.amp.GradScalerError, match="after step"):
        scaler.unscale_(opt)
    with pytest.raises(cr.amp.GradScalerError, match="already called since the last update"):
        scaler.step(opt)
    scaler.update()
    with pytest.raises(cr.amp.GradScalerError, match="no step"):
        scaler.update()
    with pytest.raises(cr.amp.GradScalerError, match="closure"):
        scaler.step(opt, closure=lambda: 0.0)


def test_float16_loss_is_scaled_in_float32_and_float16_gradients_are_refused():
    scaler = cr.amp.GradScaler()
    loss16 = cr.tensor(2.0, dtype="float16")
    assert scaler.scale(loss16).dtype == "float32" and float(scaler.scale(loss16)) == 2.0 ** 17
    assert [float(v) for v in scaler.scale([loss16, loss16])] == [2.0 ** 17] * 2
    w = cr.tensor([1.0, 2.0], dtype="float16", requires_grad=True)
    opt = cr.optim.create("sgd", [w], lr=0.5)
    scaler = cr.amp.GradScaler(init_scale=4.0)
    scaler.scale((w * w).sum()).backward()
    grad = w.grad.tolist()
    with pytest.raises(cr.DTypeError, match="float16 gradient"):
        scaler.unscale_(opt)
    assert w.grad.tolist() == grad and w.tolist() == [1.0, 2.0]


def test_growth_stops_at_float32_max_like_torch():
    w = cr.tensor([1.0], requires_grad=True)
    opt = cr.optim.create("sgd", [w], lr=0.0)
    ours = cr.amp.GradScaler(init_scale=2.0 ** 126, growth_factor=4.0, growth_interval=1)
    wt = torch.tensor([1.0], requires_grad=True)
    theirs = torch.amp.GradScaler("cpu", init_scale=2.0 ** 126, growth_factor=4.0, growth_interval=1)
    opt_t = torch.optim.SGD([wt], lr=0.0)
    for _ in range(3):
        ours.scale((w * 0.0).sum()).backward()
        ours.step(opt)
        ours.update()
        theirs.scale((wt * 0.0).sum()).backward()
        theirs.step(opt_t)
        theirs.update()
        assert ours.get_scale() == theirs.get_scale()
        assert ours.get_growth_tracker() == theirs._get_growth_tracker()
    assert ours.get_scale() == 2.0 ** 126


def test_state_dict_round_trip_and_torch_compatibility():
    history_scaler = cr.amp.GradScaler(init_scale=1024.0, growth_interval=5)
    w = cr.tensor([1.0], requires_grad=True)
    opt = cr.optim.create("sgd", [w], lr=0.1)
    for inject in (None, math.inf, None, None):
        history_scaler.scale((w * w).sum()).backward()
        if inject is not None:
            w.grad[0] = inject
        history_scaler.step(opt)
        history_scaler.update()
        opt.zero_grad()
    sd = history_scaler.state_dict()
    assert sd == {"scale": 512.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                  "growth_interval": 5, "_growth_tracker": 2}
    restored = cr.amp.GradScaler()
    restored.load_state_dict(sd)
    assert restored.state_dict() == sd and restored.get_scale() == 512.0
    theirs = torch.amp.GradScaler("cpu")
    theirs.load_state_dict(sd)
    assert theirs.state_dict() == sd
    from_torch = cr.amp.GradScaler()
    from_torch.load_state_dict(theirs.state_dict())
    assert from_torch.state_dict() == sd


@pytest.mark.parametrize("bad, match", [
    ({}, "empty"),
    ({"scale": 2.0}, "lacks"),
    ({"scale": -1.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 5,
      "_growth_tracker": 0}, "init_scale"),
    ({"scale": 2.0, "growth_factor": 0.5, "backoff_factor": 0.5, "growth_interval": 5,
      "_growth_tracker": 0}, "growth_factor"),
    ({"scale": 2.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 5,
      "_growth_tracker": -3}, "_growth_tracker"),
])
def test_bad_state_dict_is_refused_and_leaves_the_scaler_unchanged(bad, match):
    scaler = cr.amp.GradScaler(init_scale=8.0, growth_interval=7)
    before = scaler.state_dict()
    with pytest.raises(cr.ChainruleError, match=match):
        scaler.load_state_dict(bad)
    assert scaler.state_dict() == before


@pytest.mark.parametrize("kwargs, match", [
    ({"init_scale": 0.0}, "init_scale"), ({"init_scale": math.inf}, "init_scale"),
    ({"growth_factor": 1.0}, "growth_factor"), ({"backoff_factor": 1.0}, "backoff_factor"),
    ({"backoff_factor": 0.0}, "backoff_factor"), ({"growth_interval": 0}, "growth_interval"),
    ({"growth_interval": 2.5}, "growth_interval"), ({"init_scale": "big"}, "init_scale"),
])
def test_bad_hyperparameters_raise_naming_them(kwargs, match):
    with pytest.raises(cr.HyperparameterError, match=match):
        cr.amp.GradScaler(**kwargs)


def test_disabled_scaler_is_a_pass_through():
    def train(scaler):
        w = cr.tensor([1.0, -2.0], requires_grad=True)
        opt = cr.optim.create("sgd", [w], lr=0.1)
        for _ in range(3):
            loss = (w * w).sum()
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
        return w.tolist()

    off = cr.amp.GradScaler(enabled=False)
    assert train(off) == train(cr.amp.GradScaler()) == pytest.approx([0.512, -1.024])
    assert off.get_scale() == 1.0 and off.state_dict() == {} and not off.is_enabled()


# ------------------------------------------------------------------ example

@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_underflow_example_reproduces_the_lesson(backend, capsys):
    results = runpy.run_path(str(EXAMPLE))["main"](["--quick", "--backend", backend])
    out = capsys.readouterr().out
    assert "9.09e-13" in out and "9.54e-07" in out
    for depth, row in results.items():
        lesson = 0.25 ** depth                          # the lesson's simulate_gradient_flow
        assert row["float32"] == lesson
        assert row["float16 + GradScaler"] == lesson    # kept with the scaler
        assert row["bfloat16"] == lesson                # float32's range: no scaler needed
        # float16 alone keeps what is above its smallest subnormal, 2^-24, and loses the rest
        assert row["float16"] == (lesson if lesson >= 2.0 ** -24 else 0.0)
    assert results[20]["float16"] == 0.0 and results[10]["float16"] == 0.25 ** 10

"""cr.diagnostics against answers known independently: norms by hand and from torch,
units killed by construction, the divergence learning rate of a quadratic (2 / curvature),
the lessons' 16P / 2P memory rules and the bytes real optimizer states take."""
import math

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import diagnostics as diag


# ------------------------------------------------------------ GradNormTracker

def test_grad_norms_of_a_linear_layer_match_hand_and_torch():
    rng = np.random.default_rng(0)
    x, w0, b0 = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    w = cr.tensor(w0, requires_grad=True)
    b = cr.tensor(b0, requires_grad=True)
    tracker = diag.GradNormTracker({"w": w, "b": b})
    (cr.tensor(x) @ w + b).sum().backward()
    total = tracker.record()
    # d sum(xW + b) / dW = x^T 1 (each column the column sums of x); / db = batch size
    gw, gb = np.outer(x.sum(0), np.ones(2)), np.full(2, 4.0)
    assert tracker.per_parameter["w"] == [pytest.approx(np.linalg.norm(gw), rel=1e-12)]
    assert tracker.per_parameter["b"] == [pytest.approx(4.0 * math.sqrt(2), rel=1e-12)]
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    (torch.tensor(x) @ tw + tb).sum().backward()
    torch_total = torch.nn.utils.clip_grad_norm_([tw, tb], max_norm=1e9)
    assert total == pytest.approx(float(torch_total), rel=1e-12)
    assert tracker.global_norms == [total]
    assert total == pytest.approx(math.hypot(np.linalg.norm(gw), np.linalg.norm(gb)), rel=1e-12)


def test_grad_norms_accumulate_per_step_and_take_modules_and_missing_grads():
    model = cr.nn.Sequential(cr.nn.Linear(3, 2), cr.nn.Linear(2, 1))
    unused = cr.tensor([1.0, 2.0], requires_grad=True)
    tracker = diag.GradNormTracker(list(model.named_parameters()) + [("unused", unused)])
    for scale in (1.0, 10.0):
        model.layers[0].weight.grad = None
        for p in model.parameters():
            p.grad = None
        (model(cr.ones((5, 3))) * scale).sum().backward()
        tracker.record()
    assert set(tracker.per_parameter) == {"layers.0.weight", "layers.0.bias", "layers.1.weight",
                                          "layers.1.bias", "unused"}
    assert tracker.per_parameter["unused"] == [0.0, 0.0]     # no path from the loss
    first, second = tracker.global_norms
    assert second == pytest.approx(10 * first, rel=1e-5)       # the loss scaled by 10


def test_huge_float32_gradients_give_their_norm_not_inf():
    """Exploding gradients are what the tracker is for: 1e30 squared overflows float32."""
    w = cr.tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    w.grad = cr.tensor(np.full(4, 1e30, dtype=np.float32))
    tracker = diag.GradNormTracker([w])
    assert tracker.record() == pytest.approx(2e30, rel=1e-6)
    assert tracker.per_parameter == {"0": [pytest.approx(2e30, rel=1e-6)]}


def test_grad_norm_tracker_bad_input():
    with pytest.raises(cr.ArgumentError, match="named_parameters"):
        diag.GradNormTracker([1, 2])
    with pytest.raises(cr.ArgumentError, match="no parameters"):
        diag.GradNormTracker({})


# ------------------------------------------------------------ dead ReLUs

def test_dead_relu_fraction_counts_units_killed_by_their_bias():
    """Inputs in [0, 1), weights in [-1, 1]: a bias of -10 keeps a unit below 0 for any input."""
    rng = np.random.default_rng(1)
    layer = cr.nn.Linear(3, 5)
    bias = np.zeros(5)
    bias[[0, 3]] = -10.0
    bias[[1, 2, 4]] = 10.0                      # always on
    layer.weight = cr.tensor(rng.uniform(-1, 1, size=(3, 5)), requires_grad=True)
    layer.bias = cr.tensor(bias, requires_grad=True)
    z = layer(cr.tensor(rng.uniform(0, 1, size=(32, 3))))
    assert diag.dead_relu_fraction(z) == pytest.approx(2 / 5)
    # ReLU then passes no gradient to the dead units' weights
    cr.nn.relu(z).sum().backward()
    dead_columns = layer.weight.grad.numpy()[:, [0, 3]]
    assert np.all(dead_columns == 0) and np.all(layer.weight.grad.numpy()[:, [1, 2, 4]] != 0)


def test_dead_relu_fraction_one_positive_example_keeps_a_unit_alive():
    z = np.full((3, 2, 4), -1.0)     # (batch, sequence, units): reduce over batch and sequence
    z[2, 1, 0] = 0.5                 # unit 0 on for one token of one example
    z[:, :, 3] = 0.0                 # exactly 0 is off (ReLU'(0) = 0 here)
    assert diag.dead_relu_fraction(cr.tensor(z)) == pytest.approx(3 / 4)
    # -z: units 0-2 positive somewhere, unit 3 still exactly 0 everywhere
    assert diag.dead_relu_fraction([cr.tensor(z), cr.tensor(-z)]) == [pytest.approx(3 / 4),
                                                                      pytest.approx(1 / 4)]
    assert diag.dead_relu_fraction(z) == pytest.approx(3 / 4)   # a NumPy array too


def test_dead_relu_fraction_needs_a_batch_axis():
    with pytest.raises(cr.ShapeError, match=r"z\[None\]"):
        diag.dead_relu_fraction(cr.tensor([1.0, -1.0]))


# ------------------------------------------------------------ overfit one batch

def test_a_correct_model_overfits_one_batch_and_a_detached_one_does_not():
    rng = np.random.default_rng(2)
    x = cr.tensor(rng.normal(size=(8, 4)))
    y = cr.tensor(rng.normal(size=(8, 1)))
    mse = lambda out, t: ((out - t) ** 2).mean()
    model = cr.nn.Sequential(cr.nn.Linear(4, 32), cr.nn.Tanh(), cr.nn.Linear(32, 1))
    losses, passed = diag.overfit_one_batch(model, mse, x, y,
                                            cr.optim.create("adam", model.parameters(), lr=1e-2),
                                            steps=500, tol=1e-3)
    assert passed and losses[-1] <= 1e-3 < losses[0]

    # the classic bug: targets of shape (8,) against outputs (8, 1) broadcast to an (8, 8)
    # difference, so every output is pulled toward every target: the loss stays >= var(y)
    flat = y.reshape((8,))
    model = cr.nn.Sequential(cr.nn.Linear(4, 32), cr.nn.Tanh(), cr.nn.Linear(32, 1))
    losses, passed = diag.overfit_one_batch(model, mse, x, flat,
                                            cr.optim.create("adam", model.parameters(), lr=1e-2),
                                            steps=50, tol=1e-3)
    assert not passed and len(losses) == 51
    assert losses[-1] >= float(np.var(flat.numpy())) - 1e-9


def test_overfit_one_batch_with_no_path_to_the_weights_raises_a_clear_error():
    model = cr.nn.Linear(4, 1)
    detached = lambda inp: inp @ model.weight.detach() + model.bias.detach()
    with pytest.raises(cr.GraphError, match="does not require grad"):
        diag.overfit_one_batch(detached, lambda o, t: ((o - t) ** 2).mean(), cr.ones((2, 4)),
                               cr.ones((2, 1)), cr.optim.create("sgd", model.parameters()))
    with pytest.raises(cr.ArgumentError, match=r"cr.optim.create\('adam', model.parameters"):
        diag.overfit_one_batch(model, None, None, None, "adam")


# ------------------------------------------------------------ lr_finder

class _Quadratic(cr.nn.Module):
    def __init__(self):
        self.w = cr.tensor([1.0, -2.0, 0.5], dtype="float64", requires_grad=True)

    def forward(self, _inputs):
        return self.w


def test_lr_finder_on_a_quadratic_diverges_just_past_two_over_the_curvature():
    """L = h/2 |w|^2 under SGD: w <- (1 - lr h) w, so L_{i+1} = (1 - lr_i h)^2 L_i falls while
    lr_i < 2/h and grows once lr_i > 2/h."""
    h = 4.0
    loss_fn = lambda w, _t: 0.5 * h * (w * w).sum()

    def fresh():
        model = _Quadratic()
        return model, cr.optim.create("sgd", model.parameters(), lr=0.0)

    lrs, losses, suggested = diag.lr_finder(fresh, loss_fn, [(None, None)], lr_min=1e-3,
                                            lr_max=10.0, steps=60)
    ratios = np.array(losses[1:]) / np.array(losses[:-1])
    np.testing.assert_allclose(ratios, (1 - np.array(lrs[:-1]) * h) ** 2, rtol=1e-9)
    first_past = next(i for i, lr in enumerate(lrs) if lr > 2 / h)
    assert all(r < 1 for r in ratios[:first_past]) and all(r > 1 for r in ratios[first_past:])
    assert suggested == pytest.approx(lrs[first_past] / 10)     # lowest loss at lrs[first_past]
    assert len(lrs) < 60 and losses[-1] > 4 * min(losses)       # it stopped at divergence
    assert all(losses[i] <= 4 * min(losses[:i + 1]) for i in range(len(losses) - 1))
    np.testing.assert_allclose(lrs, 1e-3 * (1e4 ** (1 / 59)) ** np.arange(len(lrs)), rtol=1e-12)


def test_lr_finder_bad_input():
    with pytest.raises(cr.ArgumentError, match="lr_min"):
        diag.lr_finder(lambda: None, None, [(1, 2)], lr_min=1.0, lr_max=0.1)
    with pytest.raises(cr.ArgumentError, match="no batches"):
        diag.lr_finder(lambda: None, None, [])


# ------------------------------------------------------------ memory_estimate

def test_memory_estimate_follows_the_lessons_rules():
    P = 7_000_000_000
    fp32_adam = diag.memory_estimate(P, optimizer="adam")
    assert fp32_adam["total"] == 16 * P == 112_000_000_000         # the lesson's 112 GB for 7B
    assert fp32_adam["parameters"] == fp32_adam["gradients"] == 28_000_000_000
    assert fp32_adam["optimizer_state"] == 56_000_000_000          # "Adam (2 states x 4 bytes)"
    mixed = diag.memory_estimate(P, optimizer="adamw", param_dtype="float16", master_weights=True)
    assert (mixed["parameters"], mixed["gradients"], mixed["master_weights"],
            mixed["optimizer_state"], mixed["total"]) == (2 * P, 2 * P, 4 * P, 8 * P, 16 * P)
    serve = diag.memory_estimate(P, optimizer=None, param_dtype="bfloat16")
    assert serve["total"] == 2 * P == 14_000_000_000               # inference: 14 GB in FP16
    assert diag.memory_estimate(P, optimizer="lion")["optimizer_state"] == 28_000_000_000  # halved
    assert diag.memory_estimate(P, optimizer="sgd")["total"] == 8 * P
    assert diag.memory_estimate(10, activations=[cr.zeros((3, 4)), 100])["activations"] == 148
    assert diag.memory_estimate(10, grad_dtype="float32", param_dtype="float16")["gradients"] == 40


SHAPES = [(3, 5), (5,), (2, 3, 4), ()]
CONFIGS = [("sgd", {}), ("sgd", {"momentum": 0.9}), ("rmsprop", {}),
           ("rmsprop", {"momentum": 0.5, "centered": True}), ("adagrad", {}), ("adam", {}),
           ("adam", {"amsgrad": True}), ("adamw", {}), ("lion", {}), ("adafactor", {}),
           ("shampoo", {}), ("sophia", {})]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,hp", CONFIGS, ids=lambda c: str(c))
def test_memory_estimate_matches_the_bytes_of_real_optimizer_state(name, hp, dtype):
    rng = np.random.default_rng(3)
    params = [cr.tensor(rng.normal(size=s).astype(dtype), requires_grad=True) for s in SHAPES]
    opt = cr.optim.create(name, params, **hp)
    loss = lambda *ps: sum((p * p).sum() for p in ps)
    loss(*params).backward()
    opt.step(loss if name == "sophia" else None)
    state_bytes = sum(v.nbytes for st in opt.state.values() for v in st.values()
                      if isinstance(v, (np.ndarray, np.generic)))
    estimate = diag.memory_estimate(params, optimizer=opt, param_dtype=dtype)
    assert estimate["optimizer_state"] == state_bytes
    assert estimate["parameters"] == sum(p.numpy().nbytes for p in params)
    assert estimate["gradients"] == sum(p.grad.numpy().nbytes for p in params)
    assert diag.memory_estimate(params, optimizer=(name, hp), param_dtype=dtype) == estimate


def test_memory_estimate_of_a_module_counts_its_parameters():
    model = cr.nn.Sequential(cr.nn.Linear(10, 20), cr.nn.ReLU(), cr.nn.Linear(20, 3))
    P = 10 * 20 + 20 + 20 * 3 + 3
    assert diag.memory_estimate(model, optimizer="adam")["total"] == 16 * P
    assert diag.memory_estimate(model.named_parameters(), optimizer="adam")["total"] == 16 * P


def test_memory_estimate_bad_input():
    with pytest.raises(cr.ArgumentError, match="does not know optimizer 'adamx'"):
        diag.memory_estimate(10, optimizer="adamx")
    with pytest.raises(cr.ArgumentError, match="shape"):
        diag.memory_estimate(10, optimizer="shampoo")
    with pytest.raises(cr.ArgumentError, match="parameter count"):
        diag.memory_estimate("ten")
    with pytest.raises(cr.DTypeError, match="unknown dtype"):
        diag.memory_estimate(10, param_dtype="float12")

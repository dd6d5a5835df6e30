"""Initializers: statistics on 120k samples (std within 2%) on every available backend."""
import math
import warnings

import numpy as np
import pytest

import chainrule as cr

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    _AVAILABLE = cr.backends.available()
BACKENDS = [pytest.param(name, marks=() if reason is None else pytest.mark.skip(
    reason=f"backend {name} unavailable here: {reason}")) for name, reason in _AVAILABLE.items()]
SHAPE = (300, 400)          # 120,000 samples; fan_in 300, fan_out 400
FI, FO = SHAPE

STD_CASES = [  # (name, options, expected mean, expected std)
    ("normal", dict(mean=0.0, std=0.5), 0.0, 0.5),
    ("uniform", dict(low=-1.0, high=1.0), 0.0, 1 / math.sqrt(3)),
    ("truncated_normal", dict(std=1.0, a=-2.0, b=2.0), 0.0, 0.8796256610342398),
    ("xavier_uniform", {}, 0.0, math.sqrt(2 / (FI + FO))),
    ("glorot_normal", {}, 0.0, math.sqrt(2 / (FI + FO))),
    ("xavier_normal", dict(gain=2.0), 0.0, 2 * math.sqrt(2 / (FI + FO))),
    ("he_normal", {}, 0.0, math.sqrt(2 / FI)),
    ("kaiming_uniform", {}, 0.0, math.sqrt(2 / FI)),
    ("he_normal", dict(mode="fan_out"), 0.0, math.sqrt(2 / FO)),
    ("kaiming_normal", dict(nonlinearity="tanh"), 0.0, (5 / 3) / math.sqrt(FI)),
    ("he_uniform", dict(a=0.2, nonlinearity="leaky_relu"), 0.0, math.sqrt(2 / (1 + 0.04)) / math.sqrt(FI)),
    ("lecun_normal", {}, 0.0, 1 / math.sqrt(FI)),
    ("gpt2", {}, 0.0, 0.02),
    ("scaled_residual", dict(n_layers=12), 0.0, 0.02 / math.sqrt(24)),
    ("orthogonal", {}, 0.0, 1 / math.sqrt(FO)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, options, mean, std", STD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(STD_CASES)])
def test_statistics(backend, name, options, mean, std):
    cr.random.seed(1)
    w = cr.init.create(name, **options)(SHAPE, dtype="float64", backend=backend)
    assert w.shape == SHAPE and w.dtype == cr.float64 and w.backend.split(":")[0] == backend
    x = w.numpy()
    assert abs(x.std() / std - 1) < 0.02, f"{name}: std {x.std()} vs {std}"
    assert abs(x.mean() - mean) < 4 * std / math.sqrt(x.size)
    if name == "truncated_normal":
        assert x.min() >= -2.0 and x.max() <= 2.0
    if name.endswith("uniform") and name != "uniform":
        assert np.abs(x).max() <= math.sqrt(3) * std * (1 + 1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_constant_kinds_dtype_and_seed(backend):
    assert cr.init.create("zeros")((2, 3), backend=backend).numpy().tolist() == [[0.0] * 3] * 2
    assert cr.init.create("ones")((4,), dtype="float64", backend=backend).dtype == cr.float64
    assert cr.init.create("constant", value=0.5)((2,), backend=backend).tolist() == [0.5, 0.5]
    assert cr.init.create("he_normal")((3, 2), backend=backend).dtype == cr.float32
    cr.random.seed(3)
    a = cr.init.create("xavier_normal")((5, 4), backend=backend).numpy()
    cr.random.seed(3)
    b = cr.init.create("xavier_normal")((5, 4), backend=backend).numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (3, 2, 4)])
def test_orthogonal_is_orthogonal(backend, shape):
    w = cr.init.create("orthogonal", gain=2.0)(shape, dtype="float64", backend=backend).numpy()
    m = w.reshape(shape[0], -1)
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-10)


def test_fans_from_shape_and_explicit():
    assert cr.init.fans((3, 5)) == (3, 5)
    assert cr.init.fans((3, 5, 2, 2)) == (12, 20)
    assert cr.init.fans((7,)) == (7, 7)
    cr.random.seed(0)
    w = cr.init.create("lecun_normal")((200, 600), fan_in=10000, dtype="float64")
    assert abs(w.numpy().std() / 0.01 - 1) < 0.02


def test_gain_matches_torch():
    torch = pytest.importorskip("torch", reason="torch.nn.init.calculate_gain is the oracle")
    for nl, p in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                  ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]:
        assert cr.init.gain(nl, p) == pytest.approx(torch.nn.init.calculate_gain(nl, p))


def test_linear_takes_an_initializer_by_name():
    cr.random.seed(0)
    layer = cr.nn.Linear(300, 400, init="he_normal", dtype="float64")
    assert abs(layer.weight.numpy().std() / math.sqrt(2 / 300) - 1) < 0.02
    assert layer.weight.requires_grad


def test_bad_options_and_unknown_names():
    with pytest.raises(cr.HyperparameterError, match="mode"):
        cr.init.create("he_normal", mode="fan_avg")
    with pytest.raises(cr.HyperparameterError, match="n_layers"):
        cr.init.create("scaled_residual", n_layers=0)
    with pytest.raises(cr.HyperparameterError, match="nonlinearity"):
        cr.init.create("kaiming_normal", nonlinearity="swishy")
    with pytest.raises(cr.UnknownNameError, match="xavier_normal"):
        cr.init.create("xavier_norml")
    assert {"zeros", "ones", "constant", "normal", "uniform", "truncated_normal", "xavier_uniform",
            "xavier_normal", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
            "kaiming_uniform", "kaiming_normal", "lecun_normal", "orthogonal", "gpt2",
            "scaled_residual"} <= set(cr.init.names())

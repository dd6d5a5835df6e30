"""cr.nn sweep of bad inputs: every bad argument to a module constructor, a forward or a
functional raises one of chainrule's errors naming the function or module, the value and the
fix, and leaves parameters, running statistics and the random stream untouched.

Classes of bad input fixed (each raised a bare ZeroDivisionError, TypeError, AttributeError or
ValueError from deep inside, or was silently accepted):

- sizes: ``Conv2d(3, 8, kernel_size=0)``, in/out channels, features, embedding sizes that are 0
  (where a fan-in), negative, float, str, None, NaN, inf or a bool; stride/dilation 0 and
  negative padding at construction (they failed only at the first call, if at all);
- bools and NumPy numbers: ``groups=True`` and ``divisor_override=True`` were accepted,
  ``groups=np.int64(2)``, ``divisor_override=np.int64(2)``, ``padding_idx=np.int64(1)``,
  ``kernel_size=np.int64(3)`` and ``seed=np.int64(3)`` refused; a bool is not a number, a NumPy
  integer is an integer;
- switches: ``bias='no'``, ``count_include_pad='no'``, ``training='no'`` (truthy strings);
- raw arrays: a NumPy weight or bias in conv1d/conv2d (AttributeError), a list into Linear;
- Dropout(p) validated as dropout's p; an integer tensor into dropout or batch_norm;
- BatchNorm1d/2d in training with an integer batch updated its running statistics; a weight
  on another backend failed only after they were updated;
- torch habits: ``ReLU(inplace=True)``, ``LayerNorm([3])``, ``Sequential([a, b])``.
"""
import importlib.util

import numpy as np
import pytest

import chainrule as cr
from chainrule import ArgumentError, BackendError, DTypeError, HyperparameterError, IndexingError, ShapeError

X4 = cr.ones((2, 3, 5, 5))
W4 = cr.ones((4, 3, 2, 2))
X3 = cr.ones((2, 3, 7))
INT4 = cr.tensor(np.ones((2, 3, 5, 5), dtype=np.int64))
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")


def bad(call, error, *says, marks=(), id=None):
    return pytest.param(call, error, says, marks=marks, id=id)


CONSTRUCTORS = [
    # --- convolution
    bad(lambda: cr.nn.Conv2d(3, 8, kernel_size=0), ArgumentError, "Conv2d", "kernel_size", ">= 1", "0",
        id="Conv2d kernel 0"),
    bad(lambda: cr.nn.Conv2d(3, 8, kernel_size=-1), ArgumentError, "Conv2d", "kernel_size", "-1", id="Conv2d kernel -1"),
    bad(lambda: cr.nn.Conv1d(3, 8, 0), ArgumentError, "Conv1d", "kernel_size", ">= 1", id="Conv1d kernel 0"),
    bad(lambda: cr.nn.Conv2d(3, 8, None), ArgumentError, "Conv2d", "kernel_size", "None", id="Conv2d kernel None"),
    bad(lambda: cr.nn.Conv2d(3, 8, "a"), ArgumentError, "Conv2d", "kernel_size", "'a'", id="Conv2d kernel str"),
    bad(lambda: cr.nn.Conv2d(3, 8, 2.5), ArgumentError, "Conv2d", "kernel_size", "2.5", id="Conv2d kernel float"),
    bad(lambda: cr.nn.Conv2d(3, 8, float("nan")), ArgumentError, "Conv2d", "kernel_size", "nan", id="Conv2d kernel nan"),
    bad(lambda: cr.nn.Conv2d(3, 8, True), ArgumentError, "Conv2d", "kernel_size", "True", id="Conv2d kernel bool"),
    bad(lambda: cr.nn.Conv2d(3, 8, (3, 3, 3)), ArgumentError, "Conv2d", "tuple of 2 ints", id="Conv2d kernel 3-d"),
    bad(lambda: cr.nn.Conv1d(3, 8, (3, 3)), ArgumentError, "Conv1d", "tuple of 1 ints", id="Conv1d kernel 2-d"),
    bad(lambda: cr.nn.Conv2d(0, 8, 3), ArgumentError, "Conv2d", "in_channels", ">= 1", id="Conv2d in 0"),
    bad(lambda: cr.nn.Conv1d(0, 8, 3), ArgumentError, "Conv1d", "in_channels", ">= 1", id="Conv1d in 0"),
    bad(lambda: cr.nn.Conv2d(-3, 8, 3), ArgumentError, "Conv2d", "in_channels", "-3", id="Conv2d in -3"),
    bad(lambda: cr.nn.Conv2d(3, -8, 3), ArgumentError, "Conv2d", "out_channels", "-8", id="Conv2d out -8"),
    bad(lambda: cr.nn.Conv2d(3.0, 8, 3), ArgumentError, "Conv2d", "in_channels", "3.0", id="Conv2d in float"),
    bad(lambda: cr.nn.Conv2d("3", 8, 3), ArgumentError, "Conv2d", "in_channels", "'3'", id="Conv2d in str"),
    bad(lambda: cr.nn.Conv2d(None, 8, 3), ArgumentError, "Conv2d", "in_channels", "None", id="Conv2d in None"),
    bad(lambda: cr.nn.Conv2d(True, 8, 3), ArgumentError, "Conv2d", "in_channels", "True", id="Conv2d in bool"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, stride=0), ArgumentError, "Conv2d", "stride", ">= 1", id="Conv2d stride 0"),
    bad(lambda: cr.nn.Conv1d(3, 8, 3, stride=0), ArgumentError, "Conv1d", "stride", ">= 1", id="Conv1d stride 0"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, stride=1.5), ArgumentError, "Conv2d", "stride", "1.5", id="Conv2d stride float"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, dilation=0), ArgumentError, "Conv2d", "dilation", ">= 1", id="Conv2d dilation 0"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, padding=-1), ArgumentError, "Conv2d", "padding", ">= 0", id="Conv2d padding -1"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, padding="foo"), ArgumentError, "Conv2d", "'valid' or 'same'",
        id="Conv2d padding str"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, groups=True), ArgumentError, "Conv2d", "groups", "True", id="Conv2d groups bool"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, groups=1.0), ArgumentError, "Conv2d", "groups", "1.0", id="Conv2d groups float"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, groups="a"), ArgumentError, "Conv2d", "groups", "'a'", id="Conv2d groups str"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, groups=0), ArgumentError, "Conv2d", "groups", ">= 1", id="Conv2d groups 0"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, groups=2), ArgumentError, "Conv2d", "groups=2 must divide", id="Conv2d groups 2"),
    bad(lambda: cr.nn.Conv2d(3, 8, 3, bias="yes"), ArgumentError, "Conv2d", "bias", "True or False",
        id="Conv2d bias str"),
    # --- pooling
    bad(lambda: cr.nn.MaxPool2d(0), ArgumentError, "MaxPool2d", "kernel_size", ">= 1", id="MaxPool2d kernel 0"),
    bad(lambda: cr.nn.MaxPool2d(-1), ArgumentError, "MaxPool2d", "kernel_size", id="MaxPool2d kernel -1"),
    bad(lambda: cr.nn.MaxPool2d("a"), ArgumentError, "MaxPool2d", "kernel_size", "'a'", id="MaxPool2d kernel str"),
    bad(lambda: cr.nn.MaxPool2d(2, stride=0), ArgumentError, "MaxPool2d", "stride", id="MaxPool2d stride 0"),
    bad(lambda: cr.nn.MaxPool2d(2, padding=-1), ArgumentError, "MaxPool2d", "padding", id="MaxPool2d padding -1"),
    bad(lambda: cr.nn.MaxPool2d(2, padding=2), ArgumentError, "MaxPool2d", "at most half", id="MaxPool2d padding 2"),
    bad(lambda: cr.nn.AvgPool2d(0), ArgumentError, "AvgPool2d", "kernel_size", id="AvgPool2d kernel 0"),
    bad(lambda: cr.nn.AvgPool2d(2, count_include_pad="no"), ArgumentError, "AvgPool2d", "count_include_pad",
        "True or False", id="AvgPool2d switch str"),
    # --- linear, MLP, Sequential
    bad(lambda: cr.nn.Linear(0, 3), ArgumentError, "Linear", "in_features", ">= 1", id="Linear in 0"),
    bad(lambda: cr.nn.Linear(-1, 3), ArgumentError, "Linear", "in_features", "-1", id="Linear in -1"),
    bad(lambda: cr.nn.Linear(3, -1), ArgumentError, "Linear", "out_features", "-1", id="Linear out -1"),
    bad(lambda: cr.nn.Linear(3.0, 2), ArgumentError, "Linear", "in_features", "3.0", id="Linear in float"),
    bad(lambda: cr.nn.Linear(3, 2.5), ArgumentError, "Linear", "out_features", "2.5", id="Linear out float"),
    bad(lambda: cr.nn.Linear("3", 2), ArgumentError, "Linear", "in_features", "'3'", id="Linear in str"),
    bad(lambda: cr.nn.Linear(None, 2), ArgumentError, "Linear", "in_features", "None", id="Linear in None"),
    bad(lambda: cr.nn.Linear(True, 2), ArgumentError, "Linear", "in_features", "True", id="Linear in bool"),
    bad(lambda: cr.nn.Linear(float("nan"), 2), ArgumentError, "Linear", "in_features", "nan", id="Linear in nan"),
    bad(lambda: cr.nn.Linear(float("inf"), 2), ArgumentError, "Linear", "in_features", "inf", id="Linear in inf"),
    bad(lambda: cr.nn.Linear(3, 2, bias="no"), ArgumentError, "Linear", "bias", "True or False", id="Linear bias str"),
    bad(lambda: cr.nn.MLP([4]), ArgumentError, "MLP", "at least an input and an output", id="MLP one size"),
    bad(lambda: cr.nn.MLP(4), ArgumentError, "MLP", "got 4", id="MLP int"),
    bad(lambda: cr.nn.MLP(None), ArgumentError, "MLP", "got None", id="MLP None"),
    bad(lambda: cr.nn.MLP("48"), ArgumentError, "MLP", "'48'", id="MLP str"),
    bad(lambda: cr.nn.MLP([4, 0, 3]), ArgumentError, "MLP", "sizes[1]", ">= 1", id="MLP hidden 0"),
    bad(lambda: cr.nn.MLP([4, -1, 3]), ArgumentError, "MLP", "sizes[1]", "-1", id="MLP hidden -1"),
    bad(lambda: cr.nn.MLP([4, 2.5, 3]), ArgumentError, "MLP", "sizes[1]", "2.5", id="MLP hidden float"),
    bad(lambda: cr.nn.MLP([4, 8, 3], activation="softmax"), ArgumentError, "MLP", "'softmax'", "relu",
        id="MLP activation unknown"),
    bad(lambda: cr.nn.MLP([4, 8, 3], activation=["relu"]), ArgumentError, "MLP", "['relu']", id="MLP activation list"),
    bad(lambda: cr.nn.Sequential(1, 2), ArgumentError, "Sequential", "layer 0", "int", id="Sequential int"),
    bad(lambda: cr.nn.Sequential([cr.nn.ReLU()]), ArgumentError, "Sequential", "Sequential(*layers)",
        id="Sequential list"),
    # --- activations, dropout
    bad(lambda: cr.nn.ReLU(inplace=True), ArgumentError, "ReLU", "inplace=True", "drop inplace=", id="ReLU inplace"),
    bad(lambda: cr.nn.GELU("tanh"), ArgumentError, "GELU", "'tanh'", "cr.nn.gelu(x, ...)", id="GELU arg"),
    bad(lambda: cr.nn.Softplus(beta=2), ArgumentError, "Softplus", "beta=2", "cr.nn.softplus", id="Softplus kwarg"),
    bad(lambda: cr.nn.Dropout("a"), HyperparameterError, "Dropout", "'a'", "[0, 1)", id="Dropout str"),
    bad(lambda: cr.nn.Dropout(None), HyperparameterError, "Dropout", "None", id="Dropout None"),
    bad(lambda: cr.nn.Dropout(1.5), HyperparameterError, "Dropout", "1.5", "[0, 1)", id="Dropout 1.5"),
    bad(lambda: cr.nn.Dropout(float("nan")), HyperparameterError, "Dropout", "nan", id="Dropout nan"),
    bad(lambda: cr.nn.Dropout(False), HyperparameterError, "Dropout", "False", id="Dropout bool"),
    # --- normalization, embedding
    bad(lambda: cr.nn.LayerNorm(-1), ArgumentError, "LayerNorm", "features", "-1", id="LayerNorm -1"),
    bad(lambda: cr.nn.LayerNorm(3.0), ArgumentError, "LayerNorm", "features", "3.0", id="LayerNorm float"),
    bad(lambda: cr.nn.LayerNorm("3"), ArgumentError, "LayerNorm", "features", "'3'", id="LayerNorm str"),
    bad(lambda: cr.nn.LayerNorm(None), ArgumentError, "LayerNorm", "features", "None", id="LayerNorm None"),
    bad(lambda: cr.nn.LayerNorm(True), ArgumentError, "LayerNorm", "features", "True", id="LayerNorm bool"),
    bad(lambda: cr.nn.LayerNorm([3]), ArgumentError, "LayerNorm", "last axis", "[3]", id="LayerNorm list"),
    bad(lambda: cr.nn.LayerNorm(3, eps=-1), HyperparameterError, "LayerNorm", "eps", "-1", id="LayerNorm eps -1"),
    bad(lambda: cr.nn.LayerNorm(3, eps="a"), HyperparameterError, "LayerNorm", "eps", id="LayerNorm eps str"),
    bad(lambda: cr.nn.LayerNorm(3, eps=float("nan")), HyperparameterError, "LayerNorm", "eps", id="LayerNorm eps nan"),
    bad(lambda: cr.nn.BatchNorm1d(-1), ArgumentError, "BatchNorm1d", "num_features", "-1", id="BatchNorm1d -1"),
    bad(lambda: cr.nn.BatchNorm1d(3.0), ArgumentError, "BatchNorm1d", "num_features", "3.0", id="BatchNorm1d float"),
    bad(lambda: cr.nn.BatchNorm1d("3"), ArgumentError, "BatchNorm1d", "num_features", id="BatchNorm1d str"),
    bad(lambda: cr.nn.BatchNorm2d(True), ArgumentError, "BatchNorm2d", "num_features", id="BatchNorm2d bool"),
    bad(lambda: cr.nn.BatchNorm1d(3, eps=-1), HyperparameterError, "BatchNorm1d", "eps", id="BatchNorm1d eps -1"),
    bad(lambda: cr.nn.BatchNorm1d(3, eps="a"), HyperparameterError, "BatchNorm1d", "eps", id="BatchNorm1d eps str"),
    bad(lambda: cr.nn.BatchNorm1d(3, momentum=2), ArgumentError, "BatchNorm1d", "momentum", "[0, 1]",
        id="BatchNorm1d momentum 2"),
    bad(lambda: cr.nn.BatchNorm2d(3, momentum=None), ArgumentError, "BatchNorm2d", "momentum=None",
        id="BatchNorm2d momentum None"),
    bad(lambda: cr.nn.BatchNorm1d(3, momentum=True), ArgumentError, "BatchNorm1d", "momentum", "True",
        id="BatchNorm1d momentum bool"),
    bad(lambda: cr.nn.BatchNorm1d(3, affine="no"), ArgumentError, "BatchNorm1d", "affine", "True or False",
        id="BatchNorm1d affine str"),
    bad(lambda: cr.nn.BatchNorm1d(3, track_running_stats="no"), ArgumentError, "track_running_stats",
        id="BatchNorm1d track str"),
    bad(lambda: cr.nn.Embedding(-1, 3), ArgumentError, "Embedding", "num_embeddings", "-1", id="Embedding rows -1"),
    bad(lambda: cr.nn.Embedding(3, -1), ArgumentError, "Embedding", "embedding_dim", "-1", id="Embedding dim -1"),
    bad(lambda: cr.nn.Embedding(3.0, 2), ArgumentError, "Embedding", "num_embeddings", "3.0", id="Embedding float"),
    bad(lambda: cr.nn.Embedding("3", 2), ArgumentError, "Embedding", "num_embeddings", "'3'", id="Embedding str"),
    bad(lambda: cr.nn.Embedding(None, 2), ArgumentError, "Embedding", "num_embeddings", id="Embedding None"),
    bad(lambda: cr.nn.Embedding(True, 2), ArgumentError, "Embedding", "num_embeddings", id="Embedding bool"),
    bad(lambda: cr.nn.Embedding(3, 2, padding_idx=5), ArgumentError, "Embedding", "padding_idx", "[-3, 2]", "5",
        id="Embedding padding_idx 5"),
    bad(lambda: cr.nn.Embedding(3, 2, padding_idx=1.0), ArgumentError, "Embedding", "padding_idx", "1.0",
        id="Embedding padding_idx float"),
    bad(lambda: cr.nn.Embedding(3, 2, padding_idx="a"), ArgumentError, "Embedding", "padding_idx",
        id="Embedding padding_idx str"),
    bad(lambda: cr.nn.Embedding(3, 2, padding_idx=True), ArgumentError, "Embedding", "padding_idx", "True",
        id="Embedding padding_idx bool"),
]


@pytest.mark.parametrize("call, error, says", CONSTRUCTORS)
def test_a_bad_constructor_argument_is_named_and_draws_nothing(call, error, says):
    """Checked before any weight is drawn: the random stream stays where it was."""
    cr.random.seed(0)
    before = cr.random.get_state()
    with pytest.raises(error) as err:
        call()
    for fragment in says:
        assert fragment in str(err.value), f"{fragment!r} not in {str(err.value)!r}"
    assert cr.random.get_state() == before, "a failing constructor drew random numbers"


FUNCTIONAL = [
    # --- convolution
    bad(lambda: cr.nn.conv2d(X4, W4, groups=True), ArgumentError, "conv2d", "groups", "True", id="conv2d groups bool"),
    bad(lambda: cr.nn.conv1d(X3, cr.ones((4, 3, 2)), groups=True), ArgumentError, "conv1d", "groups",
        id="conv1d groups bool"),
    bad(lambda: cr.nn.conv2d(X4, np.ones((4, 3, 2, 2))), ArgumentError, "conv2d", "weight must be a Tensor",
        "ndarray", "cr.tensor(weight", id="conv2d ndarray weight"),
    bad(lambda: cr.nn.conv2d(X4, [[1.0]]), ArgumentError, "conv2d", "weight", "list", id="conv2d list weight"),
    bad(lambda: cr.nn.conv2d(X4, W4, bias=np.ones(4)), ArgumentError, "conv2d", "bias must be a Tensor",
        id="conv2d ndarray bias"),
    bad(lambda: cr.nn.conv1d(X3, np.ones((4, 3, 2))), ArgumentError, "conv1d", "weight must be a Tensor",
        id="conv1d ndarray weight"),
    bad(lambda: cr.nn.conv2d(X4, cr.ones((4, 3, 0, 2))), ShapeError, "conv2d", "every k >= 1", "(4, 3, 0, 2)",
        id="conv2d empty kernel"),
    bad(lambda: cr.nn.conv1d(X3, cr.ones((4, 3, 0))), ShapeError, "conv1d", "every k >= 1", id="conv1d empty kernel"),
    bad(lambda: cr.nn.conv2d(X4, cr.ones((4, 3, 2, 2), backend="torch")), BackendError, "conv2d", "weight",
        "weight.to('numpy')", marks=needs_torch, id="conv2d weight on torch"),
    # --- pooling
    bad(lambda: cr.nn.avg_pool2d(X4, 2, divisor_override=True), ArgumentError, "avg_pool2d", "divisor_override",
        "True", id="avg_pool2d divisor bool"),
    bad(lambda: cr.nn.avg_pool2d(X4, 2, count_include_pad="no"), ArgumentError, "avg_pool2d", "count_include_pad",
        id="avg_pool2d switch str"),
    # --- linear, activations
    bad(lambda: cr.nn.linear(cr.ones((2, 3)), "a"), ArgumentError, "linear", "str", id="linear str weight"),
    bad(lambda: cr.nn.linear(cr.ones((2, 3)), cr.ones((3, 2)), "a"), ArgumentError, "linear", "str",
        id="linear str bias"),
    bad(lambda: cr.nn.Linear(3, 2)("a"), ArgumentError, "Linear", "str", id="Linear str input"),
    bad(lambda: cr.nn.gelu(cr.ones(3), approximate="TANH"), ArgumentError, "gelu", "'TANH'", id="gelu approximate"),
    bad(lambda: cr.nn.softplus(cr.ones(3), beta=True), ArgumentError, "softplus", "beta", "True", id="softplus beta bool"),
    bad(lambda: cr.nn.softplus(cr.ones(3), beta=float("nan")), ArgumentError, "softplus", "beta", "nan",
        id="softplus beta nan"),
    bad(lambda: cr.nn.softplus(cr.ones(3), beta=float("inf")), ArgumentError, "softplus", "beta", "inf",
        id="softplus beta inf"),
    # --- dropout
    bad(lambda: cr.nn.dropout(cr.ones(3), False), HyperparameterError, "dropout", "False", id="dropout p bool"),
    bad(lambda: cr.nn.dropout(cr.tensor([1, 2, 3]), 0.5), DTypeError, "dropout", "int64", "astype",
        id="dropout int input"),
    bad(lambda: cr.nn.dropout(cr.ones(3), 0.5, training="no"), ArgumentError, "dropout", "training", "'no'",
        id="dropout training str"),
    # --- losses, embedding
    bad(lambda: cr.nn.cross_entropy(cr.ones((2, 3)), cr.tensor([0, 3])), IndexingError, "cross_entropy", "label 3",
        id="cross_entropy label 3"),
    bad(lambda: cr.nn.cross_entropy(cr.ones((2, 3)), cr.tensor([-1, 0])), IndexingError, "cross_entropy",
        "label -1", id="cross_entropy label -1"),
    bad(lambda: cr.nn.cross_entropy(cr.ones((2, 3)), "a"), ArgumentError, "cross_entropy", "str",
        id="cross_entropy str labels"),
    bad(lambda: cr.nn.cross_entropy(cr.ones((2, 3)), None), ArgumentError, "cross_entropy", "NoneType",
        id="cross_entropy None labels"),
    bad(lambda: cr.nn.embedding([0, 1], cr.ones((3, 2)), padding_idx=True), ArgumentError, "embedding",
        "padding_idx", "True", id="embedding padding_idx bool"),
    bad(lambda: cr.nn.Embedding(3, 2)("a"), ArgumentError, "embedding", "str", id="Embedding str input"),
    # --- normalization
    bad(lambda: cr.nn.layer_norm(cr.ones((2, 3)), weight=cr.ones(3, backend="torch")), BackendError, "layer_norm",
        "weight.to('numpy')", marks=needs_torch, id="layer_norm weight on torch"),
    bad(lambda: cr.nn.batch_norm(cr.ones((4, 3)), cr.zeros(3), cr.ones(3), training=True, momentum=True),
        ArgumentError, "batch_norm", "momentum", "True", id="batch_norm momentum bool"),
    bad(lambda: cr.nn.batch_norm(cr.ones((4, 3)), np.zeros(3), np.ones(3), training=True), ArgumentError,
        "batch_norm", "running_mean must be a Tensor", id="batch_norm ndarray stats"),
    bad(lambda: cr.nn.batch_norm(cr.ones((4, 3)), [0.0, 0, 0], [1.0, 1, 1], training=True), ArgumentError,
        "batch_norm", "running_mean", "list", id="batch_norm list stats"),
    bad(lambda: cr.nn.batch_norm(cr.ones((4, 3)), cr.zeros(3), cr.ones(3), training="no"), ArgumentError,
        "batch_norm", "training", "'no'", id="batch_norm training str"),
]


@pytest.mark.parametrize("call, error, says", FUNCTIONAL)
def test_a_bad_call_is_named(call, error, says):
    with pytest.raises(error) as err:
        call()
    for fragment in says:
        assert fragment in str(err.value), f"{fragment!r} not in {str(err.value)!r}"


# ------------------------------------------------- batch norm: a failing forward changes nothing

def _state(module):
    return {name: t.numpy().copy() for name, t in module.state_dict().items()}


BATCH_NORM_BAD = [   # (module, input, error, fragment): each in training mode
    pytest.param(lambda: cr.nn.BatchNorm1d(3), lambda: cr.tensor(np.arange(12).reshape(4, 3)), DTypeError,
                 "int64", id="BatchNorm1d int batch"),
    pytest.param(lambda: cr.nn.BatchNorm2d(3), lambda: cr.tensor(np.arange(48).reshape(4, 3, 2, 2)), DTypeError,
                 "int64", id="BatchNorm2d int batch"),
    pytest.param(lambda: cr.nn.BatchNorm1d(3), lambda: cr.tensor(np.ones((4, 3), dtype=bool)), DTypeError,
                 "bool", id="BatchNorm1d bool batch"),
]


@pytest.mark.parametrize("make, batch, error, fragment", BATCH_NORM_BAD)
def test_batch_norm_module_refuses_a_bad_batch_and_keeps_its_running_statistics(make, batch, error, fragment):
    bn = make()
    before = _state(bn)
    with pytest.raises(error, match=fragment):
        bn(batch())
    after = _state(bn)
    assert before.keys() == after.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=f"{name} changed")


def _bn_call(mean, var, batch, **kwargs):
    return lambda: cr.nn.batch_norm(batch, mean, var, training=True, **kwargs)


@pytest.mark.parametrize("case", ["int batch", "int statistics", "weight on torch"])
def test_batch_norm_function_refuses_before_it_updates_the_statistics(case):
    if case == "weight on torch" and importlib.util.find_spec("torch") is None:
        pytest.skip("needs torch")
    mean, var = cr.tensor([0.5, -1.0, 2.0]), cr.tensor([1.0, 2.0, 3.0])
    batch = cr.tensor(np.arange(12.0).reshape(4, 3)).astype("float32")
    call, error = {
        "int batch": (_bn_call(mean, var, cr.tensor(np.arange(12).reshape(4, 3))), DTypeError),
        "int statistics": (_bn_call(cr.tensor([0, 0, 0]), cr.tensor([1, 1, 1]), batch), DTypeError),
        "weight on torch": (_bn_call(mean, var, batch, weight=cr.ones(3, backend="torch")), BackendError),
    }[case]
    stats = (mean.numpy().copy(), var.numpy().copy())
    with pytest.raises(error, match="batch_norm"):
        call()
    np.testing.assert_array_equal(mean.numpy(), stats[0])
    np.testing.assert_array_equal(var.numpy(), stats[1])


FORWARD_BAD = [   # (module, input, error, fragment)
    pytest.param(lambda: cr.nn.BatchNorm1d(3), lambda: cr.ones((4, 3), backend="torch"), BackendError,
                 "batch_norm: input is on torch", marks=needs_torch, id="BatchNorm1d torch batch"),
    pytest.param(lambda: cr.nn.Linear(3, 2), lambda: "abc", ArgumentError, "Linear", id="Linear str"),
    pytest.param(lambda: cr.nn.Embedding(3, 2, padding_idx=0), lambda: "abc", ArgumentError, "embedding",
                 id="Embedding str"),
]


@pytest.mark.parametrize("make, batch, error, fragment", FORWARD_BAD)
def test_a_failing_forward_leaves_parameters_and_buffers_untouched(make, batch, error, fragment):
    module = make()
    before = _state(module)
    with pytest.raises(error, match=fragment):
        module(batch())
    for name, value in _state(module).items():
        np.testing.assert_array_equal(value, before[name], err_msg=f"{name} changed")


# ------------------------------------------------- valid values the checks used to refuse

GOOD = [   # NumPy numbers are numbers; raw arrays where every op takes them
    pytest.param(lambda: cr.nn.conv2d(X4, W4, groups=np.int64(1)), (2, 4, 4, 4),
                 id="conv2d groups np.int64(1)"),
    pytest.param(lambda: cr.nn.conv2d(cr.ones((2, 4, 5, 5)), cr.ones((4, 2, 2, 2)), groups=np.int64(2)),
                 (2, 4, 4, 4), id="conv2d groups np.int64(2)"),
    pytest.param(lambda: cr.nn.Conv2d(3, 8, np.int64(3))(X4), (2, 8, 3, 3), id="Conv2d kernel np.int64"),
    pytest.param(lambda: cr.nn.avg_pool2d(X4, 2, divisor_override=np.int64(2)), (2, 3, 2, 2),
                 id="avg_pool2d divisor np.int64"),
    pytest.param(lambda: cr.nn.embedding([0, 1], cr.ones((3, 2)), padding_idx=np.int64(1)), (2, 2),
                 id="embedding padding_idx np.int64"),
    pytest.param(lambda: cr.nn.dropout(cr.ones(3), 0.5, seed=np.int64(3)), (3,), id="dropout seed np.int64"),
    pytest.param(lambda: cr.nn.softplus(cr.ones(3), beta=np.float32(2)), (3,), id="softplus beta np.float32"),
    pytest.param(lambda: cr.nn.batch_norm(cr.ones((4, 3)), cr.zeros(3), cr.ones(3), training=True,
                                          momentum=np.float32(0.1)), (4, 3), id="batch_norm momentum np.float32"),
    pytest.param(lambda: cr.nn.Linear(3, 2)([1.0, 2.0, 3.0]), (2,), id="Linear list input"),
    pytest.param(lambda: cr.nn.BatchNorm1d(3)(np.arange(12.0).reshape(4, 3)), (4, 3), id="BatchNorm1d ndarray input"),
]


@pytest.mark.parametrize("call, shape", GOOD)
def test_valid_numpy_numbers_and_arrays_are_accepted(call, shape):
    assert tuple(call().shape) == shape


def test_dropout_seeded_with_a_numpy_integer_draws_the_python_integers_mask():
    x = cr.ones((50,))
    np.testing.assert_array_equal(cr.nn.dropout(x, 0.5, seed=np.int64(7)).numpy(),
                                  cr.nn.dropout(x, 0.5, seed=7).numpy())

"""Bad input (SPEC "Bad input gets a clear error"): the documented exception type, a message
naming the fault and the fix, and every tensor involved left unchanged."""
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from conftest import rand, F64


def snapshot(*tensors):
    return [(t.numpy().copy(), None if t.grad is None else t.grad.numpy().copy(), t._version) for t in tensors]


def assert_unchanged(before, *tensors):
    for (data, grad, version), t in zip(before, tensors):
        np.testing.assert_array_equal(t.numpy(), data)
        if grad is None:
            assert t.grad is None
        else:
            np.testing.assert_array_equal(t.grad.numpy(), grad)
        assert t._version == version


# -------------------------------------------------------------------- shapes

@pytest.mark.parametrize("op,shapes,fix", [
    (cr.add, ((3,), (4,)), "broadcast"), (cr.multiply, ((2, 3), (3, 2)), "broadcast"),
    (cr.matmul, ((2, 3), (2, 3)), "transpose"), (cr.maximum, ((5,), (2,)), "broadcast"),
])
def test_shape_mismatch_names_the_op_the_shapes_and_the_fix(op, shapes, fix):
    a = rand(shapes[0], requires_grad=True)
    b = rand(shapes[1], seed=1)
    before = snapshot(a, b)
    with pytest.raises(cr.ShapeError) as err:
        op(a, b)
    msg = str(err.value)
    assert op.__name__ in msg and fix in msg
    assert str(list(shapes[0])) in msg and str(list(shapes[1])) in msg
    assert_unchanged(before, a, b)


def test_other_shape_errors():
    x = rand((2, 3))
    before = snapshot(x)
    with pytest.raises(cr.ShapeError, match="axis 2 is out of range"):
        cr.sum(x, axis=2)
    with pytest.raises(cr.ShapeError, match="permutation"):
        cr.permute_dims(x, (0, 0))
    with pytest.raises(cr.ShapeError, match="length 3, not 1"):
        cr.squeeze(x, 1)
    with pytest.raises(cr.ShapeError, match=r"logits.shape\[:-1\]"):
        cr.nn.cross_entropy(x, cr.tensor([0, 1, 2]))
    with pytest.raises(cr.ShapeError, match="reshape"):
        cr.reshape(x, (4, 2))
    with pytest.raises(cr.ShapeError, match="cotangent has shape"):
        cr.vjp(lambda x: x * 2, x)[1](cr.ones((3,)))
    y = rand((2, 3), requires_grad=True)
    with pytest.raises(cr.ShapeError, match=r"needs shape \(2, 3\)"):
        (y * 2).backward(cr.ones((3, 2), dtype=F64))
    assert y.grad is None
    assert_unchanged(before, x)


# -------------------------------------------------------------------- dtypes

def test_requires_grad_on_an_integer_tensor():
    with pytest.raises(cr.DTypeError, match="floating") as err:
        cr.tensor([1, 2], requires_grad=True)
    assert "float32" in str(err.value)          # the fix: create it as float
    i = cr.tensor([1, 2])
    with pytest.raises(cr.DTypeError):
        i.requires_grad_()
    assert not i.requires_grad and i.tolist() == [1, 2]


def test_float_index():
    x = rand((3,))
    before = snapshot(x)
    with pytest.raises(cr.DTypeError, match="integer or bool") as err:
        x[cr.tensor([0.0, 1.0])]
    assert "astype" in str(err.value)
    assert_unchanged(before, x)


def test_unknown_dtype_lists_the_known_ones():
    with pytest.raises(cr.DTypeError, match="float32"):
        cr.zeros((2,), dtype="float31")


# ------------------------------------------------------------- two backends

def test_two_backends_mixed_names_both():
    reason = cr.backends.available().get("torch")
    if reason:
        pytest.skip(f"mixing needs a second backend; torch cannot run here: {reason}")
    a = rand((2,), requires_grad=True)
    b = cr.ones((2,), dtype=F64, backend="torch")
    before = snapshot(a, b)
    for fn in (lambda: a + b, lambda: cr.matmul(a, b), lambda: cr.where(a > 0, a, b)):
        with pytest.raises(cr.BackendError) as err:
            fn()
        msg = str(err.value)
        assert "numpy" in msg and "torch" in msg and ".to(" in msg
    assert_unchanged(before, a, b)


# ------------------------------------------------------------------ backward

def test_non_scalar_backward_without_grad():
    x = rand((2, 3), requires_grad=True)
    y = x * 2
    with pytest.raises(cr.GraphError) as err:
        y.backward()
    msg = str(err.value)
    assert "(2, 3)" in msg and "grad=" in msg and ".sum().backward()" in msg
    assert x.grad is None
    y.backward(cr.ones((2, 3), dtype=F64))        # the graph survived the failed call
    assert x.grad.tolist() == [[2.0] * 3] * 2


def test_backward_on_a_tensor_without_graph():
    with pytest.raises(cr.GraphError, match="requires_grad=True"):
        rand((1,)).backward()


def test_freed_graph():
    x = rand((3,), requires_grad=True)
    y = cr.sum(cr.tanh(x))
    y.backward()
    before = snapshot(x)
    with pytest.raises(cr.GraphError) as err:
        y.backward()
    assert "retain_graph=True" in str(err.value) and "second time" in str(err.value)
    assert_unchanged(before, x)


def test_inplace_change_of_a_saved_tensor():
    x = rand((3,), requires_grad=True)
    h = x * 1.0
    y = cr.sum(cr.sin(h))      # sin saves h
    h *= 2.0
    before = snapshot(x)
    with pytest.raises(cr.InplaceError) as err:
        y.backward()
    msg = str(err.value)
    assert "'sin'" in msg and "in place" in msg and "clone" in msg
    assert_unchanged(before, x)


def test_inplace_on_a_traced_value():
    with pytest.raises(cr.InplaceError, match="x = x"):
        cr.grad(lambda x: cr.sum(x.__iadd__(1.0)))(rand((2,)))


def test_grad_of_a_non_scalar():
    with pytest.raises(cr.GraphError, match="scalar"):
        cr.grad(cr.tanh)(rand((3,)))


# --------------------------------------------------------------- names

def test_unknown_backend_in_the_environment_lists_the_known_ones():
    env = {**os.environ, "CHAINRULE_BACKEND": "nump"}
    r = subprocess.run([sys.executable, "-c", "import chainrule as cr; cr.ones(2)"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode != 0
    assert "UnknownNameError" in r.stderr and "CHAINRULE_BACKEND='nump'" in r.stderr
    assert "numpy" in r.stderr and "torch" in r.stderr


def test_unknown_backend_name_in_code():
    with pytest.raises(cr.UnknownNameError, match="known backends: .*numpy"):
        cr.set_backend("jax")
    with pytest.raises(cr.UnknownNameError):
        with cr.use_backend("nmupy"):
            pass
    assert cr.get_backend().name == "numpy"


def test_unknown_op_name_suggests_the_closest():
    with pytest.raises(cr.UnknownNameError) as err:
        cr.ops.get("softmx")
    assert "softmax" in str(err.value) and "did you mean" in str(err.value)
    with pytest.raises(KeyError):     # UnknownNameError is a KeyError too
        cr.ops.get("log_sofmax")


def test_registering_an_existing_op_names_the_provider():
    with pytest.raises(cr.RegistryError, match="'exp' is already registered by 'chainrule'.*replace=True"):
        cr.ops.register("exp", lambda x: x)
    assert cr.ops.get("exp").kernel == "exp"


def test_bad_keyword_values():
    x = rand((2, 3))
    with pytest.raises(ValueError, match="approximate"):
        cr.nn.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="reduction"):
        cr.nn.cross_entropy(x, cr.tensor([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match="dropout"):
        cr.nn.dropout(x, p=1.5)


@pytest.mark.parametrize("raw_rules", [False, True])
@pytest.mark.parametrize("returned", [3, 1])
def test_a_vjp_returning_the_wrong_number_of_cotangents_is_named(raw_rules, returned):
    """Never silently None for an argument: the walk checks the count for every op."""
    name = f"bad_count_{returned}_{raw_rules}"
    f = cr.ops.register(name, lambda x, y: x * y, raw_rules=raw_rules, replace=True,
                        vjp=lambda ans, x, y: lambda g: (g * y,) * returned)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(cr.RegistryError, match=f"{name}.*{returned} cotangents for 2 arguments"):
        f(x, y).sum().backward()
    assert x.grad is None and y.grad is None


@pytest.mark.parametrize("raw_rules", [False, True])
@pytest.mark.parametrize("wrong", [lambda g: g.T, lambda g: g[:1, :1].reshape((1,)) * cr.ones((5,))],
                         ids=["transposed", "longer"])
def test_a_vjp_returning_a_wrongly_shaped_cotangent_is_named(raw_rules, wrong):
    """A (3, 2) cotangent for a (2, 3) argument must not be reshaped into place silently."""
    name = f"bad_shape_{raw_rules}_{id(wrong)}"
    wrapped = (lambda g: cr.tensor(wrong(cr.tensor(g))).data) if raw_rules else wrong
    f = cr.ops.register(name, lambda x: x * 2.0, raw_rules=raw_rules,
                        vjp=lambda ans, x: lambda g: wrapped(g))
    x = cr.ones((2, 3), requires_grad=True)
    with pytest.raises(cr.ShapeError, match=f"{name}.*shape"):
        f(x).sum().backward()
    assert x.grad is None

"""The eager graph: deep chains, freeing, retain/create_graph, .grad accumulation, no_grad,
detach, in-place ops with version counters, indexing with scatter-add backward."""
import gc
import weakref

import numpy as np
import pytest

import chainrule as cr
from conftest import rand, assert_close, F64


def t(v, requires_grad=True):
    return cr.tensor(v, dtype=F64, requires_grad=requires_grad)


# ------------------------------------------------------------ depth and freeing

def test_ten_thousand_op_chain_differentiates():
    x = t(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert float(x.grad) == pytest.approx(1.0001 ** 10_000, rel=1e-9)
    # and through a transform (its own graph walk), and mixed ops
    g = cr.grad(lambda x: _chain(x, 10_000))(t(0.5, False))
    assert np.isfinite(float(g))


def _chain(x, n):
    for i in range(n):
        x = cr.tanh(x) + 0.001 if i % 2 else x * 1.0001
    return x


def test_graph_is_freed_after_backward():
    x = t([1.0, 2.0])
    mid = x * 3.0
    mid_ref = weakref.ref(mid)
    node_ref = weakref.ref(mid._node) if hasattr(type(mid._node), "__weakref__") else None
    y = cr.sum(cr.exp(mid))
    del mid
    y.backward()
    del y
    gc.collect()
    assert mid_ref() is None, "an intermediate tensor outlived backward and del"
    if node_ref is not None:
        assert node_ref() is None, "a graph node outlived backward and del"
    assert_close(x.grad, 3 * np.exp(3 * np.array([1.0, 2.0])))


def test_saved_values_are_released_by_backward_even_while_the_output_lives():
    x = t(np.ones(1000))
    h = cr.tanh(x)          # saved by the next op
    ref = weakref.ref(h)
    y = cr.sum(h * h)
    del h
    y.backward()
    gc.collect()
    assert ref() is None, "backward kept the saved intermediate alive"


def test_second_backward_raises_naming_the_op_and_the_fix():
    x = t(2.0)
    y = cr.exp(x) * x
    y.backward()
    with pytest.raises(cr.GraphError) as err:
        y.backward()
    msg = str(err.value)
    assert "multiply" in msg and "retain_graph=True" in msg
    assert float(x.grad) == pytest.approx(3 * np.exp(2.0))   # unchanged by the failed call


def test_retain_graph_twice_doubles_the_gradient():
    x = t(3.0)
    y = x ** 3
    y.backward(retain_graph=True)
    assert float(x.grad) == 27.0
    y.backward(retain_graph=True)
    assert float(x.grad) == 54.0
    y.backward()
    assert float(x.grad) == 81.0


def test_create_graph_double_backward():
    x = t(2.0)
    y = cr.sin(x) * x ** 2
    y.backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    assert float(g) == pytest.approx(np.cos(2.0) * 4 + 2 * 2.0 * np.sin(2.0))
    x.grad = None
    g.backward()
    second = -np.sin(2.0) * 4 + 2 * np.cos(2.0) * 2 * 2.0 + 2 * np.sin(2.0)
    assert float(x.grad) == pytest.approx(second)


def test_grad_is_none_before_backward_and_accumulates():
    w = t([1.0, 2.0])
    assert w.grad is None
    cr.sum(w * w).backward()
    assert w.grad.tolist() == [2.0, 4.0]
    cr.sum(w * 3.0).backward()
    assert w.grad.tolist() == [5.0, 7.0]
    w.grad = None
    cr.sum(w).backward()
    assert w.grad.tolist() == [1.0, 1.0]


def test_backward_with_an_explicit_cotangent():
    x = t([1.0, 2.0, 3.0])
    (x * x).backward(cr.tensor([1.0, 0.5, 0.0], dtype=F64))
    assert x.grad.tolist() == [2.0, 2.0, 0.0]


# --------------------------------------------------------------- no_grad, detach

def test_no_grad_context_and_decorator():
    w = t([1.0])
    with cr.no_grad():
        y = w * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad

    @cr.no_grad()
    def f(a):
        return a * 2
    assert not f(w).requires_grad and (w * 2).requires_grad
    with cr.no_grad():
        with cr.enable_grad():
            assert (w * 2).requires_grad


def test_detach_cuts_the_graph_and_shares_the_value():
    w = t([1.0, -2.0])
    d = w.detach()
    assert not d.requires_grad and d.tolist() == w.tolist()
    cr.sum(w * d).backward()
    assert w.grad.tolist() == [1.0, -2.0]


# ------------------------------------------------------------------- in-place

def test_iadd_is_recorded():
    x = t([1.0, 2.0])
    y = x * 2
    y += x * x          # y = 2x + x^2
    cr.sum(y).backward()
    assert x.grad.tolist() == [2 + 2 * 1.0, 2 + 2 * 2.0]


def test_inplace_ops_on_intermediates_chain():
    x = t([1.0, 2.0])
    y = x * 1.0
    y *= x           # x^2
    y -= 1.0         # x^2 - 1
    y /= 2.0         # (x^2 - 1)/2
    y.add_(x, alpha=3)   # + 3x
    cr.sum(y).backward()
    assert_close(x.grad, np.array([1.0, 2.0]) + 3)


def test_inplace_change_of_a_saved_tensor_raises_naming_the_op():
    x = t([1.0, 2.0])
    b = x * 2
    c = cr.exp(b)        # exp saves b (and its output)
    d = b * b            # multiply saves b
    b += 1
    with pytest.raises(cr.InplaceError, match="multiply") as err:
        cr.sum(d).backward()
    assert "in place" in str(err.value) and ("clone" in str(err.value) or "out of place" in str(err.value))
    assert x.grad is None


def test_version_counter_bumps_on_every_inplace_op():
    x = cr.tensor([1.0, 2.0], dtype=F64)
    versions = [x._version]
    for op in (lambda: x.__iadd__(1.0), lambda: x.mul_(2.0), lambda: x.__setitem__(0, 5.0),
               lambda: x.copy_(cr.zeros((2,), dtype=F64)), lambda: x.zero_()):
        op()
        versions.append(x._version)
    assert all(b > a for a, b in zip(versions, versions[1:])), versions


def test_inplace_on_a_leaf_requiring_grad_raises_unless_no_grad():
    w = t([1.0, 2.0])
    with pytest.raises(cr.InplaceError, match="no_grad"):
        w += 1.0
    assert w.tolist() == [1.0, 2.0]
    buf = w.data
    with cr.no_grad():
        w -= 0.5
    assert w.tolist() == [0.5, 1.5] and w.data is buf and w.requires_grad   # written in place


def test_setitem_gradients():
    a = t([1.0, 2.0, 3.0])
    v = t(5.0)
    b = a * 1
    b[1] = v * 2
    cr.sum(b * b).backward()
    assert a.grad.tolist() == [2.0, 0.0, 6.0] and float(v.grad) == 40.0
    # a slice and a broadcast value
    a2, v2 = t(np.ones((2, 3))), t([1.0, 2.0, 3.0])
    c = a2 * 2
    c[0] = v2 * v2
    cr.sum(c).backward()
    assert a2.grad.tolist() == [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]
    assert v2.grad.tolist() == [2.0, 4.0, 6.0]


# ------------------------------------------------------------------- indexing

def test_integer_indexing_scatter_adds_repeated_indices():
    x = t([1.0, 2.0, 3.0, 4.0])
    idx = cr.tensor([0, 0, 2, 0])
    cr.sum(x[idx] * cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64)).backward()
    assert x.grad.tolist() == [7.0, 0.0, 3.0, 0.0]
    X = t(np.arange(6.0).reshape(3, 2))
    cr.sum(X[cr.tensor([2, 2, 1]), cr.tensor([0, 0, 1])]).backward()
    assert X.grad.tolist() == [[0.0, 0.0], [0.0, 1.0], [2.0, 0.0]]
    Y = t(np.ones((2, 3)))
    cr.sum(cr.take(Y, cr.tensor([1, 1, 1]), axis=1) * 2.0).backward()
    assert Y.grad.tolist() == [[0.0, 6.0, 0.0], [0.0, 6.0, 0.0]]


def test_boolean_indexing_backward():
    x = t([[1.0, -2.0], [3.0, -4.0]])
    cr.sum(x[x > 0] ** 2).backward()
    assert x.grad.tolist() == [[2.0, 0.0], [6.0, 0.0]]
    x.grad = None
    cr.sum(x[cr.tensor([False, True])] * 3.0).backward()
    assert x.grad.tolist() == [[0.0, 0.0], [3.0, 3.0]]


def test_indexing_second_order():
    x = cr.tensor([1.0, 2.0, 3.0], dtype=F64)
    f = lambda x: cr.sum(x[cr.tensor([0, 0, 2])] ** 3)
    H = cr.hessian(f)(x)
    assert H.tolist() == [[12.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 18.0]]

"""Sweep of tensor creation and the Tensor object's API, on the numpy and torch backends.

Each test pins a bug that gave a silently wrong answer (or a backend-dependent one) and
compares with NumPy (values, dtypes) or torch (autograd behaviour):
creation from lists holding tensors, torch tensors that require grad, shapes, ``full``'s
fill value, ``arange``'s float rounding and empty ranges, ``eye``'s ``k``; ``np.asarray(x)``;
``&``/``|``/``~`` on non-bool tensors; ``**=``/``%=`` on views and leaves; ``x.transpose()``;
a hand-assigned ``.grad`` of the wrong kind at ``backward()``; ``x[idx] = value`` casting;
``f"{x:.2f}"``, ``v in x``, ``item()`` and the bfloat16 repr.
"""
import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

BACKENDS = ["numpy", "torch"]


# ------------------------------------------------------------------ creation

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("items, expected", [
    (lambda b: [cr.tensor(1.0, dtype="float64", backend=b), 2.0], "float64"),   # was float32
    (lambda b: [cr.tensor([1.0, 2.0], dtype="float64", backend=b)] * 2, "float64"),
    (lambda b: [cr.tensor(True, backend=b), True], "bool"),                     # was int64
    (lambda b: [cr.tensor(1, dtype="int8", backend=b), 2], "int64"),
    (lambda b: [cr.tensor(1.0, dtype="float16", backend=b), 2.0], "float32"),   # as torch.tensor
    (lambda b: [cr.tensor(1.0, backend=b), cr.tensor(1.0, dtype="float64", backend=b)], "float64"),
])
def test_a_list_of_tensors_keeps_their_dtype(backend, items, expected):
    data = items(backend)
    t = cr.tensor(data, backend=backend)
    assert t.dtype == expected
    assert t.tolist() == np.asarray([np.asarray(d.tolist()) if isinstance(d, cr.Tensor) else d
                                     for d in data], dtype=object).astype(float).tolist()


@pytest.mark.parametrize("make", [cr.tensor, cr.asarray])
def test_a_torch_tensor_in_torchs_graph_gives_its_values_only(make):
    tt = torch.tensor([1.0, 2.0], requires_grad=True) * 1     # a non-leaf, with a grad_fn
    x = make(tt)
    assert not x.data.requires_grad and x.data.grad_fn is None
    assert x.numpy().tolist() == [1.0, 2.0] and "tensor(" in repr(x)
    assert not (x * 2).data.requires_grad                      # no hidden torch graph grows


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("data", [2**63, [1, 2**64]])
def test_a_python_int_past_int64_is_a_dtype_error(backend, data):
    with pytest.raises(cr.DTypeError, match="cannot make a tensor"):
        cr.tensor(data, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape, error", [((2.5,), TypeError), ((2, 1.0), TypeError), (True, TypeError),
                                          (-1, cr.ShapeError), ((2, -3), cr.ShapeError)])
def test_a_bad_shape_is_refused_not_truncated(backend, shape, error):
    for make in (cr.zeros, cr.ones):
        with pytest.raises(error):
            make(shape, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [np.int64(3), cr.tensor(3), np.array([2, 3]), [np.int32(2), 3]])
def test_integer_like_shapes_work(backend, shape):
    assert cr.zeros(shape, backend=backend).shape == tuple(np.zeros(np.asarray(shape).tolist()).shape)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fill", [None, "a", 1j, np.complex64(1)])
def test_full_refuses_a_fill_value_that_is_not_a_real_number(backend, fill):
    with pytest.raises(cr.DTypeError, match="real number"):
        cr.full(2, fill, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_keeps_a_tensor_fill_values_dtype(backend):
    assert cr.full(2, cr.tensor(1.5, dtype="float64"), backend=backend).dtype == "float64"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args", [(1, 0, -0.1), (0, 1, 0.1), (0, 2, 0.3), (-1, 1, 0.25), (0, 1e-3, 1e-4)])
def test_float_arange_is_numpys_rounded_once(backend, args):
    ours = cr.arange(*args, backend=backend).numpy()
    np.testing.assert_array_equal(ours, np.arange(*args).astype(np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args", [(0, 5, -1), (-3,), (5, 5), (1.0, 0.0)])
def test_an_empty_arange_is_empty_on_every_backend(backend, args):
    t = cr.arange(*args, backend=backend)
    assert t.shape == (0,) and t.dtype == ("float32" if isinstance(args[0], float) else "int64")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args", [(0, 5, 0), (None,), (0, float("inf"))])
def test_arange_refuses_a_zero_step_or_an_endless_range(backend, args):
    with pytest.raises(cr.ArgumentError, match="arange"):
        cr.arange(*args, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n, m, k", [(3, None, 1), (3, 4, -1), (2, 3, 2), (3, None, 5)])
def test_eye_takes_numpys_diagonal_offset(backend, n, m, k):
    assert cr.eye(n, m, k, backend=backend).tolist() == np.eye(n, m, k, dtype=np.float32).tolist()
    assert cr.eye(n, m, k=k, dtype="int64", backend=backend).dtype == "int64"


# ------------------------------------------------------------------ NumPy interop

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn, data", [
    (lambda a: a.sum(), [True, True, False]),                 # was tensor(True): or, not a count
    (lambda a: np.cumsum(a).tolist(), [True, True, True]),
    (lambda a: a.sum(), np.array([100, 100], np.int8)),       # was -56: summed in int8
    (lambda a: np.sort(a).tolist(), [3.0, float("nan"), 1.0]),  # NaN was left in place
    (lambda a: np.argsort(a).tolist(), [3.0, float("nan"), 1.0]),
])
def test_numpy_functions_see_the_values_not_an_object_array(backend, fn, data):
    ref = np.asarray(data, dtype=np.float32 if isinstance(data[0], float) else None)
    x = cr.tensor(ref, backend=backend)
    assert np.asarray(x).dtype == ref.dtype
    np.testing.assert_equal(fn(np.asarray(x)), fn(ref))


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_binary_operators_still_give_tensors(backend):
    x = cr.tensor([1.0, 2.0], requires_grad=True, backend=backend)
    for out in (np.array([1.0, 2.0]) + x, np.float64(2) * x, x ** np.int64(2), np.array(2.0) - x,
                np.array([[1.0, 2.0]]) @ x, np.array([1.0, 3.0]) < x):
        assert isinstance(out, cr.Tensor)
    assert (np.float64(2) * x).dtype == "float64" and (np.float16(2) * x).dtype == "float32"


# ------------------------------------------------------------------ operators

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", [lambda a, b: a & b, lambda a, b: a | b, lambda a, b: a ^ b,
                                lambda a, b: ~a, lambda a, b: b & a])
@pytest.mark.parametrize("dtype", ["int64", "float32", "uint8"])
def test_bitwise_operators_on_non_bool_tensors_are_refused(backend, op, dtype):
    a = cr.tensor([1, 2, 4], dtype=dtype, backend=backend)
    with pytest.raises(cr.DTypeError, match="bool tensors only"):
        op(a, cr.tensor([3, 1, 4], dtype=dtype, backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bitwise_operators_on_bool_tensors_are_numpys(backend):
    p, q = [True, True, False, False], [True, False, True, False]
    a, b = cr.tensor(p, backend=backend), cr.tensor(q, backend=backend)
    n, m = np.array(p), np.array(q)
    for ours, ref in [(a & b, n & m), (a | b, n | m), (a ^ b, n ^ m), (~a, ~n), (n & b, n & m),
                      (True ^ a, True ^ n), (a | np.bool_(False), n | False)]:
        assert ours.dtype == "bool" and ours.tolist() == ref.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op, ref", [("__ipow__", lambda v: v ** 2), ("__imod__", lambda v: v % 4)])
def test_ipow_and_imod_write_through_a_view(backend, op, ref):
    x = cr.tensor([5.0, 7.0, 3.0], backend=backend)
    v = x[:2]
    out = getattr(v, op)(2 if op == "__ipow__" else 4)
    assert out is v
    assert x.tolist() == ref(np.array([5.0, 7.0], np.float32)).tolist() + [3.0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", ["__ipow__", "__imod__"])
def test_ipow_and_imod_on_a_leaf_that_requires_grad_raise(backend, op):
    w = cr.tensor([1.0, 2.0], requires_grad=True, backend=backend)
    with pytest.raises(cr.InplaceError):
        getattr(w, op)(2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_transpose_method_is_ndarrays_without_arguments(backend):
    z = cr.zeros((2, 3, 4), backend=backend)
    assert z.transpose().shape == np.zeros((2, 3, 4)).transpose().shape == (4, 3, 2)
    assert z.transpose((1, 0, 2)).shape == (3, 2, 4)
    assert z.transpose(0, 1).shape == (3, 2, 4)       # torch's swap, as the guide's table says


# ------------------------------------------------------------------ .grad and backward

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [lambda b: cr.tensor([1.0, 2.0, 3.0], backend=b),
                                 lambda b: cr.tensor([1.0, 2.0], dtype="float64", backend=b),
                                 lambda b: cr.tensor([1.0], backend=b),
                                 lambda b: np.array([1.0, 2.0], np.float32)])
def test_backward_refuses_a_hand_assigned_grad_unlike_its_leaf(backend, bad):
    w = cr.tensor([1.0, 2.0], requires_grad=True, backend=backend)
    v = cr.tensor([1.0, 2.0], requires_grad=True, backend=backend)
    w.grad = g = bad(backend)
    with pytest.raises(cr.GraphError, match="assigned"):
        ((w * v).sum()).backward()
    assert w.grad is g and v.grad is None                    # nothing was written


# ------------------------------------------------------------------ x[idx] = value

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", [lambda b: cr.tensor([True, False, True], backend=b),
                                   lambda b: cr.tensor([0, 2], backend=b), lambda b: [0, 2]])
@pytest.mark.parametrize("value", [lambda b: cr.tensor([7.0, 8.0], dtype="float64", backend=b),
                                   lambda b: np.array([7.0, 8.0]), lambda b: [7, 8],
                                   lambda b: cr.tensor(7, backend=b)])
def test_setitem_casts_the_value_on_every_backend(backend, index, value):
    x = cr.tensor([1.0, 2.0, 3.0], backend=backend)
    x[index(backend)] = v = value(backend)
    ref = np.array([1.0, 2.0, 3.0], np.float32)
    ref[[0, 2]] = np.asarray(v.tolist() if isinstance(v, cr.Tensor) else v)
    assert x.dtype == "float32" and x.tolist() == ref.tolist()


@pytest.mark.parametrize("backend", BACKENDS)
def test_setitem_none_is_refused(backend):
    x = cr.tensor([1.0, 2.0], backend=backend)
    with pytest.raises(cr.DTypeError, match="None"):
        x[0] = None
    assert x.tolist() == [1.0, 2.0]


# ------------------------------------------------------------------ small conveniences

@pytest.mark.parametrize("backend", BACKENDS)
def test_format_contains_item_and_repr(backend):
    assert f"{cr.tensor(2.5, backend=backend):.2f}" == "2.50"
    assert f"{cr.tensor([1.0], backend=backend)}".startswith("tensor(")
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], backend=backend)
    assert 2.0 in x and 5.0 not in x
    with pytest.raises(ValueError, match="one-element"):
        x.item()
    assert "dtype=bfloat16" in repr(cr.tensor([1.5], dtype="bfloat16", backend=backend))


@pytest.mark.parametrize("dtype, name", [(bool, "bool"), (np.bool_, "bool"), (np.float64, "float64"),
                                         (np.int8, "int8"), (np.dtype("float16"), "float16")])
def test_python_and_numpy_types_name_dtypes(dtype, name):
    """dtype=bool raised (the dtypes module's own name bool shadowed the builtin), and NumPy's
    scalar types (np.float64) were unknown dtypes."""
    assert cr.zeros((2,), dtype=dtype).dtype == name
    assert cr.ones((2,)).astype(dtype).dtype == name


def test_a_python_int_out_of_an_unsigned_range_is_refused_on_torch():
    """torch.tensor(-1, dtype=uint8) wraps to 255; NumPy refuses, and so does chainrule on
    every backend."""
    for backend in ("numpy", "torch"):
        with pytest.raises(cr.DTypeError, match="out of bounds"):
            cr.tensor(-1, dtype="uint8", backend=backend)

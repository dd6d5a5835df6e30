"""The cupy backend's Python code, run against a NumPy stand-in for CuPy (tests/fake_cupy).

This is NOT a GPU run and says nothing about CUDA kernels, cuBLAS/cuSOLVER numerics, streams,
memory or speed.  tests/fake_cupy holds TEST-ONLY ``cupy`` and ``cupyx`` packages backed by
NumPy on the CPU; this module alone puts them on sys.path (and makes cupy.py's probe for a
CUDA driver answer yes), so that core/builtin_backends/cupy.py loads, and checks:

* the conformance kit (chainrule.testing: every kernel case and every gradcheck case);
* the op-level sweeps of tests/test_core_backends.py (every op on every dtype, scalar
  operands, gradients next to integers, in-place writes and their casting, Python ints out
  of an integer dtype's range, integer index widths, transforms, the demo training run),
  reused as they are with their ``backend`` fixture bound to "cupy";
* the cupy:1 path (kernels wrapped to run with the second GPU current), raw arrays, moves.

What it can show: attribute and keyword mistakes, missing kernels, and where the backend's
answers (dtypes, values, gradients, refusals) differ from the numpy backend's, given CuPy
behaving as the stand-in models it (see tests/fake_cupy/cupy/__init__.py: CuPy 13's typing of
Python ints by value, erf/erfc with float32/float64 loops only, scatter_add's dtypes, stable
sorts, no implicit host conversion, ``str(x.device) == "<CUDA Device 0>"``).  A model can be
wrong; real CuPy is the judge (tests/test_conformance.py runs the kit on it where a GPU is).

Everything is undone afterwards: other test modules still see "cupy is not installed".
"""
import ctypes.util
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import backends as _backends
from chainrule import testing

import test_core_backends as core_sweeps

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

STANDIN = str(Path(__file__).resolve().parent / "fake_cupy")
def _forget_cupy():
    """Drop every cached trace of the cupy backend and of the stand-in's modules."""
    for name in [n for n in _backends._loaded if str(n).partition(":")[0] == "cupy"]:
        del _backends._loaded[name]
    for cache in (_backends._raw_types, _backends._raw_device_backends):
        for key in [k for k, b in cache.items() if b.spec.name == "cupy"]:
            del cache[key]
    for key in [k for k, s in _backends._raw_device_types.items() if s.name == "cupy"]:
        del _backends._raw_device_types[key]
    for name in [m for m in sys.modules if m.partition(".")[0] in ("cupy", "cupyx")]:
        del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture(scope="module", autouse=True)
def standin():
    mp = pytest.MonkeyPatch()
    find_library = ctypes.util.find_library
    _forget_cupy()
    sys.path.insert(0, STANDIN)
    importlib.invalidate_caches()
    try:
        mp.setattr(ctypes.util, "find_library",
                   lambda name: "libcuda.so.1" if name == "cuda" else find_library(name))
        import cupy
        assert cupy.__file__.startswith(STANDIN), cupy.__file__
        assert cr.backends.available()["cupy"] is None
        yield cupy
    finally:
        mp.undo()
        sys.path.remove(STANDIN)
        _forget_cupy()
        assert cr.backends.available()["cupy"], "the stand-in leaked"


@pytest.fixture(params=["legacy", "nep50"])
def promotion(request, standin):
    """The stand-in typing Python ints as CuPy 13 does (by value) or as CuPy 14 / NumPy 2."""
    before, standin.PROMOTION = standin.PROMOTION, request.param
    yield request.param
    standin.PROMOTION = before


@pytest.fixture
def backend(standin):
    """test_core_backends' fixture, bound to the cupy backend (through the stand-in)."""
    with cr.use_backend("cupy"):
        yield "cupy"


# ------------------------------------------------------------------ the conformance kit

@testing.parametrize_kernels(["cupy", "cupy:1"])
def test_kernel(backend_name, case):
    testing.run_case(backend_name, case)


@testing.parametrize_gradchecks(["cupy"])
def test_gradients(backend_name, case):
    testing.run_case(backend_name, case)


def test_check_backend_passes_and_skips_only_what_cupy_lacks():
    report = testing.check_backend("cupy")
    assert report["failed"] == 0
    # bfloat16 (CuPy has none) and rng_state (optional) are all it declines
    assert all("bfloat16" in s or "rng_state" in s for s in report["skipped"]), report["skipped"]


# ------------------------------------------------------ the op-level sweeps, reused

test_lesson_graph_on_every_backend = core_sweeps.test_lesson_graph_on_every_backend
test_transforms_agree_with_numpy_backend = core_sweeps.test_transforms_agree_with_numpy_backend
test_gradcheck_through_the_backend = core_sweeps.test_gradcheck_through_the_backend
test_inplace_and_version_errors = core_sweeps.test_inplace_and_version_errors
test_demo_training_matches_numpy = core_sweeps.test_demo_training_matches_numpy
test_integer_indices_of_every_width_select_as_numpy = core_sweeps.test_integer_indices_of_every_width_select_as_numpy
test_every_op_on_every_dtype_matches_the_numpy_backend = core_sweeps.test_every_op_on_every_dtype_matches_the_numpy_backend
test_every_op_with_a_scalar_operand_matches_the_numpy_backend = \
    core_sweeps.test_every_op_with_a_scalar_operand_matches_the_numpy_backend
test_gradients_next_to_an_integer_operand_match_the_numpy_backend = \
    core_sweeps.test_gradients_next_to_an_integer_operand_match_the_numpy_backend
test_var_and_std_of_a_constant_slice_are_exactly_zero_as_torch = \
    core_sweeps.test_var_and_std_of_a_constant_slice_are_exactly_zero_as_torch


# the sweeps above run with the stand-in typing Python ints as CuPy 13 (by value); these
# run under both typings a CuPy may have (13: by value, 14: NEP 50)
@pytest.mark.parametrize("write", sorted(core_sweeps.IN_PLACE))
def test_in_place_writes_cast_as_numpy_on_every_backend(backend, promotion, write):
    core_sweeps.test_in_place_writes_cast_as_numpy_on_every_backend(backend, write)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
def test_python_ints_out_of_an_integer_dtypes_range_are_compared_exactly_or_refused(backend, promotion, dtype):
    core_sweeps.test_python_ints_out_of_an_integer_dtypes_range_are_compared_exactly_or_refused(backend, dtype)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "int16", "int64"])
def test_scalar_operands_under_cupy14_typing(backend, promotion, dtype):
    if promotion == "legacy":
        pytest.skip("the reused sweep above runs under CuPy 13's typing, the stand-in's default")
    core_sweeps.test_every_op_with_a_scalar_operand_matches_the_numpy_backend(backend, dtype)


# ------------------------------------------------------------------ targeted checks

def test_arrays_are_cupy_arrays_on_their_device(standin):
    x = cr.tensor([1.0, 2.0], backend="cupy")
    assert type(x._data) is standin.ndarray and x._data.device.id == 0
    y = cr.tensor([1.0, 2.0], backend="cupy:1")
    assert y.backend == "cupy:cuda:1" and y._data.device.id == 1
    z = cr.sum(cr.exp(y) * 2)
    assert z.backend == "cupy:cuda:1" and z._data.device.id == 1 and z._data.shape == ()
    np.testing.assert_allclose(float(z), 2 * np.exp([1.0, 2.0]).sum(), rtol=1e-6)


def test_gradients_on_the_second_gpu_stay_there():
    x = cr.tensor([[0.5, -1.0], [2.0, 0.25]], dtype="float64", backend="cupy:1")
    g = cr.grad(lambda x: cr.sum(cr.tanh(x @ x)))(x)
    assert g.backend == "cupy:cuda:1" and g._data.device.id == 1
    with cr.use_backend("numpy"):
        want = cr.grad(lambda x: cr.sum(cr.tanh(x @ x)))(cr.tensor(x.numpy()))
    np.testing.assert_allclose(g.numpy(), want.numpy(), rtol=1e-12)


def test_a_raw_cupy_array_picks_the_cupy_backend(standin):
    raw = standin.asarray(np.array([1.0, 2.0], np.float32))
    t = cr.tensor(raw)
    assert t.backend == "cupy" and t._data is not raw
    with standin.cuda.Device(1):
        raw1 = standin.asarray(np.array([3.0]))
    assert cr.tensor(raw1).backend == "cupy:cuda:1"


def test_a_raw_cupy_array_is_found_by_its_device_id(standin):
    """CuPy's str(Device(0)) is "<CUDA Device 0>", no device name: backends._device_name reads
    the device's .id (before, every backward on CuPy raised BackendError: the rules' raw
    arrays could not be placed)."""
    def forget():
        _backends._raw_device_types.pop(standin.ndarray, None)
        for key in [k for k in _backends._raw_device_backends if k[0] is standin.ndarray]:
            del _backends._raw_device_backends[key]
    forget()
    try:
        x = cr.tensor([1.0, 2.0], backend="cupy", requires_grad=True)
        cr.sum(x * x).backward()
        assert x.grad.tolist() == [2.0, 4.0]
        assert cr.tensor(standin.asarray(np.array([1.0]))).backend == "cupy"
    finally:
        forget()


def test_moves_between_cupy_numpy_and_torch_copy(standin):
    x = cr.tensor([1.0, 2.0, 3.0], dtype="float64", backend="cupy", requires_grad=True)
    for target in ("numpy", "torch", "cupy:1"):
        y = x.to(target)
        assert y.backend == cr.backends.canonical_name(target)
        np.testing.assert_array_equal(y.numpy(), [1.0, 2.0, 3.0])
        (g,) = cr.grad(lambda x: cr.sum(x.to(target) ** 2), argnums=(0,))(x)
        assert g.backend == "cupy"
        np.testing.assert_allclose(g.numpy(), [2.0, 4.0, 6.0])
    back = cr.tensor([4.0, 5.0], backend="numpy").to("cupy")
    assert type(back._data) is standin.ndarray


def test_kernel_edges(standin):
    k = cr.backends.load("cupy")
    asarray = k.asarray
    # reductions answer 0-d arrays; uint8 sums in int64; float16 sums in float32, rounded once
    s = k.sum(asarray(np.full(300, 200, np.uint8)))
    assert type(s) is standin.ndarray and s.shape == () and k.dtype(s) == "int64" and int(s) == 60000
    h = k.sum(asarray(np.full(4096, 0.1, np.float16)))
    assert k.dtype(h) == "float16" and abs(float(h) - 409.6) < 0.5
    # bool argmax; stable descending argsort; clip with None bounds; einsum never a view
    assert int(k.argmax(asarray(np.array([False, True, True])))) == 1
    order = k.argsort(asarray(np.array([1.0, 3.0, 1.0, 3.0])), descending=True)
    assert k.to_numpy(order).tolist() == [1, 3, 0, 2] and k.dtype(order) == "int64"
    x = asarray(np.array([-2.0, 0.5, 3.0]))
    assert k.to_numpy(k.clip(x, None, 1.0)).tolist() == [-2.0, 0.5, 1.0]
    c = k.clip(x, None, None)
    assert c is not x and k.to_numpy(c).tolist() == [-2.0, 0.5, 3.0]
    m = asarray(np.arange(4.0).reshape(2, 2))
    for sub in ("ij->ji", "ii->i", "ij->ij"):
        assert not k.shares_memory(k.einsum(sub, m), m), sub
    # take_along_axis; scatter_add with repeats; setitem with duplicates (last write wins
    # in NumPy; CuPy leaves the winner undefined, so only one distinct value is written)
    t = k.take_along_axis(m, asarray(np.array([[1], [0]])), 1)
    assert k.to_numpy(t).tolist() == [[1.0], [2.0]]
    d = asarray(np.zeros(3))
    k.scatter_add(d, (asarray(np.array([0, 0, 2])),), asarray(np.array([1.0, 2.0, 5.0])))
    assert k.to_numpy(d).tolist() == [3.0, 0.0, 5.0]
    k.setitem(d, (asarray(np.array([1, 1])),), 7.0)
    assert k.to_numpy(d).tolist() == [3.0, 7.0, 5.0]
    # erf/erfc typed as exp, whatever cupyx's loops are
    for dt, want in (("bool", "float16"), ("int8", "float16"), ("int16", "float32"),
                     ("int64", "float64"), ("float16", "float16"), ("float32", "float32")):
        v = k.astype(asarray(np.array([0, 1])), dt)
        assert k.dtype(k.erf(v)) == want and k.dtype(k.erfc(v)) == want, dt
    # to_numpy: a plain host array
    assert type(k.to_numpy(x)) is np.ndarray


def test_python_ints_out_of_range_in_every_binary_kernel(backend, promotion):
    """Refused (OverflowError) in arithmetic as NumPy 2, compared exactly, whatever CuPy's typing."""
    k = cr.backends.load("cupy")
    ref = cr.backends.load("numpy")
    values = np.array([0, 1, 100, 127], dtype=np.int8)
    for name in ("add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
                 "remainder", "arctan2", "hypot", "logaddexp", "greater", "less", "equal",
                 "not_equal", "greater_equal", "less_equal", "logical_and", "logical_or"):
        for v in (300, -200, 2**70):
            for args in ((values, v), (v, values)):
                def run(b):
                    try:
                        out = getattr(b, name)(*[b.asarray(a.copy()) if isinstance(a, np.ndarray) else a
                                                 for a in args])
                    except Exception as exc:  # noqa: BLE001 - compared with the numpy backend's refusal
                        return type(exc).__name__
                    return b.dtype(out), b.to_numpy(out).tolist()
                assert run(k) == run(ref), (name, args)


@pytest.mark.parametrize("number", [70000.0, 1e-7, 1e5, 3, 70000])
@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "power"])
def test_a_python_number_with_float16_is_computed_in_float32_and_rounded_once(standin, op, number):
    """float16 with a Python number is computed in float32 and rounded once, as on the numpy
    and torch backends (torch's answer: 0.5 * 70000.0 is 35008, not inf), in both orders."""
    values = [0.5, 2.0, 1000.0, -3.0] if op != "power" else [0.5, 2.0, 1.5, 0.25]
    number = number if op != "power" else 2.5
    ufunc = {"divide": np.true_divide}.get(op) or getattr(np, op)
    wide = np.array(values, np.float16).astype(np.float32)
    for order in ((0, 1), (1, 0)):
        args = (cr.tensor(values, dtype="float16", backend="cupy"), number)
        got = getattr(cr, op)(*(args[i] for i in order))
        want = ufunc(*((wide, number)[i] for i in order)).astype(np.float16)
        assert got.dtype == "float16"
        np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("number", [70000.0, 1e-7, 1e5, 70000])
def test_an_in_place_python_number_into_float16_is_computed_in_float32(standin, number):
    """x *= s gives x * s: in float32, rounded once (out= rounded the number to float16 first)."""
    values = [0.5, 2.0, 1000.0, -3.0]
    for name, ufunc in (("__imul__", np.multiply), ("__iadd__", np.add), ("__itruediv__", np.true_divide)):
        x = cr.tensor(values, dtype="float16", backend="cupy")
        getattr(x, name)(number)
        want = ufunc(np.array(values, np.float16).astype(np.float32), number).astype(np.float16)
        np.testing.assert_array_equal(x.numpy(), want)

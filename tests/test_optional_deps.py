"""Optional libraries change speed, never numbers: the NumPy backend's erf gives the same
values and dtypes with SciPy (a C loop) and without it (``math.erf`` per element), and a
missing ml_dtypes is a clear error, not a wrong dtype.  Oracles: ``math.erf`` (the C
library's) and ``torch.special.erf`` in float64."""
import math
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.builtin_backends import numpy as numpy_backend

from backend_fixtures import backend  # noqa: F401  (fixture)

DTYPES = ["bool", "int8", "uint8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]


def _kernels_without(monkeypatch, *modules):
    """A fresh NumPy-backend kernel namespace loaded as if ``modules`` were not installed."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)
    return numpy_backend.load()


@pytest.fixture(params=["with scipy", "without scipy"])
def numpy_erf(request, monkeypatch):
    if request.param == "with scipy":
        pytest.importorskip("scipy.special", reason="SciPy is not installed here (it is in the test "
                            "extra); only the math.erf path is checked")
        return numpy_backend.load().erf
    return _kernels_without(monkeypatch, "scipy", "scipy.special").erf


def _np_dtype(name):
    return np.dtype(getattr(__import__("ml_dtypes"), name)) if name == "bfloat16" else np.dtype(name)


def _reference(x, out_dtype):
    """math.erf of every element in float64, rounded once to ``out_dtype``."""
    flat = [math.erf(v) for v in np.asarray(x, dtype=np.float64).ravel()]
    return np.array(flat, dtype=np.float64).reshape(np.shape(x)).astype(out_dtype)


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=6),
                    elements=st.floats(-8, 8) | st.sampled_from([0.0, -0.0, 1e-300, np.inf, -np.inf, np.nan])))
def test_float64_erf_is_the_c_librarys_to_an_ulp(x):
    for erf in _both_erfs():
        got = erf(x)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == x.shape
        np.testing.assert_allclose(got, _reference(x, np.float64), rtol=3e-16, atol=0)
        np.testing.assert_allclose(got, torch.special.erf(torch.from_numpy(x)).numpy(), rtol=1e-15, atol=0)


def _both_erfs():
    """The erf kernels this machine can build: always the math.erf one, SciPy's when installed."""
    saved = {m: sys.modules.get(m) for m in ("scipy", "scipy.special")}
    try:
        for m in saved:
            sys.modules[m] = None
        erfs = [numpy_backend.load().erf]
    finally:
        for m, mod in saved.items():
            if mod is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod
    try:
        import scipy.special  # noqa: F401
        erfs.append(numpy_backend.load().erf)
    except ImportError:
        pass
    return erfs


@pytest.mark.parametrize("dtype", DTYPES)
def test_erf_types_like_exp_and_rounds_once(numpy_erf, dtype):
    """Integers and bools become floats as NumPy's exp makes them (int64 -> float64, never
    truncated to integers); float16 and bfloat16 stay themselves."""
    x = np.array([-3, -2, -1, 0, 1, 2, 3, 5]).astype(_np_dtype(dtype))
    if dtype == "bool":
        x = np.array([False, True, True])
    got = numpy_erf(x)
    expected_dtype = np.exp(np.zeros(1, x.dtype)).dtype
    assert got.dtype == expected_dtype, (dtype, got.dtype)
    if dtype in ("float16", "bfloat16"):
        assert got.dtype == x.dtype
    ulp = float(np.finfo(np.float64 if got.dtype == np.float64 else np.float32).eps) \
        if got.dtype in (np.float32, np.float64) else 0.0   # SciPy and libm may differ by an ulp
    np.testing.assert_allclose(got.astype(np.float64), _reference(x, expected_dtype).astype(np.float64),
                               rtol=ulp, atol=0)


def test_erf_of_integers_through_the_op_on_every_backend(backend):  # noqa: F811
    ints = np.array([-2, -1, 0, 1, 3])
    y = cr.erf(cr.tensor(ints))
    assert y.dtype == "float64"
    np.testing.assert_allclose(y.numpy(), torch.special.erf(torch.from_numpy(ints).double()).numpy(),
                               rtol=1e-15, atol=0)


def test_bfloat16_without_ml_dtypes_is_a_clear_error(monkeypatch):
    kernels = _kernels_without(monkeypatch, "ml_dtypes")
    with pytest.raises(TypeError, match="no dtype bfloat16.*pip install ml_dtypes"):
        kernels.asarray([1.0, 2.0], dtype="bfloat16")
    assert kernels.asarray([1.0], dtype="float16").dtype == np.float16   # the rest still works

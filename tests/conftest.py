"""Shared test helpers: float64 data in each op's domain, and a seeded cr.random per test.

Test modules import the helpers directly (``from conftest import rand, F64``): the tests
folder is on sys.path, as for ``backend_fixtures``.
"""
import numpy as np
import pytest

import chainrule as cr

F64 = "float64"

DOMAINS = {
    # name: numpy array maker of (rng, shape)
    "any": lambda rng, shape: rng.standard_normal(shape),
    "positive": lambda rng, shape: rng.uniform(0.5, 2.0, shape),
    "unit": lambda rng, shape: rng.uniform(-0.9, 0.9, shape),          # tan, arcs
    # away from kinks (relu, abs, leaky_relu, clip bounds): |x| in [0.2, 2]
    "nonzero": lambda rng, shape: rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape),
    # distinct values, gaps >= 0.1: max / min / sort-like ops never see near-ties
    "distinct": lambda rng, shape: rng.permutation(int(np.prod(shape, dtype=int)) or 1)[
        :int(np.prod(shape, dtype=int))].reshape(shape) * 0.37 - 1.0 + rng.uniform(0, 0.05, shape),
}


def data(shape, domain="any", seed=0):
    """A float64 NumPy array of ``shape`` in ``domain`` (see DOMAINS), reproducible by seed."""
    rng = np.random.default_rng(1000 + seed)
    return np.asarray(DOMAINS[domain](rng, tuple(shape)), dtype=np.float64)


def rand(shape, domain="any", seed=0, dtype=F64, requires_grad=False):
    """A chainrule tensor of ``data(shape, domain, seed)`` in ``dtype`` (float64 by default)."""
    return cr.tensor(data(shape, domain, seed), dtype=dtype, requires_grad=requires_grad)


def assert_close(ours, expected, rtol=1e-10, atol=1e-12):
    """Compare a chainrule tensor (or anything array-like) with an expected array."""
    if isinstance(ours, cr.Tensor):
        ours = ours.numpy()
    if hasattr(expected, "detach"):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(np.asarray(ours), np.asarray(expected), rtol=rtol, atol=atol)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same cr.random state (and the default dtype)."""
    cr.random.seed(0)
    before = cr.get_default_dtype()
    yield
    if cr.get_default_dtype() != before:
        cr.set_default_dtype(before)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long runs (thousands of fuzz examples); skipped unless "
                                       "selected with pytest -m slow")


def pytest_collection_modifyitems(config, items):
    """Tests marked slow run only when the -m expression asks for them (pytest -m slow)."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with pytest -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

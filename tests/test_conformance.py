"""The conformance kit (chainrule.testing) on every backend: numpy (the kit against its own
reference), torch, CuPy / torch:cuda where a GPU exists, and the example third-party
backend in examples/arrayapi_backend, loaded from its folder (nothing is installed)."""
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import testing
from chainrule.backends import BackendSpec, KERNELS
from chainrule.hookspecs import hookimpl

from backend_fixtures import unavailable

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "arrayapi_backend"
BUILTIN = ["numpy", "torch", "torch:cuda", "cupy"]


def _skip_unless_runs(name):
    reason = unavailable(name)
    if reason:
        pytest.skip(f"backend {name!r} cannot run here: {reason}")


@testing.parametrize_kernels(BUILTIN)
def test_kernel(backend_name, case):
    _skip_unless_runs(backend_name)
    testing.run_case(backend_name, case)


@testing.parametrize_gradchecks(BUILTIN)
def test_gradients(backend_name, case):
    _skip_unless_runs(backend_name)
    testing.run_case(backend_name, case)


def test_every_kernel_has_a_case():
    covered = {c.kernel for c in testing.kernel_cases() if c.label != "coverage"}
    assert covered == set(KERNELS)


# ------------------------------------------------- the kit catches a broken backend

def _broken_plugin():
    """NumPy's kernels with sign wrong, sum dropping keepdims, and no 'tan'."""
    def load(device=None):
        ref = cr.backends.load("numpy")
        ns = types.SimpleNamespace(**{k: getattr(ref, k) for k in KERNELS if k != "tan"})
        ns.sign = lambda x: -np.sign(x)
        ns.sum = lambda x, axis=None, keepdims=False: np.sum(x, axis=axis)
        return ns

    class Plugin:
        @hookimpl
        def chainrule_backends(self):
            return [BackendSpec("brokenfortest", load=load, owns=lambda obj: False)]
    return Plugin()


def test_kit_reports_broken_kernels_by_name():
    from chainrule import plugins
    plugins.register(_broken_plugin(), name="brokenfortest")
    try:
        with pytest.raises(AssertionError) as info:
            testing.check_backend("brokenfortest", gradcheck=False)
        text = str(info.value)
        assert "backend 'brokenfortest', kernel 'sign'" in text
        assert "backend 'brokenfortest', kernel 'sum', case all axes keepdims: shape" in text
        assert "kernel 'tan'" in text and "has no kernel 'tan'" in text
        assert "kernel 'exp'" not in text
    finally:
        plugins.unregister("brokenfortest")


# ------------------------------------------------- the example third-party backend

@pytest.fixture(scope="module")
def arrayapi():
    """The example backend, imported from its folder and registered as its entry point would
    register it (a user's ``pip install -e examples/arrayapi_backend`` does the same)."""
    try:
        import array_api_strict  # noqa: F401
    except ImportError:
        pytest.fail("the example backend needs array-api-strict, a test dependency: "
                    "pip install -e '.[test]'")
    if "arrayapi" in cr.backends.names():   # installed in this environment: use it as it is
        yield "arrayapi"
        return
    sys.path.insert(0, str(EXAMPLE))
    try:
        import chainrule_arrayapi
        cr.plugins.register(chainrule_arrayapi, name="arrayapi", distribution="chainrule-arrayapi",
                            version="0.1.0")
        yield "arrayapi"
    finally:
        sys.path.remove(str(EXAMPLE))
        cr.plugins.unregister("arrayapi")


def test_example_backend_is_listed_by_the_cli(arrayapi, capsys):
    from chainrule.__main__ import main
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    line = next((ln for ln in out.splitlines() if ln.startswith("arrayapi")), "")
    assert "chainrule-arrayapi" in line and "available" in line, out


def test_example_backend_passes_the_kernel_kit(arrayapi):
    report = testing.check_backend(arrayapi, gradcheck=False)
    assert report["failed"] == 0
    # what it declines is only the dtypes the Array API standard lacks
    assert all("float16" in s or "bfloat16" in s for s in report["skipped"]), report["skipped"]


@testing.parametrize_gradchecks(["arrayapi"])
def test_example_backend_gradients(arrayapi, backend_name, case):
    testing.run_case(backend_name, case)   # includes loss.backward() on raw Array-API arrays


def test_example_backend_runs_a_model(arrayapi):
    with cr.use_backend(arrayapi):
        x = cr.tensor([[0.5, -1.0], [2.0, 0.25]])
        w = cr.tensor([[1.0, 2.0], [3.0, -1.0]])
        g = cr.grad(lambda w: cr.sum(cr.tanh(x @ w)))(w)
    assert g.backend == "arrayapi"
    xn, wn = x.numpy(), w.numpy()
    np.testing.assert_allclose(g.numpy(), xn.T @ (1 - np.tanh(xn @ wn) ** 2), rtol=1e-6)

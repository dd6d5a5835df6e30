"""Every docstring example in chainrule runs (STYLE 16: public functions carry a short
example that runs as a doctest)."""
import doctest
import importlib
import pkgutil

import pytest

import chainrule
import chainrule.ops.registry as registry

SKIP = {
    "chainrule.__main__",            # the CLI entry point runs on import
    "chainrule.builtin_backends.cupy",       # needs CuPy and a GPU (its examples are not run here)
}


def _modules():
    names = ["chainrule"]
    for pkg in ("chainrule", "chainrule.ops", "chainrule.nn", "chainrule.builtin_backends",
                "chainrule.builtin_plugins"):
        mod = importlib.import_module(pkg)
        names += [f"{pkg}.{m.name}" for m in pkgutil.iter_modules(mod.__path__)]
    return sorted(set(n for n in names if n not in SKIP))


@pytest.mark.parametrize("name", _modules())
def test_doctests(name):
    module = importlib.import_module(name)
    before = set(registry._registry)
    try:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                                 verbose=False, report=True)
    finally:
        for extra in set(registry._registry) - before:   # ops a docstring registered
            registry._registry.pop(extra, None)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"


def test_public_functions_have_examples():
    """The main entry points carry a runnable example."""
    for fn in (chainrule.tensor, chainrule.grad, chainrule.vjp, chainrule.jvp, chainrule.gradcheck,
               chainrule.ops.register, chainrule.nn.cross_entropy):
        assert ">>>" in (fn.__doc__ or ""), f"{fn.__qualname__} has no doctest example"

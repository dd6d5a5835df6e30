"""The architecture's promises (issue 11): an op is one registry entry, every op call goes
through one dispatch function, one place runs VJP rules and checks what they return, and
the core is layered (import-linter), with function-level imports only where laziness is
the point."""
import ast
import contextlib
import io
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import autodiff
from chainrule.ops import registry
from backend_fixtures import backend  # noqa: F401  (a pytest fixture)

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def scratch_ops():
    """Ops registered by a test are removed afterwards (with their Tensor methods)."""
    before = set(registry._registry)
    yield
    for name in set(registry._registry) - before:
        op = registry._registry.pop(name)
        if op.method:
            method = op.method if isinstance(op.method, str) else name
            if getattr(cr.Tensor, method, None) is op.public:
                delattr(cr.Tensor, method)


def _cli_ops():
    from chainrule.__main__ import _ops
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _ops(None)
    return out.getvalue()


# ---------------------------------------------------------------- one entry

def test_one_register_call_is_every_way_to_reach_the_op(scratch_ops, backend):
    """cr.<name>, the Tensor method, cr.ops.get, the CLI listing, grad, jvp and vmap all
    come from the one entry, and its provider is this module (whoever registered it)."""
    cr.ops.register(
        "softsign_t", lambda x: x / (1 + cr.abs(x)), method=True,
        vjp=lambda ans, x: lambda g: g / (1 + cr.abs(x)) ** 2,
        jvp=lambda t, ans, x: t[0] / (1 + cr.abs(x)) ** 2,
        batch=lambda dims, x: x / (1 + cr.abs(x)))
    x = cr.tensor(np.linspace(-2, 2, 5), backend=backend)
    expected = x.numpy() / (1 + np.abs(x.numpy()))
    np.testing.assert_allclose(cr.softsign_t(x).numpy(), expected)
    np.testing.assert_allclose(x.softsign_t().numpy(), expected)
    op = cr.ops.get("softsign_t")
    assert op.provider == __name__ and op.public is cr.softsign_t
    assert "softsign_t" in dir(cr) or hasattr(cr, "softsign_t")
    line = next(line for line in _cli_ops().splitlines() if line.startswith("softsign_t "))
    assert "cr.softsign_t x.softsign_t" in line and line.split()[-3:] == ["yes", "yes", "yes"]
    assert cr.gradcheck(cr.softsign_t, (x,), modes=("fwd", "rev"), order=2)
    batched = cr.vmap(cr.softsign_t)(cr.stack([x, 2 * x]))
    np.testing.assert_allclose(batched.numpy()[1], (2 * x.numpy()) / (1 + np.abs(2 * x.numpy())))


def test_replace_changes_what_every_reference_calls(scratch_ops):
    first = cr.ops.register("twice_t", lambda x: x * 2.0, method=True)
    handle = cr.twice_t
    cr.ops.register("twice_t", lambda x: x * 3.0, replace=True)
    x = cr.tensor([1.0, 2.0])
    for out in (first(x), handle(x), cr.twice_t(x), x.twice_t()):
        np.testing.assert_allclose(out.numpy(), [3.0, 6.0])


def test_a_method_never_hides_a_tensor_attribute(scratch_ops):
    for taken in ("shape", "backward", "grad", "numpy"):
        with pytest.raises(cr.RegistryError, match=f"Tensor already has an attribute '{taken}'"):
            cr.ops.register(f"op_{taken}", lambda x: x, method=taken)
        assert f"op_{taken}" not in registry._registry
    assert isinstance(cr.Tensor.shape, property)


def test_every_builtin_op_is_one_entry():
    """Each built-in op is reachable where its namespace says, as its public function;
    every Tensor method of an op is that same function."""
    for name in cr.ops.names():
        op = cr.ops.get(name)
        if op.provider != "chainrule":
            continue
        where = {"chainrule": cr, "nn": cr.nn}.get(op.namespace)
        if where is not None:
            assert getattr(where, name) is op.public, name
        if op.method:
            assert getattr(cr.Tensor, op.method if isinstance(op.method, str) else name) is op.public


# ----------------------------------------------------------- one dispatch path

def test_every_op_applies_through_bind():
    """All ops' functions are one closure (registry._applier) whose only callee is bind."""
    codes = {cr.ops.get(name).fn.__code__ for name in cr.ops.names()}
    assert len(codes) == 1
    assert "bind" in codes.pop().co_freevars
    for gone in ("run", "run_raw", "call_vjp"):
        assert not hasattr(registry.Op, gone)


@pytest.mark.parametrize("raw_rules", [False, True])
@pytest.mark.parametrize("bad", ["int64", "bool"])
def test_a_vjp_returning_a_non_float_cotangent_is_named(scratch_ops, raw_rules, bad):
    name = f"bad_dtype_{bad}_{raw_rules}"
    to_bad = ((lambda g: g.astype(bad)) if raw_rules is False else
              (lambda g: g.astype(np.int64 if bad == "int64" else np.bool_)))
    f = cr.ops.register(name, lambda x: x * 2.0, raw_rules=raw_rules,
                        vjp=lambda ans, x: lambda g: to_bad(g))
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.DTypeError, match=f"{name}.*{bad} cotangent for a float32 argument"):
        f(x).sum().backward()
    assert x.grad is None


def test_a_vjp_in_another_float_dtype_is_cast_back(scratch_ops, backend):
    f = cr.ops.register("f64_rule_t", lambda x: x * 2.0,
                        vjp=lambda ans, x: lambda g: g.astype("float64") * 2.0)
    x = cr.tensor([1.0, 2.0], backend=backend, requires_grad=True)
    f(x).sum().backward()
    assert x.grad.dtype == cr.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


# -------------------------------------------------------------------- layers

def test_the_core_is_layered():
    """import-linter's layers contract (pyproject.toml) holds: no module imports a layer
    above it, directly or through others, so the import circle cannot come back."""
    lint = shutil.which("lint-imports") or str(pathlib.Path(sys.executable).parent / "lint-imports")
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "1 kept, 0 broken" in done.stdout, done.stdout[-3000:]


# Function-level imports of chainrule's own modules, and why each must stay lazy.
LAZY_ON_PURPOSE = {
    ("plugins.py", "hookspecs"): "hookspecs imports pluggy: loaded with the first plugin",
}


def _function_level_imports():
    found = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        if path.parent.name.startswith("builtin_"):
            continue
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level or
                                                         (node.module or "").startswith("chainrule")):
                    for alias in node.names:
                        module = (node.module or alias.name).split(".")[-1]
                        found.append((path.name, module))
                elif isinstance(node, ast.Import):
                    found += [(path.name, a.name) for a in node.names if a.name.startswith("chainrule")]
    return found


def test_function_level_imports_only_where_laziness_is_the_point():
    unexplained = sorted({f for f in _function_level_imports() if f not in LAZY_ON_PURPOSE})
    assert not unexplained, ("import these at the top of the module (the layers allow it), or "
                             f"say in LAZY_ON_PURPOSE why they must stay lazy: {unexplained}")


def test_import_chainrule_works_from_a_checkout():
    """From the repository root, without the installed package: the symlinks chainrule ->
    core, core/builtin_backends -> ../backends, core/builtin_plugins -> ../plugins."""
    code = ("import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
            "import chainrule as cr, chainrule.builtin_backends.numpy, chainrule.builtin_plugins.optimizers\n"
            "print(cr.__file__)\n"
            "print(float(cr.grad(lambda x: cr.sum(x * x))(cr.tensor([3.0]))[0]))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    path, value = done.stdout.split()
    assert path == str(ROOT / "chainrule" / "__init__.py") and float(value) == 6.0

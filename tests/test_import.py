"""Import weight, float32 all the way through, and the command line.

No timing assertions: `import chainrule` is checked by what it imports, not by how long
it takes."""
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.backends import KERNELS


def run(*args, env=None, timeout=120):
    import os
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_import_chainrule_imports_no_array_library_and_no_pluggy():
    code = ("import sys, chainrule\n"
            "print(sorted(m for m in ('numpy', 'torch', 'cupy', 'pluggy') if m in sys.modules))")
    r = run("-c", code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"import chainrule imported {r.stdout.strip()}"


def test_numpy_backend_loads_numpy_but_not_torch_cupy_or_ml_dtypes():
    code = ("import sys, chainrule as cr\n"
            "cr.tensor([1.0]) * 2\n"
            "print(sorted(m for m in ('numpy', 'torch', 'cupy', 'ml_dtypes') if m in sys.modules))\n"
            "cr.tensor([1.0], dtype='bfloat16') * 2\n"
            "print('ml_dtypes' in sys.modules)")
    r = run("-c", code)
    assert r.returncode == 0, r.stderr
    # ml_dtypes (about a second to import) only once bfloat16 is asked for
    assert r.stdout.split() == ["['numpy']", "True"]


# ------------------------------------------------------------- float32 throughout

@pytest.fixture
def kernel_dtypes(monkeypatch):
    """Record the dtype of every array going into or out of a numpy-backend kernel."""
    backend = cr.get_backend()
    assert backend.name == "numpy"
    seen = []

    def note(name, value):
        for v in value if isinstance(value, (tuple, list)) else (value,):
            dt = getattr(v, "dtype", None)
            if dt is not None:
                seen.append((name, str(dt)))

    for name in KERNELS:
        if name in ("dtype", "shape", "item", "to_numpy", "seed"):
            continue
        orig = getattr(backend, name)

        def spy(*args, _orig=orig, _name=name, **kwargs):
            for a in args:
                note(_name, a)
            out = _orig(*args, **kwargs)
            note(_name, out)
            return out
        monkeypatch.setattr(backend, name, spy)
    return seen


def test_float32_mlp_step_never_computes_float64(kernel_dtypes):
    net = cr.nn.MLP([6, 16, 8, 3])
    params = list(net.parameters())
    assert all(p.dtype == cr.float32 for p in params)
    opt = cr.optim.create("sgd", params, lr=0.1)
    X = cr.random.normal((5, 6))
    y = cr.tensor([0, 1, 2, 0, 1])
    for _ in range(2):
        opt.zero_grad()
        loss = cr.nn.cross_entropy(net(X), y) + 1e-3 * cr.nn.mse_loss(cr.nn.gelu(net(X)), cr.zeros((5, 3)))
        loss.backward()
        opt.step()
    assert loss.dtype == cr.float32
    assert all(p.dtype == cr.float32 and p.grad.dtype == cr.float32 for p in params)
    floats = {dt for _, dt in kernel_dtypes if dt.startswith("float")}
    assert kernel_dtypes and floats == {"float32"}, sorted({k for k, dt in kernel_dtypes if dt == "float64"})


def test_float32_transforms_never_compute_float64(kernel_dtypes):
    W = cr.random.normal((4, 4))
    x = cr.random.normal((4,))
    f = lambda W: cr.sum(cr.tanh(W @ x) ** 2) + cr.logsumexp(W) + cr.sum(cr.nn.softmax(W) * cr.nn.sigmoid(W))
    g = cr.grad(f)(W)
    _, hv = cr.hvp(f, (W,), (W,))
    H = cr.hessian(lambda x: cr.sum(cr.sin(x) * cr.exp(x)))(x)
    assert g.dtype == hv.dtype == H.dtype == cr.float32
    floats = {dt for _, dt in kernel_dtypes if dt.startswith("float")}
    assert floats == {"float32"}, sorted({k for k, dt in kernel_dtypes if dt == "float64"})


def test_python_scalars_do_not_upcast_float32():
    x = cr.tensor([1.0, 2.0])
    for y in (x * 2.5, 1.0 - x, x / 3, x ** 2.0, cr.maximum(x, 0.5), cr.where(x > 1, x, 0.0)):
        assert y.dtype == cr.float32, y


# ---------------------------------------------------------------------- CLI

def test_cli_doctor_reports_numpy_and_exits_0():
    r = run("-m", "chainrule", "doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "numpy" in r.stdout and "plugins" in r.stdout


@pytest.mark.parametrize("command,expected", [("ops", "matmul"), ("plugins", "optimizers"), ("backends", "numpy")])
def test_cli_listings(command, expected):
    r = run("-m", "chainrule", command)
    assert r.returncode == 0, r.stderr
    assert expected in r.stdout


def test_cli_demo_loss_falls():
    r = run("-m", "chainrule", "demo", "--steps", "50")
    assert r.returncode == 0, r.stderr
    losses = [float(line.split("loss")[1].split()[0]) for line in r.stdout.splitlines() if " loss " in line]
    assert len(losses) >= 2, r.stdout
    assert losses[-1] < 0.8 * losses[0], losses

"""The torch and CuPy backends: names, availability, moving data, mixing, same training curve."""
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.backends import backend_of_raw, canonical_name
from chainrule.errors import BackendError, UnknownNameError

torch = pytest.importorskip("torch", reason="torch is not installed")

from backend_fixtures import backend  # noqa: E402,F401  (fixture)


# ------------------------------------------------------------------ names

@pytest.mark.parametrize("name, canonical", [
    ("torch", "torch"), ("torch:cpu", "torch"), ("TORCH", "torch"), ("torch:cuda", "torch:cuda:0"),
    ("torch:cuda:0", "torch:cuda:0"), ("torch:cuda:1", "torch:cuda:1"), ("cupy", "cupy"),
    ("cupy:cuda:0", "cupy"), ("cupy:1", "cupy:cuda:1")])
def test_canonical_names(name, canonical):
    assert canonical_name(name) == canonical


def test_bad_device_and_unknown_backend():
    with pytest.raises(BackendError, match="torch:cuda:N"):
        canonical_name("torch:tpu")
    with pytest.raises(UnknownNameError, match="known backends"):
        canonical_name("jax")


def test_listing_and_reasons():
    names = cr.backends.names()
    assert {"numpy", "torch", "cupy"} <= set(names)
    avail = cr.backends.available()
    assert avail["numpy"] is None and avail["torch"] is None
    if avail["cupy"]:
        assert "cupy is not installed" in avail["cupy"] or "no CUDA device" in avail["cupy"]


def test_unavailable_backends_raise_saying_why():
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="no CUDA device"):
            cr.tensor([1.0], backend="torch:cuda")
    reason = cr.backends.available()["cupy"]
    if reason:
        with pytest.raises(BackendError, match="cannot run here") as info:
            cr.zeros((2,), backend="cupy")
        assert reason in str(info.value) and "pip install" in str(info.value) or "no CUDA" in str(info.value)


def test_import_chainrule_does_not_import_torch():
    """Neither the numpy backend, listing backends, nor importing the torch backend's
    module imports torch: only its load() does."""
    code = ("import chainrule as cr, sys; cr.tensor([1.0]) + 1; cr.backends.available(); "
            "import chainrule.builtin_backends.torch; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cli_lists_backends_with_reasons():
    out = subprocess.run([sys.executable, "-m", "chainrule", "backends"], capture_output=True,
                         text=True, check=True).stdout
    for name in ("numpy", "torch", "cupy"):
        assert name in out
    if cr.backends.available()["cupy"]:
        assert "cupy is not installed" in out or "no CUDA device" in out


# ------------------------------------------------------------ the kernel tables

def test_every_builtin_kernel_table_is_complete(backend):
    """Each built-in backend's load() gives every kernel KERNELS names (one left out of the
    table would only fail when an op first needs it); only a fused kernel, which ops can
    compose from the others, may be left out."""
    k = cr.backends.load(backend)
    assert [m for m in k.missing if m not in cr.backends.FUSED_KERNELS] == []
    if backend.startswith("torch"):
        assert k.missing == []   # torch's fused softmax kernels are the fast path of cross_entropy
    assert all(callable(getattr(k, name)) for name in cr.backends.KERNELS)


@pytest.mark.parametrize("module", ["numpy", "torch"])
def test_each_kernel_table_has_its_own_generator(module):
    """The generator is per table (per device): seeding or drawing from one table leaves
    another's stream alone."""
    import importlib
    load = importlib.import_module(f"chainrule.builtin_backends.{module}").load
    a, b = load(None), load(None)
    a.seed(3)
    first = a.to_numpy(a.normal((4,), "float64")).copy()
    a.seed(3)
    b.seed(4)
    b.normal((4,), "float64")
    np.testing.assert_array_equal(a.to_numpy(a.normal((4,), "float64")), first)


def test_a_new_numpy_table_asks_for_ml_dtypes_again(monkeypatch):
    """The dtype tables are module-level, but each load() starts without bfloat16, as a new
    process would: bfloat16 used earlier does not leak into a table loaded without ml_dtypes,
    and the default backend finds bfloat16 again afterwards."""
    pytest.importorskip("ml_dtypes", reason="ml_dtypes is not installed: nothing can leak")
    from chainrule.builtin_backends import numpy as numpy_backend
    x = cr.tensor([1.5], dtype="bfloat16", backend="numpy")
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "ml_dtypes", None)
        blocked = numpy_backend.load()
        with pytest.raises(TypeError, match="no dtype bfloat16.*pip install ml_dtypes"):
            blocked.asarray([1.0], dtype="bfloat16")
    assert (x * 2).dtype == "bfloat16" and float(x * 2) == 3.0


def _numpy_operand_cases():
    """(label, kernel call with NumPy operands mixed in, the same call in NumPy)."""
    x = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)
    return [
        ("add np.float64", lambda k, t: k.add(t, np.float64(2.0)), lambda: x + np.float64(2.0)),
        ("multiply ndarray left", lambda k, t: k.multiply(x[0] * 2, t), lambda: (x[0] * 2) * x),
        ("where numpy condition", lambda k, t: k.where(x > 0, t, 0.0), lambda: np.where(x > 0, x, 0.0)),
        ("maximum ndarray", lambda k, t: k.maximum(t, np.zeros(3, np.float64)), lambda: np.maximum(x, np.zeros(3))),
        ("concat with ndarray", lambda k, t: k.concat([t, x[:1]], 0), lambda: np.concatenate([x, x[:1]], 0)),
        ("getitem numpy index", lambda k, t: k.getitem(t, (np.array([1, 0, 1]),)), lambda: x[np.array([1, 0, 1])]),
        ("getitem negative step", lambda k, t: k.getitem(t, (slice(None), slice(None, None, -2))),
         lambda: x[:, ::-2]),
        ("take numpy indices", lambda k, t: k.take(t, np.array([2, 0]), 1), lambda: np.take(x, [2, 0], axis=1)),
    ]


@pytest.mark.parametrize("label", [c[0] for c in _numpy_operand_cases()])
def test_numpy_operands_land_on_the_tensors_device(backend, label):
    """A NumPy operand next to a native array is converted onto that array's device (torch
    kernels find the device on their tensor operands), with NumPy's dtype and values."""
    from chainrule.backends import load
    call, want = next((c[1], c[2]) for c in _numpy_operand_cases() if c[0] == label)
    k = load(backend)
    t = k.asarray(np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32), None)
    out = call(k, t)
    assert backend_of_raw(out) is k
    expected = np.asarray(want())
    got = k.to_numpy(out)
    assert got.dtype == expected.dtype, label
    np.testing.assert_allclose(got, expected, rtol=1e-6)


_BINARY_KERNELS = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
                   "divide": np.true_divide, "power": np.power, "maximum": np.maximum,
                   "minimum": np.minimum, "greater": np.greater, "less_equal": np.less_equal,
                   "equal": np.equal, "logical_and": np.logical_and, "logical_or": np.logical_or}
_DTYPES = ["bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("kernel", sorted(_BINARY_KERNELS))
def test_binary_kernels_of_any_two_dtypes_answer_as_numpy(backend, kernel):
    """Every pair of array dtypes (0-d with 1-d, and 1-d with 1-d): NumPy's result dtype and
    values, or an error where NumPy raises (torch refused int8 - bool, which NumPy casts)."""
    k = cr.backends.load(backend)
    for a, b in [(a, b) for a in _DTYPES for b in _DTYPES]:
        for shape_a in [(), (3,)]:
            x, y = np.array([1, 0, 2] if shape_a else 2, a), np.array([1, 1, 0], b)
            try:
                with np.errstate(all="ignore"):
                    want = np.asarray(_BINARY_KERNELS[kernel](x, y))
            except TypeError:        # NumPy refuses (bool - bool): so must the backend
                with pytest.raises(Exception):
                    getattr(k, kernel)(k.asarray(x, None), k.asarray(y, None))
                continue
            got = getattr(k, kernel)(k.asarray(x, None), k.asarray(y, None))
            assert k.dtype(got) == want.dtype.name, (kernel, a, b, shape_a)
            np.testing.assert_allclose(k.to_numpy(got).astype(np.float64), want.astype(np.float64),
                                       rtol=1e-3, err_msg=f"{kernel}({a}{list(shape_a)}, {b}[3])")


_UNARY_KERNELS = {"negative": np.negative, "exp": np.exp, "log1p": np.log1p, "expm1": np.expm1,
                  "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign, "sin": np.sin, "cos": np.cos,
                  "tanh": np.tanh, "floor": np.floor, "logical_not": np.logical_not,
                  "isfinite": np.isfinite, "isnan": np.isnan}


@pytest.mark.parametrize("kernel", sorted(_UNARY_KERNELS))
def test_unary_kernels_of_any_dtype_answer_as_numpy(backend, kernel):
    """Every dtype, bool included: NumPy's result dtype and values, or an error where NumPy
    raises (torch had no abs or floor of bools, which NumPy answers with bools)."""
    k = cr.backends.load(backend)
    for dt in _DTYPES:
        x = np.array([1, 0, 2], dt)
        try:
            want = np.asarray(_UNARY_KERNELS[kernel](x))
        except TypeError:        # NumPy refuses (negative of bools): so must the backend
            with pytest.raises(Exception):
                getattr(k, kernel)(k.asarray(x, None))
            continue
        got = getattr(k, kernel)(k.asarray(x, None))
        assert k.dtype(got) == want.dtype.name, (kernel, dt)
        np.testing.assert_allclose(k.to_numpy(got).astype(np.float64), want.astype(np.float64),
                                   rtol=1e-3, err_msg=f"{kernel}({dt})")


def test_numpy_operands_follow_a_device_other_than_the_cpu(monkeypatch):
    """The same cases on a torch table for the meta device (shapes and dtypes, no data),
    which stands in for a GPU here: an operand converted onto the CPU would raise or
    answer on the CPU."""
    from chainrule.builtin_backends import torch as torch_backend
    cpu_generator = torch.Generator
    with monkeypatch.context() as patch:   # meta has no generator: a CPU one, for the load only
        patch.setattr(torch, "Generator", lambda device=None: cpu_generator())
        k = torch_backend.load("meta")
    t = k.asarray(np.ones((2, 3), np.float32), None)
    assert t.device.type == "meta"
    for label, call, want in _numpy_operand_cases():
        out = call(k, t)
        assert out.device.type == "meta", label
        assert k.dtype(out) == np.asarray(want()).dtype.name, label
    k.setitem(t, (np.array([1]), slice(None, None, -1)), np.array([7.0, 8.0, 9.0]))
    k.scatter_add(t, (np.array([0, 0, 1]),), np.ones(3))
    k.assign(t, np.array([1.0, 2.0, 3.0]))
    k.iadd(t, np.array([1.0, 2.0, 3.0]))
    assert t.device.type == "meta"


@pytest.mark.parametrize("label", ["setitem", "scatter_add", "assign", "iadd"])
def test_numpy_values_written_in_place_on_the_tensors_device(backend, label):
    from chainrule.backends import load
    k = load(backend)
    x = np.arange(6.0).reshape(2, 3)
    t = k.asarray(x.copy(), None)
    if label == "setitem":
        k.setitem(t, (np.array([1]), slice(None, None, -1)), np.array([7.0, 8.0, 9.0]))
        x[np.array([1]), ::-1] = [7.0, 8.0, 9.0]
    elif label == "scatter_add":
        k.scatter_add(t, (np.array([0, 0, 1]),), np.ones(3))
        np.add.at(x, (np.array([0, 0, 1]),), np.ones(3))
    elif label == "assign":
        k.assign(t, np.array([1.0, 2.0, 3.0]))
        x[...] = [1.0, 2.0, 3.0]
    else:
        k.iadd(t, np.array([1.0, 2.0, 3.0]))
        x += [1.0, 2.0, 3.0]
    assert backend_of_raw(t) is k
    np.testing.assert_array_equal(k.to_numpy(t), x)


# ------------------------------------------------------------ moving data

def test_tensor_of_torch_tensor_picks_torch_and_copies():
    t = torch.arange(4.0)
    x = cr.tensor(t)
    assert x.backend == "torch" and x.dtype == cr.float32
    t[0] = 100.0
    assert x.numpy()[0] == 0.0                     # a copy, never the caller's memory
    a = np.arange(3.0)
    y = cr.tensor(a, backend="torch")
    a[0] = 7.0
    assert y.backend == "torch" and y.dtype == cr.float64 and y.numpy()[0] == 0.0


def test_backend_of_raw_tells_devices_apart():
    assert backend_of_raw(torch.zeros(2)).name == "torch"
    assert backend_of_raw(torch.nn.Parameter(torch.zeros(2), requires_grad=False)).name == "torch"
    assert backend_of_raw(np.zeros(2)).name == "numpy"


def test_to_copies_between_backends_and_back():
    x = cr.tensor([1.0, 2.0, 3.0])
    y = x.to("torch")
    assert y.backend == "torch" and y.dtype == cr.float32
    assert not np.shares_memory(x.numpy(), y.numpy())   # a copy, as SPEC says
    y += 1.0                                            # so an in-place change stays on its side
    assert x.tolist() == [1.0, 2.0, 3.0]
    z = y.to("numpy")
    z -= 1.0
    assert y.tolist() == [2.0, 3.0, 4.0]
    assert z.backend == "numpy" and np.array_equal(z.numpy(), [1.0, 2.0, 3.0])
    for dtype in ("bool", "int32", "int64", "float16", "bfloat16", "float64"):
        v = cr.tensor([1, 0, 1], dtype=dtype)
        w = v.to("torch").to("numpy")
        assert w.dtype == dtype and np.array_equal(w.numpy().astype(np.float64), [1, 0, 1])


def test_gradient_flows_back_through_to():
    w = cr.tensor([1.0, -2.0], requires_grad=True)
    loss = cr.sum(w.to("torch") ** 2)
    loss.backward()
    assert w.grad.backend == "numpy"
    np.testing.assert_allclose(w.grad.numpy(), [2.0, -4.0])
    g = cr.grad(lambda v: cr.sum(cr.exp(v.to("torch"))))(cr.tensor([0.0, 1.0], dtype="float64"))
    np.testing.assert_allclose(g.numpy(), np.exp([0.0, 1.0]))


def test_mixing_backends_names_both():
    a = cr.tensor([1.0, 2.0])
    b = cr.tensor([1.0, 2.0], backend="torch")
    with pytest.raises(BackendError, match=r"numpy, torch.*\.to\("):
        a + b
    with pytest.raises(BackendError, match="numpy, torch"):
        cr.matmul(b, cr.tensor([[1.0], [2.0]]))


def test_torch_autograd_stays_off():
    x = cr.tensor([1.0, 2.0], backend="torch", requires_grad=True)
    y = cr.sum(cr.tanh(x) * x)
    y.backward()
    assert not x.data.requires_grad and x.grad.data.grad_fn is None and y.data.grad_fn is None


# ----------------------------------------------------- against torch as oracle

def test_torch_backend_gradients_match_torch_autograd():
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    labels = np.array([0, 2, 1, 2, 0])
    w = cr.tensor(W, backend="torch", requires_grad=True)
    bb = cr.tensor(b, backend="torch", requires_grad=True)
    loss = cr.nn.cross_entropy(cr.nn.relu(cr.tensor(X, backend="torch") @ w + bb), cr.tensor(labels, backend="torch"))
    loss.backward()
    tw = torch.tensor(W, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(torch.relu(torch.tensor(X) @ tw + tb), torch.tensor(labels))
    tl.backward()
    assert abs(loss.item() - tl.item()) < 1e-12
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bb.grad.numpy(), tb.grad.numpy(), rtol=1e-10, atol=1e-12)


# ------------------------------------------------- the backend tier at work

def test_tier_ops_agree_with_numpy(backend):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    x = cr.tensor(a, dtype="float64")
    assert x.backend == cr.get_backend().name
    out = cr.nn.softmax(x * cr.tensor(b, dtype="float64") + 1.0, axis=-1)
    e = np.exp(a * b + 1.0 - (a * b + 1.0).max(-1, keepdims=True))
    np.testing.assert_allclose(out.numpy(), e / e.sum(-1, keepdims=True), rtol=1e-12)
    g = cr.grad(lambda v: cr.sum(v[[0, 2, 0]] ** 2))(x)
    want = np.zeros_like(a)
    want[0] = 4 * a[0]
    want[2] = 2 * a[2]
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-12)


def _weights_from(net):
    return [p.numpy().copy() for p in net.parameters()]


def test_same_training_curve_on_numpy_and_torch():
    """Random streams differ per backend, so the data and the initial weights are made
    on NumPy and copied to torch; then every step must agree to float32 tolerance."""
    def run(backend, X, y, weights, steps=30):
        with cr.use_backend(backend):
            net = cr.nn.MLP([2, 32, 32, 3])
            with cr.no_grad():
                for p, w in zip(net.parameters(), weights):
                    p.copy_(cr.tensor(w))
            opt = cr.optim.create("sgd", net.named_parameters(), lr=0.1, momentum=0.9)
            Xb, yb = cr.tensor(X), cr.tensor(y)
            losses = []
            for step in range(steps):
                idx = cr.tensor(np.arange(step * 16, step * 16 + 64) % len(X))
                loss = cr.nn.cross_entropy(net(Xb[idx]), yb[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            return losses

    from chainrule.demo import spirals
    with cr.use_backend("numpy"):
        X, y = spirals(seed=0)
        cr.random.seed(0)
        weights = _weights_from(cr.nn.MLP([2, 32, 32, 3]))
    X, y = X.numpy(), y.numpy()
    a = run("numpy", X, y, weights)
    b = run("torch", X, y, weights)
    assert a[-1] < a[0]                              # it learns
    np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-5)


def test_demo_trains_on_torch():
    with cr.use_backend("torch"):
        from chainrule.demo import train
        losses = train(steps=30, quiet=True)
    assert len(losses) == 30 and np.mean(losses[-5:]) < losses[0]


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64"])
def test_numpy_take_along_axis_fast_path_is_numpys(dtype):
    """The NumPy backend picks per row (cross-entropy) with one fancy index: the values of
    np.take_along_axis, broadcasting and negative indices included, and its IndexError."""
    import numpy as np
    k = cr.backends.load("numpy")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4))
    for indices in (rng.integers(0, 4, (5, 3)), rng.integers(0, 4, (1, 2)), np.array([[-1], [0], [3], [-4], [2]])):
        if dtype == "uint8" and indices.min() < 0:
            continue
        indices = indices.astype(dtype)
        for axis in (1, -1):
            np.testing.assert_array_equal(k.take_along_axis(x, indices, axis), np.take_along_axis(x, indices, axis))
    with pytest.raises(IndexError):
        k.take_along_axis(x, np.array([[4]] * 5, dtype=dtype), 1)

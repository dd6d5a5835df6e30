"""Every bad input (issue 12, point 4), as tables.

1. ``BAD_CALLS``: each bad input SPEC lists and each one the issue adds (torch and JAX habits,
   schedules, gradcheck, initializers, transforms, files).  Each raises its documented type
   with a message naming the fault and the fix, and leaves a trained model's parameters and
   gradients, its optimizer's state and a checkpoint on disk exactly as they were.
2. ``NUMERIC``: NaN, inf, huge, tiny, empty and 0-d inputs through the common ops, value and
   gradient against torch 2.13 (the oracle), where we follow it; where chainrule follows
   NumPy instead, the NumPy behaviour is asserted and the reason given.
3. Integer tensors where floats are needed: promoted as NumPy does, or refused where a
   derivative or a random draw is asked of them.
4. Schedules past their end: a property test over steps 0 .. 3 * total.

Rows marked ``xfail(strict=True)`` are bugs in files this test's author does not own, each
with its number in the helper's report; strict, so a fix shows up as XPASS and the mark goes.
"""
import math
import os
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, ChainruleError
from chainrule.ops._hints import hinting

torch = pytest.importorskip("torch", reason="torch 2.13 is the oracle for the numeric table")
hypothesis = pytest.importorskip("hypothesis", reason="hypothesis draws the schedules")
from hypothesis import given, settings, strategies as st  # noqa: E402

F64 = "float64"
# NumPy warns of overflow and invalid values on the inputs this file feeds on purpose (torch is silent)
pytestmark = [pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:.*degrees of freedom:UserWarning")]  # torch on 1 value
NAN, INF = float("nan"), float("inf")
_AVAILABLE = cr.backends.available()


def bug(number, what):
    """A row that fails today because of bug ``number`` of the report (a file not ours)."""
    return pytest.mark.xfail(strict=True, reason=f"bug {number} (helper report, issue 12.4): {what}")


# ------------------------------------------------------------------ the world a failure must keep

class World:
    """A Linear model trained two AdamW steps (so it has gradients and optimizer moments), and
    a checkpoint of both on disk: what a failing call must not touch."""

    def __init__(self, folder):
        cr.random.seed(3)
        self.model = cr.nn.Linear(3, 2)
        self.model.weight = cr.tensor(self.model.weight.numpy(), dtype=F64, requires_grad=True)
        self.model.bias = cr.tensor(self.model.bias.numpy(), dtype=F64, requires_grad=True)
        self.params = list(self.model.parameters())
        self.opt = cr.optim.create("adamw", self.params, lr=1e-2)
        self.x = cr.tensor(np.linspace(-1.0, 1.0, 12).reshape(4, 3), dtype=F64)
        for _ in range(2):
            self.opt.zero_grad()
            cr.sum(self.model(self.x) ** 2).backward()
            self.opt.step()
        self.folder = str(folder)
        self.path = os.path.join(self.folder, "ckpt.safetensors")
        cr.save(self.path, {"model": self.model.state_dict(), "optim": self.opt.state_dict()})

    def loss(self):
        return cr.sum(self.model(self.x) ** 2)


def freeze(obj):
    """A comparable copy of a state: tensors as (dtype, shape, bytes), containers recursively."""
    if isinstance(obj, cr.Tensor):
        return ("tensor", str(obj.dtype), obj.shape, obj.numpy().tobytes())
    if isinstance(obj, dict):
        return {k: freeze(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [freeze(v) for v in obj]
    return obj


def snapshot(world):
    files = {}
    for name in sorted(os.listdir(world.folder)):
        full = os.path.join(world.folder, name)
        with open(full, "rb") as f:
            files[name] = (f.read(), os.stat(full).st_mtime_ns)
    return {
        "params": [freeze(p) for p in world.params],
        "versions": [p._version for p in world.params],
        "grads": [None if p.grad is None else freeze(p.grad) for p in world.params],
        "optimizer": freeze(world.opt.state_dict()),
        "files": files,
    }


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


# ------------------------------------------------------------------ table 1: bad calls

class Bad:
    """One bad call: ``setup(world)`` (allowed to change the world, e.g. a first backward)
    returns what ``call(world, ctx)`` needs; the call must raise ``error`` with every
    fragment of ``says`` in its message, and leave the world as setup left it."""

    def __init__(self, name, call, error, *says, setup=None, marks=()):
        self.name, self.call, self.error, self.says = name, call, error, says
        self.setup, self.marks = setup, marks

    def param(self):
        return pytest.param(self, id=self.name, marks=self.marks)


def _skip_unless(backend, why):
    reason = _AVAILABLE.get(backend, "not registered")
    return pytest.mark.skipif(reason is not None, reason=f"{why}; backend {backend} cannot run here: {reason}")


def _skip_if_runs(backend, why):
    return pytest.mark.skipif(_AVAILABLE.get(backend) is None,
                              reason=f"{why}, but backend {backend} runs here")


def _torch_cuda_runs():
    return _AVAILABLE.get("torch") is None and torch.cuda.is_available()


def _second_backward(w):
    loss = w.loss()
    loss.backward()
    return loss


def _inplace_after_save(w):
    h = w.model.weight * 1.0
    loss = cr.sum(cr.sin(h))    # sin saves h
    h *= 2.0
    return loss


def _gradcheck_f32(w, ctx):
    x = cr.tensor([1.0, 2.0], dtype="float32")
    return cr.gradcheck(lambda a: cr.sum(a ** 3), (x,))


X23 = cr.tensor(np.arange(6.0).reshape(2, 3), dtype=F64)
PARAMS = lambda w: w.params  # noqa: E731

BAD_CALLS = [
    # --- SPEC: shapes, dtypes, backends
    Bad("shape mismatch in a model", lambda w, c: w.model(cr.ones((4, 5), dtype=F64)),
        cr.ShapeError, "Linear(3, 2)", "(4, 5)", "last axis must be 3"),
    Bad("shape mismatch in a loss", lambda w, c: cr.nn.mse_loss(w.model(w.x), cr.ones((3, 2), dtype=F64)),
        cr.ShapeError, "broadcast"),
    Bad("float index", lambda w, c: w.model.weight[cr.tensor([0.0])], cr.DTypeError, "integer or bool", "astype"),
    Bad("two backends in one op", lambda w, c: w.model(cr.ones((1, 3), dtype=F64, backend="torch")),
        cr.BackendError, "numpy", "torch", ".to(", marks=_skip_unless("torch", "mixing needs a second backend")),
    Bad("unknown backend name", lambda w, c: cr.tensor([1.0], backend="nmupy"), cr.UnknownNameError, "numpy"),
    Bad("backend without a device", lambda w, c: cr.ones((2,), backend="torch:cuda"), cr.BackendError,
        "CUDA", "'torch'",
        marks=pytest.mark.skipif(_torch_cuda_runs(), reason="torch:cuda runs here, nothing to refuse")),
    Bad("backend library missing", lambda w, c: cr.ones((2,), backend="cupy"), cr.BackendError,
        "cupy is not installed", "pip install", marks=_skip_if_runs("cupy", "the case needs cupy missing")),
    # --- SPEC: backward
    Bad("backward of a non-scalar", lambda w, c: w.model(w.x).backward(), cr.GraphError,
        "(4, 2)", "grad=", ".sum().backward()"),
    Bad("second backward through a freed graph", lambda w, c: c.backward(), cr.GraphError,
        "retain_graph=True", setup=_second_backward),
    Bad("in-place change of a saved tensor", lambda w, c: c.backward(), cr.InplaceError,
        "in place", "clone", setup=_inplace_after_save),
    Bad("requires_grad on an integer tensor", lambda w, c: cr.tensor([1, 2], requires_grad=True),
        cr.DTypeError, "floating", "float32"),
    # --- SPEC: names and hyperparameters
    Bad("unknown optimizer", lambda w, c: cr.optim.create("adamm", PARAMS(w)), cr.UnknownNameError,
        "'adamm'", "adam"),
    Bad("unknown schedule", lambda w, c: cr.schedules.create("cosin", lr=1.0), cr.UnknownNameError,
        "'cosin'", "cosine"),
    Bad("unknown initializer", lambda w, c: cr.init.create("he_norml"), cr.UnknownNameError,
        "'he_norml'", "he_normal"),
    Bad("negative lr", lambda w, c: cr.optim.create("adam", PARAMS(w), lr=-1.0), cr.HyperparameterError,
        "lr", "-1.0"),
    Bad("NaN lr", lambda w, c: cr.optim.create("sgd", PARAMS(w), lr=NAN), cr.HyperparameterError, "lr", "nan"),
    Bad("beta2 = 1", lambda w, c: cr.optim.create("adam", PARAMS(w), betas=(0.9, 1.0)),
        cr.HyperparameterError, "betas[1]", "[0, 1)"),
    Bad("negative beta1", lambda w, c: cr.optim.create("adamw", PARAMS(w), betas=(-0.1, 0.9)),
        cr.HyperparameterError, "betas[0]"),
    Bad("negative eps", lambda w, c: cr.optim.create("adam", PARAMS(w), eps=-1e-8), cr.HyperparameterError, "eps"),
    Bad("negative weight decay", lambda w, c: cr.optim.create("adamw", PARAMS(w), weight_decay=-0.1),
        cr.HyperparameterError, "weight_decay"),
    Bad("negative momentum", lambda w, c: cr.optim.create("sgd", PARAMS(w), lr=0.1, momentum=-1.0),
        cr.HyperparameterError, "momentum"),
    Bad("another optimizer's state", lambda w, c: w.opt.load_state_dict(
        {**w.opt.state_dict(), "algorithm": "sgd"}), ChainruleError, "'sgd'", "'adamw'"),
    Bad("state of another shape", lambda w, c: w.opt.load_state_dict(c), ChainruleError, "shape",
        setup=lambda w: _state_of_another_shape(w.opt.state_dict())),
    Bad("an integer parameter", lambda w, c: cr.optim.create("sgd", [cr.tensor([1, 2])], lr=0.1),
        cr.DTypeError, "int64", "floating"),
    Bad("no parameters", lambda w, c: cr.optim.create("sgd", [], lr=0.1), ChainruleError, "empty"),
    Bad("negative max_norm", lambda w, c: cr.optim.clip_grad_norm_(PARAMS(w), -1.0),
        cr.HyperparameterError, "max_norm"),
    Bad("bad schedule hyperparameter", lambda w, c: cr.schedules.create(
        "one_cycle", max_lr=1.0, total_steps=10, div_factor=0.0), cr.HyperparameterError, "div_factor"),
    Bad("infinite lr in a schedule", lambda w, c: cr.schedules.create("cosine", lr=INF, T_max=5),
        cr.HyperparameterError, "lr", "finite"),
    Bad("polynomial of power 0", lambda w, c: cr.schedules.create("polynomial", lr=1.0, power=0.0),
        cr.HyperparameterError, "power", "> 0"),
    Bad("negative gamma", lambda w, c: cr.schedules.create("step", lr=1.0, step_size=2, gamma=-0.5),
        cr.HyperparameterError, "gamma"),
    Bad("negative schedule step", lambda w, c: cr.schedules.create("cosine", lr=1.0, T_max=5)(-1),
        cr.HyperparameterError, "counts from 0", ">= 0"),
    Bad("NaN schedule step", lambda w, c: cr.schedules.create("one_cycle", max_lr=1.0, total_steps=5)(NAN),
        cr.HyperparameterError, "nan"),
    Bad("schedule step as a string", lambda w, c: cr.schedules.create("constant", lr=1.0)("3"),
        ArgumentError, "step number", "str"),
    # --- transforms (SPEC: TypeError naming it)
    Bad("jvp without tuples", lambda w, c: cr.jvp(cr.sin, X23, X23), ArgumentError, "tuple", "(x,)"),
    Bad("hvp without tuples", lambda w, c: cr.hvp(lambda a: cr.sum(a ** 3), X23, X23), ArgumentError,
        "tuple", "cr.hvp(f, (x,), (t,))"),
    Bad("tangent of the wrong dtype", lambda w, c: cr.jvp(cr.sin, (X23,), (X23.astype("float32"),)),
        cr.DTypeError, "tangent 0", "float32", "float64", "astype('float64')"),
    Bad("tangent of the wrong shape", lambda w, c: cr.jvp(cr.sin, (X23,), (cr.ones((3, 2), dtype=F64),)),
        cr.ShapeError, "tangent 0", "(3, 2)", "(2, 3)"),
    Bad("grad of an integer argument", lambda w, c: cr.grad(lambda a: cr.sum(a * 1.0))(cr.tensor([1, 2])),
        cr.DTypeError, "int64", "astype"),
    Bad("vjp of an integer primal", lambda w, c: cr.vjp(lambda a: a * 1.0, cr.tensor([1, 2])),
        cr.DTypeError, "int64", "astype"),
    Bad("jvp of an integer primal", lambda w, c: cr.jvp(lambda a: a * 1.0, (cr.tensor([1, 2]),),
                                                         (cr.tensor([1, 1]),)), cr.DTypeError, "int64"),
    Bad("grad of a non-scalar", lambda w, c: cr.grad(cr.tanh)(X23), cr.GraphError, "scalar", ".sum()"),
    # --- gradcheck
    Bad("gradcheck in float32", _gradcheck_f32, cr.GradcheckError, "float32", "float64", "astype('float64')"),
    Bad("gradcheck without a floating argument", lambda w, c: cr.gradcheck(cr.sign, (cr.tensor([1, 2]),)),
        cr.DTypeError, "no floating-point argument", "float64"),
    Bad("gradcheck with eps = 0", lambda w, c: cr.gradcheck(cr.sin, (X23,), eps=0.0), cr.HyperparameterError, "eps"),
    # --- initializers
    Bad("random initializer, integer dtype", lambda w, c: cr.init.create("he_normal")((2, 2), dtype="int64"),
        cr.DTypeError, "int64", "floating"),
    Bad("initializer, negative shape", lambda w, c: cr.init.create("xavier_uniform")((2, -1)),
        cr.ShapeError, "(2, -1)", ">= 0"),
    Bad("initializer, fan_in = 0", lambda w, c: cr.init.create("he_normal")((2, 3), fan_in=0),
        cr.HyperparameterError, "fan_in"),
    Bad("random draw, integer dtype", lambda w, c: cr.random.normal((2,), dtype="int32"), cr.DTypeError,
        "int32"),
    # --- torch and JAX habits, through the hint (wired into cr.* by the registry change of the report)
    Bad("dim= (torch)", lambda w, c: hinting(cr.sum, "sum")(X23, dim=0), ArgumentError, "dim=0", "axis=0"),
    Bad("keepdim= (torch)", lambda w, c: hinting(cr.max, "max")(X23, axis=0, keepdim=True), ArgumentError,
        "keepdim=True", "keepdims=True"),
    Bad("dim= in a composite", lambda w, c: hinting(cr.mean, "mean")(X23, dim=1), ArgumentError, "axis=1"),
    Bad("dim= in softmax", lambda w, c: hinting(cr.nn.softmax, "softmax")(X23, dim=-1), ArgumentError,
        "axis=-1"),
    Bad("dim= in a kernel op", lambda w, c: hinting(cr.exp, "exp")(X23, dim=0), ArgumentError, "axis=0"),
    Bad("unbiased= (torch)", lambda w, c: hinting(cr.var, "var")(X23, unbiased=False), ArgumentError,
        "unbiased=False", "correction"),
    Bad("device= (torch)", lambda w, c: hinting(cr.tensor, "tensor")([1.0], device="cpu"), ArgumentError,
        "device='cpu'", "backend"),
    Bad("out= (torch)", lambda w, c: hinting(cr.add, "add")(X23, X23, out=X23), ArgumentError,
        "out=", "assign the result"),
    Bad("target= (torch)", lambda w, c: hinting(cr.nn.cross_entropy, "cross_entropy")(
        X23, target=cr.tensor([0, 1])), ArgumentError, "target=", "labels"),
    # --- files
    Bad("save of a non-tensor over a checkpoint", lambda w, c: cr.save(w.path, {"w": object()}),
        ArgumentError, "object", "no pickling"),
    Bad("save into a folder", lambda w, c: cr.save(w.folder, {"w": w.model.weight}), ChainruleError,
        "folder", "file path"),
    Bad("load of a damaged file", lambda w, c: cr.load(c), ChainruleError, "damaged",
        setup=lambda w: _damaged_file(w.folder)),
]


def _state_of_another_shape(state):
    for per_param in state["state"].values():
        for key, value in per_param.items():
            if isinstance(value, cr.Tensor):
                per_param[key] = cr.zeros((7,), dtype=value.dtype)
    return state


def _damaged_file(folder):
    path = os.path.join(folder, "damaged.safetensors")
    with open(path, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\"")
    return path


@pytest.mark.parametrize("bad", [b.param() for b in BAD_CALLS])
def test_a_bad_call_raises_names_the_fix_and_changes_nothing(world, bad):
    ctx = bad.setup(world) if bad.setup else None
    before = snapshot(world)
    with pytest.raises(bad.error) as err:
        bad.call(world, ctx)
    message = str(err.value)
    for fragment in bad.says:
        assert fragment in message, f"{bad.name}: {fragment!r} not in {message!r}"
    assert snapshot(world) == before, f"{bad.name} changed the parameters, optimizer state or files"


def test_every_error_of_the_table_is_the_librarys():
    """One ``except cr.ChainruleError`` catches every bad input."""
    assert all(issubclass(b.error, ChainruleError) for b in BAD_CALLS)


# ------------------------------------------------------------------ torch habits on cr.* itself

HABITS = [  # (call, fragment of the hint): the real entry points
    (lambda: cr.sum(X23, dim=0), "axis=0"), (lambda: X23.sum(dim=0), "axis=0"),
    (lambda: cr.max(X23, keepdim=True), "keepdims=True"), (lambda: cr.mean(X23, dim=1), "axis=1"),
    (lambda: cr.nn.softmax(X23, dim=-1), "axis=-1"), (lambda: cr.logsumexp(X23, dim=0), "axis=0"),
    (lambda: cr.exp(X23, dim=0), "axis=0"), (lambda: cr.var(X23, unbiased=True), "correction"),
    (lambda: cr.concat([X23, X23], dim=0), "axis=0"),
]


@pytest.mark.parametrize("call, fragment", HABITS, ids=[
    "sum", "method sum", "max keepdim", "mean", "softmax", "logsumexp", "exp", "var unbiased", "concat"])
def test_torch_keywords_get_a_hint_on_the_public_functions(call, fragment):
    with pytest.raises(ArgumentError, match=fragment):
        call()


def test_a_keyword_without_a_known_spelling_keeps_pythons_message():
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'") as err:
        hinting(cr.sum, "sum")(X23, foo=1)
    assert not isinstance(err.value, ArgumentError)


def test_a_call_that_works_is_not_changed_by_the_hint():
    np.testing.assert_array_equal(hinting(cr.sum, "sum")(X23, axis=0).numpy(), cr.sum(X23, axis=0).numpy())


# ------------------------------------------------------------------ table 2: NaN, inf, huge, tiny, empty, 0-d

TF = torch.nn.functional


def _labels_for(shape):
    return np.zeros(shape[:-1], dtype=np.int64)


def _ce_ours(x):
    return cr.nn.cross_entropy(x, cr.tensor(_labels_for(x.shape)))


def _ce_torch(x):
    labels = torch.tensor(_labels_for(tuple(x.shape)))
    return TF.cross_entropy(x.reshape(-1, x.shape[-1]), labels.reshape(-1))


OPS = {  # name: (chainrule, torch), both along the last axis where there is one
    "exp": (cr.exp, torch.exp), "log": (cr.log, torch.log), "sqrt": (cr.sqrt, torch.sqrt),
    "tanh": (cr.tanh, torch.tanh), "sigmoid": (cr.nn.sigmoid, torch.sigmoid),
    "abs": (cr.abs, torch.abs), "relu": (cr.nn.relu, torch.relu), "gelu": (cr.nn.gelu, TF.gelu),
    "square": (lambda x: x ** 2, lambda x: x ** 2), "reciprocal": (lambda x: 1.0 / x, lambda x: 1.0 / x),
    "sum": (cr.sum, torch.sum), "mean": (cr.mean, torch.mean), "prod": (cr.prod, torch.prod),
    "max": (cr.max, torch.Tensor.max),   # x.max(): a NaN takes the gradient (tests/test_edges.py)
    "var": (cr.var, lambda x: torch.var(x, correction=0)), "std": (cr.std, lambda x: torch.std(x, correction=0)),
    "softmax": (cr.nn.softmax, lambda x: torch.softmax(x, -1)),
    "log_softmax": (cr.nn.log_softmax, lambda x: torch.log_softmax(x, -1)),
    "logsumexp": (lambda x: cr.logsumexp(x, axis=-1), lambda x: torch.logsumexp(x, -1)),
    "layer_norm": (cr.nn.layer_norm, lambda x: TF.layer_norm(x, x.shape[-1:], eps=1e-5)),
    "matmul": (lambda x: x @ cr.transpose(x), lambda x: x @ x.mT),
    "mse_loss": (lambda x: cr.nn.mse_loss(x, cr.zeros_like(x)), lambda x: TF.mse_loss(x, torch.zeros_like(x))),
    "cross_entropy": (_ce_ours, _ce_torch),
}
F32 = np.float32
INPUTS = {  # name: a 2-d array (dtype float64 unless given)
    "nan": np.array([[1.0, NAN, 2.0], [0.5, -1.0, 3.0]]),
    "inf": np.array([[1.0, INF, 2.0], [0.5, -1.0, 3.0]]),
    "-inf": np.array([[1.0, -INF, 2.0], [0.5, -1.0, 3.0]]),
    "huge": np.array([[1e300, -1e300, 5e307]]),
    "huge float32": np.array([[1e38, -3e38, 88.0]], dtype=F32),
    "logits of 1000": np.array([[1000.0, -1000.0, 999.0]]),
    "tiny": np.array([[1e-310, -4e-320, 1e-300]]),
    "tiny float32": np.array([[1e-40, -1e-45, 1e-38]], dtype=F32),
    "empty rows": np.zeros((0, 3)),
}
NOT_2D = {"matmul"}   # ops whose torch twin needs more than a vector (for the 0-d / 1-d inputs)
NUMERIC_BUGS = {
}
TOL = {"float64": dict(rtol=1e-9, atol=1e-300), "float32": dict(rtol=2e-5, atol=1e-6)}


def _weights(shape):
    n = int(np.prod(shape, dtype=int))
    return np.arange(1.0, n + 1.0).reshape(shape) ** 1.5 / max(n, 1)


def _compare(ours, theirs, what, dtype):
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch's {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, equal_nan=True, err_msg=f"{what} differs from torch",
                               **TOL[dtype])


# Where torch itself is wrong, the oracle is exact arithmetic: torch's float64 std squares 1e300
# to inf (std inf) and 1e-310 to 0 (gradient 0), while the std of both is finite and nonzero;
# chainrule scales before squaring (as torch's float32 std on the CPU gets right by float64)
EXACT = {("std", "huge"), ("std", "tiny")}


def _exact_std_and_gradient(a):
    """std over all entries of ``a`` and its gradient (x - mean) / (n std), in exact rationals
    and 50-digit decimals."""
    xs = [Fraction(float(v)) for v in a.ravel()]
    n = len(xs)
    mean = sum(xs) / n
    var = sum((x - mean) ** 2 for x in xs) / n
    with localcontext() as ctx:
        ctx.prec = 50
        std = (Decimal(var.numerator) / Decimal(var.denominator)).sqrt()
        grad = [Decimal((x - mean).numerator) / Decimal((x - mean).denominator) / (n * std) for x in xs]
    return float(std), np.array([float(g) for g in grad]).reshape(a.shape)


def _numeric_rows():
    for op in OPS:
        for name in INPUTS:
            marks = NUMERIC_BUGS.get((op, name), ())
            yield pytest.param(op, name, id=f"{op}[{name}]", marks=marks)


@pytest.mark.parametrize("op, kind", list(_numeric_rows()))
def test_value_and_gradient_match_torch_at_the_edges(op, kind):
    """No error, and torch's value and gradient, nan and inf included (NaN in, NaN out: a NaN
    never hides).  The cotangent has distinct entries, so where a gradient goes is seen."""
    ours, theirs = OPS[op]
    a = INPUTS[kind]
    dtype = str(a.dtype)
    if (op, kind) in EXACT:
        value, gradient = _exact_std_and_gradient(a)
        x = cr.tensor(a, dtype=dtype, requires_grad=True)
        out = ours(x)
        out.backward()
        np.testing.assert_allclose(out.numpy(), value, rtol=1e-12, err_msg=f"{op}[{kind}] value")
        np.testing.assert_allclose(x.grad.numpy(), gradient, rtol=1e-9, err_msg=f"{op}[{kind}] gradient")
        return
    tx = torch.tensor(a, requires_grad=True)
    try:
        t_out = theirs(tx)
    except (RuntimeError, IndexError) as e:   # torch refuses (max of nothing): so must we
        with pytest.raises(ChainruleError):
            ours(cr.tensor(a, dtype=dtype))
        print(f"{op}[{kind}]: refused, as torch ({e})")
        return
    w = _weights(tuple(t_out.shape))
    (t_grad,) = torch.autograd.grad((t_out * torch.tensor(w, dtype=t_out.dtype)).sum(), tx)
    x = cr.tensor(a, dtype=dtype, requires_grad=True)
    out = ours(x)
    cr.sum(out * cr.tensor(w, dtype=dtype)).backward()
    _compare(out.numpy(), t_out, f"{op}[{kind}] value", dtype)
    _compare(x.grad.numpy(), t_grad, f"{op}[{kind}] gradient", dtype)


EMPTY_AXIS = [  # (op over an empty last axis, torch's twin): torch's answer is the oracle
    pytest.param(lambda x: cr.logsumexp(x, axis=-1), lambda x: torch.logsumexp(x, -1), id="logsumexp"),
    pytest.param(cr.nn.softmax, lambda x: torch.softmax(x, -1), id="softmax"),
    pytest.param(cr.nn.log_softmax, lambda x: torch.log_softmax(x, -1), id="log_softmax"),
    pytest.param(lambda x: cr.sum(x, axis=-1), lambda x: torch.sum(x, -1), id="sum"),
    pytest.param(lambda x: cr.mean(x, axis=-1), lambda x: torch.mean(x, -1), id="mean"),
    pytest.param(lambda x: cr.prod(x, axis=-1), lambda x: torch.prod(x, -1), id="prod"),
    pytest.param(lambda x: cr.var(x, axis=-1), lambda x: torch.var(x, -1, correction=0), id="var"),
    pytest.param(lambda x: cr.nn.layer_norm(x), lambda x: TF.layer_norm(x, (0,)), id="layer_norm"),
    pytest.param(lambda x: x @ cr.transpose(x), lambda x: x @ x.mT, id="matmul"),
]


@pytest.mark.parametrize("ours, theirs", EMPTY_AXIS)
def test_an_empty_axis_gives_torchs_answer(ours, theirs):
    """(2, 0): every row is empty.  sum 0, mean nan, logsumexp -inf, as torch."""
    a = np.zeros((2, 0))
    tx = torch.tensor(a, requires_grad=True)
    t_out = theirs(tx)
    (t_grad,) = torch.autograd.grad(t_out.sum(), tx)
    x = cr.tensor(a, dtype=F64, requires_grad=True)
    out = ours(x)
    cr.sum(out).backward()
    _compare(out.numpy(), t_out, "value over an empty axis", F64)
    _compare(x.grad.numpy(), t_grad, "gradient over an empty axis", F64)


@pytest.mark.parametrize("call, says", [
    pytest.param(lambda e: cr.max(e), ["empty"], id="max of an empty tensor"),
    pytest.param(lambda e: cr.max(e, axis=0), ["empty"], id="max over an empty axis"),
    pytest.param(lambda e: cr.min(e, axis=0), ["empty"], id="min over an empty axis"),
])
def test_max_of_nothing_says_the_axis_is_empty(call, says):
    """NumPy and torch refuse max/min of nothing (no identity): so do we, saying why."""
    e = cr.zeros((0, 3))
    with pytest.raises(cr.ShapeError) as err:
        call(e)
    assert all(s in str(err.value) for s in says) and "broadcast" not in str(err.value)


def test_empty_tensors_flow_through_a_model_and_the_transforms():
    """A batch of 0 examples: forward, backward, grad, jvp and vmap give empty results of
    the right shapes, as torch (whose answers these are: sum of nothing 0, mean nan)."""
    model = cr.nn.Linear(3, 2)
    e = cr.zeros((0, 3))
    out = model(e)
    assert out.shape == (0, 2)
    cr.sum(out).backward()
    np.testing.assert_array_equal(model.weight.grad.numpy(), np.zeros((3, 2)))
    assert cr.grad(lambda a: cr.sum(cr.exp(a)))(e).shape == (0, 3)
    assert cr.jvp(cr.exp, (e,), (e,))[1].shape == (0, 3)
    assert cr.vmap(lambda a: a * 2)(e).shape == (0, 3)
    assert math.isnan(float(cr.nn.mse_loss(cr.zeros((0,)), cr.zeros((0,)))))
    assert float(cr.nn.cross_entropy(e, cr.tensor(np.zeros(0, dtype=np.int64)), reduction="sum")) == 0.0
    assert cr.init.create("he_normal")((0, 3)).shape == (0, 3)
    assert cr.init.create("orthogonal")((0, 3)).shape == (0, 3)


ZERO_D = [  # (call on a 0-d tensor, torch's call): same value and gradient
    pytest.param(lambda z: z * z, lambda z: z * z, id="multiply"),
    pytest.param(lambda z: cr.sum(z), lambda z: torch.sum(z), id="sum"),
    pytest.param(lambda z: cr.max(z), lambda z: torch.amax(z), id="max"),
    pytest.param(lambda z: cr.var(z), lambda z: torch.var(z, correction=0), id="var"),
    pytest.param(lambda z: cr.std(z), lambda z: torch.std(z, correction=0), id="std"),
    pytest.param(lambda z: cr.reshape(z, (1,)), lambda z: z.reshape(1), id="reshape"),
    pytest.param(lambda z: cr.expand_dims(z, 0), lambda z: z.unsqueeze(0), id="expand_dims"),
    pytest.param(lambda z: cr.stack([z, z]), lambda z: torch.stack([z, z]), id="stack"),
    pytest.param(lambda z: cr.transpose(z), lambda z: z.mT if z.ndim >= 2 else z, id="transpose"),
    pytest.param(lambda z: cr.broadcast_to(z, (2, 2)), lambda z: z.expand(2, 2), id="broadcast_to"),
]


@pytest.mark.parametrize("ours, theirs", ZERO_D)
def test_zero_d_tensors_match_torch(ours, theirs):
    z, tz = cr.tensor(1.5, dtype=F64, requires_grad=True), torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    out, t_out = ours(z), theirs(tz)
    cr.sum(out).backward()
    t_out.sum().backward()
    _compare(out.numpy(), t_out, "0-d value", F64)
    assert z.grad.shape == ()
    _compare(z.grad.numpy(), tz.grad, "0-d gradient", F64)


ZERO_D_ERRORS = [  # (call on a 0-d tensor, documented error, fragment): NumPy has no axis on a 0-d array
    pytest.param(lambda z: cr.nn.softmax(z), cr.ShapeError, "0 dimensions", id="softmax"),
    pytest.param(lambda z: cr.logsumexp(z, axis=-1), cr.ShapeError, "0 dimensions", id="logsumexp"),
    pytest.param(lambda z: cr.nn.layer_norm(z), cr.ShapeError, "0 dimensions", id="layer_norm"),
    pytest.param(lambda z: z @ z, cr.ShapeError, "matmul", id="matmul"),
    pytest.param(lambda z: cr.concat([z, z]), cr.ShapeError, "stack", id="concat"),
    pytest.param(lambda z: cr.split(z, 2), cr.ShapeError, "0-d", id="split"),
    pytest.param(lambda z: cr.take(z, cr.tensor([0])), cr.ShapeError, "0-d", id="take"),
    pytest.param(lambda z: cr.sum(z, axis=0), cr.ShapeError, "0-d",
                 id="sum axis=0"),
    pytest.param(lambda z: z[0], IndexError, "item()",
                 id="index"),
]


@pytest.mark.parametrize("call, error, says", ZERO_D_ERRORS)
def test_zero_d_tensors_without_an_axis_are_refused_clearly(call, error, says):
    """torch treats a 0-d tensor as having axis 0 / -1 here; chainrule follows NumPy (SPEC),
    which has no axis on a 0-d array: the error says so, and nothing is computed."""
    z = cr.tensor(1.5, dtype=F64, requires_grad=True)
    with pytest.raises(error, match=None) as err:
        call(z)
    assert says in str(err.value), str(err.value)
    assert z.grad is None


# ------------------------------------------------------------------ table 3: integers where floats are needed

INT_PROMOTED = [  # NumPy's rule: an integer input to a floating op computes in float64
    ("exp", cr.exp, np.exp), ("sqrt", cr.sqrt, np.sqrt), ("log", cr.log, np.log), ("tanh", cr.tanh, np.tanh),
    ("mean", cr.mean, np.mean), ("var", cr.var, np.var), ("std", cr.std, np.std),
    ("divide", lambda x: x / 2, lambda x: x / 2),
    ("softmax", cr.nn.softmax, lambda x: np.exp(x) / np.exp(x).sum()),
    ("logsumexp", lambda x: cr.logsumexp(x, axis=0), lambda x: np.log(np.exp(x).sum())),
    ("sigmoid", cr.nn.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
]


@pytest.mark.parametrize("name, ours, numpy_fn", INT_PROMOTED, ids=[r[0] for r in INT_PROMOTED])
def test_integer_inputs_to_floating_ops_promote_as_numpy(name, ours, numpy_fn):
    """Not an error (NumPy, SPEC's convention, promotes; torch to float32): float64, and
    the same numbers as the float64 computation."""
    a = np.array([1, 2, 3])
    out = ours(cr.tensor(a))
    assert out.dtype == cr.float64, f"{name}: {out.dtype}"
    np.testing.assert_allclose(out.numpy(), numpy_fn(a.astype(np.float64)), rtol=1e-12)


def test_integer_pow_to_a_negative_power_is_refused_as_numpy_and_torch():
    with pytest.raises(ValueError, match="negative integer powers"):
        cr.tensor([1, 2]) ** -1


# ------------------------------------------------------------------ NaN and inf in gradients

BAD_GRADS = {"nan": [1.0, NAN, 2.0], "inf": [1.0, INF, 2.0], "-inf": [1.0, -INF, 2.0]}


def _with_grad(lib, g):
    if lib is cr:
        w = cr.tensor([0.5, -0.5, 1.0], dtype=F64, requires_grad=True)
        w.grad = cr.tensor(g, dtype=F64)
    else:
        w = torch.tensor([0.5, -0.5, 1.0], dtype=torch.float64, requires_grad=True)
        w.grad = torch.tensor(g, dtype=torch.float64)
    return w


@pytest.mark.parametrize("name, torch_opt", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam),
                                              ("adamw", torch.optim.AdamW)])
@pytest.mark.parametrize("kind", BAD_GRADS)
def test_an_optimizer_step_on_nan_or_inf_gradients_is_torchs(name, torch_opt, kind):
    """The NaN or inf reaches the parameter it belongs to and no other, as in torch: it shows,
    and it does not spread to the healthy entries."""
    w, tw = _with_grad(cr, BAD_GRADS[kind]), _with_grad(torch, BAD_GRADS[kind])
    opt, topt = cr.optim.create(name, [w], lr=0.1), torch_opt([tw], lr=0.1)
    for _ in range(2):
        opt.step()
        topt.step()
    _compare(w.numpy(), tw, f"{name} after a {kind} gradient", F64)


@pytest.mark.parametrize("kind", ["nan", "inf", "-inf"])
def test_clip_grad_norm_of_nan_or_inf_gradients_is_torchs(kind):
    w, tw = _with_grad(cr, BAD_GRADS[kind]), _with_grad(torch, BAD_GRADS[kind])
    total, t_total = cr.optim.clip_grad_norm_([w], 1.0), torch.nn.utils.clip_grad_norm_([tw], 1.0)
    _compare(np.asarray(float(total)), t_total, f"total norm of {kind} gradients", F64)
    _compare(w.grad.numpy(), tw.grad, f"clipped {kind} gradients", F64)


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_nan_and_inf_inputs_reach_the_loss_and_the_gradients_as_torch(kind):
    """A NaN or inf in a batch never hides: through a Linear layer and cross_entropy, the loss
    and every parameter's gradient are torch's (nan where torch's are)."""
    a = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    a[1, 2] = BAD_GRADS[kind][1]
    cr.random.seed(0)
    model = cr.nn.Linear(3, 2)
    weight, bias = model.weight.numpy().astype(np.float64), model.bias.numpy().astype(np.float64)
    model.weight = cr.tensor(weight, dtype=F64, requires_grad=True)
    model.bias = cr.tensor(bias, dtype=F64, requires_grad=True)
    labels = np.array([0, 1, 1, 0])
    loss = cr.nn.cross_entropy(model(cr.tensor(a, dtype=F64)), cr.tensor(labels))
    loss.backward()
    tw, tb = torch.tensor(weight, requires_grad=True), torch.tensor(bias, requires_grad=True)
    t_loss = TF.cross_entropy(torch.tensor(a) @ tw + tb, torch.tensor(labels))
    t_loss.backward()
    _compare(loss.numpy(), t_loss, f"loss with a {kind} input", F64)
    _compare(model.weight.grad.numpy(), tw.grad, f"weight gradient with a {kind} input", F64)
    _compare(model.bias.grad.numpy(), tb.grad, f"bias gradient with a {kind} input", F64)


# ------------------------------------------------------------------ table 4: schedules past their end

@st.composite
def schedules_with_an_end(draw):
    """(name, hyperparameters, last step of the schedule, its documented final rate)."""
    lr = draw(st.floats(1e-4, 10.0))
    total = draw(st.integers(1, 40))
    kind = draw(st.sampled_from(["one_cycle", "cosine", "warmup_cosine", "polynomial", "linear"]))
    if kind == "one_cycle":
        three = draw(st.booleans())
        kw = dict(max_lr=lr, total_steps=total, three_phase=three,
                  pct_start=draw(st.floats(0.0, 0.5 if three else 1.0)),
                  anneal_strategy=draw(st.sampled_from(["cos", "linear"])),
                  div_factor=draw(st.floats(1.0, 100.0)), final_div_factor=draw(st.floats(1.0, 1e4)))
        return kind, kw, total - 1, lr / kw["div_factor"] / kw["final_div_factor"]
    if kind == "cosine":
        eta_min = draw(st.floats(0.0, lr))
        return kind, dict(lr=lr, T_max=total, eta_min=eta_min), total, eta_min
    if kind == "warmup_cosine":
        min_lr = draw(st.floats(0.0, lr))
        warmup = draw(st.integers(0, total - 1)) if total > 1 else 0
        return kind, dict(peak_lr=lr, warmup=warmup, total=max(total, 1), min_lr=min_lr), total, min_lr
    if kind == "polynomial":
        end_lr = draw(st.floats(0.0, lr))
        kw = dict(lr=lr, total_iters=total, power=draw(st.floats(0.01, 4.0)), end_lr=end_lr)
        return kind, kw, total, end_lr
    start, end = draw(st.floats(0.0, 1.0)), draw(st.floats(0.0, 1.0))
    return kind, dict(lr=lr, start_factor=start, end_factor=end, total_iters=total), total, lr * end


@settings(max_examples=150, deadline=None, derandomize=True)
@given(spec=schedules_with_an_end())
def test_a_schedule_past_its_end_holds_its_final_rate_and_never_climbs_again(spec):
    """Steps 0 .. 3 * total: from the last step on, the documented final rate at every step;
    from the peak on, never a rate above the one before (torch's CosineAnnealingLR climbs
    back after T_max and its OneCycleLR raises past total_steps)."""
    name, kw, last, final = spec
    s = cr.schedules.create(name, **kw)
    rates = [s(t) for t in range(3 * last + 3)]
    assert all(math.isfinite(r) and r >= 0 for r in rates), (name, kw, rates)
    assert rates[last] == pytest.approx(final, rel=1e-9, abs=1e-15), (name, kw)
    assert all(r == rates[last] for r in rates[last:]), f"{name} {kw} moves after its end"
    peak = rates.index(max(rates))
    climbs = [t for t in range(peak, len(rates) - 1) if rates[t + 1] > rates[t] * (1 + 1e-12) + 1e-15]
    assert not climbs, f"{name} {kw} climbs again after its peak at steps {climbs}"


def test_one_cycle_past_total_steps_keeps_its_last_rate_where_torch_raises():
    s = cr.schedules.create("one_cycle", max_lr=1.0, total_steps=10)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, cycle_momentum=False)
    for t in range(10):
        assert s(t) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12, abs=1e-18)
        opt.step()
        if t < 9:
            sched.step()
    with pytest.raises(ValueError, match="total steps"):   # torch's answer past the end
        sched.step()
        sched.step()
    assert [s(t) for t in (10, 11, 20, 29)] == [s(9)] * 4 == [1.0 / 25 / 1e4] * 4


def test_sgdr_is_the_schedule_that_restarts_and_says_so():
    """The one exception, by design and in its docstring: no end, the rate climbs at each restart."""
    s = cr.schedules.create("sgdr", lr=1.0, T_0=4)
    assert s(4) == 1.0 > s(3)
    assert "climbs again" in cr.builtin_plugins.schedules.sgdr.__doc__


# ------------------------------------------------------------------ cr.nn fronts take what ops take

@pytest.mark.parametrize("call", [
    lambda v: cr.nn.dropout(v, p=0.5, training=False), lambda v: cr.nn.softmax(v),
    lambda v: cr.nn.log_softmax(v), lambda v: cr.nn.mse_loss(v, v),
    lambda v: cr.nn.cross_entropy(v, [0]),
], ids=["dropout", "softmax", "log_softmax", "mse_loss", "cross_entropy"])
def test_nn_functions_take_lists_and_arrays_as_ops_do_and_name_anything_else(call):
    """A list or a NumPy array is a tensor, as for every op (a NumPy array in, a NumPy array
    out: raw in, raw out, as cr.exp); an object is an ArgumentError."""
    as_list, as_array = call([[1.0, 2.0]]), call(np.array([[1.0, 2.0]], dtype=np.float32))
    plain = as_array.numpy() if isinstance(as_array, cr.Tensor) else np.asarray(as_array)
    np.testing.assert_allclose(as_list.numpy(), plain, rtol=1e-6)
    with pytest.raises(ArgumentError, match="expected a tensor"):
        call(object())


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_over_all_entries_is_scipys(name):
    scipy_special = pytest.importorskip("scipy.special", reason="scipy is a test dependency")
    a = np.array([[1.0, 2.0, -3.0], [0.5, 4.0, 1000.0]])
    ours = getattr(cr.nn, name)(cr.tensor(a, dtype=F64), axis=None).numpy()
    np.testing.assert_allclose(ours, getattr(scipy_special, name)(a, axis=None), rtol=1e-12)


@pytest.mark.parametrize("p", ["a", -0.1, 1.0, None])
def test_dropout_names_a_bad_probability(p):
    x = cr.ones((3,))
    with pytest.raises(cr.HyperparameterError, match="probability"):
        cr.nn.dropout(x, p=p)

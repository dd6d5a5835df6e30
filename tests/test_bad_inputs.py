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

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ArgumentError, ChainruleError
from chainrule.ops._hints import hinting

torch = pytest.importorskip("torch", reason="torch 2.13 is the oracle for the numeric table")
hypothesis = pytest.importorskip("hypothesis", reason="hypothesis draws the schedules")
from hypothesis import given, settings, strategies as st  # noqa: E402

F64 = "float64"
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

    def __init__(self, name, call, error, *says, setup=None, marks=(), library=True):
        self.name, self.call, self.error, self.says = name, call, error, says
        self.setup, self.marks, self.library = setup, marks, library

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
        cr.DTypeError, "int64", "floating", marks=bug(1, "optim raises a plain TypeError")),
    Bad("no parameters", lambda w, c: cr.optim.create("sgd", [], lr=0.1), ChainruleError, "empty",
        marks=bug(1, "optim raises a plain ValueError")),
    Bad("negative max_norm", lambda w, c: cr.optim.clip_grad_norm_(PARAMS(w), -1.0),
        cr.HyperparameterError, "max_norm", marks=bug(2, "clip_grad_norm_ accepts max_norm < 0 and flips gradients")),
    Bad("bad schedule hyperparameter", lambda w, c: cr.schedules.create(
        "one_cycle", max_lr=1.0, total_steps=10, div_factor=0.0), cr.HyperparameterError, "div_factor"),
    Bad("infinite lr in a schedule", lambda w, c: cr.schedules.create("cosine", lr=INF, T_max=5),
        cr.HyperparameterError, "lr", "finite"),
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
        "int32", marks=bug(3, "cr.random.normal/uniform with an integer dtype silently return zeros")),
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
        TypeError, "object", "no pickling", library=False),
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


@pytest.mark.parametrize("bad", [pytest.param(b, id=b.name, marks=bug(4, "cr.save raises a plain TypeError"))
                                 for b in BAD_CALLS if not b.library])
def test_the_error_is_the_librarys(world, bad):
    """Every error should be a ChainruleError (one except clause catches them all): the rows
    of the table whose documented type is not one yet (the others are, see below)."""
    ctx = bad.setup(world) if bad.setup else None
    with pytest.raises(ChainruleError):
        bad.call(world, ctx)


def test_the_table_uses_library_errors():
    assert all(issubclass(b.error, ChainruleError) for b in BAD_CALLS if b.library)


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
@bug(5, "the hint needs the try/except of the report in registry._applier and public()")
def test_torch_keywords_get_a_hint_on_the_public_functions(call, fragment):
    with pytest.raises(ArgumentError, match=fragment):
        call()


def test_a_keyword_without_a_known_spelling_keeps_pythons_message():
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'") as err:
        hinting(cr.sum, "sum")(X23, foo=1)
    assert not isinstance(err.value, ArgumentError)


def test_a_call_that_works_is_not_changed_by_the_hint():
    np.testing.assert_array_equal(hinting(cr.sum, "sum")(X23, axis=0).numpy(), cr.sum(X23, axis=0).numpy())

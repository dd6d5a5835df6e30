"""Memory is shared as in torch, and an in-place change is never silently missed.

Views (slices, reshape, transposes, expand_dims, detach) share one version counter
with their base; an in-place change through any alias either raises or gives
torch's gradient (the base's graph is rebased, every view re-derived).  ``.grad``
is owned: writable, its tensor's dtype and shape, aliasing nothing.

The class test is ``test_random_programs_with_inplace_edits_through_views``: random
programs run side by side in chainrule and torch.
"""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st, HealthCheck

import chainrule as cr
from backend_fixtures import backend  # noqa: F401
from conftest import data, assert_close

F64 = "float64"


# ------------------------------------------------------------- the examples

def test_inplace_through_detach_is_seen_by_backward(backend):
    x = cr.tensor([0.5, 1.0, 1.5], dtype=F64, requires_grad=True)
    y = x * 2
    d = y.detach()
    loss = (y * y).sum()
    d += 1
    with pytest.raises(cr.InplaceError, match="multiply"):   # torch raises here too
        loss.backward()


@pytest.mark.parametrize("make_alias", [
    lambda y: y.detach(), lambda y: y[1:], lambda y: y.reshape((3, 1)), lambda y: cr.transpose(
        cr.expand_dims(y, 0)), lambda y: cr.permute_dims(y, (0,)), lambda y: y[None][0],
    lambda y: cr.split(y, 3)[1],
], ids=["detach", "slice", "reshape", "expand_dims+transpose", "permute", "None-index", "split"])
def test_every_view_kind_shares_the_version_counter(backend, make_alias):
    x = cr.tensor([0.5, 1.0, 1.5], dtype=F64, requires_grad=True)
    y = x * 2
    alias = make_alias(y)
    loss = (y * y).sum()
    with cr.no_grad():
        alias += 1
    assert y._version == alias._version > 0
    with pytest.raises(cr.InplaceError):
        loss.backward()


def test_saved_outputs_survive_writes_through_any_alias(backend):
    """exp's rule reads its output: a write through a detached alias must not change it
    (torch raises here; we keep the value the rule computed, the right gradient)."""
    x = cr.tensor([0.1, 0.2, 0.3], dtype=F64, requires_grad=True)
    y = cr.exp(x)
    with cr.no_grad():
        y[0] = 100.0           # __setitem__ under no_grad goes through the same check
    y.detach()[1] = 50.0
    y.sum().backward()
    assert_close(x.grad, np.exp([0.1, 0.2, 0.3]))


def test_inplace_on_a_view_rebases_the_base_like_torch(backend):
    def program(lib, x):
        y = x * 1
        a, b = y[0:2], y[1:3]
        a.mul_(3) if lib is torch else a.__imul__(3)
        return (b * b).sum() + y.sum()
    xt = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    program(torch, xt).backward()
    x = cr.tensor([1.0, 2.0, 3.0], dtype=F64, requires_grad=True)
    program(cr, x).backward()
    assert_close(x.grad, xt.grad)


def test_copy_and_setitem_rebase_the_graph(backend):
    x = cr.tensor([1.0, 2.0, 3.0], dtype=F64, requires_grad=True)
    w = cr.tensor([5.0, 7.0], dtype=F64, requires_grad=True)
    y = x * 2
    y.copy_(cr.ones((3,), dtype=F64))         # y no longer depends on x
    y[1:] = w
    (y * y).sum().backward()
    assert_close(x.grad, [0.0, 0.0, 0.0])
    assert_close(w.grad, [10.0, 14.0])


def test_base_without_graph_gets_one_through_its_view(backend):
    y = cr.zeros((3,), dtype=F64)
    w = cr.tensor([2.0, 3.0], dtype=F64, requires_grad=True)
    v = y[1:3]
    v.copy_(w)
    (y * y).sum().backward()
    assert_close(w.grad, [4.0, 6.0])


def test_view_of_a_leaf_cannot_be_modified_while_recording(backend):
    x = cr.tensor([1.0, 2.0, 3.0], dtype=F64, requires_grad=True)
    v = x[0:2]
    with pytest.raises(cr.InplaceError, match="view .* leaf"):
        v *= 2
    assert x.tolist() == [1.0, 2.0, 3.0]
    with cr.no_grad():
        v *= 2                                 # as an optimizer would
    assert x.tolist() == [2.0, 4.0, 3.0]


def test_a_broadcast_view_refuses_writes(backend):
    y = cr.tensor([1.0, 2.0], dtype=F64)
    b = cr.broadcast_to(y, (3, 2))
    with pytest.raises(cr.InplaceError, match="same memory location"):
        b += 1
    assert y.tolist() == [1.0, 2.0]


def test_clone_and_to_copy(backend):
    for dtype in ("int64", "float32", "bool"):
        x = cr.tensor([1, 0, 1], dtype=dtype)
        c = x.clone()
        assert not np.shares_memory(x.numpy(), c.numpy()) and c.dtype == x.dtype
    other = "torch" if backend == "numpy" else "numpy"
    x = cr.tensor([1.0, 2.0], dtype=F64)
    y = x.to(other)
    with cr.no_grad():
        y += 1
    assert x.tolist() == [1.0, 2.0]


def test_clone_keeps_negative_zero_and_is_differentiable(backend):
    x = cr.tensor([-0.0, 2.0], dtype=F64, requires_grad=True)
    c = x.clone()
    assert np.signbit(c.numpy()[0])
    (c * c).sum().backward()
    assert_close(x.grad, [0.0, 4.0])


# ------------------------------------------------------------------ owned grads

def _assert_owned(t):
    g = t.grad
    assert g.shape == t.shape and g.dtype == t.dtype
    raw = g.numpy()
    if isinstance(g.data, np.ndarray):
        assert g.data.flags.writeable and g.data.base is None


def test_grads_are_owned_and_alias_nothing(backend):
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    c = cr.tensor(2.0, requires_grad=True)
    (a + b + c).sum().backward()
    for t in (a, b, c):
        _assert_owned(t)
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad += 1                                # writable, and b.grad does not change
    assert b.grad.tolist() == [1.0, 1.0] and a.grad.tolist() == [2.0, 2.0]
    cr.optim.clip_grad_norm_([a, b], 1.0)      # each scaled once
    assert_close(b.grad, np.array([1.0, 1.0]) / np.sqrt(10), rtol=1e-6)


def test_backward_grad_argument_is_not_aliased(backend):
    x = cr.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    g = cr.tensor([3.0, 4.0], dtype=F64)
    (x + 0).backward(grad=g)
    x.grad += 1
    assert g.tolist() == [3.0, 4.0]
    x2 = cr.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    x2.backward(grad=g)                        # the root is the leaf itself
    x2.grad += 1
    assert g.tolist() == [3.0, 4.0]


def test_transform_results_are_owned(backend):
    a = cr.tensor([1.0, 2.0], dtype=F64)
    b = cr.tensor([3.0, 4.0], dtype=F64)
    ga, gb = cr.grad(lambda a, b: (a + b).sum(), argnums=(0, 1))(a, b)
    assert not np.shares_memory(ga.numpy(), gb.numpy())
    ga += 1
    assert gb.tolist() == [1.0, 1.0]


def test_grads_accumulate_in_their_own_memory(backend):
    x = cr.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    (x * 3).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0] and first is x.grad


# ------------------------------------------------------- random programs vs torch

VIEWS = ["rows", "col", "T", "flat", "unsqueeze", "detach", "first"]
USES = ["square", "exp", "times_w"]
EDITS = ["add", "mul", "mul_w", "set_w", "copy_w", "nograd_add"]

step = st.one_of(
    st.tuples(st.just("view"), st.integers(0, 7), st.sampled_from(VIEWS)),
    st.tuples(st.just("use"), st.integers(0, 7), st.sampled_from(USES)),
    st.tuples(st.just("edit"), st.integers(0, 7), st.sampled_from(EDITS)),
)


class Lib:
    """The few operations a program needs, spelled for chainrule or torch."""

    def __init__(self, lib):
        self.lib = lib

    def leaf(self, value):
        if self.lib is torch:
            return torch.tensor(value, dtype=torch.float64, requires_grad=True)
        return cr.tensor(value, dtype=F64, requires_grad=True)

    def no_grad(self):
        return torch.no_grad() if self.lib is torch else cr.no_grad()

    def view(self, v, kind):
        shape = tuple(v.shape)
        if kind == "rows" and len(shape) >= 1 and shape[0] >= 2:
            return v[1:]
        if kind == "col" and len(shape) == 2:
            return v[:, 1]
        if kind == "T" and len(shape) == 2:
            return v.T
        if kind == "flat" and len(shape) == 2 and self.contiguous(v):
            return v.reshape(-1) if self.lib is torch else v.reshape((-1,))
        if kind == "unsqueeze":
            return v.unsqueeze(0) if self.lib is torch else cr.expand_dims(v, 0)
        if kind == "detach":
            return v.detach()
        if kind == "first" and len(shape) >= 1:
            return v[0]                        # a 0-d view when v is 1-d
        return None

    def contiguous(self, v):
        if self.lib is torch:
            return v.is_contiguous()
        return v.numpy().flags.c_contiguous

    def use(self, v, kind, w):
        if kind == "square":
            return v * v
        if kind == "exp":
            return v.exp() if self.lib is torch else cr.exp(v)
        return v * w

    def edit(self, v, kind, w):
        if kind == "add":
            v += 0.5
        elif kind == "mul":
            v *= 1.5
        elif kind == "mul_w":
            v *= w
        elif kind == "set_w":
            v[0] = w
        elif kind == "copy_w":
            v.copy_(w * 1 if self.lib is torch else cr.broadcast_to(w, v.shape))
        elif kind == "nograd_add":
            with self.no_grad():
                v += 0.25


X0, W0 = data((3, 2), "positive", 3), 1.25


def run(program, lib, x0=X0, w0=W0, value_only=False):
    """Run ``program`` with library ``lib`` (chainrule on the current backend, or torch);
    returns (grad of x, grad of w), or the exception; with ``value_only`` the loss."""
    L = Lib(lib)
    x = L.leaf(np.asarray(x0).tolist())
    w = L.leaf(float(w0))
    y = x * 1.5
    aliases, outputs = [y], []
    try:
        for kind, i, what in program:
            v = aliases[i % len(aliases)]
            if kind == "view":
                view = L.view(v, what)
                if view is not None:
                    aliases.append(view)
            elif kind == "use":
                outputs.append(L.use(v, what, w))
            elif tuple(v.shape) != () or what != "set_w":
                L.edit(v, what, w)
        loss = y.sum() * 0.5
        for t in outputs + aliases:
            loss = loss + (t * t).sum()
        if value_only:
            return float(loss.item())
        loss.backward()
    except (RuntimeError, cr.ChainruleError, IndexError) as exc:
        return exc
    grad = lambda t: None if t.grad is None else np.asarray(  # noqa: E731
        t.grad.detach().numpy() if lib is torch else t.grad.numpy())
    return grad(x), grad(w)


def finite_differences(program, eps=1e-6):
    """The gradient of the program's loss in (x, w) by central differences (chainrule's
    forward values only, without recording)."""
    def loss(x0, w0):
        with cr.no_grad():
            return run(program, cr, x0, w0, value_only=True)
    gx = np.zeros_like(X0)
    for i in np.ndindex(X0.shape):
        e = np.zeros_like(X0)
        e[i] = eps
        gx[i] = (loss(X0 + e, W0) - loss(X0 - e, W0)) / (2 * eps)
    return gx, (loss(X0, W0 + eps) - loss(X0, W0 - eps)) / (2 * eps)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(program=st.lists(step, min_size=1, max_size=7))
def test_random_programs_with_inplace_edits_through_views(backend, program):
    """chainrule raises, or gives torch's gradients: never a third answer.  Where torch
    refuses a program chainrule can run, finite differences judge (a program without
    detach(), whose meaning differs from the plain function's)."""
    ours = run(program, cr)
    if isinstance(ours, Exception):
        assert isinstance(ours, cr.ChainruleError), ours   # our own documented error, no crash
        return
    theirs = run(program, torch)
    if isinstance(theirs, Exception):
        assume(all(what != "detach" for _, _, what in program))
        theirs = finite_differences(program)
        rtol, atol = 1e-5, 1e-6
    else:
        rtol, atol = 1e-10, 1e-12
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(0 if a is None else a, 0 if b is None else b, rtol=rtol, atol=atol)


def test_an_optimizer_step_keeps_saved_outputs_sharing_the_parameters_memory(backend):
    """A parameter made from an op's output (detach) shares that memory: the step must not
    change what the op's rule reads."""
    x = cr.tensor([0.1, 0.2], dtype=F64, requires_grad=True)
    y = cr.exp(x)
    p = y.detach().requires_grad_()
    (p * p).sum().backward()
    cr.optim.create("sgd", [p], lr=0.5).step()
    y.sum().backward()
    assert_close(x.grad, np.exp([0.1, 0.2]))


def test_a_slice_the_backend_must_copy_refuses_writes(backend):
    """torch has no negative strides: x[::-1] is a copy there, a view on NumPy.  Writing
    into it must change x (NumPy) or raise (torch), never silently miss x."""
    x = cr.tensor([1.0, 2.0, 3.0], dtype=F64)
    r = x[::-1]
    try:
        with cr.no_grad():
            r += 10
    except cr.InplaceError as err:
        assert "copy" in str(err) and backend != "numpy"
        assert x.tolist() == [1.0, 2.0, 3.0] and r.tolist() == [3.0, 2.0, 1.0]
    else:
        assert x.tolist() == [11.0, 12.0, 13.0] and r.tolist() == [13.0, 12.0, 11.0]
    x[::-1] = cr.tensor([4.0, 5.0, 6.0], dtype=F64)      # assignment through x works everywhere
    assert x.tolist() == [6.0, 5.0, 4.0]


def test_reversed_slices_differentiate_on_every_backend(backend):
    x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=F64, requires_grad=True)
    w = cr.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=F64)
    (x[::-1, ::-2] * w).sum().backward()
    xt = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64, requires_grad=True)
    (xt.flip(0).flip(1)[:, ::2] * torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)).sum().backward()
    assert_close(x.grad, xt.grad)


@pytest.mark.parametrize("op", ["exp", "tanh", "sqrt", "expm1", "sigmoid", "sin"])
def test_changing_an_input_only_raises_when_the_rule_reads_it(backend, op):
    """exp's rule reads its output, sin's its input: as in torch, modifying the input
    after the op is fine for the first and an error for the second."""
    ours = getattr(cr.nn, op, None) if op == "sigmoid" else getattr(cr, op)
    theirs = getattr(torch, op)
    x = cr.tensor([0.3, 0.7], dtype=F64, requires_grad=True)
    xt = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    h, ht = x * 1, xt * 1
    y, yt = ours(h), theirs(ht)
    with cr.no_grad():
        h += 1
    with torch.no_grad():
        ht += 1
    try:
        yt.sum().backward()
    except RuntimeError:
        with pytest.raises(cr.InplaceError, match=op):
            y.sum().backward()
    else:
        y.sum().backward()
        assert_close(x.grad, xt.grad)

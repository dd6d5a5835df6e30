"""Autograd-engine semantics against torch (the oracle): classes of silently wrong answers.

Covers, each as a whole class (parametrized over backends, functions and variants):

* ``backward(grad=g, create_graph=True)`` with a cotangent ``g`` that requires grad: the
  gradients must stay differentiable in ``g`` (torch's double-backward / double-vjp trick),
  not silently drop ``g``'s graph.
* ``x.requires_grad_(False)`` after x was used in a graph: a later ``backward()`` leaves
  ``x.grad`` alone, as torch's AccumulateGrad does.
* Ops that return new memory in NumPy and torch (``roll`` with no net shift, ``clip`` with
  no bounds, ``tile``) must not hand back an alias of their input: an in-place change of
  the result must neither reach the input (values, gradients) nor be refused.
* ``cr.checkpoint`` of a function that reads an outside tensor through a view it makes
  (``b[1]``, ``b.detach()``, ``b.T``) which is then changed in place before backward: plain
  f raises InplaceError, so must the checkpointed f (not recompute with the new values).
* ``cr.checkpoint`` of a function that updates closed-over state in place before reading
  it: the recomputation reads other values than the forward did, so backward must raise,
  never return a gradient that differs from the plain function's.
* ``jacfwd`` / ``jacrev`` / ``hessian`` of functions with tuple outputs and tuple
  ``argnums`` give torch.func's (and JAX's) nested structure instead of crashing.
"""
import contextlib
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from backend_fixtures import backend  # noqa: F401

F64 = "float64"
tf = torch.func


def C(v, requires_grad=False):
    return cr.tensor(np.asarray(v, dtype=np.float64), dtype=F64, requires_grad=requires_grad)


def T(v, requires_grad=False):
    return torch.tensor(np.asarray(v, dtype=np.float64), dtype=torch.float64,
                        requires_grad=requires_grad)


def close(ours, theirs):
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs):
            close(a, b)
        return
    assert ours is not None, "chainrule gave no gradient where torch gives one"
    a = ours.numpy() if isinstance(ours, cr.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy()
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# ------------------------------------------- backward(grad=g, create_graph=True), g tracked

FUNCTIONS = {
    "square": lambda m, x: x * x,
    "sin_times_first": lambda m, x: m.sin(x) * x[0],
    "exp_tanh": lambda m, x: m.exp(m.tanh(x)) * 2.0,
    "matmul": lambda m, x: x.reshape((2, 2)) @ x.reshape((2, 2)),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_cotangent_that_requires_grad_stays_in_the_graph(backend, name):
    """y.backward(u, create_graph=True): x.grad = J^T u is differentiable in u too, so the
    double-vjp trick (d/du <x.grad, v> = J v) works as in torch."""
    f = FUNCTIONS[name]
    x0, u0, v0 = [0.3, -1.2, 0.7, 2.0], [1.0, -2.0, 0.5, 0.25], [0.5, 1.0, -1.0, 2.0]
    results = []
    for m, mk in ((cr, C), (torch, T)):
        x, u = mk(x0, True), mk(u0, True)
        y = f(m, x)
        u_shaped = u.reshape(tuple(y.shape))
        y.backward(u_shaped, create_graph=True)
        gx = x.grad
        x.grad = None
        (gx * mk(v0)).sum().backward()
        results.append((u.grad, x.grad))
    (ours_u, ours_x), (theirs_u, theirs_x) = results
    close(ours_u, theirs_u)
    close(ours_x, theirs_x)


# ------------------------------------------------- requires_grad_(False) after recording

@pytest.mark.parametrize("create_graph", [False, True])
def test_a_tensor_that_stopped_requiring_grad_gets_no_grad(backend, create_graph):
    ours = C([1.0, 2.0], True)
    theirs = T([1.0, 2.0], True)
    for x in (ours, theirs):
        y = (x * x).sum()
        x.requires_grad_(False)
        y.backward(create_graph=create_graph)
    assert theirs.grad is None
    assert ours.grad is None


# ------------------------------------------------------ copying ops never alias the input

COPYING = {
    # name: (chainrule op, torch op); NumPy and torch both return new memory for each
    "roll_by_zero": (lambda x: cr.roll(x, 0), lambda x: torch.roll(x, 0)),
    "roll_by_size": (lambda x: cr.roll(x, 6), lambda x: torch.roll(x, 6)),
    "roll_axis_by_zero": (lambda x: cr.roll(x, 0, axis=1), lambda x: torch.roll(x, 0, 1)),
    "roll_axes_cancelling": (lambda x: cr.roll(x, (1, -1), axis=(1, 1)),
                             lambda x: torch.roll(x, (1, -1), (1, 1))),
    "roll_full_turn_axis": (lambda x: cr.roll(x, 3, axis=1), lambda x: torch.roll(x, 3, 1)),
    "clip_without_bounds": (lambda x: cr.clip(x, None, None), lambda x: x.clone()),
    "tile_once": (lambda x: cr.tile(x, 1), lambda x: torch.tile(x, (1,))),
    "tile_ones": (lambda x: cr.tile(x, (1, 1)), lambda x: torch.tile(x, (1, 1))),
    "tile_new_axis": (lambda x: cr.tile(x, (2, 1, 1)), lambda x: torch.tile(x, (2, 1, 1))),
}


@pytest.mark.parametrize("name", sorted(COPYING))
def test_an_op_that_copies_in_numpy_returns_new_memory(backend, name):
    """Writing into the result changes the result only (NumPy's and torch's semantics)."""
    op = COPYING[name][0]
    x0 = np.arange(6.0).reshape(2, 3)
    x = C(x0)
    y = op(x)
    y[(0,) * y.ndim] = 100.0
    np.testing.assert_array_equal(x.numpy(), x0)
    assert float(y.numpy().flat[0]) == 100.0


@pytest.mark.parametrize("name", sorted(COPYING))
def test_an_inplace_change_of_a_copy_leaves_the_input_gradient_alone(backend, name):
    """h = x * 1; y = op(h); y *= w: h keeps its values, so loss(h, y) has torch's gradients."""
    results = []
    for lib, mk in ((0, C), (1, T)):
        op = COPYING[name][lib]
        x, w = mk(np.arange(1.0, 7.0).reshape(2, 3), True), mk(2.0, True)
        h = x * 1
        y = op(h)
        y *= w
        ((h * h).sum() + (y * y).sum()).backward()
        results.append((x.grad, w.grad, h))
    close(results[0][0], results[1][0])
    close(results[0][1], results[1][1])
    close(results[0][2], results[1][2])


# ------------------------------------- checkpoint of a function that updates outside state

def _mutations():
    def iadd(buf):
        with cr.no_grad():
            buf += 1.0

    def setitem(buf):
        with cr.no_grad():
            buf[1] = buf[1] * 2.0

    def copy(buf):
        with cr.no_grad():
            buf.copy_(buf * 0.5 + 1.0)

    def mul_through_view(buf):
        with cr.no_grad():
            buf[1:] *= 3.0
    return {f.__name__: f for f in (iadd, setitem, copy, mul_through_view)}


MUTATIONS = _mutations()


@pytest.mark.parametrize("use", ["times", "plus_then_exp", "slice_of_it"])
@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_checkpoint_of_a_function_updating_closed_over_state_never_differs_silently(
        backend, mutation, use):
    """f updates a closed-over buffer in place, then reads it.  Recomputing f in backward
    updates it again: the gradient must be f's own, or backward raises; never a third one."""
    uses = {
        "times": lambda x, buf: cr.sum(cr.sin(x * buf)),
        "plus_then_exp": lambda x, buf: cr.sum(cr.exp(x + buf) * x),
        "slice_of_it": lambda x, buf: cr.sum(cr.tanh(x[1:] * buf[1:]) ** 2),
    }

    def run(checkpointed):
        buf = C([1.0, 2.0, 3.0])
        x = C([0.3, -0.4, 0.5], True)

        def f(x):
            MUTATIONS[mutation](buf)
            return uses[use](x, buf)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = (cr.checkpoint(f) if checkpointed else f)(x)
        y.backward()
        return x.grad.numpy()
    expected = run(False)
    try:
        got = run(True)
    except cr.ChainruleError:
        return
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


VIEWS = {
    "slice": lambda b: b[:, :],
    "row": lambda b: b[1],
    "detach": lambda b: b.detach(),
    "reshape": lambda b: b.reshape((2, 2)),
    "transpose_twice": lambda b: b.T.T,
    "expand_dims": lambda b: cr.expand_dims(b, 0),
}


@pytest.mark.parametrize("edit", ["iadd", "setitem"])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_checkpoint_sees_a_change_made_after_the_forward_through_a_temporary_view(
        backend, view, edit):
    """f reads an outside tensor through a view it makes (b[1], b.detach(), b.T.T...), and
    the tensor changes in place before backward: plain f raises InplaceError, so must the
    checkpointed f (the view died with the saved values, its memory did not)."""
    for checkpointed in (False, True):
        buf = C([[1.0, 2.0], [3.0, 4.0]])
        x = C([[0.3, -0.4], [0.5, 0.6]], True)
        f = lambda x: cr.sum(cr.sin(x * VIEWS[view](buf)))   # noqa: E731
        y = (cr.checkpoint(f) if checkpointed else f)(x)
        with cr.no_grad():
            if edit == "iadd":
                buf += 10.0
            else:
                buf[0, 1] = 7.0
        with pytest.raises(cr.InplaceError):
            y.backward()


# ----------------------------------------------- Jacobians of trees: tuple outputs, argnums

def test_jacobians_of_a_tuple_output_match_torch_func(backend):
    x0 = [0.5, -1.0, 2.0]
    fc = lambda x: (cr.sin(x) * x[0], cr.sum(x * x))           # noqa: E731
    ft = lambda x: (torch.sin(x) * x[0], (x * x).sum())        # noqa: E731
    close(cr.jacrev(fc)(C(x0)), tf.jacrev(ft)(T(x0)))
    close(cr.jacfwd(fc)(C(x0)), tf.jacfwd(ft)(T(x0)))


@pytest.mark.parametrize("jac", ["jacrev", "jacfwd"])
def test_jacobians_of_tuple_outputs_with_tuple_argnums_match_torch_func(backend, jac):
    x0, y0 = [0.5, -1.0], [2.0, 0.3, -0.7]
    fc = lambda x, y: (cr.sum(x) * y, cr.sum(cr.sin(x)) * cr.sum(y))   # noqa: E731
    ft = lambda x, y: (x.sum() * y, torch.sin(x).sum() * y.sum())       # noqa: E731
    close(getattr(cr, jac)(fc, argnums=(0, 1))(C(x0), C(y0)),
          getattr(tf, jac)(ft, argnums=(0, 1))(T(x0), T(y0)))


@pytest.mark.parametrize("argnums", [(0, 1), (1, 0), (1,)])
def test_hessian_with_tuple_argnums_matches_torch_func(backend, argnums):
    x0, y0 = [0.5, -1.0], [2.0, 0.3, -0.7]
    fc = lambda x, y: cr.sum(cr.sin(x)) * cr.sum(y * y) + cr.sum(x * x) * y[0]      # noqa: E731
    ft = lambda x, y: torch.sin(x).sum() * (y * y).sum() + (x * x).sum() * y[0]     # noqa: E731
    close(cr.hessian(fc, argnums=argnums)(C(x0), C(y0)),
          tf.hessian(ft, argnums=argnums)(T(x0), T(y0)))


# ------------------------------------------- no_grad inside a transformed function (torch.func's rule)

def _grad_modes(lib):
    """f(x) with a part computed under no_grad (and one under enable_grad inside that) in lib."""
    m = cr if lib == "cr" else torch
    s = (lambda v: cr.sum(v)) if lib == "cr" else (lambda v: v.sum())

    def only_no_grad(x):
        with m.no_grad():
            c = x ** 2
        return s(x * m.sin(x) - c * x)

    def re_enabled(x):
        with m.no_grad():
            with m.enable_grad():
                c = x ** 2
            d = m.exp(x)
        return s(x * c - d * x)

    def decorated(x):
        @m.no_grad()
        def constant(v):
            return m.tanh(v) * v
        return s(constant(x) * x + x ** 3)

    def transform_inside(x):   # a transform called inside no_grad still differentiates
        grad = cr.grad if lib == "cr" else tf.grad
        with m.no_grad():
            inner = grad(lambda y: s(y ** 3))(x)
        return s(inner * x)
    return dict(only_no_grad=only_no_grad, re_enabled=re_enabled, decorated=decorated,
                transform_inside=transform_inside)


TRANSFORMS = {
    "grad": (lambda f: cr.grad(f), lambda f: tf.grad(f)),
    "vjp": (lambda f: lambda x: cr.vjp(f, x)[1](C(1.5))[0],
            lambda f: lambda x: tf.vjp(f, x)[1](T(1.5))[0]),
    "jacrev": (lambda f: cr.jacrev(f), lambda f: tf.jacrev(f)),
    "jacfwd": (lambda f: cr.jacfwd(f), lambda f: tf.jacfwd(f)),
    "hessian": (lambda f: cr.hessian(f), lambda f: tf.hessian(f)),
    "grad_of_grad_sum": (lambda f: cr.grad(lambda x: cr.sum(cr.grad(f)(x) * x)),
                         lambda f: tf.grad(lambda x: (tf.grad(f)(x) * x).sum())),
    "vmap_grad": (lambda f: lambda x: cr.vmap(cr.grad(f))(cr.stack([x, x * 2])),
                  lambda f: lambda x: tf.vmap(tf.grad(f))(torch.stack([x, x * 2]))),
    "jvp": (lambda f: lambda x: cr.jvp(f, (x,), (cr.ones_like(x),))[1],
            lambda f: lambda x: tf.jvp(f, (x,), (torch.ones_like(x),))[1]),
}


@pytest.mark.parametrize("outer_no_grad", [False, True])
@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("program", ["only_no_grad", "re_enabled", "decorated", "transform_inside"])
def test_no_grad_inside_a_transformed_function_is_obeyed_as_in_torch_func(program, transform,
                                                                          outer_no_grad):
    """Inside f of cr.grad(f) (and vjp, jacrev, hessian...), a value computed under cr.no_grad is
    a constant, as in torch.func; an enable_grad block inside it records again; a transform
    called inside the block still differentiates; a no_grad around the whole call is ignored
    (the answer must not depend on it); forward mode (jvp, jacfwd) never stops."""
    ours, theirs = TRANSFORMS[transform]
    x = [0.3, -1.2, 0.7]
    with (cr.no_grad() if outer_no_grad else contextlib.nullcontext()):
        got = ours(_grad_modes("cr")[program])(C(x))
    with (torch.no_grad() if outer_no_grad else contextlib.nullcontext()):
        want = theirs(_grad_modes("torch")[program])(T(x))
    close(got, want)


@pytest.mark.parametrize("how", ["backward", "grad", "jvp", "vjp"])
def test_an_op_returning_a_tuple_is_refused_by_name_when_differentiated(backend, how):
    """A differentiable op has one output (its VJP takes one cotangent): a plugin op whose
    forward returns a tuple raises a RegistryError naming it and the fix whenever it is
    differentiated (an AttributeError from deep inside before); unrecorded, it still runs."""
    name = "two_outputs_for_test"
    if name not in cr.ops.names():
        cr.ops.register(name, lambda x: (cr.sin(x), cr.cos(x)), vjp=lambda ans, x: lambda g: g)
    op = getattr(cr, name)
    x = cr.tensor([0.5, 1.0], dtype=F64, backend=backend, requires_grad=True)
    calls = {"backward": lambda: op(x),
             "grad": lambda: cr.grad(lambda v: cr.sum(op(v)[0]))(x),
             "jvp": lambda: cr.jvp(op, (x,), (cr.ones_like(x),)),
             "vjp": lambda: cr.vjp(op, x)}
    with pytest.raises(cr.RegistryError, match=f"{name}.*returned a tuple.*one op per output"):
        calls[how]()
    with cr.no_grad():
        s, c = op(x)
    np.testing.assert_allclose(s.numpy(), np.sin([0.5, 1.0]))


# ------------------------------------------- random draws inside vmap (torch.func's randomness=)

DRAWS = {
    "normal": lambda x: x + cr.random.normal(x.shape, dtype=F64),
    "uniform": lambda x: x + cr.random.uniform(x.shape, dtype=F64),
    "randint": lambda x: x + cr.random.randint(0, 5, x.shape).astype(F64),
    "permutation": lambda x: x[cr.random.permutation(x.shape[0])],
    "dropout_of_an_unbatched_value": lambda x: x + cr.nn.dropout(cr.ones(x.shape, dtype=F64), 0.5),
}


@pytest.mark.parametrize("draw", sorted(DRAWS))
def test_a_random_draw_inside_vmap_raises_unless_randomness_same(draw):
    """A loop over examples draws anew for each; a draw inside vmap is one draw for the whole
    batch: by default it raises (torch.func's randomness='error'), naming both fixes;
    randomness='same' allows it and every example sees the same draw."""
    xs = C(np.arange(12.0).reshape(3, 4))
    with pytest.raises(ValueError, match="inside cr.vmap.*randomness='same'"):
        cr.vmap(DRAWS[draw])(xs)
    cr.random.seed(3)
    out = cr.vmap(DRAWS[draw], randomness="same")(xs) - xs if draw != "permutation" else None
    if out is not None:   # the same draw for every example
        np.testing.assert_allclose(out.numpy(), np.broadcast_to(out.numpy()[:1], out.shape), atol=1e-12)
    with pytest.raises(ValueError, match="randomness must be"):
        cr.vmap(DRAWS[draw], randomness="different")


@pytest.mark.parametrize("jac", ["jacfwd", "jacrev", "hessian"])
def test_jacobians_of_a_function_that_draws_use_one_draw(jac):
    """jacfwd/jacrev/hessian evaluate f once (their inner vmap shares its draws): the Jacobian
    of dropout is diag(mask / (1 - p)) for the mask the same seed gives a plain call."""
    x = C([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    f = (lambda v: cr.nn.dropout(v, 0.5)) if jac != "hessian" else (lambda v: cr.sum(cr.nn.dropout(v * v, 0.5)))
    cr.random.seed(5)
    got = getattr(cr, jac)(f)(x).numpy()
    cr.random.seed(5)
    mask = (cr.nn.dropout(cr.ones((6,), dtype=F64), 0.5)).numpy()
    want = np.diag(mask) if jac != "hessian" else np.diag(2 * mask)
    np.testing.assert_array_equal(got, want)


# ------------------------------------------- x.numpy() never lets a write reach the tensor

NUMPY_SOURCES = {
    "leaf": lambda x: x,
    "result": lambda x: x * 2.0,
    "slice_view": lambda x: x[1:],
    "transpose_view": lambda x: cr.reshape(x, (2, 2)).T,
    "detach": lambda x: x.detach(),
    "grad": lambda x: (cr.sum(x * x).backward(), x.grad)[1],
}


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
@pytest.mark.parametrize("source", sorted(NUMPY_SOURCES))
def test_a_write_into_numpy_of_a_tensor_is_refused(backend, source, dtype):
    """x.numpy() shares the tensor's memory where the backend can (NumPy, torch on the CPU): a
    write into it changed a value saved for backward with no version bump, so the gradient was
    silently wrong (sum(x * x) gave [100, 4, 6] for x = [1, 2, 3] after n[0] = 50).  It is a
    read-only view now, as JAX's; x.numpy().copy() is the writable copy."""
    x = cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=dtype, backend=backend, requires_grad=True)
    t = NUMPY_SOURCES[source](x)
    before = t.numpy().astype(np.float64).copy()
    with pytest.raises(ValueError, match="read-only"):
        t.numpy()[0] = 50.0
    editable = t.numpy().copy()
    editable[...] = 7.0
    np.testing.assert_array_equal(t.numpy().astype(np.float64), before)
    x.grad = None
    cr.sum(x * x).backward()
    np.testing.assert_array_equal(x.grad.numpy().astype(np.float64), [2.0, 4.0, 6.0, 8.0])


@pytest.mark.parametrize("call", ["sin", "asarray", "sum_of_product"])
def test_numpy_refuses_a_tensor_in_the_graph_instead_of_dropping_its_gradient(backend, call):
    """np.sin(x) on a tensor that requires grad (or inside cr.grad) would compute outside the
    graph: cr.sum(x * np.sin(x)) would lose the x cos(x) part of the gradient silently.  It
    raises, as torch refuses; the values of x.detach() still reach NumPy."""
    fns = {"sin": np.sin, "asarray": np.asarray,
           "sum_of_product": lambda v: cr.sum(v * np.sin(v))}
    x = cr.tensor([0.5, 1.0], dtype=F64, backend=backend, requires_grad=True)
    with pytest.raises(TypeError, match="cr.sin"):
        fns[call](x)
    with pytest.raises(TypeError, match="cr.sin"):
        cr.grad(lambda v: cr.sum(v * np.sin(v)))(x.detach())
    np.testing.assert_array_equal(np.sin(x.detach()), np.sin([0.5, 1.0]))

"""Ops at their edges, against torch 2.13 (float64) as the oracle, on every backend.

Non-smooth and singular points (ties, NaN, zeros, bounds, constants) are where an engine's
rules are most often silently wrong.  One table: for each op and edge input, the value, the
VJP (``backward()`` and ``cr.grad``), the JVP, and the second order (forward over reverse
and reverse over reverse) must equal torch's, nan and inf included.
"""
import numpy as np
import pytest

import chainrule as cr
from backend_fixtures import backend  # noqa: F401  (a pytest fixture)

torch = pytest.importorskip("torch", reason="torch 2.13 is the oracle (pip install -e '.[test]')")
from torch import func as tfunc  # noqa: E402

F64 = "float64"
NAN, INF = float("nan"), float("inf")
ALL_MODES = ("value", "backward", "grad", "jvp", "fwd_rev", "rev_rev")


def _weights(shape, scale):
    """Distinct weights 1, 2, 3, ... (times scale): a cotangent or tangent that tells
    apart where a gradient went (split in halves, sent to one entry, ...)."""
    n = int(np.prod(shape, dtype=int))
    return np.arange(1.0, n + 1.0).reshape(shape) ** 1.5 * scale   # not a ramp: no direction is special


class Edge:
    """One op at one edge input: chainrule's function, torch's, the inputs (float64 NumPy
    arrays), the modes torch defines there (a mode left out says why in ``why``)."""

    def __init__(self, name, ours, theirs, *inputs, modes=ALL_MODES, why="", rtol=1e-12):
        self.name, self.ours, self.theirs, self.rtol = name, ours, theirs, rtol
        self.inputs = [np.asarray(a, dtype=np.float64) for a in inputs]
        self.modes, self.why = modes, why

    def __repr__(self):
        return self.name


def _check(ours, theirs, what, edge):
    ours = [np.asarray(o.numpy() if isinstance(o, cr.Tensor) else o) for o in ours]
    theirs = [t.detach().numpy(force=True) for t in theirs]   # force: torch's ZeroTensor
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert o.shape == t.shape, f"{edge}: {what} of argument {i}: shape {o.shape} != torch {t.shape}"
        rtol = getattr(edge, "rtol", 1e-12)
        np.testing.assert_allclose(o, t, rtol=rtol, atol=rtol * 1e-2, equal_nan=True,
                                   err_msg=f"{edge}: {what} of argument {i} differs from torch")


def run_edge(edge):
    """Compare every mode of ``edge`` with torch (see the module docstring)."""
    xs = [cr.tensor(a, dtype=F64) for a in edge.inputs]
    txs = tuple(torch.tensor(a) for a in edge.inputs)
    argnums = tuple(range(len(xs)))
    tout = edge.theirs(*txs)
    w = _weights(tuple(tout.shape), 0.5)
    tangents = [_weights(a.shape, 0.1) for a in edge.inputs]
    ct = [_weights(a.shape, -0.3) for a in edge.inputs]   # the second order's direction

    def loss(*a):
        return cr.sum(edge.ours(*a) * cr.tensor(w, dtype=F64))

    def tloss(*a):
        return (edge.theirs(*a) * torch.tensor(w)).sum()

    def ours_grad(*a):
        return cr.grad(loss, argnums=argnums)(*a)

    def theirs_grad(*a):
        return tfunc.grad(tloss, argnums=argnums)(*a)

    if "value" in edge.modes:
        _check([edge.ours(*xs)], [tout], "value", edge)
    if "backward" in edge.modes:   # eager: the rules on raw arrays
        leaves = [cr.tensor(a, dtype=F64, requires_grad=True) for a in edge.inputs]
        loss(*leaves).backward()
        zeros = [np.zeros(a.shape) for a in edge.inputs]
        _check([z if x.grad is None else x.grad for x, z in zip(leaves, zeros)],
               theirs_grad(*txs), "backward()", edge)
    if "grad" in edge.modes:
        _check(ours_grad(*xs), theirs_grad(*txs), "cr.grad", edge)
    if "jvp" in edge.modes:
        _, t_out = cr.jvp(edge.ours, xs, [cr.tensor(t, dtype=F64) for t in tangents])
        _, tt_out = tfunc.jvp(edge.theirs, txs, tuple(torch.tensor(t) for t in tangents))
        _check([t_out], [tt_out], "jvp", edge)
    if "fwd_rev" in edge.modes:    # jvp of grad: a Hessian-vector product, forward over reverse
        _, hv = cr.jvp(ours_grad, xs, [cr.tensor(t, dtype=F64) for t in tangents])
        _, thv = tfunc.jvp(theirs_grad, txs, tuple(torch.tensor(t) for t in tangents))
        _check(hv, thv, "jvp(grad)", edge)
    if "rev_rev" in edge.modes:    # grad of <grad, c>: reverse over reverse

        def ours_inner(*a):
            return sum(cr.sum(g * cr.tensor(c, dtype=F64)) for g, c in zip(ours_grad(*a), ct))

        def theirs_inner(*a):
            return sum((g * torch.tensor(c)).sum() for g, c in zip(theirs_grad(*a), ct))
        _check(cr.grad(ours_inner, argnums=argnums)(*xs),
               tfunc.grad(theirs_inner, argnums=argnums)(*txs), "grad(grad)", edge)


# ---------------------------------------------------------------- the table

def _powers():
    x = [0.0, -2.0, 2.0, -0.5]
    edges = [Edge(f"x**{p}", lambda x, p=p: x ** p, lambda x, p=p: x ** p, x)
             for p in (0, 1, 2, 3, -1, -2, 0.0, 1.0, 2.0, 0.5, 2.5)]
    # tensor exponents: the derivative in the exponent at x = 0 is 0 for y >= 0 (as torch)
    xs = [0.0, 0.0, 0.0, 0.0, 0.0, -2.0, -2.0, 2.0, 0.0]
    ys = [0.0, 1.0, 2.0, -1.0, 0.5, 2.0, 0.0, -1.5, 3.0]
    edges.append(Edge("power(x, y)", cr.power, torch.pow, xs, ys))
    edges.append(Edge("2**y", lambda y: 2.0 ** y, lambda y: 2.0 ** y, ys))
    edges.append(Edge("0**y", lambda y: 0.0 ** y, lambda y: 0.0 ** y, ys))
    return edges


def _selections():
    x = [1.0, 2.0, NAN, 3.0, NAN, -1.0, 0.0]
    y = [1.0, 3.0, 1.0, NAN, NAN, -2.0, 0.0]
    return [
        Edge("maximum", cr.maximum, torch.maximum, x, y),
        Edge("minimum", cr.minimum, torch.minimum, x, y),
        Edge("maximum(x, x)", lambda x: cr.maximum(x, x), lambda x: torch.maximum(x, x), x),
        Edge("where", lambda c, x, y: cr.where(c > 0, x, y), lambda c, x, y: torch.where(c > 0, x, y),
             [1.0, -1.0, 1.0, -1.0], [INF, NAN, 2.0, 3.0], [NAN, -INF, 5.0, 0.0]),
        Edge("where(x > 0, sqrt(x), 0)", lambda x: cr.where(x > 0, cr.sqrt(x), 0.0),
             lambda x: torch.where(x > 0, torch.sqrt(x), 0.0), [0.0, 4.0, -1.0]),
        Edge("clip at the bounds", lambda x: cr.clip(x, -1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0),
             [-1.0, 1.0, 0.0, 2.0, -3.0, NAN]),
        Edge("clip below", lambda x: cr.clip(x, min=0.0), lambda x: torch.clamp(x, min=0.0), [0.0, -1.0, 1.0]),
        Edge("clip above", lambda x: cr.clip(x, max=0.0), lambda x: torch.clamp(x, max=0.0), [0.0, -1.0, 1.0]),
    ]


def _kinks():
    x = [0.0, -0.0, 1.5, -1.5]
    return [
        Edge("abs", cr.abs, torch.abs, x),
        Edge("sqrt at 0", cr.sqrt, torch.sqrt, [0.0, 4.0, 0.25]),
        Edge("sqrt below 0", cr.sqrt, torch.sqrt, [-1.0, 1.0]),
        Edge("log at 0", cr.log, torch.log, [0.0, 1.0, -1.0]),
        Edge("divide by 0", cr.divide, torch.div, [1.0, 0.0, -1.0, 2.0], [0.0, 0.0, 0.0, 4.0]),
        Edge("relu", cr.nn.relu, torch.relu, x),
        Edge("leaky_relu", lambda x: cr.nn.leaky_relu(x, 0.1), lambda x: torch.nn.functional.leaky_relu(x, 0.1), x),
        Edge("sign", lambda x: cr.sign(x) * x, lambda x: torch.sign(x) * x, x),
    ]


def _reductions():
    ties = [[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]]
    nan_row = [[1.0, NAN, 3.0], [2.0, 0.5, -1.0]]
    two_nans = [1.0, NAN, 3.0, NAN]
    const = [[2.0, 2.0, 2.0], [1.0, 3.0, 5.0]]
    edges = []
    for name, ours, full, dim in (("max", cr.max, torch.Tensor.max, torch.amax),
                                  ("min", cr.min, torch.Tensor.min, torch.amin)):
        edges += [
            Edge(f"{name} ties", ours, full, ties),
            Edge(f"{name}(axis=1) ties", lambda x, o=ours: o(x, axis=1), lambda x, d=dim: d(x, 1), ties),
            Edge(f"{name}(axis=0) ties", lambda x, o=ours: o(x, axis=0, keepdims=True),
                 lambda x, d=dim: d(x, 0, keepdim=True), ties),
            # NaN propagates and the gradient goes to the NaN, split between NaNs, as x.max()
            Edge(f"{name} NaN", ours, full, two_nans, modes=("value", "backward", "grad"),
                 why="torch's forward mode gives nan where its reverse mode picks the NaNs"),
            # one NaN in a row: the gradient goes to it, as x.max(dim) (torch.amax gives nan)
            Edge(f"{name}(axis=1) NaN", lambda x, o=ours: o(x, axis=1),
                 lambda x, f=full: f(x, 1).values, nan_row),
        ]
    edges += [
        Edge("std of a constant", lambda x: cr.std(x, axis=1), lambda x: torch.std(x, 1, correction=0), const),
        Edge("std(correction=1) of a constant", lambda x: cr.std(x, axis=1, correction=1),
             lambda x: torch.std(x, 1, correction=1), const),
        Edge("std of all", cr.std, lambda x: torch.std(x, correction=0), [[2.0, 2.0], [2.0, 2.0]]),
        Edge("var of a constant", lambda x: cr.var(x, axis=1), lambda x: torch.var(x, 1, correction=0), const),
        Edge("prod with zeros", lambda x: cr.prod(x, axis=1), lambda x: torch.prod(x, 1),
             [[0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]),
        Edge("var(correction=1) of one value", lambda x: cr.var(x, axis=1, correction=1),
             lambda x: torch.var(x, 1, correction=1), [[2.0], [3.0]]),
        Edge("logsumexp with infinities", lambda x: cr.logsumexp(x, axis=1), lambda x: torch.logsumexp(x, 1),
             [[-INF, 0.0, 1.0], [-INF, -INF, -INF], [INF, 0.0, 1.0]]),
        Edge("softmax with -inf", lambda x: cr.nn.softmax(x), lambda x: torch.softmax(x, -1),
             [[-INF, 0.0, 1.0], [-INF, 2.0, -INF]]),
        Edge("log_softmax with -inf", lambda x: cr.nn.log_softmax(x), lambda x: torch.log_softmax(x, -1),
             [[-INF, 0.0, 1.0], [-INF, 2.0, -INF]]),
        Edge("sigmoid saturated", cr.nn.sigmoid, torch.sigmoid, [-800.0, 800.0, 0.0]),
        Edge("tanh saturated", cr.tanh, torch.tanh, [-800.0, 800.0]),
        Edge("mean of infinities", lambda x: cr.mean(x, axis=1), lambda x: torch.mean(x, 1), [[INF, -INF], [INF, 1.0]]),
    ]
    return edges


EDGES = _powers() + _selections() + _kinks() + _reductions()


@pytest.mark.parametrize("edge", EDGES, ids=repr)
def test_edges_match_torch(backend, edge):
    if edge.modes != ALL_MODES:
        print(f"{edge}: only {', '.join(edge.modes)}: {edge.why}")
    run_edge(edge)


# ------------------------------------------- fancy indexing: every index kind, both directions

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis draws the indices")
from hypothesis import given, settings, strategies as st  # noqa: E402

SHAPE = (4, 3, 2)
KINDS = ("numpy", "torch", "list", "tensor")   # how an integer or bool array is written


def _as_kind(a, kind):
    if kind == "numpy":
        return a
    if kind == "torch":
        return torch.from_numpy(a)
    if kind == "list":
        return a.tolist()
    return cr.tensor(a, backend="numpy")        # a chainrule tensor, maybe of the other backend


@st.composite
def indices(draw):
    """(the index as NumPy writes it, the same with its arrays written as ``kind``)."""
    kind = draw(st.sampled_from(KINDS))
    if draw(st.integers(0, 5)) == 0:             # one boolean mask over the leading axes
        ndim = draw(st.integers(1, 2))
        mask = np.array(draw(st.lists(st.booleans(), min_size=12, max_size=12)))[:int(np.prod(SHAPE[:ndim]))]
        mask = mask.reshape(SHAPE[:ndim])
        return mask, _as_kind(mask, kind)
    parts, axis = [], 0
    for _ in range(draw(st.integers(1, 4))):
        if axis == len(SHAPE):
            break
        d = SHAPE[axis]
        choice = draw(st.sampled_from(["int_array", "int_array", "slice", "int", "none", "bool"]))
        if choice == "int_array":                  # repeats and negative entries on purpose
            n = draw(st.integers(1, 4))
            parts.append(np.array(draw(st.lists(st.integers(-d, d - 1), min_size=n, max_size=n))))
        elif choice == "bool":
            parts.append(np.array(draw(st.lists(st.booleans(), min_size=d, max_size=d))))
        elif choice == "slice":
            parts.append(slice(draw(st.integers(0, d - 1)), None, draw(st.integers(1, 2))))
        elif choice == "int":
            parts.append(draw(st.integers(-d, d - 1)))
        else:
            parts.append(None)
            continue
        axis += 1
    arrays = [p for p in parts if isinstance(p, np.ndarray)]
    if len(arrays) > 1:                            # advanced parts must broadcast together
        sizes = {a.shape[0] if a.dtype != bool else int(a.sum()) for a in arrays}
        if len(sizes - {1}) > 1:
            parts = [p if not isinstance(p, np.ndarray) or p is arrays[0] else slice(None) for p in parts]
    written = tuple(_as_kind(p, kind) if isinstance(p, np.ndarray) else p for p in parts)
    return tuple(parts), written


@settings(max_examples=60, deadline=None, derandomize=True)
@given(index=indices())
def test_fancy_indexing_forward_and_backward_on_every_backend(index):
    """x[index] with NumPy, torch, list or Tensor index arrays, on both backends: the value
    is NumPy's x[index] (NumPy's rules, also where torch's own differ: x[0, None, [0, 0]]),
    the gradient NumPy's np.add.at (repeats add up), the JVP the indexed tangent."""
    np_index, written = index
    x = np.arange(1.0, 25.0).reshape(SHAPE) ** 1.5
    expected = x[np_index]
    u = _weights(expected.shape, 0.5)
    grad = np.zeros(SHAPE)
    np.add.at(grad, np_index, u)
    expected_grad = torch.tensor(grad)
    for name in ("numpy", "torch"):
        xs = cr.tensor(x, dtype=F64, backend=name, requires_grad=True)
        out = xs[written]
        _check([out], [torch.tensor(expected)], f"x[{written!r}] on {name}", "fancy indexing")
        out.backward(cr.tensor(u, dtype=F64, backend=name))
        _check([xs.grad], [expected_grad], f"backward of x[{written!r}] on {name}", "fancy indexing")
        g = cr.grad(lambda a: cr.sum(a[written] * cr.tensor(u, dtype=F64, backend=name)))(xs.detach())
        _check([g], [expected_grad], f"cr.grad of x[{written!r}] on {name}", "fancy indexing")
        t = cr.tensor(x * 0.1, dtype=F64, backend=name)
        _, t_out = cr.jvp(lambda a: a[written], (xs.detach(),), (t,))
        _check([t_out], [torch.tensor(expected * 0.1)], f"jvp of x[{written!r}] on {name}", "fancy indexing")


def test_float_index_arrays_are_refused(backend):
    x = cr.tensor([1.0, 2.0, 3.0])
    with pytest.raises(cr.DTypeError, match="integer or bool"):
        x[np.array([0.0, 1.0])]


@pytest.mark.parametrize("index", [
    np.array([0, 2, 2]), [3, 3, -1], (slice(None), np.array([1, 1, 0])), (np.array([0, 3]), np.array([2, 2])),
    np.array([True, False, True, True]), (np.array([[0, 1], [1, 1]]), slice(1, 3)), (Ellipsis, np.array([0, 0]))],
    ids=repr)
def test_fancy_index_gradients_match_torch(backend, index):
    """Where torch indexes as NumPy does, its autograd is the oracle of the scatter-add."""
    x = np.arange(1.0, 13.0).reshape(4, 3)
    t_index = tuple(torch.tensor(p) if isinstance(p, (np.ndarray, list)) else p for p in index) \
        if isinstance(index, tuple) else torch.tensor(index)
    tx = torch.tensor(x, requires_grad=True)
    (tx[t_index] ** 2).sum().backward()
    xs = cr.tensor(x, dtype=F64, requires_grad=True)
    cr.sum(xs[index] ** 2).backward()
    _check([xs.grad], [tx.grad], f"backward of x[{index!r}]", "fancy indexing")


# ------------------------------------------------------------ cross_entropy's arguments and JVP

TF = torch.nn.functional


def _torch_ce(z, y, reduction):
    """torch's cross_entropy with the class axis last, as chainrule's."""
    if z.ndim > 1:
        z, y = z.movedim(-1, 1), (y.movedim(-1, 1) if y.is_floating_point() else y)
    return TF.cross_entropy(z, y, reduction=reduction)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(batch=st.sampled_from([(3,), (2, 3), ()]), classes=st.integers(1, 4),
       reduction=st.sampled_from(["mean", "sum", "none"]), probabilities=st.booleans(),
       seed=st.integers(0, 10_000))
def test_cross_entropy_matches_torch_in_both_modes(batch, classes, reduction, probabilities, seed):
    """Value, VJP and JVP (in the logits and in probability targets) against torch.func."""
    if not batch and not probabilities:
        batch = (1,)
    rng = np.random.default_rng(seed)
    z, dz = rng.standard_normal(batch + (classes,)), rng.standard_normal(batch + (classes,))
    if probabilities:
        y = rng.random(batch + (classes,))
        y, dy = y / y.sum(-1, keepdims=True), rng.standard_normal(y.shape)
    else:
        y, dy = rng.integers(0, classes, batch), None
    for name in ("numpy", "torch"):
        with cr.use_backend(name):
            def ours(*a):
                return cr.nn.cross_entropy(a[0], a[1] if probabilities else cr.tensor(y), reduction=reduction)

            def theirs(*a):
                return _torch_ce(a[0], a[1] if probabilities else torch.tensor(y), reduction)
            run_edge(Edge(f"cross_entropy {reduction} on {name}", ours, theirs,
                          *((z, y) if probabilities else (z,)), modes=("value", "backward", "grad", "jvp")))
            # the tangents of run_edge are fixed; a random one too
            prim = (z, y) if probabilities else (z,)
            tang = (dz, dy) if probabilities else (dz,)
            _, t_out = cr.jvp(ours, [cr.tensor(a, dtype=F64) for a in prim], [cr.tensor(a, dtype=F64) for a in tang])
            _, tt_out = tfunc.jvp(theirs, tuple(map(torch.tensor, prim)), tuple(map(torch.tensor, tang)))
            _check([t_out], [tt_out], "jvp (random tangent)", f"cross_entropy {reduction}")


@settings(max_examples=30, deadline=None, derandomize=True)
@given(labels=st.lists(st.integers(-101, 5), min_size=1, max_size=4), classes=st.integers(1, 4))
def test_cross_entropy_labels_outside_the_classes_raise(labels, classes):
    """-1 does not wrap around to the last class and -100 is not ignored: any label outside
    [0, C) raises IndexError naming it, before anything is computed; the rest match torch."""
    z = cr.tensor(np.zeros((len(labels), classes)), requires_grad=True)
    bad = [v for v in labels if not 0 <= v < classes]
    if bad:
        with pytest.raises(IndexError, match=f"label {min(bad) if min(bad) < 0 else max(bad)} is out of range"):
            cr.nn.cross_entropy(z, cr.tensor(labels))
        assert z.grad is None
    else:
        loss = cr.nn.cross_entropy(z, cr.tensor(labels))
        assert float(loss) == pytest.approx(float(TF.cross_entropy(torch.zeros(len(labels), classes),
                                                                   torch.tensor(labels))))


@pytest.mark.parametrize("logits,labels,error,match", [
    (np.zeros((2, 3)), np.array([True, False]), cr.DTypeError, "integer classes or float probabilities"),
    (np.zeros((2, 3)), np.array([[0, 1]]), cr.ShapeError, r"integer labels must have shape \(2,\)"),
    (np.zeros((2, 3)), np.zeros((2, 2)), cr.ShapeError, "probability targets must have the logits' shape"),
    (np.zeros((2, 3), dtype=np.int64), np.array([0, 1]), cr.DTypeError, "logits must be floating"),
    (np.zeros(()), np.array(0), cr.ShapeError, "class axis"),
], ids=["bool labels", "label shape", "probability shape", "integer logits", "0-d logits"])
def test_cross_entropy_bad_arguments_raise(backend, logits, labels, error, match):
    with pytest.raises(error, match=match):
        cr.nn.cross_entropy(cr.tensor(logits), cr.tensor(labels))


# --------------------------------------------------------------------- eigh and qr

def _symmetric(x):
    return (x + x.mT) * 0.5


def _eigh_loss(lib):
    """A loss of both outputs that does not depend on the eigenvectors' signs:
    <w, a> + <V diag(d) V^T, B> + <V * V, C>, of the symmetric part of x."""
    eigh = cr.eigh if lib is cr else torch.linalg.eigh
    const = (lambda a: cr.tensor(a, dtype=F64)) if lib is cr else torch.tensor

    def loss(x):
        n = x.shape[-1]
        w, v = eigh(_symmetric(x))
        a, d = const(np.arange(1.0, n + 1) ** 1.5), const(np.linspace(-1.0, 2.0, n))
        b, c = const(np.cos(np.arange(n * n)).reshape(n, n)), const(np.sin(np.arange(n * n)).reshape(n, n))
        vdv = (v * d) @ v.mT
        return (w * w * a).sum() + (vdv * b).sum() + (v * v * c).sum()
    return loss


def _qr_loss(lib, shape):
    qr = cr.qr if lib is cr else torch.linalg.qr
    const = (lambda a: cr.tensor(a, dtype=F64)) if lib is cr else torch.tensor
    m, n = shape[-2:]
    k = min(m, n)

    def loss(x):
        q, r = qr(x)
        wq = const(np.cos(np.arange(np.prod(shape[:-2] + (m, k)))).reshape(shape[:-2] + (m, k)))
        wr = const(np.sin(np.arange(np.prod(shape[:-2] + (k, n)))).reshape(shape[:-2] + (k, n)))
        return (q * wq).sum() + (r * r * wr).sum()
    return loss


def _matrix(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (4, 4), (2, 3, 3)], ids=str)
def test_eigh_matches_torch_to_second_order(backend, shape):
    # LAPACK's rounding differs between the two: 1e-9 relative
    run_edge(Edge(f"eigh {shape}", _eigh_loss(cr), _eigh_loss(torch), _matrix(shape, 1), rtol=1e-9))


@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (2, 4), (1, 1), (2, 5, 3), (2, 3, 5)], ids=str)
def test_qr_matches_torch_to_second_order(backend, shape):
    run_edge(Edge(f"qr {shape}", _qr_loss(cr, shape), _qr_loss(torch, shape), _matrix(shape, 2), rtol=1e-9))


def test_eigh_qr_and_triangular_solve_pass_gradcheck_to_second_order(backend):
    """Against finite differences (both modes, order 2): an independent truth."""
    x = cr.tensor(_matrix((3, 3), 3), dtype=F64)
    assert cr.gradcheck(lambda x: cr.eigh(_symmetric(x))[0], [x], order=2)
    assert cr.gradcheck(lambda x: cr.sum(cr.eigh(_symmetric(x))[1] ** 2 * cr.tensor(_matrix((3, 3), 4), dtype=F64)),
                        [x], order=2)
    for shape in [(4, 3), (3, 3), (2, 4)]:
        a = cr.tensor(_matrix(shape, 5), dtype=F64)
        assert cr.gradcheck(lambda a: cr.qr(a)[0], [a], order=2)
        assert cr.gradcheck(lambda a: cr.qr(a)[1], [a], order=2)
    solve = cr.ops.linalg.solve_triangular
    t = cr.tensor(np.triu(_matrix((3, 3), 6)) + 3 * np.eye(3), dtype=F64)
    c = cr.tensor(_matrix((3, 2), 7), dtype=F64)
    assert cr.gradcheck(lambda t, c: solve(t, c, upper=True), [t, c], order=2)
    assert cr.gradcheck(lambda t, c: solve(t, c, upper=False), [t.mT, c], order=2)


def test_eigh_outputs_are_tensors_with_gradients(backend):
    """Not a Tensor wrapping a tuple, and no silently zero gradient (the old behaviour)."""
    x = cr.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=F64, requires_grad=True)
    w, v = cr.eigh(x)
    q, r = cr.qr(x)
    assert all(isinstance(o, cr.Tensor) and o.requires_grad for o in (w, v, q, r))
    assert (w.shape, v.shape, q.shape, r.shape) == ((2,), (2, 2), (2, 2), (2, 2))
    cr.sum(w * w).backward()
    tx = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64, requires_grad=True)
    (torch.linalg.eigh(tx)[0] ** 2).sum().backward()
    _check([x.grad], [tx.grad], "backward", "eigh")


def test_eigh_at_repeated_eigenvalues_is_exact_or_raises(backend):
    """At a repeated eigenvalue, a loss of the eigenspace (V diag(w) V^T) has an exact
    gradient (torch's formula gives noise or nan there); one that depends on the basis
    chosen inside the eigenspace has none, and raises instead of returning nan or inf."""
    rotation = np.linalg.qr(_matrix((3, 3), 8))[0]
    for a in (np.diag([1.0, 1.0, 2.0]), rotation @ np.diag([1.0, 1.0, 2.0]) @ rotation.T):
        x = cr.tensor(a, dtype=F64)

        def of_eigenspace(x):
            w, v = cr.eigh(x)
            return cr.sum(cr.matmul(v * w, v.mT) ** 2)   # = sum(x ** 2): the gradient is 2x
        np.testing.assert_allclose(cr.grad(of_eigenspace)(x).numpy(), 2 * a, atol=1e-12)
        np.testing.assert_allclose(cr.grad(lambda x: cr.sum(cr.eigh(x)[0] ** 2))(x).numpy(), 2 * a, atol=1e-12)
        with pytest.raises(ValueError, match="two eigenvalues are equal"):
            cr.grad(lambda x: cr.sum(cr.eigh(x)[1][:, 0]))(x)
        with pytest.raises(ValueError, match="two eigenvalues are equal"):
            cr.jvp(lambda x: cr.eigh(x)[1], (x,), (cr.tensor(rotation + rotation.T, dtype=F64),))


def test_raw_arrays_in_raw_tuples_out(backend):
    """Rules and plugins (the orthogonal initializer) call cr.eigh / cr.qr on raw arrays."""
    raw = cr.tensor(_matrix((4, 3), 9), dtype=F64).data
    q, r = cr.qr(raw)
    w, v = cr.eigh(raw[:3] @ raw[:3].T)
    assert all(type(o) is type(raw) for o in (q, r, w, v))
    np.testing.assert_allclose(cr.tensor(q @ r).numpy(), cr.tensor(raw).numpy(), atol=1e-12)


# ------------------------------------------------ the same classes, drawn at random (hypothesis)


def _on_numpy_and_torch(edge):
    for name in ("numpy", "torch"):
        with cr.use_backend(name):
            run_edge(edge)



EDGY = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, NAN, INF, -INF])


@settings(max_examples=40, deadline=None, derandomize=True)
@given(x=st.lists(st.sampled_from([0.0, 1.0, -1.5, 2.0]), min_size=3, max_size=3),
       p=st.sampled_from([0, 1, 2, 3, -1, -2, 0.0, 1.0, 0.5, 1.5, -0.5]))
def test_power_rule_matches_torch_at_random_edges(x, p):
    # (not -0.0: (-0.0) ** -0.5 is +inf in IEEE pow (NumPy) but -inf in torch, whose pow
    # takes rsqrt for that exponent; a kernel's sign of zero, not a rule)
    _on_numpy_and_torch(Edge(f"x**{p}", lambda x: x ** p, lambda x: x ** p, x))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(x=st.lists(st.sampled_from([0.0, 1.0, -1.5, 2.0]), min_size=4, max_size=4),
       y=st.lists(st.sampled_from([0.0, 1.0, -1.5, 2.0, 0.5]), min_size=4, max_size=4))
def test_tensor_exponents_match_torch_at_random_edges(x, y):
    _on_numpy_and_torch(Edge("power(x, y)", cr.power, torch.pow, x, y))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(x=st.lists(EDGY, min_size=4, max_size=4), y=st.lists(EDGY, min_size=4, max_size=4),
       which=st.sampled_from(["maximum", "minimum"]))
def test_maximum_minimum_match_torch_with_ties_nan_and_inf(x, y, which):
    _on_numpy_and_torch(Edge(which, getattr(cr, which), getattr(torch, which), x, y,
                  modes=("value", "backward", "grad", "jvp")))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(x=st.lists(st.sampled_from([1.0, 2.0, -1.0, INF, -INF]), min_size=6, max_size=6),
       axis=st.sampled_from([None, 0, 1]), which=st.sampled_from(["max", "min"]))
def test_max_min_reductions_match_torch_with_ties(x, axis, which):
    """Ties (infinities included) split the gradient evenly, as torch.amax / x.max()."""
    x = np.array(x).reshape(2, 3)
    dims = (0, 1) if axis is None else axis
    tred = torch.amax if which == "max" else torch.amin
    _on_numpy_and_torch(Edge(f"{which}(axis={axis})", lambda a: getattr(cr, which)(a, axis=axis),
                  lambda a: tred(a, dims), x))


def test_max_of_nans_jvp_is_its_vjp_transposed(backend):
    """Where torch's two modes disagree (x.max() of a NaN array: the VJP splits g between
    the NaNs, the JVP is nan), ours agree: the JVP averages the NaNs' tangents."""
    x = cr.tensor([1.0, NAN, 3.0, NAN], dtype=F64)
    t = cr.tensor([0.1, 0.2, 0.3, 0.5], dtype=F64)
    _, t_out = cr.jvp(cr.max, (x,), (t,))
    g = cr.grad(cr.max)(x)
    assert float(t_out) == pytest.approx(float(cr.sum(g * t))) == pytest.approx(0.35)
    g_torch = tfunc.grad(torch.Tensor.max)(torch.tensor([1.0, NAN, 3.0, NAN], dtype=torch.float64))
    _check([g], [g_torch], "grad", "max of NaNs")

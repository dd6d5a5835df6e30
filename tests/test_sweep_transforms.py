"""Transform compositions of (nearly) every registered op against torch.func, on the numpy
and torch backends, float64 (tight) and float32 (dtype kept).

For each op in ``CASES`` (per-example argument shapes; integer arguments are indices or
labels) a hypothesis-drawn (derandomized, bounded) choice of in_axes (0, 1, -1 or None per
argument) and out_axes (0, 1, -1) checks:

* ``cr.vmap(f)`` against ``torch.func.vmap(f_torch)`` (integer arguments batched too: a
  different index per example);
* ``cr.vmap(cr.grad(loss))`` against ``torch.func.vmap(torch.func.grad(loss))``, out_axes 0
  and -1;
* ``cr.vmap`` of ``cr.jvp`` (primal and tangent batched) against torch.func;
* ``cr.jvp`` and ``cr.grad(cr.grad)`` (derivative of <grad loss, v>) against torch.func;
* ``cr.jacfwd`` and ``cr.jacrev`` against ``torch.func.jacrev``, and both inside ``cr.vmap``
  with the batch axis second (in_axes=1) and out_axes=1.

The loss is sum(sin(out)) over the floating outputs.  Inputs stay away from kinks, ties and
singularities (see ``DOMAINS``).  The op ``torch`` lacks, or whose value depends on a
convention torch does not share, are listed in ``NOT_SWEPT`` with the reason.

Two bug classes this sweep found (fixed by /tmp/sweep_vmap/fix_1.diff and fix_2.diff):

* the batching rules of ``gather`` / ``gather_scatter`` (x[i] with an index batched by vmap)
  assumed an index tensor batched at their own level, so an index batched only by an *outer*
  vmap (``vmap(jacrev(sort))``, ``vmap(hessian(...sort...))``, a vmap inside a vmap that
  indexes with the outer example's index) raised StopIteration;
* the eigenvector / singular-vector rules of eigh, eig and svd (``_ties``, ``_over_values``)
  checked ties on the raw arrays, whose batch axes do not line up when two vmaps batch the
  two operands differently (``vmap(jacfwd(eigh))``): a NumPy broadcasting ValueError.
"""
import itertools
import warnings

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings, strategies as st  # noqa: E402

TF = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

B = 3
DOMAINS = {
    "any": lambda r, s: r.standard_normal(s),
    "pos": lambda r, s: r.uniform(0.5, 2.0, s),
    "unit": lambda r, s: r.uniform(-0.9, 0.9, s),
    "nz": lambda r, s: r.choice([-1.0, 1.0], s) * r.uniform(0.2, 2.0, s),
    "gt1": lambda r, s: r.uniform(1.2, 3.0, s),
    # distinct values everywhere (gaps >= 0.3): sort / max / pools see no ties
    "dist": lambda r, s: (r.permutation(int(np.prod(s, dtype=int))).reshape(s) * 0.37 - 1.0
                          + r.uniform(0, 0.05, s)),
}


class F:
    """A float argument: per-example shape, domain, differentiated or not."""

    def __init__(self, shape, dom="any", diff=True):
        self.shape, self.dom, self.diff = tuple(shape), dom, diff

    def draw(self, rng, lead=()):
        return np.asarray(DOMAINS[self.dom](rng, tuple(lead) + self.shape), dtype=np.float64)


class Int:
    """An integer argument (indices, labels) in [0, hi)."""
    diff = False

    def __init__(self, shape, hi):
        self.shape, self.hi = tuple(shape), hi

    def draw(self, rng, lead=()):
        return rng.integers(0, self.hi, tuple(lead) + self.shape).astype(np.int64)


class Mask:
    diff = False

    def __init__(self, shape):
        self.shape = tuple(shape)

    def draw(self, rng, lead=()):
        return rng.random(tuple(lead) + self.shape) > 0.4


def _eye(m, n=3):
    return cr.tensor(np.eye(n), dtype=m.dtype, backend=m.backend)


CASES = {}


def case(name, ours, theirs, *specs):
    CASES[name] = (ours, theirs, list(specs))


for _n, _c, _t, _d in [
        ("abs", cr.abs, torch.abs, "nz"), ("exp", cr.exp, torch.exp, "any"),
        ("expm1", cr.expm1, torch.expm1, "any"), ("log", cr.log, torch.log, "pos"),
        ("log1p", cr.log1p, torch.log1p, "unit"), ("log2", cr.log2, torch.log2, "pos"),
        ("log10", cr.log10, torch.log10, "pos"), ("sqrt", cr.sqrt, torch.sqrt, "pos"),
        ("sin", cr.sin, torch.sin, "any"), ("cos", cr.cos, torch.cos, "any"),
        ("tan", cr.tan, torch.tan, "unit"), ("tanh", cr.tanh, torch.tanh, "any"),
        ("sinh", cr.sinh, torch.sinh, "any"), ("cosh", cr.cosh, torch.cosh, "any"),
        ("arcsin", cr.arcsin, torch.asin, "unit"), ("arccos", cr.arccos, torch.acos, "unit"),
        ("arctan", cr.arctan, torch.atan, "any"), ("arcsinh", cr.arcsinh, torch.asinh, "any"),
        ("arccosh", cr.arccosh, torch.acosh, "gt1"), ("arctanh", cr.arctanh, torch.atanh, "unit"),
        ("erf", cr.erf, torch.erf, "any"), ("erfc", cr.erfc, torch.erfc, "any"),
        ("exp2", cr.exp2, torch.exp2, "any"), ("sinc", cr.sinc, torch.sinc, "nz"),
        ("negative", cr.negative, torch.neg, "any"), ("sign", cr.sign, torch.sign, "nz"),
        ("floor", cr.floor, torch.floor, "any"), ("ceil", cr.ceil, torch.ceil, "any"),
        ("trunc", cr.trunc, torch.trunc, "any"),
        ("round", lambda x: cr.round(x, 1), lambda x: torch.round(x, decimals=1), "any"),
        ("clone", cr.clone, torch.clone, "any"), ("stop_gradient", cr.stop_gradient, torch.detach, "any"),
        ("square", cr.square, torch.square, "any"), ("reciprocal", cr.reciprocal, torch.reciprocal, "nz"),
        ("deg2rad", cr.deg2rad, torch.deg2rad, "any"), ("radians", cr.radians, torch.deg2rad, "any"),
        ("rad2deg", cr.rad2deg, torch.rad2deg, "any"), ("degrees", cr.degrees, torch.rad2deg, "any"),
        ("isfinite", cr.isfinite, torch.isfinite, "any"), ("isnan", cr.isnan, torch.isnan, "any"),
        ("relu", cr.nn.relu, torch.relu, "nz"), ("sigmoid", cr.nn.sigmoid, torch.sigmoid, "any"),
        ("gelu", cr.nn.gelu, TF.gelu, "any"),
        ("gelu_tanh", lambda x: cr.nn.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), "any"),
        ("leaky_relu", lambda x: cr.nn.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1), "nz"),
        ("softplus", lambda x: cr.nn.softplus(x, beta=2.0, threshold=1.0),
         lambda x: TF.softplus(x, beta=2.0, threshold=1.0), "nz"),
        ("nan_to_num", lambda x: cr.nan_to_num(cr.log(x), neginf=-2.0),
         lambda x: torch.nan_to_num(torch.log(x), neginf=-2.0), "pos"),
        ("clip", lambda x: cr.clip(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7), "nz"),
        ("powers_scalar", lambda x: x ** 3 + 2.0 ** x, lambda x: x ** 3 + 2.0 ** x, "any"),
        ("logical_not", lambda x: cr.logical_not(x > 0), lambda x: torch.logical_not(x > 0), "any")]:
    case(_n, _c, _t, F((2, 3), _d))

case("add", cr.add, torch.add, F((2, 3)), F((3,)))
case("subtract", cr.subtract, torch.subtract, F((3,)), F((2, 3)))
case("multiply", cr.multiply, torch.multiply, F((2, 1)), F((2, 3)))
case("multiply_0d", cr.multiply, torch.multiply, F((2, 3)), F(()))
case("divide", cr.divide, torch.divide, F((2, 3)), F((3,), "pos"))
case("power", cr.power, torch.pow, F((2, 3), "pos"), F((3,)))
case("maximum", cr.maximum, torch.maximum, F((2, 3), "nz"), F((3,), "unit"))
case("minimum", cr.minimum, torch.minimum, F((3,), "unit"), F((2, 3), "nz"))
case("fmax", cr.fmax, torch.fmax, F((2, 3), "nz"), F((3,), "unit"))
case("fmin", cr.fmin, torch.fmin, F((2, 3), "nz"), F((3,), "unit"))
case("arctan2", cr.arctan2, torch.atan2, F((2, 3)), F((3,), "nz"))
case("hypot", cr.hypot, torch.hypot, F((2, 3), "nz"), F((3,), "nz"))
case("logaddexp", cr.logaddexp, torch.logaddexp, F((3,)), F((2, 3)))
case("logaddexp2", cr.logaddexp2, torch.logaddexp2, F((3,)), F((2, 3)))
case("remainder", lambda a, b: cr.remainder(a, b + 2.0), lambda a, b: torch.remainder(a, b + 2.0),
     F((2, 3), "unit"), F((3,), "pos"))
case("mod", lambda a, b: cr.mod(a, b + 2.0), lambda a, b: torch.remainder(a, b + 2.0), F((2, 3), "unit"), F((3,), "pos"))
case("compare", lambda x, y: cr.stack([cr.greater(x, y), cr.greater_equal(x, y), cr.less(x, y), cr.less_equal(x, y),
                                       cr.equal(x, x), cr.not_equal(x, y)]),
     lambda x, y: torch.stack([x > y, x >= y, x < y, x <= y, x == x, x != y]), F((2, 3), "nz"), F((3,), "unit"))
case("logical", lambda x, y: cr.logical_and(x > 0, y > 0) | cr.logical_or(x > 0, y < 0),
     lambda x, y: torch.logical_and(x > 0, y > 0) | torch.logical_or(x > 0, y < 0), F((2, 3), "nz"), F((3,), "nz"))
case("where", lambda c, x, y: cr.where(c > 0, x, y), lambda c, x, y: torch.where(c > 0, x, y),
     F((3,), "nz", diff=False), F((2, 3)), F((2, 1)))
case("where_mask", cr.where, torch.where, Mask((2, 3)), F((2, 3)), F((3,)))
case("clip_tensors", cr.clip, torch.clamp, F((2, 3), "nz"), F((3,), "unit"), F((3,), "unit"))
# float64 -> float32: compared on float32 values (the float32 loss rounds differently)
case("astype", lambda x: cr.astype(x * 2, "float32") * 2, lambda x: (x * 2).to(torch.float32) * 2, F((2, 3), "unit"))

# reductions and scans
for _n, _c, _t, _d, _s in [
        ("sum", lambda x: cr.sum(x, axis=1), lambda x: torch.sum(x, 1), "any", (2, 3, 4)),
        ("sum_all", cr.sum, torch.sum, "any", (2, 3)),
        ("sum_keep", lambda x: cr.sum(x, axis=(-1, 0), keepdims=True), lambda x: torch.sum(x, (-1, 0), keepdim=True), "any", (2, 3, 4)),
        ("mean", lambda x: cr.mean(x, axis=-1), lambda x: torch.mean(x, -1), "any", (2, 3, 4)),
        ("max", lambda x: cr.max(x, axis=1), lambda x: torch.amax(x, 1), "dist", (2, 3, 4)),
        ("max_all", cr.max, torch.amax, "dist", (3, 4)),
        ("min_keep", lambda x: cr.min(x, axis=-2, keepdims=True), lambda x: torch.amin(x, -2, keepdim=True), "dist", (2, 3, 4)),
        ("prod", lambda x: cr.prod(x, axis=-1), lambda x: torch.prod(x, -1), "nz", (2, 3, 4)),
        ("var", lambda x: cr.var(x, axis=(0, 2), correction=1), lambda x: torch.var(x, (0, 2), correction=1), "any", (2, 3, 4)),
        ("std", lambda x: cr.std(x, axis=-1), lambda x: torch.std(x, -1, correction=0), "any", (2, 3, 4)),
        ("logsumexp", lambda x: cr.logsumexp(x, axis=1), lambda x: torch.logsumexp(x, 1), "any", (2, 3, 4)),
        ("argmax", lambda x: cr.argmax(x, axis=-1), lambda x: torch.argmax(x, -1), "dist", (2, 3, 4)),
        ("argmin_keep", lambda x: cr.argmin(x, axis=-2, keepdims=True), lambda x: torch.argmin(x, -2, keepdim=True), "dist", (2, 3, 4)),
        ("argsort", lambda x: cr.argsort(x, axis=1), lambda x: torch.argsort(x, 1), "dist", (2, 3, 4)),
        ("sort", lambda x: cr.sort(x, axis=-1), lambda x: torch.sort(x, -1)[0], "dist", (2, 3)),
        ("msort", cr.msort, lambda x: torch.sort(x, 0)[0], "dist", (3, 2)),
        ("partition", lambda x: cr.partition(x, 1), lambda x: torch.sort(x, -1)[0], "dist", (2, 3)),
        ("topk", lambda x: cr.topk(x, 2, axis=-1), lambda x: tuple(torch.topk(x, 2, -1)), "dist", (2, 3)),
        ("any_all", lambda x: cr.stack([cr.any(x > 1, axis=0), cr.all(x > -1, axis=0)]),
         lambda x: torch.stack([torch.any(x > 1, 0), torch.all(x > -1, 0)]), "any", (2, 3)),
        ("cumsum", lambda x: cr.cumsum(x, axis=-2), lambda x: torch.cumsum(x, -2), "any", (2, 3, 4)),
        ("cumprod", lambda x: cr.cumprod(x, axis=-1), lambda x: torch.cumprod(x, -1), "nz", (2, 3)),
        ("vector_norm", lambda x: cr.linalg.vector_norm(x, ord=3, axis=-1), lambda x: torch.linalg.vector_norm(x, 3, -1), "nz", (2, 3)),
        ("norm", cr.norm, torch.linalg.vector_norm, "any", (2, 3)),
        ("matrix_norm", cr.linalg.matrix_norm, torch.linalg.matrix_norm, "any", (2, 3)),
        ("nansum", lambda x: cr.nansum(x, axis=0), lambda x: torch.nansum(x, 0), "any", (2, 3)),
        ("nanmean", lambda x: cr.nanmean(x, axis=0), lambda x: torch.nanmean(x, 0), "any", (2, 3)),
        ("diff", lambda x: cr.diff(x, axis=1), lambda x: torch.diff(x, dim=1), "any", (2, 3)),
        ("gradient", lambda x: cr.gradient(x, axis=-1), lambda x: torch.gradient(x, dim=-1)[0], "any", (2, 4)),
        ("trace", cr.trace, torch.trace, "any", (3, 3)),
        ("softmax", lambda x: cr.nn.softmax(x, axis=1), lambda x: torch.softmax(x, 1), "any", (2, 3)),
        ("log_softmax", lambda x: cr.nn.log_softmax(x, axis=-2), lambda x: torch.log_softmax(x, -2), "any", (2, 3)),
        ("layer_norm", cr.nn.layer_norm, lambda x: TF.layer_norm(x, (4,)), "any", (2, 4))]:
    case(_n, _c, _t, F(_s, _d))

# shape ops and indexing
for _n, _c, _t, _s in [
        ("reshape", lambda x: cr.reshape(x, (4, -1)), lambda x: torch.reshape(x, (4, -1)), (2, 3, 4)),
        ("permute_dims", lambda x: cr.permute_dims(x, (2, 0, 1)), lambda x: torch.permute(x, (2, 0, 1)), (2, 3, 4)),
        ("matrix_transpose", cr.matrix_transpose, lambda x: x.mT, (2, 3, 4)),
        ("transpose", cr.transpose, lambda x: x.mT, (2, 3)),
        ("swapaxes", lambda x: cr.swapaxes(x, -1, -3), lambda x: torch.swapaxes(x, -1, -3), (2, 3, 4)),
        ("moveaxis", lambda x: cr.moveaxis(x, 0, -1), lambda x: torch.movedim(x, 0, -1), (2, 3, 4)),
        ("broadcast_to", lambda x: cr.broadcast_to(x, (5, 2, 3)), lambda x: torch.broadcast_to(x, (5, 2, 3)), (2, 3)),
        ("expand_dims", lambda x: cr.expand_dims(x, -2), lambda x: torch.unsqueeze(x, -2), (2, 3)),
        ("squeeze", lambda x: cr.squeeze(x, axis=-2), lambda x: torch.squeeze(x, -2), (2, 1, 3)),
        ("flatten", cr.flatten, torch.flatten, (2, 3)),
        ("ravel", cr.ravel, torch.ravel, (2, 3)),
        ("flip", lambda x: cr.flip(x, axis=(0, -1)), lambda x: torch.flip(x, (0, -1)), (2, 3, 4)),
        ("fliplr", cr.fliplr, torch.fliplr, (2, 3)),
        ("flipud", cr.flipud, torch.flipud, (2, 3)),
        ("roll", lambda x: cr.roll(x, (1, 2), axis=(0, -1)), lambda x: torch.roll(x, (1, 2), (0, -1)), (2, 3, 4)),
        ("rot90", lambda x: cr.rot90(x, 3, axes=(2, 0)), lambda x: torch.rot90(x, 3, (2, 0)), (2, 3, 4)),
        ("tile", lambda x: cr.tile(x, (2, 1)), lambda x: torch.tile(x, (2, 1)), (2, 3)),
        ("repeat", lambda x: cr.repeat(x, 2, axis=-1), lambda x: torch.repeat_interleave(x, 2, -1), (2, 3)),
        ("pad", lambda x: cr.pad(x, ((0, 0), (1, 2), (0, 1))), lambda x: TF.pad(x, (0, 1, 1, 2)), (2, 3, 4)),
        ("pad_reflect", lambda x: cr.pad(x, ((0, 0), (0, 0), (2, 1)), mode="reflect"),
         lambda x: TF.pad(x, (2, 1), mode="reflect"), (2, 3, 4)),
        ("diagonal", lambda x: cr.diagonal(x, 1, -1, -2), lambda x: torch.diagonal(x, 1, -1, -2), (2, 3, 4)),
        ("diag", cr.diag, torch.diag, (3, 3)),
        ("diag_1d", lambda x: cr.diag(x, 1), lambda x: torch.diag(x, 1), (3,)),
        ("tril", lambda x: cr.tril(x, -1), lambda x: torch.tril(x, -1), (3, 4)),
        ("triu", lambda x: cr.triu(x, 1), lambda x: torch.triu(x, 1), (3, 4)),
        ("atleast_1d", cr.atleast_1d, torch.atleast_1d, ()),
        ("atleast_2d", cr.atleast_2d, torch.atleast_2d, (3,)),
        ("atleast_3d", cr.atleast_3d, lambda x: x[None, :, None], (3,)),
        ("getitem", lambda x: x[1:, ::-1] + x[..., 0:1][None] + x[-1], lambda x: x[1:].flip(1) + x[..., 0:1][None] + x[-1], (2, 3)),
        ("getitem_advanced", lambda x: x[np.array([1, 0, 1]), :, 0], lambda x: x[torch.tensor([1, 0, 1]), :, 0], (2, 3, 4)),
        ("getitem_advanced_split", lambda x: x[np.array([1, 0]), :, np.array([3, -2])],
         lambda x: x[torch.tensor([1, 0]), :, torch.tensor([3, -2])], (2, 3, 4)),
        ("getitem_bool", lambda x: x[np.array([True, False])], lambda x: x[torch.tensor([True, False])], (2, 3)),
        ("take", lambda x: cr.take(x, cr.tensor([-1, 0, 2]), axis=-1), lambda x: torch.index_select(x, -1, torch.tensor([3, 0, 2])), (2, 4)),
        ("split", lambda x: tuple(cr.split(x, 2, axis=-2)), lambda x: tuple(torch.tensor_split(x, 2, -2)), (2, 3, 4)),
        ("split_indices", lambda x: tuple(cr.split(x, [1, 3], axis=-1)), lambda x: tuple(torch.tensor_split(x, [1, 3], -1)), (2, 4))]:
    case(_n, _c, _t, F(_s))

case("concat", lambda x, y: cr.concat([x, y, x], axis=-1), lambda x, y: torch.cat([x, y, x], -1), F((2, 3)), F((2, 1)))
case("stack", lambda x, y: cr.stack([x, y], axis=-3), lambda x, y: torch.stack([x, y], -3), F((2, 3)), F((2, 3)))
case("hstack", lambda x, y: cr.hstack([x, y]), lambda x, y: torch.hstack([x, y]), F((2, 3)), F((2, 2)))
case("vstack", lambda x, y: cr.vstack([x, y]), lambda x, y: torch.vstack([x, y]), F((3,)), F((2, 3)))
case("dstack", lambda x, y: cr.dstack([x, y]), lambda x, y: torch.dstack([x, y]), F((2, 3)), F((2, 3)))
case("column_stack", lambda x, y: cr.column_stack([x, y]), lambda x, y: torch.cat([x[:, None], y], 1), F((3,)), F((3, 2)))
case("select", lambda c, x, y: cr.select([c > 0.5, c < -0.5], [x, y], 0.0),
     lambda c, x, y: torch.where(c > 0.5, x, torch.where(c < -0.5, y, torch.zeros((), dtype=x.dtype))),
     F((3,), "nz", diff=False), F((2, 3)), F((3,)))
# integer arguments: batched under vmap, a different index per example
case("take_batched_index", lambda x, i: cr.take(x, i, axis=1), lambda x, i: torch.index_select(x, 1, i), F((2, 4)), Int((3,), 4))
case("getitem_batched_index", lambda x, i: x[i], lambda x, i: x[i], F((4, 2)), Int((3,), 4))
case("getitem_batched_index_2", lambda x, i: x[:, i], lambda x, i: x[:, i], F((2, 4, 3)), Int((2, 2), 4))
case("getitem_batched_index_split", lambda x, i: x[i, :, 1], lambda x, i: x[i, :, 1], F((4, 2, 3)), Int((2, 2), 4))
case("getitem_batched_two", lambda x, i, j: x[i, j], lambda x, i, j: x[i, j], F((4, 3)), Int((2,), 4), Int((2,), 3))
case("take_along_axis", lambda x, i: cr.take_along_axis(x, i, axis=1), lambda x, i: torch.take_along_dim(x, i, 1),
     F((2, 4)), Int((2, 3), 4))
case("index_add", lambda x, v, i: cr.index_add(x, -1, i, v), lambda x, v, i: torch.index_add(x, -1, i, v),
     F((2, 4)), F((2, 3)), Int((3,), 4))
case("embedding", cr.nn.embedding, TF.embedding, Int((2, 3), 5), F((5, 2)))
case("cross_entropy", cr.nn.cross_entropy, TF.cross_entropy, F((4, 3)), Int((4,), 3))
case("cross_entropy_none", lambda z, y: cr.nn.cross_entropy(z, y, reduction="none"),
     lambda z, y: TF.cross_entropy(z, y, reduction="none"), F((4, 3)), Int((4,), 3))
case("cross_entropy_row", cr.nn.cross_entropy, TF.cross_entropy, F((3,)), Int((), 3))
case("cross_entropy_probs", lambda z, p: cr.nn.cross_entropy(z, p * p), lambda z, p: TF.cross_entropy(z, p * p), F((4, 3)), F((4, 3)))
case("mse_loss", cr.nn.mse_loss, TF.mse_loss, F((2, 3)), F((2, 3)))
case("linear", cr.nn.linear, lambda x, w, b: x @ w + b, F((4, 3)), F((3, 2)), F((2,)))
case("layer_norm_affine", lambda x, w, b: cr.nn.layer_norm(x, weight=w, bias=b),
     lambda x, w, b: TF.layer_norm(x, (3,), w, b), F((2, 3)), F((3,)), F((3,)))

# products and linear algebra (square inputs well conditioned, results free of sign conventions)
case("matmul", cr.matmul, torch.matmul, F((2, 3)), F((3, 4)))
case("matmul_vector_left", cr.matmul, torch.matmul, F((3,)), F((2, 3, 4)))
case("matmul_vector_right", cr.matmul, torch.matmul, F((2, 2, 3)), F((3,)))
case("matmul_dot", cr.matmul, torch.matmul, F((3,)), F((3,)))
case("matmul_stacked", cr.matmul, torch.matmul, F((1, 2, 3)), F((4, 3, 2)))
case("dot", cr.dot, torch.dot, F((3,)), F((3,)))
case("inner", cr.inner, torch.inner, F((2, 3)), F((4, 3)))
case("outer", cr.outer, torch.outer, F((3,)), F((2,)))
case("kron", cr.kron, torch.kron, F((2, 2)), F((2, 3)))
case("tensordot", lambda a, c: cr.tensordot(a, c, axes=([0], [1])), lambda a, c: torch.tensordot(a, c, dims=([0], [1])),
     F((2, 3)), F((4, 2)))
case("cross", cr.cross, torch.linalg.cross, F((2, 3)), F((2, 3)))
case("einsum", lambda a, c, d: cr.einsum("ij,jk,k->i", a, c, d), lambda a, c, d: torch.einsum("ij,jk,k->i", a, c, d),
     F((2, 3)), F((3, 4)), F((4,)))
case("einsum_diagonal", lambda a: cr.einsum("ii->i", a) + cr.einsum("ii", a),
     lambda a: torch.einsum("ii->i", a) + torch.einsum("ii", a), F((3, 3)))
case("inv", lambda m: cr.linalg.inv(m + 3 * _eye(m)), lambda m: torch.linalg.inv(m + 3 * torch.eye(3, dtype=m.dtype)), F((3, 3)))
case("det", lambda m: cr.linalg.det(m + 3 * _eye(m)), lambda m: torch.linalg.det(m + 3 * torch.eye(3, dtype=m.dtype)), F((3, 3)))
case("slogdet", lambda m: cr.linalg.slogdet(m - 3 * _eye(m))[1],
     lambda m: torch.linalg.slogdet(m - 3 * torch.eye(3, dtype=m.dtype))[1], F((3, 3)))
case("solve", lambda m, v: cr.linalg.solve(m + 3 * _eye(m), v),
     lambda m, v: torch.linalg.solve(m + 3 * torch.eye(3, dtype=m.dtype), v), F((3, 3)), F((3,)))
case("solve_triangular", lambda m, v: cr.ops.get("solve_triangular").public(m + 3 * _eye(m), v, upper=True),
     lambda m, v: torch.linalg.solve_triangular(torch.triu(m + 3 * torch.eye(3, dtype=m.dtype)), v, upper=True),
     F((3, 3)), F((3, 2)))
case("cholesky", lambda m: cr.linalg.cholesky(m @ cr.matrix_transpose(m) + 3 * _eye(m)),
     lambda m: torch.linalg.cholesky(m @ m.mT + 3 * torch.eye(3, dtype=m.dtype)), F((3, 3)))
case("eigh", lambda m: (lambda w, v: (w, v * v))(*cr.eigh(m + cr.matrix_transpose(m))),
     lambda m: (lambda w, v: (w, v * v))(*torch.linalg.eigh(m + m.mT)), F((3, 3)))
case("eig", lambda m: cr.linalg.eig(m * 0.1 + cr.tensor(np.diag([1.0, 2.0, 3.0]), dtype=m.dtype, backend=m.backend))[0],
     lambda m: torch.linalg.eigvals(m * 0.1 + torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=m.dtype))).real, F((3, 3)))
case("qr", cr.qr, lambda m: tuple(torch.linalg.qr(m)), F((3, 2)))
case("svd", lambda m: (lambda u, s, vh: (s, u @ vh))(*cr.linalg.svd(m, full_matrices=False)),
     lambda m: (lambda u, s, vh: (s, u @ vh))(*torch.linalg.svd(m, full_matrices=False)), F((3, 2)))
case("svdvals", cr.linalg.svdvals, torch.linalg.svdvals, F((2, 3)))
case("pinv", cr.linalg.pinv, torch.linalg.pinv, F((3, 2)))
case("matrix_power", lambda m: cr.linalg.matrix_power(m, 3), lambda m: torch.linalg.matrix_power(m, 3), F((3, 3)))
case("lstsq", lambda a, y: cr.linalg.lstsq(a, y)[0], lambda a, y: torch.linalg.pinv(a) @ y, F((4, 2)), F((4,)))

# windows
case("conv2d", lambda x, w: cr.nn.conv2d(x, w, stride=2, padding=1), lambda x, w: TF.conv2d(x, w, stride=2, padding=1),
     F((1, 2, 4, 3)), F((3, 2, 2, 2)))
case("conv1d", lambda x, w: cr.nn.conv1d(x, w, groups=2), lambda x, w: TF.conv1d(x, w, groups=2), F((2, 5)), F((4, 1, 2)))
case("fold", lambda c: cr.nn.fold(c, (3, 3), 2, padding=1, stride=2), lambda c: TF.fold(c, (3, 3), 2, padding=1, stride=2),
     F((1, 8, 4)))
case("unfold", lambda x: cr.nn.unfold(x, (2, 3), padding=1, stride=2), lambda x: TF.unfold(x, (2, 3), padding=1, stride=2),
     F((1, 1, 4, 4)))
case("max_pool2d", lambda x: cr.nn.max_pool2d(x, 2, 1, 1), lambda x: TF.max_pool2d(x, 2, 1, 1), F((2, 3, 3), "dist"))
case("avg_pool2d", lambda x: cr.nn.avg_pool2d(x, 2, 1, 1, count_include_pad=False),
     lambda x: TF.avg_pool2d(x, 2, 1, 1, count_include_pad=False), F((1, 2, 3, 3)))
case("batch_norm", lambda x, w: cr.nn.batch_norm(x, None, None, w, training=True),
     lambda x, w: TF.batch_norm(x, None, None, w, training=True), F((3, 2, 2)), F((2,)))

NOT_SWEPT = {
    "dropout": "random: no per-example oracle (tests/test_vmap.py checks it refuses a shared mask)",
    "to_backend": "no torch op (a device move); tests/test_vmap.py",
    "cross_entropy_residual": "cross_entropy's gradient op, reached by every grad of cross_entropy here",
    "embedding_padding": "embedding's gradient op with padding_idx: jacfwd vs jacrev differ exactly as torch's do "
                         "(torch.func.jacfwd passes the padding row's tangent, jacrev does not)",
    "gather": "reached by the batched-index cases", "gather_scatter": "reached by their gradients",
    "index_scatter": "getitem's gradient", "index_update": "x[i] = v (in place), refused under transforms' boxes",
    "sum_to": "the engine's unbroadcast, reached by every broadcasting case's gradient",
    "linear": "swept as linear", "getitem": "swept as getitem_*",
}

_TORCH_OPS = {"float64": torch.float64, "float32": torch.float32}


# ------------------------------------------------------------------ the checks

def _np(x):
    if isinstance(x, cr.Tensor):
        return x.numpy()
    if torch._is_zerotensor(x):
        return np.zeros(tuple(x.shape), dtype=str(x.dtype).replace("torch.", ""))
    return x.detach().numpy()


def _flat(x):
    return [y for z in x for y in _flat(z)] if isinstance(x, (tuple, list)) else [x]


def _close(ours, theirs, what, tol):
    o, t = _flat(ours), _flat(theirs)
    assert len(o) == len(t), f"{what}: {len(o)} outputs, torch {len(t)}"
    for a, b in zip(o, t):
        a, b = _np(a), _np(b)
        assert a.shape == b.shape, f"{what}: shape {a.shape}, torch {b.shape}"
        if b.dtype.kind != "f":
            np.testing.assert_array_equal(a, b, err_msg=what)
            continue
        assert a.dtype == b.dtype, f"{what}: dtype {a.dtype}, torch {b.dtype}"
        scale = 1.0 + np.abs(b).max(initial=0.0)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=what)


def _loss(f, lib):
    def loss(*args):
        total = 0.0
        for o in _flat(f(*args)):
            if (o.dtype.is_floating if lib is cr else o.is_floating_point()):
                total = total + lib.sum(lib.sin(o))
        return total
    return loss


def _torch_vmap(f, in_axes, out_axes, args):
    """torch.func.vmap, or where torch has no batching rule for an op, its definition."""
    try:
        return torch.func.vmap(f, in_dims=tuple(in_axes), out_dims=out_axes)(*args)
    except RuntimeError:
        n = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
        outs = [f(*[a if ax is None else a.select(ax, i) for a, ax in zip(args, in_axes)]) for i in range(n)]

        def stack(xs):
            if isinstance(xs[0], (tuple, list)):
                return type(xs[0])(stack([x[k] for x in xs]) for k in range(len(xs[0])))
            return torch.stack(xs, dim=out_axes)
        return stack(outs)


class Setup:
    def __init__(self, name, backend, dtype, seed):
        self.ours, self.theirs, self.specs = CASES[name]
        self.name, self.backend, self.dtype = name, backend, dtype
        self.tol = 1e-8 if dtype == "float64" and name != "astype" else 3e-3
        rng = np.random.default_rng(seed)
        self.ex = [s.draw(rng) for s in self.specs]
        self.bx = [s.draw(rng, (B,)) for s in self.specs]
        self.tan = [s.draw(rng) if s.diff else None for s in self.specs]
        self.btan = [s.draw(rng, (B,)) if s.diff else None for s in self.specs]
        self.dnums = tuple(i for i, s in enumerate(self.specs) if s.diff)

    def c(self, a):
        return cr.tensor(a, dtype=self.dtype if a.dtype == np.float64 else None, backend=self.backend)

    def t(self, a):
        t = torch.tensor(a)
        return t.to(_TORCH_OPS[self.dtype]) if t.dtype == torch.float64 else t

    def batched(self, in_axes):
        return [a if ax is None else np.moveaxis(b, 0, ax) for a, b, ax in zip(self.ex, self.bx, in_axes)]

    def fill(self, f, conv, fixed):
        """f of the differentiated arguments only, the others fixed at ``fixed``."""
        d = self.dnums
        return lambda *xs: f(*[xs[d.index(i)] if i in d else conv(fixed[i]) if conv else fixed[i]
                               for i in range(len(self.specs))])


def _axes(draw, specs):
    axes = [draw(st.sampled_from([0, -1, None] + ([1] if len(s.shape) >= 1 else []))) for s in specs]
    if all(a is None for a in axes):
        axes[draw(st.integers(0, len(specs) - 1))] = 0
    return tuple(axes)


def check_vmaps(s, in_axes, out_axes):
    args = s.batched(in_axes)
    ref = s.theirs(*[s.t(a) for a in s.ex])
    if out_axes == 1 and min(_np(o).ndim for o in _flat(ref)) < 1:
        out_axes = -1
    got = cr.vmap(s.ours, in_axes=in_axes, out_axes=out_axes)(*[s.c(a) for a in args])
    want = _torch_vmap(s.theirs, in_axes, out_axes, [s.t(a) for a in args])
    _close(got, want, f"{s.name}: vmap in_axes={in_axes} out_axes={out_axes}", s.tol)
    if not s.dnums or not all(_np(o).dtype.kind in "fb" for o in _flat(ref)) or \
            not any(_np(o).dtype.kind == "f" for o in _flat(ref)):
        return
    for oa in (0, -1):
        got = cr.vmap(cr.grad(_loss(s.ours, cr), argnums=s.dnums), in_axes=in_axes, out_axes=oa)(
            *[s.c(a) for a in args])
        want = _torch_vmap(torch.func.grad(_loss(s.theirs, torch), argnums=s.dnums), in_axes, oa,
                           [s.t(a) for a in args])
        _close(got, want, f"{s.name}: vmap(grad) in_axes={in_axes} out_axes={oa}", s.tol)
    # vmap of jvp: the primals batched as in_axes, the tangents along axis 0
    n = len(s.specs)

    def jvp_of(f, lib_jvp):
        def g(*pt):
            p, t = pt[:n], pt[n:]
            return lib_jvp(s.fill(f, None, list(p)), tuple(p[i] for i in s.dnums), tuple(t))
        return g
    tangents = [s.btan[i] for i in s.dnums]
    axes = tuple(in_axes) + (0,) * len(s.dnums)
    got = cr.vmap(jvp_of(s.ours, cr.jvp), in_axes=axes)(*[s.c(a) for a in args + tangents])
    want = _torch_vmap(jvp_of(s.theirs, torch.func.jvp), axes, 0, [s.t(a) for a in args + tangents])
    _close(got, want, f"{s.name}: vmap(jvp) in_axes={axes}", s.tol)


def check_unbatched(s):
    d = s.dnums
    got = cr.jvp(s.fill(s.ours, s.c, s.ex), tuple(s.c(s.ex[i]) for i in d), tuple(s.c(s.tan[i]) for i in d))
    want = torch.func.jvp(s.fill(s.theirs, s.t, s.ex), tuple(s.t(s.ex[i]) for i in d),
                          tuple(s.t(s.tan[i]) for i in d))
    _close(got, want, f"{s.name}: jvp", s.tol)

    def second(lib, f, grad, conv):
        v = [conv(s.tan[i]) for i in d]

        def h(*args):
            return sum(lib.sum(g * w) for g, w in zip(grad(_loss(f, lib), argnums=d)(*args), v))
        return grad(h, argnums=d)
    got = second(cr, s.ours, cr.grad, s.c)(*[s.c(a) for a in s.ex])
    want = second(torch, s.theirs, torch.func.grad, s.t)(*[s.t(a) for a in s.ex])
    _close(got, want, f"{s.name}: grad(grad)", s.tol * 10)


def check_jacobians(s):
    k = s.dnums[0]
    ours = lambda x: s.ours(*[x if i == k else s.c(a) for i, a in enumerate(s.ex)])     # noqa: E731
    theirs = lambda x: s.theirs(*[x if i == k else s.t(a) for i, a in enumerate(s.ex)])  # noqa: E731
    want = torch.func.jacrev(theirs)(s.t(s.ex[k]))
    _close(cr.jacfwd(ours)(s.c(s.ex[k])), want, f"{s.name}: jacfwd", s.tol)
    _close(cr.jacrev(ours)(s.c(s.ex[k])), want, f"{s.name}: jacrev", s.tol)
    if not s.specs[k].shape:
        return
    xb = np.moveaxis(s.bx[k], 0, 1)
    # the oracle is torch's jacrev: torch 2.13's vmap(jacfwd(torch.linalg.solve / det)) is wrong
    # (it disagrees with its own loop over examples)
    want = _torch_vmap(torch.func.jacrev(theirs), (1,), 1, [s.t(xb)])
    for name, ours_j in (("jacfwd", cr.jacfwd), ("jacrev", cr.jacrev)):
        got = cr.vmap(ours_j(ours), in_axes=1, out_axes=1)(s.c(xb))
        _close(got, want, f"{s.name}: vmap({name}) in_axes=1 out_axes=1", s.tol)


SETTINGS = dict(deadline=None, derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=1, **SETTINGS)
@given(data=st.data())
def test_vmap_grad_jvp_against_torch_func(name, data):
    """vmap, vmap(grad), vmap(jvp) with drawn in_axes/out_axes; jvp and grad(grad); numpy, float64."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Setup(name, "numpy", "float64", seed=data.draw(st.integers(0, 2 ** 16)))
        check_vmaps(s, _axes(data.draw, s.specs), data.draw(st.sampled_from([0, 1, -1])))
        if s.dnums and any(_np(o).dtype.kind == "f" for o in _flat(s.theirs(*[s.t(a) for a in s.ex]))):
            check_unbatched(s)


JACOBIAN_CASES = sorted(n for n, (o, t, specs) in CASES.items() if any(sp.diff for sp in specs)
                        and n not in ("astype", "topk", "floor", "ceil", "trunc", "round", "sign", "stop_gradient", "compare",
                                      "logical", "argmax", "argmin_keep", "argsort", "any_all", "isfinite",
                                      "isnan", "logical_not"))


@pytest.mark.parametrize("name", JACOBIAN_CASES)
def test_jacobians_and_vmapped_jacobians_against_torch_func(name):
    """jacfwd and jacrev against torch.func.jacrev; both under vmap with in_axes=1, out_axes=1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_jacobians(Setup(name, "numpy", "float64", seed=1))


TORCH_BACKEND = ["add", "divide", "where", "where_mask", "sum_keep", "max", "logsumexp", "softmax", "cumsum",
                 "sort", "topk", "getitem_advanced_split", "take_batched_index", "getitem_batched_index_split",
                 "take_along_axis", "index_add", "embedding", "cross_entropy", "matmul_vector_left", "einsum",
                 "solve", "eigh", "svd", "conv2d", "max_pool2d", "layer_norm_affine", "concat", "split"]


@pytest.mark.parametrize("name", TORCH_BACKEND)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=1, **SETTINGS)
@given(data=st.data())
def test_torch_backend_and_float32(name, dtype, data):
    """The same compositions with torch arrays under every op (and in float32: dtypes kept)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Setup(name, "torch", dtype, seed=data.draw(st.integers(0, 2 ** 16)))
        check_vmaps(s, _axes(data.draw, s.specs), data.draw(st.sampled_from([0, 1, -1])))
        if dtype == "float64" and name in JACOBIAN_CASES:
            check_jacobians(s)


@pytest.mark.parametrize("name", ["add", "take_batched_index", "eigh", "sort"])
def test_numpy_float32_keeps_dtypes(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Setup(name, "numpy", "float32", seed=3)
        check_vmaps(s, tuple(0 for _ in s.specs), -1)


# ---------------------------------------------------------- the bugs, minimized

@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_an_index_batched_by_an_outer_vmap_only(backend):
    """Inner vmap over rows, the index batched by the outer one (per example): x[:, i]."""
    xs = cr.tensor(np.arange(24.0).reshape(2, 3, 4), backend=backend)
    idx = cr.tensor(np.array([[1, 3], [0, 2]]), backend=backend)
    got = cr.vmap(lambda x, i: cr.vmap(lambda r: r[i])(x))(xs, idx)
    want = cr.vmap(lambda x, i: x[:, i])(xs, idx)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    grads = cr.vmap(lambda x, i: cr.grad(lambda x: cr.sum(cr.vmap(lambda r: r[i] ** 2)(x)))(x))(xs, idx)
    np.testing.assert_array_equal(grads.numpy(), cr.vmap(lambda x, i: cr.grad(
        lambda x: cr.sum(x[:, i] ** 2))(x))(xs, idx).numpy())


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("jac", ["jacrev", "jacfwd", "hessian"])
def test_vmap_of_jacobians_of_sort(backend, jac):
    x = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    w = np.array([1.0, 2.0, 3.0])
    if jac == "hessian":
        ours = cr.hessian(lambda v: cr.sum(cr.sort(v) ** 3 * cr.tensor(w, backend=backend)))
        theirs = torch.func.hessian(lambda v: torch.sum(torch.sort(v)[0] ** 3 * torch.tensor(w)))
    else:
        ours = getattr(cr, jac)(cr.sort)
        theirs = getattr(torch.func, jac)(lambda v: torch.sort(v)[0])
    got = cr.vmap(ours)(cr.tensor(x, backend=backend))
    np.testing.assert_allclose(got.numpy(), torch.func.vmap(theirs)(torch.tensor(x)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("which", ["eigh", "svd", "eig"])
def test_vmap_of_jacfwd_through_eigenvectors(backend, which):
    rng = np.random.default_rng(0)
    m = rng.standard_normal((2, 3, 3))
    if which == "eigh":
        ours = lambda a: (lambda w, v: v * v)(*cr.eigh(a + cr.matrix_transpose(a)))            # noqa: E731
        theirs = lambda a: (lambda w, v: v * v)(*torch.linalg.eigh(a + a.mT))                 # noqa: E731
    elif which == "svd":
        m = m[:, :, :2]
        ours = lambda a: (lambda u, s, vh: u @ vh)(*cr.linalg.svd(a, full_matrices=False))     # noqa: E731
        theirs = lambda a: (lambda u, s, vh: u @ vh)(*torch.linalg.svd(a, full_matrices=False))  # noqa: E731
    else:
        d = np.diag([1.0, 2.0, 3.0])
        ours = lambda a: cr.linalg.eig(a * 0.1 + cr.tensor(d, backend=backend))[0]           # noqa: E731
        theirs = lambda a: torch.linalg.eigvals(a * 0.1 + torch.tensor(d)).real               # noqa: E731
    got = cr.vmap(cr.jacfwd(ours))(cr.tensor(m, backend=backend))
    want = torch.func.vmap(torch.func.jacrev(theirs))(torch.tensor(m))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-8, atol=1e-10)


# --------------------------------------------------------- the loop fallback

def test_an_op_without_a_batching_rule_loops_to_torch_funcs_answers():
    """A user op registered without batch=: vmap runs it per example (warning once) and every
    composition still matches torch.func (in_axes 1 / None, out_axes -1, params, nesting)."""
    name = "sweep_transforms_sinmul"
    if name not in cr.ops.names():
        cr.ops.register(
            name, lambda x, y, scale=1.0: cr.sin(x) * y * scale,
            vjp=lambda ans, x, y, scale=1.0: lambda g: (g * cr.cos(x) * y * scale, g * cr.sin(x) * scale),
            jvp=lambda t, ans, x, y, scale=1.0: ((0 if t[0] is None else t[0] * cr.cos(x) * y * scale)
                                                 + (0 if t[1] is None else t[1] * cr.sin(x) * scale)))
    f = cr.ops.get(name).public
    tf = lambda x, y, scale=1.0: torch.sin(x) * y * scale    # noqa: E731
    rng = np.random.default_rng(0)
    xs, ys, yb = rng.standard_normal((2, 3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    for backend in ("numpy", "torch"):
        c = lambda a: cr.tensor(a, backend=backend)    # noqa: E731
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _close(cr.vmap(lambda x, y: f(x, y, scale=2.0), in_axes=(1, None), out_axes=-1)(c(xs), c(ys)),
                   torch.func.vmap(lambda x, y: tf(x, y, 2.0), in_dims=(1, None), out_dims=-1)(
                       torch.tensor(xs), torch.tensor(ys)), "loop vmap", 1e-12)
            loss = lambda x, y: cr.sum(cr.tanh(f(x, y)))                # noqa: E731
            tloss = lambda x, y: torch.sum(torch.tanh(tf(x, y)))        # noqa: E731
            _close(cr.vmap(cr.grad(loss, argnums=(0, 1)), in_axes=(1, 0), out_axes=-1)(c(xs), c(yb)),
                   torch.func.vmap(torch.func.grad(tloss, argnums=(0, 1)), in_dims=(1, 0), out_dims=-1)(
                       torch.tensor(xs), torch.tensor(yb)), "loop vmap(grad)", 1e-12)
            _close(cr.vmap(lambda x, t: cr.jvp(lambda x: f(x, c(ys)), (x,), (t,)), in_axes=(None, 1))(c(xs[:, 0]), c(xs)),
                   torch.func.vmap(lambda x, t: torch.func.jvp(lambda x: tf(x, torch.tensor(ys)), (x,), (t,)),
                                   in_dims=(None, 1))(torch.tensor(xs[:, 0]), torch.tensor(xs)), "loop vmap(jvp)", 1e-12)
            _close(cr.vmap(cr.vmap(f, in_axes=(0, None)), in_axes=(1, None))(c(xs), c(ys)),
                   torch.func.vmap(torch.func.vmap(tf, in_dims=(0, None)), in_dims=(1, None))(
                       torch.tensor(xs), torch.tensor(ys)), "loop vmap(vmap)", 1e-12)
            for j, tj in ((cr.jacfwd, torch.func.jacfwd), (cr.jacrev, torch.func.jacrev)):
                _close(cr.vmap(j(lambda x: f(x, c(ys))), in_axes=1, out_axes=1)(c(xs)),
                       torch.func.vmap(tj(lambda x: tf(x, torch.tensor(ys))), in_dims=1, out_dims=1)(torch.tensor(xs)),
                       "loop vmap(jac)", 1e-12)

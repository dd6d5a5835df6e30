"""Products: ``einsum``, the one primitive, and ``dot inner outer tensordot kron cross`` built
of it (or of matmul and multiply, where those are exact and faster).

einsum is multilinear, so its rules are einsums too.  The JVP puts each tangent in its
operand's place.  The VJP of operand i contracts g with the other operands into i's
subscripts, with two repairs: a letter only operand i has (summed away in the forward) comes
back by broadcasting, and a letter repeated in operand i (a trace, a diagonal) is written onto
the diagonal by contracting with an identity matrix (``"ii->"``: x_bar = g * eye).

The op sees one canonical spelling (``spec``): explicit output, letters only, no ``...``,
one size per letter.  The public ``einsum`` front turns NumPy's spellings into it: implicit
output, ellipsis, size-1 broadcasting, the sublist form.
"""
import functools
import numbers
import string

from .registry import register, on_kernels, public
from ._util import shape_of, dtype_of
from .elementwise import multiply, subtract
from .shape import reshape, broadcast_to, getitem, stack, permute_dims, axis_argument
from .linalg import matmul
from ..creation import asarray
from ..errors import ArgumentError, ShapeError
from ..tensor import Tensor, make
from .. import backends as _backends

LETTERS = string.ascii_uppercase + string.ascii_lowercase   # NumPy's order: A-Z are 0-25, a-z 26-51
MAX_OPERANDS = 64   # one VJP/JVP rule per operand slot


# ------------------------------------------------------------------ the spec

@functools.lru_cache(maxsize=1024)
def _terms(spec):
    """'ab,bc->ac' -> (('ab', 'bc'), 'ac')."""
    ins, out = spec.split("->")
    return tuple(ins.split(",")), out


def _spec(ins, out):
    return ",".join(ins) + "->" + out


def _fresh(spec, k=1):
    """k letters the spec does not use (for '...', vmap's batch axis, a diagonal's copy)."""
    free = [c for c in LETTERS if c not in spec]
    if len(free) < k:
        raise ArgumentError(f"einsum {spec!r} needs {k} letters more than the 52 there are (to spell "
                            "'...', or to differentiate or batch it); contract in two steps")
    return free[:k]


def _sizes(ins, operands):
    sizes = {}
    for term, x in zip(ins, operands):
        sizes.update(zip(term, shape_of(x)))
    return sizes


def _eye(like, n):
    """An n x n identity with like's backend and dtype (like: a Tensor or a raw array)."""
    if type(like) is Tensor:
        b = like._backend
        return make(b.eye(n, n, dtype_of(like)), b)
    b = _backends.backend_of_raw(like)
    return b.eye(n, n, b.dtype(like))


# ------------------------------------------------------------------ the op

@on_kernels
def _einsum_forward(k, *operands, spec):
    return k.einsum(spec, *operands)


def _cotangent(g, operands, i, spec):
    """d<g, einsum(operands)> / d operand i, an einsum of g and the other operands."""
    ins, out = _terms(spec)
    target, sizes = ins[i], _sizes(ins, operands)
    terms = [out] + [s for j, s in enumerate(ins) if j != i]
    args = [g] + [x for j, x in enumerate(operands) if j != i]
    available = set("".join(terms))
    letters, dropped, seen = [], [], set()
    repeats = len(target) - len(set(target))
    extra = iter(_fresh(spec, repeats) if repeats else ())
    for pos, c in enumerate(target):
        if c in seen:   # a repeated letter: its diagonal, through an identity
            f = next(extra)
            terms.append(c + f)
            args.append(_eye(g, sizes[c]))
            letters.append(f)
        elif c in available or target.count(c) > 1:
            letters.append(c)
            seen.add(c)
        else:           # summed in the forward by this operand alone: broadcast back
            dropped.append(pos)
    result = "".join(letters)
    ct = g if len(args) == 1 and result == out else _einsum(*args, spec=_spec(terms, result))
    if dropped:
        shape = shape_of(operands[i])
        ct = broadcast_to(reshape(ct, tuple(1 if p in dropped else d for p, d in enumerate(shape))), shape)
    return ct


def _vjp_of(i):
    return lambda ans, *operands, spec: lambda g: _cotangent(g, operands, i, spec)


def _jvp_of(i):
    return lambda x_dot, ans, *operands, spec: _einsum(*operands[:i], x_dot, *operands[i + 1:], spec=spec)


def _einsum_batch(dims, *operands, spec):
    """A fresh letter for the batch axis, on the batched operands and the output."""
    ins, out = _terms(spec)
    b, = _fresh(spec)
    return _einsum(*operands, spec=_spec([b + s if d == 0 else s for s, d in zip(ins, dims)], b + out))


_einsum = register("einsum", _einsum_forward, batch=_einsum_batch,
                   vjp=tuple(_vjp_of(i) for i in range(MAX_OPERANDS)),
                   jvp=tuple(_jvp_of(i) for i in range(MAX_OPERANDS)))


# ------------------------------------------------------------ NumPy's spellings

def _as_tensors(op, operands):
    """Numbers and lists become tensors on the backend of the tensors among them."""
    backend = next((x._backend for x in operands if type(x) is Tensor), None)
    out = []
    for x in operands:
        if type(x) is Tensor or _backends.backend_of_raw(x) is not None:
            out.append(x)
        elif isinstance(x, (numbers.Real, list, tuple)):
            out.append(asarray(x, backend=backend))
        else:
            raise ArgumentError(f"{op}: operands must be tensors, arrays or numbers, got {type(x).__name__}")
    return out


def _from_sublists(args):
    """NumPy's other form, einsum(x, [0, 1], y, [1, 2], [0, 2]), as a subscripts string."""
    def letters(sub):
        if not isinstance(sub, (list, tuple)) or not all(
                s is Ellipsis or (isinstance(s, numbers.Integral) and not isinstance(s, bool) and 0 <= s < 52)
                for s in sub):
            raise ArgumentError(f"einsum: subscripts are a string ('ij,jk->ik') or NumPy's sublists (ints "
                                f"in [0, 52) and Ellipsis after each operand), got {sub!r}")
        return "".join("..." if s is Ellipsis else LETTERS[s] for s in sub)
    operands, subs = list(args[0::2]), [letters(s) for s in args[1::2]]
    out = "->" + letters(operands.pop()) if len(args) % 2 else ""   # the odd one: the output's
    return ",".join(subs) + out, operands


def _parse(subscripts, n):
    """(input terms, output term or None) of a subscripts string, checked."""
    if not isinstance(subscripts, str):
        raise ArgumentError(f"einsum: subscripts must be a string such as 'ij,jk->ik', got {subscripts!r}")
    s = subscripts.replace(" ", "")
    if s.count("->") > 1:
        raise ArgumentError(f"einsum: {subscripts!r} has more than one '->'")
    ins, arrow, out = s.partition("->")
    terms = ins.split(",")
    if len(terms) != n:
        raise ArgumentError(f"einsum: {subscripts!r} names {len(terms)} operands but {n} were given; "
                            "give one comma-separated term per operand")
    for t in terms + ([out] if arrow else []):
        bad = set(t.replace("...", "", 1)) - set(LETTERS)
        if bad:
            raise ArgumentError(f"einsum: {subscripts!r} has {''.join(sorted(bad))!r}; subscripts are "
                                "letters a-z A-Z, with at most one '...' per term")
    return terms, (out if arrow else None)


def _expand(terms, out, shapes, subscripts):
    """Explicit terms: each '...' as letters (right-aligned, broadcasting as NumPy) and the
    output spelled out (implicit mode: '...' then the letters used once, sorted)."""
    ell_ranks = []
    for t, shape in zip(terms, shapes):
        named = len(t.replace("...", ""))
        rank = len(shape) - named
        if rank < 0 or ("..." not in t and rank):
            raise ShapeError(f"einsum: term {t!r} of {subscripts!r} names {named} axes but its operand "
                             f"has shape {tuple(shape)}; give one letter per axis (or '...')")
        ell_ranks.append(rank)
    ell = "".join(_fresh(subscripts.replace("...", ""), max(ell_ranks, default=0))) if any(ell_ranks) else ""
    terms = [t.replace("...", ell[len(ell) - r:] if r else "") for t, r in zip(terms, ell_ranks)]
    if out is None:
        counts = "".join(terms)
        out = ell + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ell))
    elif "..." in out:
        out = out.replace("...", ell)
    elif ell:
        raise ShapeError(f"einsum: {subscripts!r} has '...' axes in its operands but not in its output; "
                         "add '...' to the output, or sum those axes away first")
    missing = set(out) - set("".join(terms))
    if len(set(out)) != len(out) or missing:
        raise ArgumentError(f"einsum: the output of {subscripts!r} must name each letter once, and only "
                            "letters of the operands")
    return terms, out


def _target_shapes(terms, shapes, subscripts):
    """Each operand's shape with every letter at its one size: NumPy lets size-1 axes
    broadcast; the operands are broadcast to these (views), so the op and its rules never
    see two sizes for one letter."""
    sizes = {}
    for t, shape in zip(terms, shapes):
        for c in set(t):
            own = {d for l, d in zip(t, shape) if l == c}
            if len(own) > 1:
                raise ShapeError(f"einsum {subscripts!r}: the axes letter {c!r} names in one operand "
                                 f"{shape} differ ({sorted(own)}); a diagonal needs equal axes")
            d = own.pop()
            if sizes.get(c, 1) == 1:
                sizes[c] = d
            elif d not in (1, sizes[c]):
                raise ShapeError(f"einsum {subscripts!r}: letter {c!r} has sizes {sizes[c]} and {d}; "
                                 "the axes a letter names must have one size (or 1, to broadcast)")
    return tuple(tuple(sizes[c] for c in t) for t in terms)


@functools.lru_cache(maxsize=1024)
def _plan(subscripts, shapes):
    """(the op's spec, the shape each operand is broadcast to) for NumPy's spelling: parsed
    once per subscripts and shapes (a training loop asks the same question every step)."""
    terms, out = _parse(subscripts, len(shapes))
    terms, out = _expand(terms, out, shapes, subscripts)
    return _spec(terms, out), _target_shapes(terms, shapes, subscripts)


@public(_einsum)
def einsum(subscripts, *operands, optimize=None):
    """Einstein summation, as ``numpy.einsum``: ``einsum("ij,jk->ik", a, b)`` is ``a @ b``.

    Any subscripts: implicit output (no ``->``), ``...``, repeated letters in one operand
    (``"ii->"`` is the trace, ``"ii->i"`` the diagonal), any number of operands, and NumPy's
    sublist form.  ``optimize`` is accepted for NumPy's signature; the backend plans the
    contraction itself.  Its VJP and JVP are einsums, so every order composes.

    >>> import chainrule as cr
    >>> float(cr.einsum("ii", cr.tensor([[1.0, 2.0], [3.0, 4.0]])))
    5.0
    """
    if not isinstance(subscripts, str):
        subscripts, operands = _from_sublists((subscripts,) + operands)
    if not all(type(x) is Tensor for x in operands):
        operands = _as_tensors("einsum", operands)
    if len(operands) > MAX_OPERANDS:
        raise ArgumentError(f"einsum takes at most {MAX_OPERANDS} operands, got {len(operands)}; "
                            "contract them in steps")
    shapes = tuple(tuple(shape_of(x)) for x in operands)
    spec, targets = _plan(subscripts, shapes)
    operands = [x if want == shape else broadcast_to(x, want)
                for x, shape, want in zip(operands, shapes, targets)]
    return _einsum(*operands, spec=spec)


# ------------------------------------------------- products made of einsum or matmul

def _ndim(x):
    return len(shape_of(x))


def _letters(n, skip=""):
    return "".join(c for c in LETTERS if c not in skip)[:n]


def _pair(op, a, b):
    a, b = _as_tensors(op, (a, b))
    return a, b, tuple(shape_of(a)), tuple(shape_of(b))


def dot(a, b):
    """``numpy.dot``: products of scalars, inner product of vectors, matrix product, and for
    N-d ``a`` the sum over a's last axis and b's second-to-last (its only, for 1-d b)."""
    a, b, sa, sb = _pair("dot", a, b)
    if not sa or not sb:
        return multiply(a, b)
    k = -2 if len(sb) > 1 else -1
    if sa[-1] != sb[k]:
        raise ShapeError(f"dot: shapes {sa} and {sb} do not align: a's last axis ({sa[-1]}) must "
                         f"equal b's {'second-to-last' if k == -2 else 'only'} axis ({sb[k]})")
    if len(sb) <= 2:
        return matmul(a, b)   # the same contraction; batched GEMM
    la, lb = _letters(len(sa)), _letters(len(sb), skip=_letters(len(sa)))
    lb = lb[:-2] + la[-1] + lb[-1]
    return _einsum(a, b, spec=_spec([la, lb], la[:-1] + lb[:-2] + lb[-1]))


def inner(a, b):
    """``numpy.inner``: the sum over the last axes, shape a.shape[:-1] + b.shape[:-1]."""
    a, b, sa, sb = _pair("inner", a, b)
    if not sa or not sb:
        return multiply(a, b)
    if sa[-1] != sb[-1]:
        raise ShapeError(f"inner: the last axes of {sa} and {sb} differ; they must have one length")
    la = _letters(len(sa))
    lb = _letters(len(sb) - 1, skip=la) + la[-1]
    return _einsum(a, b, spec=_spec([la, lb], la[:-1] + lb[:-1]))


def outer(a, b):
    """``numpy.outer``: every product of the flattened a and b, shape (a.size, b.size)."""
    a, b, _, _ = _pair("outer", a, b)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def _axes_list(op, axes, ndim):
    axes = [axes] if isinstance(axes, numbers.Integral) else list(axes)
    return [axis_argument(op, ax, ndim) for ax in axes]


def tensordot(a, b, axes=2):
    """``numpy.tensordot``: sum over a's last ``axes`` axes and b's first (an int), or over
    ``axes = (axes_of_a, axes_of_b)`` paired in order; a's free axes, then b's."""
    a, b, sa, sb = _pair("tensordot", a, b)
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        if not 0 <= axes <= min(len(sa), len(sb)):
            raise ShapeError(f"tensordot: axes={axes} needs 0 <= axes <= {min(len(sa), len(sb))} for "
                             f"shapes {sa} and {sb}")
        ax_a, ax_b = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        try:
            ax_a, ax_b = axes
        except (TypeError, ValueError):
            raise ArgumentError(f"tensordot: axes must be an int or a pair (axes of a, axes of b), "
                                f"got {axes!r}") from None
        ax_a, ax_b = _axes_list("tensordot", ax_a, len(sa)), _axes_list("tensordot", ax_b, len(sb))
    if len(ax_a) != len(ax_b) or len(set(ax_a)) < len(ax_a) or len(set(ax_b)) < len(ax_b):
        raise ArgumentError(f"tensordot: axes {axes!r} must pair as many distinct axes of a as of b")
    for i, j in zip(ax_a, ax_b):
        if sa[i] != sb[j]:
            raise ShapeError(f"tensordot: axis {i} of a {sa} has length {sa[i]} but axis {j} of b {sb} "
                             f"has {sb[j]}; summed axes must have one length")
    la = _letters(len(sa))
    lb = list(_letters(len(sb), skip=la))
    for i, j in zip(ax_a, ax_b):
        lb[j] = la[i]
    lb = "".join(lb)
    out = "".join(c for i, c in enumerate(la) if i not in ax_a) + "".join(
        c for j, c in enumerate(lb) if j not in ax_b)
    return _einsum(a, b, spec=_spec([la, lb], out))


def kron(a, b):
    """``numpy.kron``: the Kronecker product; the operand of fewer axes gets leading 1s."""
    a, b, sa, sb = _pair("kron", a, b)
    n = max(len(sa), len(sb))
    sa, sb = (1,) * (n - len(sa)) + sa, (1,) * (n - len(sb)) + sb
    a = reshape(a, tuple(d for s in sa for d in (s, 1)))   # (a0, 1, a1, 1, ...)
    b = reshape(b, tuple(d for s in sb for d in (1, s)))   # (1, b0, 1, b1, ...)
    return reshape(multiply(a, b), tuple(p * q for p, q in zip(sa, sb)))


def _moved_last(x, axis):
    n = _ndim(x)
    axis = axis_argument("cross", axis, n)
    return x if axis == n - 1 else permute_dims(x, tuple(i for i in range(n) if i != axis) + (axis,))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``numpy.cross`` of 3-vectors along ``axisa`` of a and ``axisb`` of b (``axis`` sets all
    three), the result's vectors along ``axisc``; the other axes broadcast."""
    a, b, _, _ = _pair("cross", a, b)
    if axis is not None:
        axisa = axisb = axisc = axis
    if not _ndim(a) or not _ndim(b):
        raise ShapeError("cross: the operands must be (arrays of) 3-vectors, not scalars")
    a, b = _moved_last(a, axisa), _moved_last(b, axisb)
    if shape_of(a)[-1] != 3 or shape_of(b)[-1] != 3:
        raise ShapeError(f"cross: vectors must have 3 components, got {shape_of(a)[-1]} and "
                         f"{shape_of(b)[-1]} (NumPy's 2-vector form is deprecated: append a 0)")
    (a0, a1, a2), (b0, b1, b2) = ([getitem(v, (Ellipsis, i)) for i in range(3)] for v in (a, b))
    c = stack([subtract(a1 * b2, a2 * b1), subtract(a2 * b0, a0 * b2), subtract(a0 * b1, a1 * b0)], axis=-1)
    n = _ndim(c)
    axisc = axis_argument("cross", axisc, n)
    if axisc == n - 1:
        return c
    order = list(range(n - 1))
    order.insert(axisc, n - 1)
    return permute_dims(c, tuple(order))


# composites: no rules of their own, differentiated through einsum, matmul and multiply
register("dot", dot, method=True)
register("inner", inner)
register("outer", outer)
register("tensordot", tensordot)
register("kron", kron)
register("cross", cross)

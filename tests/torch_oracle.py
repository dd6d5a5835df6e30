"""torch as the oracle of an op: values, VJPs (cr.vjp and eager backward) and JVPs compared with
torch.autograd and torch.func.jvp on the same inputs."""
import numpy as np
import torch

import chainrule as cr


def close(ours, theirs, rtol=1e-10, atol=1e-12):
    """A chainrule value (tensor or raw) equals torch's (or NumPy's), shape included."""
    theirs = theirs.detach().cpu().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    got = ours.numpy() if isinstance(ours, cr.Tensor) else np.asarray(ours)
    assert got.shape == theirs.shape, f"shape {got.shape}, torch {theirs.shape}"
    np.testing.assert_allclose(got, theirs, rtol=rtol, atol=atol)


def check_against_torch(ours, theirs, xs, dtype, **tol):
    """ours(*tensors) vs theirs(*torch tensors) at the NumPy inputs ``xs`` in ``dtype``: the
    value and its dtype, the VJP of a random cotangent through cr.vjp and through an eager
    backward (the raw-array rules), and the JVP of random tangents."""
    ours_in = [cr.tensor(x, dtype=dtype) for x in xs]
    theirs_in = [torch.tensor(x, requires_grad=True) for x in xs]
    out, pullback = cr.vjp(ours, *ours_in)
    expected = theirs(*theirs_in)
    close(out, expected, **tol)
    assert out.dtype == dtype, f"{dtype} in, {out.dtype} out"
    g = np.random.default_rng(1).standard_normal(tuple(expected.shape)).astype(dtype)
    cts = pullback(cr.tensor(g, dtype=dtype))
    cts = cts if isinstance(cts, tuple) else (cts,)
    want = torch.autograd.grad(expected, theirs_in, torch.tensor(g))
    for i, (c, w) in enumerate(zip(cts, want)):
        assert c.dtype == dtype and c.shape == tuple(xs[i].shape)
        close(c, w, **tol)
    leaves = [cr.tensor(x, dtype=dtype, requires_grad=True) for x in xs]
    ours(*leaves).backward(cr.tensor(g, dtype=dtype))
    for leaf, w in zip(leaves, want):
        close(leaf.grad, w, **tol)
    ts = [np.random.default_rng(2 + i).standard_normal(x.shape).astype(dtype) for i, x in enumerate(xs)]
    _, tangent = cr.jvp(ours, tuple(ours_in), tuple(cr.tensor(t, dtype=dtype) for t in ts))
    _, want_t = torch.func.jvp(theirs, tuple(torch.tensor(x) for x in xs), tuple(torch.tensor(t) for t in ts))
    close(tangent, want_t, **tol)

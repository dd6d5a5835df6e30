"""Workloads shared by the asv benchmarks, ``compare.py``, ``profile_step.py`` and the CI smoke test.

Every builder returns a zero-argument ``step()`` closure that does one unit of
work (one train step, one chain forward + backward, one HVP); setup (weights,
data, graph-free tensors) happens in the builder, so a timer around ``step``
sees only the work.  Contenders built from the same ``seed`` start from the
same weights and data, so they do the same arithmetic.

A backend that cannot run here raises ``NotImplementedError`` with the reason:
asv shows that as a gap in the dashboard instead of an error.
"""
import os

import numpy as np

BACKENDS = ["numpy", "torch", "cupy", "torch:cuda"]
LR = 0.01


# -- choosing a backend -----------------------------------------------------

def require_backend(name):
    """Raise NotImplementedError (asv: "skipped") with the reason unless chainrule backend
    ``name`` (a device form like "torch:cuda" included) runs here; returns chainrule."""
    import chainrule as cr
    try:
        cr.tensor(0.0, backend=name)   # loads the backend (the same call in every commit)
    except Exception as exc:  # noqa: BLE001 - unknown name, missing library, no device
        raise NotImplementedError(f"backend {name!r} unavailable: {exc}") from None
    return cr


def require_optim():
    """The ``chainrule.optim`` module, or NotImplementedError when this checkout lacks it."""
    try:
        import chainrule.optim as optim
    except ImportError as exc:
        raise NotImplementedError(f"chainrule.optim is not available: {exc}") from None
    return optim


def optimizer_names():
    """``cr.optim.names()`` or a placeholder, so asv can still enumerate parameters."""
    try:
        return list(require_optim().names())
    except Exception:  # noqa: BLE001
        return ["sgd"]


def blas_threads():
    """Threads NumPy's BLAS uses: the OpenBLAS/OMP variables, else the CPUs we may run on."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def torch_device(name):
    """torch device for a chainrule backend name ("torch" -> cpu, "torch:cuda" -> cuda)."""
    return "cuda" if name.endswith("cuda") else "cpu"


# -- data and weights ---------------------------------------------------------

def mlp_arrays(sizes, batch, dtype="float32", seed=0):
    """NumPy weights (in, out) with torch's default init, biases, inputs and integer labels."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        params.append(rng.uniform(-bound, bound, (fan_out,)).astype(dtype))
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    return params, X, y


# -- MLP train step -------------------------------------------------------------

def numpy_mlp_step(batch, dtype="float32", seed=0, lr=LR):
    """Hand-written NumPy step of MLP 784-512-ReLU-10 with softmax cross-entropy, as the lessons
    write it: forward, backward (no dX for the first layer: nobody needs it), SGD update."""
    (W1, b1, W2, b2), X, y = mlp_arrays([784, 512, 10], batch, dtype, seed)
    rows = np.arange(batch)

    def step():
        nonlocal W1, b1, W2, b2  # updated in place below
        # forward
        H = X @ W1 + b1
        A = np.maximum(H, 0)
        Z = A @ W2 + b2
        # softmax cross-entropy, stable
        Z -= Z.max(axis=1, keepdims=True)
        E = np.exp(Z)
        P = E / E.sum(axis=1, keepdims=True)
        loss = -np.log(P[rows, y]).mean()
        # backward: dL/dZ = (softmax - onehot) / B
        dZ = P
        dZ[rows, y] -= 1
        dZ /= batch
        dW2 = A.T @ dZ
        db2 = dZ.sum(axis=0)
        dH = (dZ @ W2.T) * (H > 0)
        dW1 = X.T @ dH
        db1 = dH.sum(axis=0)
        # SGD update, in place
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
        return loss
    return step


def chainrule_model(sizes, dtype="float32", backend="numpy", seed=0, activation="relu"):
    """``cr.nn.MLP`` holding the same weights as ``mlp_arrays`` (weight shape (in, out))."""
    cr = require_backend(backend)
    params, _, _ = mlp_arrays(sizes, 1, dtype, seed)
    net = cr.nn.MLP(list(sizes), activation=activation, dtype=dtype, backend=backend)
    names = [n for n, _ in net.named_parameters()]
    net.load_state_dict(dict(zip(names, params)))
    return cr, net


def sgd_update(cr, params, lr=LR):
    """``cr.optim.create("sgd")`` when the checkout has it, else the plain no_grad update."""
    try:
        opt = require_optim().create("sgd", params, lr=lr)
    except (NotImplementedError, cr.ChainruleError):  # no optim module, or no sgd plugin yet
        opt = None
    if opt is not None:
        def update():
            opt.step()
            opt.zero_grad()
        update.kind = "cr.optim sgd"
        return update

    def update():
        with cr.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
    update.kind = "no_grad p -= lr * p.grad"
    return update


def chainrule_mlp_step(batch, sizes=(784, 512, 10), dtype="float32", backend="numpy", seed=0,
                       lr=LR, checkpoint=False, optimizer="sgd"):
    """One chainrule train step: MLP forward, fused cross-entropy, loss.backward(), optimizer."""
    cr, net = chainrule_model(sizes, dtype, backend, seed)
    _, X, y = mlp_arrays(sizes, batch, dtype, seed)
    x = cr.tensor(X, backend=backend)
    labels = cr.tensor(y, backend=backend)
    params = net.parameters()
    if optimizer == "sgd":
        update = sgd_update(cr, params, lr)
    else:
        opt = require_optim().create(optimizer, params)
        update = lambda: (opt.step(), opt.zero_grad())  # noqa: E731
        update.kind = f"cr.optim {optimizer}"
    forward = _checkpointed(cr, net) if checkpoint else net

    def step():
        loss = cr.nn.cross_entropy(forward(x), labels)
        loss.backward()
        update()
        return loss
    step.update_kind = update.kind
    return step


def _checkpointed(cr, net):
    """The MLP's forward with every hidden Linear + ReLU in ``cr.checkpoint``: only each block's
    input and output are kept, the pre-activation is recomputed in backward.  The weights are
    passed as arguments (closing over them, or checkpointing the Linear, works as well)."""
    relu = cr.nn.relu

    def hidden_block(h, W, b):
        return relu(h @ W + b)
    block = cr.checkpoint(hidden_block)
    linears = [m for m in net.layers if hasattr(m, "weight")]

    def forward(x):
        for layer in linears[:-1]:
            x = block(x, layer.weight, layer.bias)
        return linears[-1](x)
    return forward


def torch_mlp_step(batch, sizes=(784, 512, 10), dtype="float32", device="cpu", seed=0, lr=LR):
    """Native torch eager: the same model written with torch tensors, autograd, and an in-place
    SGD update under no_grad."""
    import torch
    import torch.nn.functional as F
    params, X, y = mlp_arrays(sizes, batch, dtype, seed)
    ps = [torch.tensor(p, device=device, requires_grad=True) for p in params]
    x = torch.tensor(X, device=device)
    labels = torch.tensor(y, device=device)

    def step():
        h = x
        for i in range(0, len(ps), 2):
            h = h @ ps[i] + ps[i + 1]
            if i + 2 < len(ps):
                h = torch.relu(h)
        loss = F.cross_entropy(h, labels)
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p -= lr * p.grad
                p.grad = None
        return loss
    return step


# -- elementwise chain: per-op overhead ------------------------------------------------

def chainrule_chain(n_ops=100, size=8, backend="numpy", backward=True):
    """``n_ops`` elementwise ops (mul, add, tanh, sin, repeated) on a tiny vector, then sum
    and backward: on shape (8,) nothing but the per-op overhead is measured."""
    cr = require_backend(backend)
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal(size).astype("float32"), backend=backend,
                  requires_grad=backward)
    a = cr.tensor(np.full(size, 0.9, "float32"), backend=backend)
    b = cr.tensor(np.full(size, 0.1, "float32"), backend=backend)
    tanh, sin, total = cr.tanh, cr.sin, cr.sum

    def forward():
        h = x
        for _ in range(n_ops // 4):
            h = sin(tanh(h * a + b))
        return h

    if not backward:
        return forward

    def step():
        total(forward()).backward()
        x.grad = None
    return step


def torch_chain(n_ops=100, size=8, device="cpu", backward=True):
    import torch
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal(size).astype("float32"), device=device,
                     requires_grad=backward)
    a = torch.full((size,), 0.9, device=device)
    b = torch.full((size,), 0.1, device=device)
    tanh, sin = torch.tanh, torch.sin

    def forward():
        h = x
        for _ in range(n_ops // 4):
            h = sin(tanh(h * a + b))
        return h

    if not backward:
        return forward

    def step():
        forward().sum().backward()
        x.grad = None
    return step


# -- second order ---------------------------------------------------------------------

def tanh_problem(n=256, dtype="float32", backend="numpy"):
    """f(W) = sum(tanh(W x)) with W n x n, and a direction V for the HVP."""
    cr = require_backend(backend)
    rng = np.random.default_rng(0)
    W = cr.tensor((rng.standard_normal((n, n)) / np.sqrt(n)).astype(dtype), backend=backend)
    V = cr.tensor(rng.standard_normal((n, n)).astype(dtype), backend=backend)
    x = cr.tensor(rng.standard_normal(n).astype(dtype), backend=backend)

    def f(W):
        return cr.sum(cr.tanh(W @ x))
    return cr, f, W, V


def chainrule_grad(n=256, dtype="float32", backend="numpy"):
    cr, f, W, _ = tanh_problem(n, dtype, backend)
    g = cr.grad(f)
    return lambda: g(W)


def chainrule_hvp(n=256, dtype="float32", backend="numpy"):
    cr, f, W, V = tanh_problem(n, dtype, backend)
    return lambda: cr.hvp(f, (W,), (V,))


def torch_tanh_problem(n=256, dtype="float32", device="cpu"):
    import torch
    rng = np.random.default_rng(0)
    W = torch.tensor((rng.standard_normal((n, n)) / np.sqrt(n)).astype(dtype), device=device,
                     requires_grad=True)
    V = torch.tensor(rng.standard_normal((n, n)).astype(dtype), device=device)
    x = torch.tensor(rng.standard_normal(n).astype(dtype), device=device)
    return torch, (lambda W: torch.tanh(W @ x).sum()), W, V


def torch_grad(n=256, dtype="float32", device="cpu"):
    torch, f, W, _ = torch_tanh_problem(n, dtype, device)
    return lambda: torch.autograd.grad(f(W), W)[0]


def torch_hvp(n=256, dtype="float32", device="cpu"):
    """Double backward: grad with create_graph, then the gradient of <grad, V>."""
    torch, f, W, V = torch_tanh_problem(n, dtype, device)

    def step():
        (g,) = torch.autograd.grad(f(W), W, create_graph=True)
        return torch.autograd.grad((g * V).sum(), W)[0]
    return step


# -- per-example gradients (cr.vmap) --------------------------------------------------

def per_example_problem(sizes=(784, 128, 10), batch=64, dtype="float32", backend="numpy", seed=0):
    """A 2-layer MLP's loss on one example, ``loss(params, x, y)``, with the same weights and
    data as ``mlp_arrays``; x is (batch, in), y (batch,) integer labels."""
    cr = require_backend(backend)
    if not hasattr(cr, "vmap"):
        raise NotImplementedError("this checkout has no cr.vmap")
    arrays, X, y = mlp_arrays(sizes, batch, dtype, seed)
    params = [cr.tensor(a, backend=backend) for a in arrays]

    def loss(params, x, y):
        w1, b1, w2, b2 = params
        return cr.nn.cross_entropy(cr.nn.relu(x @ w1 + b1) @ w2 + b2, y)
    return cr, loss, params, cr.tensor(X, backend=backend), cr.tensor(y, backend=backend)


def chainrule_per_example_grads(batch=64, backend="numpy", **kw):
    """``vmap(grad(loss))``: every example's gradient, (batch,) + each parameter's shape."""
    cr, loss, params, x, y = per_example_problem(batch=batch, backend=backend, **kw)
    per_example = cr.vmap(cr.grad(loss), in_axes=(None, 0, 0))
    return lambda: per_example(params, x, y)


def chainrule_batch_grad(batch=64, backend="numpy", **kw):
    """One gradient of the mean loss over the batch (the same loss on all rows at once)."""
    cr, loss, params, x, y = per_example_problem(batch=batch, backend=backend, **kw)
    g = cr.grad(loss)
    return lambda: g(params, x, y)


def chainrule_per_example_loop(batch=64, backend="numpy", **kw):
    """The per-example gradients by a Python loop of ``grad`` (what vmap replaces)."""
    cr, loss, params, x, y = per_example_problem(batch=batch, backend=backend, **kw)
    g = cr.grad(loss)
    rows = [(x[i], y[i]) for i in range(batch)]
    return lambda: [g(params, xi, yi) for xi, yi in rows]


def numpy_per_example_grads(batch=64, sizes=(784, 128, 10), dtype="float32", seed=0):
    """The same per-example gradients written by hand in NumPy: the kernels any vmap(grad)
    needs at the least (forward, softmax - onehot, one broadcast outer product per weight),
    with no framework around them.  Its time over the batched gradient is the floor of
    vmap(grad) / batched grad: B per-example weight gradients are B times the bytes."""
    (W1, b1, W2, b2), X, y = mlp_arrays(sizes, batch, dtype, seed)
    rows = np.arange(batch)

    def step():
        h = X @ W1 + b1
        a = np.maximum(h, 0)
        z = a @ W2 + b2
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[rows, y] -= 1                  # each example's dloss/dz (its mean is over one row)
        dh = (p @ W2.T) * (h > 0)
        return X[:, :, None] * dh[:, None, :], dh, a[:, :, None] * p[:, None, :], p
    return step


def torch_per_example_grads(batch=64, sizes=(784, 128, 10), dtype="float32", device="cpu", seed=0):
    """torch.func's ``vmap(grad(loss))`` on the same problem (a reference)."""
    import torch
    import torch.nn.functional as F
    from torch.func import grad, vmap
    arrays, X, y = mlp_arrays(sizes, batch, dtype, seed)
    params = [torch.tensor(a, device=device) for a in arrays]
    x, labels = torch.tensor(X, device=device), torch.tensor(y, device=device)

    def loss(params, x, y):
        w1, b1, w2, b2 = params
        return F.cross_entropy((torch.relu(x @ w1 + b1) @ w2 + b2)[None], y[None])
    per_example = vmap(grad(loss), in_dims=(None, 0, 0))
    return lambda: per_example(params, x, labels)


def torch_batch_grad(batch=64, sizes=(784, 128, 10), dtype="float32", device="cpu", seed=0):
    import torch
    import torch.nn.functional as F
    arrays, X, y = mlp_arrays(sizes, batch, dtype, seed)
    params = [torch.tensor(a, device=device, requires_grad=True) for a in arrays]
    x, labels = torch.tensor(X, device=device), torch.tensor(y, device=device)

    def step():
        w1, b1, w2, b2 = params
        loss = F.cross_entropy(torch.relu(x @ w1 + b1) @ w2 + b2, labels)
        return torch.autograd.grad(loss, params)
    return step

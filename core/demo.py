"""The demo: an MLP learns to classify three interleaved spirals, on whichever backend
``CHAINRULE_BACKEND`` names (numpy by default).  No data to download."""
import math
import time

import chainrule as cr


# Every random number comes from the numpy backend's generator and is then moved to the
# backend in use, so the loss curve is the same on numpy, torch and cupy (to rounding).
RNG = "numpy"


def spirals(n_per_class=200, classes=3, noise=0.2, seed=0):
    """Points on ``classes`` interleaved spiral arms in 2-D, with integer labels."""
    cr.random.seed(seed)
    radius = cr.arange(n_per_class, dtype="float32", backend=RNG) / n_per_class
    xs, ys = [], []
    for k in range(classes):
        noise_k = cr.random.normal((n_per_class,), backend=RNG) * noise
        theta = radius * 4.0 + (2 * math.pi * k / classes) + noise_k
        xs.append(cr.stack([radius * cr.sin(theta), radius * cr.cos(theta)], axis=1))
        ys.append(cr.full((n_per_class,), k, dtype="int64", backend=RNG))
    target = cr.get_backend()
    return cr.concat(xs).to(target.name), cr.concat(ys).to(target.name)


def train(steps=300, hidden=64, lr=0.1, batch=64, seed=0, log_every=25, quiet=False):
    """Train and return the list of losses (one per step)."""
    X, y = spirals(seed=seed)
    cr.random.seed(seed)
    net = cr.nn.MLP([2, hidden, hidden, 3], backend=RNG).to(X.backend)
    opt = cr.optim.create("sgd", net.named_parameters(), lr=lr, momentum=0.9)
    losses, start = [], time.perf_counter()
    n = X.shape[0]
    for step in range(steps):
        idx = cr.random.randint(0, n, (batch,), backend=RNG).to(X.backend)
        loss = cr.nn.cross_entropy(net(X[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if not quiet and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {losses[-1]:.4f}")
    if not quiet:
        with cr.no_grad():
            acc = float(cr.mean((cr.argmax(net(X), axis=1) == y).astype("float32")).item())
        print(f"backend {X.backend}: {steps} steps in {time.perf_counter() - start:.2f}s, "
              f"train accuracy {acc:.1%}")
    return losses

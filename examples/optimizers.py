"""Optimizers compared: SGD, momentum, RMSProp, Adam, AdamW, Lion, Adafactor, Sophia, Shampoo.

Three problems, every optimizer from ``cr.optim`` (``cr.optim.names()``):

1. Rosenbrock's valley f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.2, 1), f = 24.2, the
   long curved ravine of the classic trajectory picture (minimum f(1, 1) = 0).
2. The day lesson's exercise 2: an ill-conditioned quadratic f(w) = w^T A w (A's eigenvalues
   0.01 and 1, condition number 100) with SGD, SGD + momentum and Adam at the *same*
   learning rate 0.05.  With the valley along the axes (the lesson's picture), Adam's
   sqrt(v) rescales the steep and the shallow coordinate alike and crushes both.  Two
   caveats the run also shows: Adam's rescaling is per coordinate, so the same valley
   rotated by 30 degrees takes its edge away; and Adam's step is about lr whatever the
   gradient's size, so "the same lr" favours it only where gradients are small (at
   eigenvalues 1 and 100 with a lr small enough for SGD, momentum wins).
3. A 64-32-10 MLP on scikit-learn's 8x8 digits: the first loss is log(10) = 2.303 (a random
   init guesses uniformly: the day lesson's self-check 7), then each optimizer trains it.

4. The chapter's exercise 6: Adam's update m_hat / (sqrt(v_hat) + eps) does not change when
   every gradient is multiplied by c > 0 (m scales by c, sqrt(v) by c): Adam on 100 f and
   on f / 100 takes the same steps as on f (up to eps), while SGD's steps scale by c
   (at c = 100 its lr is too large for the valley and it diverges).
   Useful: the learning rate does not depend on the loss's units or scale.
5. The chapter's exercise 9: AdamW with no gradient multiplies the weights by (1 - lr lambda)
   each step, so w_T = w_0 (1 - lr lambda)^T -> 0: decay alone pulls every weight to zero.

Each optimizer's learning rate is its own sensible one (Lion takes a 3-10x smaller rate
than Adam, as the lesson's table says; Lion's step is lr * sign(...), always the same size,
so on Rosenbrock it ends hopping around the minimum instead of settling).  Sophia's
optimizer step takes the loss as a function of the parameters: it samples the Hessian's
diagonal with Hessian-vector products (``cr.hvp``).

Run: python examples/optimizers.py [--quick] [--out DIR]   (CHAINRULE_BACKEND=torch for torch)
"""
import argparse
import math
import os
import sys

import numpy as np

import chainrule as cr

# (algorithm in cr.optim, hyperparameters) per optimizer, for Rosenbrock
ROSENBROCK = {
    "sgd": ("sgd", dict(lr=1e-3)),
    "momentum": ("sgd", dict(lr=2e-4, momentum=0.9)),
    "rmsprop": ("rmsprop", dict(lr=1e-2)),
    "adam": ("adam", dict(lr=5e-2)),
    "adamw": ("adamw", dict(lr=5e-2, weight_decay=0.01)),
    "lion": ("lion", dict(lr=1e-2)),
    "adafactor": ("adafactor", dict(lr=5e-2)),
    "sophia": ("sophia", dict(lr=5e-2, weight_decay=0.0)),
    "shampoo": ("shampoo", dict(lr=5e-2)),
}
START = (-1.2, 1.0)

# ... and for the digits MLP
DIGITS = {
    "sgd": ("sgd", dict(lr=0.1)),
    "momentum": ("sgd", dict(lr=0.05, momentum=0.9)),
    "rmsprop": ("rmsprop", dict(lr=1e-3)),
    "adam": ("adam", dict(lr=3e-3)),
    "adamw": ("adamw", dict(lr=3e-3, weight_decay=0.01)),
    "lion": ("lion", dict(lr=1e-3)),
    "adafactor": ("adafactor", dict(lr=3e-2)),
    "sophia": ("sophia", dict(lr=3e-3, weight_decay=0.0)),
    "shampoo": ("shampoo", dict(lr=0.05)),
}

QUADRATIC_EIGENVALUES = (0.01, 1.0)
QUADRATIC_LR = 0.05
QUADRATIC_START = (1.0, 1.0)


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (fewer steps)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figures (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def minimize(loss_fn, start, algorithm, hparams, steps, progress=lambda it: it):
    """Run one optimizer on loss_fn(params) from start; the losses before each step and the end point."""
    p = cr.tensor(np.array(start, dtype="float64"), requires_grad=True)
    opt = cr.optim.create(algorithm, [p], **hparams)
    losses = []
    for _ in progress(range(steps)):
        loss = loss_fn(p)
        opt.zero_grad()
        loss.backward()
        opt.step(loss_fn if opt.algorithm.needs_hvp else None)   # sophia: the loss as a function
        losses.append(float(loss))
    return losses, p.numpy().copy()


def quadratic_matrix(degrees=0.0):
    """A symmetric positive-definite A with QUADRATIC_EIGENVALUES along axes rotated by degrees."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    Q = np.array([[c, -s], [s, c]])
    return Q @ np.diag(QUADRATIC_EIGENVALUES) @ Q.T


def load_digits_split(seed=0):
    from sklearn.datasets import load_digits
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = X[order], y[order]
    return (X[:1500], y[:1500]), (X[1500:], y[1500:])


def train_digits(algorithm, hparams, data, steps, batch=64, seed=0, progress=lambda it: it):
    """The same init (seed) and the same batches for every optimizer; losses and test accuracy."""
    (X, y), (Xt, yt) = data
    cr.random.seed(seed)
    net = cr.nn.MLP([64, 32, 10], activation="relu", dtype="float64")
    opt = cr.optim.create(algorithm, net.named_parameters(), **hparams)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in progress(range(steps)):
        idx = rng.integers(0, len(y), batch)
        xb, yb = cr.tensor(X[idx]), cr.tensor(y[idx])
        loss = cr.nn.cross_entropy(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        if opt.algorithm.needs_hvp:
            opt.step(lambda *ps: _functional_loss(net, ps, xb, yb))
        else:
            opt.step()
        losses.append(float(loss))
    with cr.no_grad():
        accuracy = float((net(cr.tensor(Xt)).numpy().argmax(axis=1) == yt).mean())
    return losses, accuracy


def _functional_loss(net, values, xb, yb):
    """The MLP's loss as a pure function of its parameters (for Sophia's Hessian samples):
    the layers applied by hand with the given weights, in net.parameters() order."""
    h = xb
    linears = [m for m in net if isinstance(m, cr.nn.Linear)]
    it = iter(values)
    for i, layer in enumerate(linears):
        w = next(it)
        b = next(it) if layer.bias is not None else None
        h = h @ w + (b if b is not None else 0.0)
        if i < len(linears) - 1:
            h = cr.nn.relu(h)
    return cr.nn.cross_entropy(h, yb)


def scale_invariance(steps):
    """Trajectories of Adam (and SGD) on f and on c f from the same start; the largest gap."""
    out = {}
    for algo, hp in (("adam", dict(lr=5e-2)), ("sgd", dict(lr=1e-4))):
        base = _trajectory(rosenbrock, algo, hp, steps)
        for c in (100.0, 0.01):
            if algo == "sgd" and c < 1:
                continue
            scaled = _trajectory(lambda p, c=c: c * rosenbrock(p), algo, hp, steps)
            gap = float(np.nanmax(np.abs(np.array(scaled) - np.array(base)))) if np.isfinite(scaled).all() \
                else math.inf
            out[f"{algo} c={c:g}"] = {"max_gap": gap, "base": base, "scaled": scaled}
    return out


def _trajectory(loss_fn, algorithm, hparams, steps):
    p = cr.tensor(np.array(START), requires_grad=True)
    opt = cr.optim.create(algorithm, [p], **hparams)
    points = []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            opt.zero_grad()
            loss_fn(p).backward()
            opt.step()
            points.append(p.numpy().copy())
    return points


def adamw_decay(lr=0.1, weight_decay=0.1, horizons=(10, 100, 1000)):
    """|w_T| / |w_0| for AdamW stepped with zero gradients."""
    w0 = np.array([3.0, -2.0, 0.5])
    w = cr.tensor(w0, requires_grad=True)
    opt = cr.optim.create("adamw", [w], lr=lr, weight_decay=weight_decay)
    ratios = {}
    for t in range(1, max(horizons) + 1):
        w.grad = cr.zeros_like(w)
        opt.step()
        if t in horizons:
            ratios[t] = float(np.linalg.norm(w.numpy()) / np.linalg.norm(w0))
    return {"lr": lr, "weight_decay": weight_decay, "ratios": ratios}


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for name, r in results["rosenbrock"].items():
        axes[0].semilogy(np.maximum(r["losses"], 1e-16), label=name)
    axes[0].set_title("Rosenbrock from (-1.2, 1)"); axes[0].set_xlabel("step"); axes[0].set_ylabel("f")
    for name, r in results["quadratic"].items():
        axes[1].semilogy(r["losses"], label=name)
    axes[1].set_title(f"w^T A w, eigenvalues {QUADRATIC_EIGENVALUES}, lr={QUADRATIC_LR}")
    axes[1].set_xlabel("step")
    for name, r in results["digits"].items():
        axes[2].plot(np.convolve(r["losses"], np.ones(10) / 10, mode="valid"), label=name)
    axes[2].set_title("digits MLP (10-step moving average)"); axes[2].set_xlabel("step")
    axes[2].set_ylabel("cross-entropy")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(out, "optimizers.png")
    fig.savefig(path, dpi=110); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    from tqdm import tqdm

    def progress(desc):
        return lambda it: tqdm(it, desc=desc, leave=False, disable=args.quick or not sys.stderr.isatty())

    rosen_steps, quad_steps, digit_steps = (1000, 300, 150) if args.quick else (5000, 1000, 1500)
    results = {"start": START, "rosenbrock": {}, "quadratic": {}, "digits": {},
               "steps": {"rosenbrock": rosen_steps, "quadratic": quad_steps, "digits": digit_steps}}

    print(f"1. Rosenbrock from {START} (f = 24.2), {rosen_steps} steps  [backend {cr.get_backend().name}]")
    for name, (algo, hp) in ROSENBROCK.items():
        losses, end = minimize(rosenbrock, START, algo, hp, rosen_steps, progress(name))
        results["rosenbrock"][name] = {"algorithm": algo, "hparams": hp, "losses": losses, "end": end}
        print(f"  {name:>9} {hp}: f {losses[0]:.1f} -> {float(rosenbrock(end)):.2e} at ({end[0]:.3f}, {end[1]:.3f})")

    print(f"2. w^T A w, A's eigenvalues {QUADRATIC_EIGENVALUES}, every optimizer at lr = {QUADRATIC_LR}, "
          f"{quad_steps} steps")
    for degrees, key in ((0.0, "quadratic"), (30.0, "quadratic_rotated")):
        A = quadratic_matrix(degrees)
        A_t = cr.tensor(A)
        results[key], results[key + "_A"] = {}, A
        for name, algo, hp in (("sgd", "sgd", {}), ("momentum", "sgd", {"momentum": 0.9}),
                               ("adam", "adam", {})):
            losses, end = minimize(lambda w: w @ (A_t @ w), QUADRATIC_START, algo,
                                   dict(hp, lr=QUADRATIC_LR), quad_steps)
            results[key][name] = {"algorithm": algo, "hparams": dict(hp, lr=QUADRATIC_LR),
                                  "losses": losses, "end": end, "final": float(end @ A @ end)}
        print(f"  axes rotated {degrees:>4.0f} deg: " + ", ".join(
            f"{n} {losses[0]:.3f} -> {r['final']:.2e}" for n, r in results[key].items()))
    q, qr = results["quadratic"], results["quadratic_rotated"]
    assert q["adam"]["final"] < q["momentum"]["final"] < q["sgd"]["final"], \
        "at the same lr, Adam should beat momentum, which beats SGD, on the axis-aligned valley"
    assert qr["adam"]["final"] > 1e3 * q["adam"]["final"], "rotating the valley should cost Adam its edge"

    data = load_digits_split()
    print(f"3. digits, a 64-32-10 ReLU MLP, {digit_steps} steps of batch 64 (same init and batches)")
    for name, (algo, hp) in DIGITS.items():
        losses, acc = train_digits(algo, hp, data, digit_steps, progress=progress(name))
        results["digits"][name] = {"algorithm": algo, "hparams": hp, "losses": losses, "accuracy": acc}
        print(f"  {name:>9} {hp}: loss {losses[0]:.3f} -> {np.mean(losses[-10:]):.3f}, "
              f"test accuracy {acc:.3f}")
    first = results["digits"]["sgd"]["losses"][0]
    print(f"  the first loss {first:.3f} is about log(10) = {math.log(10):.3f}: a random init guesses uniformly")

    for name, r in results["rosenbrock"].items():
        assert r["losses"][-1] < r["losses"][0] / 10, f"{name} did not descend Rosenbrock's valley"
    for name, r in results["digits"].items():
        assert np.mean(r["losses"][-10:]) < r["losses"][0] / 2, f"{name} did not train the digits MLP"
    results["scale_invariance"] = scale_invariance(rosen_steps // 2)
    si = results["scale_invariance"]
    print(f"4. exercise 6: the largest distance between the trajectory on f and on c f, {rosen_steps // 2} steps: "
          + ", ".join(f"{k} {v['max_gap']:.1e}" for k, v in si.items()))
    assert si["adam c=100"]["max_gap"] < 1e-6 and si["adam c=0.01"]["max_gap"] < 1e-4
    assert si["sgd c=100"]["max_gap"] > 0.1

    results["adamw_decay"] = adamw_decay()
    ad = results["adamw_decay"]
    print(f"5. exercise 9: AdamW, lr={ad['lr']}, weight_decay={ad['weight_decay']}, zero gradients: |w_T| / |w_0| = "
          + ", ".join(f"T={t}: {v:.3e}" for t, v in ad["ratios"].items())
          + f"  (1 - lr lambda)^T = " + ", ".join(f"{(1 - ad['lr'] * ad['weight_decay']) ** t:.3e}"
                                                   for t in ad["ratios"]))
    for t, v in ad["ratios"].items():
        assert math.isclose(v, (1 - ad["lr"] * ad["weight_decay"]) ** t, rel_tol=1e-9)

    results["figure"] = plot(results, args.out)
    print(f"figure: {results['figure']}")
    return results


if __name__ == "__main__":
    main()

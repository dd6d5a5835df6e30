"""XOR with a small MLP in chainrule: the classic problem no single linear layer can solve
(lesson 000, exercise 13, with chainrule as the autograd engine).

A 2-8-2 tanh MLP (``cr.nn.MLP``), cross-entropy on the four points, Adam.  The loss falls to
about 0 and all four points are classified correctly; the figure shows the loss curve and
the learned decision regions.  Full mode trains from several seeds and reports each.

Run: python examples/xor.py [--quick] [--out DIR]
"""
import argparse
import os
import sys

import numpy as np

import chainrule as cr

INPUTS = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
LABELS = [0, 1, 1, 0]


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (one seed)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def train(seed, steps, lr=0.05, hidden=8, progress=lambda it: it):
    """Train from cr.random.seed(seed); the initial weights, the losses and the trained net."""
    cr.random.seed(seed)
    net = cr.nn.MLP([2, hidden, 2], activation="tanh", dtype="float64")
    init = {name: p.numpy().copy() for name, p in net.named_parameters()}
    opt = cr.optim.create("adam", net.named_parameters(), lr=lr)
    X, y = cr.tensor(np.array(INPUTS)), cr.tensor(np.array(LABELS))
    losses = []
    for _ in progress(range(steps)):
        loss = cr.nn.cross_entropy(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    with cr.no_grad():
        probs = cr.nn.softmax(net(X), axis=-1).numpy()
    return init, losses, probs, net


def plot(losses, net, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.semilogy(losses)
    ax1.set_xlabel("step"); ax1.set_ylabel("cross-entropy"); ax1.set_title("XOR: the loss falls to ~0")
    grid = np.linspace(-0.5, 1.5, 101)
    G = np.array([[a, b] for b in grid for a in grid])
    with cr.no_grad():
        p1 = cr.nn.softmax(net(cr.tensor(G)), axis=-1).numpy()[:, 1].reshape(len(grid), len(grid))
    ax2.contourf(grid, grid, p1, levels=20, cmap="coolwarm")
    for (a, b), label in zip(INPUTS, LABELS):
        ax2.scatter(a, b, c="white" if label else "black", edgecolors="k", s=120)
    ax2.set_title("P(class 1): the MLP's decision regions")
    fig.tight_layout()
    path = os.path.join(out, "xor.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    from tqdm import tqdm
    progress = lambda it: tqdm(it, desc="XOR", disable=args.quick or not sys.stderr.isatty())
    steps = 300 if args.quick else 1000
    seeds = [0] if args.quick else [0, 1, 2, 3, 4]
    runs = {}
    for seed in seeds:
        init, losses, probs, net = train(seed, steps, progress=progress)
        runs[seed] = {"init": init, "losses": losses, "probs": probs,
                      "predictions": probs.argmax(axis=1).tolist()}
        print(f"seed {seed}: loss {losses[0]:.4f} -> {losses[-1]:.2e} in {steps} Adam steps; "
              f"P(label) = {np.round(probs[np.arange(4), LABELS], 4).tolist()}, predictions {runs[seed]['predictions']}")
        if seed == seeds[0]:
            figure = plot(losses, net, args.out)
    print(f"figure: {figure}")
    for run in runs.values():
        assert run["predictions"] == LABELS, run["predictions"]
        assert run["losses"][-1] < 0.01 < run["losses"][0]
    return {"runs": runs, "steps": steps, "figure": figure}


if __name__ == "__main__":
    main()

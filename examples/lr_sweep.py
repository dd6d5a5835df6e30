"""A learning-rate sweep (the U-curve) and the LR finder, on the digits MLP.

The day lesson's recipe for the peak learning rate (its exercise 4): train at
lr in {1e-1, 1e-2, 1e-3, 1e-4, 1e-5} (here also 1, to see the far wall) for a few hundred
steps and plot the final training loss against lr on log axes.  Too small crawls, too
large diverges or stalls; the bottom of the U is the peak lr.

The LR finder (``cr.diagnostics.lr_finder``; Smith 2015, fastai) gets there in one short
run: it raises the learning rate exponentially from 1e-6 to 1 over 100 steps and stops
when the loss blows up (above 4x the best); it suggests a tenth of the rate at the
lowest loss.  The suggestion lands at the sweep's good region.

Both with Adam on a 64-32-10 ReLU MLP on scikit-learn's 8x8 digits, the same init and
the same batches for every run.

Run: python examples/lr_sweep.py [--quick] [--out DIR]   (CHAINRULE_BACKEND=torch for torch)
"""
import argparse
import math
import os
import sys

import numpy as np

import chainrule as cr

LRS = (1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
SIZES = (64, 32, 10)
BATCH = 64


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (fewer steps)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def load_digits_data():
    from sklearn.datasets import load_digits
    digits = load_digits()
    return digits.data / 16.0, digits.target


def batch_indices(n, steps, seed=0):
    """The same mini-batches for every run: (steps, BATCH) row numbers."""
    return np.random.default_rng(seed).integers(0, n, (steps, BATCH))


def make_model(seed=0):
    cr.random.seed(seed)
    return cr.nn.MLP(list(SIZES), activation="relu", dtype="float64")


def train(lr, X, y, batches, progress=lambda it: it):
    """Adam at a constant lr; the loss of each batch before its update."""
    net = make_model()
    opt = cr.optim.create("adam", net.named_parameters(), lr=lr)
    losses = []
    for idx in progress(batches):
        loss = cr.nn.cross_entropy(net(cr.tensor(X[idx])), cr.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


def final_loss(losses, window=10):
    """The mean of the last few batch losses (inf once a run went non-finite)."""
    tail = losses[-window:]
    return float(np.mean(tail)) if all(math.isfinite(v) for v in tail) else math.inf


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    finals = [min(results["final"][lr], 1e3) for lr in LRS]
    ax1.loglog(LRS, finals, "o-")
    ax1.axvline(results["best_lr"], color="g", ls=":", label=f"sweep's best {results['best_lr']:g}")
    ax1.axvline(results["suggested_lr"], color="r", ls="--", label=f"LR finder {results['suggested_lr']:.2g}")
    ax1.set_xlabel("learning rate"); ax1.set_ylabel("final training loss"); ax1.legend()
    ax1.set_title("the U-curve (Adam, digits MLP)")
    ax2.semilogx(results["finder_lrs"], results["finder_losses"])
    ax2.axvline(results["suggested_lr"], color="r", ls="--")
    ax2.set_xlabel("learning rate (rising each step)"); ax2.set_ylabel("batch loss")
    ax2.set_title("LR finder: exponential ramp until the loss blows up")
    fig.tight_layout()
    path = os.path.join(out, "lr_sweep.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    from tqdm import tqdm
    steps = 150 if args.quick else 600
    X, y = load_digits_data()
    batches = batch_indices(len(y), steps)
    results = {"steps": steps, "batches": batches, "losses": {}, "final": {}}
    print(f"learning-rate sweep: Adam, {steps} steps of batch {BATCH}  [backend {cr.get_backend().name}]")
    for lr in LRS:
        bar = lambda it: tqdm(it, desc=f"lr={lr:g}", leave=False, disable=args.quick or not sys.stderr.isatty())
        results["losses"][lr] = train(lr, X, y, batches, bar)
        results["final"][lr] = final_loss(results["losses"][lr])
        print(f"  lr={lr:<7g} final loss {results['final'][lr]:.4f}")
    best = min(LRS, key=lambda lr: results["final"][lr])
    results["best_lr"] = best
    assert best not in (LRS[0], LRS[-1]), "the sweep's best lr should sit inside the range: a U"
    assert results["final"][LRS[0]] > 2 * results["final"][best] < results["final"][LRS[-1]] / 2

    finder_batches = [(cr.tensor(X[idx]), cr.tensor(y[idx])) for idx in batches[:100]]
    lrs, losses, suggested = cr.diagnostics.lr_finder(
        lambda: (lambda net: (net, cr.optim.create("adam", net.named_parameters())))(make_model()),
        cr.nn.cross_entropy, finder_batches, lr_min=1e-6, lr_max=1.0, steps=100)
    results.update(finder_lrs=lrs, finder_losses=losses, suggested_lr=suggested)
    print(f"LR finder: {len(lrs)} steps from {lrs[0]:.0e} to {lrs[-1]:.2e}, lowest loss "
          f"{min(losses):.3f}, suggested lr = {suggested:.2e} (sweep's best: {best:g})")
    assert 0.1 * best <= suggested <= 10 * best, "the finder should land within a decade of the sweep's best"
    results["figure"] = plot(results, args.out)
    print(f"figure: {results['figure']}")
    return results


if __name__ == "__main__":
    main()

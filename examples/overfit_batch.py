""""Can you overfit a single batch?" (the day lesson's sanity check): a correct model memorises
one batch, its loss going to about 0; a buggy one cannot, whatever the hyperparameters.

One batch of 32 digits (scikit-learn's 8x8 digits), an MLP [64, 64, 10], Adam, checked with
``cr.diagnostics.overfit_one_batch`` and with the plain loop it stands for (the same losses).
Two of the lesson's bugs, each caught:

* a frozen model: the optimizer was given only the last bias (the "forgot to enable
  gradients" bug); the loss stops at the entropy of the batch's labels.
* softmax applied before the cross-entropy (the pathology table's "loss flat"): the logits
  are then probabilities in [0, 1], so the loss cannot go below log(1 + (C - 1)/e)
  = 1.4612 for C = 10 classes (the true class at 1, the others at 0).

Run: python examples/overfit_batch.py [--quick] [--out DIR]
"""
import argparse
import math
import os

import numpy as np

import chainrule as cr


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (fewer steps)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def one_batch(size=32):
    from sklearn.datasets import load_digits
    digits = load_digits()
    return cr.tensor(digits.data[:size].astype(np.float32) / 16.0), cr.tensor(digits.target[:size].astype(np.int64))


def fresh_model(seed=0):
    cr.random.seed(seed)
    return cr.nn.MLP([64, 64, 10])


def plain_loop(model, loss_fn, inputs, targets, optimizer, steps, tol):
    """What overfit_one_batch does: the same batch, step after step, until the loss is below tol."""
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
        if losses[-1] <= tol:
            break
    return losses, losses[-1] <= tol


def softmax_then_cross_entropy(logits, targets):
    """The bug: cross_entropy takes logits, and here it gets probabilities."""
    return cr.nn.cross_entropy(cr.nn.softmax(logits, axis=-1), targets)


def label_entropy(targets):
    counts = np.bincount(targets.numpy(), minlength=10)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def plot(curves, floors, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, losses in curves.items():
        ax.semilogy(losses, label=name)
    for name, value in floors.items():
        ax.axhline(value, ls=":", c="gray")
        ax.text(0, value * 1.05, name, fontsize=8, color="gray")
    ax.set_xlabel("step on the same batch"); ax.set_ylabel("cross-entropy")
    ax.set_title("overfitting one batch: only the correct model gets to ~0")
    ax.legend(fontsize=8); fig.tight_layout()
    path = os.path.join(out, "overfit_batch.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    steps, tol = (200, 1e-2) if args.quick else (500, 1e-3)
    inputs, targets = one_batch()
    overfit = cr.diagnostics.overfit_one_batch
    runs = {}
    model = fresh_model()
    runs["correct"] = overfit(model, cr.nn.cross_entropy, inputs, targets,
                              cr.optim.create("adam", model.named_parameters(), lr=1e-2), steps=steps, tol=tol)
    model = fresh_model()
    runs["plain loop"] = plain_loop(model, cr.nn.cross_entropy, inputs, targets,
                                    cr.optim.create("adam", model.named_parameters(), lr=1e-2), steps, tol)
    model = fresh_model()
    runs["frozen (only the last bias trains)"] = overfit(
        model, cr.nn.cross_entropy, inputs, targets,
        cr.optim.create("adam", [model.layers[-1].bias], lr=1e-2), steps=steps, tol=tol)
    model = fresh_model()
    runs["softmax before cross_entropy"] = overfit(
        model, softmax_then_cross_entropy, inputs, targets,
        cr.optim.create("adam", model.named_parameters(), lr=1e-2), steps=steps, tol=tol)
    floors = {"label entropy": label_entropy(targets), "log(1 + 9/e)": math.log(1 + 9 / math.e)}
    for name, (losses, passed) in runs.items():
        print(f"  {name:36s} loss {losses[0]:.4f} -> {min(losses):.4f} in {len(losses)} steps: "
              f"{'passed' if passed else 'FAILED: a bug, not a hyperparameter'}")
    print(f"  floors: entropy of the batch's labels {floors['label entropy']:.4f}, "
          f"softmax-then-cross-entropy log(1 + 9/e) = {floors['log(1 + 9/e)']:.4f}")
    figure = plot({name: losses for name, (losses, _) in runs.items() if name != "plain loop"}, floors, args.out)
    print(f"figure: {figure}")
    assert runs["correct"][1] and runs["plain loop"][1]
    assert np.allclose(runs["correct"][0], runs["plain loop"][0], rtol=1e-6)
    assert not runs["frozen (only the last bias trains)"][1] and not runs["softmax before cross_entropy"][1]
    assert min(runs["softmax before cross_entropy"][0]) >= floors["log(1 + 9/e)"] - 1e-4
    return {"runs": runs, "floors": floors, "tol": tol, "steps": steps, "figure": figure}


if __name__ == "__main__":
    main()

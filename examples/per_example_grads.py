"""Per-example gradients with ``cr.vmap(cr.grad(loss))``, checked against a loop over examples,
and what their norms show: the examples a model finds surprising (here, mislabelled ones).

``cr.grad(loss)(params, x, y)`` is the gradient for one example; ``cr.vmap`` maps it over the
batch axis of x and y (``in_axes=(None, 0, 0)``: the parameters are shared), giving every
parameter's gradient with a leading batch axis in one call.  Their mean is the ordinary
mini-batch gradient.  Per-example norms are what gradient clipping per example (DP-SGD) and
"which examples dominate this step?" need.

An MLP [64, 32, 10] is trained briefly on the digits; then a batch of 64 in which 4 labels are
deliberately wrong gets per-example gradient norms: the wrong ones stand out.

Run: python examples/per_example_grads.py [--quick] [--out DIR]
"""
import argparse
import os

import numpy as np

import chainrule as cr

CORRUPTED = (3, 17, 40, 58)


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (less training)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def forward(params, x):
    hidden = cr.nn.relu(x @ params["layers.0.weight"] + params["layers.0.bias"])
    return hidden @ params["layers.2.weight"] + params["layers.2.bias"]


def example_loss(params, x, y):
    """The loss of one example: x of shape (64,), y a 0-d label."""
    return cr.nn.cross_entropy(forward(params, x[None]), y[None])


def batch_loss(params, X, Y):
    return cr.nn.cross_entropy(forward(params, X), Y)


def global_norms(grads):
    """sqrt(sum over parameters of the squared entries), one per example (axis 0)."""
    total = sum(cr.sum((g * g).reshape((g.shape[0], -1)), axis=1) for g in grads.values())
    return cr.sqrt(total).numpy()


def trained_params(X, Y, steps):
    cr.random.seed(0)
    net = cr.nn.MLP([64, 32, 10], dtype="float64")
    opt = cr.optim.create("adam", net.named_parameters(), lr=1e-2)
    rng = np.random.RandomState(0)
    for _ in range(steps):
        idx = rng.randint(0, len(X), 64)
        loss = batch_loss(dict(net.named_parameters()), cr.tensor(X[idx]), cr.tensor(Y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach() for k, v in net.named_parameters()}


def plot(norms, corrupted, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    colors = ["tab:red" if i in corrupted else "tab:blue" for i in range(len(norms))]
    ax.bar(range(len(norms)), norms, color=colors)
    ax.set_xlabel("example in the batch"); ax.set_ylabel("||per-example gradient||_2")
    ax.set_title("cr.vmap(cr.grad(loss)): the mislabelled examples (red) stand out")
    fig.tight_layout()
    path = os.path.join(out, "per_example_grads.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    from sklearn.datasets import load_digits
    digits = load_digits()
    X, Y = digits.data / 16.0, digits.target.astype(np.int64)
    train, batch = slice(0, 1500), slice(1500, 1564)
    params = trained_params(X[train], Y[train], steps=150 if args.quick else 600)
    Xb, Yb = X[batch], Y[batch].copy()
    true_labels = Yb.copy()
    for i in CORRUPTED:
        Yb[i] = (Yb[i] + 5) % 10          # a wrong label
    Xt, Yt = cr.tensor(Xb), cr.tensor(Yb)
    per_example = cr.vmap(cr.grad(example_loss), in_axes=(None, 0, 0))(params, Xt, Yt)
    looped = [cr.grad(example_loss)(params, Xt[i], Yt[i]) for i in range(len(Yb))]
    loop_gap = max(float(cr.max(cr.abs(per_example[k][i] - g[k]))) for i, g in enumerate(looped) for k in g)
    batch_grad = cr.grad(batch_loss)(params, Xt, Yt)
    mean_gap = max(float(cr.max(cr.abs(cr.mean(per_example[k], axis=0) - batch_grad[k]))) for k in batch_grad)
    norms = global_norms(per_example)
    predicted = forward(params, Xt).numpy().argmax(axis=1)
    misclassified = np.flatnonzero(predicted != true_labels).tolist()   # hard examples, honestly labelled
    flagged = sorted(np.argsort(norms)[::-1][:len(CORRUPTED) + len(misclassified)].tolist())
    print(f"per-example gradients of {len(Yb)} examples: " +
          ", ".join(f"{k} {tuple(v.shape)}" for k, v in per_example.items()))
    print(f"  vmap(grad) vs a loop of grad over examples: max difference {loop_gap:.1e}")
    print(f"  their mean vs the batch gradient: max difference {mean_gap:.1e}")
    print(f"  largest norms at examples {flagged}: the mislabelled ones {list(CORRUPTED)} and those the model "
          f"gets wrong under their true label {misclassified}; median norm {np.median(norms):.3f}, "
          f"mislabelled {np.round(norms[list(CORRUPTED)], 3).tolist()}")
    figure = plot(norms, CORRUPTED, args.out)
    print(f"figure: {figure}")
    assert loop_gap < 1e-12 and mean_gap < 1e-12
    assert set(CORRUPTED) <= set(flagged) and min(norms[list(CORRUPTED)]) > 10 * np.median(norms)
    return {"params": params, "X": Xb, "Y": Yb, "true_labels": true_labels, "per_example": per_example,
            "norms": norms, "flagged": flagged, "misclassified": misclassified, "loop_gap": loop_gap, "mean_gap": mean_gap, "figure": figure}


if __name__ == "__main__":
    main()

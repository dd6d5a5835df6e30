"""A small convolutional net on scikit-learn's 8x8 digits, with ``cr.nn.conv2d`` and
``cr.nn.max_pool2d``.

    (N, 1, 8, 8) -> conv 3x3, 8 channels, padding 1 -> relu -> max-pool 2 -> (N, 8, 4, 4)
                 -> conv 3x3, 16 channels, padding 1 -> relu -> max-pool 2 -> (N, 16, 2, 2)
                 -> flatten (64) -> linear -> 10 logits

A convolution is a small linear layer slid over the image (chainrule computes it as unfold +
one matmul), so its gradient is the same chain rule as a linear layer's, summed over the
positions it was applied at.  Max-pooling passes the gradient to each window's maximum only.
Full mode reaches a test accuracy of about 0.97; quick mode trains less and asserts a lower bar.

Run: python examples/cnn_digits.py [--quick] [--out DIR]
"""
import argparse
import os
import sys

import numpy as np

import chainrule as cr


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (fewer epochs)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


class SmallCNN(cr.nn.Module):
    def __init__(self):
        self.conv1 = cr.nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = cr.nn.Conv2d(8, 16, 3, padding=1)
        self.head = cr.nn.Linear(16 * 2 * 2, 10)

    def features(self, x):
        x = cr.nn.max_pool2d(cr.nn.relu(cr.nn.conv2d(x, self.conv1.weight, self.conv1.bias, padding=1)), 2)
        return cr.nn.max_pool2d(cr.nn.relu(cr.nn.conv2d(x, self.conv2.weight, self.conv2.bias, padding=1)), 2)

    def forward(self, x):
        h = self.features(x)
        return self.head(h.reshape((h.shape[0], -1)))


def load_images(seed=0, test_fraction=0.2):
    """The digits as (N, 1, 8, 8) images in [0, 1], split 80/20 with a fixed shuffle."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    X = (digits.images.astype(np.float32) / 16.0)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.RandomState(seed).permutation(len(X))
    n_test = int(len(X) * test_fraction)
    return X[order[n_test:]], y[order[n_test:]], X[order[:n_test]], y[order[:n_test]]


def accuracy(net, X, y):
    with cr.no_grad():
        return float((net(cr.tensor(X)).numpy().argmax(axis=1) == y).mean())


def train(data, epochs, lr=1e-2, batch=64, seed=0, progress=lambda it: it):
    X_train, y_train, X_test, y_test = data
    cr.random.seed(seed)
    net = SmallCNN()
    opt = cr.optim.create("adam", net.named_parameters(), lr=lr)
    rng = np.random.RandomState(seed)
    losses, accuracies = [], []
    for _ in progress(range(epochs)):
        order, total = rng.permutation(len(X_train)), 0.0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            loss = cr.nn.cross_entropy(net(cr.tensor(X_train[idx])), cr.tensor(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        losses.append(total / len(order))
        accuracies.append(accuracy(net, X_test, y_test))
    return net, losses, accuracies


def plot(net, losses, accuracies, X, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 9, figsize=(12, 3.5))
    gs = axes[0, 0].get_gridspec()
    for ax in axes[:, :3].ravel():
        ax.remove()
    curve = fig.add_subplot(gs[:, :3])
    curve.plot(losses, "o-", label="train loss")
    curve.plot(accuracies, "s-", label="test accuracy")
    curve.set_xlabel("epoch"); curve.legend(fontsize=8)
    with cr.no_grad():
        maps = cr.nn.relu(cr.nn.conv2d(cr.tensor(X[:1]), net.conv1.weight, net.conv1.bias, padding=1)).numpy()[0]
    axes[0, 3].imshow(X[0, 0], cmap="gray_r"); axes[0, 3].set_title("input", fontsize=8)
    for k in range(8):
        ax = axes[k // 4, 5 + k % 4]
        ax.imshow(maps[k], cmap="viridis"); ax.set_title(f"conv1 ch {k}", fontsize=8)
    for ax in axes[:, 3:].ravel():
        ax.axis("off")
    fig.tight_layout()
    path = os.path.join(out, "cnn_digits.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    from tqdm import tqdm
    progress = lambda it: tqdm(it, desc="epochs", disable=args.quick or not sys.stderr.isatty())
    data = load_images()
    epochs, bar = (4, 0.85) if args.quick else (15, 0.95)
    print(f"digits as images: {data[0].shape} train, {data[2].shape} test (backend {cr.get_backend().name})")
    net, losses, accuracies = train(data, epochs, progress=progress)
    for e, (loss, acc) in enumerate(zip(losses, accuracies)):
        print(f"  epoch {e + 1:2d}: train loss {loss:.4f}, test accuracy {acc:.3f}")
    figure = plot(net, losses, accuracies, data[2], args.out)
    print(f"figure: {figure}")
    assert accuracies[-1] > bar, f"test accuracy {accuracies[-1]:.3f} is not above {bar}"
    assert losses[-1] < losses[0]
    return {"net": net, "losses": losses, "accuracies": accuracies, "test_accuracy": accuracies[-1],
            "bar": bar, "figure": figure}


if __name__ == "__main__":
    main()

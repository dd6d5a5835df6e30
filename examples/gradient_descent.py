"""Gradient descent on a quadratic (lesson 000, 2.4): the update w <- w - lr * grad, how fast it
converges for each learning rate, and why it diverges beyond lr = 2/L.

On L(w) = (w - 3)^2 the gradient is 2(w - 3), so one step maps the error w - 3 to
(1 - 2 lr)(w - 3): from w0 = 0, w_k = 3 - 3 (1 - 2 lr)^k exactly.  The curvature is
L'' = 2 (the "L" of L-smooth), so the error shrinks iff |1 - 2 lr| < 1, i.e. 0 < lr < 2/2 = 1:
lr = 0.9 oscillates (factor -0.8) yet converges as fast as lr = 0.1 (factor 0.8); lr = 1.1
diverges (factor -1.2).

On f(w) = 1/2 w^T A w with eigenvalues mu = 1 and L = 10 the same holds per eigen-direction:
factor max(|1 - lr mu|, |1 - lr L|), the best lr = 2/(L + mu) gives (L - mu)/(L + mu), and
lr > 2/L diverges.  The example measures each factor from chainrule's gradients and compares.

The lesson's printed table (steps 5/10/15/20: w = 1.9221, 2.6510, 2.8825, 2.9575) does not
follow from its code: the code gives w = 2.0170, 2.6779, 2.8944, 2.9654 (printed below, both).

Run: python examples/gradient_descent.py [--quick] [--out DIR]
"""
import argparse
import os

import numpy as np

import chainrule as cr

LESSON_TABLE = {5: (1.9221, 1.168928, -2.0972), 10: (2.6510, 0.120897, -0.6978),
                15: (2.8825, 0.013928, -0.2350), 20: (2.9575, 0.001798, -0.0849)}


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (fewer steps)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figures (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def loss(w):
    return (w - 3.0) ** 2


def descend(lr, steps, w0=0.0):
    """The lesson's loop with chainrule's gradient: rows (step, w, L(w), grad used)."""
    w, rows = cr.tensor(w0, dtype="float64"), []
    grad_fn = cr.grad(loss)
    for step in range(1, steps + 1):
        grad = grad_fn(w)
        w = w - lr * grad
        rows.append((step, float(w), float(loss(w)), float(grad)))
    return rows


def lesson_table():
    rows = descend(0.1, 20)
    table = {}
    print(f"{'step':>6} {'w':>8} {'L(w)':>10} {'grad':>10}   | the lesson prints")
    for step, w, L, g in rows:
        if step % 5 == 0:
            exact = 3 - 3 * 0.8 ** step
            table[step] = {"w": w, "L": L, "grad": g, "w_closed_form": exact}
            lw, lL, lg = LESSON_TABLE[step]
            print(f"{step:>6} {w:>8.4f} {L:>10.6f} {g:>10.4f}   | {lw:>8.4f} {lL:>10.6f} {lg:>10.4f}")
    print("  (the left columns follow from the code and from w_k = 3 - 3 * 0.8^k; the lesson's do not)")
    return table


def factor_1d(lr, steps):
    """The measured per-step factor (w_{k+1} - 3) / (w_k - 3), averaged (geometrically) over the run."""
    errors = [abs(w - 3.0) for _, w, _, _ in descend(lr, steps)]
    return (errors[-1] / 3.0) ** (1.0 / steps), errors


def quadratic_2d(lr, steps, A=np.diag([1.0, 10.0]), w0=(1.0, 1.0)):
    """GD on f(w) = 1/2 w^T A w; the trajectory and the measured factor over the last half."""
    A_t = cr.tensor(A)
    grad_fn = cr.grad(lambda w: 0.5 * w @ (A_t @ w))
    w = cr.tensor(np.array(w0))
    path = [w.numpy()]
    for _ in range(steps):
        w = w - lr * grad_fn(w)
        path.append(w.numpy())
    norms = [float(np.linalg.norm(p)) for p in path]
    half = steps // 2
    return (norms[-1] / norms[half]) ** (1.0 / (steps - half)), np.array(path)


def theory_2d(lr, mu=1.0, L=10.0):
    return max(abs(1 - lr * mu), abs(1 - lr * L))


def plot(curves_1d, paths_2d, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for lr, errors in curves_1d.items():
        ax1.semilogy([e ** 2 for e in errors], "--" if lr > 0.5 else "-",   # dashed: the sign flips each step
                     label=f"lr={lr} (factor 1-2lr = {1 - 2 * lr:+.2f})")
    ax1.set_xlabel("step"); ax1.set_ylabel("L(w) = (w-3)^2"); ax1.set_title("learning-rate sensitivity (lesson 2.4)")
    ax1.legend(fontsize=8)
    grid = np.linspace(-1.2, 1.2, 200)
    X, Y = np.meshgrid(grid, grid)
    ax2.contour(X, Y, 0.5 * (X ** 2 + 10 * Y ** 2), levels=15, colors="lightgray")
    for lr, path in paths_2d.items():
        ax2.plot(path[:, 0], path[:, 1], ".-", label=f"lr={lr:.3g}")
    ax2.set_xlim(-1.2, 1.2); ax2.set_ylim(-1.2, 1.2)
    ax2.set_title("f = (w1^2 + 10 w2^2)/2: diverges for lr > 2/L = 0.2"); ax2.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "gradient_descent.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    steps = 30 if args.quick else 100
    print(f"gradient descent on (w - 3)^2 from w = 0, lr = 0.1 (backend {cr.get_backend().name})")
    r = {"table": lesson_table(), "factors_1d": {}, "factors_2d": {}}
    curves = {}
    for lr in (0.01, 0.1, 0.9, 1.0, 1.1):
        measured, curves[lr] = factor_1d(lr, steps)
        r["factors_1d"][lr] = {"measured": measured, "theory": abs(1 - 2 * lr)}
        print(f"  lr = {lr:<4}: error factor per step {measured:.4f}, theory |1 - 2 lr| = {abs(1 - 2 * lr):.4f}"
              f"{'  (diverges: lr > 2/L = 1)' if lr > 1 else ''}")
    paths = {}
    for lr in (0.05, 0.1, 2 / 11, 0.19, 0.21):
        measured, paths[lr] = quadratic_2d(lr, 2 * steps)
        r["factors_2d"][lr] = {"measured": measured, "theory": theory_2d(lr)}
        print(f"  2-D, lr = {lr:.4f}: factor {measured:.4f}, theory max(|1 - lr mu|, |1 - lr L|) = {theory_2d(lr):.4f}")
    r["figure"] = plot(curves, {lr: p for lr, p in paths.items() if lr < 0.2}, args.out)
    print(f"figure: {r['figure']}")
    for row in r["table"].values():
        assert abs(row["w"] - row["w_closed_form"]) < 1e-12
    for lr, f in r["factors_1d"].items():
        assert abs(f["measured"] - f["theory"]) < 1e-6, (lr, f)
    for lr, f in r["factors_2d"].items():
        assert abs(f["measured"] - f["theory"]) < 1e-3 * max(1.0, f["theory"]), (lr, f)
    assert r["factors_1d"][1.1]["measured"] > 1 > r["factors_1d"][0.9]["measured"]
    return r


if __name__ == "__main__":
    main()

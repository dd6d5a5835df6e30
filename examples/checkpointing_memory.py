"""Activation checkpointing: the memory it saves, measured, with identical gradients.

Training keeps every activation an op saved for backward alive until the backward uses
it (the day lesson: "why training uses much more memory than inference").
``cr.checkpoint(f)`` drops what f's ops saved as soon as f returns and recomputes it by
running f again when the backward reaches it: memory traded for compute.

The model: a residual MLP of D blocks h <- h + tanh(h W1) W2 (width n, batch B), float64.
Three runs of the same forward + backward, measured with ``tracemalloc`` (NumPy reports
its arrays to it):

- plain: every block's intermediates held;
- ``cr.checkpoint`` on every block: only the block boundaries h (D arrays of B x n) are
  held after the forward, and one block's intermediates at a time during the backward;
- checkpoint segments of sqrt(D) blocks (Chen et al. 2016): fewer boundaries, a
  segment's intermediates at a time.

Bytes held after the forward, and the peak during forward + backward, are printed; the
gradients of every weight are the same to the last bit, and each checkpointed block ran
twice (the recomputation's price).  The peaks include the weight gradients (2 D n^2 8
bytes), which every run allocates; checkpointing saves on the activations only.

Run: python examples/checkpointing_memory.py [--quick] [--out DIR]   (numpy backend: tracemalloc
sees NumPy's arrays; other backends' memory is not traced)
"""
import argparse
import math
import os
import tracemalloc

import numpy as np

import chainrule as cr


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (16 blocks of width 128)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def make_weights(depth, width, seed=0):
    rng = np.random.default_rng(seed)
    scale = 1 / math.sqrt(width)
    return [(rng.standard_normal((width, width)) * scale, rng.standard_normal((width, width)) * scale)
            for _ in range(depth)]


def run(weights_np, x_np, mode, calls):
    """Forward + backward; returns (bytes held after the forward, peak bytes, loss, gradients)."""
    Ws = [(cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)) for a, b in weights_np]

    def block(h, W1, W2):
        calls[0] += 1
        return h + cr.tanh(h @ W1) @ W2

    def segment(h, *ws):
        for W1, W2 in zip(ws[0::2], ws[1::2]):
            h = block(h, W1, W2)
        return h

    depth = len(Ws)
    size = {"plain": depth, "checkpoint every block": 1,
            "checkpoint sqrt(D) segments": max(1, round(math.sqrt(depth)))}[mode]
    step = segment if mode == "plain" else cr.checkpoint(segment)
    x = cr.tensor(x_np)
    tracemalloc.start()
    tracemalloc.reset_peak()
    h = x
    for i in range(0, depth, size):
        h = step(h, *[w for pair in Ws[i:i + size] for w in pair])
    loss = cr.sum(h * h) / h.size
    held = tracemalloc.get_traced_memory()[0]
    loss.backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    grads = [(a.grad.numpy().copy(), b.grad.numpy().copy()) for a, b in Ws]
    return held, peak, float(loss), grads


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(results["runs"])
    held = [results["runs"][n]["held"] / 2 ** 20 for n in names]
    peak = [results["runs"][n]["peak"] / 2 ** 20 for n in names]
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, held, 0.4, label="held after forward")
    ax.bar(xs + 0.2, peak, 0.4, label="peak in forward + backward")
    ax.axhline(results["boundary_bytes"] / 2 ** 20, color="k", ls=":", label="D block boundaries (D B n 8 bytes)")
    ax.set_xticks(xs); ax.set_xticklabels(names, fontsize=8); ax.set_ylabel("MiB (tracemalloc)")
    ax.set_title(f"{results['depth']} residual blocks, width {results['width']}, batch {results['batch']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "checkpointing_memory.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    depth, width, batch = (16, 128, 128) if args.quick else (64, 512, 512)
    weights = make_weights(depth, width)
    x = np.random.default_rng(1).standard_normal((batch, width))
    results = {"depth": depth, "width": width, "batch": batch, "runs": {},
               "activation_bytes": batch * width * 8, "boundary_bytes": depth * batch * width * 8,
               "gradient_bytes": 2 * depth * width * width * 8}
    with cr.use_backend("numpy"):
        for mode in ("plain", "checkpoint every block", "checkpoint sqrt(D) segments"):
            calls = [0]
            held, peak, loss, grads = run(weights, x, mode, calls)
            results["runs"][mode] = {"held": held, "peak": peak, "loss": loss, "grads": grads,
                                     "block_calls": calls[0]}
    plain = results["runs"]["plain"]
    print(f"{depth} blocks h + tanh(h W1) W2, width {width}, batch {batch}; one B x n array = "
          f"{results['activation_bytes'] / 2 ** 10:.0f} KiB")
    print(f"{'run':<30}{'held after forward':>20}{'peak fwd+bwd':>15}{'block calls':>13}{'same grads':>12}")
    for mode, r in results["runs"].items():
        same = all(np.array_equal(a, pa) and np.array_equal(b, pb)
                   for (a, b), (pa, pb) in zip(r["grads"], plain["grads"]))
        r["identical_grads"] = same
        print(f"{mode:<30}{r['held'] / 2 ** 20:>17.2f} MiB{r['peak'] / 2 ** 20:>12.2f} MiB"
              f"{r['block_calls']:>13}{str(same):>12}")
    every = results["runs"]["checkpoint every block"]
    segs = results["runs"]["checkpoint sqrt(D) segments"]
    assert every["identical_grads"] and segs["identical_grads"], "checkpointing must not change a gradient"
    assert every["held"] < plain["held"] / 2 and segs["held"] < plain["held"] / 2
    assert every["peak"] < plain["peak"] and segs["peak"] < plain["peak"]
    assert every["block_calls"] == 2 * depth == 2 * plain["block_calls"]
    print(f"the peaks include the weights' gradients, {results['gradient_bytes'] / 2 ** 20:.2f} MiB, "
          f"that every run allocates in its backward: above them, plain peaks at "
          f"{(plain['peak'] - results['gradient_bytes']) / 2 ** 20:.2f} MiB, the per-block checkpoint at "
          f"{(every['peak'] - results['gradient_bytes']) / 2 ** 20:.2f} MiB")
    print(f"held after the forward: plain {plain['held'] / every['held']:.1f}x the per-block checkpoint; "
          f"the per-block checkpoint holds {every['held'] / results['boundary_bytes']:.2f}x the D boundaries")
    results["figure"] = plot(results, args.out)
    print(f"figure: {results['figure']}")
    return results


if __name__ == "__main__":
    main()

"""The pathology table: each training failure made to happen, seen, and cured.

The day lesson's table of symptoms, causes and cures, row by row, on scikit-learn's
digits (or a batch of them), with ``cr.diagnostics`` and ``cr.detect_anomaly``:

1. Vanishing gradients: a 10-layer sigmoid net; ``GradNormTracker`` gives each layer's
   weight-gradient norm.  Each sigmoid passes at most 0.25 of the gradient, so the first
   layer's norm is orders of magnitude below the last's.  Cure: a residual ReLU net
   (x + relu(x W + b)), whose norms stay within a small factor across depth.
2. Exploding gradients: SGD at lr = 2 on a 64-64-64-10 ReLU MLP: the gradient norm
   (``GradNormTracker``) spikes again and again, to ~8; one such unclipped step throws the
   weights so far that most ReLUs die (row 3): the loss goes back to ~log(10) and stays.  Cure: ``cr.optim.clip_grad_norm_(params, 1.0)``
   at the same lr: training survives (the day lesson's exercise 6).
   The chapter's exercise 15 in the same row: the gradient norm over training at a
   sensible lr (0.1), with and without clipping: it grows from ~0.2 as the net leaves
   its init and levels off below 1, so clipping at 1.0 seldom acts there.
3. Dead ReLUs: ``dead_relu_fraction`` of the hidden pre-activations on all 1797 digits,
   at init (the default uniform init, torch's: few) and after the unclipped lr = 2 run: most units are off
   for every input, and their weight gradients are exactly 0, so they stay dead.
4. Loss spikes: Adam at lr = 0.3 without warmup: its first update is lr * sign(g) on
   every weight (m_hat / sqrt(v_hat) = +-1 at step 1), and within the first steps the loss
   jumps ~35x; the same peak reached after a 50-step linear warmup does not spike there.
5. Loss -> NaN: a hand-written softmax without the max-subtraction trick overflows exp
   on large float32 logits (above 88.7: inf / inf = NaN); ``cr.detect_anomaly()`` names
   the op: ``exp``.
   Cure: ``cr.nn.cross_entropy`` on the logits (it subtracts the max) is finite.
6. Loss flat at log(C): all-zero init: every hidden unit computes the same 0, ReLU'(0)
   = 0, so no hidden weight ever gets a gradient; only the output bias learns the class
   frequencies and the loss stays at their entropy, log(10) for balanced digits.

Run: python examples/pathologies.py [--quick] [--out DIR]   (CHAINRULE_BACKEND=torch for torch)
"""
import argparse
import math
import os
import sys

import numpy as np

import chainrule as cr

DEPTH, WIDTH = 10, 32


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


# ------------------------------------------------------------------ 1. vanishing

def deep_layers(seed=0):
    """DEPTH square layers (WIDTH) after a 64 -> WIDTH input layer, and a WIDTH -> 10 head."""
    cr.random.seed(seed)
    sizes = [64] + [WIDTH] * DEPTH
    layers = [cr.nn.Linear(a, b, dtype="float64") for a, b in zip(sizes[:-1], sizes[1:])]
    return layers, cr.nn.Linear(WIDTH, 10, dtype="float64")


def deep_forward(layers, head, x, kind):
    """kind "sigmoid": h = sigmoid(h W + b); kind "residual": h = h + relu(h W + b) after the first."""
    h = x
    for i, layer in enumerate(layers):
        if kind == "sigmoid":
            h = cr.nn.sigmoid(layer(h))
        else:
            h = cr.nn.relu(layer(h)) if i == 0 else h + cr.nn.relu(layer(h))
    return head(h)


def layer_gradient_norms(kind, X, y):
    layers, head = deep_layers()
    tracker = cr.diagnostics.GradNormTracker({f"layer {i + 1}": l.weight for i, l in enumerate(layers)})
    cr.nn.cross_entropy(deep_forward(layers, head, cr.tensor(X), kind), cr.tensor(y)).backward()
    tracker.record()
    return [tracker.per_parameter[f"layer {i + 1}"][0] for i in range(DEPTH)]


# ------------------------------------------------------------------ 2./3./6. MLP training runs

def train(X, y, lr, steps, clip=None, optimizer="sgd", schedule=None, init=None, seed=0, batch=64,
          progress=lambda it: it):
    """A 64-64-64-10 ReLU MLP; returns the net, batch losses, global gradient norms (before clipping)."""
    cr.random.seed(seed)
    net = cr.nn.MLP([64, 64, 64, 10], activation="relu", init=init, dtype="float64")
    if init == "zeros":
        with cr.no_grad():
            for layer in net:
                if isinstance(layer, cr.nn.Linear):
                    layer.bias.zero_()
    opt = cr.optim.create(optimizer, net.named_parameters(), lr=schedule or lr)
    tracker = cr.diagnostics.GradNormTracker(net.named_parameters())
    rng = np.random.default_rng(seed)
    losses = []
    for _ in progress(range(steps)):
        idx = rng.integers(0, len(y), batch)
        loss = cr.nn.cross_entropy(net(cr.tensor(X[idx])), cr.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        tracker.record()
        if clip is not None:
            cr.optim.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        losses.append(float(loss))
    return net, losses, tracker.global_norms


def hidden_pre_activations(net, X):
    """z of each hidden Linear layer (the input of each ReLU) on X."""
    zs, h = [], cr.tensor(X)
    with cr.no_grad():
        for layer in net:
            h = layer(h)
            if isinstance(layer, cr.nn.ReLU):
                continue
            zs.append(h)
    return zs[:-1]


def dead_units_get_no_gradient(net, X, y):
    """The largest |gradient| of any weight column feeding a dead unit (exactly 0 if dead units never learn)."""
    zs = hidden_pre_activations(net, X)
    dead = [~(z.numpy() > 0).any(axis=0) for z in zs]
    for p in net.parameters():
        p.grad = None
    cr.nn.cross_entropy(net(cr.tensor(X)), cr.tensor(y)).backward()
    linears = [m for m in net if isinstance(m, cr.nn.Linear)]
    return max((float(np.abs(l.weight.grad.numpy()[:, d]).max(initial=0.0)) for l, d in zip(linears, dead)),
               default=0.0)


# ------------------------------------------------------------------ 5. NaN

def naive_cross_entropy(logits, y):
    """softmax written out, as the lesson warns not to: exp(z) / sum exp(z), then -log p[y]."""
    e = cr.exp(logits)
    p = e / e.sum(axis=-1, keepdims=True)
    return -cr.mean(cr.log(p[cr.arange(len(y)), y]))


def nan_row(X, y):
    # float32 logits of a few hundred (exp overflows above 88.7 in float32)
    logits = cr.tensor((X[:8] @ np.full((64, 10), 5.0) + np.arange(10.0)).astype("float32"))
    targets = cr.tensor(y[:8])
    with np.errstate(all="ignore"):
        plain = float(naive_cross_entropy(logits, targets))
        try:
            with cr.detect_anomaly():
                naive_cross_entropy(logits, targets)
            named, message = None, "nothing found"
        except cr.anomaly.AnomalyError as err:
            named, message = err.op, str(err)
    stable = float(cr.nn.cross_entropy(logits, targets))
    return {"naive_loss": plain, "anomaly_op": named, "anomaly_message": message.splitlines()[0],
            "stable_loss": stable, "logits": logits.numpy(), "targets": y[:8]}


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0, 0]
    for kind in ("sigmoid", "residual"):
        ax.semilogy(range(1, DEPTH + 1), results["vanishing"][kind], "o-", label=kind)
    ax.set_xlabel("layer (10 = output side, 1 = input)"); ax.set_ylabel("weight-gradient norm")
    ax.set_title("1. vanishing: per-layer gradient norm"); ax.legend()
    ax = axes[0, 1]
    for name, r in results["exploding"].items():
        ax.semilogy(r["grad_norms"], label=f"{name}")
    for name, r in results["exercise_15"].items():
        ax.semilogy(r["grad_norms"], label=f"{name}", alpha=0.6)
    ax.set_xlabel("step"); ax.set_ylabel("global gradient norm (before clipping)")
    ax.set_title("2. exploding / exercise 15: gradient-norm traces"); ax.legend(fontsize=7)
    ax = axes[1, 0]
    for name, r in results["exploding"].items():
        ax.plot(r["losses"], label=name)
    for name, r in results["spikes"].items():
        ax.plot(r["losses"], label=name)
    ax.set_yscale("log"); ax.set_xlabel("step"); ax.set_ylabel("batch loss")
    ax.set_title("2./4. losses: clipping rescues, warmup removes the spike"); ax.legend(fontsize=7)
    ax = axes[1, 1]
    ax.plot(results["flat"]["losses"], label="all-zero init")
    ax.axhline(math.log(10), color="k", ls=":", label="log(10)")
    ax.set_xlabel("step"); ax.set_ylabel("batch loss"); ax.set_title("6. flat at log(C)"); ax.legend()
    fig.tight_layout()
    path = os.path.join(out, "pathologies.png")
    fig.savefig(path, dpi=110); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    from tqdm import tqdm

    def bar(desc):
        return lambda it: tqdm(it, desc=desc, leave=False, disable=args.quick or not sys.stderr.isatty())

    X, y = load_digits_data()
    steps = 200 if args.quick else 1000
    results = {"steps": steps}
    print(f"[backend {cr.get_backend().name}]")

    # 1
    Xb, yb = X[:256], y[:256]
    results["vanishing"] = {kind: layer_gradient_norms(kind, Xb, yb) for kind in ("sigmoid", "residual")}
    sig, res = results["vanishing"]["sigmoid"], results["vanishing"]["residual"]
    print(f"1. vanishing: layer 1 / layer {DEPTH} gradient norm: sigmoid {sig[0] / sig[-1]:.1e}, "
          f"residual ReLU {res[0] / res[-1]:.2f}  (0.25^9 = {0.25 ** 9:.1e} is sigmoid's bound)")
    assert sig[0] / sig[-1] < 1e-3 and 0.1 < res[0] / res[-1] < 10

    # 2 (and exercise 15)
    results["exploding"], results["exercise_15"] = {}, {}
    for name, clip in (("lr=2", None), ("lr=2 clipped at 1.0", 1.0)):
        net, losses, norms = train(X, y, 2.0, steps, clip=clip, progress=bar(name))
        results["exploding"][name] = {"losses": losses, "grad_norms": norms, "net": net}
    for name, clip in (("lr=0.1", None), ("lr=0.1 clipped at 1.0", 1.0)):
        net, losses, norms = train(X, y, 0.1, steps, clip=clip, progress=bar(name))
        results["exercise_15"][name] = {"losses": losses, "grad_norms": norms}
    ex = results["exploding"]
    blown, saved = ex["lr=2"], ex["lr=2 clipped at 1.0"]
    print(f"2. exploding: SGD lr=2: gradient norm peaks at {max(blown['grad_norms']):.1f}, final loss "
          f"{np.mean(blown['losses'][-20:]):.3f}; clipped at 1.0: final loss {np.mean(saved['losses'][-20:]):.3f}")
    assert np.mean(saved["losses"][-20:]) < 0.5 < 2.0 < np.mean(blown["losses"][-20:])
    for name, r in results["exercise_15"].items():
        n = r["grad_norms"]
        k = max(len(n) // 10, 1)
        r["clipped_steps"] = float(np.mean(np.array(n) > 1.0))
        print(f"   exercise 15, {name}: gradient norm {np.median(n[:k]):.2f} (first 10%) -> "
              f"{np.median(n[-k:]):.2f} (last 10%), loss {np.mean(r['losses'][-20:]):.3f}; "
              f"norm above 1 (where clipping acts) on {r['clipped_steps']:.0%} of steps")
    print("   the norm grows as the loss falls and then levels off; at a sane lr, clipping at 1.0 "
          "is insurance that rarely acts")

    # 3
    fresh = train(X, y, 0.1, 0)[0]
    results["dead"] = {"at init": cr.diagnostics.dead_relu_fraction(hidden_pre_activations(fresh, X)),
                       "after lr=2": cr.diagnostics.dead_relu_fraction(
                           hidden_pre_activations(blown["net"], X)),
                       "after lr=2 clipped": cr.diagnostics.dead_relu_fraction(
                           hidden_pre_activations(saved["net"], X))}
    results["dead_unit_max_grad"] = dead_units_get_no_gradient(blown["net"], X, y)
    d = results["dead"]
    print("3. dead ReLUs (fraction of hidden units off on all 1797 digits, per layer): " +
          "; ".join(f"{k}: {[round(v, 2) for v in fr]}" for k, fr in d.items()) +
          f"; largest gradient into a dead unit: {results['dead_unit_max_grad']}")
    assert max(d["at init"]) < 0.2 and min(d["after lr=2"]) > 0.5 and results["dead_unit_max_grad"] == 0.0

    # 4
    spike_steps = 60
    results["spikes"] = {}
    for name, schedule in (("Adam lr=0.3, no warmup", None),
                           ("Adam lr=0.3, 50-step warmup", cr.schedules.create(
                               "warmup_cosine", peak_lr=0.3, warmup=50, total=400))):
        _, losses, _ = train(X, y, 0.3, spike_steps, optimizer="adam", schedule=schedule, progress=bar(name))
        results["spikes"][name] = {"losses": losses, "spike": max(losses[:10]) / losses[0]}
    sp = results["spikes"]
    print("4. loss spikes: the largest loss of the first 10 steps / the first loss: " + ", ".join(f"{k}: {v['spike']:.1f}x" for k, v in sp.items()))
    assert sp["Adam lr=0.3, no warmup"]["spike"] > 10 > 1.5 > sp["Adam lr=0.3, 50-step warmup"]["spike"]

    # 5
    results["nan"] = nan_row(X, y)
    n = results["nan"]
    print(f"5. NaN: the hand-written softmax's loss is {n['naive_loss']}; cr.detect_anomaly() says: "
          f"{n['anomaly_message'][:100]}...; cr.nn.cross_entropy on the same logits: {n['stable_loss']:.3f}")
    assert math.isnan(n["naive_loss"]) and n["anomaly_op"] == "exp" and math.isfinite(n["stable_loss"])

    # 6
    _, losses, _ = train(X, y, 0.1, steps, init="zeros", progress=bar("zero init"))
    counts = np.bincount(y, minlength=10) / len(y)
    results["flat"] = {"losses": losses, "label_entropy": float(-(counts * np.log(counts)).sum())}
    print(f"6. flat at log(C): all-zero init, loss {losses[0]:.4f} -> {np.mean(losses[-20:]):.4f}; "
          f"log(10) = {math.log(10):.4f}, the labels' entropy {results['flat']['label_entropy']:.4f}")
    assert abs(np.mean(losses[-20:]) - math.log(10)) < 0.05

    results["figure"] = plot(results, args.out)
    print(f"figure: {results['figure']}")
    return results


if __name__ == "__main__":
    main()

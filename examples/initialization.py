"""Initialization: the activations' std through 50 layers for N(0, 1), Xavier, He and GPT-2.

A stack of 50 linear layers of width n, each followed by an activation, fed a batch of
unit-variance inputs; we record the std of each layer's pre-activation z.  For a layer
with weights drawn from N(0, s^2), E[z_next^2] = n s^2 E[a^2], and ReLU keeps half the
second moment (E[relu(z)^2] = E[z^2] / 2), so per ReLU layer the std is multiplied by

    sqrt(n s^2 / 2)

- N(0, 1): sqrt(n / 2) = 11.3 per layer at n = 256: the activations explode (1e52 at
  layer 50).  With tanh, N(0, 1) saturates every unit at +-1 (tanh' ~ 0: no gradient).
- Xavier, s^2 = 2 / (fan_in + fan_out) = 1 / n here: sqrt(1/2) per ReLU layer, so 2^-25 =
  3e-8 after 50 layers: vanishing.  With tanh (Xavier's design case) it stays usable.
- He, s^2 = 2 / fan_in: exactly 1 per ReLU layer: the std is the same at layer 50 as at
  layer 1.  That factor 2 undoes ReLU's halving (the day lesson's "where the 2 comes from").
- GPT-2, N(0, 0.02^2): sqrt(n 0.0004 / 2) = 0.23 per ReLU layer at n = 256 (0.45 at
  n = 1024): on a plain stack it vanishes; GPT-2 relies on the residual stream
  x + f(x), with each block's output projection scaled by 1 / sqrt(2 L): there the std
  grows only by sqrt(1 + n s^2 / 2) per block (s = 0.02 / sqrt(100)): 1.01 after 50 blocks at n = 256.  Stable.

The day lesson's line "with 50 layers, a factor of 0.9 per layer gives 0.9^50 ~ 0.005, 200x
smaller" is right: 0.9^50 = 0.00515, 1 / 0.00515 = 194.

Run: python examples/initialization.py [--quick] [--out DIR]   (CHAINRULE_BACKEND=torch for torch)
"""
import argparse
import math
import os

import chainrule as cr

DEPTH = 50


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (width 256, batch 128)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def initializers(depth):
    """name -> (cr.init initializer, the weight std it draws for a square n x n layer)."""
    return {
        "N(0,1)": (cr.init.create("normal", std=1.0), lambda n: 1.0),
        "Xavier": (cr.init.create("xavier_normal"), lambda n: math.sqrt(2.0 / (n + n))),
        "He": (cr.init.create("he_normal"), lambda n: math.sqrt(2.0 / n)),
        "GPT-2 0.02": (cr.init.create("gpt2"), lambda n: 0.02),
        "GPT-2 residual": (cr.init.create("scaled_residual", n_layers=depth),
                           lambda n: 0.02 / math.sqrt(2 * depth)),
    }


def activation_stds(init, activation, width, batch, depth=DEPTH, residual=False, seed=0):
    """std of every layer's pre-activation z_l = a_{l-1} @ W_l (l = 1..depth); with residual,
    the stream x_l = x_{l-1} + relu(x_{l-1} @ W_l) and the std of x_l."""
    cr.random.seed(seed)
    act = {"relu": cr.nn.relu, "tanh": cr.tanh}[activation]
    x = cr.random.normal((batch, width), dtype="float64")
    stds = []
    with cr.no_grad():
        for _ in range(depth):
            w = init((width, width), dtype="float64")
            if residual:
                x = x + act(x @ w)
                stds.append(float(cr.std(x)))
            else:
                z = x @ w
                stds.append(float(cr.std(z)))
                x = act(z)
    return stds


def relu_factor(weight_std, width):
    """The std's factor per plain ReLU layer: sqrt(n s^2 / 2)."""
    return math.sqrt(width * weight_std ** 2 / 2)


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for (name, activation), stds in results["stds"].items():
        ax = axes[0] if activation == "relu" else axes[1]
        ax.semilogy(range(1, len(stds) + 1), stds, label=name)
    axes[0].set_title(f"ReLU nets, width {results['width']}: std of z per layer")
    axes[1].set_title("tanh nets")
    for ax in axes:
        ax.set_xlabel("layer"); ax.set_ylabel("activation std"); ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "initialization.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    width, batch = (256, 128) if args.quick else (1024, 1024)
    inits = initializers(DEPTH)
    results = {"width": width, "batch": batch, "stds": {}, "predicted": {}}
    print(f"std of the pre-activations through {DEPTH} layers of width {width}  "
          f"[backend {cr.get_backend().name}]")
    print(f"{'init':<16}{'activation':<12}{'layer 1':>11}{'layer 10':>11}{'layer 50':>11}"
          f"{'predicted 50':>14}")
    for name, (init, weight_std) in inits.items():
        for activation in ("relu", "tanh"):
            residual = name == "GPT-2 residual"
            if residual and activation == "tanh":
                continue
            stds = activation_stds(init, activation, width, batch, residual=residual)
            results["stds"][(name, activation)] = stds
            s = weight_std(width)
            if residual:   # x + relu(x W): E[x'^2] = E[x^2] (1 + n s^2 / 2)
                predicted = math.sqrt(1 + width * s * s / 2) ** DEPTH
            elif activation == "relu":
                predicted = stds[0] * relu_factor(s, width) ** (DEPTH - 1)
            else:
                predicted = float("nan")   # tanh: no closed form; the plot shows it
            results["predicted"][(name, activation)] = predicted
            print(f"{name:<16}{activation:<12}{stds[0]:>11.3g}{stds[9]:>11.3g}{stds[-1]:>11.3g}"
                  f"{predicted:>14.3g}")
    st = results["stds"]
    for name in ("N(0,1)", "Xavier", "He", "GPT-2 0.02"):
        ratio = st[(name, "relu")][-1] / results["predicted"][(name, "relu")]
        assert 0.5 < ratio < 2, f"{name}: layer 50's std is {ratio:.2f}x the recursion's prediction"
    assert st[("N(0,1)", "relu")][-1] > 1e40, "N(0,1) should explode"
    assert st[("Xavier", "relu")][-1] < 1e-6, "Xavier under ReLU should vanish (2^-25)"
    assert 0.3 < st[("He", "relu")][-1] / st[("He", "relu")][0] < 3, "He should keep ReLU's std stable"
    assert st[("GPT-2 0.02", "relu")][-1] < 1e-10, "GPT-2's 0.02 on a plain ReLU stack vanishes"
    assert 0.9 < st[("GPT-2 residual", "relu")][-1] < 1.2, "the scaled residual stream should stay ~1"
    assert min(st[("N(0,1)", "tanh")][1:]) > 0.5 * math.sqrt(width), "N(0,1) under tanh saturates"
    results["lesson_0.9^50"] = 0.9 ** 50
    print(f"the day lesson's 0.9^50 = {0.9 ** 50:.5f} (it prints ~0.005), 1 / 0.9^50 = {0.9 ** -50:.0f} "
          "(it prints 200x)")
    results["figure"] = plot(results, args.out)
    print(f"figure: {results['figure']}")
    return results


if __name__ == "__main__":
    main()

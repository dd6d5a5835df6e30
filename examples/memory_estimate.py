"""Training memory vs inference memory: the 16P and 2P bytes rules, estimated and measured.

The day lesson's rule for P parameters:

    training (Adam, float32)  = 4P weights + 4P gradients + 4P Adam m + 4P Adam v = 16P bytes
    inference (float16/bf16)  = 2P bytes (weights only: no gradients, no optimizer state)

so a 7B-parameter model needs 112 GB to train and 14 GB to serve: 8x.  Mixed precision
(float16 weights and gradients, a float32 master copy, float32 m and v) is
2P + 2P + 4P + 8P = 16P as well: it saves activation memory and time, not state.

``cr.diagnostics.memory_estimate`` gives these numbers for a count or a real model; here
they are checked against the bytes of real arrays: an MLP's parameters, the gradients a
backward leaves, and the state each ``cr.optim`` optimizer keeps after a step (SGD 0,
momentum 1x, RMSProp 1x, Adam/AdamW 2x, Lion 1x, Sophia 2x; Adafactor keeps a row and a
column per matrix, Shampoo an n x n statistic and its inverse root per axis), plus a
hand-built mixed-precision setup and a float16 copy for inference.

A number in the day lesson that does not follow from its own rule: its "Memory math for
a 7B model" paragraph says training needs "at minimum ~84 GB in FP32" (28 GB weights +
56 GB Adam state): that leaves out the 28 GB of gradients its own 16P rule counts; the
right minimum is 112 GB (and Lion's: 28 + 28 + 28 = 84 GB).

Run: python examples/memory_estimate.py [--quick] [--out DIR]
"""
import argparse
import os

import numpy as np

import chainrule as cr

SEVEN_B = 7_000_000_000


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (a smaller MLP)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def nbytes(x):
    return int(np.asarray(x).nbytes) if not isinstance(x, cr.Tensor) else x.size * x.dtype.itemsize


def measured(net, optimizer):
    """Bytes of the parameters, gradients and optimizer state after one real step."""
    loss_fn = lambda *ps: sum(cr.sum(p * p) for p in ps)
    loss = loss_fn(*net.parameters())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step(loss_fn if optimizer.algorithm.needs_hvp else None)
    state = sum(nbytes(v) for st in optimizer.state.values() for v in st.values()
                if hasattr(v, "shape") and getattr(v, "ndim", 0) > 0)
    return {"parameters": sum(nbytes(p) for p in net.parameters()),
            "gradients": sum(nbytes(p.grad) for p in net.parameters()),
            "optimizer_state": state}


def make_mlp(sizes, dtype="float32", seed=0):
    cr.random.seed(seed)
    return cr.nn.MLP(sizes, dtype=dtype)


def mixed_precision_measured(sizes):
    """float32 master weights with the optimizer; float16 working copies that get the gradients."""
    master = make_mlp(sizes, "float32")
    opt = cr.optim.create("adamw", master.named_parameters())
    working = [cr.tensor(p.numpy().astype("float16"), requires_grad=True) for p in master.parameters()]
    sum(cr.sum(w * w) for w in working).backward()
    for p, w in zip(master.parameters(), working):   # the master step, in float32
        p.grad = w.grad.astype("float32")
    opt.step()
    return {"parameters": sum(nbytes(w) for w in working),
            "gradients": sum(nbytes(w.grad) for w in working),
            "master_weights": sum(nbytes(p) for p in master.parameters()),
            "optimizer_state": sum(nbytes(v) for st in opt.state.values() for v in st.values()
                                   if getattr(v, "ndim", 0) > 0)}


def plot(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    parts = ("parameters", "gradients", "master_weights", "optimizer_state")
    rows = results["seven_b"]
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = np.zeros(len(rows))
    for part in parts:
        vals = np.array([rows[k][part] / 1e9 for k in rows])
        ax.bar(list(rows), vals, bottom=bottom, label=part)
        bottom += vals
    for i, k in enumerate(rows):
        ax.text(i, bottom[i], f"{rows[k]['total'] / 1e9:.0f} GB", ha="center", va="bottom")
    ax.set_ylabel("GB"); ax.set_title("a 7B-parameter model: memory_estimate"); ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, "memory_estimate.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    est = cr.diagnostics.memory_estimate
    results = {"seven_b": {
        "train fp32 Adam": est(SEVEN_B, optimizer="adam"),
        "train mixed Adam": est(SEVEN_B, optimizer="adam", param_dtype="float16", master_weights=True),
        "train fp32 Lion": est(SEVEN_B, optimizer="lion"),
        "serve fp16": est(SEVEN_B, optimizer=None, param_dtype="float16"),
    }}
    print("a 7B-parameter model (GB = 1e9 bytes):")
    for name, r in results["seven_b"].items():
        print(f"  {name:<18} " + ", ".join(f"{k} {v / 1e9:.0f}" for k, v in r.items() if v) + " GB")
    train, serve = results["seven_b"]["train fp32 Adam"]["total"], results["seven_b"]["serve fp16"]["total"]
    print(f"  training / serving = {train / serve:.0f}x  (the lesson: 112 GB vs 14 GB, 8x; its '~84 GB "
          f"minimum' omits the gradients)")
    assert train == 16 * SEVEN_B and serve == 2 * SEVEN_B
    assert results["seven_b"]["train mixed Adam"]["total"] == 16 * SEVEN_B

    sizes = [128, 256, 256, 10] if args.quick else [784, 1024, 1024, 10]
    P = sum(p.size for p in make_mlp(sizes).parameters())
    results.update(sizes=sizes, P=P, optimizers={})
    print(f"\nan MLP {sizes}: P = {P:,} parameters; after one step (bytes):")
    print(f"{'optimizer':<12}{'parameters':>12}{'gradients':>12}{'state':>12}{'total':>12}"
          f"{'estimate':>12}{'x P':>6}")
    setups = [("sgd", {}), ("momentum", {"momentum": 0.9}), ("rmsprop", {}), ("adam", {}), ("adamw", {}),
              ("lion", {}), ("sophia", {}), ("adafactor", {}), ("shampoo", {})]
    for label, hp in setups:
        name = "sgd" if label == "momentum" else label
        net = make_mlp(sizes)
        opt = cr.optim.create(name, net.named_parameters(), **hp)
        m = measured(net, opt)
        m["total"] = sum(m.values())
        e = est(net, optimizer=opt)
        results["optimizers"][label] = {"measured": m, "estimate": e}
        print(f"{label:<12}{m['parameters']:>12,}{m['gradients']:>12,}{m['optimizer_state']:>12,}"
              f"{m['total']:>12,}{e['total']:>12,}{m['total'] / P:>6.1f}")
        for part in ("parameters", "gradients", "optimizer_state"):
            assert m[part] == e[part], f"{label}: measured {part} {m[part]} != estimate {e[part]}"
    assert results["optimizers"]["adam"]["measured"]["total"] == 16 * P

    mixed = mixed_precision_measured(sizes)
    mixed["total"] = sum(mixed.values())
    e = est(make_mlp(sizes), optimizer="adamw", param_dtype="float16", master_weights=True)
    results["mixed"] = {"measured": mixed, "estimate": e}
    print(f"mixed precision (fp16 weights + grads, fp32 master + m + v): measured {mixed['total']:,} = "
          f"{mixed['total'] / P:.0f}P, estimate {e['total']:,}")
    assert mixed["total"] == e["total"] == 16 * P

    serve_net = make_mlp(sizes, "float16")
    served = sum(nbytes(p) for p in serve_net.parameters())
    results["serve"] = {"measured": served, "estimate": est(serve_net, optimizer=None, param_dtype="float16")}
    print(f"serving in float16: measured {served:,} = {served / P:.0f}P, estimate "
          f"{results['serve']['estimate']['total']:,}")
    assert served == results["serve"]["estimate"]["total"] == 2 * P
    results["figure"] = plot(results, args.out)
    print(f"figure: {results['figure']}")
    return results


if __name__ == "__main__":
    main()

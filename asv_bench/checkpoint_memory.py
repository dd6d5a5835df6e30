"""Memory saved by cr.checkpoint: an MLP of N residual tanh blocks, plain vs checkpointed.

    python asv_bench/checkpoint_memory.py [--width 512] [--batch 256] [--depths 4 8 16]

For each depth it prints, on the NumPy backend (whose arrays tracemalloc sees):

held after forward   bytes alive once the loss is computed: the graph's saved values
                     (plus the inputs, parameters and the output, the same for both)
peak                 the highest bytes alive during forward + backward
time                 forward + backward, seconds, measured in a run without tracemalloc
                     (the recomputation's price)

and checks that the two runs give the same gradients.  Each block is
``h + tanh(h @ W + b) * 0.5``; "checkpoint" wraps every block, so only the blocks'
inputs stay alive and each block is recomputed once in backward.
"""
import argparse
import time
import tracemalloc

import numpy as np

import chainrule as cr


def block(h, W, b):
    return h + cr.tanh(h @ W + b) * 0.5


def run(depth, width, batch, checkpointed, trace=True):
    rng = np.random.default_rng(0)
    params = [(cr.tensor(rng.standard_normal((width, width)) / np.sqrt(width), dtype="float32",
                         requires_grad=True),
               cr.tensor(np.zeros(width), dtype="float32", requires_grad=True))
              for _ in range(depth)]
    x = cr.tensor(rng.standard_normal((batch, width)), dtype="float32")
    step = cr.checkpoint(block) if checkpointed else block
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    h = x
    for W, b in params:
        h = step(h, W, b)
    loss = cr.sum(h * h)
    held = tracemalloc.get_traced_memory()[0] if trace else None
    loss.backward()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if trace else None
    tracemalloc.stop()
    grads = [p.grad.numpy() for pair in params for p in pair]
    return held, peak, seconds, grads


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--depths", type=int, nargs="+", default=[4, 8, 16])
    args = parser.parse_args()
    mib = 2 ** 20
    print(f"MLP of residual tanh blocks, width {args.width}, batch {args.batch}, float32, numpy")
    print(f"{'depth':>5} | {'held after forward (MiB)':>26} | {'peak fwd+bwd (MiB)':>21} | "
          f"{'time (s)':>15}")
    print(f"{'':>5} | {'plain':>8} {'ckpt':>8} {'saved':>8} | {'plain':>6} {'ckpt':>6} "
          f"{'saved':>7} | {'plain':>7} {'ckpt':>7}")
    for depth in args.depths:
        plain = run(depth, args.width, args.batch, False)
        ckpt = run(depth, args.width, args.batch, True)
        plain_s = min(run(depth, args.width, args.batch, False, trace=False)[2] for _ in range(3))
        ckpt_s = min(run(depth, args.width, args.batch, True, trace=False)[2] for _ in range(3))
        for a, b in zip(plain[3], ckpt[3]):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
        print(f"{depth:>5} | {plain[0] / mib:>8.1f} {ckpt[0] / mib:>8.1f} "
              f"{1 - ckpt[0] / plain[0]:>8.0%} | {plain[1] / mib:>6.1f} {ckpt[1] / mib:>6.1f} "
              f"{1 - ckpt[1] / plain[1]:>7.0%} | {plain_s:>7.3f} {ckpt_s:>7.3f}")
    print("gradients: identical to the plain run (rtol 1e-5) at every depth")


if __name__ == "__main__":
    main()

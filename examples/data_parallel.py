"""Data-parallel training of a digits MLP with ``cr.distributed`` (torch.distributed underneath).

    torchrun --standalone --nproc_per_node=2 examples/data_parallel.py --quick
    torchrun --standalone --nproc_per_node=2 examples/data_parallel.py --zero --accumulate 2
    python examples/data_parallel.py --quick          # one process: the same script, no torchrun

Every rank builds the model, ``DataParallel`` copies rank 0's parameters to all,
each rank trains on its shard of every epoch (``DistributedSampler``), the
gradients are averaged after each backward, rank 0 prints and writes the
checkpoint.  The global batch is ``--batch-size`` split over the ranks, so one
process and N processes take the same steps; the output gives the time per step
and the optimizer-state bytes this rank holds (``--zero`` shards them).

Needs scikit-learn (its bundled digits: 1797 8x8 images, no download).
"""
import argparse
import contextlib
import os
import time

import numpy as np

import chainrule as cr
import chainrule.distributed as dist


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 epochs (a smoke run)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=128, help="global batch, split over the ranks")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--backend", default="numpy", help="numpy, torch, torch:cuda or cupy")
    ap.add_argument("--zero", action="store_true", help="shard the optimizer state (ZeRO stage 1)")
    ap.add_argument("--accumulate", type=int, default=1,
                    help="micro-batches per step (gradients accumulated under no_sync)")
    ap.add_argument("--checkpoint", default=None, help="where rank 0 saves the model at the end")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds any rank waits for the others")
    return ap.parse_args()


def load_digits():
    """(x_train, y_train, x_test, y_test): 1497 / 300 images scaled to [0, 1], the same split on every rank."""
    from sklearn.datasets import load_digits as sklearn_digits
    data = sklearn_digits()
    x, y = data.data.astype(np.float32) / 16.0, data.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return x[:-300], y[:-300], x[-300:], y[-300:]


def main():
    args = parse_args()
    cr.set_backend(args.backend)
    world = dist.init(timeout=args.timeout)
    if args.batch_size % (world.world_size * args.accumulate):
        raise SystemExit(f"--batch-size {args.batch_size} must divide into {world.world_size} ranks x "
                         f"{args.accumulate} micro-batches")
    epochs = 3 if args.quick else args.epochs
    x_train, y_train, x_test, y_test = load_digits()

    cr.random.seed(1234 + world.rank)   # different on purpose: DataParallel makes them rank 0's
    model = dist.DataParallel(cr.nn.MLP([64, args.hidden, args.hidden, 10]))
    if args.zero:
        opt = dist.ZeroRedundancyOptimizer(model.named_parameters(), "adam", lr=args.lr)
    else:
        opt = cr.optim.create("adam", model.named_parameters(), lr=args.lr)

    per_rank = args.batch_size // world.world_size
    micro = per_rank // args.accumulate
    sampler = dist.DistributedSampler(len(x_train), shuffle=True, seed=0)
    step_times, loss = [], None
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for idx in sampler.batches(per_rank, drop_last=True):
            start = time.perf_counter()
            loss = train_step(model, opt, x_train[idx], y_train[idx], micro)
            step_times.append(time.perf_counter() - start)
        dist.print0(f"epoch {epoch + 1}/{epochs}  loss {float(dist.all_reduce(loss)):.4f}")

    accuracy = evaluate(model, x_test, y_test)
    warm = step_times[len(step_times) // 5:] or step_times   # the first steps warm caches up
    dist.print0(f"test accuracy {accuracy:.3f}")
    dist.print0(f"step time {1e3 * float(np.median(warm)):.2f} ms (median of {len(warm)} steps; "
                f"{world.world_size} process(es), {per_rank} samples per rank, global batch "
                f"{args.batch_size}, backend {cr.get_backend().name})")
    state = dist.all_reduce(cr.tensor([float(dist.optimizer_state_bytes(opt))], dtype="float64"), op="sum")
    dist.print0(f"optimizer state: {dist.optimizer_state_bytes(opt)} bytes on rank 0, "
                f"{int(state.item())} bytes over all ranks ({'ZeRO-1 sharded' if args.zero else 'replicated'})")
    if args.checkpoint:
        dist.save(args.checkpoint, model.state_dict())
        dist.print0(f"saved {os.path.abspath(args.checkpoint)}")
    dist.print0(f"final loss {float(dist.all_reduce(loss)):.4f}")
    dist.destroy()


def train_step(model, opt, x, y, micro):
    """One optimizer step over this rank's batch, in micro-batches of ``micro`` samples.

    As with DDP, every micro-batch but the last runs under ``no_sync()``: its gradients
    only accumulate, and the last one's ``sync_gradients()`` averages their sum (one
    all-reduce per step, however many micro-batches)."""
    opt.zero_grad()
    starts = range(0, len(x), micro)
    total = 0.0
    for i, at in enumerate(starts):
        last = i == len(starts) - 1
        with contextlib.nullcontext() if last else model.no_sync():
            xb, yb = cr.tensor(x[at:at + micro]), cr.tensor(y[at:at + micro])
            loss = cr.nn.cross_entropy(model(xb), yb) * (1.0 / len(starts))
            loss.backward()
            model.sync_gradients()   # a no-op inside no_sync()
        total = total + loss.detach()
    opt.step()
    return total


def evaluate(model, x, y):
    with cr.no_grad():
        pred = cr.argmax(model(cr.tensor(x)), axis=1).numpy()
    return float((pred == y).mean())


if __name__ == "__main__":
    main()

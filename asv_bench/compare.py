"""Speed ratios of chainrule against hand-written NumPy and torch eager, measured interleaved.

    python asv_bench/compare.py            # full run, about a minute
    python asv_bench/compare.py --quick    # CI: a few rounds, a few seconds
    python asv_bench/compare.py --json out.json
    python asv_bench/compare.py --only vmap  # one group of rows (mlp, chain, hvp, memory,
                                             # torch_backend, vmap, import)

Shared machines are noisy, so absolute times drift by tens of percent between
runs.  Ratios survive that when the two sides are timed close together: each
measure runs R rounds; in every round each contender runs a block of calls
(the order rotates from round to round) and the per-call time of the block is
recorded.  A ratio is the median over rounds of (time of A / time of B) within
the same round; times shown are medians over rounds.  The garbage collector
stays on, as in a user's program.

Threads: one for NumPy's BLAS and one for torch by default (``--threads N`` to
change; both sides always get the same number).  On the small shared machines
this runs on, two thread pools (OpenBLAS's pthreads, torch's spinning OpenMP
workers) interleaved on two cores tax each other and made the torch ratio jump
between 1.0x and 2.6x from run to run; one thread each measures what these
ratios are about, the framework's own overhead, and is repeatable.
"""
import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
W = None  # benchmarks.workloads, imported in main() once the thread count is in the environment


# -- timing ----------------------------------------------------------------------

def _calibrate(fn, block_s):
    """Calls per block so that one block lasts about ``block_s``."""
    fn()
    fn()  # warm caches, allocate .grad buffers, build lazy tables
    t = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t, 1e-7)
    return max(1, int(block_s / one))


def interleaved(contenders, rounds, block_s):
    """{name: [seconds per call, one per round]} with the contenders alternating every round."""
    names = list(contenders)
    inner = {n: _calibrate(contenders[n], block_s) for n in names}
    times = {n: [] for n in names}
    gc.collect()
    for r in range(rounds):
        for k in range(len(names)):
            n = names[(r + k) % len(names)]
            fn, reps = contenders[n], inner[n]
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            times[n].append((time.perf_counter() - t) / reps)
    return times


def ratio(times, a, b):
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def med(times, n):
    return statistics.median(times[n])


# -- measures --------------------------------------------------------------------

class Report:
    def __init__(self):
        self.rows = []

    def add(self, measure, value, unit="x", target=None, note=""):
        ok = None if target is None or value is None else value <= target
        self.rows.append({"measure": measure, "value": value, "unit": unit, "target": target,
                          "ok": ok, "note": note})
        print(self._line(self.rows[-1]), flush=True)

    @staticmethod
    def _line(row):
        v = row["value"]
        value = "n/a" if v is None else (f"{v:.2f}x" if row["unit"] == "x" else f"{v:.3g} {row['unit']}")
        target = "" if row["target"] is None else (
            f"<= {row['target']:g}x" if row["unit"] == "x" else f"<= {row['target']:g} {row['unit']}")
        verdict = {None: "", True: "ok", False: "MISSED"}[row["ok"]]
        return f"| {row['measure']:<64} | {value:>10} | {target:>9} | {verdict:<6} | {row['note']}"

    def header(self):
        print(f"| {'measure':<64} | {'value':>10} | {'target':>9} | {'':<6} | note")
        print(f"|{'-' * 66}|{'-' * 12}|{'-' * 11}|{'-' * 8}|------")


def mlp_step(rep, batch, target, rounds, block_s):
    contenders = {"numpy": W.numpy_mlp_step(batch), "chainrule": W.chainrule_mlp_step(batch),
                  "torch": W.torch_mlp_step(batch)}
    t = interleaved(contenders, rounds, block_s)
    note = (f"update: {contenders['chainrule'].update_kind}; numpy {med(t, 'numpy') * 1e3:.3f} ms, chainrule {med(t, 'chainrule') * 1e3:.3f} ms, "
            f"torch {med(t, 'torch') * 1e3:.3f} ms")
    rep.add(f"MLP step f32 b{batch}: chainrule(numpy) / hand-written NumPy",
            ratio(t, "chainrule", "numpy"), target=target, note=note)
    rep.add(f"MLP step f32 b{batch}: torch eager / hand-written NumPy (ref)", ratio(t, "torch", "numpy"))


def chain(rep, rounds, block_s):
    t = interleaved({"chainrule": W.chainrule_chain(100), "torch": W.torch_chain(100)}, rounds, block_s)
    rep.add("100 elementwise ops (8,) fwd+bwd: chainrule / torch eager", ratio(t, "chainrule", "torch"),
            target=0.75, note=f"chainrule {med(t, 'chainrule') / 100 * 1e6:.2f} us/op, "
                             f"torch {med(t, 'torch') / 100 * 1e6:.2f} us/op")
    t = interleaved({"chainrule": W.chainrule_chain(100, backward=False),
                     "torch": W.torch_chain(100, backward=False)}, rounds, block_s)
    rep.add("100 elementwise ops (8,) forward only: chainrule / torch (ref)",
            ratio(t, "chainrule", "torch"),
            note=f"chainrule {med(t, 'chainrule') / 100 * 1e6:.2f} us/op, "
                 f"torch {med(t, 'torch') / 100 * 1e6:.2f} us/op")


def hvp(rep, rounds, block_s):
    t = interleaved({"hvp": W.chainrule_hvp(), "grad": W.chainrule_grad(),
                     "torch_hvp": W.torch_hvp(), "torch_grad": W.torch_grad()}, rounds, block_s)
    rep.add("HVP sum(tanh(W x)) W 256x256 / one gradient: chainrule", ratio(t, "hvp", "grad"),
            target=1.7, note=f"hvp {med(t, 'hvp') * 1e6:.0f} us, grad {med(t, 'grad') * 1e6:.0f} us")
    rep.add("HVP / one gradient: torch double backward (ref)", ratio(t, "torch_hvp", "torch_grad"),
            note=f"hvp {med(t, 'torch_hvp') * 1e6:.0f} us, grad {med(t, 'torch_grad') * 1e6:.0f} us")


def peak_bytes(step, repeats):
    """Peak traced bytes above the level before the step (NumPy reports its buffers to tracemalloc)."""
    step()  # steady state: .grad buffers, caches
    peaks = []
    for _ in range(repeats):
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        step()
        peaks.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()
    return min(peaks)


def memory(rep, repeats):
    np_peak = peak_bytes(W.numpy_mlp_step(128), repeats)
    cr_peak = peak_bytes(W.chainrule_mlp_step(128), repeats)
    rep.add("peak memory MLP step b128: chainrule / hand-written NumPy", cr_peak / np_peak, target=1.2,
            note=f"chainrule {cr_peak / 2**20:.2f} MiB, numpy {np_peak / 2**20:.2f} MiB (tracemalloc)")


def torch_backend(rep, rounds, block_s):
    try:
        step = W.chainrule_mlp_step(128, backend="torch")
    except NotImplementedError as exc:
        rep.add("MLP step f32 b128: chainrule(torch backend) / torch eager", None, target=1.10,
                note=f"not measured: {exc}")
        return
    for batch in (128, 16):
        step = W.chainrule_mlp_step(batch, backend="torch")
        t = interleaved({"chainrule": step, "torch": W.torch_mlp_step(batch)}, rounds, block_s)
        rep.add(f"MLP step f32 b{batch}: chainrule(torch backend) / torch eager",
                ratio(t, "chainrule", "torch"), target=1.10,
                note=f"chainrule {med(t, 'chainrule') * 1e3:.3f} ms, torch {med(t, 'torch') * 1e3:.3f} ms")


def vmap_rows(rep, rounds, block_s):
    """Per-example gradients of a 2-layer MLP at B=64: vmap(grad) against one batched gradient
    and against a Python loop of gradients, torch.func's ratio as the reference.  At 784-128-10
    the B gradients of W1 (25 MB) are most of the time, whoever computes them; at 64-32-10
    the per-op overhead is.  Hand-written NumPy per-example gradients (the same kernels, no
    framework) give the floor of the first ratio and what vmap adds on top of its kernels."""
    for sizes in ((784, 128, 10), (64, 32, 10)):
        t = interleaved({"vmap": W.chainrule_per_example_grads(sizes=sizes),
                         "batch": W.chainrule_batch_grad(sizes=sizes),
                         "loop": W.chainrule_per_example_loop(sizes=sizes),
                         "numpy": W.numpy_per_example_grads(sizes=sizes),
                         "torch_vmap": W.torch_per_example_grads(sizes=sizes),
                         "torch_batch": W.torch_batch_grad(sizes=sizes)}, rounds, block_s)
        mlp = "-".join(map(str, sizes))
        rep.add(f"per-example grads MLP {mlp} b64: vmap(grad) / batched grad", ratio(t, "vmap", "batch"),
                target=1.5, note=f"vmap {med(t, 'vmap') * 1e3:.2f} ms, batched grad {med(t, 'batch') * 1e3:.2f} ms")
        rep.add(f"per-example grads MLP {mlp} b64: vmap(grad) / Python loop of grads",
                ratio(t, "vmap", "loop"), target=0.1, note=f"loop {med(t, 'loop') * 1e3:.2f} ms")
        rep.add(f"per-example grads MLP {mlp} b64: hand NumPy per-example / batched grad (floor)",
                ratio(t, "numpy", "batch"), note=f"hand NumPy {med(t, 'numpy') * 1e3:.2f} ms")
        rep.add(f"per-example grads MLP {mlp} b64: vmap(grad) / hand NumPy per-example (ref)",
                ratio(t, "vmap", "numpy"))
        rep.add(f"per-example grads MLP {mlp} b64: torch.func vmap(grad) / batched (ref)",
                ratio(t, "torch_vmap", "torch_batch"),
                note=f"torch.func {med(t, 'torch_vmap') * 1e3:.2f} ms, batched {med(t, 'torch_batch') * 1e3:.2f} ms")


_IMPORT = r"""
import sys, time, json
t0 = time.perf_counter()
import {mod}
t1 = time.perf_counter()
print(json.dumps({{"s": t1 - t0, "numpy": "numpy" in sys.modules, "torch": "torch" in sys.modules,
                  "cupy": "cupy" in sys.modules}}))
"""


def _import_once(mod):
    # with bytecode caches, as a user's installed package has them (pip compiles them; an
    # editable install writes them on the first import): PYTHONDONTWRITEBYTECODE=1, which some
    # machines set, would time Python compiling every module instead
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run([sys.executable, "-c", _IMPORT.format(mod=mod)], capture_output=True,
                         text=True, check=True, cwd=HERE, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def import_time(rep, rounds):
    """Fresh interpreters, alternating `import chainrule` and `import numpy`, medians."""
    cr_runs, np_runs = [], []
    _import_once("chainrule")   # writes the caches
    for r in range(rounds):
        for mod in (("chainrule", "numpy") if r % 2 == 0 else ("numpy", "chainrule")):
            (cr_runs if mod == "chainrule" else np_runs).append(_import_once(mod))
    cr_s = statistics.median(x["s"] for x in cr_runs)
    np_s = statistics.median(x["s"] for x in np_runs)
    heavy = [m for m in ("torch", "cupy") if any(x[m] for x in cr_runs)]
    rep.add("import chainrule - import numpy (fresh interpreters)", (cr_s - np_s) * 1e3, unit="ms",
            target=25, note=f"chainrule {cr_s * 1e3:.1f} ms, numpy {np_s * 1e3:.1f} ms; "
                            f"chainrule imports numpy: {cr_runs[0]['numpy']}; "
                            f"torch/cupy imported: {', '.join(heavy) or 'neither'}")


GROUPS = ("mlp", "chain", "hvp", "memory", "torch_backend", "vmap", "import")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (CI smoke run)")
    ap.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    ap.add_argument("--threads", type=int, default=1, help="BLAS and torch threads (default 1)")
    ap.add_argument("--only", action="append", choices=GROUPS, metavar="GROUP",
                    help=f"run only this group of rows (repeatable): {', '.join(GROUPS)}")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")  # plugin warnings for backends this checkout lacks
    if "numpy" in sys.modules:
        print("warning: numpy was imported before compare.main(); its BLAS thread count stays")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # read by OpenBLAS when numpy is first imported

    global W
    from benchmarks import workloads as W
    import numpy as np
    import torch
    import chainrule as cr
    threads = W.blas_threads()
    torch.set_num_threads(threads)
    rounds, block_s, mem_repeats, import_rounds = (5, 0.004, 2, 3) if args.quick else (61, 0.02, 5, 15)
    print(f"chainrule {cr.__version__}, numpy {np.__version__}, torch {torch.__version__}, "
          f"python {sys.version.split()[0]}; threads: numpy BLAS {threads}, torch {torch.get_num_threads()}; "
          f"{rounds} interleaved rounds{' (quick)' if args.quick else ''}")
    rep = Report()
    rep.header()
    t0 = time.perf_counter()
    groups = {"mlp": lambda: (mlp_step(rep, 128, 1.02, rounds, block_s),
                              mlp_step(rep, 16, 1.10, rounds, block_s)),
              "chain": lambda: chain(rep, rounds, block_s),
              "hvp": lambda: hvp(rep, rounds, block_s),
              "memory": lambda: memory(rep, mem_repeats),
              "torch_backend": lambda: torch_backend(rep, rounds, block_s),
              "vmap": lambda: vmap_rows(rep, rounds, block_s),
              "import": lambda: import_time(rep, import_rounds)}
    for name in GROUPS:
        if not args.only or name in args.only:
            groups[name]()
    print(f"({time.perf_counter() - t0:.0f} s)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"quick": args.quick, "threads": threads, "rows": rep.rows}, fh, indent=1)
    return rep


if __name__ == "__main__":
    main()

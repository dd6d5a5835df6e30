"""Where the time of chainrule's hot paths goes: cProfile's top entries.

    python asv_bench/profile_step.py                 # MLP step b16 + b128, elementwise chain
    python asv_bench/profile_step.py --top 30 --sort tottime --only chain

Profiles (one thread for BLAS, as compare.py):
  mlp16 / mlp128  one train step of MLP 784-512-ReLU-10 (cross-entropy, backward, SGD)
  chain           100 elementwise ops on shape (8,), forward + backward
  hvp             cr.hvp of sum(tanh(W x)), W 256x256
cProfile inflates Python-heavy code; read the ranking, not the absolute times.
"""
import argparse
import cProfile
import os
import pstats
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def profiles(W):
    return {
        "mlp16": (lambda: W.chainrule_mlp_step(16), 400),
        "mlp128": (lambda: W.chainrule_mlp_step(128), 100),
        "chain": (lambda: W.chainrule_chain(100), 400),
        "hvp": (lambda: W.chainrule_hvp(), 200),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--sort", default="tottime", choices=["tottime", "cumulative", "ncalls"])
    ap.add_argument("--only", action="append", help="mlp16, mlp128, chain, hvp (repeatable)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from benchmarks import workloads as W

    for name, (build, calls) in profiles(W).items():
        if args.only and name not in args.only:
            continue
        step = build()
        for _ in range(5):
            step()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(calls):
            step()
        prof.disable()
        print(f"\n=== {name}: {calls} calls, sorted by {args.sort} ===")
        stats = pstats.Stats(prof).strip_dirs().sort_stats(args.sort)
        stats.print_stats(args.top)


if __name__ == "__main__":
    main()

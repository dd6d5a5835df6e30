"""Run every asv benchmark once, directly, so a broken benchmark fails CI (no timings);
and check what a real `asv run` recorded, since asv exits 0 when benchmarks fail.

    python asv_bench/ci_smoke.py                    # prints one line per benchmark and parameter set
    python asv_bench/ci_smoke.py --asv-results HEAD # after `asv run`: fails unless every benchmark
                                                    # recorded for HEAD has numpy and torch numbers

Mirrors what asv does for one sample: for each benchmark class and each parameter
combination, ``setup(*params)``, then each ``time_`` / ``peakmem_`` method once, and the
code of each ``timeraw_`` method in a fresh interpreter.  ``NotImplementedError`` from
setup is asv's "skipped" (a backend or optimizer this machine lacks) and is reported,
not failed.
"""
import importlib
import glob
import inspect
import itertools
import json
import math
import os
import pkgutil
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRED_BACKENDS = ("numpy", "torch")  # the backends every machine can run
PREFIXES = ("time_", "peakmem_", "mem_", "track_", "timeraw_")


def benchmark_classes():
    """(module name, class) for every class in benchmarks/ with benchmark methods."""
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import benchmarks
    for info in pkgutil.iter_modules(benchmarks.__path__):
        module = importlib.import_module(f"benchmarks.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and any(m.startswith(PREFIXES) for m in dir(cls)):
                yield info.name, cls


def run_all(backends=None, log=print):
    """Run everything once; returns {"ran": [...], "skipped": [(id, reason)]}.  Exceptions other
    than NotImplementedError in setup propagate (that is the point)."""
    warnings.simplefilter("ignore")
    ran, skipped = [], []
    for modname, cls in benchmark_classes():
        params = cls.params if isinstance(cls.params, tuple) else (cls.params,)
        for combo in itertools.product(*params):
            if backends is not None and combo[0] not in backends:
                continue
            ident = f"{modname}.{cls.__name__}{combo}"
            bench = cls()
            try:
                bench.setup(*combo)
            except NotImplementedError as exc:
                skipped.append((ident, str(exc)))
                continue
            t = time.perf_counter()
            for meth in sorted(m for m in dir(cls) if m.startswith(PREFIXES)):
                result = getattr(bench, meth)(*combo)
                if meth.startswith("timeraw_"):
                    subprocess.run([sys.executable, "-c", result], check=True, cwd=HERE,
                                   capture_output=True, text=True)
                ran.append(f"{ident}.{meth}")
            if hasattr(bench, "teardown"):
                bench.teardown(*combo)
            log(f"ran     {ident} ({time.perf_counter() - t:.2f} s)")
    for ident, reason in skipped:
        log(f"skipped {ident}: {reason}")
    return {"ran": ran, "skipped": skipped}


def asv_results(commit, results_dir=os.path.join(HERE, "results")):
    """{benchmark: [(backend, parameters, value)]} that asv recorded for ``commit`` (a full hash),
    on every machine and environment.  asv writes None for a failure and NaN for a skip."""
    recorded = {}
    for path in glob.glob(os.path.join(results_dir, "*", f"{commit[:8]}-*.json")):
        with open(path) as f:
            data = json.load(f)
        if data["commit_hash"] != commit:
            continue
        column = data["result_columns"].index
        for name, row in data["results"].items():
            combos = itertools.product(*row[column("params")])
            values = row[column("result")]
            recorded.setdefault(name, []).extend(
                (combo[0].strip("'") if combo else "", combo, value)  # backend is the first parameter
                for combo, value in zip(combos, values))
    return recorded


def asv_problems(recorded, required=REQUIRED_BACKENDS):
    """What is wrong with ``asv_results``: failures, and benchmarks without a number for a
    required backend (a build that failed, a backend that did not load)."""
    if not recorded:
        return ["asv recorded no results for this commit"]
    problems = []
    for name, rows in sorted(recorded.items()):
        problems += [f"{name}{combo}: failed" for _, combo, value in rows if value is None]
        measured = {backend for backend, _, value in rows
                    if value is not None and not math.isnan(value)}
        problems += [f"{name}: no {backend} result" for backend in required
                     if backend not in measured]
    return problems


def check_asv_run(revision):
    commit = subprocess.run(["git", "rev-parse", revision], cwd=HERE, check=True,
                            capture_output=True, text=True).stdout.strip()
    recorded = asv_results(commit)
    for name, rows in sorted(recorded.items()):
        counts = {}
        for backend, _, value in rows:
            kind = "failed" if value is None else "skipped" if math.isnan(value) else "measured"
            counts[f"{backend} {kind}"] = counts.get(f"{backend} {kind}", 0) + 1
        print(f"{name}: " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    problems = asv_problems(recorded)
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    return not problems


if __name__ == "__main__":
    if sys.argv[1:2] == ["--asv-results"]:
        sys.exit(0 if check_asv_run(sys.argv[2] if len(sys.argv) > 2 else "HEAD") else 1)
    out = run_all()
    print(f"{len(out['ran'])} benchmark calls ran, {len(out['skipped'])} parameter sets skipped")

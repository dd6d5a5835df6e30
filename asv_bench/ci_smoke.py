"""Run every asv benchmark once, directly, so a broken benchmark fails CI (no timings).

    python asv_bench/ci_smoke.py            # prints one line per benchmark and parameter set

Mirrors what asv does for one sample: for each benchmark class and each parameter
combination, ``setup(*params)``, then each ``time_`` / ``peakmem_`` method once, and the
code of each ``timeraw_`` method in a fresh interpreter.  ``NotImplementedError`` from
setup is asv's "skipped" (a backend or optimizer this machine lacks) and is reported,
not failed.
"""
import importlib
import inspect
import itertools
import os
import pkgutil
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
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


if __name__ == "__main__":
    out = run_all()
    print(f"{len(out['ran'])} benchmark calls ran, {len(out['skipped'])} parameter sets skipped")

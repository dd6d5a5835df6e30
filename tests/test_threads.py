"""Backend and plugin loading is locked: threads that create their first tensor at the same
moment all succeed and share one Backend per name, and a plugin whose import creates a
tensor (loading re-entered in its own thread) loads.  A race needs a process where nothing
is loaded yet, so each round runs in a forked child of a fresh interpreter; the backend's
``load`` is slowed down so the threads overlap in every round (as a real library import
makes them), without which the unlocked race shows only sometimes."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROUNDS, THREADS = 5, 8   # the slowed load makes every unlocked round fail: 5 suffice

RACE = """
import importlib, json, os, sys, threading, time
import chainrule as cr                      # loads no plugin and no backend yet
for lib in {libraries}:
    __import__(lib)                         # the library import is not what is raced

def slowed(plugin):                         # threads pile up in load() when loading is not locked
    real_load = plugin.load
    def slow_load(device=None):
        time.sleep(0.05)
        return real_load(device)
    plugin.load = slow_load

def one_round(backend):
    barrier = threading.Barrier({threads})
    seen, errors = [], []
    def first_tensor():
        barrier.wait()
        try:
            x = cr.tensor([1.0, 2.0]) * cr.tensor([3.0, 4.0])
            seen.extend([x._backend, cr.get_backend(), cr.backends.load(backend)])
            assert x.backend == backend and x.numpy().tolist() == [3.0, 8.0]
        except Exception as exc:
            errors.append(f"{{type(exc).__name__}}: {{exc}}")
    threads = [threading.Thread(target=first_tensor) for _ in range({threads})]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = [(i.name, i.distribution) for i in cr.plugins.list()]
    return {{"backend": backend, "errors": errors, "answers": len(seen),
             "backend_objects": len({{id(b) for b in seen}}),
             "plugins_listed_twice": sorted({{n for n in names if names.count(n) > 1}}),
             "providers_twice": sorted({{f"{{i.name}}: {{k}}" for i in cr.plugins.list()
                                        for k, v in i.provides.items() if len(v) != len(set(v))}})}}

rounds = []
for backend in {backends}:
    slowed(importlib.import_module("chainrule.builtin_backends." + backend))
    os.environ["CHAINRULE_BACKEND"] = backend    # read by the child's first tensor
    for _ in range({rounds}):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                        # the child: nothing loaded, as in a new process
            os.close(r)
            os.write(w, json.dumps(one_round(backend)).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            rounds.append(json.loads(f.read() or "null"))
        os.waitpid(pid, 0)
print(json.dumps(rounds))
"""


def _python(code, env=None, cwd=None):
    full = dict(os.environ)
    for key in ("CHAINRULE_PLUGINS_BLOCK", "CHAINRULE_DISABLE_PLUGIN_AUTOLOAD", "CHAINRULE_BACKEND"):
        full.pop(key, None)
    full.update(env or {})
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full, cwd=cwd, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="each round is a forked child (os.fork: POSIX only)")
def test_threads_creating_their_first_tensor_together_share_one_backend():
    torch = pytest.importorskip("torch", reason="the torch backend needs torch (pip install -e '.[test]')")
    backends, libraries = ["numpy", "torch"], ["numpy", "ml_dtypes", torch.__name__]
    code = RACE.format(libraries=libraries, threads=THREADS, rounds=ROUNDS, backends=backends)
    rounds = _python(code)
    assert len(rounds) == ROUNDS * len(backends) and None not in rounds, f"a child died: {rounds}"
    for r in rounds:
        assert r["errors"] == [], r
        assert r["answers"] == 3 * THREADS and r["backend_objects"] == 1, r
        assert r["plugins_listed_twice"] == [] and r["providers_twice"] == [], r


def test_a_plugin_whose_import_creates_a_tensor_loads(tmp_path):
    """Loading re-enters in one thread: the entry point's import asks for the backend while the
    plugins are still loading.  The plugin is laid out as an installed distribution by hand
    (a module and its dist-info), so nothing is installed."""
    (tmp_path / "chainrule_eager.py").write_text(textwrap.dedent("""
        import chainrule as cr
        from chainrule.hookspecs import hookimpl
        SCALE = cr.tensor([2.0]) * 3           # a tensor at import time
        @hookimpl
        def chainrule_schedules():
            return {"eager_constant": lambda **kw: (lambda step: float(SCALE.numpy()[0]))}
        """))
    info = tmp_path / "chainrule_eager-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: chainrule-eager\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[chainrule]\neager = chainrule_eager\n")
    out = _python("""
        import json, warnings
        warnings.simplefilter("error")          # a plugin failure is a PluginWarning: fail on it
        import chainrule as cr
        x = cr.tensor([1.0]) + 1
        import chainrule_eager
        eager = [i for i in cr.plugins.list() if i.name == "eager"]
        print(json.dumps({"same_backend": chainrule_eager.SCALE._backend is x._backend is cr.get_backend(),
                          "error": eager[0].error, "provides": eager[0].provides,
                          "backends": cr.backends.names(), "has_schedule": "eager_constant" in cr.schedules.names()}))
        """, env={"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])})
    assert out["same_backend"] and out["error"] is None and out["has_schedule"], out
    assert out["provides"] == {"schedules": ["eager_constant"]}, out
    assert {"numpy", "torch", "cupy"} <= set(out["backends"]), out   # the full list, not a snapshot

"""Backend and plugin loading is locked: threads that create their first tensor at the same
moment all succeed and share one Backend per name, and a plugin whose import creates a
tensor (loading re-entered in its own thread) loads.  A race needs a process where nothing
is loaded yet, so each round runs in a forked child of a fresh interpreter; the backend's
``load`` is slowed down so the threads overlap in every round (as a real library import
makes them), without which the unlocked race shows only sometimes.

Then: use_backend is per thread and per asyncio task; the same seed gives the same numbers in
every process; threads training separate models get, bit for bit, what running them one after
the other gets (docs/backends.md, "Threads, asyncio tasks and determinism")."""
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


# ------------------------------------------------ backend selection per thread and context

import asyncio          # noqa: E402  (the tests below; the race tests above need none of it)
import threading        # noqa: E402

import numpy as np      # noqa: E402

import chainrule as cr  # noqa: E402

requires_torch = pytest.mark.skipif(__import__("importlib").util.find_spec("torch") is None,
                                    reason="a second backend needs torch (pip install -e '.[test]')")


def _in_threads(*targets):
    """Run each target in its own thread, all released together; their results, in order."""
    barrier, results, errors = threading.Barrier(len(targets)), [None] * len(targets), []

    def runner(i, target):
        barrier.wait()
        try:
            results[i] = target()
        except BaseException as exc:   # reported in the main thread
            errors.append(exc)
    threads = [threading.Thread(target=runner, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


@requires_torch
def test_use_backend_in_one_thread_does_not_change_another():
    """Two threads inside use_backend blocks of different backends, overlapping step by step,
    and a third thread outside any block: each sees its own backend at every step."""
    steps = 50
    gates = [threading.Barrier(3) for _ in range(steps)]

    def inside(name):
        seen = []
        with cr.use_backend(name):
            for gate in gates:
                gate.wait()
                seen.append((cr.get_backend().name, cr.tensor([1.0]).backend))
        return seen, cr.backends.state.backend_stack

    def outside():
        seen = []
        for gate in gates:
            gate.wait()
            seen.append((cr.get_backend().name, cr.tensor([1.0]).backend))
        return seen, cr.backends.state.backend_stack

    default = cr.get_backend().name
    numpy_seen, torch_seen, none_seen = _in_threads(lambda: inside("numpy"), lambda: inside("torch"), outside)
    assert numpy_seen == ([("numpy", "numpy")] * steps, ())
    assert torch_seen == ([("torch", "torch")] * steps, ())
    assert none_seen == ([(default, default)] * steps, ())


@requires_torch
def test_use_backend_is_per_asyncio_task():
    """Tasks of one thread whose use_backend blocks interleave at awaits: each keeps its own
    backend inside its block, and each block restores what its task had."""
    async def task(name, log):
        with cr.use_backend(name):
            for _ in range(20):
                await asyncio.sleep(0)           # the other task runs here, inside its own block
                log.append((name, cr.tensor([1.0]).backend))
        log.append((name, "after", cr.backends.state.backend_stack))

    async def both():
        log = []
        await asyncio.gather(task("numpy", log), task("torch", log))
        return log

    log = asyncio.run(both())
    assert [entry for entry in log if len(entry) == 2] == \
        [entry for pair in zip([("numpy", "numpy")] * 20, [("torch", "torch")] * 20) for entry in pair]
    assert [entry for entry in log if len(entry) == 3] == [("numpy", "after", ()), ("torch", "after", ())]
    assert cr.backends.state.backend_stack == ()


# ------------------------------------------------ the same seed, the same numbers

DRAWS = """
import hashlib, json, sys
import numpy as np, chainrule as cr
name = sys.argv[1]

def digest(t):
    return hashlib.sha256(np.ascontiguousarray(t.numpy()).tobytes()).hexdigest()[:16]

with cr.use_backend(name):
    cr.random.seed(1234)
    draws = [cr.random.normal((3, 5)), cr.random.uniform((7,), dtype="float64"),
             cr.random.randint(0, 100, (9,)), cr.random.permutation(11),
             cr.init.create("he_normal")((6, 4)), cr.nn.dropout(cr.ones((20,)), 0.5)]
    net = cr.nn.Sequential(cr.nn.Linear(4, 16), cr.nn.ReLU(), cr.nn.Dropout(0.25), cr.nn.Linear(16, 3))
    opt = cr.optim.create("adamw", net.named_parameters(), lr=1e-2)
    x, y = cr.random.normal((32, 4)), cr.random.randint(0, 3, (32,))
    for _ in range(5):
        loss = cr.nn.cross_entropy(net(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    reseeded = []
    for _ in range(2):                    # seeding again restarts the stream, in one process too
        cr.random.seed(1234)
        reseeded.append(digest(cr.random.normal((3, 5))))
print(json.dumps({"draws": [digest(d) for d in draws], "params": [digest(p) for p in net.parameters()],
                  "loss": loss.item(), "reseeded": reseeded}))
"""


@pytest.mark.parametrize("name", ["numpy", pytest.param("torch", marks=requires_torch)])
def test_the_same_seed_gives_the_same_numbers_in_every_process(name):
    """Two processes (different hash seeds: no dict or set order may matter) draw from each
    random function, initialize, drop out and train: every array is the same, bit for bit,
    and reseeding in one process restarts the stream."""
    runs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        env = {k: v for k, v in env.items() if not k.startswith("CHAINRULE_")}
        done = subprocess.run([sys.executable, "-c", DRAWS, name], capture_output=True, text=True,
                              env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1], runs
    assert runs[0]["reseeded"][0] == runs[0]["reseeded"][1] == runs[0]["draws"][0]
    assert len(set(runs[0]["draws"])) == len(runs[0]["draws"])   # six different draws


# ------------------------------------------------ threads train like one after the other

DATA = np.random.default_rng(7)
X = DATA.standard_normal((64, 4)).astype(np.float32)
Y = (X[:, 0] * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5)


def _train(backend, weights=None, dropout=0.0, steps=25):
    """Train a small MLP with adamw (and dropout) on ``backend``; returns the losses and the
    final parameters as bytes.  ``weights`` (arrays) replace the random initialization."""
    with cr.use_backend(backend):
        layers = [cr.nn.Linear(4, 16), cr.nn.ReLU()] + ([cr.nn.Dropout(dropout)] if dropout else []) + \
            [cr.nn.Linear(16, 3)]
        net = cr.nn.Sequential(*layers)
        if weights is not None:
            with cr.no_grad():
                for p, w in zip(net.parameters(), weights):
                    p.copy_(cr.tensor(w))
        opt = cr.optim.create("adamw", net.named_parameters(), lr=1e-2, weight_decay=0.1)
        x, y = cr.tensor(X), cr.tensor(Y)
        losses = []
        for step in range(steps):
            batch = slice(step % 4 * 16, step % 4 * 16 + 16)
            loss = cr.nn.cross_entropy(net(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, [p.numpy().tobytes() for p in net.parameters()]


@pytest.fixture
def switch_often():
    """Threads switch every microsecond (not every 5 ms): a race shows in a few repetitions."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


REPEATS = 20


def test_threads_training_separate_models_on_one_backend_match_one_after_the_other(switch_often):
    """Four threads train four models (different initial weights, drawn beforehand from the
    seeded generator) on the numpy backend with adamw: losses and parameters are bit-identical
    to training them one after the other, in each of 20 repetitions.  No random numbers are
    drawn during training: the backend's generator is shared by every thread (as torch's
    default generator is), so concurrent draws would be split between threads by timing."""
    cr.random.seed(3)
    starts = []
    for _ in range(4):
        net = cr.nn.Sequential(cr.nn.Linear(4, 16), cr.nn.ReLU(), cr.nn.Linear(16, 3))
        starts.append([p.numpy().copy() for p in net.parameters()])
    sequential = [_train("numpy", w) for w in starts]
    assert sequential[0][0][-1] < sequential[0][0][0]     # it learns
    for _ in range(REPEATS):
        threaded = _in_threads(*[lambda w=w: _train("numpy", w) for w in starts])
        assert threaded == sequential


@requires_torch
def test_threads_training_with_dropout_on_their_own_backends_match_one_after_the_other(switch_often):
    """One thread per backend, each drawing its initial weights and dropout masks from its
    backend's seeded generator during training: bit-identical to one after the other, in
    each of 20 repetitions (each backend's generator has one user)."""
    def both_in_threads():
        cr.random.seed(11)
        return _in_threads(lambda: _train("numpy", dropout=0.25), lambda: _train("torch", dropout=0.25))

    cr.random.seed(11)
    sequential = [_train("numpy", dropout=0.25), _train("torch", dropout=0.25)]
    assert sequential[0] != sequential[1]      # two backends, two random streams
    for _ in range(REPEATS):
        assert both_in_threads() == sequential

"""Third-party plugins through entry points: the example package examples/extras_plugin and
three broken ones (examples/broken_plugins).  Each is pip-installed (``--target``) into a
temporary folder that only the subprocesses of these tests see (PYTHONPATH), so the
developer's environment is never changed and environment variables apply at load."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BROKEN = {"import_error": "chainrule-broken-import", "invalid_optimizer": "chainrule-broken-optimizer",
          "name_clash": "chainrule-broken-clash"}


def _pip_install(src, target, tmp):
    build = tmp / ("src-" + src.name)
    shutil.copytree(src, build)           # build from a copy: no build/ or egg-info in the repo
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
           "--no-index", "--target", str(target), str(build)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"pip install of {src} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def sites(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plugins")
    good, broken = tmp / "good", tmp / "broken"
    _pip_install(EXAMPLES / "extras_plugin", good, tmp)
    for folder in BROKEN:
        _pip_install(EXAMPLES / "broken_plugins" / folder, broken, tmp)
    return {"good": good, "broken": broken}


def run(code, *paths, **env):
    """Run python code in a fresh process that sees the given install folders; returns it."""
    full = dict(os.environ)
    for key in ("CHAINRULE_PLUGINS_BLOCK", "CHAINRULE_DISABLE_PLUGIN_AUTOLOAD"):
        full.pop(key, None)
    full.update(env)
    full["PYTHONPATH"] = os.pathsep.join([str(p) for p in paths] + [full.get("PYTHONPATH", "")])
    args = [sys.executable, "-m", "chainrule", *code] if isinstance(code, list) else \
        [sys.executable, "-W", "always", "-c", textwrap.dedent(code)]
    return subprocess.run(args, capture_output=True, text=True, env=full, cwd=str(ROOT), timeout=120)


LISTING = """
import json, chainrule as cr
print(json.dumps({"plugins": [[i.name, i.distribution, i.version, i.provides, i.error, i.blocked]
                              for i in cr.plugins.list()],
                  "optim": cr.optim.names(), "init": cr.init.names(),
                  "schedules": cr.schedules.names(), "has_softplus": "softplus" in cr.ops.names()}))
"""


def _listing(*paths, **env):
    done = run(LISTING, *paths, **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_the_example_plugin_is_listed_with_distribution_and_version(sites):
    out, _ = _listing(sites["good"])
    extras = [p for p in out["plugins"] if p[1] == "chainrule-extras"]
    assert extras == [["extras", "chainrule-extras", "0.1.0",
                       {"ops": ["softplus"], "optimizers": ["lamb"], "initializers": ["lecun_uniform"],
                        "schedules": ["triangular"]}, None, False]]
    assert "lamb" in out["optim"] and "lecun_uniform" in out["init"] and "triangular" in out["schedules"]
    assert out["has_softplus"]
    cli = run(["plugins"], sites["good"])
    line = next(ln for ln in cli.stdout.splitlines() if ln.startswith("extras"))
    assert "chainrule-extras" in line and "0.1.0" in line and "lamb" in line and "softplus" in line


def test_the_example_plugin_is_usable_by_name(sites):
    done = run("""
        import math, numpy as np, chainrule as cr
        # the op: value, VJP and JVP checked by the library's gradient checker
        softplus = cr.ops.get("softplus").fn
        x = cr.tensor(np.array([-30.0, -1.0, 0.0, 2.0, 40.0]))
        assert np.allclose(softplus(x).numpy(), np.logaddexp(0, x.numpy()))
        assert cr.gradcheck(softplus, (cr.tensor(np.array([-1.5, 0.3, 2.0])),), modes=("fwd", "rev"))
        # the optimizer (LAMB) minimizes a quadratic
        w = cr.tensor(np.array([3.0, -2.0]), requires_grad=True)
        opt = cr.optim.create("lamb", [w], lr=0.05)
        for _ in range(300):
            opt.zero_grad(); cr.sum((w - 1.0) ** 2).backward(); opt.step()
        assert np.allclose(w.numpy(), 1.0, atol=0.05), w
        # the initializer and the schedule
        cr.random.seed(0)
        v = cr.init.create("lecun_uniform")((300, 400), dtype="float64").numpy()
        assert abs(v.std() * math.sqrt(300) - 1) < 0.02
        s = cr.schedules.create("triangular", base_lr=0.1, max_lr=1.0, step_size=5)
        assert [round(s(t), 6) for t in (0, 5, 10, 15)] == [0.1, 1.0, 0.1, 1.0]
        print("ok")
    """, sites["good"])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("block", ["extras", "chainrule-extras"])
def test_plugins_block_hides_it(sites, block):
    out, _ = _listing(sites["good"], CHAINRULE_PLUGINS_BLOCK=block)
    assert "lamb" not in out["optim"] and "triangular" not in out["schedules"] and not out["has_softplus"]
    assert [p[5] for p in out["plugins"] if p[1] == "chainrule-extras"] == [True]
    assert "adamw" in out["optim"]


def test_disable_autoload_loads_only_builtins(sites):
    out, _ = _listing(sites["good"], sites["broken"], CHAINRULE_DISABLE_PLUGIN_AUTOLOAD="1")
    assert {p[1] for p in out["plugins"]} == {"chainrule"}
    assert "lamb" not in out["optim"] and {"sgd", "adamw", "shampoo"} <= set(out["optim"])
    assert "he_normal" in out["init"] and "warmup_cosine" in out["schedules"]


def test_broken_plugins_are_reported_and_everything_else_works(sites):
    out, stderr = _listing(sites["good"], sites["broken"])
    errors = {p[1]: p[4] for p in out["plugins"]}
    assert "chainrule_dependency_that_does_not_exist" in errors["chainrule-broken-import"]
    assert "bogus" in errors["chainrule-broken-optimizer"] and "init" in errors["chainrule-broken-optimizer"]
    assert "'adam' is already provided" in errors["chainrule-broken-clash"]
    for dist in BROKEN.values():             # a warning names each distribution
        assert f"from distribution {dist!r}" in stderr, stderr
    assert errors["chainrule-extras"] is None
    assert "bogus" not in out["optim"] and {"lamb", "clash_ok", "adam"} <= set(out["optim"])
    done = run("""
        import numpy as np, chainrule as cr
        from chainrule import plugins
        assert plugins.provider("optimizers", "adam") == "optimizers"   # the built-in kept
        w = cr.tensor(np.array([1.0]), requires_grad=True)
        opt = cr.optim.create("adam", [w], lr=0.1)
        (w * w).sum().backward(); opt.step()
        assert w.item() < 1.0
        print("ok")
    """, sites["good"], sites["broken"])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    doctor = run(["doctor"], sites["good"], sites["broken"])
    assert doctor.returncode == 1
    for dist in BROKEN.values():
        assert any("FAILED" in ln and dist in ln for ln in doctor.stdout.splitlines()), doctor.stdout
    assert "3 problem(s) found" in doctor.stdout


def test_the_examples_are_not_installed_in_this_environment():
    from importlib.metadata import PackageNotFoundError, distribution
    for dist in ["chainrule-extras", *BROKEN.values()]:
        with pytest.raises(PackageNotFoundError):
            distribution(dist)

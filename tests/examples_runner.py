"""Running the examples from the tests: each example is a file (not an installed module) with a
``main(argv)`` that returns its key numbers."""
import importlib.util
import pathlib

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name):
    """examples/<name>.py as a module (a fresh one on each call)."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quick_runs(tmp_path_factory):
    """get(name, *extra) -> (what main(["--quick", "--out", folder, *extra]) returned, folder),
    each run once per test module (the body of a module-scoped ``quick`` fixture)."""
    cache = {}

    def get(name, *extra):
        if (name,) + extra not in cache:
            out = tmp_path_factory.mktemp(name)
            cache[(name,) + extra] = load(name).main(["--quick", "--out", str(out), *extra]), out
        return cache[(name,) + extra]
    return get

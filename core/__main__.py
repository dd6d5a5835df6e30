"""``python -m chainrule backends | plugins | ops | doctor | demo [name] [args...]``."""
import argparse
import os
import sys
import warnings

import chainrule as cr
from chainrule import plugins
from chainrule.demo import train


def _backends(args):
    avail = cr.backends.available()
    current = os.environ.get("CHAINRULE_BACKEND", "numpy")
    print(f"{'backend':<12} {'status':<10} {'provider':<22} details")
    for name in cr.backends.names():
        reason = avail[name]
        provider = plugins.provider("backends", name)
        info = next((i for i in plugins.infos() if i.name == provider), None)
        dist = f"{info.distribution} {info.version}" if info else "?"
        status = "available" if reason is None else "missing"
        mark = " (default)" if name == current.split(":")[0] else ""
        print(f"{name:<12} {status:<10} {dist:<22} {reason or 'ok'}{mark}")
    return 0


def _plugins(args):
    print(f"{'plugin':<16} {'distribution':<22} {'version':<9} {'kind':<24} provides")
    for info in plugins.infos():
        provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in info.provides.items())
        state = " [blocked]" if info.blocked else (" [FAILED]" if info.error else "")
        print(f"{info.name:<16} {info.distribution:<22} {info.version:<9} {info.kind:<24} "
              f"{provides}{state}")
    return 0


def _ops(args):
    """Every op, read off the registry: where users call it, who provides it, what it is,
    and which rules it has (a composite needs none: it is differentiated through)."""
    yes = {True: "yes", False: "no"}
    print(f"{'op':<18} {'called as':<30} {'provider':<12} {'kind':<20} vjp jvp batch")
    for name in cr.ops.names():
        op = cr.ops.get(name)
        where = {"chainrule": f"cr.{name}", "nn": f"cr.nn.{name}",
                 "linalg": f"cr.linalg.{name}"}.get(op.namespace, "cr.ops.get(...)")
        if op.method:
            where += " x." + (op.method if isinstance(op.method, str) else name)
        kind = ("non-differentiable" if not op.differentiable else "composite" if op.composite
                else f"kernel {op.kernel}" if op.kernel else "primitive")
        if op.composite:
            rules = "-   -   -"
        elif not op.differentiable:    # no gradient to carry: only batching applies
            rules = f"-   -   {yes[op.batch is not None]}"
        else:
            rules = (f"{yes[bool(op.vjp or op.vjps)]:<3} {yes[bool(op.jvp or op.jvps or op.linear)]:<3} "
                     f"{yes[op.batch is not None]}")
        print(f"{name:<18} {where:<30} {op.provider:<12} {kind:<20} {rules}")
    return 0


def _doctor(args):
    import platform
    problems = 0
    print(f"chainrule {cr.__version__} on Python {platform.python_version()}")
    print("backends:")
    for name, reason in cr.backends.available().items():
        if reason is None:
            try:
                b = cr.backends.load(name)
                missing = f" ({len(b.missing)} kernels missing: {', '.join(b.missing)})" if b.missing else ""
                print(f"  ok       {name}{missing}")
            except Exception as exc:
                problems += 1
                print(f"  BROKEN   {name}: {exc}")
        else:
            print(f"  missing  {name}: {reason}")
    try:
        cr.get_backend()
        print(f"  default: {cr.get_backend().name} (CHAINRULE_BACKEND={os.environ.get('CHAINRULE_BACKEND', 'unset')})")
    except Exception as exc:
        problems += 1
        print(f"  default backend unusable: {exc}")
    print("plugins:")
    for info in plugins.infos():
        if info.blocked:
            print(f"  blocked  {info.name} ({info.distribution}) by CHAINRULE_PLUGINS_BLOCK")
        elif info.error:
            problems += 1
            print(f"  FAILED   {info.name} ({info.distribution} {info.version}): {info.error}")
        else:
            print(f"  ok       {info.name} ({info.distribution} {info.version}): {info.kind}")
    print("no problems found" if not problems else f"{problems} problem(s) found")
    return 1 if problems else 0


def _demo(args):
    """No name: the built-in MLP demo (chainrule only).  A name: examples/<name>.py."""
    if args.list:
        return _list_examples()
    if args.name is None:
        train(steps=args.steps)
        return 0
    return _run_example(args.name, args.args)


def _examples_dir():
    """The examples live in the source checkout, not in the installed package: the folder
    CHAINRULE_EXAMPLES names, else examples/ next to this package's source (an editable
    install or a checkout), else ./examples."""
    from pathlib import Path
    env = os.environ.get("CHAINRULE_EXAMPLES")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for folder in (Path(__file__).resolve().parent.parent / "examples", Path.cwd() / "examples"):
        if folder.is_dir():
            return folder
    return None


def _examples():
    """{name: path} of examples/*.py."""
    folder = _examples_dir()
    if folder is None:
        return None
    return {p.stem: p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")}


def _no_examples():
    where = os.environ.get("CHAINRULE_EXAMPLES")
    print("chainrule's examples are in the source checkout (examples/*.py), not in the installed "
          "package" + (f"; CHAINRULE_EXAMPLES={where} is not a folder" if where else "") +
          ": clone the repository and run `pip install -e \".[examples]\"` there, or set "
          "CHAINRULE_EXAMPLES to the examples folder", file=sys.stderr)
    return 2


def _summary(path):
    """The first line of an example's docstring, read without running it."""
    import ast
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    except (SyntaxError, UnicodeDecodeError):
        doc = None
    if not doc:
        return ""
    first = " ".join(doc.strip().split("\n\n")[0].split())   # the first paragraph, one line
    end = first.find(". ")
    first = first[:end + 1] if end > 0 else first
    return first if len(first) <= 100 else first[:97] + "..."


def _list_examples():
    examples = _examples()
    if examples is None:
        return _no_examples()
    width = max((len(n) for n in examples), default=0)
    for name, path in examples.items():
        print(f"{name:<{width}}  {_summary(path)}")
    return 0


def _run_example(name, argv):
    """examples/<name>.py: its main(argv) when it takes argv, else the file as a script."""
    import importlib.util
    import inspect
    import runpy
    examples = _examples()
    if examples is None:
        return _no_examples()
    name = name[:-3] if name.endswith(".py") else name
    if name not in examples:
        import difflib
        close = difflib.get_close_matches(name, examples, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"no example named {name!r}{hint}; python -m chainrule demo --list shows them: "
              f"{', '.join(examples)}", file=sys.stderr)
        return 2
    path = str(examples[name])
    spec = importlib.util.spec_from_file_location(f"chainrule_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if main is not None and "argv" in inspect.signature(main).parameters:
        status = main(list(argv))
        return status if isinstance(status, int) and not isinstance(status, bool) else 0
    saved = sys.argv
    sys.argv = [path, *argv]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = saved
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m chainrule", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("backends", help="list backends, whether they run here, and why not")
    sub.add_parser("plugins", help="list plugins with their distribution and what they provide")
    sub.add_parser("ops", help="list registered ops and their rules")
    sub.add_parser("doctor", help="check the install: backends, plugins that failed and why")
    demo = sub.add_parser("demo", help="train an MLP on the default backend, printing the loss; "
                          "or run examples/<name>.py (demo <name> --quick)")
    demo.add_argument("--steps", type=int, default=300, help="steps of the default demo")
    demo.add_argument("--list", action="store_true", help="list the examples")
    demo.add_argument("name", nargs="?", help="an example (examples/<name>.py in the checkout)")
    demo.add_argument("args", nargs=argparse.REMAINDER, help="the example's arguments (--quick ...)")
    args = parser.parse_args(argv)
    command = {"backends": _backends, "plugins": _plugins, "ops": _ops, "doctor": _doctor,
               "demo": _demo}[args.command]
    try:
        with warnings.catch_warnings():
            if args.command in ("doctor", "plugins", "backends"):
                warnings.simplefilter("ignore")  # they report plugin failures themselves
            status = command(args)
            sys.stdout.flush()               # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        return _reader_left()
    return status


def _reader_left():
    """The reader closed the pipe (``python -m chainrule ops | head``): stop quietly with 141,
    the status a shell reports for git or ls killed by SIGPIPE.  stdout is pointed at devnull
    so that the interpreter's final flush does not raise again (Python docs, "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13                          # 128 + SIGPIPE


if __name__ == "__main__":
    sys.exit(main())

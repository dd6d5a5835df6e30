"""``python -m chainrule backends | plugins | ops | doctor | demo``."""
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
    train(steps=args.steps)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m chainrule", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("backends", help="list backends, whether they run here, and why not")
    sub.add_parser("plugins", help="list plugins with their distribution and what they provide")
    sub.add_parser("ops", help="list registered ops and their rules")
    sub.add_parser("doctor", help="check the install: backends, plugins that failed and why")
    demo = sub.add_parser("demo", help="train an MLP on the default backend, printing the loss")
    demo.add_argument("--steps", type=int, default=300)
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

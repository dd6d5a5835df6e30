"""The command line as a shell uses it, and what ``dir(cr)`` shows a new user."""
import os
import subprocess
import sys

import pytest

import chainrule as cr

SUBCOMMANDS = [["backends"], ["plugins"], ["ops"], ["doctor"], ["demo", "--steps", "3"]]


@pytest.mark.parametrize("argv", SUBCOMMANDS, ids=lambda a: a[0])
def test_every_subcommand_stops_quietly_when_the_reader_leaves(argv):
    """``python -m chainrule ops | head``: the reader is gone before the first write (its end of
    the pipe is closed before the child starts, so every write fails, with no race). The
    command must end with 141 (128 + SIGPIPE, what a shell reports for git or ls) and no
    traceback, not a BrokenPipeError."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "chainrule", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_reading_one_line_then_closing_ends_cleanly():
    """What ``| head -1`` does: read a line, close the pipe, wait."""
    child = subprocess.Popen([sys.executable, "-m", "chainrule", "ops"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    first = child.stdout.readline()
    child.stdout.close()
    err = child.stderr.read()
    child.wait(timeout=120)
    assert first.split()[:2] == ["op", "called"]
    assert child.returncode in (0, 141), err          # 0 when everything fit in the pipe
    assert "Traceback" not in err, err


def test_dir_lists_every_public_submodule_without_importing_it():
    """``dir(cr)`` shows the lazily loaded submodules (optim, init, ...) and names (save, load)
    too, and listing them imports none of them."""
    code = ("import sys, chainrule as cr\n"
            "lazy = ('optim', 'init', 'schedules', 'plugins', 'testing', 'hookspecs', 'serialization')\n"
            "before = set(sys.modules)\n"
            "names = dir(cr)\n"
            "print(sorted(m for m in lazy if 'chainrule.' + m in set(sys.modules) - before))\n"
            "print(' '.join(names))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded, names = done.stdout.splitlines()
    assert loaded == "[]", f"dir(chainrule) imported {loaded}"
    names = names.split()
    for module in ("optim", "init", "schedules", "plugins", "backends", "testing", "nn", "ops",
                   "random", "hookspecs", "amp", "linalg", "vmap"):
        if module in ("amp", "linalg", "vmap") and not hasattr(cr, module):
            continue                                   # not part of the package yet
        assert module in names, f"dir(chainrule) does not list {module!r}"
    assert set(cr.__all__) <= set(names), sorted(set(cr.__all__) - set(names))


def test_every_name_dir_lists_resolves():
    """No name in ``dir(cr)`` raises AttributeError (dir must not advertise what is not there)."""
    for name in dir(cr):
        getattr(cr, name)


# ------------------------------------------------- python -m chainrule demo <name> (issue 14)

TINY_EXAMPLE = '''"""Tiny: the derivative of x^2.

More text that --list does not show."""
import argparse

import chainrule as cr


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--x", type=float, default=1.0)
    args = parser.parse_args(argv)
    g = float(cr.grad(lambda t: t * t)(cr.tensor(args.x)))
    print(f"grad {g} quick={args.quick}")
    return {"grad": g}
'''

SCRIPT_EXAMPLE = '''"""A script without main(argv): run as __main__ with sys.argv."""
import sys

if __name__ == "__main__":
    print("args", sys.argv[1:])
    sys.exit(3 if "--fail" in sys.argv else 0)
'''


@pytest.fixture
def examples_dir(tmp_path, monkeypatch):
    (tmp_path / "tiny.py").write_text(TINY_EXAMPLE)
    (tmp_path / "script.py").write_text(SCRIPT_EXAMPLE)
    (tmp_path / "_helper.py").write_text("raise RuntimeError('not an example')\n")
    monkeypatch.setenv("CHAINRULE_EXAMPLES", str(tmp_path))
    return tmp_path


def test_demo_runs_an_example_by_name_with_its_arguments(examples_dir):
    """End to end, as a shell runs it: main(argv) gets what follows the name."""
    done = subprocess.run([sys.executable, "-m", "chainrule", "demo", "tiny", "--quick", "--x", "3"],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "grad 6.0 quick=True"     # d(x^2)/dx at 3


def test_demo_lists_runs_scripts_and_names_unknown_examples(examples_dir, capsys):
    from chainrule.__main__ import main
    assert main(["demo", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["script", "tiny"]      # _helper.py is not one
    assert listed[1].split(None, 1)[1] == "Tiny: the derivative of x^2."
    assert main(["demo", "script", "a", "--fail"]) == 3                    # its own exit status
    assert capsys.readouterr().out.strip() == "args ['a', '--fail']"
    assert main(["demo", "tiny.py"]) == 0 and "grad 2.0" in capsys.readouterr().out
    assert main(["demo", "tiyn"]) == 2
    assert "no example named 'tiyn' (did you mean 'tiny'?)" in capsys.readouterr().err


def test_demo_outside_a_checkout_says_where_the_examples_are(tmp_path, monkeypatch, capsys):
    from chainrule.__main__ import main
    monkeypatch.setenv("CHAINRULE_EXAMPLES", str(tmp_path / "missing"))
    assert main(["demo", "graph"]) == 2 and main(["demo", "--list"]) == 2
    err = capsys.readouterr().err
    assert "examples are in the source checkout" in err and "is not a folder" in err


def test_demo_finds_the_checkouts_examples_folder(monkeypatch, capsys):
    """Without CHAINRULE_EXAMPLES: examples/ beside the package's source (core/ -> repo root)."""
    from pathlib import Path
    from chainrule.__main__ import main
    monkeypatch.delenv("CHAINRULE_EXAMPLES", raising=False)
    folder = Path(cr.__file__).resolve().parent.parent / "examples"
    assert main(["demo", "--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert listed == {p.stem for p in folder.glob("*.py") if not p.name.startswith("_")}

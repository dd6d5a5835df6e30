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

"""asv plugin: environment_type "chained-virtualenv" (asv.conf.json loads this file).

A virtualenv per machine, like asv's own "virtualenv", whose site-packages chain to the
site-packages of the Python that runs asv (your virtualenv): numpy, pluggy, torch, wheel ...
come from there, so building an environment never downloads anything, and each commit's
chainrule wheel is installed into the asv environment itself, ahead of the chain.

Why not asv's own choices: "existing" benchmarks only what is installed now (no `asv run A..B`);
"virtualenv" with --system-site-packages sees the *base* interpreter's packages, not the
virtualenv asv runs from (no wheel, no torch); a plain "virtualenv" downloads a multi-GB torch.

The chain is a .pth file holding plain paths: Python appends them to sys.path but does not run
the .pth files found inside them, so the import hook of an editable install of the working tree
never loads; and importlib.metadata (entry points) takes the first chainrule on sys.path, the
commit's.  An old commit cannot borrow a newer module or backend from the checkout.
"""
import os
import site
import sys
import sysconfig

from asv.environment import EnvironmentUnavailable
from asv.plugins.virtualenv import Virtualenv

PTH_NAME = "_asv_chain_to_runner.pth"


def chain_text():
    """The .pth lines: the site-packages directories of the Python running asv, in order."""
    return "".join(f"{path}\n" for path in dict.fromkeys(site.getsitepackages()))


class ChainedVirtualenv(Virtualenv):
    tool_name = "chained-virtualenv"

    def __init__(self, conf, python, requirements, tagged_env_vars):
        # The chained packages hold compiled extensions for this very interpreter.
        running = f"{sys.version_info[0]}.{sys.version_info[1]}"
        if python != running:
            raise EnvironmentUnavailable(
                f"chained-virtualenv runs the Python that runs asv ({running}), not {python}: "
                f"drop 'pythons' from asv.conf.json, or run asv from a {python} virtualenv")
        super().__init__(conf, python, requirements, tagged_env_vars)
        self._executable = sys.executable

    def _install_requirements(self):
        # asv's next step is `pip install wheel pip>=8`: with the chain in place both are
        # already satisfied, so pip needs no index.
        self._write_chain()
        super()._install_requirements()

    def _chain_file(self):
        # The asv environment runs this same interpreter, so its layout is this one's.
        paths = sysconfig.get_paths(vars={"base": self._path, "platbase": self._path})
        return os.path.join(paths["purelib"], PTH_NAME)

    def _write_chain(self):
        with open(self._chain_file(), "w") as pth:
            pth.write(chain_text())

    def check_presence(self):
        # False makes asv rebuild the environment: one built by an older asv.conf, or for a
        # runner virtualenv that has since moved.
        try:
            with open(self._chain_file()) as pth:
                current = pth.read() == chain_text()
        except OSError:
            return False
        return current and super().check_presence()

"""asv benchmarks for chainrule, every one parametrized by backend (see docs/performance.md)."""
import sys


def _prefer_installed_chainrule():
    """asv installs each commit's chainrule into a virtualenv that also sees the system
    site-packages (asv.conf.json says why).  If the system holds an editable install of the
    working tree, its import hook would hand out working-tree modules for anything the commit
    lacks (an old commit would suddenly "have" a newer backend).  When chainrule itself was
    imported from an installed copy, drop those hooks."""
    import chainrule
    if "site-packages" in (chainrule.__file__ or ""):
        sys.meta_path[:] = [f for f in sys.meta_path
                            if not getattr(f, "__module__", "").startswith("__editable__")]


_prefer_installed_chainrule()

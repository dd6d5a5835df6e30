"""Import cost in a fresh interpreter (asv's timeraw_: the returned code runs in a new process)."""
from ._common import BACKENDS, require_backend


# as benchmarks/__init__.py: in an asv virtualenv, ignore an editable install of the working tree
_ISOLATE = ("import sys, chainrule\n"
            "if 'site-packages' in chainrule.__file__:\n"
            "    sys.meta_path[:] = [f for f in sys.meta_path\n"
            "                        if not getattr(f, '__module__', '').startswith('__editable__')]\n")


class Import:
    params = (BACKENDS,)
    param_names = ["backend"]

    def setup(self, backend):
        require_backend(backend)

    def timeraw_import_chainrule(self, backend):
        """`import chainrule` with CHAINRULE_BACKEND set: must not load the backend's library."""
        return f"import os; os.environ['CHAINRULE_BACKEND'] = {backend!r}; import chainrule"

    def timeraw_import_and_first_op(self, backend):
        """Import, load the backend (its library included) and run one op."""
        return (_ISOLATE + "import chainrule as cr\n"
                f"x = cr.ones((2,), backend={backend!r})\n"
                "(x + x).numpy()")

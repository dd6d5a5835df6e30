"""Per-op overhead: a chain of 100 elementwise ops on shape (8,), where the arithmetic is
nothing and the Python around each kernel is everything."""
from . import workloads as W
from ._common import BACKENDS, synchronizer


class ElementwiseChain:
    params = (BACKENDS, ["forward", "forward+backward"])
    param_names = ["backend", "mode"]

    def setup(self, backend, mode):
        self.step = W.chainrule_chain(100, 8, backend, backward=(mode == "forward+backward"))
        self.sync = synchronizer(backend)
        self.step()

    def time_chain_100_ops(self, backend, mode):
        self.step()
        self.sync()


class ElementwiseChainLarge:
    """The same chain on 100,000 elements: kernel time dominates, overhead should vanish."""
    params = (BACKENDS,)
    param_names = ["backend"]

    def setup(self, backend):
        self.step = W.chainrule_chain(100, 100_000, backend, backward=True)
        self.sync = synchronizer(backend)
        self.step()

    def time_chain_100_ops_1e5(self, backend):
        self.step()
        self.sync()

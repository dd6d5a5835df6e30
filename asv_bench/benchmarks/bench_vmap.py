"""Per-example gradients of a 2-layer MLP (784-128-10, batch 64): ``vmap(grad(loss))``
against one gradient of the batch's mean loss and against a Python loop of gradients."""
from . import workloads as W
from ._common import BACKENDS, synchronizer


class PerExampleGradients:
    params = (BACKENDS, ["vmap", "batch_grad", "loop"])
    param_names = ["backend", "how"]
    builders = {"vmap": W.chainrule_per_example_grads, "batch_grad": W.chainrule_batch_grad,
                "loop": W.chainrule_per_example_loop}

    def setup(self, backend, how):
        self.run = self.builders[how](backend=backend)
        self.sync = synchronizer(backend)
        self.run()

    def time_gradients(self, backend, how):
        self.run()
        self.sync()

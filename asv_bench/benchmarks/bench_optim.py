"""One optimizer step on the parameters of MLP 784-512-10 (gradients already there)."""
import numpy as np

from . import workloads as W
from ._common import BACKENDS, synchronizer


class OptimizerStep:
    params = (BACKENDS, W.optimizer_names())
    param_names = ["backend", "optimizer"]

    def setup(self, backend, optimizer):
        optim = W.require_optim()
        if optimizer not in optim.names():
            raise NotImplementedError(f"optimizer {optimizer!r} not registered here")
        cr, net = W.chainrule_model([784, 512, 10], backend=backend)
        rng = np.random.default_rng(1)
        params = net.parameters()
        for p in params:
            p.grad = cr.tensor(rng.standard_normal(p.shape).astype("float32") * 1e-3,
                               backend=backend)
        self.opt = optim.create(optimizer, params, lr=1e-3)
        self.sync = synchronizer(backend)
        self.args = ()
        try:
            self.opt.step()
        except TypeError as exc:  # second-order optimizers (sophia) need the loss as a closure
            if "closure" not in str(exc):
                raise
            self.args = (self.loss_closure(cr, backend),)
            self.opt.step(*self.args)

    @staticmethod
    def loss_closure(cr, backend):
        """closure(W1, b1, W2, b2) -> loss of a batch of 16, a pure function of the parameters."""
        _, X, y = W.mlp_arrays([784, 512, 10], 16)
        x, labels = cr.tensor(X, backend=backend), cr.tensor(y, backend=backend)

        def closure(W1, b1, W2, b2):
            return cr.nn.cross_entropy(cr.nn.relu(x @ W1 + b1) @ W2 + b2, labels)
        return closure

    def time_step(self, backend, optimizer):
        self.opt.step(*self.args)
        self.sync()

"""Second order and Jacobians: hvp against one gradient, hessian, jacfwd against jacrev."""
import numpy as np

from . import workloads as W
from ._common import BACKENDS, require_backend, synchronizer


class HVP:
    """f(W) = sum(tanh(W x)), W 256x256: one gradient, and a Hessian-vector product."""
    params = (BACKENDS,)
    param_names = ["backend"]

    def setup(self, backend):
        self.grad = W.chainrule_grad(256, backend=backend)
        self.hvp = W.chainrule_hvp(256, backend=backend)
        self.sync = synchronizer(backend)
        self.grad(), self.hvp()

    def time_grad(self, backend):
        self.grad()
        self.sync()

    def time_hvp(self, backend):
        self.hvp()
        self.sync()


class Hessian:
    """Full Hessian of sum(tanh(A x)) w.r.t. x in R^32 (jacfwd over jacrev)."""
    params = (BACKENDS,)
    param_names = ["backend"]

    def setup(self, backend):
        cr = require_backend(backend)
        rng = np.random.default_rng(0)
        A = cr.tensor(rng.standard_normal((64, 32)).astype("float32"), backend=backend)
        self.x = cr.tensor(rng.standard_normal(32).astype("float32"), backend=backend)
        self.hessian = cr.hessian(lambda x: cr.sum(cr.tanh(A @ x)))
        self.sync = synchronizer(backend)
        self.hessian(self.x)

    def time_hessian(self, backend):
        self.hessian(self.x)
        self.sync()


class Jacobian:
    """Jacobian of tanh(A x), A 64x16 (tall: 64 outputs, 16 inputs): jacfwd needs 16
    JVPs, jacrev 64 VJPs, so forward mode should win here."""
    params = (BACKENDS, ["jacfwd", "jacrev"])
    param_names = ["backend", "mode"]

    def setup(self, backend, mode):
        cr = require_backend(backend)
        rng = np.random.default_rng(0)
        A = cr.tensor(rng.standard_normal((64, 16)).astype("float32"), backend=backend)
        self.x = cr.tensor(rng.standard_normal(16).astype("float32"), backend=backend)
        self.jac = getattr(cr, mode)(lambda x: cr.tanh(A @ x))
        self.sync = synchronizer(backend)
        self.jac(self.x)

    def time_jacobian(self, backend, mode):
        self.jac(self.x)
        self.sync()

"""Train steps: forward, cross-entropy, backward, SGD update."""
from . import workloads as W
from ._common import BACKENDS, synchronizer

DEEP = [256] * 8 + [10]  # 8 Linear layers


class MLPStep:
    """MLP 784-512-ReLU-10, one SGD step."""
    params = (BACKENDS, [16, 128], ["float32", "float64"])
    param_names = ["backend", "batch", "dtype"]

    def setup(self, backend, batch, dtype):
        self.step = W.chainrule_mlp_step(batch, dtype=dtype, backend=backend)
        self.sync = synchronizer(backend)
        self.step()

    def time_train_step(self, backend, batch, dtype):
        self.step()
        self.sync()


class DeepMLPStep:
    """8 Linear layers of width 256 with ReLU, batch 64, float32."""
    params = (BACKENDS,)
    param_names = ["backend"]

    def setup(self, backend):
        self.step = W.chainrule_mlp_step(64, sizes=DEEP, backend=backend)
        self.sync = synchronizer(backend)
        self.step()

    def time_train_step(self, backend):
        self.step()
        self.sync()


class TrainStepMemory:
    """Peak resident memory of a deep, wide train step, plain and with every hidden block
    in ``cr.checkpoint`` (keeps block inputs, recomputes pre-activations in backward)."""
    params = (BACKENDS, [False, True])
    param_names = ["backend", "checkpoint"]

    def setup(self, backend, checkpoint):
        W.require_backend(backend)
        self.backend, self.checkpoint = backend, checkpoint

    def peakmem_train_step(self, backend, checkpoint):
        step = W.chainrule_mlp_step(1024, sizes=[512] * 8 + [10], backend=backend,
                                    checkpoint=checkpoint)
        step()
        step()

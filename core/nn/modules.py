"""Modules: parameters in attributes, called like functions (as in torch.nn)."""
import math

from ..tensor import Tensor
from ..errors import ShapeError
from . import functional as F


class Module:
    """Base class: tensors with requires_grad and sub-modules set as attributes are found
    by ``parameters()`` / ``named_parameters()`` / ``state_dict()``."""

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def _children(self):
        for name, value in vars(self).items():
            if isinstance(value, (Module, Tensor)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Module, Tensor)):
                        yield f"{name}.{i}", item

    def named_parameters(self, prefix=""):
        """(dotted name, tensor) for every parameter, in definition order."""
        for name, value in self._children():
            full = f"{prefix}{name}"
            if isinstance(value, Module):
                yield from value.named_parameters(full + ".")
            elif value.requires_grad:
                yield full, value

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def modules(self):
        yield self
        for _, value in self._children():
            if isinstance(value, Module):
                yield from value.modules()

    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def state_dict(self):
        """{name: tensor} of the parameters (the tensors themselves, not copies)."""
        return dict(self.named_parameters())

    def load_state_dict(self, state, strict=True):
        """Copy values in; every key, shape and dtype is checked before anything changes."""
        from .._state import no_grad
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}; "
                           "the state was saved from a different model (or pass strict=False)")
        for k, p in own.items():
            if k in state:
                v = state[k]
                shape = tuple(v.shape)
                if shape != p.shape:
                    raise ShapeError(f"load_state_dict: {k} has shape {p.shape} in the model but "
                                     f"{shape} in the state; nothing was loaded")
        with no_grad():
            for k, p in own.items():
                if k in state:
                    v = state[k]
                    p.copy_(v if isinstance(v, Tensor) else _tensor(v, p))
        return self

    def to(self, backend):
        """Move every parameter to another backend (new leaf tensors, same values)."""
        from ..creation import tensor
        for m in self.modules():
            for name, value in list(vars(m).items()):
                if isinstance(value, Tensor):
                    setattr(m, name, tensor(value, backend=backend, requires_grad=value.requires_grad))
        return self

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    def __repr__(self):
        inner = [f"  ({n}): {m!r}".replace("\n", "\n  ") for n, m in self._children() if isinstance(m, Module)]
        extra = self.extra_repr()
        if not inner:
            return f"{type(self).__name__}({extra})"
        return f"{type(self).__name__}({extra}\n" + "\n".join(inner) + "\n)"

    def extra_repr(self):
        return ""


def _tensor(value, like):
    from ..creation import tensor
    return tensor(value, dtype=like.dtype, backend=like._backend)


def _initialize(init, shape, fan_in, fan_out, dtype, backend):
    """An initializer by name (``cr.init``) or the torch-like default U(+-1/sqrt(fan_in))."""
    from .. import random
    if init is None:
        bound = 1 / math.sqrt(fan_in)
        return random.uniform(shape, -bound, bound, dtype=dtype, backend=backend)
    if isinstance(init, str):
        from .. import init as init_module
        init = init_module.create(init)
    return init(shape, fan_in=fan_in, fan_out=fan_out, dtype=dtype, backend=backend)


class Linear(Module):
    """``y = x @ weight + bias`` with weight of shape (in_features, out_features): Y = XW."""

    def __init__(self, in_features, out_features, bias=True, init=None, dtype=None, backend=None):
        self.in_features, self.out_features = in_features, out_features
        self.weight = _initialize(init, (in_features, out_features), in_features, out_features,
                                  dtype, backend).requires_grad_()
        self.bias = (_initialize(None, (out_features,), in_features, out_features, dtype, backend)
                     .requires_grad_() if bias else None)

    def forward(self, x):
        if x.shape[-1:] != (self.in_features,):
            raise ShapeError(f"Linear({self.in_features}, {self.out_features}) got input of shape "
                             f"{x.shape}; its last axis must be {self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Modules (or functions) applied in order."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)


class _Activation(Module):
    fn = None

    def forward(self, x):
        return type(self).fn(x)


class ReLU(_Activation):
    fn = staticmethod(F.relu)


class Tanh(_Activation):
    fn = staticmethod(F.tanh)


class Sigmoid(_Activation):
    fn = staticmethod(F.sigmoid)


class GELU(_Activation):
    fn = staticmethod(F.gelu)


class Dropout(Module):
    def __init__(self, p=0.5):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, training=self.training)


class LayerNorm(Module):
    """layer_norm over the last axis with a learned scale (ones) and shift (zeros)."""

    def __init__(self, features, eps=1e-5, dtype=None, backend=None):
        from ..creation import ones, zeros
        self.eps = eps
        self.weight = ones((features,), dtype=dtype, backend=backend).requires_grad_()
        self.bias = zeros((features,), dtype=dtype, backend=backend).requires_grad_()

    def forward(self, x):
        return F.layer_norm(x, self.eps, self.weight, self.bias)


_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "gelu": GELU}


class MLP(Sequential):
    """Linear layers of the given sizes with an activation between them (none after the last).

    >>> import chainrule as cr
    >>> cr.random.seed(0)
    >>> net = cr.nn.MLP([4, 8, 3])
    >>> net(cr.ones((2, 4))).shape
    (2, 3)
    """

    def __init__(self, sizes, activation="relu", init=None, dtype=None, backend=None):
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least an input and an output size, got {sizes}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; use one of {sorted(_ACTIVATIONS)}")
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, init=init, dtype=dtype, backend=backend))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATIONS[activation]())
        super().__init__(*layers)
        self.sizes = list(sizes)

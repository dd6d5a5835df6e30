"""Modules: parameters in attributes, called like functions (as in torch.nn)."""
import math
import warnings
from collections.abc import Mapping

from ..tensor import Tensor, make
from ..errors import ArgumentError, DTypeError, ShapeError
from . import functional as F
from .. import init as init_module, ops, random
from .._state import no_grad
from ..backends import load
from ..creation import ones, tensor, zeros


class Module:
    """Base class: tensors and sub-modules set as attributes, directly or inside (nested)
    lists, tuples and dicts, are its members, named as torch names them ("w",
    "layers.0.weight", "blocks.enc.bias"); those with requires_grad are the parameters
    that ``parameters()`` / ``named_parameters()`` / ``state_dict()`` find.

    >>> import chainrule as cr
    >>> class Net(cr.nn.Module):
    ...     def __init__(self):
    ...         self.blocks = {"enc": cr.nn.Linear(2, 3), "dec": cr.nn.Linear(3, 2)}
    >>> [n for n, _ in Net().named_parameters()]
    ['blocks.enc.weight', 'blocks.enc.bias', 'blocks.dec.weight', 'blocks.dec.bias']
    """

    training = True
    _buffers = ()   # names of tensor attributes that state_dict keeps though they need no grad

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def _children(self):
        """(name, member) for this module's own tensors, then its sub-modules and the tensors
        held in containers, in attribute order (torch's order: own parameters first)."""
        members = [m for name, value in vars(self).items() for m in _members(name, value)]
        return [m for m in members if "." not in m[0] and isinstance(m[1], Tensor)] + \
               [m for m in members if "." in m[0] or isinstance(m[1], Module)]

    def _named_members(self, prefix="", ancestors=()):
        """(dotted name, tensor) for every tensor this module and its sub-modules hold, under
        every name it is reachable by (as torch's state_dict); a module holding one of its
        ancestors (a cycle) is not walked into again."""
        ancestors = ancestors + (id(self),)
        for name, value in self._children():
            if isinstance(value, Module):
                if id(value) not in ancestors:
                    yield from value._named_members(f"{prefix}{name}.", ancestors)
            else:
                yield f"{prefix}{name}", value

    def named_parameters(self, prefix=""):
        """(dotted name, tensor) for every parameter, in torch's order; a tensor shared by two
        places (tied weights) is listed once, under its first name, as in torch."""
        seen = set()
        for name, p in self._named_members(prefix):
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def modules(self):
        """This module and every sub-module, each once."""
        seen, stack = set(), [self]
        while stack:
            m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield m
            stack.extend(reversed([v for _, v in m._children() if isinstance(v, Module)]))

    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        """Reset every parameter's ``.grad``: to None (the default, as torch 2.x), or with
        ``set_to_none=False`` to zeros written into the same array."""
        reset_grads(self.parameters(), set_to_none)

    def state_dict(self):
        """{name: tensor} of the parameters and buffers (running statistics: the attributes a
        module lists in ``_buffers``), the tensors themselves, not copies; a tied tensor
        appears under each of its names, as in torch."""
        buffers = {id(getattr(m, name)) for m in self.modules() for name in m._buffers
                   if getattr(m, name, None) is not None}
        return {name: p for name, p in self._named_members() if p.requires_grad or id(p) in buffers}

    def load_state_dict(self, state, strict=True):
        """Copy values in; every entry is checked before anything is written.

        ``strict`` (as torch's default): the keys must be exactly the model's; with
        ``strict=False`` missing and unexpected keys are skipped. Each value must be a
        tensor or array (any backend) of the parameter's shape. Its dtype is cast to the
        parameter's as torch's ``copy_`` casts (float64 into float32, int or bool into
        float), except where the cast would lose information silently: complex values,
        and finite values that overflow to inf in a narrower dtype, are refused. Errors
        name every bad key (KeyError for keys, ShapeError if any shape is wrong, else
        DTypeError) and leave every parameter bit-identical.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict expects a dict of name -> tensor (a state_dict()), "
                            f"got {type(state).__name__}")
        own = self.state_dict()
        _check_keys(own, state, strict)
        values = _converted_values(own, state)
        with no_grad():                       # everything checked and converted: commit
            for name, value in values.items():
                own[name].copy_(value)
        return self

    def to(self, backend):
        """Move every tensor (parameters, their ``.grad``, other tensors) to another backend.

        The moved parameters are new leaf tensors: build optimizers after ``.to()``, as
        torch's documentation advises. Every value is converted before any is replaced;
        a tensor held in two places (tied weights) stays one tensor.
        """
        target = load(backend).name if isinstance(backend, str) else backend.name
        moved = {}
        with no_grad():
            for _, t in self._named_members():
                if id(t) not in moved and t.backend != target:
                    moved[id(t)] = _moved(t, target)
        for m in self.modules():
            for name, value in list(vars(m).items()):
                new = _substitute(value, moved)
                if new is not value:
                    setattr(m, name, new)
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


# ------------------------------------------------------------ members

def _members(name, value):
    """(dotted name, Module or Tensor) found in an attribute's value: the value itself, or the
    items of a (nested) list, tuple or dict, named by position or key as torch's ModuleList
    and ModuleDict name them."""
    if isinstance(value, (Module, Tensor)):
        return [(name, value)]
    if isinstance(value, (list, tuple)):
        return [m for i, item in enumerate(value) for m in _members(f"{name}.{i}", item)]
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            inner = _members(f"{name}.{key}", item)
            if inner:
                _check_member_key(name, key)
            found += inner
        return found
    return []


def _check_member_key(attribute, key):
    if not isinstance(key, str):
        raise TypeError(f"the dict in attribute {attribute!r} holds a module or tensor under the key "
                        f"{key!r}; keys of dicts of modules must be strings (as in torch.nn.ModuleDict), "
                        f"e.g. {str(key)!r}")
    if "." in key or not key:
        raise ValueError(f"the dict in attribute {attribute!r} holds a module or tensor under the key "
                         f"{key!r}; a key must be non-empty and contain no '.' (names are dotted paths), "
                         f"e.g. {key.replace('.', '_') or 'a name'!r}")


def _substitute(value, moved):
    """``value`` with every tensor in ``moved`` (by id) replaced: lists and dicts in place,
    tuples rebuilt; the same object when nothing in it moved."""
    if isinstance(value, Tensor):
        return moved.get(id(value), value)
    if isinstance(value, list):
        value[:] = [_substitute(item, moved) for item in value]
    elif isinstance(value, dict):
        for key, item in value.items():
            value[key] = _substitute(item, moved)
    elif isinstance(value, tuple):
        items = [_substitute(item, moved) for item in value]
        if any(new is not old for new, old in zip(items, value)):
            return type(value)(items) if type(value) is tuple else type(value)(*items)
    return value


def _moved(t, target):
    """A copy of ``t`` on backend ``target``: a leaf with t's requires_grad and t's ``.grad`` moved."""
    new = t.to(target).detach()
    if t.requires_grad:
        new.requires_grad_()
        if t.grad is not None:
            new.grad = t.grad.to(target).detach()
    return new


def reset_grads(tensors, set_to_none=True):
    """``zero_grad`` for modules and optimizers: ``.grad`` to None, or zeroed in place (as
    torch, a gradient that records a graph is detached first, keeping its array)."""
    for p in tensors:
        g = p.grad
        if g is None:
            continue
        if set_to_none:
            p.grad = None
            continue
        if not isinstance(g, Tensor):
            raise TypeError(f"a parameter's .grad is a {type(g).__name__}, not a Tensor; assign "
                            "p.grad = None (or a tensor of p's shape and dtype)")
        if g._node is not None:
            g = p.grad = g.detach()
        with no_grad():
            g.zero_()


# ------------------------------------------------------- loading a state

def _check_keys(own, state, strict):
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}; "
                       "the state was saved from a different model (load it into that model, rename "
                       "the keys, or pass strict=False to load only the matching ones); nothing was loaded")


def _converted_values(own, state):
    """{name: Tensor with the parameter's backend, dtype and shape, in fresh memory} for every
    key of ``state`` the model has; raises naming every bad key before anything is written."""
    values, problems = {}, []
    for name, p in own.items():
        if name in state:
            try:
                values[name] = _converted(name, state[name], p)
            except (ShapeError, DTypeError) as exc:
                problems.append(exc)
    if problems:
        kind = ShapeError if any(isinstance(e, ShapeError) for e in problems) else DTypeError
        raise kind("load_state_dict: " + "; ".join(str(e) for e in problems) + "; nothing was loaded")
    _check_tied(own, values)
    return values


def _converted(name, value, p):
    """``value`` as a fresh tensor of p's backend, dtype and shape (see load_state_dict)."""
    if isinstance(value, (str, bytes, dict, Module)) or value is None:
        raise DTypeError(f"{name!r} is a {type(value).__name__}, not a tensor or array (pass the tensors "
                         "of a state_dict(), e.g. as cr.load returns them)")
    if "complex" in str(getattr(value, "dtype", "")):
        raise DTypeError(f"{name!r} holds complex values; a {p.dtype} parameter would lose their "
                         "imaginary part (load value.real explicitly if that is meant)")
    try:
        with no_grad():
            src = value.to(p.backend).detach() if isinstance(value, Tensor) else tensor(value, backend=p.backend)
        src_dtype = src.dtype
    except Exception as exc:
        raise DTypeError(f"{name!r} cannot be converted to a {p.dtype} tensor ({type(exc).__name__}: "
                         f"{exc})") from None
    if src.shape != p.shape:
        raise ShapeError(f"{name!r} has shape {src.shape} in the state but {p.shape} in the model (the "
                         "state is from a model of other sizes: build the model with those)")
    b = p._backend
    with warnings.catch_warnings():              # an overflow is checked and named below
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = b.copy(b.astype(src._data, p.dtype))  # a copy: the state may alias a parameter
    out = make(raw, b)
    if src_dtype != p.dtype and src_dtype != "bool":   # integers too: 70000 is inf in float16
        if bool(ops.any(ops.isfinite(src) & ~ops.isfinite(out))):
            raise DTypeError(f"{name!r} holds values beyond the range of {p.dtype} (they would become "
                             f"inf); load it into a {src_dtype if src_dtype.is_floating else 'float32'} model or rescale it")
    return out


def _check_tied(own, values):
    """Two names of one tensor (tied weights) must not be given different values."""
    first = {}
    for name, value in values.items():
        other = first.setdefault(id(own[name]), name)
        if other != name and not _same_values(value, values[other], ops):
            raise ValueError(f"load_state_dict: {other!r} and {name!r} are one tensor in the model "
                             "(tied weights) but the state gives them different values; nothing was loaded")


def _same_values(a, b, ops):
    both_nan = ops.isnan(a) & ops.isnan(b)
    return bool(ops.all((a == b) | both_nan))


def _initialize(init, shape, fan_in, fan_out, dtype, backend):
    """An initializer by name (``cr.init``) or the torch-like default U(+-1/sqrt(fan_in))."""
    if init is None:
        bound = 1 / math.sqrt(fan_in)
        return random.uniform(shape, -bound, bound, dtype=dtype, backend=backend)
    if isinstance(init, str):
        init = init_module.create(init)
    return init(shape, fan_in=fan_in, fan_out=fan_out, dtype=dtype, backend=backend)


class Linear(Module):
    """``y = x @ weight + bias`` with weight of shape (in_features, out_features): Y = XW."""

    def __init__(self, in_features, out_features, bias=True, init=None, dtype=None, backend=None):
        in_features = F._int("Linear", "in_features", in_features, 1)   # the fan-in: at least one
        out_features = F._int("Linear", "out_features", out_features, 0)
        F._flag("Linear", "bias", bias)
        self.in_features, self.out_features = in_features, out_features
        self.weight = _initialize(init, (in_features, out_features), in_features, out_features,
                                  dtype, backend).requires_grad_()
        self.bias = (_initialize(None, (out_features,), in_features, out_features, dtype, backend)
                     .requires_grad_() if bias else None)

    def forward(self, x):
        shape = tuple(F.shape_of(F._as_tensor(x, "Linear")))   # arrays and lists too, as linear
        if shape[-1:] != (self.in_features,):
            raise ShapeError(f"Linear({self.in_features}, {self.out_features}) got input of shape "
                             f"{shape}; its last axis must be {self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Modules (or functions) applied in order."""

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not callable(layer):
                unpack = "; pass the layers themselves: Sequential(*layers)" if isinstance(
                    layer, (list, tuple)) else ""
                raise ArgumentError(f"Sequential: layer {i} must be a module or a function, got "
                                    f"{type(layer).__name__}{unpack}")
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

    def __init__(self, *args, **kwargs):
        if args or kwargs:   # torch's ReLU(inplace=True), GELU('tanh'): the function takes options
            given = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
            fix = ("chainrule never writes in place: drop inplace=" if set(kwargs) == {"inplace"} else
                   f"for options use the function as a layer: lambda x: cr.nn.{self.fn.__name__}(x, ...)")
            raise ArgumentError(f"{type(self).__name__} takes no arguments, got ({given}); {fix}")

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
        F._check_probability("Dropout", p)
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, training=self.training)


class LayerNorm(Module):
    """layer_norm over the last axis with a learned scale (ones) and shift (zeros)."""

    def __init__(self, features, eps=1e-5, dtype=None, backend=None):
        if isinstance(features, (list, tuple)):   # torch's normalized_shape
            raise ArgumentError(f"LayerNorm: features must be an int (the size of the last axis, the "
                                f"one normalized), got {features!r}")
        features = F._int("LayerNorm", "features", features, 0)
        F._check_number("LayerNorm", "eps", eps, low=0)
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
        if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
            raise ArgumentError(f"MLP needs a list of at least an input and an output size, got {sizes!r}")
        for i, n in enumerate(sizes):   # each but the last is a layer's fan-in: at least one
            F._int("MLP", f"sizes[{i}]", n, 0 if i == len(sizes) - 1 else 1)
        if not isinstance(activation, str) or activation not in _ACTIVATIONS:
            raise ArgumentError(f"MLP: unknown activation {activation!r}; use one of {sorted(_ACTIVATIONS)}")
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(n_in, n_out, init=init, dtype=dtype, backend=backend))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATIONS[activation]())
        super().__init__(*layers)
        self.sizes = list(sizes)


# ------------------------------------------------- convolution, pooling, normalization, lookup

class _ConvNd(Module):
    """weight (out, in/groups, *kernel) and bias (out,) drawn from U(+-1/sqrt(fan_in)), fan_in =
    in/groups * prod(kernel), torch's default; ``init`` (a ``cr.init`` name or initializer)
    draws the weight instead, with torch's fans (fan_out = out * prod(kernel)):
    the weight's layout is torch's, not the (in, out) that ``cr.init.fans`` reads off a shape."""
    nd, fn = None, None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, init=None, dtype=None, backend=None):
        name, nd = type(self).__name__, self.nd
        # checked here, not at the first call: in_channels is the fan-in, it must be >= 1
        in_channels = F._int(name, "in_channels", in_channels, 1)
        out_channels = F._int(name, "out_channels", out_channels, 0)
        groups = F._int(name, "groups", groups, 1)
        if in_channels % groups or out_channels % groups:
            raise ArgumentError(f"{name}: groups={groups} must divide in_channels "
                                f"{in_channels} and out_channels {out_channels}")
        kernel = F._ints(name, "kernel_size", kernel_size, nd, 1)
        steps = F._ints(name, "stride", stride, nd, 1), F._ints(name, "dilation", dilation, nd, 1)
        F._padding(name, padding, kernel, *steps)
        F._flag(name, "bias", bias)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        fan_in = in_channels // groups * math.prod(kernel)
        fan_out = out_channels * math.prod(kernel)   # torch's: the weight's axis 0 times the kernel
        shape = (out_channels, in_channels // groups) + kernel
        self.weight = _initialize(init, shape, fan_in, fan_out, dtype, backend).requires_grad_()
        self.bias = (_initialize(None, (out_channels,), fan_in, out_channels, dtype, backend)
                     .requires_grad_() if bias else None)

    def forward(self, x):
        return type(self).fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                             self.groups)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class Conv1d(_ConvNd):
    """``conv1d`` over (N, C, L) with a learned weight (out, in/groups, k) and bias."""
    nd, fn = 1, staticmethod(F.conv1d)


class Conv2d(_ConvNd):
    """``conv2d`` over (N, C, H, W) with a learned weight (out, in/groups, kh, kw) and bias.

    >>> import chainrule as cr
    >>> cr.nn.Conv2d(3, 8, 3, padding=1)(cr.ones((2, 3, 5, 5))).shape
    (2, 8, 5, 5)
    """
    nd, fn = 2, staticmethod(F.conv2d)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        F._pool_window("MaxPool2d", 2, kernel_size, stride, padding, dilation)
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)


class AvgPool2d(Module):
    """``avg_pool2d`` as a layer; the arguments in torch's order (a fourth positional one is
    ceil_mode, as in torch, not count_include_pad)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        F._pool_window("AvgPool2d", 2, kernel_size, stride, padding, 1)
        F._flag("AvgPool2d", "count_include_pad", count_include_pad)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override
        F._check_ceil_mode("AvgPool2d", ceil_mode)
        F._check_divisor("AvgPool2d", divisor_override)

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _BatchNorm(Module):
    """batch_norm over channel axis 1 with a learned scale (ones) and shift (zeros) and running
    statistics (``running_mean`` zeros, ``running_var`` ones, in state_dict as torch's buffers):
    training normalizes with the batch's statistics and updates them; eval uses them."""
    ranks = ()
    _buffers = ("running_mean", "running_var")

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=None, backend=None):
        name = type(self).__name__
        num_features = F._int(name, "num_features", num_features, 0)
        F._check_number(name, "eps", eps, low=0)
        F._check_momentum(name, momentum)
        F._flag(name, "affine", affine)
        F._flag(name, "track_running_stats", track_running_stats)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        shape = (num_features,)
        self.weight = ones(shape, dtype=dtype, backend=backend).requires_grad_() if affine else None
        self.bias = zeros(shape, dtype=dtype, backend=backend).requires_grad_() if affine else None
        self.running_mean = zeros(shape, dtype=dtype, backend=backend) if track_running_stats else None
        self.running_var = ones(shape, dtype=dtype, backend=backend) if track_running_stats else None

    def forward(self, x):
        x = F._tensor_argument(x, type(self).__name__)   # arrays and lists, as batch_norm
        if x.ndim not in self.ranks:
            raise ShapeError(f"{type(self).__name__} expects input of rank {' or '.join(map(str, self.ranks))} "
                             f"(N, C, ...), got shape {x.shape}")
        # without running statistics, eval mode normalizes with the batch's own, as torch
        training = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L)."""
    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W)."""
    ranks = (4,)


class Embedding(Module):
    """A table ``weight`` (num_embeddings, embedding_dim) drawn from N(0, 1), as torch; called
    with integer indices it returns their rows (the row ``padding_idx``, if given, starts at
    zero and gets no gradient)."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=None, backend=None):
        num_embeddings = F._int("Embedding", "num_embeddings", num_embeddings, 0)
        embedding_dim = F._int("Embedding", "embedding_dim", embedding_dim, 0)
        if padding_idx is not None:   # checked as embedding checks it, before the table is drawn
            padding_idx = F._padding_idx("Embedding", padding_idx, num_embeddings)
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        weight = random.normal((num_embeddings, embedding_dim), dtype=dtype, backend=backend)
        if padding_idx is not None:
            with no_grad():
                weight[padding_idx] = 0.0
        self.weight = weight.requires_grad_()

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Softplus(_Activation):
    fn = staticmethod(F.softplus)

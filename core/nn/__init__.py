"""``cr.nn``: functions (activations, softmax family, losses, normalization) and modules."""
from ..ops.registry import exports as _exports
from . import functional
from .functional import tanh, logsumexp   # the same ops as cr.tanh, cr.logsumexp
from .modules import (Module, Linear, Sequential, MLP, ReLU, Tanh, Sigmoid, GELU, Dropout,
                      LayerNorm, Conv1d, Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d,
                      Embedding, Softplus)

globals().update(_exports("nn"))   # every op registered in nn/functional.py: cr.nn.<name>

__all__ = sorted(set(_exports("nn")) | {
    "tanh", "logsumexp",
    "Module", "Linear", "Sequential", "MLP", "ReLU", "Tanh", "Sigmoid", "GELU", "Dropout", "LayerNorm",
    "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Embedding", "Softplus",
})

"""``cr.nn``: functions (activations, softmax family, losses, normalization) and modules."""
from .functional import (linear, relu, leaky_relu, gelu, sigmoid, tanh, softmax, log_softmax, logsumexp,
                         cross_entropy, mse_loss, layer_norm, dropout)
from .modules import (Module, Linear, Sequential, MLP, ReLU, Tanh, Sigmoid, GELU, Dropout,
                      LayerNorm)

__all__ = sorted([
    "linear", "relu", "leaky_relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax", "logsumexp",
    "cross_entropy", "mse_loss", "layer_norm", "dropout",
    "Module", "Linear", "Sequential", "MLP", "ReLU", "Tanh", "Sigmoid", "GELU", "Dropout", "LayerNorm",
])

"""``cr.backends``: the built-in backend plugins (numpy, torch, cupy) and the registry view."""
from chainrule.backend import names, available, canonical_name, KERNELS, BackendSpec

__all__ = ["BackendSpec", "KERNELS", "available", "canonical_name", "names"]

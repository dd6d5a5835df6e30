"""chainrule-extras: an example plugin package (see plugin.py; installed, chainrule finds it)."""
__version__ = "0.1.0"

"""The built-in backend plugins (numpy, torch, cupy), registered through entry points like any
third-party backend.  Choosing and listing backends is ``chainrule.backends``."""

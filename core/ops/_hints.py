"""Hints for habits from torch and JAX: a keyword chainrule spells differently gets its name.

Python's own message for ``cr.sum(x, dim=0)`` names a closure (``_reducer.<locals>.reduce()
got an unexpected keyword argument 'dim'``) and not the fix.  ``hinted`` turns such a
TypeError into an ``ArgumentError`` naming the op, the keyword and chainrule's spelling; it
runs only once a call has already failed, so a call that works pays nothing.

>>> import chainrule as cr
>>> total = hinting(cr.sum, "sum")
>>> total(cr.ones((2, 3)), dim=0)
Traceback (most recent call last):
chainrule.errors.ArgumentError: cr.sum got dim=0, torch's spelling; chainrule follows NumPy and the Array API: write axis=0
"""
import functools

from ..errors import ArgumentError

# torch's keyword -> chainrule's (NumPy's / the Array API's), or how to do without it
RENAMED = {
    "dim": "axis",
    "keepdim": "keepdims",
    "dims": "axes",
    "unbiased": "correction (unbiased=True is correction=1)",
    "device": "backend ('numpy', 'torch', 'torch:cuda', ...)",
    "target": "labels",
    "dim0": "axes=(dim0, dim1)",
    "dim1": "axes=(dim0, dim1)",
}
WITHOUT = {
    "out": "chainrule ops return a new tensor and have no out=; assign the result (y = cr.add(a, b))",
    "input": "pass the tensor positionally (cr.sum(x), not cr.sum(input=x))",
}


def keyword_hint(op_name, exc, params):
    """The hint for ``exc`` (a TypeError of a call of ``op_name`` with keywords ``params``),
    or None when it is not about a keyword with a known other spelling."""
    text = str(exc)
    for key, value in params.items():
        if f"'{key}'" not in text:      # the error is about something else
            continue
        if key in RENAMED:
            fix = RENAMED[key]
            spelled = f"{fix}={value!r}" if fix.isidentifier() else fix
            return (f"cr.{op_name} got {key}={value!r}, torch's spelling; chainrule follows "
                    f"NumPy and the Array API: write {spelled}")
        if key in WITHOUT:
            return f"cr.{op_name} got {key}=: {WITHOUT[key]}"
    return None


def hinted(op_name, exc, params):
    """The exception to raise for ``exc``: an ArgumentError with the hint (caused by ``exc``),
    or ``exc`` itself when there is no hint.  Use as ``except TypeError as e: raise hinted(...)``."""
    if not params:
        return exc
    hint = keyword_hint(op_name, exc, params)
    if hint is None:
        return exc
    error = ArgumentError(hint)
    error.__cause__ = exc
    return error


def hinting(front, op_name=None):
    """``front`` (a public function taking keywords), its torch-habit TypeErrors hinted."""
    name = op_name or front.__name__

    @functools.wraps(front)
    def call(*args, **params):
        try:
            return front(*args, **params)
        except TypeError as exc:
            raise hinted(name, exc, params)
    return call

"""``cr.schedules``: learning-rate schedules, plain callables of the step.

``create(name, **hyperparameters)`` returns a ``Schedule``; ``schedule(step)``
is the learning rate at that step (steps count from 0, the first
``opt.step()``).  An optimizer takes a schedule as ``lr=`` and follows it.
Schedules compose with ``join``: warmup + cosine is a linear ramp joined to a
cosine decay at the end of warmup.

>>> import chainrule as cr
>>> s = cr.schedules.create("warmup_cosine", peak_lr=3e-4, warmup=2000, total=100000, min_lr=3e-5)
>>> [f"{s(t):.2e}" for t in (0, 2000, 100000)]
['0.00e+00', '3.00e-04', '3.00e-05']
"""
import bisect
import numbers

from . import plugins
from .errors import ArgumentError, HyperparameterError


class Schedule:
    """A callable ``step -> float`` that remembers how it was made (``spec``, JSON-able)."""

    def __init__(self, fn, spec):
        self.fn, self.spec = fn, spec

    def __call__(self, step):
        if not (type(step) is int and step >= 0):
            _check_step(step)
        return float(self.fn(step))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec.items() if k != "name")
        return f"Schedule({self.spec.get('name')!r}, {args})"


def _check_step(step):
    """A step counts from 0: a real number >= 0 (not NaN, not a bool)."""
    if isinstance(step, bool) or not isinstance(step, numbers.Real):
        raise ArgumentError(f"a schedule takes the step number (an int >= 0), got "
                            f"{type(step).__name__} {step!r}")
    if not step >= 0:
        raise HyperparameterError(f"a schedule's step counts from 0 (the first opt.step()), got "
                                  f"{step!r}; pass a step >= 0")


def join(schedules, boundaries):
    """``schedules[i]`` from ``boundaries[i-1]`` on, counting its steps from that boundary.

    >>> import chainrule as cr
    >>> up = cr.schedules.create("linear", lr=1.0, start_factor=0.0, end_factor=1.0, total_iters=10)
    >>> s = join([up, cr.schedules.create("constant", lr=1.0)], [10])
    >>> s(5), s(10), s(50)
    (0.5, 1.0, 1.0)
    """
    schedules, boundaries = list(schedules), [int(b) for b in boundaries]
    if len(boundaries) != len(schedules) - 1 or boundaries != sorted(boundaries):
        raise HyperparameterError(f"join needs len(schedules) - 1 increasing boundaries, got "
                                  f"{len(schedules)} schedules and boundaries {boundaries}")
    starts = [0] + boundaries

    def joined(step):
        i = bisect.bisect_right(boundaries, step)
        return schedules[i](step - starts[i])

    return Schedule(joined, {"name": "join", "schedules": [getattr(s, "spec", repr(s)) for s in schedules],
                             "boundaries": boundaries})


plugins.require_factories("schedules", "schedule(step) -> float")


def names():
    """Every schedule name (built-ins and installed plugins), sorted."""
    return sorted(plugins.collect("schedules"))


def create(name, **hyperparameters):
    """The schedule ``name`` with these hyperparameters (see ``names()``)."""
    fn = plugins.build("schedules", name, **hyperparameters)
    if isinstance(fn, Schedule):
        fn.spec = {"name": name, **hyperparameters}
        return fn
    return Schedule(fn, {"name": name, **hyperparameters})


__all__ = ["Schedule", "create", "join", "names"]

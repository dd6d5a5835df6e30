"""Hook specifications: the plugin author's manual.

A chainrule plugin is a module (or object) named by an entry point in the group
``chainrule``::

    [project.entry-points.chainrule]
    my_plugin = "my_package.chainrule_plugin"

whose functions are marked with ``chainrule.hookimpl`` and named after the hooks
below.  chainrule imports plugins lazily, one distribution at a time, the first
time something needs them (a backend, an op name, an optimizer...).  A plugin
that fails to import, raises from a hook, or returns something invalid is
reported by a warning naming its distribution and by ``python -m chainrule
doctor``; everything else keeps working.  Every hook is called once per plugin
and every answer is used (none is ``firstresult``).  Built-in backends,
optimizers, initializers and schedules are plugins of exactly this kind.
"""
import pluggy

hookspec = pluggy.HookspecMarker("chainrule")
hookimpl = pluggy.HookimplMarker("chainrule")


# ------------------------------------------------------------------ backends

@hookspec
def chainrule_backends():
    """Return the backends this plugin provides: a list of ``chainrule.BackendSpec``.

    Called the first time any backend is needed (creating a tensor, listing
    backends).  Do not import your array library here: ``BackendSpec.load``
    does that on first use, and ``BackendSpec.unavailable`` explains, cheaply,
    why the backend cannot run on this machine.  A name another plugin already
    provides is reported as a conflict and the first provider is kept.
    """


# ----------------------------------------------------------------------- ops

@hookspec
def chainrule_ops(register):
    """Register ops by calling ``register(name, forward, vjp=..., jvp=...)``.

    ``register`` is ``chainrule.ops.register`` (same arguments) with the
    plugin recorded as the provider.  Called once, the first time an op name is
    looked up that the built-ins lack, or when ops are listed.  Return nothing.
    Reusing a built-in name without ``replace=True`` is an error naming both
    providers; the plugin's other ops still register.
    """


# ---------------------------------------------------------------- optimizers

@hookspec
def chainrule_optimizers():
    """Return ``{name: algorithm}`` for the optimizers this plugin provides.

    ``algorithm`` is a ``chainrule.optim.Algorithm``: ``defaults`` (a dict of
    hyperparameters), ``validate(hparams)`` raising ``HyperparameterError``,
    ``init(param, hparams) -> state`` and ``update(grad, state, param, hparams)
    -> (step, state)``.  Called the first time an optimizer name is looked up or
    listed.  ``update`` must not write into ``param`` or ``grad``; it gets its
    own copy of the state (set ``in_place = False`` when it never writes into
    the state's arrays, to skip copying them), so a failing step changes nothing.
    """


# -------------------------------------------------------------- initializers

@hookspec
def chainrule_initializers():
    """Return ``{name: factory}``; ``factory(**options)`` returns
    ``init(shape, fan_in=None, fan_out=None, dtype=None, backend=None) -> Tensor``.

    Called the first time an initializer name is looked up or listed.
    """


# ----------------------------------------------------------------- schedules

@hookspec
def chainrule_schedules():
    """Return ``{name: factory}``; ``factory(**hyperparameters)`` returns a callable
    ``schedule(step) -> float`` (the learning rate at that step).

    Called the first time a schedule name is looked up or listed.
    """

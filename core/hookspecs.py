"""Hook specifications: the plugin author's manual.

A chainrule plugin is a module (or object) named by entry points in the group
``chainrule``, one per kind of thing it provides, named ``"<kind>.<name>"``::

    [project.entry-points.chainrule]
    "optimizers.lion" = "chainrule_lion.plugin"
    "schedules.lion" = "chainrule_lion.plugin"

whose functions are marked with ``chainrule.hookimpl`` and named after the hooks
below.  The kinds are ``backends``, ``ops``, ``optimizers``, ``initializers`` and
``schedules``; ``<name>`` is the plugin's name (what ``cr.plugins.list()`` shows and
``CHAINRULE_PLUGINS_BLOCK`` takes), the same for all its entry points.

The kind is how chainrule loads lazily without importing anything to find out:
the first time a kind is needed (a tensor needs a backend, ``cr.optim.create``
an optimizer...) it imports the plugins that declare that kind, one distribution
at a time, and no others.  An entry point without a kind prefix (``lion =
"chainrule_lion.plugin"``) is imported at the first use of any kind, and all its
hooks are called.  A hook whose kind no entry point declares is not called, and a
declared kind whose hook is missing is reported: both are packaging mistakes.

A plugin that fails to import (any exception, ``sys.exit()`` and
``KeyboardInterrupt`` included), raises from a hook, or returns something invalid
is reported by a warning naming its distribution and the exception, and by
``python -m chainrule doctor``; everything else keeps working (an invalid name is
dropped, the plugin's other names are kept).  Every hook is called once per plugin
and every answer is used (none is ``firstresult``); a name another plugin provided
first keeps its first provider (the built-ins come first), unless the user calls
``cr.plugins.allow_replace(plugin, name)``: a plugin cannot ask for that itself.
Built-in backends, optimizers, initializers and schedules are plugins of exactly
this kind.
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

    ``register`` takes the arguments of ``chainrule.ops.register`` and returns
    nothing: each op is registered when the hook returns, with this plugin as its
    provider, and is then ``cr.<name>`` (and ``cr.ops.get(name).fn``); inside your
    rules, call another of your ops as ``cr.<name>``.  Called once, the first time
    an op name is looked up that the built-ins lack, or when ops are listed.
    Return nothing.  A name already registered (a built-in, another plugin's, the
    user's) is refused with a warning naming this plugin, and the earlier op stays
    (``replace=True`` here changes nothing); the plugin's other ops still register.
    Only the user replaces it with yours: ``cr.plugins.allow_replace("<plugin>", name)``.
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

"""``cr.plugins``: finding and loading plugins, and listing them (``cr.plugins.list()``).

Plugins load per kind.  An entry point's name says which kind it provides,
``"<kind>.<name>"`` (``"backends.numpy"``, ``"optimizers.lion"``), so the first
``cr.tensor()`` imports the backend plugins and no optimizer plugin.  A plugin that
provides several kinds has one entry point per kind, each naming the same module
under the same name.  An entry point without a kind prefix is imported at the first
use of any kind.  ``cr.plugins.list()`` loads every kind.

Each entry point is loaded inside its own ``try`` (pluggy's own
``load_setuptools_entrypoints`` lets the first broken plugin's exception through): a
failure is recorded (for ``doctor``), warned about with the distribution's name, and
loading goes on.  Plugin code (its import, its hooks) is run under ``except
BaseException``: a plugin's ``sys.exit()`` or ``KeyboardInterrupt`` is its failure, not
the process's.

A name already taken keeps its first provider.  The user, and only the user, lets a
plugin replace one: ``allow_replace(plugin, *names)``.

This module sits low in the core: it knows the hooks, not what they return.  The
modules that own a kind check (and, for ops, register) what plugins provide, through
``add_validator``.
"""
import os
import warnings

from ._state import loading_lock   # one lock for plugins and backends (see _state)
from .errors import HyperparameterError, PluginError, RegistryError, UnknownNameError

GROUP = "chainrule"
KINDS = {  # kind -> hook name
    "backends": "chainrule_backends",
    "ops": "chainrule_ops",
    "optimizers": "chainrule_optimizers",
    "initializers": "chainrule_initializers",
    "schedules": "chainrule_schedules",
}


class PluginInfo:
    """One plugin as ``cr.plugins.list()`` shows it."""

    __slots__ = ("name", "distribution", "version", "kinds", "provides", "errors", "blocked")

    def __init__(self, name, distribution, version, blocked=False):
        self.name = name                  # the entry point's name without its kind prefix
        self.distribution = distribution  # the pip distribution that ships it
        self.version = version
        self.kinds = []                   # the kinds it answered, e.g. ["backends"]
        self.provides = {}                # kind -> [names]
        self.errors = []                  # what went wrong, one message each
        self.blocked = blocked

    @property
    def error(self):
        """Why it failed (its messages joined), or None."""
        return "; ".join(self.errors) or None

    @property
    def kind(self):
        return ", ".join(k for k in KINDS if k in self.kinds) or ("failed" if self.error else "none")

    def __repr__(self):
        state = " blocked" if self.blocked else f" error={self.error!r}" if self.error else ""
        return (f"<plugin {self.name} from {self.distribution} {self.version}: "
                f"{self.provides}{state}>")


class OpRequest:
    """One ``register(name, forward, vjp, jvp, **options)`` call of a plugin's ``chainrule_ops``
    hook.  The op registry performs it (its validator for "ops"), with ``plugin`` as provider."""

    __slots__ = ("plugin", "name", "forward", "vjp", "jvp", "options", "replace")

    def __init__(self, plugin, name, forward, vjp, jvp, options):
        self.plugin, self.name, self.forward = plugin, name, forward
        self.vjp, self.jvp, self.options = vjp, jvp, options
        self.replace = False   # True only when the user allowed it (allow_replace), never the plugin

    def __repr__(self):
        return f"<op request {self.name!r} from plugin {self.plugin!r}>"


class PluginWarning(UserWarning):
    """A plugin failed to load or registered something invalid; the engine went on without it."""


class _Plugin:
    """A plugin before and after loading: its entry point, the kinds it declares (None: every
    kind) and its state: waiting, loading (its module is being imported), loaded or failed."""

    __slots__ = ("info", "entry_point", "kinds", "state")

    def __init__(self, info, entry_point, kinds, state="waiting"):
        self.info, self.entry_point, self.kinds, self.state = info, entry_point, kinds, state

    def serves(self, kind):
        return self.kinds is None or kind is None or kind in self.kinds


_pm = None
_plugins = {}     # plugin name -> _Plugin, in rank order: built-ins, then by distribution and name
_collected = {}   # kind -> {name: object}, filled in rank order (the first provider wins)
_complete = set()  # the kinds whose every plugin has answered
_asked = {}       # kind -> names of the plugins whose hook answered (each is asked once)
_providers = {}   # (kind, name) -> plugin name
_VALIDATORS = {}  # kind -> fn(name, obj), set by the module that owns the kind
_allowed = set()  # (kind, plugin name, name): replacements the user allowed (allow_replace)
_refused = {}     # (kind, plugin name, name) -> (object, message): names kept from their first provider
_quiet = set()    # (kind, plugin name, name): refusals allow_replace is about to undo (not warned)


def split_entry_point_name(entry_point_name):
    """``"optimizers.lion"`` -> ``("optimizers", "lion")``.  A name without a kind prefix gives
    ``(None, name)``: that plugin is imported at the first use of any kind."""
    kind, dot, name = entry_point_name.partition(".")
    if dot and kind in KINDS and name:
        return kind, name
    return None, entry_point_name


def _report(info, message):
    info.errors.append(message)
    warnings.warn(f"chainrule plugin {info.name!r} from distribution {info.distribution!r} "
                  f"{info.version}: {message}", PluginWarning, stacklevel=3)


def _manager():
    """The process-wide ``pluggy.PluginManager("chainrule")``, entry points found, none imported."""
    global _pm
    if _pm is not None:
        return _pm
    with loading_lock:
        if _pm is None:
            import pluggy
            from . import hookspecs
            pm = pluggy.PluginManager(GROUP)
            pm.add_hookspecs(hookspecs)
            _discover(pm)
            _pm = pm
    return _pm


def manager():
    """The process-wide ``pluggy.PluginManager("chainrule")``, every plugin loaded."""
    with loading_lock:
        _load(None)
    return _pm


def _blocked_names():
    raw = os.environ.get("CHAINRULE_PLUGINS_BLOCK", "")
    return {n.strip() for n in raw.split(",") if n.strip()}


def _discover(pm):
    """Read the entry points (importing nothing) into ``_plugins``, in rank order."""
    from importlib.metadata import entry_points
    blocked = _blocked_names()
    builtin_only = os.environ.get("CHAINRULE_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0")
    eps = entry_points(group=GROUP)
    about = {}   # id(distribution) -> (name, version), read once: each read parses METADATA
    for ep in eps:
        if id(ep.dist) not in about:
            metadata = ep.dist.metadata
            about[id(ep.dist)] = metadata["Name"], metadata["Version"]
    eps = sorted(eps, key=lambda ep: (about[id(ep.dist)][0] != "chainrule", about[id(ep.dist)], ep.name))
    known = set()
    for ep in eps:
        kind, name = split_entry_point_name(ep.name)
        dist, version = about[id(ep.dist)]
        known |= {name, dist}
        if builtin_only and dist != "chainrule":
            continue
        if name in blocked or dist in blocked:
            if name not in _plugins:
                _plugins[name] = _Plugin(PluginInfo(name, dist, version, blocked=True), ep, None, "blocked")
                pm.set_blocked(name)
            continue
        _add_entry_point(ep, kind, name, dist, version)
    unknown = blocked - known
    if unknown:
        warnings.warn(f"CHAINRULE_PLUGINS_BLOCK names {', '.join(sorted(unknown))}, which no installed "
                      f"plugin or distribution is called; names it knows: {', '.join(sorted(known))}",
                      PluginWarning, stacklevel=4)


def _add_entry_point(ep, kind, name, dist, version):
    """One more entry point: a new plugin, or one more kind of a plugin already seen."""
    kinds = None if kind is None else {kind}
    plugin = _plugins.get(name)
    if plugin is None:
        _plugins[name] = _Plugin(PluginInfo(name, dist, version), ep, kinds)
        return
    if plugin.info.distribution == dist and plugin.entry_point.value == ep.value:
        plugin.kinds = None if plugin.kinds is None or kinds is None else plugin.kinds | kinds
        return
    info = PluginInfo(ep.name, dist, version)   # listed under its entry point's whole name
    _plugins[f"{dist}:{ep.name}"] = _Plugin(info, ep, kinds, "failed")
    if plugin.info.distribution != dist:
        _report(info, f"plugin name {name!r} (entry point {ep.name!r}) is already used by "
                      f"distribution {plugin.info.distribution!r}; rename the entry point")
    else:
        _report(info, f"entry points {plugin.entry_point.name!r} and {ep.name!r} name different "
                      f"objects ({plugin.entry_point.value!r}, {ep.value!r}) under one plugin name; "
                      "one plugin is one module: rename one of them")


def _load(kind):
    """Import the plugins that declare ``kind`` (and those that declare none) in rank order;
    ``None`` imports every plugin.  Holds the loading lock (taken by the caller)."""
    pm = _manager()
    for plugin in [*_plugins.values()]:
        if plugin.state == "waiting" and plugin.serves(kind):
            plugin.state = "loading"   # its import may ask for plugins: it is not asked again
            try:
                obj = plugin.entry_point.load()
            except BaseException as exc:   # SystemExit, KeyboardInterrupt too: the plugin's failure
                plugin.state = "failed"
                _report(plugin.info, f"failed to import {plugin.entry_point.value!r}: "
                                     f"{type(exc).__name__}: {exc}")
                continue
            error = _register(pm, obj, plugin.info.name)
            plugin.state = "failed" if error else "loaded"
            if error:
                _report(plugin.info, error)
            else:
                _check_declared_kinds(pm, obj, plugin)


def _register(pm, obj, name):
    """Register with pluggy (which checks the hooks against their specifications);
    returns why it was refused, or None."""
    try:
        pm.register(obj, name=name)
        pm.check_pending()
    except BaseException as exc:
        if pm.is_registered(obj):
            pm.unregister(obj)
        return f"invalid plugin: {type(exc).__name__}: {exc}"
    return None


def _check_declared_kinds(pm, obj, plugin):
    """A hook of an undeclared kind is never called, and a declared kind needs its hook:
    either is a packaging mistake, reported with the line that fixes it."""
    if plugin.kinds is None:
        return
    implemented = {caller.name for caller in pm.get_hookcallers(obj) or ()}
    ep, name = plugin.entry_point, plugin.info.name
    for kind, hook in KINDS.items():
        if hook in implemented and kind not in plugin.kinds:
            _report(plugin.info, f"{ep.value!r} implements {hook} but no entry point declares the kind "
                                 f"{kind!r}, so it is not called: add \"{kind}.{name}\" = "
                                 f"\"{ep.value}\" to [project.entry-points.chainrule]")
        elif kind in plugin.kinds and hook not in implemented:
            _report(plugin.info, f"its entry point \"{kind}.{name}\" declares {kind}, but "
                                 f"{ep.value!r} has no {hook} hook")


def register(plugin, name=None, distribution="<runtime>", version=""):
    """Register a plugin object at run time (a notebook, a test), as an entry point would
    (every kind it implements).  An invalid plugin raises ``PluginError`` and changes nothing."""
    pm = _manager()
    name = name or getattr(plugin, "__name__", None) or repr(plugin)
    with loading_lock:
        if name in _plugins:
            raise PluginError(f"a plugin named {name!r} is already registered (from distribution "
                              f"{_plugins[name].info.distribution!r}); pick another name")
        info = PluginInfo(name, distribution, version, blocked=name in _blocked_names())
        if not info.blocked:
            error = _register(pm, plugin, name)
            if error:
                raise PluginError(f"plugin {name!r} is {error}")
        _plugins[name] = _Plugin(info, None, None, "blocked" if info.blocked else "loaded")
        _complete.clear()   # the next collect of each kind asks it too
    return info


def unregister(name):
    """Remove a plugin registered with ``register`` and forget what it provided (ops it
    registered stay: the op registry has no removal)."""
    pm = _manager()
    with loading_lock:
        plugin = pm.get_plugin(name)
        if plugin is not None:
            pm.unregister(plugin)
        _plugins.pop(name, None)
        for key in [k for k in (*_refused, *_allowed) if k[1] == name]:
            _refused.pop(key, None)
            _allowed.discard(key)
        for kind, found in _collected.items():
            _asked.get(kind, set()).discard(name)
            for provided in [n for n in found if _providers.get((kind, n)) == name]:
                del found[provided], _providers[(kind, provided)]


def add_validator(kind, fn):
    """Let the module that owns a kind check each object a plugin provides: ``fn(name, obj)``
    raises to refuse it (the plugin's other names are kept).  The op registry's validator
    registers the op as it accepts it, so an op is accepted exactly when it is registered."""
    _VALIDATORS[kind] = fn


def collect(kind):
    """``{name: object}`` provided for a kind by every plugin, first provider first; the first
    call imports the plugins of that kind."""
    if kind in _complete:
        return _collected[kind]
    with loading_lock:
        if kind not in _complete:
            _load(kind)
            if any(p.state == "loading" and p.serves(kind) for p in _plugins.values()):
                return _peek(kind)   # a plugin's import asked, and it may provide this kind
            _gather(kind)
            _complete.add(kind)
    return _collected[kind]


def _gather(kind):
    """Ask every loaded plugin of ``kind`` not yet asked, in rank order."""
    found = _collected.setdefault(kind, {})
    asked = _asked.setdefault(kind, set())
    impls = {impl.plugin_name: impl for impl in getattr(_pm.hook, KINDS[kind]).get_hookimpls()}
    for name, plugin in [*_plugins.items()]:
        impl = impls.get(name)
        if impl is None or name in asked or plugin.state != "loaded" or not plugin.serves(kind):
            continue
        asked.add(name)
        _take(kind, impl, plugin.info, found)


def _take(kind, impl, info, found):
    """One plugin's answer for a kind: each name is checked on its own, a refused one is
    reported and the others are kept."""
    try:
        answer = _answer(kind, impl.function, info.name)
    except BaseException as exc:
        _report(info, f"{KINDS[kind]} failed: {type(exc).__name__}: {exc}")
        return
    if kind not in info.kinds:
        info.kinds.append(kind)
    for name, obj in answer:
        error = _offer(kind, info, name, obj, found)
        if error and (kind, info.name, name) not in _quiet:
            _report(info, error)


def _offer(kind, info, name, obj, found):
    """Check and keep one name a plugin provides; returns why it was refused, or None.
    A name already taken is refused (and remembered, for ``allow_replace``) unless the
    user allowed this plugin to replace it."""
    try:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{KINDS[kind]} returned an invalid name {name!r}")
        allowed = (kind, info.name, name) in _allowed
        if isinstance(obj, OpRequest):
            obj.replace = allowed
        check = _VALIDATORS.get(kind)
        if check is not None:
            check(name, obj)
    except BaseException as exc:
        message = f"{kind[:-1]} {name!r} not registered: {type(exc).__name__}: {exc}"
        if "already registered" in str(exc):    # taken: say how the user may choose this one
            message += f" (to use this plugin's instead, call {_allow_call(kind, info.name, name)})"
        if isinstance(name, str):
            _refused[(kind, info.name, name)] = obj, message
        return message
    if name in found and not allowed:
        message = (f"{kind[:-1]} {name!r} is already provided by {_providers[(kind, name)]!r}; the first "
                   f"one is kept (rename yours; to use this plugin's instead, call "
                   f"{_allow_call(kind, info.name, name)})")
        _refused[(kind, info.name, name)] = obj, message
        return message
    _keep(kind, info, name, obj, found)
    return None


def _keep(kind, info, name, obj, found):
    previous = _providers.get((kind, name))
    if previous is not None and previous in _plugins:    # replaced: it no longer provides it
        provided = _plugins[previous].info.provides.get(kind, [])
        if name in provided:
            provided.remove(name)
    found[name] = obj
    _providers[(kind, name)] = info.name
    info.provides.setdefault(kind, []).append(name)


def _allow_call(kind, plugin, name):
    extra = "" if kind == "ops" else f", kind={kind!r}"
    return f"cr.plugins.allow_replace({plugin!r}, {name!r}{extra})"


def allow_replace(plugin, *names, kind="ops"):
    """Let ``plugin`` replace what already has these names (a built-in op, another plugin's
    optimizer...): the user's explicit choice, which no plugin can make for itself.

    From this call on, ``cr.<name>`` (for ops) is the plugin's; the plugin's kind is loaded
    now.  Raises ``PluginError`` (nothing changed) when the plugin is unknown, failed,
    blocked, or provides no such name.

    >>> import chainrule as cr
    >>> cr.plugins.allow_replace("no_such_plugin", "exp")
    Traceback (most recent call last):
    ...
    chainrule.errors.PluginError: allow_replace: no plugin named 'no_such_plugin' is installed; plugins: ...
    """
    if kind not in KINDS:
        raise PluginError(f"allow_replace: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    _manager()
    with loading_lock:
        _check_replaceable(plugin, names)
        keys = [*dict.fromkeys((kind, plugin, name) for name in names)]
        _quiet.update(keys)
        try:
            collect(kind)                # its kind loaded: what it offers is known
            _check_provides(plugin, names, kind)
        except BaseException:
            for key in [k for k in keys if k in _refused]:   # refused after all: reported as usual
                _report(_plugins[plugin].info, _refused[key][1])
            raise
        finally:
            _quiet.difference_update(keys)
        _allowed.update(keys)
        for key in [k for k in keys if k in _refused]:   # offered again, now allowed
            _replace(plugin, key)
    return None


def _replace(plugin, key):
    kind, _, name = key
    info = _plugins[plugin].info
    obj, message = _refused.pop(key)
    error = _offer(kind, info, name, obj, _collected.setdefault(kind, {}))
    if error:
        _report(info, error)
        raise PluginError(f"allow_replace: plugin {plugin!r}: {error}")
    if message in info.errors:               # refused at loading: no longer a failure
        info.errors.remove(message)


def _check_replaceable(plugin, names):
    entry = _plugins.get(plugin)
    if entry is None:
        raise PluginError(f"allow_replace: no plugin named {plugin!r} is installed; plugins: "
                          f"{', '.join(_plugins)}")
    if entry.state in ("blocked", "failed"):
        raise PluginError(f"allow_replace: plugin {plugin!r} is {entry.state} "
                          f"({entry.info.error or 'CHAINRULE_PLUGINS_BLOCK'}); it replaces nothing")
    if not names or not all(isinstance(n, str) and n for n in names):
        raise PluginError(f"allow_replace({plugin!r}, ...): name the things it may replace, "
                          f"e.g. allow_replace({plugin!r}, 'exp'); got {names!r}")


def _check_provides(plugin, names, kind):
    entry = _plugins[plugin]
    if entry.state == "failed":
        raise PluginError(f"allow_replace: plugin {plugin!r} failed to load ({entry.info.error}); "
                          "it replaces nothing")
    offered = set(_plugins[plugin].info.provides.get(kind, ())) | \
        {n for (k, p, n) in _refused if (k, p) == (kind, plugin)}
    missing = [n for n in names if n not in offered]
    if missing:
        raise PluginError(f"allow_replace: plugin {plugin!r} provides no {kind[:-1]} named "
                          f"{', '.join(map(repr, missing))}; its {kind}: "
                          f"{', '.join(sorted(offered)) or 'none'}")


def _answer(kind, hook_function, plugin_name):
    """Call one plugin's hook; its answer as a list of (name, object)."""
    if kind == "ops":   # the plugin calls register(...) for each op: record the calls
        requests = []

        def register(name, forward, vjp=None, jvp=None, **options):
            requests.append((name, OpRequest(plugin_name, name, forward, vjp, jvp, options)))
        hook_function(register=register)
        return requests
    result = hook_function()
    if kind == "backends":   # a list of BackendSpec, each naming itself
        return [(getattr(spec, "name", None), spec) for spec in (result or ())]
    if not isinstance(result, dict):
        raise TypeError(f"{KINDS[kind]} must return a dict {{name: object}}, got {type(result).__name__}")
    return [*result.items()]


def _peek(kind):
    """What the plugins loaded so far provide, recording and reporting nothing (the full
    collection after loading does that).  Ops register when collected: the ones so far."""
    if kind == "ops":
        return dict(_collected.get("ops", {}))
    found = {}
    check = _VALIDATORS.get(kind)
    impls = {impl.plugin_name: impl for impl in getattr(_pm.hook, KINDS[kind]).get_hookimpls()}
    for name, plugin in _plugins.items():
        impl = impls.get(name)
        if impl is None or plugin.state != "loaded" or not plugin.serves(kind):
            continue
        try:
            answer = _answer(kind, impl.function, name)
        except BaseException:
            continue
        for item, obj in answer:
            try:
                if check is not None:
                    check(item, obj)
            except BaseException:
                continue
            found.setdefault(item, obj)
    return found


def unknown_name(what, name, known):
    """The UnknownNameError for a name not in ``known``, suggesting the closest ones."""
    import difflib
    close = difflib.get_close_matches(str(name), [*known], n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(known))}"
    return UnknownNameError(f"no {what} named {name!r}; {hint}")


def lookup(kind, name):
    """The object a plugin registered as ``name`` for ``kind`` (an error naming the closest)."""
    found = collect(kind)
    if name not in found:
        raise unknown_name(kind[:-1], name, found)
    return found[name]


def require_factories(kind, returns):
    """Validate every object a plugin registers for ``kind`` as a factory returning ``returns``."""
    def validate(name, obj):
        if not callable(obj):
            raise RegistryError(f"{kind[:-1]} {name!r} must be a factory: a callable returning "
                                f"{returns}, got {type(obj).__name__}")
    add_validator(kind, validate)


def build(kind, name, **options):
    """Call the factory registered as ``name`` for ``kind``; a bad option is a HyperparameterError."""
    factory = lookup(kind, name)
    try:
        return factory(**options)
    except TypeError as exc:
        raise HyperparameterError(f"{kind[:-1]} {name!r}: {exc}") from None


def provider(kind, name):
    """Which plugin provides ``name`` of ``kind``."""
    collect(kind)
    return _providers.get((kind, name))


def infos():
    """Every plugin seen: loaded, failed or blocked (every kind collected first)."""
    for kind in KINDS:
        collect(kind)
    return [plugin.info for plugin in _plugins.values()]


def list():  # noqa: A001  (the SPEC's name: cr.plugins.list(); this module never calls list())
    """Every plugin: name, kind, distribution, version, what it provides (and errors)."""
    return infos()

"""``cr.plugins``: finding and loading plugins, and listing them (``cr.plugins.list()``).

Entry points of group ``chainrule`` are loaded one by one, guarded.

pluggy's own ``load_setuptools_entrypoints`` lets the first broken plugin's
exception through; here each entry point is loaded inside its own ``try``, a
failure is recorded (for ``doctor``) and warned about with the distribution's
name, and loading goes on.  Nothing is imported until a kind of plugin is first
needed, so ``import chainrule`` stays light.
"""
import dataclasses
import os
import warnings

from ._state import loading_lock   # one lock for plugins and backends (see _state)

GROUP = "chainrule"
KINDS = {  # kind -> hook name
    "backends": "chainrule_backends",
    "ops": "chainrule_ops",
    "optimizers": "chainrule_optimizers",
    "initializers": "chainrule_initializers",
    "schedules": "chainrule_schedules",
}


@dataclasses.dataclass
class PluginInfo:
    name: str                 # entry point (or registration) name
    distribution: str         # the pip distribution that ships it
    version: str
    kinds: list = dataclasses.field(default_factory=list)       # e.g. ["backends"]
    provides: dict = dataclasses.field(default_factory=dict)    # kind -> [names]
    error: str = None         # why it failed, if it did
    blocked: bool = False

    @property
    def kind(self):
        return ", ".join(self.kinds) or ("failed" if self.error else "none")


class PluginWarning(UserWarning):
    """A plugin failed to load or registered something invalid; the engine went on without it."""


_pm = None
_pm_loading = None   # the manager while its entry points import (seen only by that thread)
_infos = {}       # plugin name -> PluginInfo
_collected = {}   # kind -> {name: object}
_providers = {}   # (kind, name) -> plugin name


def _report(info, message):
    info.error = message if info.error is None else f"{info.error}; {message}"
    warnings.warn(f"chainrule plugin {info.name!r} from distribution {info.distribution!r} "
                  f"{info.version}: {message}", PluginWarning, stacklevel=3)


def manager():
    """The process-wide ``pluggy.PluginManager("chainrule")``, plugins loaded."""
    global _pm, _pm_loading
    if _pm is not None:
        return _pm
    with loading_lock:
        if _pm is None:
            if _pm_loading is not None:   # a plugin's import asked: the plugins loaded so far
                return _pm_loading
            import pluggy
            from . import hookspecs
            pm = _pm_loading = pluggy.PluginManager(GROUP)
            try:
                pm.add_hookspecs(hookspecs)
                _load_entry_points(pm)
            finally:
                _pm_loading = None
            _pm = pm
    return _pm


def _blocked_names():
    raw = os.environ.get("CHAINRULE_PLUGINS_BLOCK", "")
    return {n.strip() for n in raw.split(",") if n.strip()}


def _load_entry_points(pm):
    from importlib.metadata import entry_points
    blocked = _blocked_names()
    builtin_only = os.environ.get("CHAINRULE_DISABLE_PLUGIN_AUTOLOAD", "") not in ("", "0")
    eps = sorted(entry_points(group=GROUP), key=lambda ep: (ep.dist.name != "chainrule", ep.dist.name, ep.name))
    for ep in eps:
        dist, version = ep.dist.name, ep.dist.version
        if builtin_only and dist != "chainrule":
            continue
        info = PluginInfo(ep.name, dist, version)
        if ep.name in blocked or dist in blocked:
            info.blocked = True
            _infos[ep.name] = info
            pm.set_blocked(ep.name)
            continue
        if ep.name in _infos:
            _report(info, f"entry point name {ep.name!r} is already used by distribution "
                          f"{_infos[ep.name].distribution!r}; rename the entry point")
            _infos[f"{dist}:{ep.name}"] = info
            continue
        _infos[ep.name] = info
        try:
            plugin = ep.load()
        except Exception as exc:
            _report(info, f"failed to import {ep.value!r}: {type(exc).__name__}: {exc}")
            continue
        _register_checked(pm, plugin, info)


def _register_checked(pm, plugin, info):
    try:
        pm.register(plugin, name=info.name)
        pm.check_pending()
    except Exception as exc:
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        _report(info, f"invalid plugin: {type(exc).__name__}: {exc}")
        return False
    return True


def register(plugin, name=None, distribution="<runtime>", version=""):
    """Register a plugin object at run time (a notebook, a test), as an entry point would."""
    pm = manager()
    name = name or getattr(plugin, "__name__", None) or repr(plugin)
    with loading_lock:
        info = PluginInfo(name, distribution, version)
        _infos[name] = info
        if not _register_checked(pm, plugin, info):
            raise_from = info.error
            from .errors import PluginError
            raise PluginError(f"plugin {name!r} is invalid: {raise_from}")
        _collected.clear()
    return info


def unregister(name):
    """Remove a plugin registered with ``register`` (and forget what it provided)."""
    pm = manager()
    with loading_lock:
        plugin = pm.get_plugin(name)
        if plugin is not None:
            pm.unregister(plugin)
        _infos.pop(name, None)
        _collected.clear()
        for key in [k for k, v in _providers.items() if v == name]:
            del _providers[key]


def _validate(kind, result, info):
    """Check one plugin's answer for a kind; return a {name: obj} dict."""
    if kind == "backends":
        from .backends import BackendSpec
        items = [*(result or ())]
        bad = [x for x in items if not isinstance(x, BackendSpec)]
        if bad:
            raise TypeError(f"chainrule_backends must return BackendSpec objects, got {bad[0]!r}")
        return {spec.name: spec for spec in items}
    if not isinstance(result, dict):
        raise TypeError(f"{KINDS[kind]} must return a dict {{name: object}}, got {type(result).__name__}")
    for name, obj in result.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{KINDS[kind]} returned an invalid name {name!r}")
        check = _VALIDATORS.get(kind)
        if check is not None:
            check(name, obj)
    return dict(result)


_VALIDATORS = {}


def add_validator(kind, fn):
    """Let the module that owns a kind check each registered object (``fn(name, obj)`` raises)."""
    _VALIDATORS[kind] = fn


def collect(kind):
    """``{name: object}`` provided for a kind by every plugin, first provider first."""
    found = _collected.get(kind)
    if found is not None:
        return found
    with loading_lock:
        found = _collected.get(kind)
        if found is None:
            pm = manager()
            if _pm_loading is not None:   # a plugin's import asked: answer, remember nothing
                return _peek(kind, pm)
            found = _collected[kind] = _gather(kind, pm)
    return found


def _gather(kind, pm):
    found = {}
    hook = getattr(pm.hook, KINDS[kind])
    # get_hookimpls() lists implementations in registration order (pluggy *calls* them
    # last-first); built-ins were registered first, so the first provider of a name wins
    for impl in hook.get_hookimpls():
        info = _infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "?", "?")
        try:
            if kind == "ops":
                _call_ops_hook(impl, info)
                continue
            provided = _validate(kind, impl.function(), info)
        except Exception as exc:
            _report(info, f"{KINDS[kind]} failed: {type(exc).__name__}: {exc}")
            continue
        for name, obj in provided.items():
            if name in found:
                _report(info, f"{kind[:-1]} {name!r} is already provided by "
                              f"{_providers[(kind, name)]!r}; the first one is kept (rename yours)")
                continue
            found[name] = obj
            _providers[(kind, name)] = info.name
            info.provides.setdefault(kind, []).append(name)
        if kind not in info.kinds:
            info.kinds.append(kind)
    return found


def _peek(kind, pm):
    """What the plugins registered so far provide, recording and reporting nothing (the full
    collection after loading does that).  Ops register themselves when collected: none here."""
    found = {}
    if kind == "ops":
        return found
    for impl in getattr(pm.hook, KINDS[kind]).get_hookimpls():
        try:
            provided = _validate(kind, impl.function(), None)
        except Exception:
            continue
        for name, obj in provided.items():
            found.setdefault(name, obj)
    return found


def _call_ops_hook(impl, info):
    from .ops import registry

    def register(name, forward, vjp=None, jvp=None, **kwargs):
        try:
            op = registry.register(name, forward, vjp=vjp, jvp=jvp, provider=info.name, **kwargs)
        except Exception as exc:
            _report(info, f"op {name!r} not registered: {exc}")
            return None
        info.provides.setdefault("ops", []).append(name)
        return op

    impl.function(register=register)
    if "ops" not in info.kinds:
        info.kinds.append("ops")


def unknown_name(what, name, known):
    """The UnknownNameError for a name not in ``known``, suggesting the closest ones."""
    import difflib
    from .errors import UnknownNameError
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
            from .errors import RegistryError
            raise RegistryError(f"{kind[:-1]} {name!r} must be a factory: a callable returning "
                                f"{returns}, got {type(obj).__name__}")
    add_validator(kind, validate)


def build(kind, name, **options):
    """Call the factory registered as ``name`` for ``kind``; a bad option is a HyperparameterError."""
    factory = lookup(kind, name)
    try:
        return factory(**options)
    except TypeError as exc:
        from .errors import HyperparameterError
        raise HyperparameterError(f"{kind[:-1]} {name!r}: {exc}") from None


def provider(kind, name):
    """Which plugin provides ``name`` of ``kind``."""
    collect(kind)
    return _providers.get((kind, name))


def infos():
    """Every plugin seen: loaded, failed or blocked (each kind collected first)."""
    for kind in KINDS:
        collect(kind)
    return [*_infos.values()]


def list():  # noqa: A001  (the SPEC's name: cr.plugins.list(); this module never calls list())
    """Every plugin: name, kind, distribution, version, what it provides (and errors)."""
    return infos()

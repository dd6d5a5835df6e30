"""``cr.plugins``: the built-in optimizer, initializer and schedule plugins, and the plugin list."""
from chainrule.pluginmanager import register, unregister, PluginInfo, PluginWarning, infos


def list():  # noqa: A001  (the SPEC's name: cr.plugins.list())
    """Every plugin: name, kind, distribution, version, what it provides (and errors)."""
    return infos()


__all__ = ["PluginInfo", "PluginWarning", "list", "register", "unregister"]

"""The built-in optimizer, initializer and schedule plugins, registered through entry points like
any third-party plugin.  Their registries are ``chainrule.optim``, ``chainrule.init`` and
``chainrule.schedules``; the plugin list is ``chainrule.plugins``."""

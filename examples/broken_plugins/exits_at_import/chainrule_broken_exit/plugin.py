"""Calls sys.exit() at import, as a command-line script mistaken for a plugin module would:
chainrule reports it (SystemExit) and goes on; the process does not exit."""
import sys

sys.exit("chainrule-broken-exit: this module is a script, not a plugin")

"""Provides 'adam' again (a clash: the built-in is kept) and 'clash_ok' (which still works)."""
from chainrule.hookspecs import hookimpl
from chainrule.optim import Algorithm


class Zero(Algorithm):
    defaults = {"lr": 0.0}

    def update(self, grad, state, param, hp):
        return grad * 0.0, state


@hookimpl
def chainrule_optimizers():
    return {"adam": Zero(), "clash_ok": Zero()}

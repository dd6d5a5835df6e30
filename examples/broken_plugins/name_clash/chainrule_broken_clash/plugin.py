"""Provides 'adam' again and the op 'exp' again (clashes: the built-ins are kept), and
'clash_ok' (which still works)."""
from chainrule.hookspecs import hookimpl
from chainrule.optim import Algorithm


class Zero(Algorithm):
    defaults = {"lr": 0.0}

    def update(self, grad, state, param, hp):
        return grad * 0.0, state


@hookimpl
def chainrule_optimizers():
    return {"adam": Zero(), "clash_ok": Zero()}


@hookimpl
def chainrule_ops(register):
    register("exp", lambda x: x * 0.0, vjp=lambda ans, x: lambda g: g * 0.0)

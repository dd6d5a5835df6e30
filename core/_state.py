"""Per-thread engine state: grad mode, the backend stack, the default float dtype.

Thread-local like torch's grad mode, so a data-loader thread cannot switch the
backend or turn off recording under the training thread's feet.  The backend stack
is a context variable: per thread (a new thread starts with none) and also per
asyncio task, whose ``with cr.use_backend(...)`` blocks may interleave in one thread.
"""
import contextvars
import itertools
import threading

_backend_stack = contextvars.ContextVar("chainrule_backend_stack", default=())


class _State(threading.local):
    grad_enabled = True       # eager (level-0) recording, switched off by no_grad
    # (when, enabled) of the innermost no_grad/enable_grad block; a reverse-mode transform
    # obeys it if the block was entered after the transform began (inside the function)
    grad_mode = (0, True)
    default_dtype = "float32"  # set on the class: process-wide
    replaying = 0              # > 0 while cr.checkpoint runs a function again, in this thread
    vmap_randomness = ()       # the randomness= of each cr.vmap running in this thread, innermost last

    @property
    def backend_stack(self):
        """(Backend, ...) pushed by use_backend; [-1] wins.  Per thread and per context."""
        return _backend_stack.get()

    @backend_stack.setter
    def backend_stack(self, stack):
        _backend_stack.set(stack)


state = _State()

# Functions returning a context manager that brings back a piece of per-thread state as it is
# when called (cr.amp adds its autocast state): cr.checkpoint captures them with the forward
# and enters them to recompute it, without importing the modules that own the state.
replay_captures = []

# One re-entrant lock for all loading (plugins in chainrule.plugins, backends in chainrule.backends): two
# threads that create their first tensor together get one manager and one Backend per name,
# and a plugin whose import creates a tensor re-enters in its own thread.  One lock, so no
# lock-order deadlock; here, so that `import chainrule` need not import the plugin manager.
loading_lock = threading.RLock()


# Moments at which no_grad blocks and reverse-mode transforms begin, in one order.
moments = itertools.count(1)


class no_grad:
    """Stop recording gradients, as a context or decorator: eager graphs (``requires_grad``
    tensors), and the reverse-mode transforms (``cr.grad``, ``cr.vjp``, ``jacrev``...) whose
    function entered the block, as in torch.func: inside ``f`` of ``cr.grad(f)``, a value
    computed under ``no_grad`` is a constant.  A transform called inside the block still
    differentiates (``torch.func.grad`` inside ``torch.no_grad``), and forward mode
    (``cr.jvp``, ``jacfwd``) is never stopped, as torch's.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    _enable = False

    def __enter__(self):
        self._prev = state.grad_enabled, state.grad_mode
        state.grad_enabled = self._enable
        state.grad_mode = (next(moments), self._enable)

    def __exit__(self, *exc):
        state.grad_enabled, state.grad_mode = self._prev

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Turn eager recording back on inside a ``no_grad`` region."""

    _enable = True


def is_grad_enabled():
    return state.grad_enabled

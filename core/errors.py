"""One exception family per kind of failure; each message names the fault and the fix."""


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class ShapeError(ChainruleError, ValueError):
    """Operand shapes do not fit the operation (broadcasting, matmul, reshape...)."""


class DTypeError(ChainruleError, TypeError):
    """A dtype is not allowed here (integer tensor asked for gradients, float index...)."""


class BackendError(ChainruleError, RuntimeError):
    """A backend is unknown, unavailable here, or two backends were mixed in one op."""


class GraphError(ChainruleError, RuntimeError):
    """The backward graph cannot be walked: freed, non-scalar root without grad, no path."""


class InplaceError(GraphError):
    """A tensor saved for backward was modified in place after it was saved."""


class GradcheckError(ChainruleError, AssertionError):
    """An analytic derivative disagrees with finite differences (or with the other mode)."""

    def __init__(self, message, *, op=None, argnum=None, mode=None, max_error=None):
        super().__init__(message)
        self.op, self.argnum, self.mode, self.max_error = op, argnum, mode, max_error


class RegistryError(ChainruleError, ValueError):
    """An op, optimizer, initializer or schedule registration is invalid or clashes."""


class UnknownNameError(ChainruleError, KeyError):
    """A name (op, backend, optimizer, schedule, initializer) is not registered."""

    def __str__(self):  # KeyError would repr() the message and add quotes
        return str(self.args[0]) if self.args else ""


class HyperparameterError(ChainruleError, ValueError):
    """A hyperparameter is out of range; the message shows its name and value."""


class PluginError(ChainruleError, RuntimeError):
    """A plugin failed to load or registered something invalid."""


class ArgumentError(ChainruleError, TypeError, ValueError):
    """An argument of the wrong kind or an unknown keyword (often a torch or JAX habit, such as
    ``dim=`` for ``axis=``); the message names chainrule's spelling.  Both a TypeError and a
    ValueError, so code written for NumPy's or torch's choice of the two catches it."""


class CheckpointError(ChainruleError, ValueError):
    """A checkpoint cannot be written or read back as asked: a read-only destination, a
    corrupt or foreign file, missing metadata, an unknown format version, a saved random
    state that does not fit.  The message names the file (or the state) and the fix."""


class IndexingError(ChainruleError, IndexError):
    """An index is out of range for its axis, or a 0-d tensor was indexed (an IndexError, as
    NumPy's and torch's: ``for``-loops and ``except IndexError`` keep working)."""


class MissingKernelError(ChainruleError, NotImplementedError):
    """A backend lacks a kernel an op needs (a partial backend still runs every other op);
    the message names the backend, the kernel and its signature in ``KERNELS``."""


class LinAlgError(ChainruleError, ValueError):
    """A linear-algebra failure, as NumPy's ``numpy.linalg.LinAlgError`` (a ValueError): a
    singular matrix where an inverse is needed, a matrix that is not positive definite, a
    complex spectrum in ``eig``, or a derivative asked for where it does not exist."""


class LinAlgWarning(UserWarning):
    """A derivative taken where it exists only along some perturbations (pinv, lstsq of a
    rank-deficient matrix: those that keep the rank)."""


# A backend kernel's exception, read off NumPy's and torch's words: the one place that knows
# them (an op's failure and an in-place write's are told apart the same way)
_SHAPE_WORDS = ("broadcast", "shape", "size", "dimension", "axis", "1D", "2D", "dim", "numel")
_DTYPE_WORDS = ("dtype", "type", "cast", "bool", "Bool", "not implemented for")


def kernel_failure(exc):
    """IndexingError, ShapeError or DTypeError: what a kernel's ``exc`` says went wrong (None
    when its words say none of these)."""
    text = str(exc)
    if isinstance(exc, OverflowError):   # "Python integer 300 out of bounds for int8"
        return DTypeError
    if isinstance(exc, IndexError) or "out of bounds" in text or "out of range" in text:
        return IndexingError
    if any(word in text for word in _SHAPE_WORDS):
        return ShapeError
    if any(word in text for word in _DTYPE_WORDS):
        return DTypeError
    return None

"""``cr.viz.draw``: the graph that backward walks, as Graphviz DOT.

Each recorded op is a box (its name, output shape and dtype, and its value when it is one
number); each input that requires grad is an ellipse (its name when given, shape, dtype
and, after ``backward()``, its ``.grad``); constants are plain text.  Edges run from inputs
to the op that used them: the forward pass, read left to right; backward runs them right
to left.  The DOT is built with the ``graphviz`` package when it is installed (plain text
otherwise); turning it into a picture needs Graphviz's ``dot`` program
(``apt-get install graphviz``, ``brew install graphviz``).

>>> import chainrule as cr
>>> a, b = cr.tensor(2.0, requires_grad=True), cr.tensor(3.0, requires_grad=True)
>>> print(cr.viz.draw(a * b, names={a: "a", b: "b"}, show_grads=False))   # doctest: +ELLIPSIS
digraph chainrule {
...
}
"""
import math
import os
import shutil
import subprocess
import warnings

from .autodiff import LeafNode, Node
from .errors import ArgumentError, GraphError
from .tensor import Tensor, make

FORMATS = ("svg", "png", "pdf", "dot")


def _describe(shape, dtype):
    return f"{tuple(shape)} {dtype}"


def _number(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _values(t):
    """A tensor's numbers when there are few of them, otherwise its norm."""
    if t.size == 1:
        return _number(float(t.item()) if t.dtype.is_floating else t.item())
    if t.size <= 4:
        return "[" + ", ".join(_number(float(v)) for v in t.numpy().ravel()) + "]"
    norm = float((t.astype("float64") ** 2).sum() ** 0.5) if t.dtype.is_floating else None
    return f"|.| = {_number(norm)}" if norm is not None else "..."


def _name_lookup(names):
    """{id(tensor): name} from {tensor: name} or {name: tensor}."""
    if names is None:
        return {}
    if not isinstance(names, dict):
        raise ArgumentError("names must be a dict {tensor: 'name'} (or {'name': tensor}), "
                            f"got {type(names).__name__}")
    lookup = {}
    for key, value in names.items():
        if isinstance(key, Tensor) and isinstance(value, str):
            lookup[id(key)] = value
        elif isinstance(key, str) and isinstance(value, Tensor):
            lookup[id(value)] = key
        else:
            raise ArgumentError(f"names maps tensors to strings; got {key!r}: {value!r}")
    return lookup


class _Graph:
    """The nodes and edges to draw, in creation order (inputs before the ops that use them)."""

    def __init__(self, root, names, show_grads):
        self.names, self.show_grads = names, show_grads
        self.nodes, self.edges = [], []      # (id, label, attributes), (tail, head, attributes)
        self._constants = 0
        self._walk(root)

    def _walk(self, root):
        start = root._node
        found, stack = {}, [start]
        while stack:
            node = stack.pop()
            if id(node) in found:
                continue
            found[id(node)] = node
            stack.extend(p for p in node.parents if p is not None)
        for node in sorted(found.values(), key=lambda n: n.seq):
            if isinstance(node, LeafNode):
                self._leaf(node, root)
            else:
                self._op(node, root)

    def _leaf(self, node, root):
        t = node.ref() if node.ref is not None else None
        if t is None:
            self.nodes.append((f"n{node.seq}", "input (freed)", {"shape": "ellipse"}))
            return
        lines = [self.names.get(id(t), "input"), _describe(t.shape, t.dtype)]
        if t.size == 1:
            lines.append(f"value {_values(t)}")
        if self.show_grads and t.grad is not None:
            lines.append(f"grad {_values(t.grad)}")
        attrs = {"shape": "ellipse"}
        if t is root:
            attrs["peripheries"] = "2"
        self.nodes.append((f"n{node.seq}", "\\n".join(lines), attrs))

    def _op(self, node, root):
        lines = [node.op.name]
        if node.args is None:   # backward(retain_graph=False) freed what the op saved
            lines.append(_describe(root.shape, root.dtype) if root._node is node
                         else "(freed by backward:\\nretain_graph=True keeps it)")
        else:
            backend = next(a._backend for a in node.args if isinstance(a, Tensor))
            params = ", ".join(f"{k}={v!r}" for k, v in (node.params or {}).items())
            if params and len(params) <= 40:
                lines.append(params)
            for out in node.ans if isinstance(node.ans, tuple) else (node.ans,):
                lines.append(_describe(backend.shape(out), backend.dtype(out)))
                if root._node is not node and 0 < math.prod(backend.shape(out)) <= 4:
                    lines.append(f"value {_values(make(out, backend))}")
        attrs = {"shape": "box"}
        if root._node is node:
            lines.insert(0, self.names.get(id(root), "output"))
            if root.size <= 4:
                lines.append(f"value {_values(root)}")
            attrs["peripheries"] = "2"
        me = f"n{node.seq}"
        self.nodes.append((me, "\\n".join(lines), attrs))
        args = node.args if node.args is not None else [None] * len(node.parents)
        for i, (arg, parent) in enumerate(zip(args, node.parents)):
            edge = {"label": str(i)} if len(node.parents) > 1 else {}
            if parent is not None:
                self.edges.append((f"n{parent.seq}", me, edge))
            elif arg is not None:
                self.edges.append((self._constant(arg), me, edge))

    def _constant(self, arg):
        self._constants += 1
        name = f"c{self._constants}"
        if isinstance(arg, Tensor):
            label = self.names.get(id(arg), "constant") + "\\n" + _describe(arg.shape, arg.dtype)
            if arg.size <= 4:
                label += f"\\n{_values(arg)}"
        else:
            label = _number(arg)
        self.nodes.append((name, label, {"shape": "plaintext"}))
        return name

    def dot(self):
        try:
            import graphviz   # lazy: only drawing needs it
        except ImportError:
            return self._plain_dot()
        g = graphviz.Digraph("chainrule", graph_attr={"rankdir": "LR"},
                             node_attr={"fontname": "Helvetica"}, edge_attr={"fontname": "Helvetica"})
        for name, label, attrs in self.nodes:
            g.node(name, label=label, **attrs)
        for tail, head, attrs in self.edges:
            g.edge(tail, head, **attrs)
        return g.source

    def _plain_dot(self):
        """The same DOT without the graphviz package."""
        quote = lambda s: '"' + s.replace('"', '\\"') + '"'
        attrs = lambda d: (" [" + " ".join(f"{k}={quote(v)}" for k, v in d.items()) + "]") if d else ""
        lines = ["digraph chainrule {", "\tgraph [rankdir=LR]", "\tnode [fontname=Helvetica]",
                 "\tedge [fontname=Helvetica]"]
        lines += [f"\t{name}{attrs({'label': label, **a})}" for name, label, a in self.nodes]
        lines += [f"\t{tail} -> {head}{attrs(a)}" for tail, head, a in self.edges]
        return "\n".join(lines) + "\n}\n"


def draw(tensor, path=None, format="svg", show_grads=True, names=None):
    """The Graphviz DOT source of the graph behind ``tensor`` (recorded ops back to the
    inputs with ``requires_grad``); ``names={a: "a"}`` labels tensors.

    With ``path``, also writes the picture there in ``format`` (svg, png, pdf; "dot" writes
    the DOT text) using Graphviz's ``dot`` program; without ``dot`` it writes the DOT text
    next to it (``path`` with suffix .dot) and warns how to render it.
    """
    if not isinstance(tensor, Tensor):
        raise ArgumentError(f"cr.viz.draw takes a chainrule Tensor, got {type(tensor).__name__}")
    if tensor._trace is not None:
        raise GraphError("cr.viz.draw draws eager graphs; call it outside cr.grad/cr.vmap/... "
                         "on a tensor computed from inputs with requires_grad=True")
    if not isinstance(tensor._node, (Node, LeafNode)):
        raise GraphError("this tensor has no graph to draw: no input of its computation had "
                         "requires_grad=True (or it ran under cr.no_grad())")
    if format not in FORMATS:
        raise ArgumentError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    source = _Graph(tensor, _name_lookup(names), show_grads).dot()
    if path is not None:
        _write(source, os.fspath(path), format)
    return source


def _write(source, path, format):
    base, suffix = os.path.splitext(path)
    suffix = suffix.lstrip(".")
    if suffix == "dot":
        format = "dot"
    elif suffix not in FORMATS:
        base, path = path, f"{path}.{format}"
    elif suffix != format:
        raise ArgumentError(f"path {path!r} ends in .{suffix} but format is {format!r}; "
                            f"pass format={suffix!r} or change the suffix")
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    dot = shutil.which("dot")
    if format == "dot" or dot is None:
        dot_path = base + ".dot"
        with open(dot_path, "w", encoding="utf-8") as f:
            f.write(source)
        if format != "dot":
            warnings.warn(f"Graphviz's `dot` program is not installed, so {dot_path} holds the DOT "
                          f"text; install it (apt-get install graphviz, or brew install graphviz) "
                          f"and render with: dot -T{format} {dot_path} -o {base}.{format}",
                          stacklevel=3)
        return dot_path
    done = subprocess.run([dot, f"-T{format}", "-o", path], input=source.encode("utf-8"),
                          capture_output=True)
    if done.returncode != 0:
        raise GraphError(f"dot could not render {path}: {done.stderr.decode(errors='replace')}")
    return path

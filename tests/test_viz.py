"""cr.viz.draw: the DOT it writes has the graph's nodes and edges (parsed back from the text),
their shapes and dtypes, and the leaves' gradients after backward (torch autograd the oracle);
the picture is rendered when Graphviz's dot program is installed, and a .dot file plus a
warning saying how to render it otherwise."""
import re
import shutil
import sys

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import viz

NODE = re.compile(r'^\s*(\w+) \[(.*)\]$')
EDGE = re.compile(r'^\s*(\w+) -> (\w+)(?: \[label="?(\d+)"?\])?$')
LABEL = re.compile(r'label=("(?:[^"\\]|\\.)*"|[^\s\]]+)')


def parse(dot):
    """{node id: [label lines]} and [(tail first line, head first line, argument index)]."""
    nodes, edges = {}, []
    for line in dot.splitlines():
        edge = EDGE.match(line)
        if edge:
            edges.append(edge.groups())
            continue
        node = NODE.match(line)
        if node and node.group(1) not in ("graph", "node", "edge"):
            label = LABEL.search(node.group(2)).group(1)
            if label.startswith('"'):
                label = label[1:-1].replace('\\"', '"')
            nodes[node.group(1)] = label.split("\\n")
    named = [(nodes[t][0], nodes[h][0], int(i) if i else None) for t, h, i in edges]
    return nodes, sorted(named, key=str)


def lesson_graph():
    a, b, c = (cr.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
    return a, b, c, (a * b + c) ** 2


def by_first_line(nodes):
    return {lines[0]: lines for lines in nodes.values()}


EXPECTED_EDGES = sorted([("a", "multiply", 0), ("b", "multiply", 1), ("multiply", "add", 0),
                         ("c", "add", 1), ("add", "L", 0), ("2", "L", 1)], key=str)


@pytest.fixture(params=["graphviz package", "plain text"])
def builder(request, monkeypatch):
    """Both ways of writing DOT: with the graphviz package, and without it."""
    if request.param == "plain text":
        monkeypatch.setitem(sys.modules, "graphviz", None)    # import graphviz -> ImportError
    return request.param


def test_the_lessons_graph_before_backward(builder):
    a, b, c, L = lesson_graph()
    nodes, edges = parse(viz.draw(L, names={a: "a", b: "b", c: "c", L: "L"}))
    assert edges == EXPECTED_EDGES
    labels = by_first_line(nodes)
    assert set(labels) == {"a", "b", "c", "multiply", "add", "L", "2"}
    assert labels["L"][:3] == ["L", "power", "() float32"] and labels["L"][-1] == "value 100"
    assert labels["multiply"] == ["multiply", "() float32", "value 6"]
    assert labels["add"] == ["add", "() float32", "value 10"]
    assert labels["a"] == ["a", "() float32", "value 2"]        # no grad before backward
    assert not any(line.startswith("grad") for lines in nodes.values() for line in lines)


def test_the_lessons_graph_shows_the_gradients_torch_computes(builder):
    a, b, c, L = lesson_graph()
    L.backward(retain_graph=True)
    ta, tb, tc = (torch.tensor(v, requires_grad=True) for v in (2.0, 3.0, 4.0))
    ((ta * tb + tc) ** 2).backward()
    dot = viz.draw(L, names={"a": a, "b": b, "c": c, "L": L})
    nodes, edges = parse(dot)
    assert edges == EXPECTED_EDGES
    labels = by_first_line(nodes)
    for name, t in (("a", ta), ("b", tb), ("c", tc)):
        assert labels[name][-1] == f"grad {float(t.grad):.4g}"     # 60, 40, 20
    assert "grad" not in viz.draw(L, show_grads=False)


def test_after_a_plain_backward_the_structure_and_the_gradients_remain():
    a, b, c, L = lesson_graph()
    L.backward()                                                   # frees what the ops saved
    nodes, edges = parse(viz.draw(L, names={a: "a", b: "b", c: "c", L: "L"}))
    assert edges == [e for e in EXPECTED_EDGES if e[0] != "2"]    # the constant was freed
    labels = by_first_line(nodes)
    assert labels["a"][-1] == "grad 60" and labels["c"][-1] == "grad 20"
    assert "retain_graph=True keeps it" in labels["add"][-1]
    assert labels["L"][:3] == ["L", "power", "() float32"]


def test_shapes_dtypes_parameters_and_constants_of_a_matrix_graph(builder):
    x = cr.tensor(np.arange(6.0).reshape(2, 3))                     # a constant input
    w = cr.tensor(np.ones((3, 4)), requires_grad=True)             # float64
    y = cr.nn.relu(x @ w).sum(axis=1)
    nodes, edges = parse(viz.draw(y, names={x: "x", w: "W"}))
    labels = by_first_line(nodes)
    assert labels["x"][:2] == ["x", "(2, 3) float64"] and labels["W"] == ["W", "(3, 4) float64"]
    assert labels["matmul"] == ["matmul", "(2, 4) float64"]
    assert labels["relu"] == ["relu", "(2, 4) float64"]
    assert labels["output"][:3] == ["output", "sum", "axis=(1,), keepdims=False"]   # as recorded
    assert labels["output"][3:] == ["(2,) float64", "value [12, 48]"]
    assert edges == sorted([("x", "matmul", 0), ("W", "matmul", 1), ("matmul", "relu", None),
                            ("relu", "output", None)], key=str)


def test_without_dot_it_writes_the_dot_file_and_says_how_to_render(tmp_path, monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    a, b, c, L = lesson_graph()
    with pytest.warns(UserWarning, match=r"apt-get install graphviz.*dot -Tsvg .*lesson\.dot -o "):
        source = viz.draw(L, path=tmp_path / "lesson.svg")
    assert (tmp_path / "lesson.dot").read_text() == source
    assert not (tmp_path / "lesson.svg").exists()
    viz.draw(L, path=tmp_path / "sub" / "only", format="dot")      # no warning: DOT was asked for
    assert (tmp_path / "sub" / "only.dot").read_text() == source


@pytest.mark.parametrize("format,magic", [("svg", b"<?xml"), ("png", b"\x89PNG")])
def test_with_dot_it_renders_the_picture(tmp_path, format, magic):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed (apt-get install graphviz renders "
                    "the picture); the DOT itself is tested above")
    a, b, c, L = lesson_graph()
    L.backward(retain_graph=True)
    viz.draw(L, path=tmp_path / "lesson", format=format, names={a: "a"})
    data = (tmp_path / f"lesson.{format}").read_bytes()
    assert data.startswith(magic)
    if format == "svg":
        assert "grad 60" in data.decode() and "multiply" in data.decode()


def test_bad_inputs_are_named():
    a, b, c, L = lesson_graph()
    with pytest.raises(cr.ArgumentError, match="takes a chainrule Tensor"):
        viz.draw(np.ones(2))
    with pytest.raises(cr.GraphError, match="requires_grad=True"):
        viz.draw(cr.ones(3) * 2)
    with pytest.raises(cr.ArgumentError, match="format must be one of"):
        viz.draw(L, format="jpeg")
    with pytest.raises(cr.ArgumentError, match="ends in .png but format is 'svg'"):
        viz.draw(L, path="graph.png")
    with pytest.raises(cr.ArgumentError, match="names maps tensors to strings"):
        viz.draw(L, names={a: 1})
    with pytest.raises(cr.GraphError, match="outside"):
        cr.grad(lambda x: viz.draw(x * x) and (x * x))(cr.tensor(1.0))


def test_a_leaf_alone_is_drawn():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    nodes, edges = parse(viz.draw(a, names={a: "a"}))
    assert list(nodes.values()) == [["a", "(2,) float32"]] and edges == []

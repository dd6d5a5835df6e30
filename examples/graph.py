"""The computational graph of L = (a*b + c)^2 at a=2, b=3, c=4 (the day lesson's worked
example, and exercise 10 of lesson 000), forward, backward by hand, and by chainrule.

    d = a * b    = 6       local derivatives: dd/da = b = 3, dd/db = a = 2
    e = d + c    = 10                         de/dd = 1,     de/dc = 1
    L = e ** 2   = 100                        dL/de = 2e = 20

    backward: dL/de = 20; dL/dd = 20 * 1 = 20; dL/dc = 20 * 1 = 20;
              dL/da = 20 * b = 60; dL/db = 20 * a = 40

chainrule's ``L.backward()`` gives (60, 40, 20); each local derivative is ``cr.grad`` of its
node alone; forward mode (one ``cr.jvp`` per input, three passes) gives the same numbers
that reverse mode gets in one (the day lesson's "why reverse mode").  The graph is drawn
with ``cr.viz.draw`` (DOT source always; SVG when Graphviz's ``dot`` program is installed).

Run: python examples/graph.py [--quick] [--out DIR]
"""
import argparse
import os

import chainrule as cr


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (same as full here)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the drawings (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def leaves(a=2.0, b=3.0, c=4.0):
    return tuple(cr.tensor(v, dtype="float64", requires_grad=True) for v in (a, b, c))


def forward(a, b, c):
    d = a * b
    e = d + c
    return d, e, e ** 2


def local_derivatives(a, b, c, d, e):
    """Each node's derivative with respect to its own inputs, from that node alone."""
    dd_da, dd_db = cr.grad(lambda a, b: a * b, argnums=(0, 1))(a, b)
    de_dd, de_dc = cr.grad(lambda d, c: d + c, argnums=(0, 1))(d, c)
    dL_de = cr.grad(lambda e: e ** 2)(e)
    return {name: float(v) for name, v in
            dict(dd_da=dd_da, dd_db=dd_db, de_dd=de_dd, de_dc=de_dc, dL_de=dL_de).items()}


def backward_by_hand(local):
    """The chain rule: upstream gradient times local derivative, node by node from the root."""
    dL_de = 1.0 * local["dL_de"]
    dL_dd, dL_dc = dL_de * local["de_dd"], dL_de * local["de_dc"]
    return {"dL_de": dL_de, "dL_dd": dL_dd, "dL_dc": dL_dc,
            "dL_da": dL_dd * local["dd_da"], "dL_db": dL_dd * local["dd_db"]}


def forward_mode(a, b, c):
    """One JVP per input: forward mode needs as many passes as there are inputs."""
    f = lambda a, b, c: (a * b + c) ** 2
    one, zero = cr.tensor(1.0, dtype="float64"), cr.tensor(0.0, dtype="float64")
    seeds = [(one, zero, zero), (zero, one, zero), (zero, zero, one)]
    return [float(cr.jvp(f, (a.detach(), b.detach(), c.detach()), s)[1]) for s in seeds]


def draw(tensor, path, names):
    """cr.viz.draw writes the DOT source (and the picture when Graphviz's dot is installed)."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = cr.viz.draw(tensor, path=path, format="svg", show_grads=True, names=names)
    for w in caught:
        print(f"  note: {w.message}")
    return source


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    a, b, c = leaves()
    d, e, L = forward(a, b, c)
    values = {"d": float(d), "e": float(e), "L": float(L)}
    print(f"forward:  d = a*b = {values['d']:g},  e = d + c = {values['e']:g},  L = e^2 = {values['L']:g}")
    local = local_derivatives(a, b, c, d, e)
    print("local derivatives: " + ", ".join(f"{k} = {v:g}" for k, v in local.items()))
    hand = backward_by_hand(local)
    print("backward by hand:  " + ", ".join(f"{k} = {v:g}" for k, v in hand.items()))
    L.backward(retain_graph=True)     # keep the nodes' values for the drawing
    auto = (float(a.grad), float(b.grad), float(c.grad))
    print(f"chainrule L.backward(): dL/da, dL/db, dL/dc = {auto}")
    fwd = forward_mode(a, b, c)
    print(f"forward mode, one cr.jvp per input (3 passes instead of 1): {fwd}")
    path = os.path.join(args.out, "graph_abc.svg")
    dot = draw(L, path, names={a: "a", b: "b", c: "c"})
    written = path if os.path.exists(path) else os.path.splitext(path)[0] + ".dot"
    print(f"graph drawn: DOT source of {len(dot.splitlines())} lines -> {written}")
    results = {"values": values, "local": local, "by_hand": hand, "chainrule": auto,
               "forward_mode": fwd, "dot": dot, "path": written}
    assert values == {"d": 6.0, "e": 10.0, "L": 100.0}
    assert auto == (hand["dL_da"], hand["dL_db"], hand["dL_dc"]) == (60.0, 40.0, 20.0)
    assert fwd == list(auto)
    return results


if __name__ == "__main__":
    main()

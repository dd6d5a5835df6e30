"""The chapter's scalar autograd engine (section 2.1, after Karpathy's micrograd),
written out, next to chainrule on the same graphs: the same gradients.

* ``Value`` is the lesson's class (+, *, sigmoid, backward by topological sort), with exercise
  12's extension (-, **, log, tanh, and / for convenience), each checked by central differences
  (the lesson's gradient_check idea, on scalars) and against ``cr.grad``.
* The graphs: L = (a*b + c)^2 (dL/da, dL/db, dL/dc = 60, 40, 20), the lesson's neuron
  (sigmoid(w x + b) - y)^2, and an expression using every op.
* The lesson's "train a single neuron on AND" loop, run in both engines from the same start:
  the same losses.  Its loss, sigmoid(pred - target) (a "rough BCE proxy"), always decreases
  as pred decreases, whatever the target, so it drives every prediction toward 0 and cannot
  learn AND; the example shows that, then trains with (pred - target)^2, which learns it.
* Exercise 13: a 2-4-1 tanh/sigmoid MLP trained on XOR with the Value engine, its final loss and
  weights reported, and the same MLP in chainrule from the same weights (same loss curve).

Run: python examples/value_engine.py [--quick] [--out DIR]
"""
import argparse
import math
import os
import random

import numpy as np

import chainrule as cr


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (fewer epochs)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


class Value:
    """A scalar value with automatic gradient tracking (the lesson's class)."""

    def __init__(self, data, _children=(), _op=''):
        self.data = float(data)
        self.grad = 0.0
        self._prev = set(_children)
        self._op = _op
        self._backward = lambda: None

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), '+')

        def _backward():
            self.grad += 1.0 * out.grad
            other.grad += 1.0 * out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), '*')

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def sigmoid(self):
        s = 1 / (1 + math.exp(-self.data))
        out = Value(s, (self,), 'sigmoid')

        def _backward():
            self.grad += s * (1 - s) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        """Topological sort + backward pass."""
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()

    def __repr__(self):
        return f"Value(data={self.data:.4f}, grad={self.grad:.4f})"
    __radd__ = __add__
    __rmul__ = __mul__

    # ---- exercise 12: -, **, log, tanh (and /, built from them)
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return other + (-self)

    def __pow__(self, k):
        assert isinstance(k, (int, float)), "only a constant exponent"
        out = Value(self.data ** k, (self,), f'**{k}')

        def _backward():
            self.grad += k * self.data ** (k - 1) * out.grad
        out._backward = _backward
        return out

    def __truediv__(self, other):
        return self * other ** -1

    def log(self):
        out = Value(math.log(self.data), (self,), 'log')

        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), 'tanh')

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out


# ----------------------------------------------------------------- one function, two engines

def sigmoid(v):
    return v.sigmoid() if isinstance(v, Value) else cr.nn.sigmoid(v)


def log(v):
    return v.log() if isinstance(v, Value) else cr.log(v)


def tanh(v):
    return v.tanh() if isinstance(v, Value) else cr.tanh(v)


GRAPHS = {   # name -> (function of scalars written once for both engines, point)
    "(a*b + c)^2": (lambda a, b, c: (a * b + c) ** 2, (2.0, 3.0, 4.0)),
    "(sigmoid(w*x + b) - y)^2": (lambda w, x, b, y: (sigmoid(w * x + b) - y) ** 2, (0.5, 2.0, 0.1, 1.0)),
    "every op": (lambda a, b, c: tanh(a * b - c) ** 2 + log(a + 3.0) * c - b / (c * c + 1.0) + sigmoid(-a),
                 (0.7, -1.2, 0.4)),
    "a - b": (lambda a, b: a - b, (1.5, 0.25)),
    "a ** 3": (lambda a: a ** 3, (1.3,)),
    "log(a)": (lambda a: log(a), (0.8,)),
    "tanh(a)": (lambda a: tanh(a), (0.6,)),
}


def value_gradients(f, point):
    leaves = [Value(x) for x in point]
    out = f(*leaves)
    out.backward()
    return out.data, [v.grad for v in leaves]


def chainrule_gradients(f, point):
    args = [cr.tensor(np.float64(x)) for x in point]
    value, grads = cr.value_and_grad(f, argnums=tuple(range(len(point))))(*args)
    return float(value), [float(g) for g in grads]


def central_differences(f, point, h=1e-6):
    grads = []
    for i in range(len(point)):
        up, down = list(point), list(point)
        up[i] += h
        down[i] -= h
        grads.append((f(*map(Value, up)).data - f(*map(Value, down)).data) / (2 * h))
    return grads


def compare_graphs():
    rows = {}
    for name, (f, point) in GRAPHS.items():
        v_out, v_grads = value_gradients(f, point)
        c_out, c_grads = chainrule_gradients(f, point)
        fd = central_differences(f, point)
        rows[name] = {"value": v_out, "value_grads": v_grads, "chainrule": c_out, "chainrule_grads": c_grads,
                      "finite_differences": fd}
        print(f"  {name:26s} Value {['%.6f' % g for g in v_grads]}  chainrule max diff "
              f"{max(abs(a - b) for a, b in zip(v_grads, c_grads)):.1e}  central diff max diff "
              f"{max(abs(a - b) for a, b in zip(v_grads, fd)):.1e}")
    return rows


# ----------------------------------------------------------------- the lesson's AND neuron

AND = [([0, 0], 0), ([0, 1], 0), ([1, 0], 0), ([1, 1], 1)]


def lesson_proxy_loss(pred, target):
    return (pred + (-target)).sigmoid() if isinstance(pred, Value) else cr.nn.sigmoid(pred - target)


def squared_loss(pred, target):
    return (pred - target) ** 2


def train_neuron_value(loss_fn, epochs):
    random.seed(42)
    w1, w2, b = Value(random.gauss(0, 1)), Value(random.gauss(0, 1)), Value(0.0)
    start, losses = (w1.data, w2.data), []
    for _ in range(epochs):
        total = Value(0.0)
        for (x1, x2), target in AND:
            total = total + loss_fn((w1 * x1 + w2 * x2 + b).sigmoid(), target)
        for p in (w1, w2, b):
            p.grad = 0.0
        total.backward()
        for p in (w1, w2, b):
            p.data -= 0.1 * p.grad
        losses.append(total.data)
    preds = [(w1 * x1 + w2 * x2 + b).sigmoid().data for (x1, x2), _ in AND]
    return start, losses, preds


def train_neuron_chainrule(loss_fn, epochs, start):
    X = cr.tensor(np.array([x for x, _ in AND], dtype=np.float64))
    T = cr.tensor(np.array([t for _, t in AND], dtype=np.float64))
    w, b = cr.tensor(np.array(start)), cr.tensor(np.float64(0.0))
    total = lambda w, b: cr.sum(loss_fn(cr.nn.sigmoid(X @ w + b), T))
    step = cr.value_and_grad(total, argnums=(0, 1))
    losses = []
    for _ in range(epochs):
        loss, (gw, gb) = step(w, b)
        w, b = w - 0.1 * gw, b - 0.1 * gb
        losses.append(float(loss))
    return losses, cr.nn.sigmoid(X @ w + b).numpy().tolist()


# ----------------------------------------------------------------- exercise 13: XOR with the Value engine

XOR = [([0, 0], 0), ([0, 1], 1), ([1, 0], 1), ([1, 1], 0)]


def xor_init(hidden=4, seed=3):
    rng = random.Random(seed)
    return {"W1": [[rng.uniform(-1, 1) for _ in range(hidden)] for _ in range(2)], "b1": [0.0] * hidden,
            "W2": [rng.uniform(-1, 1) for _ in range(hidden)], "b2": 0.0}


def train_xor_value(init, epochs, lr):
    W1 = [[Value(w) for w in row] for row in init["W1"]]
    b1 = [Value(b) for b in init["b1"]]
    W2 = [Value(w) for w in init["W2"]]
    b2 = Value(init["b2"])
    params = [w for row in W1 for w in row] + b1 + W2 + [b2]

    def predict(x):
        hidden = [(W1[0][j] * x[0] + W1[1][j] * x[1] + b1[j]).tanh() for j in range(len(b1))]
        return (sum((w * h for w, h in zip(W2, hidden)), b2)).sigmoid()
    losses = []
    for _ in range(epochs):
        loss = sum(((predict(x) - t) ** 2 for x, t in XOR), Value(0.0)) * 0.25
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        losses.append(loss.data)
    weights = {"W1": [[w.data for w in row] for row in W1], "b1": [b.data for b in b1],
               "W2": [w.data for w in W2], "b2": b2.data}
    return losses, [predict(x).data for x, _ in XOR], weights


def train_xor_chainrule(init, epochs, lr):
    X = cr.tensor(np.array([x for x, _ in XOR], dtype=np.float64))
    T = cr.tensor(np.array([t for _, t in XOR], dtype=np.float64))
    params = {k: cr.tensor(np.array(v, dtype=np.float64)) for k, v in init.items()}
    predict = lambda p: cr.nn.sigmoid(cr.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])
    step = cr.value_and_grad(lambda p: cr.mean((predict(p) - T) ** 2))
    losses = []
    for _ in range(epochs):
        loss, grads = step(params)
        params = {k: params[k] - lr * grads[k] for k in params}
        losses.append(float(loss))
    return losses, predict(params).numpy().tolist()


def plot(xor_value, xor_cr, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(xor_value, label="Value engine")
    ax.semilogy(xor_cr, "--", label="chainrule")
    ax.set_xlabel("epoch"); ax.set_ylabel("mean squared error"); ax.set_title("XOR, 2-4-1 MLP, same start")
    ax.legend(); fig.tight_layout()
    path = os.path.join(out, "value_engine_xor.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    print("the same graphs in the Value engine and in chainrule (float64):")
    r = {"graphs": compare_graphs()}
    start, v_losses, v_preds = train_neuron_value(lesson_proxy_loss, 200)
    c_losses, c_preds = train_neuron_chainrule(lesson_proxy_loss, 200, start)
    r["and_proxy"] = {"value_losses": v_losses, "chainrule_losses": c_losses, "preds": v_preds, "chainrule_preds": c_preds}
    print(f"the lesson's AND neuron with its loss sigmoid(pred - target), 200 epochs: loss "
          f"{v_losses[0]:.4f} -> {v_losses[-1]:.4f} (chainrule: {c_losses[-1]:.4f}); predictions "
          f"{['%.3f' % p for p in v_preds]}: (1, 1) is not learned, the proxy pushes every prediction down")
    epochs_and = 2000 if args.quick else 5000
    _, sq_losses, sq_preds = train_neuron_value(squared_loss, epochs_and)
    sq_c_losses, _ = train_neuron_chainrule(squared_loss, epochs_and, start)
    r["and_squared"] = {"value_losses": sq_losses, "chainrule_losses": sq_c_losses, "preds": sq_preds}
    print(f"with (pred - target)^2 instead, {epochs_and} epochs: predictions {['%.3f' % p for p in sq_preds]}")
    init = xor_init()
    epochs = 1500 if args.quick else 4000
    x_losses, x_preds, weights = train_xor_value(init, epochs, lr=1.0)
    xc_losses, xc_preds = train_xor_chainrule(init, epochs, lr=1.0)
    r["xor"] = {"init": init, "value_losses": x_losses, "chainrule_losses": xc_losses, "preds": x_preds,
                "chainrule_preds": xc_preds, "weights": weights}
    print(f"exercise 13, XOR with the Value engine: loss {x_losses[0]:.4f} -> {x_losses[-1]:.2e} after {epochs} "
          f"epochs, predictions {['%.3f' % p for p in x_preds]}; chainrule from the same start: {xc_losses[-1]:.2e}")
    print(f"  learned weights: W1 = {np.round(weights['W1'], 3).tolist()}, b1 = {np.round(weights['b1'], 3).tolist()}, "
          f"W2 = {np.round(weights['W2'], 3).tolist()}, b2 = {weights['b2']:.3f}")
    r["figure"] = plot(x_losses, xc_losses, args.out)
    print(f"figure: {r['figure']}")
    for row in r["graphs"].values():
        assert np.allclose(row["value_grads"], row["chainrule_grads"], atol=1e-12)
        assert np.allclose(row["value_grads"], row["finite_differences"], atol=1e-6)
    assert np.allclose(v_losses, c_losses, atol=1e-12) and np.allclose(x_losses, xc_losses, atol=1e-9)
    assert v_preds[3] < 0.5 and sq_preds[3] > 0.5 > max(sq_preds[:3])
    assert x_losses[-1] < 0.01 and [round(p) for p in x_preds] == [t for _, t in XOR]
    return r


if __name__ == "__main__":
    main()

"""Numerical derivatives (forward and central differences) against automatic ones, and the
chain rule on the functions of lesson 000 (sections 2.1-2.3) and the day lesson's exercise 1.

* Finite differences: forward (f(x+h) - f(x)) / h has error ~ f''(x) h / 2 (O(h)); central
  (f(x+h) - f(x-h)) / 2h has error ~ f'''(x) h^2 / 6 (O(h^2)). Below some h the rounding of
  f (about eps * |f| / h) wins and the error grows again: the best h is near sqrt(eps) ~ 1e-8
  for forward and eps^(1/3) ~ 1e-5 for central differences. The example measures that curve.
* Automatic derivatives (cr.grad) have no h: they are exact up to float rounding.
* The chain rule by hand (the lesson's sigmoid neuron, its traced graph, the softmax Jacobian,
  cross-entropy's (p - onehot)/B) next to chainrule.

Where the lesson prints a number that its own formula does not give, the example prints both.

Run: python examples/derivatives.py [--quick] [--out DIR]    (CHAINRULE_BACKEND=torch works too)
"""
import argparse
import math
import os

import numpy as np

import chainrule as cr

F64 = "float64"


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (a few seconds)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figures (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def t64(value):
    return cr.tensor(np.asarray(value, dtype=np.float64))


def numerical_derivative(f, x, h=1e-5):
    """The lesson's forward difference: error O(h)."""
    return (f(x + h) - f(x)) / h


def central_derivative(f, x, h=1e-5):
    """The lesson's central difference: error O(h^2)."""
    return (f(x + h) - f(x - h)) / (2 * h)


# ----------------------------------------------------------------- finite differences, error vs h

def error_vs_h(hs):
    """Errors of forward and central differences of x^3 at x = 2 (f' = 12) for each h."""
    f, x, exact = (lambda v: v ** 3), 2.0, 12.0
    forward = [abs(numerical_derivative(f, x, h) - exact) for h in hs]
    central = [abs(central_derivative(f, x, h) - exact) for h in hs]
    return forward, central


def slope(hs, errors, lo, hi):
    """The least-squares slope of log(error) against log(h) for lo <= h <= hi: the order."""
    pick = [(math.log(h), math.log(e)) for h, e in zip(hs, errors) if lo <= h <= hi and e > 0]
    xs, ys = np.array(pick).T
    return float(np.polyfit(xs, ys, 1)[0])


def finite_differences():
    x = 2.0
    cube, sine = (lambda v: v ** 3), math.sin
    rows = {"f'(2) analytic": 3 * x ** 2, "f'(2) forward": numerical_derivative(cube, x),
            "f'(2) central": central_derivative(cube, x),
            "f'(2) cr.grad": float(cr.grad(lambda v: v ** 3)(t64(x))),
            "g'(2) analytic": math.cos(x), "g'(2) central": central_derivative(sine, x),
            "g'(2) cr.grad": float(cr.grad(cr.sin)(t64(x)))}
    for name, value in rows.items():
        print(f"  {name:16s} {value:.6f}")
    forward = rows["f'(2) forward"]
    print(f"  the lesson prints 12.000030 for the forward difference; its own formula gives "
          f"{forward:.6f} (error f''(2) h / 2 = 12 * 1e-5 / 2 = 6e-5)")
    return rows


# ----------------------------------------------------------------- activations, product rule

def activation_derivatives():
    """sigmoid, relu and the lesson's fast gelu: central differences, the analytic rule and
    cr.grad (vmapped over the points) agree."""
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    sig = lambda v: 1 / (1 + np.exp(-v))
    h = 1e-5
    numeric = (sig(x + h) - sig(x - h)) / (2 * h)
    analytic = sig(x) * (1 - sig(x))
    auto = cr.vmap(cr.grad(cr.nn.sigmoid))(t64(x)).numpy()
    relu_auto = cr.vmap(cr.grad(cr.nn.relu))(t64(x)).numpy()
    fast_gelu = lambda v: v * cr.nn.sigmoid(1.702 * v)
    gelu_auto = cr.vmap(cr.grad(fast_gelu))(t64(x)).numpy()
    gelu_np = lambda v: v * sig(1.702 * v)
    gelu_numeric = (gelu_np(x + h) - gelu_np(x - h)) / (2 * h)
    print(f"  sigmoid': numeric vs analytic allclose(atol=1e-8): {np.allclose(numeric, analytic, atol=1e-8)}; "
          f"cr.grad max error {np.abs(auto - analytic).max():.1e}; sigmoid'(0) = {auto[2]}")
    print(f"  relu' = {relu_auto} (0 at x = 0, the lesson's subgradient)")
    print(f"  fast gelu' cr.grad vs central: max error {np.abs(gelu_auto - gelu_numeric).max():.1e}")
    return {"sigmoid_grad": auto, "sigmoid_grad_max_error": float(np.abs(auto - analytic).max()),
            "relu_grad": relu_auto, "gelu_fast_grad": gelu_auto,
            "gelu_fast_max_error": float(np.abs(gelu_auto - gelu_numeric).max())}


def product_rule():
    """h(x) = x^2 sin x: h' = 2x sin x + x^2 cos x."""
    x = np.array([0.5, 1.0, 1.5, 2.0])
    analytic = 2 * x * np.sin(x) + x ** 2 * np.cos(x)
    auto = cr.vmap(cr.grad(lambda v: v ** 2 * cr.sin(v)))(t64(x)).numpy()
    print(f"  product rule x^2 sin x: cr.grad max error vs 2x sin x + x^2 cos x: "
          f"{np.abs(auto - analytic).max():.1e}")
    return {"product_rule_grad": auto, "product_rule_max_error": float(np.abs(auto - analytic).max())}


# ----------------------------------------------------------------- the chain rule by hand

def sigmoid_neuron_by_hand():
    """L = mean((sigmoid(W x + b) - y)^2), W (1, 3): the lesson's step-by-step backward pass,
    against cr.grad and central differences (the day lesson's exercise 1)."""
    W, x, b, y = np.array([[0.3, -0.2, 0.5]]), np.array([1.0, 2.0, 3.0]), np.array([0.1]), np.array([1.0])

    def loss_np(W, b):
        a = 1 / (1 + np.exp(-(W @ x + b)))
        return float(np.mean((a - y) ** 2))

    z = W @ x + b
    a = 1 / (1 + np.exp(-z))
    dL_dz = 2 * (a - y) / len(a) * (a * (1 - a))
    by_hand = {"W": dL_dz[:, None] * x[None, :], "b": dL_dz}

    def loss_cr(W, b):
        return cr.mean((cr.nn.sigmoid(W @ t64(x) + b) - t64(y)) ** 2)

    gW, gb = cr.grad(loss_cr, argnums=(0, 1))(t64(W), t64(b))
    h = 1e-6
    fd_W = np.array([[(loss_np(W + h * e, b) - loss_np(W - h * e, b)) / (2 * h)
                      for e in np.eye(3)[:, None, :]]]).reshape(1, 3)
    fd_b = np.array([(loss_np(W, b + h) - loss_np(W, b - h)) / (2 * h)])
    print(f"  Loss = {loss_np(W, b):.4f};  dL/dW by hand {by_hand['W'].ravel()}  dL/db {by_hand['b']}")
    print(f"  cr.grad:          dL/dW {gW.numpy().ravel()}  dL/db {gb.numpy()}")
    print(f"  central diff:     dL/dW {fd_W.ravel()}  dL/db {fd_b}")
    return {"neuron_loss": loss_np(W, b), "neuron_dW_hand": by_hand["W"], "neuron_db_hand": by_hand["b"],
            "neuron_dW": gW.numpy(), "neuron_db": gb.numpy(), "neuron_dW_fd": fd_W, "neuron_db_fd": fd_b}


def traced_graph():
    """L = (sigmoid(w x + b) - y)^2 at w, x, b, y = 0.5, 2, 0.1, 1. The lesson writes e as
    2.718 and rounds n3 to 0.750, so it prints L = 0.0625; exactly, n3 = 0.75026 and L = 0.06237."""
    w, x, b, y = 0.5, 2.0, 0.1, 1.0
    n3 = 1 / (1 + math.exp(-(w * x + b)))
    n4 = n3 - y
    dL_n2 = 2 * n4 * n3 * (1 - n3)
    loss = lambda w, b: (cr.nn.sigmoid(w * x + b) - y) ** 2
    gw, gb = cr.grad(loss, argnums=(0, 1))(t64(w), t64(b))
    print(f"  traced graph: n3 = {n3:.5f}, L = {n4 ** 2:.5f} (the lesson's comment: 0.0625, from n3 "
          f"rounded to 0.750); dL/dw = {dL_n2 * x:.4f} by hand, {float(gw):.4f} cr.grad; "
          f"dL/db = {dL_n2:.4f} by hand, {float(gb):.4f} cr.grad")
    return {"graph_L": n4 ** 2, "graph_dw_hand": dL_n2 * x, "graph_db_hand": dL_n2,
            "graph_dw": float(gw), "graph_db": float(gb)}


def partials_and_gradient():
    """f(x, y) = 3x^2 + 2xy + y^3 at (1, 2): (10, 14); x^2 + y^2 at (3, -4): (6, -8), 0 at 0."""
    f = lambda x, y: 3 * x ** 2 + 2 * x * y + y ** 3
    dfx, dfy = cr.grad(f, argnums=(0, 1))(t64(1.0), t64(2.0))
    bowl = lambda p: cr.sum(p ** 2)
    g = cr.grad(bowl)(t64([3.0, -4.0])).numpy()
    g0 = cr.grad(bowl)(t64([0.0, 0.0])).numpy()
    print(f"  df/dx = {float(dfx)}, df/dy = {float(dfy)};  grad of x^2 + y^2 at (3, -4) = {g}, at 0 = {g0}")
    return {"partials": (float(dfx), float(dfy)), "bowl_grad": g, "bowl_grad_at_min": g0}


# ----------------------------------------------------------------- the chapter's exercises 1-5, 7, 8, 11, 14

def exercises():
    out = {}
    # 1: f = x^3 - 5x^2 + 3x + 7, f' = 3x^2 - 10x + 3 = 0 at x = 1/3 and 3
    f1 = lambda x: x ** 3 - 5 * x ** 2 + 3 * x + 7
    roots = sorted(np.roots([3.0, -10.0, 3.0]).real)
    out["ex1_roots"] = roots
    out["ex1_grad_at_roots"] = [float(cr.grad(f1)(t64(r))) for r in roots]
    # 2: g = exp(sin(x^2)), g' = exp(sin(x^2)) cos(x^2) 2x
    xs = np.array([-1.0, 0.3, 0.9, 1.7])
    out["ex2_grad"] = cr.vmap(cr.grad(lambda x: cr.exp(cr.sin(x ** 2))))(t64(xs)).numpy()
    out["ex2_hand"] = np.exp(np.sin(xs ** 2)) * np.cos(xs ** 2) * 2 * xs
    # 3: f = x^2 y + y^3: (2xy, x^2 + 3y^2) = (4, 7) at (2, 1)
    out["ex3_grad"] = tuple(float(g) for g in cr.grad(lambda x, y: x ** 2 * y + y ** 3, argnums=(0, 1))(t64(2.0), t64(1.0)))
    # 4: z = log(sigmoid(w x + b)), dz/dw = x (1 - sigmoid(w x + b))
    w, x, b = 0.7, -1.3, 0.2
    out["ex4_grad"] = float(cr.grad(lambda w: cr.log(cr.nn.sigmoid(w * x + b)))(t64(w)))
    out["ex4_hand"] = x * (1 - 1 / (1 + math.exp(-(w * x + b))))
    # 5: f = (a + b)(a - b): df/da = 2a, df/db = -2b
    out["ex5_grad"] = tuple(float(g) for g in cr.grad(lambda a, b: (a + b) * (a - b), argnums=(0, 1))(t64(1.5), t64(-0.5)))
    # 7: L = |W x - y|^2 / N (N outputs): dL/dW = 2 (W x - y) x^T / N
    rng = np.random.default_rng(7)
    W, xv, y = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3)
    out["ex7_grad"] = cr.grad(lambda W: cr.mean((W @ t64(xv) - t64(y)) ** 2))(t64(W)).numpy()
    out["ex7_hand"] = 2 * np.outer(W @ xv - y, xv) / 3
    # 8: through L sigmoid layers at 0 the gradient is 0.25^L; through L relu layers (x > 0), 1
    def deep(act, depth):
        def f(x):
            for _ in range(depth):
                x = act(x)
            return x
        return f
    out["ex8_sigmoid"] = {L: float(cr.grad(deep(lambda v: cr.nn.sigmoid(v) - 0.5, L))(t64(0.0))) for L in (1, 5, 10, 20)}
    out["ex8_relu"] = {L: float(cr.grad(deep(cr.nn.relu, L))(t64(1.0))) for L in (1, 5, 10, 20)}
    # 11: the softmax Jacobian J_ij = s_i (delta_ij - s_j), numerically, by hand and by cr.jacrev/jacfwd
    z = np.array([1.0, -0.5, 2.0, 0.3, 0.0])
    s = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    out["ex11_hand"] = np.diag(s) - np.outer(s, s)
    out["ex11_numeric"] = numerical_jacobian(lambda v: np.exp(v) / np.exp(v).sum(), z)
    out["ex11_jacrev"] = cr.jacrev(cr.nn.softmax)(t64(z)).numpy()
    out["ex11_jacfwd"] = cr.jacfwd(cr.nn.softmax)(t64(z)).numpy()
    # 14: a custom cross-entropy (logsumexp - the true logit), its gradient (p - onehot)/B by hand,
    #     by central differences (the lesson's gradient_check) and by cr.grad of cr.nn.cross_entropy
    logits, labels = rng.normal(size=(4, 5)), np.array([0, 3, 1, 4])
    out["ex14_logits"], out["ex14_labels"] = logits, labels
    out["ex14_loss"], out["ex14_hand"] = cross_entropy_by_hand(logits, labels)
    out["ex14_numeric"] = numerical_gradient(lambda z: cross_entropy_by_hand(z, labels)[0], logits)
    out["ex14_cr"] = cr.grad(lambda z: cr.nn.cross_entropy(z, cr.tensor(labels)))(t64(logits)).numpy()
    print(f"  ex 1: f'(x) = 0 at x = {roots[0]:.4f}, {roots[1]:.4f}; cr.grad there: {out['ex1_grad_at_roots']}")
    print(f"  ex 3: grad at (2, 1) = {out['ex3_grad']};  ex 5: (2a, -2b) at (1.5, -0.5) = {out['ex5_grad']}")
    print(f"  ex 8: d/dx through L sigmoids {out['ex8_sigmoid']}, through L relus {out['ex8_relu']}")
    print(f"  ex 11: softmax Jacobian, cr.jacrev vs s_i(d_ij - s_j): max error "
          f"{np.abs(out['ex11_jacrev'] - out['ex11_hand']).max():.1e}")
    print(f"  ex 14: cross-entropy gradient, (p - onehot)/B vs central differences: max error "
          f"{np.abs(out['ex14_hand'] - out['ex14_numeric']).max():.1e}, vs cr.grad {np.abs(out['ex14_hand'] - out['ex14_cr']).max():.1e}")
    return out


def numerical_jacobian(f, x, h=1e-5):
    """The lesson's column-by-column central-difference Jacobian."""
    columns = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    return np.stack(columns, axis=1)


def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        grad[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return grad


def cross_entropy_by_hand(logits, labels):
    """Mean cross-entropy and its gradient (softmax - onehot) / B."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    onehot = np.zeros_like(logits)
    onehot[rows, labels] = 1
    return float(-log_p[rows, labels].mean()), (np.exp(log_p) - onehot) / len(labels)


def plot_error_vs_h(hs, forward, central, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(hs, forward, "o-", label="forward (f(x+h)-f(x))/h")
    ax.loglog(hs, central, "s-", label="central (f(x+h)-f(x-h))/2h")
    ax.set_xlabel("h"); ax.set_ylabel("|error| of d/dx x^3 at 2")
    ax.set_title("truncation error (slope 1 or 2) meets rounding error (slope -1)")
    ax.legend(); fig.tight_layout()
    path = os.path.join(out, "derivatives_error_vs_h.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    print(f"backend: {cr.get_backend().name}")
    print("numerical vs automatic derivatives (lesson 000, 2.1)")
    results = {"table": finite_differences()}
    hs = [10.0 ** -k for k in range(1, 14)] if args.quick else list(np.logspace(-1, -13, 49))
    forward, central = error_vs_h(hs)
    results.update(hs=hs, forward_errors=forward, central_errors=central,
                   forward_order=slope(hs, forward, 1e-4, 1e-1), central_order=slope(hs, central, 1e-3, 1e-1),
                   forward_best_h=hs[int(np.argmin(forward))], central_best_h=hs[int(np.argmin(central))])
    print(f"  error vs h: forward is order {results['forward_order']:.2f}, central order "
          f"{results['central_order']:.2f}; best h: forward {results['forward_best_h']:.0e}, "
          f"central {results['central_best_h']:.0e} (rounding wins below those)")
    results.update(activation_derivatives())
    results.update(product_rule())
    print("the chain rule by hand vs chainrule (lesson 000, 2.2-2.3)")
    results.update(sigmoid_neuron_by_hand())
    results.update(traced_graph())
    results.update(partials_and_gradient())
    print("the chapter's exercises")
    results.update(exercises())
    results["figure"] = plot_error_vs_h(hs, forward, central, args.out)
    print(f"figure: {results['figure']}")
    teach(results)
    return results


def teach(r):
    """What the example teaches, asserted."""
    assert 0.8 < r["forward_order"] < 1.2 and 1.8 < r["central_order"] < 2.2, (r["forward_order"], r["central_order"])
    assert 1e-10 <= r["forward_best_h"] <= 1e-6 and 1e-7 <= r["central_best_h"] <= 1e-3
    assert r["forward_errors"][-1] > 100 * min(r["forward_errors"])   # rounding: smaller h is worse
    assert abs(r["table"]["f'(2) cr.grad"] - 12.0) < 1e-12
    assert np.allclose(r["neuron_dW"], r["neuron_dW_hand"], atol=1e-12)
    assert np.allclose(r["neuron_dW_fd"], r["neuron_dW_hand"], atol=1e-8)
    assert np.allclose(r["ex11_jacrev"], r["ex11_hand"], atol=1e-12)
    assert np.allclose(r["ex14_cr"], r["ex14_hand"], atol=1e-12)


if __name__ == "__main__":
    main()

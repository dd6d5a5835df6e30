"""The Jacobian of a linear layer is its weight matrix (lesson 000, 2.3) — and which way round.

* The lesson's f(x) = W x with W of shape (out, in) = (2, 3): J_ij = d(Wx)_i / dx_j = W_ij, so
  J = W, shape (out, in). Central differences, ``cr.jacrev`` and ``cr.jacfwd`` all give W.
* ``cr.nn.Linear(in, out)`` stores ``weight`` of shape (in, out) and computes
  y = x @ weight + bias (the day lesson's Y = X W). For one example x of shape (in,), the
  Jacobian dy/dx is therefore ``weight.T``, shape (out, in): the lesson's W *is* weight.T.
* On a batch X of shape (B, in), the Jacobian of Y (B, out) is (B, out, B, in): weight.T on
  each diagonal block, zeros elsewhere (example i's output does not depend on example j).
  ``cr.vmap(cr.jacrev(layer))`` returns just the (B, out, in) diagonal blocks.
* The day lesson's matmul backward with its numbers: X = [[1,2,3],[4,5,6]], W = [[1,0],[0,1],[1,1]],
  Z = XW = [[4,5],[10,11]], A = relu(Z) (all positive, so the ReLU mask is all ones);
  dL/dX = dL/dZ W^T (2, 3) and dL/dW = X^T dL/dZ (3, 2), checked with ``cr.vjp``; and the
  self-check's shapes (X 4x8, W 8x16: dL/dX 4x8, dL/dW 8x16).

Run: python examples/linear_jacobian.py [--quick] [--out DIR]
"""
import argparse
import os

import numpy as np

import chainrule as cr


def parse_args(argv, doc):
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the CI-sized run (a smaller batch)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure (default examples/out/, git-ignored)")
    return parser.parse_args(argv)


def t64(value):
    return cr.tensor(np.asarray(value, dtype=np.float64))


def numerical_jacobian(f, x, h=1e-5):
    """The lesson's column-by-column central differences."""
    return np.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))], axis=1)


def lesson_jacobian():
    W = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = np.array([1.0, 2.0, 3.0])
    f = lambda v: t64(W) @ v
    return {"W": W, "J_numeric": numerical_jacobian(lambda v: W @ v, x),
            "J_jacrev": cr.jacrev(f)(t64(x)).numpy(), "J_jacfwd": cr.jacfwd(f)(t64(x)).numpy()}


def linear_layer_jacobians(batch):
    cr.random.seed(0)
    layer = cr.nn.Linear(3, 2, dtype="float64")
    weight = layer.weight.numpy()
    x = cr.random.normal((3,), dtype="float64")
    X = cr.random.normal((batch, 3), dtype="float64")
    return {"weight": weight, "bias": layer.bias.numpy(),
            "J_one_jacrev": cr.jacrev(layer)(x).numpy(), "J_one_jacfwd": cr.jacfwd(layer)(x).numpy(),
            "J_one_numeric": numerical_jacobian(lambda v: layer(t64(v)).numpy(), x.numpy()),
            "J_bias": cr.jacrev(lambda b: x @ layer.weight + b)(layer.bias).numpy(),
            "J_batch": cr.jacrev(layer)(X).numpy(), "J_per_example": cr.vmap(cr.jacrev(layer))(X).numpy()}


def matmul_backward():
    """The day lesson's Z = XW, A = relu(Z) with an upstream gradient G = dL/dA."""
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    G = np.array([[1.0, -2.0], [0.5, 3.0]])
    Z = X @ W
    dZ = G * (Z > 0)
    A, vjp_fn = cr.vjp(lambda X, W: cr.nn.relu(X @ W), t64(X), t64(W))
    dX, dW = vjp_fn(t64(G))
    rng = np.random.default_rng(3)   # the self-check: X 4x8, W 8x16
    _, big_vjp = cr.vjp(lambda X, W: X @ W, t64(rng.normal(size=(4, 8))), t64(rng.normal(size=(8, 16))))
    big_dX, big_dW = big_vjp(t64(rng.normal(size=(4, 16))))
    return {"Z": Z, "A": A.numpy(), "dX_hand": dZ @ W.T, "dW_hand": X.T @ dZ, "dX": dX.numpy(),
            "dW": dW.numpy(), "self_check_shapes": (big_dX.shape, big_dW.shape)}


def plot_blocks(J_batch, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    B, n_out, _, n_in = J_batch.shape
    fig, ax = plt.subplots(figsize=(5, 4))
    image = ax.imshow(J_batch.reshape(B * n_out, B * n_in), cmap="coolwarm")
    ax.set_title("dY/dX of Linear(3, 2) on a batch: weight.T blocks on the diagonal")
    ax.set_xlabel("input (example, feature)"); ax.set_ylabel("output (example, unit)")
    fig.colorbar(image); fig.tight_layout()
    path = os.path.join(out, "linear_jacobian_blocks.png")
    fig.savefig(path, dpi=120); plt.close(fig)
    return path


def main(argv=None):
    args = parse_args(argv, __doc__)
    os.makedirs(args.out, exist_ok=True)
    r = {"lesson": lesson_jacobian(), "layer": linear_layer_jacobians(batch=3 if args.quick else 6),
         "matmul": matmul_backward()}
    les, lay, mm = r["lesson"], r["layer"], r["matmul"]
    print(f"lesson: f(x) = W x, W {les['W'].shape} (out, in)")
    print(f"  cr.jacrev(f) =\n{les['J_jacrev']}\n  equals W: {np.allclose(les['J_jacrev'], les['W'])}; "
          f"cr.jacfwd and central differences too: {np.allclose(les['J_jacfwd'], les['W'])}, "
          f"{np.allclose(les['J_numeric'], les['W'])}")
    print(f"cr.nn.Linear(3, 2): weight {lay['weight'].shape} = (in, out), y = x @ weight + bias")
    print(f"  dy/dx by cr.jacrev, shape {lay['J_one_jacrev'].shape} = (out, in), equals weight.T: "
          f"{np.allclose(lay['J_one_jacrev'], lay['weight'].T)}  (so the lesson's W is Linear's weight.T)")
    print(f"  dy/dbias = identity: {np.allclose(lay['J_bias'], np.eye(2))}")
    B = lay["J_batch"].shape[0]
    print(f"  on a batch of {B}: jacrev gives {lay['J_batch'].shape} (B, out, B, in), weight.T on the "
          f"diagonal blocks; vmap(jacrev) gives the {lay['J_per_example'].shape} blocks alone")
    print(f"day lesson: Z = XW =\n{mm['Z']}\n  dL/dX = dL/dZ W^T =\n{mm['dX_hand']}\n  dL/dW = X^T dL/dZ =\n{mm['dW_hand']}")
    print(f"  cr.vjp agrees: {np.allclose(mm['dX'], mm['dX_hand']) and np.allclose(mm['dW'], mm['dW_hand'])}; "
          f"self-check shapes dL/dX, dL/dW = {mm['self_check_shapes']}")
    r["figure"] = plot_blocks(lay["J_batch"], args.out)
    print(f"figure: {r['figure']}")
    assert np.allclose(les["J_jacrev"], les["W"]) and np.allclose(les["J_jacfwd"], les["W"])
    assert np.allclose(lay["J_one_jacrev"], lay["weight"].T) and np.allclose(lay["J_one_jacfwd"], lay["weight"].T)
    for i in range(B):
        for j in range(B):
            block = lay["J_batch"][i, :, j, :]
            assert np.allclose(block, lay["weight"].T if i == j else 0.0)
    assert np.allclose(mm["dX"], mm["dX_hand"]) and np.allclose(mm["dW"], mm["dW_hand"])
    assert mm["self_check_shapes"] == ((4, 8), (8, 16))
    return r


if __name__ == "__main__":
    main()

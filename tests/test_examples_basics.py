"""The basic examples (examples/derivatives.py ... per_example_grads.py) run with --quick into a
temporary folder, and the numbers each returns are checked against an independent truth:
closed forms, finite differences computed here in NumPy, and torch where it is natural."""
import gzip
import math
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from examples_runner import load, quick_runs


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """quick(name) -> (the numbers main(["--quick", ...]) returned, its --out folder), run once."""
    return quick_runs(tmp_path_factory)


def t(array):
    return torch.tensor(np.asarray(array), dtype=torch.float64, requires_grad=True)


# ----------------------------------------------------------------- derivatives.py

def test_derivatives(quick):
    r, out = quick("derivatives")
    # finite differences recomputed here: forward = 12 + 6h + h^2, central = 12 + h^2 for x^3 at 2
    h = 1e-5
    assert r["table"]["f'(2) forward"] == pytest.approx(12 + 6 * h + h * h, abs=1e-9)
    assert r["table"]["f'(2) central"] == pytest.approx(12 + h * h, abs=1e-9)
    assert r["table"]["g'(2) cr.grad"] == pytest.approx(math.cos(2.0), abs=1e-15)
    for hh, fwd, cen in zip(r["hs"], r["forward_errors"], r["central_errors"]):
        if hh >= 1e-4:   # the truncation regime, where rounding is negligible
            assert fwd == pytest.approx(6 * hh + hh * hh, rel=1e-4)
            assert cen == pytest.approx(hh * hh, rel=1e-3)
    assert r["forward_order"] == pytest.approx(1.0, abs=0.05)
    assert r["central_order"] == pytest.approx(2.0, abs=0.05)
    assert (out / "derivatives_error_vs_h.png").stat().st_size > 0
    # activations, against torch
    x = t([-2.0, -1.0, 0.0, 1.0, 2.0])
    torch.sigmoid(x).sum().backward()
    np.testing.assert_allclose(r["sigmoid_grad"], x.grad.numpy(), atol=1e-15)
    assert r["sigmoid_grad"][2] == 0.25
    np.testing.assert_array_equal(r["relu_grad"], [0, 0, 0, 1, 1])
    x = t([-2.0, -1.0, 0.0, 1.0, 2.0])
    (x * torch.sigmoid(1.702 * x)).sum().backward()
    np.testing.assert_allclose(r["gelu_fast_grad"], x.grad.numpy(), atol=1e-14)
    xs = np.array([0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(r["product_rule_grad"], 2 * xs * np.sin(xs) + xs ** 2 * np.cos(xs), atol=1e-14)


def test_derivatives_chain_rule_and_exercises(quick):
    r, out = quick("derivatives")
    # the lesson's neuron, in torch
    W, b = t([[0.3, -0.2, 0.5]]), t([0.1])
    loss = torch.mean((torch.sigmoid(W @ torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) + b) - 1.0) ** 2)
    loss.backward()
    assert r["neuron_loss"] == pytest.approx(loss.item(), rel=1e-14)
    np.testing.assert_allclose(r["neuron_dW"], W.grad.numpy(), atol=1e-15)
    np.testing.assert_allclose(r["neuron_db"], b.grad.numpy(), atol=1e-15)
    np.testing.assert_allclose(r["neuron_dW_fd"], W.grad.numpy(), atol=1e-9)
    # traced graph: closed form with the exact e
    s = 1 / (1 + math.exp(-1.1))
    assert r["graph_L"] == pytest.approx((s - 1) ** 2) and r["graph_L"] != pytest.approx(0.0625, abs=1e-4)
    assert r["graph_dw"] == pytest.approx(2 * (s - 1) * s * (1 - s) * 2.0, rel=1e-12)
    assert r["partials"] == (10.0, 14.0)
    np.testing.assert_array_equal(r["bowl_grad"], [6.0, -8.0])
    np.testing.assert_array_equal(r["bowl_grad_at_min"], [0.0, 0.0])
    # exercises: closed forms
    np.testing.assert_allclose(r["ex1_roots"], [1 / 3, 3.0])
    np.testing.assert_allclose(r["ex1_grad_at_roots"], [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(r["ex2_grad"], r["ex2_hand"], atol=1e-13)
    assert r["ex3_grad"] == (4.0, 7.0)
    assert r["ex4_grad"] == pytest.approx(r["ex4_hand"], rel=1e-12)
    assert r["ex5_grad"] == (3.0, 1.0)
    np.testing.assert_allclose(r["ex7_grad"], r["ex7_hand"], atol=1e-13)
    assert r["ex8_sigmoid"] == {L: 0.25 ** L for L in (1, 5, 10, 20)}
    assert r["ex8_relu"] == {L: 1.0 for L in (1, 5, 10, 20)}
    z = torch.tensor([1.0, -0.5, 2.0, 0.3, 0.0], dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), z).numpy()
    for key in ("ex11_hand", "ex11_numeric", "ex11_jacrev", "ex11_jacfwd"):
        np.testing.assert_allclose(r[key], J, atol=1e-9 if key == "ex11_numeric" else 1e-15)
    logits = t(r["ex14_logits"])
    ce = torch.nn.functional.cross_entropy(logits, torch.tensor(r["ex14_labels"]))
    ce.backward()
    assert r["ex14_loss"] == pytest.approx(ce.item(), rel=1e-13)
    for key in ("ex14_hand", "ex14_cr", "ex14_numeric"):
        np.testing.assert_allclose(r[key], logits.grad.numpy(), atol=1e-9 if key == "ex14_numeric" else 1e-15)


# ----------------------------------------------------------------- graph.py

def test_graph(quick):
    r, out = quick("graph")
    a, b, c = t(2.0), t(3.0), t(4.0)
    L = (a * b + c) ** 2
    L.backward()
    assert r["values"] == {"d": 6.0, "e": 10.0, "L": L.item()}
    assert r["chainrule"] == (a.grad.item(), b.grad.item(), c.grad.item()) == (60.0, 40.0, 20.0)
    assert r["forward_mode"] == [60.0, 40.0, 20.0]
    assert r["local"] == {"dd_da": 3.0, "dd_db": 2.0, "de_dd": 1.0, "de_dc": 1.0, "dL_de": 20.0}
    assert r["by_hand"] == {"dL_de": 20.0, "dL_dd": 20.0, "dL_dc": 20.0, "dL_da": 60.0, "dL_db": 40.0}
    dot = r["dot"]
    assert dot.lstrip().startswith("digraph") and dot.rstrip().endswith("}")
    for op in ("multiply", "add", "power"):
        assert op in dot, f"{op} missing from the drawing"
    assert "float64" in dot
    for label in ("value 6", "value 10", "value 100", "grad 60", "grad 40", "grad 20"):
        assert label in dot, f"{label!r} missing from the drawing"
    written = [p for p in out.iterdir() if p.name.startswith("graph_abc")]
    assert written, "cr.viz.draw wrote nothing"
    if shutil.which("dot") is None:
        print("Graphviz's dot is not installed: only the DOT source is checked")
    else:
        assert (out / "graph_abc.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


# ----------------------------------------------------------------- linear_jacobian.py

def test_linear_jacobian(quick):
    r, out = quick("linear_jacobian")
    les, lay, mm = r["lesson"], r["layer"], r["matmul"]
    np.testing.assert_array_equal(les["J_jacrev"], les["W"])
    np.testing.assert_array_equal(les["J_jacfwd"], les["W"])
    weight, bias = torch.tensor(lay["weight"]), torch.tensor(lay["bias"])
    x = torch.ones(3, dtype=torch.float64)
    J = torch.func.jacrev(lambda v: v @ weight + bias)(x).numpy()
    assert J.shape == (2, 3)
    np.testing.assert_allclose(J, lay["weight"].T)
    np.testing.assert_allclose(lay["J_one_jacrev"], J)
    np.testing.assert_allclose(lay["J_one_jacfwd"], J)
    np.testing.assert_allclose(lay["J_one_numeric"], J, atol=1e-9)
    B = lay["J_batch"].shape[0]
    J_batch = torch.func.jacrev(lambda X: X @ weight + bias)(torch.ones(B, 3, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(lay["J_batch"], J_batch)
    np.testing.assert_allclose(lay["J_per_example"], np.broadcast_to(lay["weight"].T, (B, 2, 3)))
    X, W = t([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), t([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    Z = X @ W
    np.testing.assert_array_equal(mm["Z"], [[4.0, 5.0], [10.0, 11.0]])
    torch.relu(Z).backward(torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64))
    np.testing.assert_allclose(mm["dX"], X.grad.numpy())
    np.testing.assert_allclose(mm["dW"], W.grad.numpy())
    assert mm["self_check_shapes"] == ((4, 8), (8, 16))


# ----------------------------------------------------------------- gradient_descent.py

def test_gradient_descent(quick):
    r, out = quick("gradient_descent")
    for step, row in r["table"].items():
        w = 3 - 3 * 0.8 ** step            # closed form of w <- w - 0.1 * 2 (w - 3) from 0
        assert row["w"] == pytest.approx(w, abs=1e-12)
        assert row["L"] == pytest.approx((w - 3) ** 2, rel=1e-10)
        assert row["grad"] == pytest.approx(-6 * 0.8 ** (step - 1), rel=1e-10)
    assert r["table"][5]["w"] == pytest.approx(2.01696, abs=1e-5)   # the lesson prints 1.9221
    for lr, f in r["factors_1d"].items():
        assert f["measured"] == pytest.approx(abs(1 - 2 * lr), abs=1e-9)
    for lr, f in r["factors_2d"].items():
        assert f["measured"] == pytest.approx(max(abs(1 - lr), abs(1 - 10 * lr)), rel=1e-3)
    assert min(r["factors_2d"], key=lambda lr: r["factors_2d"][lr]["measured"]) == pytest.approx(2 / 11)
    assert r["factors_2d"][0.21]["measured"] > 1 > r["factors_2d"][0.19]["measured"]


# ----------------------------------------------------------------- linear_regression.py

def lesson_sgd_loop():
    """Lesson 000's mini-batch SGD code, as printed (its per-epoch w, b)."""
    np.random.seed(42)
    N = 1000
    X = np.random.randn(N, 1)
    y = 2 * X.squeeze() + 1 + 0.3 * np.random.randn(N)
    w, b = np.random.randn(), 0.0
    lr, batch_size = 0.01, 32
    epochs = []
    for epoch in range(5):
        idx = np.random.permutation(N)
        X_s, y_s = X[idx], y[idx]
        for i in range(0, N, batch_size):
            Xb, yb = X_s[i:i + batch_size].squeeze(), y_s[i:i + batch_size]
            pred = w * Xb + b
            dw, db = 2 * np.mean((pred - yb) * Xb), 2 * np.mean(pred - yb)
            w -= lr * dw
            b -= lr * db
        epochs.append((w, b))
    return X.squeeze(), y, epochs


def test_linear_regression(quick):
    r, out = quick("linear_regression")
    x, y, lesson_epochs = lesson_sgd_loop()
    np.testing.assert_array_equal(r["data"][0], x)
    for (w, b), mine in zip(lesson_epochs, r["sgd_chainrule"]):
        assert mine[0] == pytest.approx(w, abs=1e-12) and mine[1] == pytest.approx(b, abs=1e-12)
    (w_fit, b_fit), *_ = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)
    assert r["least_squares"] == pytest.approx((w_fit, b_fit), abs=1e-12)
    w, b, mse = r["sgd_chainrule"][-1]
    assert abs(w - w_fit) < 0.01 and abs(b - b_fit) < 0.01
    assert mse < r["sgd_chainrule"][4][2] < r["sgd_chainrule"][0][2]
    # Adam: torch.optim.Adam on the same mini-batches
    wt = torch.tensor([r["data"][2]], dtype=torch.float64, requires_grad=True)
    bt = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([wt, bt], lr=0.05, betas=(0.9, 0.999), eps=1e-8)
    X, Y = torch.tensor(x), torch.tensor(y)
    losses = []
    for epoch in r["plan"][:5]:
        for idx in epoch:
            opt.zero_grad()
            torch.mean((wt * X[idx] + bt - Y[idx]) ** 2).backward()
            opt.step()
            losses.append(torch.mean((wt * X + bt - Y) ** 2).item())
    for run in (r["adam_scratch"], r["adam_chainrule"]):
        assert run[0] == pytest.approx(wt.item(), abs=1e-10) and run[1] == pytest.approx(bt.item(), abs=1e-10)
        np.testing.assert_allclose(run[2], losses, rtol=1e-9)


# ----------------------------------------------------------------- value_engine.py

TORCH_GRAPHS = {
    "(a*b + c)^2": lambda a, b, c: (a * b + c) ** 2,
    "(sigmoid(w*x + b) - y)^2": lambda w, x, b, y: (torch.sigmoid(w * x + b) - y) ** 2,
    "every op": lambda a, b, c: (torch.tanh(a * b - c) ** 2 + torch.log(a + 3.0) * c - b / (c * c + 1.0)
                                 + torch.sigmoid(-a)),
    "a - b": lambda a, b: a - b, "a ** 3": lambda a: a ** 3, "log(a)": torch.log, "tanh(a)": torch.tanh,
}


def test_value_engine_graphs_match_torch(quick):
    r, out = quick("value_engine")
    module = load("value_engine")
    assert set(r["graphs"]) == set(TORCH_GRAPHS)
    for name, f in TORCH_GRAPHS.items():
        args = [t(x) for x in module.GRAPHS[name][1]]
        value = f(*args)
        value.backward()
        row = r["graphs"][name]
        assert row["value"] == pytest.approx(value.item(), rel=1e-14)
        np.testing.assert_allclose(row["value_grads"], [a.grad.item() for a in args], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(row["chainrule_grads"], [a.grad.item() for a in args], rtol=1e-13, atol=1e-15)
    assert r["graphs"]["(a*b + c)^2"]["value_grads"] == [60.0, 40.0, 20.0]


def test_value_engine_training_matches_torch(quick):
    r, out = quick("value_engine")
    # the lesson's proxy loss sigmoid(pred - target) falls while every prediction falls, (1, 1) included
    proxy = r["and_proxy"]
    assert proxy["value_losses"][-1] < proxy["value_losses"][0]
    np.testing.assert_allclose(proxy["value_losses"], proxy["chainrule_losses"], atol=1e-12)
    assert max(proxy["preds"]) < 0.5
    assert [round(p) for p in r["and_squared"]["preds"]] == [0, 0, 0, 1]
    # XOR: the same MLP, the same start, plain gradient descent in torch
    xor = r["xor"]
    p = {k: torch.tensor(np.array(v, dtype=np.float64), requires_grad=True) for k, v in xor["init"].items()}
    X = torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
    T = torch.tensor([0.0, 1, 1, 0], dtype=torch.float64)
    losses = []
    for _ in range(len(xor["value_losses"])):
        loss = torch.mean((torch.sigmoid(torch.tanh(X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]) - T) ** 2)
        grads = torch.autograd.grad(loss, list(p.values()))
        with torch.no_grad():
            p = {k: (v - 1.0 * g).requires_grad_() for (k, v), g in zip(p.items(), grads)}
        losses.append(loss.item())
    np.testing.assert_allclose(xor["value_losses"], losses, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(xor["chainrule_losses"], losses, rtol=1e-8, atol=1e-12)
    assert losses[-1] < 0.01
    assert [round(q) for q in xor["preds"]] == [0, 1, 1, 0]
    np.testing.assert_allclose(xor["weights"]["W2"], p["W2"].detach().numpy(), rtol=1e-6)


# ----------------------------------------------------------------- xor.py

def test_xor(quick):
    r, out = quick("xor")
    run = r["runs"][0]
    assert run["predictions"] == [0, 1, 1, 0]                       # XOR's truth table
    assert run["losses"][-1] < 0.01
    # torch, same weights, same Adam: the same loss curve
    p = {k: torch.tensor(v, requires_grad=True) for k, v in run["init"].items()}
    opt = torch.optim.Adam(list(p.values()), lr=0.05)
    X = torch.tensor([[0.0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0])
    losses = []
    for _ in range(r["steps"]):
        hidden = torch.tanh(X @ p["layers.0.weight"] + p["layers.0.bias"])
        loss = torch.nn.functional.cross_entropy(hidden @ p["layers.2.weight"] + p["layers.2.bias"], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(run["losses"], losses, rtol=1e-6, atol=1e-9)
    assert (out / "xor.png").stat().st_size > 0


# ----------------------------------------------------------------- digits.py

def write_idx(path, array, compress=False):
    """An IDX file written here from its definition: 0, 0, type code, ndim, big-endian dims, data."""
    codes = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B,
             np.dtype("int32"): 0x0C, np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def test_digits(quick):
    from sklearn.datasets import load_digits
    r, out = quick("digits")
    assert r["dataset"] == "digits" and r["sizes"][0] + r["sizes"][1] == 1797
    assert r["test_accuracy"] > r["bar"] >= 0.85
    assert r["losses"][-1] < r["losses"][0]
    # the accuracy recomputed here: the net's weights in a NumPy forward pass, sklearn's labels
    module = load("digits")
    _, _, X_test, y_test = module.load_digits_split()
    digits = load_digits()
    lookup = {row.tobytes(): label for row, label in zip((digits.data / 16.0).astype(np.float32), digits.target)}
    assert all(lookup[row.tobytes()] == label for row, label in zip(X_test, y_test))
    p = {k: v.numpy() for k, v in r["net"].named_parameters()}
    hidden = np.maximum(X_test @ p["layers.0.weight"] + p["layers.0.bias"], 0)
    logits = hidden @ p["layers.2.weight"] + p["layers.2.bias"]
    assert (logits.argmax(1) == y_test).mean() == pytest.approx(r["test_accuracy"])
    assert set(r["adam_vs_adamw"]) == {"adam", "adamw"} and min(r["adam_vs_adamw"].values()) > 0.8


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("compress", [False, True])
def test_load_idx(tmp_path, dtype, compress):
    load_idx = load("digits").load_idx
    array = (np.arange(60).reshape(5, 3, 4) * (1 if dtype == "uint8" else -1.5 if "float" in dtype else -1)).astype(dtype)
    got = load_idx(write_idx(tmp_path / "a.idx", array, compress))
    assert got.dtype == np.dtype(dtype) and got.shape == (5, 3, 4)
    np.testing.assert_array_equal(got, array)


def test_load_idx_bad_files(tmp_path):
    load_idx = load("digits").load_idx
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_idx(tmp_path / "bad")
    good = write_idx(tmp_path / "short", np.arange(10, dtype=np.uint8))
    good.write_bytes(good.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        load_idx(good)


def test_digits_on_mnist_files(tmp_path):
    """--mnist DIR reads MNIST's four files (some gzipped) and trains on them: images whose
    class is a bright 4x4 block at a class-dependent place, learnable in two epochs."""
    rng = np.random.default_rng(0)

    def images(n):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            row, col = 2 + 8 * (label // 4), 2 + 6 * (label % 4)
            x[i, row:row + 4, col:col + 4] = 255
        return x, labels

    folder = tmp_path / "mnist"
    folder.mkdir()
    (train_x, train_y), (test_x, test_y) = images(1200), images(300)
    write_idx(folder / "train-images-idx3-ubyte.gz", train_x, compress=True)
    write_idx(folder / "train-labels-idx1-ubyte", train_y)
    write_idx(folder / "t10k-images-idx3-ubyte", test_x)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", test_y, compress=True)
    r = load("digits").main(["--quick", "--out", str(tmp_path), "--mnist", str(folder)])
    assert r["dataset"] == "mnist" and r["sizes"] == (1200, 300)
    assert r["losses"][-1] < r["losses"][0]
    assert r["test_accuracy"] > 0.8


# ----------------------------------------------------------------- cnn_digits.py

def test_cnn_digits(quick):
    r, out = quick("cnn_digits")
    assert r["test_accuracy"] > r["bar"] >= 0.85 and r["losses"][-1] < r["losses"][0]
    # torch's conv2d / max_pool2d with the trained weights: the same logits, accuracy and gradients
    F = torch.nn.functional
    p = {k: torch.tensor(v.numpy(), requires_grad=True) for k, v in r["net"].named_parameters()}

    def torch_net(x):
        h = F.max_pool2d(F.relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"], padding=1)), 2)
        return h.reshape(len(h), -1) @ p["head.weight"] + p["head.bias"]

    module = load("cnn_digits")
    X_train, y_train, X_test, y_test = module.load_images()
    logits = torch_net(torch.tensor(X_test))
    assert (logits.argmax(1).numpy() == y_test).mean() == pytest.approx(r["test_accuracy"])
    import chainrule as cr
    ours = r["net"](cr.tensor(X_test[:64]))
    np.testing.assert_allclose(ours.numpy(), logits[:64].detach().numpy(), rtol=1e-4, atol=1e-5)
    F.cross_entropy(torch_net(torch.tensor(X_train[:64])), torch.tensor(y_train[:64])).backward()
    r["net"].zero_grad()
    cr.nn.cross_entropy(r["net"](cr.tensor(X_train[:64])), cr.tensor(y_train[:64])).backward()
    for name, param in r["net"].named_parameters():
        np.testing.assert_allclose(param.grad.numpy(), p[name].grad.numpy(), rtol=1e-3, atol=1e-5)


# ----------------------------------------------------------------- overfit_batch.py

def test_overfit_batch(quick):
    r, out = quick("overfit_batch")
    module = load("overfit_batch")
    runs, tol = r["runs"], r["tol"]
    losses, passed = runs["correct"]
    assert passed and losses[-1] <= tol < losses[0]
    # torch from the same initial weights, the same Adam: the same losses
    p = {k: torch.tensor(v.numpy(), requires_grad=True) for k, v in module.fresh_model().named_parameters()}
    inputs, targets = (torch.tensor(a.numpy()) for a in module.one_batch())
    net = lambda x: torch.relu(x @ p["layers.0.weight"] + p["layers.0.bias"]) @ p["layers.2.weight"] + p["layers.2.bias"]
    opt = torch.optim.Adam(list(p.values()), lr=1e-2)
    reference = []
    for _ in range(len(runs["plain loop"][0])):
        loss = torch.nn.functional.cross_entropy(net(inputs), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        reference.append(loss.item())
    np.testing.assert_allclose(runs["plain loop"][0], reference, rtol=1e-3)
    np.testing.assert_allclose(runs["correct"][0][:len(reference)], reference, rtol=1e-3)
    # frozen: only the last bias moves, so no loss goes below the best any bias can do (found by LBFGS)
    p = {k: torch.tensor(v.numpy()) for k, v in module.fresh_model().named_parameters()}   # the start again
    with torch.no_grad():
        fixed = net(inputs) - p["layers.2.bias"]
    bias = torch.zeros(10, requires_grad=True)
    lbfgs = torch.optim.LBFGS([bias], max_iter=500, tolerance_grad=1e-10, tolerance_change=1e-12)

    def closure():
        lbfgs.zero_grad()
        value = torch.nn.functional.cross_entropy(fixed + bias, targets)
        value.backward()
        return value
    best = lbfgs.step(closure).item()
    best = min(best, closure().item())
    frozen, frozen_passed = runs["frozen (only the last bias trains)"]
    assert not frozen_passed and min(frozen) >= best - 1e-4 and best > 1.0
    # softmax before cross-entropy: the loss is bounded below by log(1 + (C - 1)/e)
    soft, soft_passed = runs["softmax before cross_entropy"]
    assert not soft_passed and min(soft) >= math.log(1 + 9 / math.e) - 1e-5
    assert (out / "overfit_batch.png").stat().st_size > 0


# ----------------------------------------------------------------- per_example_grads.py

def test_per_example_grads(quick):
    r, out = quick("per_example_grads")
    p = {k: torch.tensor(v.numpy()) for k, v in r["params"].items()}

    def loss(p, x, y):
        hidden = torch.relu(x @ p["layers.0.weight"] + p["layers.0.bias"])
        return torch.nn.functional.cross_entropy((hidden @ p["layers.2.weight"] + p["layers.2.bias"])[None], y[None])

    X, Y = torch.tensor(r["X"]), torch.tensor(r["Y"])
    reference = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(p, X, Y)
    for k, g in reference.items():
        np.testing.assert_allclose(r["per_example"][k].numpy(), g.numpy(), rtol=1e-10, atol=1e-13)
    norms = torch.sqrt(sum((g.reshape(len(Y), -1) ** 2).sum(1) for g in reference.values())).numpy()
    np.testing.assert_allclose(r["norms"], norms, rtol=1e-12)
    corrupted = np.flatnonzero(r["Y"] != r["true_labels"]).tolist()
    assert len(corrupted) == 4 and set(corrupted) <= set(r["flagged"])
    assert len(r["flagged"]) == 4 + len(r["misclassified"])
    assert min(norms[corrupted]) > 10 * np.median(norms)
    assert r["loop_gap"] < 1e-12 and r["mean_gap"] < 1e-12

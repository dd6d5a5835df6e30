"""The training examples (examples/optimizers.py ... memory_estimate.py) run with --quick into a
temporary folder, and the numbers each returns are checked against an independent truth:
torch.optim and torch.autograd, closed forms, and the lessons' formulas recomputed here."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from examples_runner import load, quick_runs


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """quick(name) -> (the numbers main(["--quick", ...]) returned, its --out folder), run once."""
    return quick_runs(tmp_path_factory)


# ----------------------------------------------------------------- optimizers.py

TORCH_OPTIMIZERS = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam,
                    "adamw": torch.optim.AdamW, "adafactor": torch.optim.Adafactor}


def torch_losses(loss_fn, start, algorithm, hparams, steps):
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = TORCH_OPTIMIZERS[algorithm]([p], **hparams)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(p)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def lion_losses(grad_and_loss, start, lr, betas=(0.9, 0.99), weight_decay=0.0, steps=100):
    """Lion as Chen et al. 2023, Algorithm 2, in NumPy."""
    p, m = np.array(start, dtype=float), np.zeros(len(start))
    losses = []
    for _ in range(steps):
        loss, g = grad_and_loss(p)
        losses.append(loss)
        c = betas[0] * m + (1 - betas[0]) * g
        p = p - lr * (np.sign(c) + weight_decay * p)
        m = betas[1] * m + (1 - betas[1]) * g
    return losses


def rosenbrock_np(p):
    x, y = p
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, np.array([-2 * (1 - x) - 400 * x * (y - x * x),
                                                              200 * (y - x * x)])


def test_optimizers_rosenbrock_against_torch(quick):
    r, out = quick("optimizers")
    steps = r["steps"]["rosenbrock"]
    f = lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
    for name, run in r["rosenbrock"].items():
        assert run["losses"][0] == pytest.approx(24.2, rel=1e-14)   # f(-1.2, 1) = 4.84 + 19.36
        assert len(run["losses"]) == steps
        # the first 300 steps: later, RMSProp's spikes amplify rounding (the valley is chaotic for it)
        if run["algorithm"] in TORCH_OPTIMIZERS:
            expected = torch_losses(f, r["start"], run["algorithm"], run["hparams"], 300)
            np.testing.assert_allclose(run["losses"][:300], expected, rtol=1e-7, atol=1e-12, err_msg=name)
        assert run["losses"][-1] < run["losses"][0] / 10, name
    lion = r["rosenbrock"]["lion"]
    np.testing.assert_allclose(lion["losses"][:300], lion_losses(rosenbrock_np, r["start"], steps=300,
                                                                  **lion["hparams"]), rtol=1e-9, atol=1e-12)
    assert (out / "optimizers.png").stat().st_size > 0


def test_optimizers_quadratic_is_the_lessons_claim(quick):
    r, _ = quick("optimizers")
    for key in ("quadratic", "quadratic_rotated"):
        A, sgd = r[key + "_A"], r[key]["sgd"]
        lr = sgd["hparams"]["lr"]
        # plain SGD on w^T A w in closed form: w_t = (I - 2 lr A)^t w_0
        w0 = np.array([1.0, 1.0])
        closed = [float(w @ A @ w) for w in
                  (np.linalg.matrix_power(np.eye(2) - 2 * lr * A, t) @ w0 for t in range(len(sgd["losses"])))]
        np.testing.assert_allclose(sgd["losses"], closed, rtol=1e-10)
        for name in ("momentum", "adam"):
            run = r[key][name]
            expected = torch_losses(lambda w: w @ (torch.tensor(A) @ w), [1.0, 1.0], run["algorithm"],
                                    run["hparams"], len(run["losses"]))
            np.testing.assert_allclose(run["losses"], expected, rtol=1e-7, atol=1e-15)
    q = r["quadratic"]
    assert q["adam"]["final"] < 1e-6 * q["momentum"]["final"] and q["momentum"]["final"] < q["sgd"]["final"]


def test_optimizers_digits(quick):
    r, _ = quick("optimizers")
    assert set(r["digits"]) == {"sgd", "momentum", "rmsprop", "adam", "adamw", "lion", "adafactor",
                                "sophia", "shampoo"}
    for name, run in r["digits"].items():
        assert abs(run["losses"][0] - math.log(10)) < 0.15, name   # a random init guesses uniformly
        assert np.mean(run["losses"][-10:]) < run["losses"][0] / 2, name
        assert run["accuracy"] > 0.5, name                          # chance is 0.1


def test_optimizers_exercises_6_and_9(quick):
    r, _ = quick("optimizers")
    si = r["scale_invariance"]
    f = lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
    for c in (100.0, 0.01):
        p = torch.tensor(r["start"], dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([p], lr=5e-2)
        points = []
        for _ in range(100):
            opt.zero_grad()
            (c * f(p)).backward()
            opt.step()
            points.append(p.detach().numpy().copy())
        np.testing.assert_allclose(si[f"adam c={c:g}"]["scaled"][:100], points, rtol=1e-9, atol=1e-12)
        # Adam's steps on c f are those on f (eps = 1e-8 aside)
        np.testing.assert_allclose(si[f"adam c={c:g}"]["base"][:100], points, atol=1e-6)
    assert si["sgd c=100"]["max_gap"] > 0.1
    ad = r["adamw_decay"]
    for t, ratio in ad["ratios"].items():
        assert ratio == pytest.approx((1 - ad["lr"] * ad["weight_decay"]) ** t, rel=1e-9)
    assert ad["ratios"][1000] < 1e-4


# ----------------------------------------------------------------- lr_sweep.py

def torch_mlp_losses(module, lr, X, y, batches):
    """The example's Adam run on its MLP, replayed in torch from the same initial weights."""
    net = module.make_model()
    params = [torch.tensor(p.numpy(), requires_grad=True) for p in net.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for idx in batches:
        h = torch.tensor(X[idx])
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, torch.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_lr_sweep_u_curve_against_torch(quick):
    r, out = quick("lr_sweep")
    module = load("lr_sweep")
    X, y = module.load_digits_data()
    for lr in (1e-2, 1e-4):
        np.testing.assert_allclose(r["losses"][lr], torch_mlp_losses(module, lr, X, y, r["batches"]),
                                   rtol=1e-8, err_msg=f"lr={lr}")
    finals = r["final"]
    best = min(finals, key=finals.get)
    assert best == r["best_lr"] and best not in (1.0, 1e-5)
    assert finals[1.0] > 2 * finals[best] and finals[1e-5] > 2 * finals[best]   # both walls of the U
    assert (out / "lr_sweep.png").stat().st_size > 0


def test_lr_finder_ramp_and_stop_rule(quick):
    r, _ = quick("lr_sweep")
    lrs, losses = r["finder_lrs"], r["finder_losses"]
    expected = [1e-6 * (1.0 / 1e-6) ** (i / 99) for i in range(len(lrs))]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    best = np.minimum.accumulate(losses)
    assert all(losses[i] <= 4 * best[i - 1] for i in range(1, len(losses) - 1))   # no earlier stop
    assert len(losses) == 100 or not math.isfinite(losses[-1]) or losses[-1] > 4 * best[-2]
    assert r["suggested_lr"] == pytest.approx(lrs[int(np.argmin(losses))] / 10, rel=1e-12)
    assert 0.1 * r["best_lr"] <= r["suggested_lr"] <= 10 * r["best_lr"]


# ----------------------------------------------------------------- schedules.py

def torch_rates(make_scheduler, steps):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=3e-4)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_schedules_match_the_lessons_and_torch(quick):
    r, out = quick("schedules")
    c = r["curves"]
    steps = np.arange(10001)
    # the day lesson's lr_at, recomputed here
    lesson = [3e-4 * t / 500 if t < 500 else 3e-4 * 0.5 * (1 + math.cos(math.pi * (t - 500) / 9500))
              for t in steps]
    np.testing.assert_allclose(c["warmup + cosine"], lesson, rtol=1e-12, atol=1e-20)
    assert c["warmup + cosine"][0] == 0 and c["warmup + cosine"][500] == pytest.approx(3e-4)
    np.testing.assert_allclose(c["constant"], 3e-4)
    np.testing.assert_allclose(c["step decay (x0.1 every 3000)"][:10000],
                               torch_rates(lambda o: torch.optim.lr_scheduler.StepLR(o, 3000, 0.1), 10000),
                               rtol=1e-12)
    np.testing.assert_allclose(c["one-cycle"][:10000], torch_rates(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=3e-4, total_steps=10000), 10000), rtol=1e-9)
    inv = c["inverse sqrt (warmup 500)"]
    assert inv[2000] == pytest.approx(3e-4 / 2) and inv[8000] == pytest.approx(3e-4 / 4)   # 1/sqrt(t)
    # the chapter's printed numbers
    assert r["chapter"][0] == 0 and r["chapter"][2000] == pytest.approx(3e-4, rel=1e-12)
    assert r["chapter"][100000] == pytest.approx(3e-5, rel=1e-12)
    assert (out / "schedules.png").stat().st_size > 0


def test_schedules_training_follows_the_schedule_and_cosine_wins(quick):
    r, _ = quick("schedules")
    run = r["training"]["warmup + cosine, peak 0.03, seed 0"]
    n = len(run["rates"])
    expected = [0.03 * t / (n // 10) if t < n // 10 else
                0.03 * 0.5 * (1 + math.cos(math.pi * (t - n // 10) / (n - n // 10))) for t in range(n)]
    np.testing.assert_allclose(run["rates"], expected, rtol=1e-12, atol=1e-20)
    # replay the run in torch: same init, same batches, Adam with the same rates (LambdaLR)
    from sklearn.datasets import load_digits
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    import chainrule as cr
    cr.random.seed(0)
    net = cr.nn.MLP([64, 64, 10], activation="relu", dtype="float64")
    params = [torch.tensor(p.numpy(), requires_grad=True) for p in net.parameters()]
    opt = torch.optim.Adam(params, lr=0.03)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: expected[min(t, n - 1)] / 0.03)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(100):
        idx = rng.integers(0, len(y), 32)
        h = torch.relu(torch.tensor(X[idx]) @ params[0] + params[1]) @ params[2] + params[3]
        loss = torch.nn.functional.cross_entropy(h, torch.tensor(y[idx]))
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
        losses.append(loss.item())
    np.testing.assert_allclose(run["losses"][:100], losses, rtol=1e-7)
    tr = r["training"]
    for peak, seeds in ((0.03, (0, 1, 2)), (0.01, (0,))):
        for name in ("constant", "warmup + cosine"):
            assert tr[f"{name}, peak {peak:g}"] == pytest.approx(
                np.mean([tr[f"{name}, peak {peak:g}, seed {s}"]["full_loss"] for s in seeds]), rel=1e-12)
    assert tr["warmup + cosine, peak 0.03"] < 0.75 * tr["constant, peak 0.03"]


# ----------------------------------------------------------------- initialization.py

def test_initialization_follows_the_variance_recursion(quick):
    r, out = quick("initialization")
    n, st = r["width"], r["stds"]
    # the input is N(0, 1), so z_1 = x W_1 has std sqrt(n) * s; then sqrt(n s^2 / 2) per ReLU layer
    weight_std = {"N(0,1)": 1.0, "Xavier": math.sqrt(1 / n), "He": math.sqrt(2 / n), "GPT-2 0.02": 0.02}
    for name, s in weight_std.items():
        stds = np.array(st[(name, "relu")])
        assert stds[0] == pytest.approx(math.sqrt(n) * s, rel=0.1), name
        per_layer = (stds[-1] / stds[0]) ** (1 / 49)                  # geometric mean factor
        assert per_layer == pytest.approx(math.sqrt(n * s * s / 2), rel=0.03), name
    assert st[("GPT-2 residual", "relu")][-1] == pytest.approx(
        math.sqrt(1 + n * (0.02 ** 2 / 100) / 2) ** 50, rel=0.05)
    # tanh: N(0,1) saturates (|z| ~ sqrt(n) since |tanh| ~ 1), Xavier and He keep O(0.1..1)
    assert st[("N(0,1)", "tanh")][-1] == pytest.approx(math.sqrt(n), rel=0.1)
    assert 0.01 < st[("Xavier", "tanh")][-1] < 1 and 0.1 < st[("He", "tanh")][-1] < 2
    assert r["lesson_0.9^50"] == pytest.approx(0.005154, rel=1e-3)
    assert (out / "initialization.png").stat().st_size > 0


# ----------------------------------------------------------------- pathologies.py

def torch_mlp_run(X, y, lr, steps, clip=None, optimizer="sgd", lr_at=None):
    """pathologies.train replayed in torch from the same initial weights and batches."""
    import chainrule as cr
    cr.random.seed(0)
    net = cr.nn.MLP([64, 64, 64, 10], activation="relu", dtype="float64")
    params = [torch.tensor(p.numpy(), requires_grad=True) for p in net.parameters()]
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(params, lr=lr)
    rng = np.random.default_rng(0)
    losses, norms = [], []
    for t in range(steps):
        if lr_at is not None:
            opt.param_groups[0]["lr"] = lr_at(t)
        idx = rng.integers(0, len(y), 64)
        h = torch.tensor(X[idx])
        for i in range(0, 6, 2):
            h = h @ params[i] + params[i + 1]
            h = torch.relu(h) if i < 4 else h
        loss = torch.nn.functional.cross_entropy(h, torch.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        norms.append(torch.sqrt(sum((p.grad ** 2).sum() for p in params)).item())
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        losses.append(loss.item())
    return losses, norms


def test_pathologies_vanishing_against_torch(quick):
    r, out = quick("pathologies")
    module = load("pathologies")
    X, y = module.load_digits_data()
    for kind in ("sigmoid", "residual"):
        layers, head = module.deep_layers()
        ws = [(torch.tensor(l.weight.numpy(), requires_grad=True), torch.tensor(l.bias.numpy()))
              for l in layers]
        h = torch.tensor(X[:256])
        for i, (w, b) in enumerate(ws):
            if kind == "sigmoid":
                h = torch.sigmoid(h @ w + b)
            else:
                h = torch.relu(h @ w + b) if i == 0 else h + torch.relu(h @ w + b)
        logits = h @ torch.tensor(head.weight.numpy()) + torch.tensor(head.bias.numpy())
        torch.nn.functional.cross_entropy(logits, torch.tensor(y[:256])).backward()
        np.testing.assert_allclose(r["vanishing"][kind], [w.grad.norm().item() for w, _ in ws], rtol=1e-9)
    sig = r["vanishing"]["sigmoid"]
    assert all(a < b for a, b in zip(sig, sig[1:]))             # shrinks at every layer going back
    assert sig[0] / sig[-1] < 0.25 ** 9 < 1e-5                  # below the 0.25-per-sigmoid bound
    assert (out / "pathologies.png").stat().st_size > 0


def test_pathologies_clipping_and_spikes_against_torch(quick):
    r, _ = quick("pathologies")
    X, y = load("pathologies").load_digits_data()
    for name, clip in (("lr=2", None), ("lr=2 clipped at 1.0", 1.0)):
        losses, norms = torch_mlp_run(X, y, 2.0, 40, clip=clip)
        np.testing.assert_allclose(r["exploding"][name]["losses"][:40], losses, rtol=1e-7, err_msg=name)
        np.testing.assert_allclose(r["exploding"][name]["grad_norms"][:40], norms, rtol=1e-7, err_msg=name)
    blown, saved = r["exploding"]["lr=2"], r["exploding"]["lr=2 clipped at 1.0"]
    assert np.mean(saved["losses"][-20:]) < 0.5 and np.mean(blown["losses"][-20:]) > 2.0
    # Adam without warmup: the first update moves every weight by lr (m_hat / sqrt(v_hat) = sign g)
    losses, _ = torch_mlp_run(X, y, 0.3, 10, optimizer="adam")
    np.testing.assert_allclose(r["spikes"]["Adam lr=0.3, no warmup"]["losses"][:10], losses, rtol=1e-6)
    warm = lambda t: 0.3 * t / 50
    losses, _ = torch_mlp_run(X, y, 0.3, 50, optimizer="adam", lr_at=warm)
    np.testing.assert_allclose(r["spikes"]["Adam lr=0.3, 50-step warmup"]["losses"][:50], losses, rtol=1e-6)
    for run in r["spikes"].values():
        assert run["spike"] == pytest.approx(max(run["losses"][:10]) / run["losses"][0], rel=1e-12)
    assert r["spikes"]["Adam lr=0.3, no warmup"]["spike"] > 10 > 1.5 > r["spikes"]["Adam lr=0.3, 50-step warmup"]["spike"]


def test_pathologies_dead_relus_nan_and_flat(quick):
    r, _ = quick("pathologies")
    X, y = load("pathologies").load_digits_data()
    # dead fractions recomputed in NumPy from the trained net's weights
    net = r["exploding"]["lr=2"]["net"]
    ws = [p.numpy() for p in net.parameters()]
    h, fractions = X, []
    for i in range(0, 4, 2):
        z = h @ ws[i] + ws[i + 1]
        fractions.append(float((~(z > 0).any(axis=0)).mean()))
        h = np.maximum(z, 0)
    assert r["dead"]["after lr=2"] == pytest.approx(fractions, abs=1e-12)
    assert min(fractions) > 0.5 and max(r["dead"]["at init"]) < 0.2 and r["dead_unit_max_grad"] == 0.0
    # NaN: the naive softmax overflows in float32; the op anomaly mode names is exp; torch's fused loss agrees
    n = r["nan"]
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(n["logits"])).any() and np.isfinite(n["logits"]).all()
    assert math.isnan(n["naive_loss"]) and n["anomaly_op"] == "exp"
    expected = torch.nn.functional.cross_entropy(torch.tensor(n["logits"]), torch.tensor(n["targets"])).item()
    assert n["stable_loss"] == pytest.approx(expected, rel=1e-5)
    # flat at log(C): the loss stays at the labels' entropy
    counts = np.bincount(y, minlength=10) / len(y)
    assert r["flat"]["label_entropy"] == pytest.approx(-(counts * np.log(counts)).sum(), rel=1e-12)
    assert r["flat"]["losses"][0] == pytest.approx(math.log(10), rel=1e-12)
    assert abs(np.mean(r["flat"]["losses"][-20:]) - math.log(10)) < 0.01


# ----------------------------------------------------------------- checkpointing_memory.py

def test_checkpointing_saves_memory_with_identical_gradients(quick):
    r, out = quick("checkpointing_memory")
    module = load("checkpointing_memory")
    weights = module.make_weights(r["depth"], r["width"])
    x = torch.tensor(np.random.default_rng(1).standard_normal((r["batch"], r["width"])))
    Ws = [(torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)) for a, b in weights]
    h = x
    for W1, W2 in Ws:
        h = h + torch.tanh(h @ W1) @ W2
    loss = (h * h).sum() / h.numel()
    loss.backward()
    runs = r["runs"]
    for mode, run in runs.items():
        assert run["loss"] == pytest.approx(loss.item(), rel=1e-12), mode
        for (a, b), (W1, W2) in zip(run["grads"], Ws):
            np.testing.assert_allclose(a, W1.grad.numpy(), rtol=1e-9, atol=1e-15)
            np.testing.assert_allclose(b, W2.grad.numpy(), rtol=1e-9, atol=1e-15)
        for (a, b), (pa, pb) in zip(run["grads"], runs["plain"]["grads"]):
            assert np.array_equal(a, pa) and np.array_equal(b, pb), mode   # bit for bit
    boundaries = r["depth"] * r["batch"] * r["width"] * 8
    plain, every = runs["plain"], runs["checkpoint every block"]
    # plain keeps h and tanh(h W1) of every block at least (the matmuls' and tanh's saved values)
    assert plain["held"] >= 2 * boundaries
    # per-block checkpointing keeps the block boundaries and little else
    assert boundaries <= every["held"] < 1.3 * boundaries
    assert runs["checkpoint sqrt(D) segments"]["held"] < 0.5 * boundaries
    assert every["peak"] < plain["peak"] and every["block_calls"] == 2 * plain["block_calls"]
    assert (out / "checkpointing_memory.png").stat().st_size > 0


# ----------------------------------------------------------------- memory_estimate.py

def test_memory_estimate_the_lessons_rules_and_torch_state(quick):
    r, out = quick("memory_estimate")
    seven = r["seven_b"]
    assert seven["train fp32 Adam"]["total"] == 112 * 10 ** 9       # the lesson's 112 GB
    assert seven["serve fp16"]["total"] == 14 * 10 ** 9              # and 14 GB: 8x
    assert seven["train mixed Adam"]["total"] == 112 * 10 ** 9       # 2P + 2P + 4P + 8P
    assert seven["train fp32 Lion"]["optimizer_state"] == 28 * 10 ** 9   # "halves the state to 28 GB"
    sizes = r["sizes"]
    P = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    assert r["P"] == P
    # torch's optimizers keep the same state on the same model (0-dim step counters aside)
    torch_net = torch.nn.Sequential(*[torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
    for label, make in (("momentum", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
                        ("rmsprop", lambda ps: torch.optim.RMSprop(ps)), ("adam", torch.optim.Adam),
                        ("adamw", torch.optim.AdamW), ("adafactor", torch.optim.Adafactor)):
        opt = make(torch_net.parameters())
        sum((p ** 2).sum() for p in torch_net.parameters()).backward()
        opt.step()
        state = sum(v.numel() * v.element_size() for st in opt.state.values() for v in st.values()
                    if torch.is_tensor(v) and v.dim() > 0)
        assert r["optimizers"][label]["measured"]["optimizer_state"] == state, label
        torch_net.zero_grad()
    for label, copies in (("sgd", 0), ("lion", 1), ("sophia", 2)):
        assert r["optimizers"][label]["measured"]["optimizer_state"] == copies * 4 * P, label
    # shampoo: a (n x n) statistic and its inverse root per axis of each parameter
    shampoo = sum(2 * (a * a + b * b) + 2 * b * b for a, b in zip(sizes[:-1], sizes[1:])) * 4
    assert r["optimizers"]["shampoo"]["measured"]["optimizer_state"] == shampoo
    for label, run in r["optimizers"].items():
        assert run["measured"]["parameters"] == run["measured"]["gradients"] == 4 * P, label
        assert run["estimate"]["total"] == run["measured"]["total"], label
    assert r["optimizers"]["adam"]["measured"]["total"] == 16 * P
    assert r["mixed"]["measured"]["total"] == 16 * P and r["serve"]["measured"] == 2 * P
    assert (out / "memory_estimate.png").stat().st_size > 0

"""cr.distributed: two gloo processes on 127.0.0.1 against one process on the full batch.

The truth is plain single-process training (no cr.distributed) from the same initial
parameters on the whole batch: two ranks that each see half of it and average their
gradients must end where it ends.  Workers are separate processes launched as torchrun
would (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment), each bounded by a
subprocess timeout, so a hang fails the test instead of stalling CI.
"""
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import chainrule as cr

pytest.importorskip("torch.distributed", reason="cr.distributed runs on torch.distributed")
import chainrule.distributed as dist   # noqa: E402

STEPS, N, FEATURES, CLASSES, LR = 20, 32, 6, 3, 0.05
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WORKER = textwrap.dedent('''
    import sys, json, numpy as np, chainrule as cr, chainrule.distributed as dist
    scenario, out = sys.argv[1], sys.argv[2]
    STEPS, N, FEATURES, CLASSES, LR = %r
    world = dist.init(timeout=20)
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(N, FEATURES)), rng.integers(0, CLASSES, size=N)

    def fresh_model():
        cr.random.seed(100 + world.rank)      # different per rank: the broadcast must fix it
        return cr.nn.MLP([FEATURES, 8, CLASSES], activation="tanh", dtype="float64")

    def params(model):
        return {n: p.numpy().copy() for n, p in model.named_parameters()}

    def loss_of(model, idx):
        return cr.nn.cross_entropy(model(cr.tensor(X[idx])), cr.tensor(Y[idx]))

    def train(zero=False, micro=None):
        model = dist.DataParallel(fresh_model(), bucket_mb=0.0005)   # ~500 B: several buckets
        opt = (dist.ZeroRedundancyOptimizer(model.named_parameters(), "adam", lr=LR) if zero
               else cr.optim.create("adam", model.named_parameters(), lr=LR))
        start = params(model)
        sampler = dist.DistributedSampler(N, shuffle=True, seed=3)
        seen = []
        for step in range(STEPS):
            sampler.set_epoch(step)
            idx = sampler.indices()
            seen.append(idx.tolist())
            opt.zero_grad()
            if micro is None:
                loss_of(model, idx).backward()
                model.sync_gradients()
            else:                               # two micro-batches, the first without a sync
                with model.no_sync():
                    (loss_of(model, idx[:micro]) * 0.5).backward()
                    model.sync_gradients()
                (loss_of(model, idx[micro:]) * 0.5).backward()
                model.sync_gradients()
            opt.step()
        return model, opt, start, seen

    if scenario == "fail":
        model = dist.DataParallel(fresh_model())
        if world.rank == 1:
            raise ValueError("rank 1 fails on purpose")
        loss_of(model, np.arange(N)).backward()
        model.sync_gradients()                  # rank 1 never comes: must raise, not hang
        sys.exit(0)

    import torch.distributed as tdist
    calls, real_all_reduce = [0], tdist.all_reduce

    def counted_all_reduce(*args, **kwargs):       # how many all-reduces each run sends
        calls[0] += 1
        return real_all_reduce(*args, **kwargs)
    tdist.all_reduce = counted_all_reduce

    def counted(run):
        before = calls[0]
        out = run()
        return out, calls[0] - before

    result = {"rank": world.rank, "world": world.world_size}
    for backend in ("numpy", "torch"):    # one process group carries both (gloo)
        with cr.use_backend(backend):
            before = params(fresh_model())
            (model, opt, start, seen), plain_calls = counted(train)
            result[backend] = {"seen": seen, "before": before, "start": start, "plain": params(model),
                               "plain_state_bytes": dist.optimizer_state_bytes(opt),
                               "plain_calls": plain_calls}
            if backend == "numpy":
                (nosync, _, _, _), nosync_calls = counted(lambda: train(micro=N // 4))
                result[backend]["nosync_calls"] = nosync_calls
                zero, zopt, _, _ = train(zero=True)
                result[backend].update(nosync=params(nosync), zero=params(zero),
                                       zero_state_bytes=dist.optimizer_state_bytes(zopt))
                dist.save(out + ".ckpt.safetensors", model.state_dict())
    # a parameter only rank 0 uses, one nobody uses (float32: a bucket of its own), one both use
    a = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    b = cr.tensor([3.0], dtype="float32", requires_grad=True)
    c = cr.tensor([1.0], dtype="float64", requires_grad=True)
    loss = (c * (world.rank + 1)).sum()
    if world.rank == 0:
        loss = loss + (a * a).sum()
    loss.backward()
    dist.sync_gradients([a, b, c])
    result["unused"] = {"a": a.grad.tolist(), "b": b.grad is None, "c": c.grad.tolist()}
    with open(out + ".rank%%d.json" %% world.rank, "w") as f:
        json.dump(result, f, default=lambda a: a.tolist())
    dist.destroy()
''' % ((STEPS, N, FEATURES, CLASSES, LR),))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(tmp_path, scenario, world=2, timeout=90):
    """Run the worker on ``world`` ranks as torchrun would; [(returncode, stderr)] per rank."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = str(free_port())
    procs = []
    for rank in range(world):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, str(script), scenario,
                                       str(tmp_path / "out")], env=env, cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=timeout)
            results.append((p.returncode, err))
    except subprocess.TimeoutExpired:
        pytest.fail(f"a rank of the {scenario!r} run hung past {timeout} s: cr.distributed must "
                    "raise on a dead peer, not wait")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def rank_results(tmp_path):
    import json
    runs = launch(tmp_path, "all")
    for rank, (code, err) in enumerate(runs):
        assert code == 0, f"rank {rank} failed:\n{err[-3000:]}"
    return [json.loads((tmp_path / f"out.rank{r}.json").read_text()) for r in range(2)]


def full_batch_reference(start, backend):
    """One process, the whole batch, no cr.distributed: the truth both ranks must reach."""
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(N, FEATURES)), rng.integers(0, CLASSES, size=N)
    with cr.use_backend(backend):
        model = cr.nn.MLP([FEATURES, 8, CLASSES], activation="tanh", dtype="float64")
        model.load_state_dict({k: cr.tensor(np.array(v)) for k, v in start.items()})
        opt = cr.optim.create("adam", model.named_parameters(), lr=LR)
        for _ in range(STEPS):
            opt.zero_grad()
            cr.nn.cross_entropy(model(cr.tensor(X)), cr.tensor(Y)).backward()
            opt.step()
        return {n: p.numpy() for n, p in model.named_parameters()}


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One 2-rank job (about 10 s): every scenario, numpy and torch backends, one process group."""
    tmp = tmp_path_factory.mktemp("dist")
    return tmp, rank_results(tmp)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_two_ranks_end_where_one_process_on_the_full_batch_ends(two_ranks, backend):
    r0, r1 = two_ranks[1]
    assert (r0["rank"], r1["rank"], r0["world"]) == (0, 1, 2)
    r0, r1 = r0[backend], r1[backend]
    # the ranks started apart, and DataParallel gave both rank 0's parameters
    assert max_difference(r0["before"], r1["before"]) > 1e-3
    assert max_difference(r1["start"], r0["before"]) == 0.0
    # each step the two shards are disjoint halves of the batch
    for a, b in zip(r0["seen"], r1["seen"]):
        assert len(a) == len(b) == N // 2 and sorted(a + b) == list(range(N))
    truth = full_batch_reference(r0["start"], backend)
    diff = max(max_difference(r["plain"], truth) for r in (r0, r1))
    print(f"{backend}: max |param(2 ranks) - param(1 process, full batch)| after {STEPS} steps = {diff:.2e}")
    assert diff < 1e-6


def test_no_sync_accumulation_equals_the_full_batch(two_ranks):
    ranks = [r["numpy"] for r in two_ranks[1]]
    truth = full_batch_reference(ranks[0]["start"], "numpy")
    assert max(max_difference(r["nosync"], truth) for r in ranks) < 1e-6
    # and the micro-batch under no_sync sent nothing: as many all-reduces as one batch per step
    assert ranks[0]["nosync_calls"] == ranks[0]["plain_calls"] >= STEPS


def test_zero1_matches_unsharded_with_less_optimizer_state_per_rank(two_ranks):
    ranks = [r["numpy"] for r in two_ranks[1]]
    assert max(max_difference(r["zero"], r["plain"]) for r in ranks) < 1e-6
    full = ranks[0]["plain_state_bytes"]
    sharded = [r["zero_state_bytes"] for r in ranks]
    print(f"Adam state bytes per rank: unsharded {full}, ZeRO-1 {sharded}")
    assert all(0 < s < full for s in sharded)
    assert sum(sharded) == full      # every parameter's state kept exactly once in the world


def test_a_gradient_some_rank_lacks_is_averaged_and_one_no_rank_has_stays_none(two_ranks):
    for r in two_ranks[1]:
        # a: 2a = [2, 4] on rank 0, nothing on rank 1; b: used nowhere; c: 1 and 2
        assert r["unused"] == {"a": [1.0, 2.0], "b": True, "c": [1.5]}


def test_rank0_checkpoint_holds_the_trained_parameters(two_ranks):
    tmp, ranks = two_ranks
    saved = cr.load(str(tmp / "out.ckpt.safetensors"))
    assert max_difference({k: v.numpy() for k, v in saved.items()}, ranks[0]["numpy"]["plain"]) == 0.0


def test_a_rank_that_raises_makes_the_other_exit_with_a_clear_error(tmp_path):
    (code0, err0), (code1, err1) = launch(tmp_path, "fail", timeout=60)
    assert code1 != 0 and "rank 1 fails on purpose" in err1
    assert code0 != 0
    assert "DistributedError" in err0 and "rank 0 of 2: the gradient all-reduce failed" in err0, err0[-2000:]


# ------------------------------------------------------------ in one process

def test_sampler_shards_and_pads_like_torch():
    from torch.utils.data import DistributedSampler as TorchSampler
    for n, world, drop_last in [(10, 3, False), (10, 3, True), (2, 3, False), (12, 4, False)]:
        for r in range(world):
            ours = list(dist.DistributedSampler(n, shuffle=False, drop_last=drop_last, rank=r,
                                                world_size=world))
            theirs = list(TorchSampler(range(n), num_replicas=world, rank=r, shuffle=False,
                                       drop_last=drop_last))
            assert ours == theirs, (n, world, drop_last, r)


def test_sampler_shuffles_per_epoch_the_same_on_every_rank():
    shards = [dist.DistributedSampler(11, seed=5, rank=r, world_size=2) for r in range(2)]
    epoch0 = [s.indices().tolist() for s in shards]
    for s in shards:
        s.set_epoch(1)
    epoch1 = [s.indices().tolist() for s in shards]
    assert epoch0 != epoch1
    for shard in (epoch0, epoch1):
        assert len(shard[0]) == len(shard[1]) == 6
        assert set(shard[0]) | set(shard[1]) == set(range(11))   # 12 slots: one index repeated


def test_without_torchrun_a_world_of_one_runs_the_same_code(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    try:
        world = dist.init()
        assert (world.rank, world.world_size, dist.is_main()) == (0, 1, True)
        w = cr.tensor([1.0, 2.0], requires_grad=True)
        (w * w).sum().backward()
        dist.sync_gradients([w])
        assert w.grad.tolist() == [2.0, 4.0]
        assert float(dist.all_reduce(cr.tensor(3.0))) == 3.0
    finally:
        dist.destroy()


def test_transport_follows_where_the_arrays_live():
    assert [dist._transport(n) for n in ("numpy", "torch", "torch:cuda:0", "cupy", "cupy:cuda:1")] == \
        ["gloo", "gloo", "nccl", "nccl", "nccl"]


def test_bad_setup_is_a_clear_error(monkeypatch):
    with pytest.raises(cr.ArgumentError, match="timeout"):
        dist.init(timeout=-1)
    monkeypatch.setenv("RANK", "0")
    for var in ("WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(dist.DistributedError, match="WORLD_SIZE"):
        dist.init()
    with pytest.raises(cr.ArgumentError, match="rank"):
        dist.DistributedSampler(4, rank=2, world_size=2)
    with pytest.raises(cr.ArgumentError, match="Module"):
        dist.DataParallel(object())
    monkeypatch.setenv("WORLD_SIZE", "2")      # under torchrun, but init() was forgotten
    with pytest.raises(dist.DistributedError, match=r"call cr.distributed.init\(\) first"):
        dist.DataParallel(cr.nn.Linear(2, 2))


def test_importing_cr_distributed_does_not_import_torch():
    code = "import sys, chainrule as cr, chainrule.distributed; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


# ------------------------------------------------------- the example, as the README runs it

def test_the_example_under_torchrun_matches_one_process():
    """torchrun --standalone --nproc_per_node=2 examples/data_parallel.py --quick: the global
    batch is split over the ranks, so its losses are the single process's."""
    pytest.importorskip("sklearn", reason="the example trains on scikit-learn's bundled digits")
    example = os.path.join(REPO, "examples", "data_parallel.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def final_loss(*launcher):
        done = subprocess.run([*launcher, example, "--quick", "--timeout", "60"], capture_output=True,
                              text=True, timeout=120, env=env, cwd=REPO)
        assert done.returncode == 0, done.stderr[-3000:]
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("final loss")]
        assert len(lines) == 1, done.stdout      # printed by rank 0 only
        return float(lines[0].split()[-1])

    two = final_loss(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    one = final_loss(sys.executable)
    assert two < 1.0 and abs(two - one) < 2e-3, (one, two)   # trained, and the same run

"""cr.save / cr.load: safetensors + JSON metadata, nested state dicts, atomic writes, no pickle;
file modes, refused destinations, corrupt files, and a run resumed bit for bit (model,
optimizer, schedule position, random generators).  The kill test is test_checkpoint_kill.py."""
import importlib.util
import json
import os
import pickle
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ChainruleError, CheckpointError

pytest.importorskip("safetensors", reason="cr.save needs the optional safetensors package")


def _train_a_bit():
    cr.random.seed(0)
    net = cr.nn.MLP([3, 4, 2])
    opt = cr.optim.create("adamw", net.named_parameters(), lr=1e-2, betas=(0.9, 0.95))
    for _ in range(3):
        opt.zero_grad()
        cr.mean(net(cr.ones((5, 3))) ** 2).backward()
        opt.step()
    return net, opt


def test_round_trip_of_a_nested_checkpoint(tmp_path):
    net, opt = _train_a_bit()
    state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 7,
             "note": "hello", "history": [0.5, 0.25, None], "flags": {"ema": True},
             "ints": cr.arange(4, dtype="int64"), "f64": cr.tensor(np.array([1.5, -2.0]))}
    path = tmp_path / "ckpt.safetensors"
    cr.save(path, state)
    back = cr.load(path)
    assert back["epoch"] == 7 and back["note"] == "hello" and back["history"] == [0.5, 0.25, None]
    assert back["flags"] == {"ema": True}
    for name, p in net.state_dict().items():
        assert back["model"][name].dtype == p.dtype
        np.testing.assert_array_equal(back["model"][name].numpy(), p.numpy())
    assert back["ints"].dtype == cr.int64 and back["ints"].tolist() == [0, 1, 2, 3]
    assert back["f64"].dtype == cr.float64
    # the loaded optimizer state continues exactly like the original
    net2, opt2 = _train_a_bit()
    opt2.load_state_dict(back["optimizer"])
    net2.load_state_dict(back["model"])
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        cr.mean(n(cr.ones((5, 3))) ** 2).backward()
        o.step()
    for (a, p), (b, q) in zip(net.named_parameters(), net2.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_bfloat16_round_trip(tmp_path):
    pytest.importorskip("ml_dtypes", reason="bfloat16 on numpy needs ml_dtypes")
    x = cr.tensor([1.0, 2.5, -3.0]).astype("bfloat16")
    cr.save(tmp_path / "b.safetensors", {"x": x})
    y = cr.load(tmp_path / "b.safetensors")["x"]
    assert y.dtype == cr.bfloat16 and y.astype("float32").tolist() == [1.0, 2.5, -3.0]


def test_the_file_is_safetensors_not_pickle(tmp_path):
    path = tmp_path / "c.safetensors"
    cr.save(path, {"w": cr.ones((2, 2))})
    import safetensors.numpy
    raw = safetensors.numpy.load_file(str(path))     # readable by safetensors itself
    assert list(raw) == ["t0"] and raw["t0"].shape == (2, 2)
    with open(path, "rb") as f:
        assert not f.read(2).startswith(b"\x80")       # no pickle protocol header
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(CheckpointError, match=r"evil\.pt.*no safetensors file"):
        cr.load(evil)


def test_an_unsavable_value_is_an_error_and_the_old_file_survives(tmp_path):
    path = tmp_path / "d.safetensors"
    cr.save(path, {"w": cr.ones((3,)), "step": 1})
    before = path.read_bytes()
    with pytest.raises(cr.errors.ArgumentError, match="/cfg/fn holds a function"):
        cr.save(path, {"w": cr.zeros((3,)), "cfg": {"fn": lambda x: x}})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["d.safetensors"]


def test_a_save_interrupted_while_writing_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "e.safetensors"
    cr.save(path, {"w": cr.ones((3,))})
    before = path.read_bytes()

    def boom(src, dst):
        raise KeyboardInterrupt("power cut")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        cr.save(path, {"w": cr.zeros((3,))})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["e.safetensors"]   # no temp file left behind
    assert cr.load(path)["w"].tolist() == [1.0, 1.0, 1.0]


def test_missing_safetensors_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[io\]'"):
        cr.save(tmp_path / "f.safetensors", {"w": cr.ones((1,))})


# ------------------------------------------------------------------ shapes

def _backends():
    """numpy, and torch when installed (a printed reason otherwise)."""
    if importlib.util.find_spec("torch") is not None:     # not imported: children start fast
        return ["numpy", "torch"]
    return ["numpy", pytest.param("torch", marks=pytest.mark.skip(reason="torch not installed"))]


@pytest.mark.parametrize("backend", _backends())
def test_zero_d_and_empty_tensors_keep_their_shapes(tmp_path, backend):
    with cr.use_backend(backend):
        state = {"loss": cr.tensor(0.25), "count": cr.tensor(np.array(7, dtype=np.int64)),
                 "flag": cr.tensor(True), "empty": cr.zeros((0, 3)),
                 "strided": cr.arange(12, dtype="float32").reshape((3, 4))[:, ::2]}
    state["raw0d"] = np.array(1.5)
    cr.save(tmp_path / "s.safetensors", state)
    back = cr.load(tmp_path / "s.safetensors")
    for key, value in state.items():
        want = np.asarray(value.numpy() if isinstance(value, cr.Tensor) else value)
        got = back[key]
        assert got.shape == want.shape, key
        assert got.numpy().dtype == want.dtype, key
        np.testing.assert_array_equal(got.numpy(), want)
        if isinstance(value, cr.Tensor):
            assert got.backend == value.backend, key


# ------------------------------------------------------------ the file itself

def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set the umask for one test (os.umask is process-wide: restored after)."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="file modes and umask are POSIX")
def test_a_new_file_gets_the_mode_the_umask_gives_any_file(tmp_path, umask):
    for mask in (0o022, 0o077, 0o002):
        umask(mask)
        plain, ckpt = tmp_path / f"plain-{mask:o}", tmp_path / f"ckpt-{mask:o}"
        plain.write_bytes(b"")                         # what open() gives: the truth to match
        cr.save(ckpt, {"w": cr.ones((2,))})
        assert _mode(ckpt) == _mode(plain) == 0o666 & ~mask


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_an_overwritten_file_keeps_its_mode(tmp_path):
    path = tmp_path / "k.safetensors"
    cr.save(path, {"w": cr.ones((2,))})
    os.chmod(path, 0o640)
    cr.save(path, {"w": cr.zeros((2,))})
    assert _mode(path) == 0o640 and cr.load(path)["w"].tolist() == [0.0, 0.0]


def _snapshot(folder):
    """Every file in ``folder``: name -> (bytes, mode, mtime_ns)."""
    out = {}
    for name in sorted(os.listdir(folder)):
        st = os.stat(os.path.join(folder, name))
        with open(os.path.join(folder, name), "rb") as f:
            out[name] = (f.read(), stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    return out


def test_a_read_only_destination_is_refused_not_replaced(tmp_path):
    path = tmp_path / "ro.safetensors"
    cr.save(path, {"w": cr.ones((3,))})
    os.chmod(path, 0o444)
    before = _snapshot(tmp_path)
    with pytest.raises(CheckpointError, match=r"ro\.safetensors' is read-only.*chmod u\+w"):
        cr.save(path, {"w": cr.zeros((3,))})
    assert _snapshot(tmp_path) == before
    assert cr.load(path)["w"].tolist() == [1.0, 1.0, 1.0]


def test_a_symbolic_link_is_followed_like_open_does(tmp_path):
    real, link = tmp_path / "real.safetensors", tmp_path / "latest.safetensors"
    cr.save(real, {"w": cr.ones((1,))})
    os.symlink(real, link)
    cr.save(link, {"w": cr.zeros((1,))})
    assert os.path.islink(link) and cr.load(real)["w"].tolist() == [0.0]


def test_bad_destinations_change_nothing(tmp_path):
    cr.save(tmp_path / "keep.safetensors", {"w": cr.ones((2,))})
    state = {"w": cr.arange(3, dtype="float32"), "step": 4}
    before, values = _snapshot(tmp_path), state["w"].tolist()
    with pytest.raises(CheckpointError, match="is a folder"):
        cr.save(tmp_path, state)
    with pytest.raises(CheckpointError, match="does not exist; create it first"):
        cr.save(tmp_path / "no" / "such" / "c.safetensors", state)
    unsavable = {"a list": [state["w"]], "an int key": {1: state["w"]},
                 "a reserved key": {"d": {"__tensor__": 1}}, "a set": {"s": {1, 2}},
                 "a uint32 array": {"u": np.arange(3, dtype=np.uint32)}}
    for case, value in unsavable.items():
        with pytest.raises(cr.errors.ArgumentError) as info:   # a ChainruleError and a TypeError
            cr.save(tmp_path / "u.safetensors", value)
        assert isinstance(info.value, ChainruleError) and isinstance(info.value, TypeError), case
        assert any(w in str(info.value) for w in ("wrap it", "string keys", "rename it",
                                                  "convert it", "no pickling")), (case, str(info.value))
    assert _snapshot(tmp_path) == before
    assert state["w"].tolist() == values and state["step"] == 4


# ----------------------------------------------------------- stale temporaries

def _dead_pid():
    """The id of a process that has exited (reaped, so nothing answers to it)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.skipif(os.name != "posix", reason="process ids are probed with signal 0 (POSIX)")
def test_the_next_save_removes_the_temporaries_of_killed_saves_and_only_those(tmp_path):
    path = tmp_path / "c.safetensors"
    dead, alive = _dead_pid(), os.getppid()
    stale = [f".c.safetensors.chainrule-{dead}-0123abcd.tmp",
             f".c.safetensors.chainrule-{os.getpid()}-89abcdef.tmp"]   # ours, from no running save
    kept = [f".c.safetensors.chainrule-{alive}-0123abcd.tmp",          # a save still running
            f".other.safetensors.chainrule-{dead}-0123abcd.tmp",       # another destination
            f".c.safetensors.chainrule-{dead}-0123abcd.tmp.bak",       # not our pattern
            "c.safetensors.tmp", "notes.txt"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"partial")
    cr.save(path, {"w": cr.ones((2,))})
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["c.safetensors"])


# -------------------------------------------------------------- corrupt files

def _raw_file(path, metadata, arrays=None):
    import safetensors.numpy
    safetensors.numpy.save_file(arrays or {"t0": np.ones(2, np.float32)}, str(path), metadata=metadata)


def _doc(**fields):
    return json.dumps({"format": 1, "state": {"w": {"__tensor__": "t0", "dtype": "float32"}}, **fields})


CORRUPT = {
    "no metadata": (None, "not a chainrule checkpoint"),
    "foreign metadata": ({"framework": "pt"}, "not a chainrule checkpoint"),
    "metadata not JSON": ({"chainrule": '{"format": 1, "state": {'}, "metadata is not JSON"),
    "metadata a list": ({"chainrule": "[1, 2]"}, "format version None"),
    "format 99": ({"chainrule": _doc(format=99)}, "format version 99.*upgrade chainrule"),
    "format missing": ({"chainrule": json.dumps({"state": {}})}, "format version None"),
    "format a string": ({"chainrule": _doc(format="1")}, "format version '1'"),
    "format true": ({"chainrule": _doc(format=True)}, "format version True"),
    "state missing": ({"chainrule": json.dumps({"format": 1})}, "no 'state' dict"),
    "unknown tensor": ({"chainrule": _doc(state={"w": {"__tensor__": "t9", "dtype": "float32"}})},
                       "tensor 't9' as 'float32'"),
    "wrong dtype": ({"chainrule": _doc(state={"w": {"__tensor__": "t0", "dtype": "int64"}})},
                    "tensor 't0' as 'int64'"),
    "bad tensor key": ({"chainrule": _doc(state={"w": {"__tensor__": [1], "dtype": "float32"}})},
                       "tensor \\[1\\]"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_corrupt_file_gets_the_librarys_error_naming_it(tmp_path, case):
    metadata, problem = CORRUPT[case]
    path = tmp_path / "bad.safetensors"
    _raw_file(path, metadata)
    before = _snapshot(tmp_path)
    with pytest.raises(CheckpointError, match=problem) as info:
        cr.load(path)
    assert str(path) in str(info.value) and isinstance(info.value, (ChainruleError, ValueError))
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("damage", ["empty", "7 bytes", "cut in the header", "cut in the data",
                                    "garbage header"])
def test_a_truncated_or_garbled_file_gets_the_librarys_error(tmp_path, damage):
    path = tmp_path / "t.safetensors"
    cr.save(path, {"w": cr.ones((64,)), "step": 1})
    data = path.read_bytes()
    header = int.from_bytes(data[:8], "little")
    path.write_bytes({"empty": b"", "7 bytes": data[:7], "cut in the header": data[:8 + header // 2],
                      "cut in the data": data[:-10],
                      "garbage header": data[:8] + b"\xff" * header + data[8 + header:]}[damage])
    with pytest.raises(CheckpointError, match=r"t\.safetensors' is not a readable chainrule checkpoint"):
        cr.load(path)


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.safetensors"):
        cr.load(tmp_path / "nothing.safetensors")


# ----------------------------------------------------------- random state

@pytest.mark.parametrize("backend", _backends())
def test_random_state_round_trips_through_a_checkpoint(tmp_path, backend):
    cr.random.seed(3)
    cr.random.normal((4,), backend=backend)             # the generator has moved
    state = cr.random.get_state()
    json.dumps(state)                                    # JSON-safe: no pickling needed
    want = [cr.random.uniform((5,), backend=backend).tolist(),
            cr.random.permutation(9, backend=backend).tolist()]
    cr.save(tmp_path / "r.safetensors", {"random": state})
    cr.random.seed(99)                                   # somewhere else entirely
    cr.random.normal((7,), backend=backend)
    cr.random.set_state(cr.load(tmp_path / "r.safetensors")["random"])
    got = [cr.random.uniform((5,), backend=backend).tolist(),
           cr.random.permutation(9, backend=backend).tolist()]
    assert got == want


def test_a_partial_state_leaves_the_other_generators_alone():
    pytest.importorskip("torch", reason="needs a second backend")
    cr.random.seed(4)
    cr.random.normal((2,), backend="torch")
    state = cr.random.get_state(backends=["torch"])
    want = cr.random.normal((3,), backend="torch").tolist()
    cr.random.seed(7)                          # the state's seed (4) must not come back
    cr.random.normal((2,))
    numpy_now = cr.random.get_state(backends=["numpy"])
    cr.random.set_state(state)
    assert cr.random.get_state(backends=["numpy"]) == numpy_now
    assert cr.random.normal((3,), backend="torch").tolist() == want


def test_a_pending_seed_is_part_of_the_state():
    """seed() before a backend's first draw applies at that draw; the state says so."""
    cr.random.seed(5)
    state = cr.random.get_state()
    want = cr.random.normal((3,)).tolist()
    cr.random.seed(6)
    cr.random.normal((3,))
    cr.random.set_state(state)
    assert cr.random.normal((3,)).tolist() == want


def _bad_states():
    good = cr.random.get_state(backends=["numpy"])
    bad = {"not a dict": [1], "missing backends": {"seed": 1, "partial": False},
           "extra key": {**good, "more": 1}, "seed a string": {**good, "seed": "1"},
           "partial not a bool": {**good, "partial": None},
           "unknown backend": {**good, "backends": {"nosuch": {}}},
           "numpy state garbled": {**good, "backends": {"numpy": {"bit_generator": "PCG64"}}}}
    if importlib.util.find_spec("torch") is not None:
        torch_state = cr.random.get_state(backends=["torch"])["backends"]["torch"]
        bad["torch bytes cut"] = {**good, "backends": {     # numpy is set first, then restored
            "numpy": good["backends"]["numpy"], "torch": {"__bytes__": torch_state["__bytes__"][:40]}}}
        bad["torch bytes not base64"] = {**good, "backends": {"torch": {"__bytes__": "%%%"}}}
    return bad


def test_a_bad_random_state_is_refused_and_changes_nothing():
    cr.random.seed(2)
    cr.random.normal((2,))
    for case, state in _bad_states().items():
        before = cr.random.get_state()
        with pytest.raises(CheckpointError, match="cr.random.set_state"):
            cr.random.set_state(state)
        assert cr.random.get_state() == before, case


# --------------------------------------------------------- resuming a run

def _build(backend):
    """A model with dropout (draws from cr.random), AdamW (state), a schedule (the step)."""
    with cr.use_backend(backend):
        net = cr.nn.Sequential(cr.nn.Linear(6, 16), cr.nn.ReLU(), cr.nn.Dropout(0.3),
                               cr.nn.Linear(16, 2))
    lr = cr.schedules.create("warmup_cosine", peak_lr=1e-2, warmup=5, total=30, min_lr=1e-4)
    opt = cr.optim.create("adamw", net.named_parameters(), lr=lr, weight_decay=0.01)
    return net, opt


def _train(net, opt, steps, backend):
    """``steps`` steps on minibatches drawn with cr.random; the losses, as Python floats."""
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((32, 6)).astype(np.float32), backend=backend)
    y = cr.tensor(rng.standard_normal((32, 2)).astype(np.float32), backend=backend)
    losses = []
    for _ in range(steps):
        idx = cr.random.permutation(32, backend=backend)[:8]
        opt.zero_grad()
        loss = cr.nn.mse_loss(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _params(net):
    return {name: p.numpy().copy() for name, p in net.named_parameters()}


def _first_run(path, backend):
    """10 steps, save, 10 more: (losses of the last 10, final parameters)."""
    cr.random.seed(0)
    net, opt = _build(backend)
    _train(net, opt, 10, backend)
    # the generator the run draws from: other test files load backends (an example plugin)
    # that a new process does not have, and set_state refuses a state it cannot restore whole
    cr.save(path, {"model": net.state_dict(), "optimizer": opt.state_dict(),
                   "random": cr.random.get_state(backends=[backend])})
    return _train(net, opt, 10, backend), _params(net)


def _resume(path, backend, parts=("model", "optimizer", "random")):
    """A fresh model (other initial weights), the checkpoint's ``parts`` loaded, 10 steps."""
    cr.random.seed(1234)
    net, opt = _build(backend)
    back = cr.load(path)
    if "model" in parts:
        net.load_state_dict(back["model"])
    if "optimizer" in parts:
        opt.load_state_dict(back["optimizer"])
    if "random" in parts:
        cr.random.set_state(back["random"])
    return _train(net, opt, 10, backend), _params(net)


def _same(a, b):
    (la, pa), (lb, pb) = a, b
    return la == lb and all(np.array_equal(pa[k], pb[k]) for k in pa)


@pytest.mark.parametrize("backend", _backends())
def test_a_resumed_run_continues_bit_identically(tmp_path, backend):
    path = tmp_path / "run.safetensors"
    straight = _first_run(path, backend)
    assert _same(_resume(path, backend), straight)
    # each part matters (the check above could fail): leave one out and the runs part
    for left_out in ("model", "optimizer", "random"):
        parts = {"model", "optimizer", "random"} - {left_out}
        assert not _same(_resume(path, backend, parts), straight), left_out


RESUME_IN_A_NEW_PROCESS = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import chainrule as cr
    import test_serialization as t
    losses, params = t._resume({path!r}, {backend!r})
    cr.save({out!r}, {{"losses": losses, "params": {{k: cr.tensor(v) for k, v in params.items()}}}})
""")


def _slow_selected(request):
    expr = request.config.getoption("markexpr") or ""
    return "slow" in expr and "not slow" not in expr


@pytest.mark.parametrize("backend", ["numpy", pytest.param("torch", marks=pytest.mark.slow)])
def test_a_run_resumed_in_a_new_process_continues_bit_identically(tmp_path, backend, request):
    """No state of this process (a seed, a generator) helps the resumed run."""
    if backend == "torch" and not _slow_selected(request):
        pytest.skip("slow (a second process imports torch): run with pytest -m slow")
    pytest.importorskip(backend, reason=f"{backend} is not installed")
    path, out = str(tmp_path / "run.safetensors"), str(tmp_path / "resumed.safetensors")
    losses, params = _first_run(path, backend)
    code = RESUME_IN_A_NEW_PROCESS.format(tests=os.path.dirname(__file__), path=path,
                                          backend=backend, out=out)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    back = cr.load(out)
    assert back["losses"] == losses
    for name, value in params.items():
        np.testing.assert_array_equal(back["params"][name].numpy(), value)


# ------------------------------------------------------- durability, failures

def test_the_file_and_then_the_rename_are_flushed_to_disk(tmp_path, monkeypatch):
    """fsync of the temporary file before the rename, of the folder after it."""
    events, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        kind = "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(("fsync", kind))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(dst)))
        real_replace(src, dst)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    cr.save(tmp_path / "f.safetensors", {"w": cr.ones((2,))})
    assert events == [("fsync", "file"), ("replace", "f.safetensors"), ("fsync", "folder")]


def test_a_disk_error_mid_save_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    import errno
    path = tmp_path / "g.safetensors"
    cr.save(path, {"w": cr.ones((3,))})
    before = _snapshot(tmp_path)

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(CheckpointError, match=r"g\.safetensors' failed .*No space left.*previous file"):
        cr.save(path, {"w": cr.zeros((3,))})
    monkeypatch.undo()
    assert _snapshot(tmp_path) == before


def test_a_failed_load_changes_nothing(tmp_path):
    net = cr.nn.Linear(3, 2)
    path = tmp_path / "h.safetensors"
    cr.save(path, {"model": net.state_dict()})
    path.write_bytes(path.read_bytes()[:-4])              # truncated
    params, rng, files = _params(net), cr.random.get_state(), _snapshot(tmp_path)
    with pytest.raises(CheckpointError):
        net.load_state_dict(cr.load(path)["model"])
    assert cr.random.get_state() == rng and _snapshot(tmp_path) == files
    assert all(np.array_equal(v, _params(net)[k]) for k, v in params.items())


def test_threads_saving_to_one_path_never_take_each_others_temporaries(tmp_path):
    import threading
    path, errors = tmp_path / "t.safetensors", []

    def saver(k):
        try:
            for i in range(15):
                cr.save(path, {"who": k, "i": i, "w": cr.full((1000,), float(k))})
        except Exception as exc:        # collected: an assert in a thread would be lost
            errors.append(exc)
    threads = [threading.Thread(target=saver, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    back = cr.load(path)
    assert back["i"] == 14 and back["w"].tolist() == [float(back["who"])] * 1000
    assert os.listdir(tmp_path) == ["t.safetensors"]

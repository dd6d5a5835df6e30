"""cr.save / cr.load: safetensors + JSON metadata, nested state dicts, atomic writes, no pickle."""
import os
import pickle
import sys

import numpy as np
import pytest

import chainrule as cr

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
    with pytest.raises(ValueError, match="not a readable safetensors"):
        cr.load(evil)


def test_an_unsavable_value_is_an_error_and_the_old_file_survives(tmp_path):
    path = tmp_path / "d.safetensors"
    cr.save(path, {"w": cr.ones((3,)), "step": 1})
    before = path.read_bytes()
    with pytest.raises(TypeError, match="/cfg/fn holds a function"):
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

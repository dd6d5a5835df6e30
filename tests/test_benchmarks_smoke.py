"""The benchmarks run (each once, no timings asserted) and measure what they claim to.

A broken benchmark fails here rather than as a silent gap on the asv dashboard.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

ASV = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "asv_bench")
sys.path.insert(0, ASV)

import ci_smoke  # noqa: E402
from benchmarks import workloads as W  # noqa: E402


def test_every_benchmark_runs_once():
    out = ci_smoke.run_all(log=lambda line: None)
    for ident, reason in out["skipped"]:
        print(f"skipped {ident}: {reason}")
    # the NumPy backend is always there: nothing of it may be skipped
    assert not [i for i, _ in out["skipped"] if "('numpy'" in i]
    kinds = {call.rsplit(".", 1)[1].split("_")[0] for call in out["ran"]}
    assert kinds == {"time", "peakmem", "timeraw"}


@pytest.mark.parametrize("batch", [16, 128])
def test_mlp_contenders_do_the_same_arithmetic(batch):
    """chainrule, hand-written NumPy and torch start from the same weights and data and must
    give the same losses step after step, or the speed ratios compare different work."""
    steps = [W.chainrule_mlp_step(batch), W.numpy_mlp_step(batch), W.torch_mlp_step(batch),
             W.chainrule_mlp_step(batch, checkpoint=True)]
    for _ in range(3):
        losses = []
        for step in steps:
            loss = step()
            losses.append(float(loss.item()) if hasattr(loss, "item") else float(loss))
        np.testing.assert_allclose(losses, losses[1], rtol=1e-5)


def test_chain_and_hvp_workloads_agree_with_torch():
    chain_cr = W.chainrule_chain(100, backward=False)().numpy()
    chain_torch = W.torch_chain(100, backward=False)().detach().numpy()
    np.testing.assert_allclose(chain_cr, chain_torch, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(W.chainrule_grad()().numpy(), W.torch_grad()().numpy(),
                               rtol=1e-4, atol=1e-6)
    _, hv = W.chainrule_hvp()()
    np.testing.assert_allclose(hv.numpy(), W.torch_hvp()().numpy(), rtol=1e-3, atol=1e-4)


def test_compare_quick_prints_every_row(tmp_path):
    out = tmp_path / "cmp.json"
    proc = subprocess.run([sys.executable, os.path.join(ASV, "compare.py"), "--quick", "--json",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    import json
    rows = json.loads(out.read_text())["rows"]
    measures = " ".join(r["measure"] for r in rows)
    for word in ("b128", "b16", "elementwise", "HVP", "peak memory", "torch backend", "import"):
        assert word in measures

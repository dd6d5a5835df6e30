"""The benchmarks run (each once, no timings asserted) and measure what they claim to.

A broken benchmark fails here rather than as a silent gap on the asv dashboard.
"""
import json
import math
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


# --- ci_smoke.py --asv-results: what CI concludes from a real `asv run` --------------------
# A results file as asv 0.6 writes it (results/<machine>/<commit[:8]>-<env>.json): one row per
# benchmark, values in the order of the product of its parameters; None = failed, NaN = skipped.
COMMIT = "6c824c7700000000000000000000000000000000"
BACKENDS = ["'numpy'", "'torch'", "'cupy'", "'torch:cuda'"]


def write_asv_results(results_dir, rows, commit=COMMIT):
    columns = ["result", "params", "version", "started_at", "duration"]
    data = {"commit_hash": commit, "env_name": "chained-virtualenv-py3.11", "result_columns": columns,
            "results": {name: [values, params, "v", 0, 1.0] for name, (values, params) in rows.items()}}
    os.makedirs(results_dir / "machine", exist_ok=True)
    with open(results_dir / "machine" / f"{commit[:8]}-chained-virtualenv.json", "w") as f:
        json.dump(data, f)  # NaN is written as NaN, as asv does


def problems(results_dir):
    return ci_smoke.asv_problems(ci_smoke.asv_results(COMMIT, str(results_dir)))


def test_asv_check_passes_numpy_and_torch_numbers_with_gpu_backends_skipped(tmp_path):
    write_asv_results(tmp_path, {
        "bench_ops.Chain.time": ([1.0, 2.0, 3.0, 4.0, math.nan, math.nan, math.nan, math.nan],
                                 [BACKENDS, ["'forward'", "'forward+backward'"]]),
        "bench_ops.Large.time": ([1.0, 2.0, math.nan, math.nan], [BACKENDS])})
    assert problems(tmp_path) == []


@pytest.mark.parametrize("broken, expected", [
    ([1.0, None, math.nan, math.nan], "bench_ops.Large.time(\"'torch'\",): failed"),
    ([1.0, math.nan, math.nan, math.nan], "bench_ops.Large.time: no torch result"),
    ([None, 2.0, math.nan, math.nan], "bench_ops.Large.time: no numpy result"),
    ([None] * 4, "bench_ops.Large.time: no torch result"),        # a commit that did not build
])
def test_asv_check_fails_on_a_failure_or_a_missing_backend(tmp_path, broken, expected):
    write_asv_results(tmp_path, {"bench_ops.Chain.time": ([1.0, 2.0, math.nan, math.nan], [BACKENDS]),
                                 "bench_ops.Large.time": (broken, [BACKENDS])})
    assert expected in problems(tmp_path)


def test_asv_check_fails_without_results_for_the_commit(tmp_path):
    other = COMMIT[:8] + "f" * 32  # same file-name prefix, another commit
    write_asv_results(tmp_path, {"bench_ops.Large.time": ([1.0, 2.0, math.nan, math.nan], [BACKENDS])},
                      commit=other)
    assert problems(tmp_path) == ["asv recorded no results for this commit"]

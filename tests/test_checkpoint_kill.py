"""A save killed at any moment leaves the previous or the new checkpoint whole.

A fresh Python process (this file run as a script: imports chainrule once) forks a
child that saves a checkpoint over and over, SIGKILLs it at a random moment, checks
the file, and starts again, many times.  Each save writes ``{"i": i, "w": full(i),
"tail": i}``, and the child reports each completed save through a pipe, so after a
kill the file must load whole and hold the last reported ``i`` (or the next one:
killed after the rename, before the report).  Temporary files left by a kill must be
gone after the next completed save.  Counts are printed (``pytest -s``).
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("safetensors", reason="cr.save needs the optional safetensors package")
pytestmark = pytest.mark.skipif(os.name != "posix" or not hasattr(os, "fork"),
                                reason="the kill test forks and sends SIGKILL (POSIX)")

WORDS = 1 << 20       # 4 MiB of float32: a save takes long enough to be hit in the middle


def _kill_rounds(tmp_path, rounds, seed):
    done = subprocess.run([sys.executable, __file__, str(tmp_path), str(rounds), str(seed)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(report, rounds):
    print(f"\nkill test: {report['kills']} kills, {report['intact']} files intact "
          f"({report['previous']} held the previous save, {report['new']} the new one), "
          f"{report['temps_left']} kills left a temporary file, all removed by the next save; "
          f"{report['completed']} saves completed; a save took {report['save_s']:.3f} s")
    assert report["kills"] == rounds
    assert report["problems"] == []
    assert report["intact"] == rounds == report["previous"] + report["new"]
    assert report["final_listing"] == ["c.safetensors"]
    # the kills did land in the middle of saves, not only between them
    assert report["temps_left"] > 0 and report["previous"] > 0


def test_a_killed_save_leaves_the_previous_or_the_new_checkpoint_whole(tmp_path):
    _check(_kill_rounds(tmp_path, 50, seed=0), 50)


@pytest.mark.slow
def test_many_killed_saves(tmp_path, request):
    expr = request.config.getoption("markexpr") or ""
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("slow (500 kills): run with pytest -m slow")
    _check(_kill_rounds(tmp_path, 500, seed=1), 500)


# ------------------------------------------------------------ the killer process

def _state(i):
    import numpy as np
    import chainrule as cr
    return {"i": i, "w": cr.tensor(np.full(WORDS, i, np.float32)), "tail": i}


def _saver(path, start, report_fd):
    """The child: save start+1, start+2, ... forever, reporting each completed save."""
    import chainrule as cr
    i = start
    while True:
        i += 1
        cr.save(path, _state(i))
        os.write(report_fd, i.to_bytes(8, "little"))


def _read_index(path):
    """The checkpoint's i, after checking that every part of it says the same."""
    import numpy as np
    import chainrule as cr
    back = cr.load(path)
    i = back["i"]
    w = back["w"].numpy()
    if back["tail"] != i or w.shape != (WORDS,) or not np.array_equal(w, np.full(WORDS, i, np.float32)):
        raise AssertionError(f"checkpoint parts disagree: i={i}, tail={back['tail']}, w[:3]={w[:3]}")
    return i


def _one_round(path, folder, start, delay):
    """Fork a saver, kill it after ``delay`` s; (file's i, last reported i, temps it left)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:                                    # the child never returns
        os.close(read_fd)
        try:
            _saver(path, start, write_fd)
        finally:
            os._exit(1)
    os.close(write_fd)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    reported = b""
    while chunk := os.read(read_fd, 1 << 16):
        reported += chunk
    os.close(read_fd)
    last = int.from_bytes(reported[-8:], "little") if reported else start
    temps = [n for n in os.listdir(folder) if f".chainrule-{pid}-" in n]
    return _read_index(path), last, temps


def main(folder, rounds, seed):
    import chainrule as cr
    rng = random.Random(seed)
    path = os.path.join(folder, "c.safetensors")
    times = []
    for _ in range(4):                              # the first save also imports: not counted
        t0 = time.perf_counter()
        cr.save(path, _state(0))
        times.append(time.perf_counter() - t0)
    save_s = sorted(times[1:])[1]
    report = {"kills": 0, "intact": 0, "previous": 0, "new": 0, "temps_left": 0, "completed": 0,
              "problems": [], "save_s": save_s}
    current, earlier_temps = 0, []
    for r in range(rounds):
        try:
            found, last, temps = _one_round(path, folder, current, rng.uniform(0, 3 * save_s))
        except Exception as exc:                    # a checkpoint that did not load whole
            report["kills"] += 1
            report["problems"].append(f"round {r}: {type(exc).__name__}: {exc}")
            break
        report["kills"] += 1
        report["completed"] += max(found - current, 0)
        if found not in (last, last + 1):
            report["problems"].append(f"round {r}: file holds {found}, last completed save {last}")
        else:
            report["intact"] += 1
            report["previous" if found == last else "new"] += 1
        if last > current:                          # a save completed: older leftovers are gone
            stale = [n for n in earlier_temps if os.path.exists(os.path.join(folder, n))]
            if stale:
                report["problems"].append(f"round {r}: a completed save left stale {stale}")
            earlier_temps = []
        earlier_temps += temps
        report["temps_left"] += bool(temps)
        current = found
    cr.save(path, _state(current + 1))              # a last save cleans up what the kills left
    report["final_listing"] = sorted(os.listdir(folder))
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))

"""A 2-config × 2-seed sweep gives the same table locally and on a local Ray instance, and a
restarted sweep does not rerun finished trials."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from affectrl.cli import main
from affectrl.train.sweep import expand, pending_trials

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _configs(tmp_path: Path) -> list[str]:
    concat = tmp_path / "concat.yaml"
    concat.write_text(f"base: {CONFIGS / 'mosi_bclstm_concat.yaml'}\nname: sweep_concat\n")
    text = tmp_path / "text_only.yaml"
    text.write_text(
        f"base: {CONFIGS / 'mosi_bclstm_concat.yaml'}\nname: sweep_text\nmodalities: [text]\n"
    )
    return [str(concat), str(text)]


def test_sweep_local_equals_ray_and_resumes(tmp_path, capsys):
    configs = _configs(tmp_path)
    common = ["--config", *configs, "--seeds", "1", "2", "--set", "train.epochs=2"]
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert main(["sweep", *common, "--out", str(local)]) == 0
    assert main(["sweep", *common, "--out", str(on_ray), "--ray"]) == 0
    a = pd.read_csv(local / "sweep_results.csv")
    b = pd.read_csv(on_ray / "sweep_results.csv")
    assert list(a["method"]) == ["sweep_concat", "sweep_text"]
    assert (a["seeds"] == 2).all()
    pd.testing.assert_frame_equal(a, b)
    # Restart: nothing pending, nothing rerun (metrics files untouched).
    trials = expand(configs, [1, 2], ("train.epochs=2",))
    assert pending_trials(trials, local) == []
    stamp = (local / "sweep_concat" / "seed-1" / "metrics.json").stat().st_mtime_ns
    assert main(["sweep", *common, "--out", str(local)]) == 0
    assert (local / "sweep_concat" / "seed-1" / "metrics.json").stat().st_mtime_ns == stamp
    assert "sweep_text" in capsys.readouterr().out


def test_two_trials_of_one_folder_run_once_or_are_refused(tmp_path):
    import pytest

    from affectrl.train.sweep import pending_trials

    first = tmp_path / "a.yaml"
    first.write_text("dataset: mosi\nname: same\ntrain: {lr: 1.0e-3}\n")
    copy = tmp_path / "b.yaml"
    copy.write_text(first.read_text())
    trials = expand([str(first), str(copy)], [1])
    assert [t.config for t in pending_trials(trials, tmp_path / "out")] == [str(first)]
    (tmp_path / "b.yaml").write_text("dataset: mosi\nname: same\ntrain: {lr: 1.0e-2}\n")
    with pytest.raises(ValueError, match=r"two trials write .*same/seed-1: .*a.yaml and .*b.yaml"):
        pending_trials(expand([str(first), str(copy)], [1]), tmp_path / "out")


def _spawned_workers(parent: int) -> list[int]:
    """Pids of the multiprocessing workers `parent` spawned (its children running spawn_main)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [
        int(c)
        for c in children
        if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()
    ]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_sweep_killed_with_sigkill_leaves_no_worker_running(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from conftest import write_byo

    folder = write_byo(tmp_path / "byo")
    config = tmp_path / "long.yaml"
    config.write_text(f"dataset: byo:{folder}\nname: long\ntrain: {{epochs: 100000}}\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "affectrl.cli", "sweep", "--config", str(config)]
    sweep = subprocess.Popen([*command, "--seeds", "1", "--workers", "1", "--out", str(out)])
    workers: list[int] = []
    try:
        deadline = time.time() + 120
        while not (out / "long" / "seed-1" / "config.yaml").is_file():  # the worker is training
            assert time.time() < deadline and sweep.poll() is None
            time.sleep(0.2)
        workers = _spawned_workers(sweep.pid)
        assert workers
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait()
        deadline = time.time() + 10
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers)
    finally:
        for pid in [sweep.pid, *workers]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

"""`affectrl sweep --search`: a search space in YAML, Ray Tune with ASHA and Optuna, best.yaml,
and a restart after kill -9 that reruns no finished trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import write_byo

from affectrl.cli import main
from affectrl.train.search import SearchSpace, run_search

SPACE = """\
space:
  train.lr: {loguniform: [1.0e-3, 1.0e-1]}
  model.classifier.hidden: {choice: [4, 8]}
trials: 8
"""


def _search_files(tmp_path: Path, space: str = SPACE) -> tuple[Path, Path]:
    write_byo(tmp_path / "byo")
    base = tmp_path / "base.yaml"  # the data by a relative path: trials run in this folder
    base.write_text(
        "name: tiny\ndataset: byo:byo\nmodel: {classifier: {hidden: 8, dropout: 0.0}}\n"
        "train: {epochs: 3, batch_size: 4}\n"
    )
    path = tmp_path / "space.yaml"
    path.write_text(space)
    return base, path


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ("trials: 3\n", "needs a non-empty `space:`"),
        ("space: {train.lr: {normal: [0, 1]}}\n", r"space.train.lr: give one of"),
        ("space: {train.lr: {uniform: [0.1, 0.01]}}\n", "low < high"),
        ("space: {train.lr: {loguniform: [0, 0.1]}}\n", "loguniform needs low > 0"),
        ("space: {train.lr: {choice: []}}\n", "non-empty list"),
        ("space: {train.lr: {choice: [0.1]}}\nsamples: 3\n", r"unknown keys \['samples'\]"),
        ("space: {train.lr: {choice: [0.1]}}\ntrials: 0\n", "positive integer"),
    ],
)
def test_a_bad_search_space_is_an_error_naming_the_file(tmp_path, space, message):
    path = tmp_path / "space.yaml"
    path.write_text(space)
    with pytest.raises(ValueError, match=message):
        SearchSpace.load(path)


def test_a_misspelt_key_or_another_search_in_the_folder_fails_before_any_trial(tmp_path):
    base, space_file = _search_files(tmp_path, "space: {train.lrr: {choice: [0.1, 0.2]}}\n")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="lrr"):
        run_search(str(base), SearchSpace.load(space_file), out)
    assert not (out / "_ray").exists()
    out.mkdir()
    (out / "search.json").write_text('{"config": "other.yaml"}')
    space_file.write_text(SPACE)
    with pytest.raises(ValueError, match="holds a different search"):
        run_search(str(base), SearchSpace.load(space_file), out)


def _metrics_files(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in out.glob("trials/*/seed-1/metrics.json")}


@pytest.mark.parametrize("state", ["as_left", "cut"])
def test_search_finishes_writes_best_yaml_and_resumes_after_kill_9(
    tmp_path, capsys, monkeypatch, state
):
    """A 2-key, 8-trial search on a local Ray instance, killed with -9 once two trials have
    finished, then restarted: no finished trial is rerun, all 8 are in the table, and the
    best config trains. "cut": the kill also cut Ray's experiment state file (it writes in
    place; seen under load), so the restart begins a new experiment."""
    monkeypatch.chdir(tmp_path)
    base, space = _search_files(tmp_path)
    out = tmp_path / "out"
    command = ["sweep", "--config", str(base), "--search", str(space), "--out", str(out)]
    search = subprocess.Popen(
        [sys.executable, "-m", "affectrl.cli", *command],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 300
        while len(_metrics_files(out)) < 2:
            assert search.poll() is None and time.time() < deadline, "search ended early"
            time.sleep(0.2)
    finally:
        os.kill(search.pid, signal.SIGKILL)
        search.wait()
    finished = _metrics_files(out)
    assert not (out / "best.yaml").exists()  # killed mid-search
    if state == "cut":
        newest = max((out / "_ray").glob("*/experiment_state-*.json"))
        newest.write_text("")
    assert main(command) == 0
    assert {p: _metrics_files(out)[p] for p in finished} == finished  # none rerun
    table = pd.read_csv(out / "search_results.csv")
    assert len(table) == 8 and table["trial"].is_unique
    assert table["finished"].any() and (table["epochs"] <= 3).all()
    assert {"train.lr", "model.classifier.hidden", "dev_score"} <= set(table.columns)
    best = yaml.safe_load((out / "best.yaml").read_text())
    top = table[table["finished"]].iloc[0]
    assert best["train"]["lr"] == pytest.approx(top["train.lr"])
    assert best["model"]["classifier"]["hidden"] == top["model.classifier.hidden"]
    assert best["name"] == "tiny_best"
    assert "best config" in capsys.readouterr().out
    runs = tmp_path / "runs"
    assert main(["train", "--config", str(out / "best.yaml"), "--runs-dir", str(runs)]) == 0
    assert (runs / "tiny_best" / "seed-1" / "metrics.json").is_file()


def test_an_experiment_state_cut_by_a_kill_starts_a_new_experiment_and_keeps_the_old(tmp_path):
    """Ray writes its experiment state in place; a kill -9 mid-write leaves an empty file, from
    which Ray would restore nothing and then fail for want of a search space."""
    from affectrl.train.search import readable_experiment_state

    experiment = tmp_path / "_ray" / "search"
    experiment.mkdir(parents=True)
    (experiment / "tuner.pkl").write_bytes(b"x")
    (experiment / "experiment_state-2026-01-01_00-00-00.json").write_text('{"trial_data": []}')
    assert readable_experiment_state(experiment) and experiment.is_dir()
    (experiment / "experiment_state-2026-01-01_00-00-09.json").write_text("")
    assert not readable_experiment_state(experiment)
    assert not experiment.exists()
    kept = tmp_path / "_ray" / "search.unreadable-1"
    assert (kept / "tuner.pkl").is_file() and len(list(kept.glob("experiment_state-*"))) == 2
    experiment.mkdir()
    assert not readable_experiment_state(experiment)  # no state at all: a new experiment too
    assert (tmp_path / "_ray" / "search.unreadable-2").is_dir()

"""`affectrl eval RUN --noise-grid NAME`: a trained run evaluated on every cell of a noise grid."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from affectrl.cli import main

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mosi_bclstm_concat.yaml"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A 1-epoch MOSI run folder with seeds 1 and 2, shared by the tests of this module."""
    runs = tmp_path_factory.mktemp("runs")
    args = ["train", "--config", str(CONFIG), "train.epochs=1", "--seeds", "1", "2"]
    assert main([*args, "--runs-dir", str(runs), "--quiet"]) == 0
    return runs / "mosi_bclstm_concat"


def test_eval_noise_grid_writes_table_and_plot(trained_run, capsys):
    assert main(["eval", str(trained_run), "--noise-grid", "quick"]) == 0
    seed_dir = trained_run / "seed-1"
    table = pd.read_csv(seed_dir / "robustness_quick.csv")
    assert len(table) == 10 and table["cell"].iloc[0] == "clean"
    clean = table.loc[table["cell"] == "clean", "accuracy"].iloc[0]
    text_missing = table.loc[table["cell"] == "text/missing/0.6", "accuracy"].iloc[0]
    assert 0.5 < clean <= 1 and text_missing < clean
    assert (seed_dir / "robustness_quick.png").stat().st_size > 5_000
    assert "text/missing/0.6" in capsys.readouterr().out


def test_eval_unknown_grid_is_a_clear_error(trained_run, capsys):
    assert main(["eval", str(trained_run), "--noise-grid", "nope"]) == 1
    assert "unknown noise protocol 'nope'" in capsys.readouterr().err


def test_eval_noise_grid_quiet_prints_no_progress_bar(trained_run, capsys):
    assert main(["eval", str(trained_run), "--noise-grid", "quick"]) == 0
    assert "grid quick" in capsys.readouterr().err  # the progress bar, by default
    assert main(["eval", str(trained_run), "--noise-grid", "quick", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "grid quick" not in captured.err and "text/missing/0.6" in captured.out


def test_grid_corruptions_follow_each_runs_seed_unless_given(trained_run, capsys):
    assert main(["eval", str(trained_run), "--noise-grid", "quick", "--quiet"]) == 0
    for seed in (1, 2):  # each seed folder's grid uses that run's seed, as the benchmarks do
        table = pd.read_csv(trained_run / f"seed-{seed}" / "robustness_quick.csv")
        assert set(table["seed"]) == {seed}
    means = [
        pd.read_csv(trained_run / f"seed-{s}" / "robustness_quick.csv")["accuracy"].mean()
        for s in (1, 2)
    ]
    expected = f"quick grid accuracy {100 * sum(means) / 2:.2f}"
    assert expected in capsys.readouterr().out  # the mean over seeds
    args = ["eval", str(trained_run / "seed-2"), "--noise-grid", "quick", "--grid-seed", "7"]
    assert main([*args, "--quiet"]) == 0
    table = pd.read_csv(trained_run / "seed-2" / "robustness_quick.csv")
    assert set(table["seed"]) == {7}

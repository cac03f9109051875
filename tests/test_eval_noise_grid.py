"""`affectrl eval RUN --noise-grid NAME`: a trained run evaluated on every cell of a noise grid."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from affectrl.cli import main

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mosi_bclstm_concat.yaml"


def test_eval_noise_grid_writes_table_and_plot(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert (
        main(
            [
                "train",
                "--config",
                str(CONFIG),
                "train.epochs=1",
                "--seeds",
                "1",
                "--runs-dir",
                str(runs),
                "--quiet",
            ]
        )
        == 0
    )
    run = runs / "mosi_bclstm_concat"
    assert main(["eval", str(run), "--noise-grid", "quick"]) == 0
    seed_dir = run / "seed-1"
    table = pd.read_csv(seed_dir / "robustness_quick.csv")
    assert len(table) == 10 and table["cell"].iloc[0] == "clean"
    clean = table.loc[table["cell"] == "clean", "accuracy"].iloc[0]
    text_missing = table.loc[table["cell"] == "text/missing/0.6", "accuracy"].iloc[0]
    assert 0.5 < clean <= 1 and text_missing < clean
    assert (seed_dir / "robustness_quick.png").stat().st_size > 5_000
    assert "text/missing/0.6" in capsys.readouterr().out


def test_eval_unknown_grid_is_a_clear_error(tmp_path, capsys):
    runs = tmp_path / "runs"
    main(
        [
            "train",
            "--config",
            str(CONFIG),
            "train.epochs=1",
            "--seeds",
            "1",
            "--runs-dir",
            str(runs),
            "--quiet",
        ]
    )
    assert main(["eval", str(runs / "mosi_bclstm_concat"), "--noise-grid", "nope"]) == 1
    assert "unknown noise protocol 'nope'" in capsys.readouterr().err

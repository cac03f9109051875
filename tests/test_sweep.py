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

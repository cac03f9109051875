"""The main job's machinery: the spec of configs/demo.yaml, runs side by side, and a closing
table that says what won beside the full benchmark's figures (a tiny spec on tiny data)."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import write_byo

from affectrl.cli import main
from affectrl.commands.demo_cmd import SPEC, _compare, load_spec, run_config


def test_the_shipped_spec_names_known_configs_and_full_figures():
    from affectrl.train.trainer import resolve_config

    comparisons = load_spec(SPEC)
    assert {c["agent"] for c in comparisons} == {
        "ravdess_av_rl_fusion_agent",
        "iemocap6_rl_graph_agent",
    }
    for comparison in comparisons:
        for name, entry in comparison["runs"].items():
            config = run_config(name, entry)
            assert resolve_config(config, 1)["name"] == name  # every setting known
        assert set(comparison["full"]["figures"]) == set(comparison["runs"])


def test_a_bad_spec_is_an_error(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("comparisons: [{metric: test_accuracy, agent: x, runs: {x: {}, y: {}}, z: 1}]")
    with pytest.raises(ValueError, match=r"unknown keys \['z'\]"):
        load_spec(path)
    path.write_text("comparisons: [{metric: grid_accuracy, agent: x, runs: {x: {}, y: {}}}]")
    with pytest.raises(ValueError, match="a grid and metric grid_accuracy go together"):
        load_spec(path)


def test_the_verdict_says_who_won_and_whether_the_full_benchmark_agrees():
    comparison = {
        "title": "t",
        "what": "the agent",
        "metric": "test_accuracy",
        "agent": "a",
        "runs": {"a": {}, "b": {}, "c": {}},
        "full": {"source": "here", "figures": {"a": 60.0, "b": 61.0, "c": 50.0}},
    }
    figures = {"a": {"test_accuracy": [0.7, 0.8]}, "b": {"test_accuracy": [0.7]}, "c": {}}
    figures["c"]["test_accuracy"] = [0.5]
    result = _compare(comparison, figures, [1, 2])
    assert result["best_baseline"] == "b" and result["demo_diff"] == pytest.approx(5.0)
    assert result["full_diff"] == pytest.approx(-1.0) and result["agrees"] is False
    assert "beats the best baseline (b) by 5.00" in result["verdict"]
    assert "DISAGREES" in result["verdict"] and result["full_best_baseline"] == "b"
    # the full benchmark's diff is against its own best baseline, not the demo's
    comparison["full"]["figures"] = {"a": 60.0, "b": 55.0, "c": 62.0}
    result = _compare(comparison, figures, [1, 2])
    assert result["best_baseline"] == "b" and result["full_best_baseline"] == "c"
    assert result["full_diff"] == pytest.approx(-2.0) and result["agrees"] is False
    assert "against its best baseline (c)" in result["verdict"]


def test_demo_runs_a_spec_and_writes_the_table_and_report(tmp_path, capsys):
    folder = write_byo(tmp_path / "byo")
    base = {
        "dataset": f"byo:{folder}",
        "model": {"classifier": {"hidden": 8, "dropout": 0.0}},
        "train": {"epochs": 2, "batch_size": 4, "lr": 1.0e-2},
    }
    spec = {
        "comparisons": [
            {
                "title": "bigger classifier vs smaller",
                "what": "the bigger classifier",
                "metric": "test_accuracy",
                "agent": "big",
                "runs": {
                    "big": {"config": base, "set": ["model.classifier.hidden=16"]},
                    "small": {"config": base, "set": ["model.classifier.hidden=2"]},
                },
                "full": {"source": "nowhere", "figures": {"big": None, "small": None}},
            }
        ]
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    runs = tmp_path / "demo"
    assert main(["demo", "--spec", str(path), "--runs-dir", str(runs), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "the bigger classifier (big)" in out and "no recorded figure" in out
    demo = json.loads((runs / "demo.json").read_text())
    assert set(demo["comparisons"][0]["runs"]) == {"big", "small"}
    assert (runs / "report" / "report.html").is_file()
    assert (runs / "big" / "seed-1" / "metrics.json").is_file()

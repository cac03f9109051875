"""Speaker-grouped cross-validation end to end (train, eval, noise grid, report, significance),
and an audio+visual fusion agent on a bring-your-own speech dataset without dev: the curriculum,
the plots and the agent's weights follow the modalities the data has."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from affectrl.cli import main
from affectrl.data.folds import split_groups
from affectrl.report import collect_runs
from affectrl.report.tables import significance_table
from affectrl.train.run_folder import finished_runs, load_run, read_config

SPEAKERS = 8
PER_SPEAKER = 24
CLASSES = ("angry", "calm", "happy", "sad")


@pytest.fixture(scope="module")
def speech_folder(tmp_path_factory) -> Path:
    """A BYO folder of independent clips (one-clip dialogues), 8 speakers, no dev split: audio
    and visual features that each tell the class (with a per-speaker offset), test = the
    last two speakers."""
    folder = tmp_path_factory.mktemp("byo") / "speech"
    (folder / "features").mkdir(parents=True)
    rng = np.random.default_rng(0)
    centres = {"audio": rng.normal(size=(4, 6)), "visual": rng.normal(size=(4, 5))}
    rows, feats = [], {"audio": [], "visual": []}
    for s in range(SPEAKERS):
        offset = {m: rng.normal(scale=2.0, size=c.shape[1]) for m, c in centres.items()}
        for k in range(PER_SPEAKER):
            label = k % 4
            rows.append(f"s{s}_{k},0,spk{s},{CLASSES[label]},{'test' if s >= 6 else 'train'}")
            for m, c in centres.items():
                feats[m].append(1.6 * c[label] + offset[m] + rng.normal(size=c.shape[1]))
    header = "dialogue_id,order,speaker,label,split"
    (folder / "utterances.csv").write_text("\n".join([header, *rows]) + "\n")
    for m, x in feats.items():
        np.save(folder / "features" / f"{m}.npy", np.asarray(x, np.float32))
    return folder


def _config(folder: Path, fusion: dict, **extra) -> dict:
    return {
        "name": fusion["name"],
        "dataset": f"byo:{folder}",
        "standardize": "speaker",
        "model": {
            "fusion": fusion,
            "context": {"name": "none"},
            "classifier": {"hidden": 16, "dropout": 0.1},
            "unimodal_loss_weight": 1.0,
        },
        "train": {"epochs": 6, "batch_size": 16, "lr": 5e-3, "select_metric": "accuracy"},
        **extra,
    }


def test_cross_validation_pools_folds_for_eval_grids_report_and_tests(speech_folder, tmp_path):
    runs = tmp_path / "runs"
    cv = {"folds": 4, "group": "speaker"}
    for fusion in ({"name": "concat", "encoder_dim": 16}, {"name": "attention", "hidden": 16}):
        config = _config(speech_folder, fusion)
        config["train"]["cv"] = cv
        path = tmp_path / f"{fusion['name']}.yaml"
        path.write_text(yaml.safe_dump(config))
        seeds = ["1", "2"] if fusion["name"] == "concat" else ["1"]
        argv = ["train", "--config", str(path), "--seeds", *seeds, "--runs-dir", str(runs)]
        assert main([*argv, "--quiet"]) == 0
    seed_dir = runs / "concat" / "seed-1"
    metrics = json.loads((seed_dir / "metrics.json").read_text())
    assert metrics["test"]["num_utterances"] == SPEAKERS * PER_SPEAKER  # every clip once
    assert [f["groups"]["test"] for f in metrics["folds"]] == [
        [f"spk{2 * k}", f"spk{2 * k + 1}"] for k in range(4)
    ]
    for f in metrics["folds"]:  # dev: one speaker, the first training one after the test fold
        assert len(f["groups"]["dev"]) == 1 and f["groups"]["dev"][0] not in f["groups"]["test"]
        assert not set(f["groups"]["train"]) & set(f["groups"]["dev"] + f["groups"]["test"])
    preds = json.loads((seed_dir / "predictions.json").read_text())["test"]
    assert sorted(preds["utterance_ids"]) == sorted(
        f"s{s}_{k}_0" for s in range(8) for k in range(24)
    )
    correct = np.mean(np.asarray(preds["gold"]) == np.asarray(preds["pred"]))
    assert metrics["test"]["accuracy"] == pytest.approx(correct)
    assert correct > 0.5  # chance 0.25: the folds are trained, not just pooled
    summary = json.loads((runs / "concat" / "summary.json").read_text())
    assert summary["test"]["accuracy"]["n"] == 2

    assert main(["eval", str(seed_dir), "--noise-grid", "quick", "--quiet"]) == 0
    evaluated = json.loads((seed_dir / "eval.json").read_text())
    assert evaluated["test"]["accuracy"] == metrics["test"]["accuracy"]
    cells = pd.read_csv(seed_dir / "robustness_quick.csv")
    assert list(cells["cell"])[0] == "clean" and len(cells) == 7  # the text cells do not apply
    assert (cells["n"] == SPEAKERS * PER_SPEAKER).all()
    clean = cells.loc[cells["cell"] == "clean", "accuracy"].item()
    assert clean == pytest.approx(metrics["test"]["accuracy"])
    assert (seed_dir / "fold-3" / "robustness_quick.csv").is_file()

    records = collect_runs([runs])
    assert sorted((r.method, r.seed) for r in records) == [
        ("attention", 1),
        ("concat", 1),
        ("concat", 2),
    ]  # the folds are inside their seed, not runs of their own
    table = significance_table(records, metric="accuracy")
    assert table["pairs"].tolist() == [4]  # the folds of the common seed
    assert main(["report", str(runs), "--out", str(tmp_path / "report")]) == 0


def _train_agent(folder: Path, tmp_path: Path, agent: dict) -> Path:
    """Train a small audio+visual fusion agent run with `agent` settings -> its seed folder."""
    fusion = {"name": "agent", "hidden": 16, "dropout": 0.1}
    config = _config(folder, fusion, agent=agent, noise={"protocol": "curriculum-standard"})
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    runs = tmp_path / "runs"
    assert main(["train", "--config", str(path), "--runs-dir", str(runs), "--quiet"]) == 0
    return runs / "agent" / "seed-1"


def test_an_audio_visual_agent_run_follows_the_data_modalities(speech_folder, tmp_path):
    """An agent run on audio+visual data (no text) with the standard curriculum and the
    RAVDESS grid for its plots finishes: nothing assumes a text modality."""
    agent = {"train": True, "iterations": 5, "plot_grid": "ravdess-av-standard"}
    seed_dir = _train_agent(speech_folder, tmp_path, agent)
    for name in ("fusion_weights.png", "fusion_traces.png"):
        assert (seed_dir / name).stat().st_size > 5_000, name
    weights = pd.read_csv(seed_dir / "fusion_weights.csv").set_index("cell")
    assert weights.loc["audio/missing/1", "w_audio"] == 0 and "visual/dim_mask/1" in weights.index
    assert not weights.index.str.contains("raw-").any()  # shipped features: no raw cells


def test_a_cross_fitted_agent_learns_from_held_out_copies_of_its_backbone(
    speech_folder, tmp_path
):
    """`agent.cross_fit: 2`: two copies of the backbone, each with half the training speakers
    held out, are trained inside the run folder; the policy learns from their held-out clips,
    and the copies are not runs of their own for reports."""
    agent = {"train": True, "iterations": 6, "cross_fit": 2, "plot_grid": "quick"}
    seed_dir = _train_agent(speech_folder, tmp_path, agent)
    runs = seed_dir.parent.parent
    stage = json.loads((seed_dir / "metrics.json").read_text())["agent"]
    assert stage["cross_fit"] == 2 and stage["iterations"] == 6
    # training speakers spk0-5 minus the carved dev speaker spk0: two blocks, each held out once
    held = []
    for j in (1, 2):
        copy = seed_dir / "cross_fit" / f"holdout-{j}"
        assert read_config(copy)["train"]["holdout"] == {"folds": 2, "fold": j}
        assert read_config(copy)["agent"]["train"] is False  # no RL stage inside the copies
        groups = split_groups(load_run(copy).dataset)
        assert groups["dev"] == ["spk0"] and not set(groups["train"]) & set(groups["test"])
        held.append(groups["test"])
    assert held == [["spk1", "spk2", "spk3"], ["spk4", "spk5"]]
    assert [p.name for p in finished_runs([runs])] == ["seed-1"]


def test_agent_settings_are_checked_before_training(speech_folder, tmp_path, capsys):
    fusion = {"name": "agent", "hidden": 8}
    for agent, message in (
        ({"train": True, "plot_grid": "nope"}, "unknown noise protocol 'nope'"),
        (
            {"train": True, "reward": {"alpah": 1.0}},
            "unknown config setting `agent.reward.alpah`; did you mean `alpha`?",
        ),
    ):
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(_config(speech_folder, fusion, agent=agent)))
        assert main(["train", "--config", str(path), "--runs-dir", str(tmp_path / "r")]) == 1
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    cv = _config(speech_folder, {"name": "concat"})
    cv["train"]["cv"] = {"folds": 1}
    path.write_text(yaml.safe_dump(cv))
    assert main(["train", "--config", str(path), "--runs-dir", str(tmp_path / "r")]) == 1
    assert "train.cv.folds must be an integer >= 2" in capsys.readouterr().err

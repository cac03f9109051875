"""Training runs on real CMU-MOSI: determinism, kill/resume, run folders, train and eval CLI."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import yaml

from affectrl.cli import main
from affectrl.config import load_config
from affectrl.train import Run, resolve_config, train_seeds
from affectrl.train.checkpoint import load_weights

TINY = {
    "name": "tiny",
    "dataset": "mosi",
    "model": {
        "fusion": {"name": "attention", "hidden": 16, "dropout": 0.2},
        "context": {"name": "bilstm", "hidden": 8, "dense": 8, "dropout": 0.2},
        "classifier": {"hidden": 8, "dropout": 0.2},
        "unimodal_loss_weight": 0.3,
    },
    "train": {"epochs": 3, "batch_size": 16, "lr": 1e-3, "select_metric": "accuracy"},
}


def _strip(metrics: dict) -> dict:
    """Metrics without wall-clock timings."""
    out = {k: v for k, v in metrics.items() if "s_per_epoch" not in k}
    out["history"] = [
        {k: v for k, v in h.items() if "seconds" not in k} for h in metrics["history"]
    ]
    return out


def test_same_config_and_seed_give_identical_metrics(tmp_path):
    a = Run(resolve_config(TINY, 7), tmp_path / "a", progress=False).train()
    b = Run(resolve_config(TINY, 7), tmp_path / "b", progress=False).train()
    c = Run(resolve_config(TINY, 8), tmp_path / "c", progress=False).train()
    assert _strip(a) == _strip(b)
    assert _strip(a)["history"] != _strip(c)["history"]
    wa, _ = load_weights(tmp_path / "a" / "model.safetensors")
    wb, _ = load_weights(tmp_path / "b" / "model.safetensors")
    assert all((wa[k] == wb[k]).all() for k in wa)


class Killed(Exception):
    pass


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    config = resolve_config(TINY, 3)
    full = Run(config, tmp_path / "full", progress=False).train()

    def die_after_2(epoch, history):
        if epoch == 2:
            raise Killed

    with pytest.raises(Killed):
        Run(config, tmp_path / "killed", progress=False).train(on_epoch_end=die_after_2)
    assert (tmp_path / "killed" / "checkpoint.safetensors").is_file()
    assert not (tmp_path / "killed" / "metrics.json").exists()
    resumed = Run(config, tmp_path / "killed", progress=False).train()
    assert _strip(resumed) == _strip(full)
    assert not (tmp_path / "killed" / "checkpoint.safetensors").exists()
    assert not (tmp_path / "killed" / "best.safetensors").exists()


def test_run_folder_contents_and_config_guard(tmp_path):
    config = resolve_config({**TINY, "train": {**TINY["train"], "epochs": 1}}, 1)
    run_dir = tmp_path / "r"
    metrics = Run(config, run_dir, progress=False).train()
    for name in ("config.yaml", "model.safetensors", "metrics.json", "predictions.json"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    assert yaml.safe_load((run_dir / "config.yaml").read_text()) == config
    epoch = metrics["history"][0]  # wall and CPU seconds, training alone and with evaluation
    assert 0 < epoch["train_seconds"] <= epoch["seconds"]
    assert 0 < epoch["train_cpu_seconds"] <= epoch["cpu_seconds"]
    for split in ("dev", "test"):
        m = metrics[split]
        assert {"accuracy", "weighted_f1", "macro_f1", "per_class", "confusion_matrix"} <= set(m)
        assert sum(map(sum, m["confusion_matrix"])) == m["num_utterances"]
    preds = json.loads((run_dir / "predictions.json").read_text())
    assert len(preds["test"]["gold"]) == len(preds["test"]["utterance_ids"]) == 752
    other = resolve_config({**TINY, "train": {**TINY["train"], "epochs": 2}}, 1)
    with pytest.raises(ValueError, match="different config"):
        Run(other, run_dir, progress=False).train()
    # a run written before a setting existed resumes under the code that added it (default
    # value), and is still refused when the new setting is not at its default
    older = copy.deepcopy(config)
    del older["train"]["fused_adam"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(older, sort_keys=False))
    assert Run(config, run_dir, progress=False).train()["test"] == metrics["test"]
    fused = copy.deepcopy(config)
    fused["train"]["fused_adam"] = True
    with pytest.raises(ValueError, match="different config"):
        Run(fused, run_dir, progress=False).train()


def test_fixed_weights_are_tuned_on_dev(tmp_path):
    """The chosen weights are the simplex grid point best on dev, and the saved model holds
    them: a no-op or mis-scored tuning fails here."""
    from affectrl.eval.predict import evaluate
    from affectrl.models.tuning import simplex_grid
    from affectrl.train import load_run

    config = {**TINY, "model": {**TINY["model"], "fusion": {"name": "fixed", "hidden": 16}}}
    config["train"] = {**TINY["train"], "epochs": 1}
    metrics = Run(resolve_config(config, 1), tmp_path, progress=False).train()
    weights = metrics["fixed_weights"]
    assert len(weights) == 3 and sum(weights) == pytest.approx(1.0)
    run = load_run(tmp_path)
    fusion = run.model.fusion
    assert fusion.fixed_weights.tolist() == pytest.approx(weights)
    dev = run.splits["dev"].in_order()
    scores = {}
    for point in simplex_grid(3):
        fusion.fixed_weights.copy_(torch.tensor(point))
        scores[point] = evaluate(run.model, dev, run.dataset.label_names)[0]["accuracy"]
    best = max(scores.values())
    assert scores[tuple(weights)] == best
    # the first grid point reaching the best score is the one kept
    assert tuple(weights) == next(p for p, v in scores.items() if v == best)
    assert metrics["dev"]["accuracy"] == pytest.approx(best)


def test_train_and_eval_cli_multi_seed(tmp_path, capsys):
    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(TINY))
    runs = tmp_path / "runs"
    argv = ["train", "--config", str(config_path), "train.epochs=2", "--seeds", "1", "2"]
    assert main([*argv, "--runs-dir", str(runs), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "±" in out
    summary = json.loads((runs / "tiny" / "summary.json").read_text())
    assert summary["seeds"] == [1, 2] and summary["test"]["accuracy"]["n"] == 2
    assert (runs / "tiny" / "summary.csv").read_text().startswith("split,metric,mean,std,n")
    assert main(["eval", str(runs / "tiny")]) == 0
    for seed in (1, 2):
        trained = json.loads((runs / "tiny" / f"seed-{seed}" / "metrics.json").read_text())
        evaluated = json.loads((runs / "tiny" / f"seed-{seed}" / "eval.json").read_text())
        assert evaluated["test"]["accuracy"] == trained["test"]["accuracy"]
    # rerunning skips finished seeds and gives the same summary
    again = train_seeds(
        yaml.safe_load(config_path.read_text()) | {"train": {**TINY["train"], "epochs": 2}},
        [1, 2],
        runs / "tiny",
        progress=False,
    )
    assert again["test"] == summary["test"]


def test_cli_errors_are_clear(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: mosi\nmodel: {fusion: {name: nope}}\n")
    assert main(["train", "--config", str(bad), "--runs-dir", str(tmp_path), "--quiet"]) == 1
    assert "unknown fusion 'nope'" in capsys.readouterr().err


def test_train_settings_are_checked_and_overrides_may_follow_options(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    runs = str(tmp_path / "runs")
    assert main(["train", "--config", str(config), "train.epochs=abc", "--runs-dir", runs]) == 1
    assert "train.epochs must be an integer >= 1, got 'abc'" in capsys.readouterr().err
    text_lr = tmp_path / "text_lr.yaml"
    text_lr.write_text("base: tiny.yaml\ntrain: {lr: 1e-4}\n")  # YAML 1.1 reads 1e-4 as text
    assert main(["train", "--config", str(text_lr), "--runs-dir", runs]) == 1
    assert "got '1e-4' (YAML reads 1e-4 as text: write 1.0e-4)" in capsys.readouterr().err
    # overrides after the options; 1e-4 on the command line is the number
    args = ["train", "--config", str(config), "--runs-dir", runs, "--quiet", "train.epochs=1"]
    assert main([*args, "train.lr=1e-4"]) == 0
    resolved = yaml.safe_load((tmp_path / "runs" / "tiny" / "seed-1" / "config.yaml").read_text())
    assert resolved["train"]["epochs"] == 1 and resolved["train"]["lr"] == 1e-4
    with pytest.raises(SystemExit):  # anything else after the options is still refused
        main([*args, "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    # an override typed after `--seeds 1` is not read as a seed
    seeds = ["train", "--config", str(config), "--runs-dir", runs, "--quiet", "--seeds", "1"]
    assert main([*seeds, "train.epochs=1", "name=after_seeds"]) == 0
    assert (tmp_path / "runs" / "after_seeds" / "seed-1" / "metrics.json").is_file()


def test_a_null_section_means_its_defaults_and_a_non_mapping_is_refused():
    plain = resolve_config({**TINY, "noise": {"protocol": "curriculum-standard"}}, 1)
    assert plain["noise"] == {"protocol": "curriculum-standard"}
    assert resolve_config({**TINY, "noise": None}, 1)["noise"] == {"protocol": None}
    with pytest.raises(ValueError, match="section `train:` must be a mapping"):
        resolve_config({**TINY, "train": [3]}, 1)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {**TINY, "train": {**TINY["train"], "epochz": 3}},
            r"unknown config setting `train.epochz`; did you mean `epochs`\?",
        ),
        ({**TINY, "datset": "x"}, r"unknown config setting `datset`; did you mean `dataset`\?"),
    ],
)
def test_a_misspelt_setting_is_refused_not_silently_defaulted(config, message):
    with pytest.raises(ValueError, match=message):
        resolve_config(config, 1)


def test_misspelt_agent_and_model_settings_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"`agent.iteration`; did you mean `iterations`"):
        resolve_config({**TINY, "agent": {"train": True, "iteration": 5}}, 1)
    model = {**TINY["model"], "classifier": {"hiden": 10}}
    with pytest.raises(ValueError, match=r"`model.classifier.hiden`; did you mean `hidden`"):
        resolve_config({**TINY, "model": model}, 1)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    runs = tmp_path / "runs"
    argv = ["train", "--config", str(config), "train.epochz=1", "--runs-dir", str(runs)]
    assert main([*argv, "--quiet"]) == 1
    assert "train.epochz" in capsys.readouterr().err


def test_a_section_naming_another_component_replaces_the_base_section(tmp_path, capsys):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY))
    swap = tmp_path / "swap.yaml"
    swap.write_text("base: base.yaml\nmodel: {context: {name: cogmen, hidden: 16}}\n")
    tweak = tmp_path / "tweak.yaml"
    tweak.write_text("base: base.yaml\nmodel: {context: {dropout: 0.5}}\n")
    assert load_config(swap)["model"]["context"] == {"name": "cogmen", "hidden": 16}
    merged = load_config(tweak)["model"]["context"]
    assert merged == {**TINY["model"]["context"], "dropout": 0.5}
    # an option the component does not take is a config error naming the section
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: base.yaml\nmodel: {context: {dense_units: 8}}\n")
    assert main(["train", "--config", str(bad), "--runs-dir", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "model.context 'bilstm' does not take an option" in err and "dense_units" in err


def test_sigkilled_cli_run_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGKILL a real `affectrl train` process after its first checkpoint, start it again."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "epochs": 6}}))
    repo = Path(__file__).resolve().parents[1]

    def command(runs):
        return [sys.executable, "-m", "affectrl", "train", "--config", str(config_path)] + [
            "--seeds",
            "4",
            "--runs-dir",
            str(runs),
            "--quiet",
        ]

    full_dir = tmp_path / "full"
    full = Run(resolve_config(load_config(config_path), 4), full_dir, progress=False).train()
    proc = subprocess.Popen(command(tmp_path / "killed"), cwd=repo, stdout=subprocess.DEVNULL)
    checkpoint = tmp_path / "killed" / "tiny" / "seed-4" / "checkpoint.safetensors"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "tiny" / "seed-4" / "metrics.json").exists()
    subprocess.run(command(tmp_path / "killed"), cwd=repo, check=True, capture_output=True)
    resumed = json.loads((tmp_path / "killed" / "tiny" / "seed-4" / "metrics.json").read_text())
    assert _strip(resumed) == _strip(full)

"""A run never uses a damaged checkpoint or weights file, and never finishes quietly on NaN."""

from __future__ import annotations

import re

import pytest

from affectrl.cli import main
from affectrl.train import Run, resolve_config


class Killed(Exception):
    pass


def _killed_after_epoch_1(config, run_dir):
    def die(epoch, history):
        raise Killed

    with pytest.raises(Killed):
        Run(resolve_config(config, 1), run_dir, progress=False).train(on_epoch_end=die)
    return run_dir / "checkpoint.safetensors"


def test_a_checkpoint_overwritten_with_nan_bytes_is_refused_on_resume(tiny_config, tmp_path):
    from conftest import spoil

    checkpoint = _killed_after_epoch_1(tiny_config, tmp_path / "run")
    spoil(checkpoint)
    with pytest.raises(ValueError, match=r"checkpoint.safetensors: (checksum|non-finite)"):
        Run(resolve_config(tiny_config, 1), tmp_path / "run", progress=False).train()


def test_a_truncated_checkpoint_is_an_error_naming_the_file(tiny_config, tmp_path):
    checkpoint = _killed_after_epoch_1(tiny_config, tmp_path / "run")
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"checkpoint.safetensors: not a readable safetensors"):
        Run(resolve_config(tiny_config, 1), tmp_path / "run", progress=False).train()


def test_eval_refuses_model_weights_overwritten_with_nan_bytes(tiny_config, tmp_path, capsys):
    from conftest import spoil

    run_dir = tmp_path / "run"
    Run(resolve_config(tiny_config, 1), run_dir, progress=False).train()
    spoil(run_dir / "model.safetensors")
    assert main(["eval", str(run_dir), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "model.safetensors: " in err and ("checksum" in err or "non-finite" in err)


@pytest.mark.parametrize("name", ["../../escaped", "ABSOLUTE", "."])
def test_a_run_name_cannot_write_outside_the_runs_dir(tiny_config, tmp_path, capsys, name):
    import yaml

    name = str(tmp_path / "a" / "escaped") if name == "ABSOLUTE" else name
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**tiny_config, "name": name}))
    runs = tmp_path / "a" / "b" / "runs"
    assert main(["train", "--config", str(config), "--runs-dir", str(runs), "--quiet"]) == 1
    assert "run name" in capsys.readouterr().err
    assert not (tmp_path / "a" / "escaped").exists() and not runs.exists()


def _train_cli(tmp_path, config: dict, *overrides: str) -> int:
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    runs = str(tmp_path / "runs")
    return main(["train", "--config", str(path), "--runs-dir", runs, "--quiet", *overrides])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.grad_clip=-1", r"train.grad_clip must be a finite number > 0 .* got -1"),
        ("train.grad_clip=0", r"train.grad_clip must be a finite number > 0"),
        ("train.lr=.inf", r"train.lr must be at most 1000.0 \(a typo\?\), got inf"),
        ("train.lr=.nan", r"train.lr must be a number >= 0, got nan"),
        ("train.lr=1e4", r"train.lr must be at most 1000.0 \(a typo\?\), got 10000.0"),
        ("train.weight_decay=-.inf", r"train.weight_decay must be a number >= 0, got -inf"),
        ("train.threads=100000", r"train.threads must be at most 256 \(a typo\?\)"),
        ("train.epochs=1000000000", r"train.epochs must be at most 100000"),
        ("modalities=text", r"`modalities:` must be a list of distinct modality names"),
        ("modalities=[text,text]", r"`modalities:` must be a list of distinct"),
    ],
)
def test_settings_that_would_wreck_a_run_are_refused(
    tiny_config, tmp_path, capsys, override, message
):
    assert _train_cli(tmp_path, tiny_config, override) == 1
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


def test_a_base_cycle_is_an_error_naming_the_chain(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("base: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("base: sub/c.yaml\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text("base: ../a.yaml\ndataset: mosi\n")
    assert main(["train", "--config", str(tmp_path / "a.yaml"), "--runs-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "config `base:` cycle: " in err and "a.yaml -> " in err and "c.yaml -> " in err


def test_a_diverged_step_is_named_as_the_origin_of_a_nan_loss(tiny_config):
    import torch

    from affectrl.train.finite import NonFiniteLossError, check_loss

    run = Run(resolve_config(tiny_config, 1), "unused", progress=False)
    _, model, splits = run.build()
    batch = splits["train"].in_order()[0]
    with torch.no_grad():
        model.classifier.net[0].weight[0, 0] = float("nan")
    with pytest.raises(
        NonFiniteLossError, match=r"parameter `classifier.net.0.weight` was already"
    ):
        check_loss(float("nan"), "train loss at epoch 2, batch 1", model, batch)


def test_inputs_that_overflow_the_forward_pass_are_named(tiny_config, tmp_path, capsys):
    import numpy as np
    from conftest import write_byo

    folder = write_byo(tmp_path / "wide", dim=64)
    x = np.load(folder / "features" / "text.npy")
    x[5] = np.finfo(np.float32).max  # finite, but the first linear layer overflows to Inf
    np.save(folder / "features" / "text.npy", x)
    assert _train_cli(tmp_path, {**tiny_config, "dataset": f"byo:{folder}"}) == 1
    err = capsys.readouterr().err
    assert re.search(r"loss .* is (nan|inf) .*: the forward pass first gives NaN/Inf in \S+", err)


def test_a_test_split_without_labels_is_an_error_not_zero_metrics(tiny_config, tmp_path, capsys):
    folder = tiny_config["dataset"].removeprefix("byo:")
    table = tmp_path / "tiny_byo" / "utterances.csv"
    rows = table.read_text().splitlines()
    unlabel = [r.replace(",neg,test,", ",,test,").replace(",pos,test,", ",,test,") for r in rows]
    table.write_text("\n".join(unlabel) + "\n")
    assert folder == str(tmp_path / "tiny_byo")
    assert _train_cli(tmp_path, tiny_config) == 1
    assert "utterances.csv: the test split has no labelled utterances" in capsys.readouterr().err


def test_a_second_writer_of_a_run_folder_fails_at_once(tiny_config, tmp_path):
    import os

    config = resolve_config(tiny_config, 1)
    errors = []

    def second_writer(epoch, history):
        if epoch == 1:
            with pytest.raises(
                RuntimeError, match=rf"run.* is in use by another run \(pid {os.getpid()}\)"
            ):
                Run(config, tmp_path / "run", progress=False).train()
            errors.append(epoch)

    Run(config, tmp_path / "run", progress=False).train(on_epoch_end=second_writer)
    assert errors == [1]
    again = Run(config, tmp_path / "run", progress=False).train()  # the lock went with its holder
    assert again["epochs"] == 2

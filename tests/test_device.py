"""`train.device: auto | cpu | cuda[:N]`: the same numbers for cpu and auto on a CPU machine,
clear errors for a device that is not there, a device that is no part of a run's identity."""

from __future__ import annotations

import pytest
import torch

from affectrl.cli import main
from affectrl.device import resolve_device
from affectrl.train import Run, resolve_config

TINY = {
    "dataset": "mosi",
    "standardize": True,
    "model": {
        "fusion": {"name": "gated", "hidden": 16},
        "context": {"name": "bilstm", "hidden": 8, "dense": 8},
        "classifier": {"hidden": 8},
    },
    "train": {"epochs": 2, "batch_size": 16, "lr": 1e-3},
}


def _with_device(device: str) -> dict:
    return {**TINY, "train": {**TINY["train"], "device": device}}


def _numbers(metrics: dict) -> dict:
    """Metrics less wall-clock timings."""
    out = {k: v for k, v in metrics.items() if "s_per_epoch" not in k}
    out["history"] = [{k: v for k, v in h.items() if "seconds" not in k} for h in out["history"]]
    return out


def test_cpu_and_auto_give_identical_metrics(tmp_path):
    cpu = Run(resolve_config(_with_device("cpu"), 3), tmp_path / "cpu", progress=False).train()
    auto = Run(resolve_config(_with_device("auto"), 3), tmp_path / "auto", progress=False).train()
    expected = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert cpu["device"] == "cpu" and auto["device"] == expected
    if expected == "cpu":  # auto is the CPU here: the very same run
        assert _numbers(cpu) == _numbers(auto)
        csv = "predictions.csv"
        assert (tmp_path / "cpu" / csv).read_text() == (tmp_path / "auto" / csv).read_text()


def test_the_device_is_no_part_of_a_runs_identity(tmp_path):
    """A finished (or killed) run is picked up again on another device."""
    done = Run(resolve_config(_with_device("cpu"), 1), tmp_path / "r", progress=False).train()
    again = Run(resolve_config(_with_device("auto"), 1), tmp_path / "r", progress=False).train()
    assert again == done


def test_device_names_are_checked_before_anything_runs(tmp_path, capsys):
    with pytest.raises(ValueError, match="train.device must be auto"):
        resolve_config(_with_device("gpu"), 1)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == resolve_device("auto")
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda:0")
    assert main(["extract", "mosi", "--device", "tpu"]) == 1
    assert "--device must be auto (CUDA when available, else CPU)" in capsys.readouterr().err

"""Finished run folders: find them, load one ready to predict, and what is computed from one.

The one place a finished run (runs/<name>/seed-<k>/, see `affectrl.train.trainer`) is read back:
`affectrl eval`, `affectrl graph-explain`, the demo, the report's grid runs and every benchmark
go through `load_run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
import yaml

from ..data.types import DialogueDataset
from .checkpoint import load_weights
from .data import Batches
from .trainer import Run

WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"


class LoadedRun(NamedTuple):
    """A finished run: its dataset, its model (the weights chosen on dev, eval mode, a trained
    agent deciding) and its splits (`Batches` with the run's input transform)."""

    dataset: DialogueDataset
    model: torch.nn.Module
    splits: dict[str, Batches]
    config: dict[str, Any]
    run_dir: Path


def seed_dirs(run_dir: str | Path) -> list[Path]:
    """The seed folders of a run: run_dir itself when it holds config.yaml, else its seed-*/."""
    run_dir = Path(run_dir)
    if (run_dir / CONFIG).is_file():
        return [run_dir]
    found = sorted(p for p in run_dir.glob("seed-*") if (p / CONFIG).is_file())
    if not found:
        raise FileNotFoundError(f"{run_dir}: no {CONFIG} here nor in seed-*/ folders")
    return found


def read_config(seed_dir: str | Path) -> dict[str, Any]:
    """The resolved config a run was trained with."""
    return yaml.safe_load((Path(seed_dir) / CONFIG).read_text())


def load_run(seed_dir: str | Path) -> LoadedRun:
    """(dataset, model with the run's chosen weights in eval mode, splits, config, folder) of a
    finished run."""
    seed_dir = Path(seed_dir)
    if not (seed_dir / WEIGHTS).is_file():
        raise FileNotFoundError(f"{seed_dir} holds no finished run ({WEIGHTS} missing)")
    config = read_config(seed_dir)
    ds, model, splits = Run(config, seed_dir, progress=False).build()
    state, _ = load_weights(seed_dir / WEIGHTS)
    model.load_state_dict(state)
    return LoadedRun(ds, model.eval(), splits, config, seed_dir)


def explain_run(run_dir: str | Path, dialogue_id: str | None = None) -> dict:
    """Draw a finished run's test graphs into its folder (graph_dialogue.png, window_hist.png,
    graph_stats.json; see `affectrl.agents.graph.explain.explain_graphs`); returns the edge
    statistics."""
    from ..agents.graph.explain import explain_graphs

    run = load_run(run_dir)
    return explain_graphs(run.dataset, run.model, run.splits["test"], run.run_dir, dialogue_id)

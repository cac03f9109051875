"""Grouped K-fold cross-validation as a training protocol (`train.cv`).

    train:
      cv: {folds: 4, group: speaker}   # null (default): the dataset's own split

With `train.cv` a seed is K runs, one per fold, in `<seed dir>/fold-<k>/` (k = 1..K): fold k's
groups (speakers, or dialogues with `group: dialogue`) are its test split, dev is carved from
the other groups and the rest trains (the rules: `affectrl.data.folds`). Each fold is an
ordinary resumable run; when all are done the seed folder gets the pooled result:

    config.yaml       the config without a fold
    metrics.json      dev and test metrics pooled over every fold's utterances (each utterance
                      is predicted once, by the fold that held it out), and per fold its
                      metrics and its train / dev / test groups
    predictions.json  the folds' predictions, concatenated in fold order

so that summaries over seeds, `eval`, `report` and the significance tests read a
cross-validated seed like a single run (tests paired over folds x seeds:
`affectrl.eval.significance.fold_scores`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..data.folds import split_groups
from ..eval.metrics import SUMMARY_KEYS, classification_metrics
from ..io import atomic_write, write_json


def cv_settings(config: dict) -> dict | None:
    """The config's `train.cv` with its defaults ({folds, group, fold}), or None."""
    cv = (config.get("train") or {}).get("cv")
    return None if cv is None else {"group": "speaker", "fold": None, **cv}


def fold_config(config: dict, fold: int) -> dict:
    """A copy of a resolved config that runs fold `fold` (1-based) of its cross-validation."""
    out = copy.deepcopy(config)
    out["train"]["cv"] = {**out["train"]["cv"], "fold": fold}
    return out


def fold_dirs(seed_dir: Path, config: dict) -> list[Path]:
    """The fold folders of a cross-validated seed, in fold order."""
    return [Path(seed_dir) / f"fold-{k}" for k in range(1, cv_settings(config)["folds"] + 1)]


def train_seed(config: dict, seed_dir: str | Path, progress: bool = True) -> dict:
    """Train one resolved config: one run, or with `train.cv` (and no fold chosen) one run per
    fold then the pooled result (module docstring). Finished runs are not rerun."""
    from .trainer import Run

    seed_dir = Path(seed_dir)
    cv = cv_settings(config)
    if cv is None or cv["fold"] is not None:
        return Run(config, seed_dir, progress=progress).train()
    _write_config(seed_dir, config)
    if (seed_dir / "metrics.json").is_file():
        return json.loads((seed_dir / "metrics.json").read_text())
    for k, fold_dir in enumerate(fold_dirs(seed_dir, config), start=1):
        Run(fold_config(config, k), fold_dir, progress=progress).train()
    return pool_folds(config, seed_dir)


def _write_config(seed_dir: Path, config: dict) -> None:
    path = seed_dir / "config.yaml"
    if path.is_file():
        if yaml.safe_load(path.read_text()) != config:
            raise ValueError(
                f"{seed_dir} holds a run of a different config; use another --name or delete "
                "the folder"
            )
        return
    text = yaml.safe_dump(config, sort_keys=False)
    atomic_write(path, lambda p: p.write_text(text))


def pool_predictions(per_fold: list[dict]) -> dict:
    """Split -> {utterance_ids, gold, pred} of several folds' predictions, concatenated."""
    pooled: dict[str, dict[str, list]] = {}
    for fold in per_fold:
        for split, p in fold.items():
            merged = pooled.setdefault(split, {"utterance_ids": [], "gold": [], "pred": []})
            for key in merged:
                merged[key] += list(p[key])
    return pooled


def pooled_metrics(predictions: dict, label_names: list[str]) -> dict:
    """Split -> classification metrics over the pooled predictions."""
    return {
        split: classification_metrics(np.asarray(p["gold"]), np.asarray(p["pred"]), label_names)
        for split, p in predictions.items()
    }


def pool_folds(config: dict, seed_dir: str | Path) -> dict:
    """Pool the finished folds of a seed into seed_dir/metrics.json and predictions.json
    (module docstring); returns the pooled metrics."""
    from .data import dataset_for

    seed_dir = Path(seed_dir)
    group = cv_settings(config)["group"]
    folds, per_fold = [], []
    for k, fold_dir in enumerate(fold_dirs(seed_dir, config), start=1):
        metrics = json.loads((fold_dir / "metrics.json").read_text())
        per_fold.append(json.loads((fold_dir / "predictions.json").read_text()))
        ds = dataset_for(fold_config(config, k))
        record = {"fold": k, "groups": split_groups(ds, group)}
        for split in ("dev", "test"):
            record[split] = {key: metrics[split][key] for key in SUMMARY_KEYS}
        for key in ("best_epoch", "s_per_epoch"):
            record[key] = metrics[key]
        folds.append(record)
    predictions = pool_predictions(per_fold)
    results: dict[str, Any] = pooled_metrics(predictions, ds.label_names)
    results |= {
        "seed": config["seed"],
        "dataset": config["dataset"],
        "cv": cv_settings(config),
        "folds": folds,
        "s_per_epoch": float(np.mean([f["s_per_epoch"] for f in folds])),
    }
    write_json(seed_dir / "predictions.json", predictions)
    write_json(seed_dir / "metrics.json", results)
    return results

"""Finished runs (folders holding metrics.json) and what a report needs from them, read through
the run-folder API (`affectrl.train.run_folder`).

Only files that resolve inside their run folder are read: a symlink in a run folder pointing
elsewhere (a `*.png` or `*.csv` linked to a file outside) is skipped with a warning, never
embedded in the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..train.run_folder import (
    CONFIG,
    FOLD_PREFIX,
    METRICS,
    finished_runs,
    own_files,
    read_metrics,
    read_predictions,
    run_method,
)


@dataclass
class RunRecord:
    """One finished training run (one config, one seed).

    Attributes:
        method: the run's name (the folder above `seed-<k>`, i.e. the config's `name`).
        seed: the training seed.
        dataset: dataset registry name.
        path: the run folder.
        metrics: the run's metrics.json (per split: accuracy, weighted_f1, macro_f1, ...).
        images: PNG files the run wrote (robustness curves, fusion weights, graph drawings).
        tables: CSV files the run wrote (e.g. a robustness grid), shown as tables.
    """

    method: str
    seed: int
    dataset: str
    path: Path
    metrics: dict[str, Any]
    images: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)

    def score(self, split: str, metric: str) -> float | None:
        value = self.metrics.get(split, {}).get(metric)
        return None if value is None else float(value)

    def predictions(self, split: str) -> dict[str, Any] | None:
        """Per-utterance gold/pred of `split` from predictions.json, if the run saved them."""
        return read_predictions(self.path, split)

    def histories(self) -> list[list[dict[str, Any]]]:
        """The per-epoch training history of each model the run trained: one per fold of a
        cross-validated seed (its fold folders), else the run's own."""
        folds = own_files(self.path, sorted(self.path.glob(f"{FOLD_PREFIX}*/{METRICS}")))
        sources = [read_metrics(p.parent) for p in folds] if folds else [self.metrics]
        return [m.get("history") or [] for m in sources]

    def _own_text(self, name: str) -> str | None:
        path = self.path / name
        return path.read_text() if path.is_file() and own_files(self.path, [path]) else None

    def graph_stats(self) -> dict[str, Any] | None:
        """The context graph's test edge statistics (graph_stats.json, written by
        `affectrl graph-explain` / `explain_run`), if the run has them."""
        text = self._own_text("graph_stats.json")
        return None if text is None else json.loads(text)

    def config_text(self) -> str | None:
        """The run's resolved config.yaml, as written."""
        return self._own_text(CONFIG)


def _read_run(run: Path) -> RunRecord:
    metrics = read_metrics(run)
    seed = metrics.get("seed", run.name.removeprefix("seed-"))
    return RunRecord(
        method=run_method(run),
        seed=int(seed) if str(seed).isdigit() else 0,
        dataset=str(metrics.get("dataset", "?")),
        path=run,
        metrics=metrics,
        images=own_files(run, sorted(run.glob("*.png"))),
        tables=own_files(run, sorted(run.glob("*.csv"))),
    )


def collect_runs(paths: list[str | Path]) -> list[RunRecord]:
    """Every run under the given folders (searched recursively), sorted by method then seed."""
    records = [_read_run(run) for run in finished_runs(paths)]
    if not records:
        raise FileNotFoundError(
            f"no finished runs (metrics.json) under {', '.join(map(str, paths))}"
        )
    return sorted(records, key=lambda r: (r.dataset, r.method, r.seed))

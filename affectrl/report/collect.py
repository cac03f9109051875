"""Find finished runs (folders holding metrics.json) and read what a report needs from them.

Only files that resolve inside their run folder are read: a symlink in a run folder pointing
elsewhere (a `*.png` or `*.csv` linked to a file outside) is skipped with a warning, never
embedded in the report.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import is_inside


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
        path = self.path / "predictions.json"
        if not path.is_file() or not _own_files(self.path, [path]):
            return None
        return json.loads(path.read_text()).get(split)


def _own_files(run: Path, paths: list[Path]) -> list[Path]:
    """The paths that resolve inside `run`; the others are reported and left out."""
    own = [p for p in paths if is_inside(p, run)]
    for p in sorted(set(paths) - set(own)):
        warnings.warn(f"{p}: points outside its run folder {run}; skipped", stacklevel=3)
    return own


def _read_run(metrics_path: Path) -> RunRecord:
    try:
        metrics = json.loads(metrics_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{metrics_path}: not valid JSON ({exc})") from None
    run = metrics_path.parent
    method = run.parent.name if run.name.startswith("seed-") else run.name
    seed = metrics.get("seed", run.name.removeprefix("seed-"))
    return RunRecord(
        method=method,
        seed=int(seed) if str(seed).isdigit() else 0,
        dataset=str(metrics.get("dataset", "?")),
        path=run,
        metrics=metrics,
        images=_own_files(run, sorted(run.glob("*.png"))),
        tables=_own_files(run, sorted(run.glob("*.csv"))),
    )


def collect_runs(paths: list[str | Path]) -> list[RunRecord]:
    """Every run under the given folders (searched recursively), sorted by method then seed."""
    records = []
    for root in map(Path, paths):
        if not root.exists():
            raise FileNotFoundError(f"run folder not found: {root}")
        found = [root / "metrics.json"] if (root / "metrics.json").is_file() else []
        found += sorted(p for p in root.rglob("metrics.json") if p.parent != root)
        records += [_read_run(p) for p in _own_files(root, found)]
    if not records:
        raise FileNotFoundError(
            f"no finished runs (metrics.json) under {', '.join(map(str, paths))}"
        )
    unique = {r.path.resolve(): r for r in records}
    return sorted(unique.values(), key=lambda r: (r.dataset, r.method, r.seed))

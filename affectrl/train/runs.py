"""Several seeds of one config: runs/<name>/seed-<k>/ each, then mean ± std over seeds."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from ..eval.metrics import SUMMARY_KEYS, mean_std
from ..io import atomic_write, write_json
from .cv import train_seed
from .run_folder import named_run_dir
from .trainer import resolve_config


def run_name(config: dict, config_path: str | Path | None = None) -> str:
    """The config's `name`, else its file stem."""
    if config.get("name"):
        return str(config["name"])
    if config_path is not None:
        return Path(config_path).stem
    raise ValueError("config has no `name:` and no file name to take one from")


def fit(
    config: dict | str | Path,
    seeds: Sequence[int] = (1,),
    runs_dir: str | Path = "runs",
    name: str | None = None,
    progress: bool = True,
) -> dict:
    """Train a config (a dict as in configs/*.yaml, or a YAML path) once per seed into
    runs_dir/<name>/seed-<k>/, as `affectrl train` does (finished seeds are not rerun, a
    killed one resumes); name: default the config's `name`, else the file stem. Returns the
    summary of `summarise`."""
    from ..config import load_config

    path = None
    if not isinstance(config, dict):
        path, config = config, load_config(config)
    run_dir = named_run_dir(runs_dir, name or run_name(config, path))
    return train_seeds(config, list(seeds), run_dir, progress=progress)


def train_seeds(config: dict, seeds: list[int], run_dir: str | Path, progress: bool = True) -> dict:
    """Train one run per seed in run_dir/seed-<k> (finished seeds are not rerun; with
    `train.cv`, one run per fold in seed-<k>/fold-<f>, pooled), then summarise."""
    run_dir = Path(run_dir)
    results = {}
    for seed in seeds:
        results[seed] = train_seed(resolve_config(config, seed), run_dir / f"seed-{seed}", progress)
    return summarise(run_dir, results)


def summarise(run_dir: str | Path, results: dict[int, dict]) -> dict:
    """Mean ± std over seeds of accuracy / weighted F1 / macro F1 on dev and test, plus s/epoch.

    Writes run_dir/summary.json and run_dir/summary.csv (one row per split and metric).
    """
    run_dir = Path(run_dir)
    seeds = sorted(results)
    summary: dict = {"seeds": seeds, "run_dir": str(run_dir)}
    rows = []
    for split in ("dev", "test"):
        for key in SUMMARY_KEYS:
            values = [results[s][split][key] for s in seeds]
            stats = mean_std(values)
            summary.setdefault(split, {})[key] = {**stats, "values": values}
            rows.append([split, key, stats["mean"], stats["std"], stats["n"], *values])
    times = [results[s].get("s_per_epoch", 0.0) for s in seeds]
    summary["s_per_epoch"] = mean_std(times)
    write_json(run_dir / "summary.json", summary)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["split", "metric", "mean", "std", "n", *[f"seed-{s}" for s in seeds]])
    writer.writerows(rows)
    atomic_write(run_dir / "summary.csv", lambda p: p.write_text(buf.getvalue()))
    return summary


def format_summary(summary: dict) -> str:
    """A small table: split, metric, mean ± std (in %) over the seeds."""
    lines = [f"{summary['run_dir']}  seeds {summary['seeds']}"]
    for split in ("dev", "test"):
        stats = [summary[split][key] for key in SUMMARY_KEYS]
        cells = [
            f"{key} {100 * s['mean']:.2f} ± {100 * s['std']:.2f}"
            for key, s in zip(SUMMARY_KEYS, stats, strict=True)
        ]
        lines.append(f"  {split:4s} " + "   ".join(cells))
    lines.append(f"  s/epoch {summary['s_per_epoch']['mean']:.3f}")
    return "\n".join(lines)

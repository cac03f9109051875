"""Training: one run per (config, seed) in its own resumable folder; several seeds summarised;
finished run folders read back (`load_run` and what is computed from a loaded run)."""

from .run_folder import (
    LoadedRun,
    evaluate_run,
    explain_run,
    grid_run,
    load_run,
    named_run_dir,
    seed_dirs,
    train_run,
)
from .runs import format_summary, run_name, summarise, train_seeds
from .trainer import DEFAULTS, Run, evaluate, predict, resolve_config

__all__ = [
    "DEFAULTS",
    "LoadedRun",
    "Run",
    "evaluate",
    "evaluate_run",
    "explain_run",
    "format_summary",
    "grid_run",
    "load_run",
    "predict",
    "resolve_config",
    "named_run_dir",
    "run_name",
    "seed_dirs",
    "summarise",
    "train_run",
    "train_seeds",
]

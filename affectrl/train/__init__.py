"""Training: one run per (config, seed) in its own resumable folder; several seeds summarised."""

from .runs import format_summary, run_folder, run_name, summarise, train_seeds
from .trainer import DEFAULTS, Run, evaluate, predict, resolve_config

__all__ = [
    "DEFAULTS",
    "Run",
    "evaluate",
    "format_summary",
    "predict",
    "resolve_config",
    "run_folder",
    "run_name",
    "summarise",
    "train_seeds",
]

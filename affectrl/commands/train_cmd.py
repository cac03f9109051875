"""`affectrl train --config CONFIG.yaml [key=value ...] --seeds 1 2 3`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "train",
        help="train a config for one or more seeds (one resumable folder per seed)",
        description="Train CONFIG for each seed into RUNS_DIR/<name>/seed-<k>/ (resolved config, "
        "metrics.json, model.safetensors, predictions.json, TensorBoard events), then print and "
        "save mean ± std over seeds (summary.json, summary.csv). A killed run continues from its "
        "last finished epoch when started again; finished seeds are not rerun.",
    )
    parser.add_argument("--config", required=True, help="YAML config (see configs/)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, e.g. train.epochs=5 (anywhere on the line)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="seeds (default: 1)")
    parser.add_argument("--name", help="run name (default: the config's `name`, else file stem)")
    parser.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..train import format_summary, named_run_dir, run_name, train_seeds

    config = load_config(args.config, args.overrides)
    name = args.name or run_name(config, args.config)
    run_dir = named_run_dir(args.runs_dir, name)
    summary = train_seeds(config, args.seeds, run_dir, progress=not args.quiet)
    print(format_summary(summary))
    print(f"results: {run_dir}/summary.json, {run_dir}/summary.csv")
    return 0

"""`affectrl eval RUN_DIR`: recompute dev/test metrics from a run's saved weights.

A cross-validated seed (`train.cv`) is evaluated fold by fold (each fold folder gets its
eval.json and grid table) and pooled into the seed folder: metrics over all utterances, grid
accuracy per cell over all folds' test utterances."""

from __future__ import annotations

import argparse

from ..device import DEVICE_HELP


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval",
        help="evaluate a trained run folder (a seed folder or a run with seed-* folders)",
        description="Load each finished seed's config.yaml and model.safetensors, recompute dev "
        "and test metrics, print them (and mean ± std over seeds) and write eval.json into each "
        "seed folder.",
    )
    parser.add_argument("run_dir", help="runs/<name> or runs/<name>/seed-<k>")
    parser.add_argument(
        "--noise-grid",
        metavar="NAME",
        help="also evaluate on every cell of a noise grid (see `affectrl noise list`): prints "
        "a table and writes robustness_<NAME>.csv/.json/.png into each seed folder",
    )
    parser.add_argument("--grid-split", default="test", help="split the grid corrupts (test)")
    parser.add_argument(
        "--grid-seed",
        type=int,
        help="seed of the corruptions (default: each run's own seed, as in the benchmarks, so "
        "a run trained like a benchmark's model reproduces its grid figures)",
    )
    parser.add_argument(
        "--device",
        help=f"where the model runs: {DEVICE_HELP} (default: each run's train.device)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from ..eval.metrics import SUMMARY_KEYS, mean_std
    from ..noise.grid import format_table
    from ..train.run_folder import evaluate_run, finished_seed_dirs, grid_run

    per_seed, grid_means = [], []
    for seed_dir in finished_seed_dirs(args.run_dir):
        if args.noise_grid:
            grid_cells = grid_run(
                seed_dir,
                args.noise_grid,
                args.grid_split,
                args.grid_seed,
                progress=not args.quiet,
                device=args.device,
            )
            print(f"{seed_dir}  noise grid {args.noise_grid} ({args.grid_split}):")
            print(format_table(grid_cells))
            grid_means.append(float(grid_cells["accuracy"].mean()))
        results = evaluate_run(seed_dir, args.device)
        per_seed.append(results)
        for split in ("dev", "test"):
            cells = "  ".join(f"{k} {100 * results[split][k]:.2f}" for k in SUMMARY_KEYS)
            print(f"{seed_dir}  {split:4s}  {cells}")
    if len(per_seed) > 1:
        for split in ("dev", "test"):
            stats = {k: mean_std([r[split][k] for r in per_seed]) for k in SUMMARY_KEYS}
            cells = "  ".join(
                f"{k} {100 * s['mean']:.2f} ± {100 * s['std']:.2f}" for k, s in stats.items()
            )
            print(f"mean over {len(per_seed)} seeds  {split:4s}  {cells}")
        if grid_means:
            grid_stats = mean_std(grid_means)
            print(
                f"mean over {len(per_seed)} seeds  {args.noise_grid} grid accuracy "
                f"{100 * grid_stats['mean']:.2f} ± {100 * grid_stats['std']:.2f}"
            )
    return 0

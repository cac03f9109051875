"""`affectrl eval RUN_DIR`: recompute dev/test metrics from a run's saved weights."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from ..eval.metrics import SUMMARY_KEYS
from ..io import write_json
from ..train import Run, evaluate
from ..train.checkpoint import load_weights


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval",
        help="evaluate a trained run folder (a seed folder or a run with seed-* folders)",
        description="Load each seed's config.yaml and model.safetensors, recompute dev and test "
        "metrics, print them and write eval.json into each seed folder.",
    )
    parser.add_argument("run_dir", help="runs/<name> or runs/<name>/seed-<k>")
    parser.set_defaults(func=cmd_eval)


def seed_dirs(run_dir: Path) -> list[Path]:
    if (run_dir / "config.yaml").is_file():
        return [run_dir]
    found = sorted(p for p in run_dir.glob("seed-*") if (p / "config.yaml").is_file())
    if not found:
        raise FileNotFoundError(f"{run_dir}: no config.yaml here nor in seed-*/ folders")
    return found


def evaluate_seed_dir(seed_dir: Path) -> dict:
    """Metrics of the saved weights on dev and test; written to seed_dir/eval.json."""
    config = yaml.safe_load((seed_dir / "config.yaml").read_text())
    run = Run(config, seed_dir, progress=False)
    ds, model, splits = run.build()
    state, _ = load_weights(seed_dir / "model.safetensors")
    model.load_state_dict(state)
    results = {s: evaluate(model, splits[s].in_order(), ds.label_names)[0] for s in ("dev", "test")}
    write_json(seed_dir / "eval.json", results)
    return results


def cmd_eval(args: argparse.Namespace) -> int:
    for seed_dir in seed_dirs(Path(args.run_dir)):
        results = evaluate_seed_dir(seed_dir)
        for split in ("dev", "test"):
            cells = "  ".join(f"{k} {100 * results[split][k]:.2f}" for k in SUMMARY_KEYS)
            print(f"{seed_dir}  {split:4s}  {cells}")
    return 0

"""`affectrl demo`: the main job on real data in a few minutes (baselines until the agents land)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..config import apply_overrides, load_config
from ..io import write_json
from ..train import format_summary, train_seeds

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# (run name, config file, overrides): the baselines the demo trains, fastest first.
DEMO_RUNS = [
    ("mosi_bclstm_concat", "mosi_bclstm_concat.yaml", []),
    ("mosi_bclstm_attention", "mosi_fusion.yaml", ["model.fusion.name=attention"]),
    ("mosi_bclstm_late", "mosi_fusion.yaml", ["model.fusion={name: late}"]),
    ("iemocap6_text_cogmen", "iemocap6_text_cogmen.yaml", ["train.epochs={cogmen_epochs}"]),
]


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="train and evaluate the baselines end to end on real data (a few minutes)",
        description="Trains the CMU-MOSI context baselines (bc-LSTM with concatenation, "
        "attention and late fusion) and COGMEN on IEMOCAP-6 text (all-MiniLM-L6-v2 features, "
        "extracted and cached on first use) with reduced epochs, then prints the results table "
        "and where the run folders are.",
    )
    parser.add_argument("--runs-dir", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="seeds (default: 1)")
    parser.add_argument(
        "--cogmen-epochs", type=int, default=10, help="COGMEN epochs (paper: 55; default 10)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    root = Path(args.runs_dir)
    start = time.perf_counter()
    table = {}
    for name, config_file, overrides in DEMO_RUNS:
        overrides = [o.format(cogmen_epochs=args.cogmen_epochs) for o in overrides]
        config = apply_overrides(load_config(CONFIGS / config_file), [f"name={name}", *overrides])
        print(f"== {name}", flush=True)
        summary = train_seeds(config, args.seeds, root / name, progress=not args.quiet)
        print(format_summary(summary), flush=True)
        table[name] = {
            "test_accuracy": summary["test"]["accuracy"]["mean"],
            "test_weighted_f1": summary["test"]["weighted_f1"]["mean"],
            "run_dir": str(root / name),
        }
    wall = time.perf_counter() - start
    write_json(root / "demo.json", {"runs": table, "wall_s": wall, "seeds": args.seeds})
    print(f"\n{'run':28s} {'test acc':>9s} {'test wF1':>9s}")
    for name, row in table.items():
        print(f"{name:28s} {100 * row['test_accuracy']:9.2f} {100 * row['test_weighted_f1']:9.2f}")
    print(f"\ndone in {wall:.0f} s; results: {root}/demo.json, run folders under {root}/")
    return 0

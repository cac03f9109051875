"""`affectrl demo`: the whole system end to end on real data in a few minutes.

CMU-MOSI: the bc-LSTM concatenation baseline, gated fusion under the noise curriculum and the RL
fusion agent, each then evaluated on the `mosi-standard` noise grid; IEMOCAP-6 text: COGMEN and
the RL graph agent (soft topology) with reduced epochs, with the agent's graph drawn; then one
HTML report over every run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# (run name, config file, overrides): what the demo trains, fastest first.
DEMO_RUNS = [
    ("mosi_bclstm_concat", "mosi_bclstm_concat.yaml", []),
    ("mosi_gated_curriculum", "mosi_gated_curriculum.yaml", []),
    ("mosi_rl_fusion_agent", "mosi_agent.yaml", []),
    ("iemocap6_text_cogmen", "iemocap6_text_cogmen.yaml", ["train.epochs={cogmen_epochs}"]),
    ("iemocap6_rl_graph_agent", "iemocap6_graph_rl_soft.yaml", ["train.epochs={cogmen_epochs}"]),
]
NOISE_GRID = "mosi-standard"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="the whole system end to end on real data (a few minutes): baselines, both RL "
        "agents, the noise grid, an HTML report",
        description="Trains on CMU-MOSI the bc-LSTM concatenation baseline, gated fusion and the "
        "RL fusion agent (both under the noise curriculum) and evaluates them on the "
        f"{NOISE_GRID} noise grid; trains COGMEN and the RL graph agent on IEMOCAP-6 text "
        "(all-MiniLM-L6-v2 features, extracted and cached on first use) with reduced epochs and "
        "draws the agent's graph; then writes one HTML report over every run and prints where "
        "it is. Finished runs are reused when the demo is started again.",
    )
    parser.add_argument("--runs-dir", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="seeds (default: 1)")
    parser.add_argument(
        "--cogmen-epochs", type=int, default=10, help="COGMEN epochs (paper: 55; default 10)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..config import apply_overrides, load_config
    from ..io import write_json
    from ..report import build_report
    from ..train import format_summary, train_seeds
    from ..train.run_folder import explain_run, grid_run, seed_dirs

    root = Path(args.runs_dir)
    start = time.perf_counter()
    table = {}
    for name, config_file, overrides in DEMO_RUNS:
        overrides = [o.replace("{cogmen_epochs}", str(args.cogmen_epochs)) for o in overrides]
        config = apply_overrides(load_config(CONFIGS / config_file), [f"name={name}", *overrides])
        print(f"== {name}", flush=True)
        summary = train_seeds(config, args.seeds, root / name, progress=not args.quiet)
        print(format_summary(summary), flush=True)
        table[name] = {
            "test_accuracy": summary["test"]["accuracy"]["mean"],
            "test_weighted_f1": summary["test"]["weighted_f1"]["mean"],
            "run_dir": str(root / name),
        }
    for name in table:
        if name.startswith("mosi_"):
            print(f"== noise grid {NOISE_GRID}: {name}", flush=True)
            for seed_dir in seed_dirs(root / name):
                grid = grid_run(seed_dir, NOISE_GRID, "test", progress=not args.quiet)
                table[name]["grid_accuracy"] = float(grid["accuracy"].mean())
        if "graph_agent" in name:
            for seed_dir in seed_dirs(root / name):
                explain_run(seed_dir)
    report = build_report([root], root / "report", title="affectrl demo")
    wall = time.perf_counter() - start
    write_json(
        root / "demo.json",
        {"runs": table, "wall_s": wall, "seeds": args.seeds, "report": str(report)},
    )
    print(f"\n{'run':28s} {'test acc':>9s} {'test wF1':>9s} {'grid acc':>9s}")
    for name, row in table.items():
        grid = f"{100 * row['grid_accuracy']:9.2f}" if "grid_accuracy" in row else f"{'':9s}"
        print(
            f"{name:28s} {100 * row['test_accuracy']:9.2f} {100 * row['test_weighted_f1']:9.2f}"
            f" {grid}"
        )
    print(f"\ndone in {wall:.0f} s; run folders under {root}/")
    print(f"report: {report}")
    return 0

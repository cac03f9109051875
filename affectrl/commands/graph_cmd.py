"""`affectrl graph-explain RUN_DIR [--dialogue ID]`: draw what a run's context graph kept."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "graph-explain",
        help="draw the edges and windows a trained run's context graph uses (PNG)",
        description="For a finished run folder (runs/<name>/seed-<k>) rebuild the model, run it on "
        "the test split and write into the folder: graph_dialogue.png (the kept edges over one "
        "dialogue's utterances, with speakers and gold/predicted labels), window_hist.png (the "
        "window used per target utterance by position and by speaker change) and "
        "graph_stats.json (edges per utterance). Works for every context graph (COGMEN's window, "
        "the RL window selector, the edge scorers).",
    )
    parser.add_argument("run_dir", help="a finished seed folder holding model.safetensors")
    parser.add_argument("--dialogue", help="test dialogue id to draw (default: the longest)")
    parser.set_defaults(func=cmd_graph_explain)


def cmd_graph_explain(args: argparse.Namespace) -> int:
    from ..train.run_folder import explain_run

    run_dir = Path(args.run_dir)
    stats = explain_run(run_dir, args.dialogue)  # a clear error if the run is not finished
    print(json.dumps(stats, indent=2))
    print(f"wrote {run_dir}/graph_dialogue.png, {run_dir}/window_hist.png")
    return 0

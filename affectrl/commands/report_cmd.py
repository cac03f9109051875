"""`affectrl report RUN_DIR...`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="aggregate run folders into tables, significance tests, plots and an HTML page",
        description="Collect every finished run (a folder with metrics.json) under the given "
        "folders; write mean ± std tables (Markdown, CSV, LaTeX), per noise grid a plot of the "
        "methods' accuracy against severity and its tables (overall and per cell, over seeds; "
        "from `affectrl eval --noise-grid`), paired significance on the clean metric and the "
        "grid accuracy (over seeds, or fold × seed pairs; Holm-adjusted over the comparisons, "
        "with a note where the seed count cannot reach p < 0.05), the graph runs' test wF1 "
        "against kept edges, learning curves, confusion matrices, the runs' own plots and "
        "resolved configs into OUT/report.html (offline, one file).",
    )
    p.add_argument("run_dirs", nargs="+", help="run folders (searched recursively)")
    p.add_argument("--out", default=None, help="report folder (default: <first run dir>/report)")
    p.add_argument("--title", default="affectrl report")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import build_report

    out = Path(args.out) if args.out else Path(args.run_dirs[0]) / "report"
    path = build_report(args.run_dirs, out, title=args.title)
    print(f"report: {path}")
    return 0

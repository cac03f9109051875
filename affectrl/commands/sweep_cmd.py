"""`affectrl sweep`: configs x seeds x noise protocols, locally or on Ray Tune."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run configs × seeds × noise protocols, locally or on Ray Tune",
        description="Every trial writes <out>/<config name>[__<noise>]/seed-<k>/. Finished "
        "trials are skipped on restart. The result table (mean ± std over seeds) is computed "
        "from the run folders, so local and Ray sweeps print the same table.",
    )
    p.add_argument("--config", nargs="+", required=True, help="YAML configs")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--noise", nargs="+", default=None, help="noise protocols to train under")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--out", required=True, help="sweep folder")
    p.add_argument("--workers", type=int, default=2, help="local processes (default 2)")
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run on Ray Tune: a new local instance, or the cluster at ADDRESS (e.g. auto)",
    )
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from ..report.tables import result_table
    from ..train.sweep import expand, run_local, run_ray

    out = Path(args.out)
    trials = expand(args.config, args.seeds, tuple(args.set), args.noise)
    if args.ray:
        run_ray(
            trials, out, address=None if args.ray == "local" else args.ray, num_cpus=args.workers
        )
    else:
        run_local(trials, out, workers=args.workers)
    print(result_table(out).to_markdown(index=False))
    print(f"results: {out / 'sweep_results.csv'}")
    return 0

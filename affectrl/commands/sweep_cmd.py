"""`affectrl sweep`: configs x seeds x noise protocols, locally or on Ray Tune; or, with
`--search`, a hyper-parameter search around one config on Ray Tune (ASHA + Optuna)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run configs × seeds × noise protocols, or search hyper-parameters (--search), "
        "locally or on Ray Tune",
        description="Every trial writes <out>/<config name>[__<noise>]/seed-<k>/. Finished "
        "trials are skipped on restart. The result table (mean ± std over seeds) is computed "
        "from the run folders, so local and Ray sweeps print the same table. With --search "
        "SPACE.yaml: a search around the one --config on Ray Tune, an ASHA scheduler stopping "
        "weak trials early and an Optuna (TPE) searcher, the objective being the dev score "
        "(the config's train.select_metric) on the first --seeds seed; every trial is a run "
        "folder <out>/trials/<key>/seed-<k>/, the table <out>/search_results.csv, the best "
        "finished trial's config <out>/best.yaml (train it with affectrl train --config). "
        "Restarting the same command resumes a search (even one killed with -9): finished "
        "trials are not rerun. The space file: `space:` with one of {choice: [...]}, "
        "{uniform: [low, high]}, {loguniform: [low, high]} per dotted config key; optional "
        "`trials:` (default 8), `seed:`, `scheduler: {grace_period, reduction_factor}` "
        "(docs/SWEEPS.md). The search's state in <out>/_ray is Ray's own (pickled): restore "
        "only searches you ran yourself.",
    )
    p.add_argument("--config", nargs="+", required=True, help="YAML configs")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--noise", nargs="+", default=None, help="noise protocols to train under")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--out", required=True, help="sweep folder")
    p.add_argument(
        "--workers", type=int, default=2, help="local processes / local Ray CPUs (default 2)"
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="run on Ray Tune: a new local instance, or the cluster at ADDRESS (e.g. auto)",
    )
    p.add_argument(
        "--search",
        default=None,
        metavar="SPACE.yaml",
        help="search the space in this YAML around the one --config (always on Ray Tune: a "
        "new local instance unless --ray ADDRESS)",
    )
    p.add_argument("--trials", type=int, default=None, help="search trials (default: the file's)")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    out = Path(args.out)
    address = None if args.ray in (None, "local") else args.ray
    if args.search:
        return _search(args, out, address)
    if args.trials is not None:
        raise SystemExit("--trials is for --search")
    from ..report.tables import result_table
    from ..train.sweep import expand, run_local, run_ray

    trials = expand(args.config, args.seeds, tuple(args.set), args.noise)
    if args.ray:
        run_ray(trials, out, address=address, num_cpus=args.workers)
    else:
        run_local(trials, out, workers=args.workers)
    print(result_table(out).to_markdown(index=False))
    print(f"results: {out / 'sweep_results.csv'}")
    return 0


def _search(args: argparse.Namespace, out: Path, address: str | None) -> int:
    import dataclasses

    import pandas as pd

    from ..train.search import SearchSpace, run_search

    if len(args.config) != 1 or args.noise:
        raise SystemExit("--search takes one --config (and no --noise: put noise.protocol in it)")
    space = SearchSpace.load(args.search)
    if args.trials is not None:
        if args.trials < 1:
            raise SystemExit("--trials must be at least 1")
        space = dataclasses.replace(space, trials=args.trials)
    result = run_search(args.config[0], space, out, args.set, args.seeds[0], address, args.workers)
    print(pd.read_csv(out / "search_results.csv").to_markdown(index=False))
    best = result["best"]
    print(f"best: trial {best['trial']} dev score {best['dev_score']:.4f} {best['values']}")
    print(f"best config: {out / 'best.yaml'}  (affectrl train --config {out / 'best.yaml'})")
    return 0

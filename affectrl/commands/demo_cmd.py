"""`affectrl demo`: what the toolkit is for, end to end on real data in a few minutes.

The comparisons of configs/demo.yaml (the budget is there): the RL fusion agent against fixed
and gated fusion on RAVDESS audio-visual under a noise grid, and the RL graph agent against
COGMEN on IEMOCAP-6 text. Features are extracted first (one process per dataset), then the runs
train side by side (`--workers` processes, one core each); each is evaluated on its
comparison's grid (or its graphs drawn), one HTML report covers every run, and the closing
table says in words what won, by how much, over which seeds, and whether the full benchmark
(the figures recorded in docs/BENCHMARKS.md) agrees in sign.
"""

from __future__ import annotations

import argparse
import copy
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SPEC = CONFIGS / "demo.yaml"
COMPARISON_KEYS = {"title", "what", "metric", "grid", "explain", "agent", "runs", "full"}
METRICS = {"grid_accuracy", "test_accuracy", "test_weighted_f1"}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="what the toolkit is for, on real data in a few minutes: both RL agents against "
        "their baselines, a noise grid, an HTML report",
        description="Runs the comparisons of configs/demo.yaml (or --spec): the RL fusion agent "
        "against fixed and gated fusion on RAVDESS audio-visual (eGeMAPS from the WAVs + facial "
        "action units, actor-grouped folds) under a noise grid, and the RL graph agent against "
        "COGMEN on IEMOCAP-6 text (all-MiniLM-L6-v2 features), at the budget that file sets. "
        "Features are extracted and cached on first use; finished runs are reused when the demo "
        "is started again. Prints a table that says what won and by how much, beside the full "
        "benchmarks' recorded figures, and where the HTML report is.",
    )
    parser.add_argument("--runs-dir", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="seeds (default: 1)")
    parser.add_argument("--spec", default=str(SPEC), help="comparisons and budget (YAML)")
    parser.add_argument(
        "--workers", type=int, default=2, help="runs trained side by side (default 2)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(func=cmd_demo)


def load_spec(path: str | Path) -> list[dict[str, Any]]:
    """The comparisons of a demo spec, checked: each with a known metric, an agent among its
    runs, and per run a config (a file under configs/ or a mapping) and overrides."""
    import yaml

    path = Path(path)
    spec = yaml.safe_load(path.read_text()) or {}
    comparisons = spec.get("comparisons")
    if not isinstance(comparisons, list) or not comparisons:
        raise ValueError(f"{path}: needs a non-empty `comparisons:` list")
    for i, c in enumerate(comparisons):
        where = f"{path}: comparisons[{i}]"
        unknown = set(c) - COMPARISON_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        if c.get("metric") not in METRICS:
            raise ValueError(f"{where}: metric must be one of {sorted(METRICS)}")
        if (c["metric"] == "grid_accuracy") != bool(c.get("grid")):
            raise ValueError(f"{where}: a grid and metric grid_accuracy go together")
        if c.get("agent") not in (c.get("runs") or {}) or len(c["runs"]) < 2:
            raise ValueError(f"{where}: `agent` must name one of two or more `runs`")
    return comparisons


def run_config(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A demo run's config: its file (under configs/) or mapping, its `set:` overrides, its
    name."""
    from ..config import apply_overrides, load_config

    source, overrides = entry["config"], [*entry.get("set", []), f"name={name}"]
    if isinstance(source, str):
        return load_config(CONFIGS / source, overrides)
    return apply_overrides(copy.deepcopy(source), overrides)


def _extract(config: dict[str, Any], seed: int) -> str:
    """Load a run's dataset with its features (extracting and caching them): one per dataset,
    before the runs, so that no two processes extract the same features at once."""
    from ..train.data import dataset_for
    from ..train.trainer import resolve_config

    dataset_for(resolve_config(config, seed))
    return str(config["dataset"])


def _features_key(config: dict[str, Any]) -> str:
    """Runs with the same dataset and features share one extraction."""
    import json

    return json.dumps([config["dataset"], config.get("features") or {}], sort_keys=True)


def _train(
    name: str, config: dict, seeds: list[int], root: str, grid: str | None, explain: bool
) -> dict[str, Any]:
    """Train one run over the seeds (reused when finished), then its grid or its graphs;
    -> per seed its test accuracy, test weighted F1 and grid accuracy (fractions)."""
    from ..train import train_seeds
    from ..train.run_folder import explain_run, grid_run

    run_dir = Path(root) / name
    summary = train_seeds(config, seeds, run_dir, progress=False)
    figures = {
        "test_accuracy": summary["test"]["accuracy"]["values"],
        "test_weighted_f1": summary["test"]["weighted_f1"]["values"],
        "run_dir": str(run_dir),
    }
    for seed in seeds:
        seed_dir = run_dir / f"seed-{seed}"
        if grid:
            table = grid_run(seed_dir, grid, "test", progress=False)
            figures.setdefault("grid_accuracy", []).append(float(table["accuracy"].mean()))
        if explain:
            explain_run(seed_dir)
    return figures


def _pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing

    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def cmd_demo(args: argparse.Namespace) -> int:
    from ..io import write_json
    from ..report import build_report

    comparisons = load_spec(args.spec)
    root = Path(args.runs_dir)
    start = time.perf_counter()
    runs = {
        name: (run_config(name, entry), c) for c in comparisons for name, entry in c["runs"].items()
    }

    def say(text: str) -> None:
        if not args.quiet:
            print(f"[{time.perf_counter() - start:5.0f} s] {text}", flush=True)

    by_dataset: dict[str, list[str]] = {}  # features key -> the runs that need them
    for name, (config, _) in runs.items():
        by_dataset.setdefault(_features_key(config), []).append(name)
    figures = {}
    with _pool(args.workers) as pool:
        # A dataset's runs start as soon as its features are ready, while the next is extracted.
        pending = {
            pool.submit(_extract, runs[names[0]][0], args.seeds[0]): ("features", key)
            for key, names in by_dataset.items()
        }
        while pending:
            done = next(as_completed(pending))
            what, name = pending.pop(done)
            if what == "features":
                say(f"features ready: {done.result()}")
                for run in by_dataset[name]:
                    config, c = runs[run]
                    grid, explain = c.get("grid"), bool(c.get("explain"))
                    future = pool.submit(_train, run, config, args.seeds, str(root), grid, explain)
                    pending[future] = ("run", run)
            else:
                figures[name] = done.result()
                say(f"trained and evaluated: {name}")
    report = build_report([root], root / "report", title="affectrl demo")
    wall = time.perf_counter() - start
    results = [_compare(c, figures, args.seeds) for c in comparisons]
    write_json(
        root / "demo.json",
        {"comparisons": results, "wall_s": wall, "seeds": args.seeds, "report": str(report)},
    )
    for result in results:
        print(f"\n{result['title']} ({result['metric']}, %, seeds {args.seeds}):")
        print(f"  {'run':30s} {'demo':>7s} {'full':>7s}")
        for name, row in result["runs"].items():
            full = "" if row["full"] is None else f"{row['full']:7.2f}"
            print(f"  {name:30s} {row['demo']:7.2f} {full:>7s}")
        print(f"  {result['verdict']}")
    print(f"\ndone in {wall:.0f} s; run folders under {root}/")
    print(f"report: {report}")
    return 0


def _compare(comparison: dict, figures: dict, seeds: list[int]) -> dict[str, Any]:
    """One comparison's demo figures (mean over seeds, %) beside the full benchmark's, the
    agent against the best other run, and whether the demo agrees with the full benchmark."""
    metric, agent = comparison["metric"], comparison["agent"]
    full = (comparison.get("full") or {}).get("figures") or {}
    rows = {
        name: {
            "demo": 100 * sum(figures[name][metric]) / len(figures[name][metric]),
            "full": full.get(name),
        }
        for name in comparison["runs"]
    }
    others = [n for n in rows if n != agent]
    best = max(others, key=lambda n: rows[n]["demo"])
    diff = rows[agent]["demo"] - rows[best]["demo"]
    # the full benchmark's agent against ITS best baseline (which need not be the demo's):
    # the question both answer is whether the agent beats every baseline shown
    recorded = [n for n in others if rows[n]["full"] is not None]
    full_best = max(recorded, key=lambda n: rows[n]["full"]) if recorded else None
    full_diff = (
        None
        if rows[agent]["full"] is None or full_best is None
        else rows[agent]["full"] - rows[full_best]["full"]
    )
    agrees = None if full_diff is None else (diff > 0) == (full_diff > 0)
    what = comparison.get("what", agent)
    verdict = (
        f"{what} ({agent}) {'beats' if diff > 0 else 'loses to'} the best baseline ({best}) by "
        f"{abs(diff):.2f} points of {metric} over {len(seeds)} seed(s)"
    )
    if full_diff is None:
        verdict += "; the full benchmark has no recorded figure to compare with yet"
    else:
        verdict += (
            f"; the full benchmark ({(comparison.get('full') or {}).get('source')}): "
            f"{full_diff:+.2f} against its best baseline ({full_best}), so the demo "
            f"{'agrees' if agrees else 'DISAGREES'} in sign"
        )
    return {
        "title": comparison["title"],
        "metric": metric,
        "agent": agent,
        "best_baseline": best,
        "full_best_baseline": full_best,
        "demo_diff": diff,
        "full_diff": full_diff,
        "agrees": agrees,
        "runs": rows,
        "verdict": verdict,
    }

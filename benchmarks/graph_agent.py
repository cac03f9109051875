"""Graph agent (issue #6) vs COGMEN's fixed window, the full graph and a soft adjacency.

    python benchmarks/graph_agent.py [--seeds 5] [--datasets iemocap6 meld7 mosi]
        [--methods cogmen full soft_adjacency rl_window rl_hard rl_soft] [--epochs N]

Every (dataset, seed, method) is one resumable run in RUNS_DIR/<dataset>_<method>/seed-<k>/
(finished runs are not rerun, so a cut-off benchmark continues where it stopped). After each
run its graphs are drawn into the run folder (graph_dialogue.png, window_hist.png) and the
results file (RUNS_DIR/results.json) is rewritten. At the end: per dataset the mean test
weighted F1 per method, the RL method best on dev against COGMEN (paired t-test / Wilcoxon
over seeds, approximate randomisation and bootstrap over the test utterances of all seeds), the
fraction of COGMEN's edges it keeps, and its training time per epoch over COGMEN's. The last
line is JSON.
Threads: torch.set_num_threads(--threads, default 1) in every run. Several invocations may share
RUNS_DIR (say one per dataset, or --only-seeds to split the seeds): results.json is re-read before
each write.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affectrl.agents.graph.methods import GRAPH_METHODS, RL_METHODS, method_config  # noqa: E402
from affectrl.eval.significance import (  # noqa: E402
    bootstrap_wf1,
    paired_randomisation_test,
    paired_seed_tests,
)
from affectrl.io import write_json  # noqa: E402
from affectrl.train.run_folder import explain_run, read_predictions  # noqa: E402
from affectrl.train.trainer import Run, resolve_config  # noqa: E402

# COGMEN (official hyper-parameters: lr 1e-4, batch 32, hidden 100, dropout 0.5, window 5/5)
BASES = {
    "iemocap6": {
        "dataset": "iemocap6",
        "features": {"text": "minilm"},
        "modalities": ["text"],
        "model": {"fusion": {"name": "concat"}, "context": {"name": "cogmen"}},
        "train": {"epochs": 55, "batch_size": 32, "lr": 1.0e-4, "eval_test_every_epoch": False},
    },
    "meld7": {
        "dataset": "meld7",
        "features": {"text": "minilm"},
        "modalities": ["text"],
        "model": {"fusion": {"name": "concat"}, "context": {"name": "cogmen"}},
        "train": {"epochs": 55, "batch_size": 32, "lr": 1.0e-4, "eval_test_every_epoch": False},
    },
    "mosi": {
        "dataset": "mosi",
        "modalities": ["text", "audio", "visual"],
        "model": {"fusion": {"name": "concat"}, "context": {"name": "cogmen"}},
        "train": {"epochs": 40, "batch_size": 8, "lr": 1.0e-3, "select_metric": "accuracy"},
    },
}


def run_one(config: dict, run_dir: Path) -> dict:
    run = Run(config, run_dir, progress=True)
    metrics = run.train()
    if not (run_dir / "graph_stats.json").is_file():
        explain_run(run_dir)
    stats = json.loads((run_dir / "graph_stats.json").read_text())
    return {
        "test_wf1": metrics["test"]["weighted_f1"],
        "test_acc": metrics["test"]["accuracy"],
        "dev_wf1": metrics["dev"]["weighted_f1"],
        "s_per_epoch": metrics["s_per_epoch"],
        "train_seconds": float(sum(h["seconds"] for h in metrics["history"])),
        "best_epoch": metrics["best_epoch"],
        "edges_per_utterance": stats["edges_per_utterance"],
        "edge_weight_sum": stats["weight_sum"],
        "test_edges": stats["edges"],
    }


def predictions(run_dir: Path):
    p = read_predictions(run_dir, "test")
    return np.asarray(p["gold"]), np.asarray(p["pred"])


def compare(dataset: str, results: dict, runs_dir: Path) -> dict:
    """Mean test weighted F1 per method, and the RL method best on dev against COGMEN."""
    per = results.get(dataset, {})
    means = {m: float(np.mean([r["test_wf1"] for r in runs.values()])) for m, runs in per.items()}
    out: dict = {"wf1_mean": {m: 100 * v for m, v in means.items()}}
    out["wf1_std"] = {
        m: 100 * float(np.std([r["test_wf1"] for r in runs.values()], ddof=1))
        if len(runs) > 1
        else 0.0
        for m, runs in per.items()
    }
    out["seeds"] = {m: sorted(int(s) for s in runs) for m, runs in per.items()}
    rl = [m for m in RL_METHODS if m in means]
    if "cogmen" not in per or not rl:
        return out
    # the RL method is chosen on dev (mean dev weighted F1), never on test
    dev = {m: np.mean([r["dev_wf1"] for r in per[m].values()]) for m in rl}
    best = max(rl, key=dev.get)
    seeds = sorted(set(per[best]) & set(per["cogmen"]), key=int)
    out["best_rl"] = best
    a = [per[best][s]["test_wf1"] for s in seeds]
    b = [per["cogmen"][s]["test_wf1"] for s in seeds]
    out["paired_seeds"] = {"best_rl_wf1": a, "cogmen_wf1": b}
    if len(seeds) >= 2:
        out["seed_test"] = paired_seed_tests(a, b)
    golds, pa, pb = [], [], []
    for s in seeds:
        gold, pred_a = predictions(runs_dir / f"{dataset}_{best}" / f"seed-{s}")
        gold_b, pred_b = predictions(runs_dir / f"{dataset}_cogmen" / f"seed-{s}")
        if not np.array_equal(gold, gold_b):
            raise ValueError(f"test utterances differ between {best} and cogmen, seed {s}")
        golds.append(gold), pa.append(pred_a), pb.append(pred_b)
    if seeds:
        gold, pa, pb = np.concatenate(golds), np.concatenate(pa), np.concatenate(pb)
        out["randomisation_test"] = paired_randomisation_test(pa == gold, pb == gold)
        out["bootstrap_wf1"] = bootstrap_wf1(gold, pa, pb)
        edges = {m: np.mean([per[m][s]["test_edges"] for s in seeds]) for m in (best, "cogmen")}
        out["edge_fraction"] = float(edges[best] / edges["cogmen"])
        t = {m: np.mean([per[m][s]["s_per_epoch"] for s in seeds]) for m in (best, "cogmen")}
        out["train_time_ratio"] = float(t[best] / t["cogmen"])
    return out


def read_results(path: Path) -> dict:
    """results.json as it is on disk now ({} before the first run): another invocation may
    share RUNS_DIR, so it is re-read before every write and before summarising."""
    return json.loads(path.read_text()) if path.is_file() else {}


def markdown(results: dict, summary: dict) -> str:
    """Per dataset: one row per method (mean ± sample std over seeds) and the per-seed test
    weighted F1, for docs/BENCHMARKS.md."""
    out = []
    for dataset, per in results.items():
        out += [
            f"\n{dataset}\n",
            "| method | seeds | test wF1 | test acc | dev wF1 | edges / utterance | s / epoch |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        stats = summary[dataset]
        for method, runs in per.items():
            keys = ("test_acc", "dev_wf1", "edges_per_utterance", "s_per_epoch")
            mean = {k: float(np.mean([r[k] for r in runs.values()])) for k in keys}
            out.append(
                f"| {method} | {len(runs)} | {stats['wf1_mean'][method]:.2f} ± "
                f"{stats['wf1_std'][method]:.2f} | {100 * mean['test_acc']:.2f} | "
                f"{100 * mean['dev_wf1']:.2f} | {mean['edges_per_utterance']:.1f} | "
                f"{mean['s_per_epoch']:.2f} |"
            )
        for method, runs in per.items():
            seeds = " ".join(f"{100 * runs[s]['test_wf1']:.2f}" for s in sorted(runs, key=int))
            out.append(f"\nPer seed ({method}): {seeds}")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N (default 5)")
    parser.add_argument(
        "--only-seeds",
        nargs="+",
        type=int,
        help="run only these of 1..N (split seeds over processes)",
    )
    parser.add_argument("--datasets", nargs="+", default=["iemocap6", "meld7"], choices=BASES)
    parser.add_argument(
        "--methods", nargs="+", default=list(GRAPH_METHODS), choices=list(GRAPH_METHODS)
    )
    parser.add_argument("--epochs", type=int, help="override every run's epochs")
    parser.add_argument("--lr", type=float, help="override every run's learning rate")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--runs-dir",
        default="runs/graph_agent",
        help="run folders and results.json (default runs/graph_agent; finished runs are reused)",
    )
    parser.add_argument(
        "--summary-only", action="store_true", help="train nothing; summarise results.json"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="with --summary-only: also print the tables"
    )
    args = parser.parse_args()
    runs_dir = Path(args.runs_dir)
    results_path = runs_dir / "results.json"
    start = time.time()
    for dataset in [] if args.summary_only else args.datasets:
        base = json.loads(json.dumps(BASES[dataset]))
        base["train"]["threads"] = args.threads
        if args.epochs:
            base["train"]["epochs"] = args.epochs
        if args.lr:
            base["train"]["lr"] = args.lr
        for seed in args.only_seeds or range(1, args.seeds + 1):
            for method in args.methods:
                config = resolve_config(method_config(base, method), seed)
                run_dir = runs_dir / f"{dataset}_{method}" / f"seed-{seed}"
                record = run_one(config, run_dir)
                results = read_results(results_path)
                results.setdefault(dataset, {}).setdefault(method, {})[str(seed)] = record
                write_json(results_path, results)
                print(
                    f"{dataset} {method} seed {seed}: test wF1 {100 * record['test_wf1']:.2f} "
                    f"({record['s_per_epoch']:.1f} s/epoch, "
                    f"{record['edges_per_utterance']:.1f} edges/utt) "
                    f"[{time.time() - start:.0f} s]",
                    flush=True,
                )
    results = read_results(results_path)
    summary = {d: compare(d, results, runs_dir) for d in results}
    write_json(runs_dir / "summary.json", summary)
    for dataset, s in summary.items():
        print(f"\n{dataset}:")
        for m, v in s["wf1_mean"].items():
            print(f"  {m:15s} wF1 {v:6.2f} ± {s['wf1_std'][m]:.2f}  seeds {s['seeds'][m]}")
        for key in ("best_rl", "seed_test", "randomisation_test", "bootstrap_wf1"):
            if key in s:
                print(f"  {key}: {s[key]}")
    final: dict = {}
    for dataset in ("iemocap6", "meld7"):
        s = summary.get(dataset, {})
        best = s.get("best_rl")
        final[f"{dataset}_rl_method"] = best
        final[f"{dataset}_rl_wf1_mean"] = s["wf1_mean"][best] if best else None
        final[f"{dataset}_cogmen_wf1_mean"] = s.get("wf1_mean", {}).get("cogmen")
        final[f"{dataset}_p_value"] = s.get("seed_test", {}).get("ttest_p")
        final[f"{dataset}_utterance_p_value"] = s.get("randomisation_test", {}).get("p")
    iem = summary.get("iemocap6", {})
    final["edge_fraction"] = iem.get("edge_fraction")
    final["train_time_ratio"] = iem.get("train_time_ratio")
    final["iemocap6_p_value"] = final.pop("iemocap6_p_value")
    if "mosi" in summary:
        final["mosi_wf1_mean"] = summary["mosi"]["wf1_mean"]
    if args.markdown:
        print(markdown(results, summary))
    print(json.dumps(final))


if __name__ == "__main__":
    main()

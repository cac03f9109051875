"""Mean ± std tables over seeds, and paired significance between methods, as DataFrames."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from ..eval.significance import fold_scores, paired_randomisation_test, paired_seed_tests
from ..io import atomic_write
from .collect import RunRecord, collect_runs

METRICS = ("accuracy", "weighted_f1", "macro_f1")


def summary_table(
    records: list[RunRecord], split: str = "test", metrics: tuple[str, ...] = METRICS
) -> pd.DataFrame:
    """One row per (dataset, method): seeds, then mean and std of each metric in percent."""
    rows = []
    keyed = itertools.groupby(records, key=lambda r: (r.dataset, r.method))
    for (dataset, method), group in keyed:
        group = list(group)
        row: dict[str, object] = {"dataset": dataset, "method": method, "seeds": len(group)}
        for metric in metrics:
            values = [v for r in group if (v := r.score(split, metric)) is not None]
            row[f"{metric}_mean"] = 100 * float(np.mean(values)) if values else np.nan
            row[f"{metric}_std"] = 100 * float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def grid_cells(records: list[RunRecord]) -> pd.DataFrame:
    """Every run's noise-grid results (its `robustness_<grid>.csv`, written by `affectrl eval
    --noise-grid`), one row per cell: dataset, method, seed, grid, cell, accuracy."""
    frames = []
    for r in records:
        for path in sorted(r.path.glob("robustness_*.csv")):
            cells = pd.read_csv(path)
            if cells.empty or not {"protocol", "cell", "accuracy"} <= set(cells.columns):
                raise ValueError(f"{path}: not a noise-grid table (protocol, cell, accuracy)")
            frames.append(
                cells[["cell", "accuracy"]].assign(
                    dataset=r.dataset, method=r.method, seed=r.seed, grid=cells["protocol"]
                )
            )
    columns = ["dataset", "method", "seed", "grid", "cell", "accuracy"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def robustness_table(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, grid) of `grid_cells`: seeds, cells, and mean ± std over
    seeds (%) of the grid accuracy (each seed's mean over the cells) and of the clean cell's."""
    rows = []
    for (dataset, method, grid), group in cells.groupby(["dataset", "method", "grid"], sort=False):
        per_seed = group.groupby("seed")
        row = {"dataset": dataset, "method": method, "grid": grid, "seeds": per_seed.ngroups}
        row["cells"] = int(per_seed.size().max())
        clean = group[group["cell"] == "clean"].groupby("seed")["accuracy"].mean()
        for name, v in (("grid_accuracy", per_seed["accuracy"].mean()), ("clean_accuracy", clean)):
            std = 100 * float(v.std(ddof=1)) if len(v) > 1 else 0.0
            row[name] = f"{100 * float(v.mean()):.2f} ± {std:.2f}" if len(v) else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def robustness_by_cell(cells: pd.DataFrame, dataset: str, grid: str) -> pd.DataFrame:
    """Test accuracy (%) per cell (rows, in grid order) and method (columns), mean over seeds:
    where each method gains and where it loses."""
    chosen = cells[(cells["dataset"] == dataset) & (cells["grid"] == grid)]
    table = chosen.pivot_table(
        index="cell", columns="method", values="accuracy", aggfunc="mean", sort=False
    )
    return (100 * table).round(2).reset_index().rename_axis(columns=None)


def display_table(summary: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """The summary with `mean ± std` strings, for Markdown / LaTeX / HTML."""
    out = summary[["dataset", "method", "seeds"]].copy()
    for metric in metrics:
        out[metric] = [
            f"{m:.2f} ± {s:.2f}"
            for m, s in zip(summary[f"{metric}_mean"], summary[f"{metric}_std"], strict=True)
        ]
    return out


def significance_table(
    records: list[RunRecord], split: str = "test", metric: str = "weighted_f1"
) -> pd.DataFrame:
    """Every pair of methods on the same dataset: paired tests over common seeds (over common
    fold x seed pairs for cross-validated runs: `pairs`), and an approximate randomisation
    test over utterances (predictions of the first common seed, pooled over its folds)."""
    rows = []
    by_dataset = itertools.groupby(records, key=lambda r: r.dataset)
    for dataset, group in by_dataset:
        methods: dict[str, dict[int, RunRecord]] = {}
        for r in group:
            methods.setdefault(r.method, {})[r.seed] = r
        for a, b in itertools.combinations(sorted(methods), 2):
            seeds = sorted(set(methods[a]) & set(methods[b]))
            row: dict[str, object] = {"dataset": dataset, "a": a, "b": b, "seeds": len(seeds)}
            scores_a, scores_b = (
                {
                    (s, k): v
                    for s in seeds
                    for k, v in fold_scores(methods[m][s].metrics, split, metric).items()
                }
                for m in (a, b)
            )
            pairs = sorted(set(scores_a) & set(scores_b))
            row["pairs"] = len(pairs)
            if len(pairs) >= 2:
                tests = paired_seed_tests(
                    [scores_a[k] for k in pairs], [scores_b[k] for k in pairs]
                )
                row.update(
                    {
                        "mean_diff": 100 * tests["mean_diff"],
                        "ttest_p": tests["ttest_p"],
                        "wilcoxon_p": tests["wilcoxon_p"],
                    }
                )
            if seeds:
                pa = methods[a][seeds[0]].predictions(split)
                pb = methods[b][seeds[0]].predictions(split)
                if pa and pb and pa["utterance_ids"] == pb["utterance_ids"]:
                    gold = np.asarray(pa["gold"])
                    test = paired_randomisation_test(
                        gold == np.asarray(pa["pred"]), gold == np.asarray(pb["pred"]), rounds=2000
                    )
                    row.update(
                        {"acc_diff_utt": 100 * test["acc_diff"], "randomisation_p": test["p"]}
                    )
            rows.append(row)
    return pd.DataFrame(rows)


def result_table(out: Path) -> pd.DataFrame:
    """Mean ± std per method over the finished runs under `out` (a sweep's folder); also
    written as out/sweep_results.csv and out/sweep_results.md."""
    table = display_table(summary_table(collect_runs([out])))
    atomic_write(out / "sweep_results.csv", lambda p: table.to_csv(p, index=False))
    atomic_write(out / "sweep_results.md", lambda p: p.write_text(table.to_markdown(index=False)))
    return table

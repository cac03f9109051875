"""Mean ± std tables over seeds, and paired significance between methods, as DataFrames.

Numbers shown are percentages with two decimals (`PERCENT`) and p-values with four (`P_VALUE`),
in every table of the report.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..eval.significance import (
    fold_scores,
    holm,
    min_wilcoxon_p,
    paired_randomisation_test,
    paired_seed_tests,
)
from ..io import atomic_write
from ..train.run_folder import FOLD_PREFIX, own_files
from .collect import RunRecord, collect_runs

METRICS = ("accuracy", "weighted_f1", "macro_f1")
PERCENT = "{:.2f}"
P_VALUE = "{:.4f}"
P_COLUMNS = ("ttest_p", "wilcoxon_p", "randomisation_p")
COLUMNS = [
    "dataset", "comparison", "a", "b", "seeds", "pairs", "mean_diff",
    "ttest_p", "ttest_holm", "wilcoxon_p", "wilcoxon_holm",
    "acc_diff_utt", "randomisation_p", "randomisation_holm", "wilcoxon_floor",
]  # fmt: skip
ALPHA = 0.05


def mean_pm_std(values) -> str:
    """`mean ± std` (sample std; 0 for one value) of fractions, in percent."""
    v = 100 * np.asarray(values, dtype=np.float64)
    if not len(v):
        return "–"
    std = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return f"{PERCENT.format(float(v.mean()))} ± {PERCENT.format(std)}"


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


def _grid_tables(run: Path) -> list[Path]:
    return own_files(run, sorted(run.glob("robustness_*.csv")))


def _read_grid_table(path: Path) -> pd.DataFrame:
    cells = pd.read_csv(path)
    if cells.empty or not {"protocol", "cell", "accuracy"} <= set(cells.columns):
        raise ValueError(f"{path}: not a noise-grid table (protocol, cell, accuracy)")
    return cells


def grid_cells(records: list[RunRecord]) -> pd.DataFrame:
    """Every run's noise-grid results (its `robustness_<grid>.csv`, written by `affectrl eval
    --noise-grid`), one row per cell: dataset, method, seed, grid, cell, severity (the grid's
    common [0, 1] scale; 0 for the clean cell, NaN where a table has none), accuracy."""
    frames = []
    for r in records:
        for path in _grid_tables(r.path):
            cells = _read_grid_table(path)
            severity = cells["severity"] if "severity" in cells else np.nan
            frames.append(
                cells[["cell", "accuracy"]].assign(
                    dataset=r.dataset,
                    method=r.method,
                    seed=r.seed,
                    grid=cells["protocol"],
                    severity=severity,
                )
            )
    columns = ["dataset", "method", "seed", "grid", "cell", "severity", "accuracy"]
    if not frames:
        return pd.DataFrame(columns=columns)
    cells = pd.concat(frames, ignore_index=True)[columns]
    cells.loc[cells["cell"] == "clean", "severity"] = 0.0
    return cells


def robustness_table(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, grid) of `grid_cells`: seeds, cells, and mean ± std over
    seeds (%) of the grid accuracy (each seed's mean over the cells) and of the clean cell's."""
    rows = []
    for (dataset, method, grid), group in cells.groupby(["dataset", "method", "grid"], sort=False):
        per_seed = group.groupby("seed")
        row = {"dataset": dataset, "method": method, "grid": grid, "seeds": per_seed.ngroups}
        row["cells"] = int(per_seed.size().max())
        clean = group[group["cell"] == "clean"].groupby("seed")["accuracy"].mean()
        row["grid_accuracy"] = mean_pm_std(per_seed["accuracy"].mean())
        row["clean_accuracy"] = mean_pm_std(clean)
        rows.append(row)
    return pd.DataFrame(rows)


def robustness_by_cell(cells: pd.DataFrame, dataset: str, grid: str) -> pd.DataFrame:
    """Test accuracy (%) per cell (rows, in grid order) and method (columns), `mean ± std` over
    seeds: where each method gains and where it loses."""
    chosen = cells[(cells["dataset"] == dataset) & (cells["grid"] == grid)]
    table = chosen.pivot_table(
        index="cell", columns="method", values="accuracy", aggfunc=mean_pm_std, sort=False
    )
    return table.reset_index().rename_axis(columns=None)


def display_table(summary: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """The summary with `mean ± std` strings, for Markdown / LaTeX / HTML."""
    out = summary[["dataset", "method", "seeds"]].copy()
    for metric in metrics:
        out[metric] = [
            f"{PERCENT.format(m)} ± {PERCENT.format(s)}"
            for m, s in zip(summary[f"{metric}_mean"], summary[f"{metric}_std"], strict=True)
        ]
    return out


def grid_scores(record: RunRecord, grid: str) -> dict[str, float]:
    """A run's grid accuracy (mean over the cells of `grid`) to pair two methods on: per fold of
    a cross-validated run (keys "fold-k", from the folds' own tables), else the run's (key
    "all"); empty when the run has no table for that grid."""
    name = f"robustness_{grid}.csv"
    folds = own_files(record.path, sorted(record.path.glob(f"{FOLD_PREFIX}*/{name}")))
    paths = folds or own_files(record.path, [p for p in [record.path / name] if p.is_file()])
    return {
        (p.parent.name if folds else "all"): float(_read_grid_table(p)["accuracy"].mean())
        for p in paths
    }


def _grids(record: RunRecord) -> set[str]:
    return {p.stem.removeprefix("robustness_") for p in _grid_tables(record.path)}


def _paired_row(
    methods: dict[str, dict[int, RunRecord]],
    a: str,
    b: str,
    scores: Callable[[RunRecord], dict[str, float]],
) -> dict[str, object]:
    """Seeds, fold x seed pairs and the paired seed-level tests of methods a and b."""
    seeds = sorted(set(methods[a]) & set(methods[b]))
    paired = [{(s, k): v for s in seeds for k, v in scores(methods[m][s]).items()} for m in (a, b)]
    keys = sorted(set(paired[0]) & set(paired[1]))
    row: dict[str, object] = {"a": a, "b": b, "seeds": len(seeds), "pairs": len(keys)}
    if len(keys) >= 2:
        tests = paired_seed_tests([paired[0][k] for k in keys], [paired[1][k] for k in keys])
        row |= {k: tests[k] for k in ("ttest_p", "wilcoxon_p")}
        row["mean_diff"] = 100 * tests["mean_diff"]
    elif keys:
        row["mean_diff"] = 100 * (paired[0][keys[0]] - paired[1][keys[0]])
    return row


def _randomisation(first_a: RunRecord, first_b: RunRecord, split: str) -> dict[str, float]:
    """Approximate randomisation over utterances of one seed's predictions (pooled over its
    folds); empty when either run saved none or they cover different utterances."""
    pa, pb = first_a.predictions(split), first_b.predictions(split)
    if not (pa and pb and pa["utterance_ids"] == pb["utterance_ids"]):
        return {}
    gold = np.asarray(pa["gold"])
    test = paired_randomisation_test(
        gold == np.asarray(pa["pred"]), gold == np.asarray(pb["pred"]), rounds=2000
    )
    return {"acc_diff_utt": 100 * test["acc_diff"], "randomisation_p": test["p"]}


def significance_table(
    records: list[RunRecord], split: str = "test", metric: str = "weighted_f1"
) -> pd.DataFrame:
    """Every pair of methods on the same dataset, compared on the clean `split` `metric` and on
    the accuracy of every noise grid both were evaluated on (column `comparison`).

    Paired tests over common seeds (over common fold x seed pairs for cross-validated runs:
    `pairs`); for the clean metric also an approximate randomisation test over utterances
    (predictions of the first common seed, pooled over its folds). Each p-value column gets a
    Holm-adjusted twin (`<test>_holm`) over every comparison in the table, and
    `wilcoxon_floor` is the smallest Holm-adjusted Wilcoxon p the pair count allows
    (m · 2 / 2**pairs): at or above 0.05 the seeds cannot show significance whatever the
    scores."""
    rows = []
    for dataset, group in itertools.groupby(records, key=lambda r: r.dataset):
        methods: dict[str, dict[int, RunRecord]] = {}
        for r in group:
            methods.setdefault(r.method, {})[r.seed] = r
        for a, b in itertools.combinations(sorted(methods), 2):
            clean = {"dataset": dataset, "comparison": f"{split} {metric}"}
            clean |= _paired_row(methods, a, b, lambda r: fold_scores(r.metrics, split, metric))
            seeds = sorted(set(methods[a]) & set(methods[b]))
            if seeds:
                clean |= _randomisation(methods[a][seeds[0]], methods[b][seeds[0]], split)
            rows.append(clean)
            shared = [_grids(methods[m][s]) for m in (a, b) for s in seeds]
            for grid in sorted(set.intersection(*shared) if shared else ()):
                row = {"dataset": dataset, "comparison": f"{grid} grid accuracy"}
                rows.append(row | _paired_row(methods, a, b, lambda r, g=grid: grid_scores(r, g)))
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for column in P_COLUMNS:
        if column not in table:
            table[column] = np.nan
        table[column.replace("_p", "_holm")] = holm(table[column].tolist())
    family = int(table["wilcoxon_p"].notna().sum())
    table["wilcoxon_floor"] = [
        min(1.0, max(family, 1) * min_wilcoxon_p(int(n))) for n in table["pairs"]
    ]
    return table.reindex(columns=COLUMNS)


def low_seed_note(table: pd.DataFrame) -> str | None:
    """A sentence for the comparisons whose pair count cannot reach p < 0.05 on seeds (one
    pair: no seed-level test at all; else Wilcoxon's floor after Holm); None when all can."""
    if table.empty:
        return None
    single = table[table["pairs"] < 2]
    floored = table[(table["pairs"] >= 2) & (table["wilcoxon_floor"] >= ALPHA)]
    parts = []
    if len(single):
        parts.append(
            f"{len(single)} of {len(table)} comparisons have one paired score (one seed, no "
            "folds): no seed-level test is possible; train more seeds (`--seeds 1 2 3 ...`)"
        )
    if len(floored):
        pairs = sorted(set(floored["pairs"].astype(int)))
        parts.append(
            f"{len(floored)} of {len(table)} comparisons have {'/'.join(map(str, pairs))} paired "
            "scores: the smallest Holm-adjusted Wilcoxon p they allow "
            f"(wilcoxon_floor, {P_VALUE.format(floored['wilcoxon_floor'].min())} at best) is "
            f"not below {ALPHA}, so they cannot reach p < {ALPHA} on seeds whatever the "
            "scores: read the randomisation test over utterances, or add seeds"
        )
    return "; ".join(parts) + "." if parts else None


def significance_display(table: pd.DataFrame) -> pd.DataFrame:
    """The significance table in the report's number formats, each p-value beside its
    Holm-adjusted twin as `p (Holm)`: differences in points with two decimals, p-values with
    four; `–` where a test was not possible."""
    shown = table.drop(columns=[c.replace("_p", "_holm") for c in P_COLUMNS])
    for column in ("mean_diff", "acc_diff_utt"):
        shown[column] = [("–" if pd.isna(v) else f"{v:+.2f}") for v in table[column]]
    for column in P_COLUMNS:
        pairs = zip(table[column], table[column.replace("_p", "_holm")], strict=True)
        shown[column] = [
            "–" if pd.isna(p) else f"{P_VALUE.format(p)} ({P_VALUE.format(h)})" for p, h in pairs
        ]
    shown["wilcoxon_floor"] = [P_VALUE.format(v) for v in table["wilcoxon_floor"]]
    names = {c: c.replace("_p", " p (Holm)") for c in P_COLUMNS}
    return shown.rename(columns=names | {"acc_diff_utt": "acc_diff (utterances)"})


def result_table(out: Path) -> pd.DataFrame:
    """Mean ± std per method over the finished runs under `out` (a sweep's folder); also
    written as out/sweep_results.csv and out/sweep_results.md."""
    table = display_table(summary_table(collect_runs([out])))
    atomic_write(out / "sweep_results.csv", lambda p: table.to_csv(p, index=False))
    atomic_write(out / "sweep_results.md", lambda p: p.write_text(table.to_markdown(index=False)))
    return table

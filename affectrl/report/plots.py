"""Figures drawn by the report itself (runs draw their own robustness/fusion/graph plots).

Names and labels come from users' data and configs, so text is drawn as plain text: a `$` in a
label or run name is a dollar sign, never the start of matplotlib mathtext.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .collect import RunRecord  # noqa: E402

PLAIN_TEXT = {"text.parse_math": False}


def figure_png(fig: plt.Figure) -> bytes:
    """Render and close a figure; returns PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


@matplotlib.rc_context(PLAIN_TEXT)
def confusion_png(records: list[RunRecord], split: str = "test") -> bytes | None:
    """Confusion matrix summed over the seeds of one method, rows normalised to recall."""
    mats = [
        np.asarray(r.metrics[split]["confusion_matrix"])
        for r in records
        if "confusion_matrix" in r.metrics.get(split, {})
    ]
    if not mats:
        return None
    cm = np.sum(mats, axis=0).astype(np.float64)
    labels = records[0].metrics[split].get("labels") or [str(i) for i in range(len(cm))]
    norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(cm), 0.8 + 0.5 * len(cm)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i, j in np.ndindex(cm.shape):
        ax.text(
            j,
            i,
            f"{norm[i, j]:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if norm[i, j] > 0.6 else "black",
        )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{records[0].method} ({split}, {len(mats)} seeds)", fontsize=9)
    return figure_png(fig)


@matplotlib.rc_context(PLAIN_TEXT)
def metric_bars_png(summary, metric: str = "weighted_f1") -> bytes:
    """Bar chart of mean ± std of `metric` per method (one group per dataset)."""
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(summary) + 2), 3.2))
    labels = [f"{d}\n{m}" for d, m in zip(summary["dataset"], summary["method"], strict=True)]
    ax.bar(
        range(len(summary)),
        summary[f"{metric}_mean"],
        yerr=summary[f"{metric}_std"],
        color="#4C72B0",
        capsize=3,
    )
    ax.set_xticks(range(len(summary)), labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(f"{metric} (%)")
    low = float(np.nanmin(summary[f"{metric}_mean"] - summary[f"{metric}_std"]))
    ax.set_ylim(max(0.0, low - 5), 100)
    ax.grid(axis="y", alpha=0.3)
    return figure_png(fig)


@matplotlib.rc_context(PLAIN_TEXT)
def grid_comparison_png(cells, title: str) -> bytes | None:
    """The methods compared on one noise grid: test accuracy against severity, one line per
    method (mean over seeds of each seed's mean over the cells of that severity, the grid's
    common [0, 1] scale rounded to 0.05), ± std over seeds as a band; the legend gives each
    method's grid mean. cells: the rows of `tables.grid_cells` for one dataset and grid. None
    when its tables carry no severities."""
    cells = cells.dropna(subset=["severity"])
    if cells.empty or cells["severity"].nunique() < 2:
        return None
    cells = cells.assign(level=(cells["severity"] / 0.05).round() * 0.05)
    fig, ax = plt.subplots(figsize=(9.0, 4.2))
    for method, rows in cells.groupby("method", sort=False):
        per_seed = rows.groupby(["seed", "level"])["accuracy"].mean().unstack("level")
        mean, std = 100 * per_seed.mean(), 100 * per_seed.std(ddof=1).fillna(0.0)
        grid_mean = 100 * rows.groupby("seed")["accuracy"].mean().mean()
        label = f"{method} (grid mean {grid_mean:.2f}, {len(per_seed)} seeds)"
        (line,) = ax.plot(mean.index, mean.values, marker="o", ms=4, label=label)
        ax.fill_between(
            mean.index, mean - std, mean + std, color=line.get_color(), alpha=0.18, lw=0
        )
    ax.set_xlabel("severity (0 clean, 1 unusable)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return figure_png(fig)


@matplotlib.rc_context(PLAIN_TEXT)
def learning_curves_png(curves: dict[str, list[list[dict]]], title: str) -> bytes | None:
    """Dev loss and dev weighted F1 against epoch, one line per method (mean over its seeds and
    folds, ± std band). curves: method -> one history per trained model (metrics.json
    `history`: per epoch a dict with epoch, dev_loss, dev.weighted_f1). None without history."""
    curves = {m: [h for h in hs if h] for m, hs in curves.items()}
    curves = {m: hs for m, hs in curves.items() if hs}
    if not curves:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 3.8))
    panels = (("dev loss", lambda e: e["dev_loss"]), ("dev weighted F1 (%)",
              lambda e: 100 * e["dev"]["weighted_f1"]))  # fmt: skip
    for ax, (name, value) in zip(axes, panels, strict=True):
        for method, histories in curves.items():
            epochs = min(len(h) for h in histories)
            values = np.array([[value(e) for e in h[:epochs]] for h in histories])
            x = [e["epoch"] for e in histories[0][:epochs]]
            mean = values.mean(0)
            std = values.std(0, ddof=1) if len(values) > 1 else np.zeros_like(mean)
            (line,) = ax.plot(x, mean, label=f"{method} ({len(values)} runs)")
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.18, lw=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return figure_png(fig)


@matplotlib.rc_context(PLAIN_TEXT)
def pareto_png(points: dict[str, tuple[list[float], list[float]]], title: str) -> bytes | None:
    """Test weighted F1 against edges per utterance of the context graphs, one marker per
    method (mean ± std over seeds as error bars). points: method -> (edges per utterance per
    seed, test wF1 per seed, fractions). None without points."""
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(9.0, 4.5))
    for method, (edges, wf1) in points.items():
        x, y = np.asarray(edges, dtype=float), 100 * np.asarray(wf1, dtype=float)
        ax.errorbar(
            x.mean(),
            y.mean(),
            xerr=x.std(ddof=1) if len(x) > 1 else 0,
            yerr=y.std(ddof=1) if len(y) > 1 else 0,
            fmt="o",
            ms=8,
            capsize=4,
            label=f"{method} ({len(x)} seeds): {y.mean():.2f} wF1, {x.mean():.1f} edges",
        )
    ax.set_xlabel("kept edges per test utterance")
    ax.set_ylabel("test weighted F1 (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_png(fig)

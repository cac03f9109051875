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

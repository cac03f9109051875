"""Run a predictor over every cell of an evaluation grid; tables, files and the robustness plot.

`run_grid(predict, dataset, split, protocol_name, seed)` is what `affectrl eval --noise-grid`
calls: predict(batch) -> logits float [B, T, C] (or [N, C] over the batch's real utterances,
as affectrl.models' ModelOutput.logits) on a (corrupted) DialogueBatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score
from tqdm import tqdm

from ..data.batch import DialogueBatch, collate
from ..data.types import DialogueDataset
from ..io import atomic_write, write_json
from .feature import FeatureStats, build_feature_corruption
from .protocols import Cell, EvalGrid, get_grid
from .spec import derive_seed

Predict = Callable[[DialogueBatch], torch.Tensor]
METRICS = ("accuracy", "weighted_f1")


def split_batches(
    dataset: DialogueDataset, split: str, batch_size: int | None = None
) -> list[DialogueBatch]:
    """The split's dialogues collated in order, `batch_size` dialogues a batch (None: one)."""
    dialogues = list(dataset.dialogues(split))
    if not dialogues:
        raise ValueError(f"{dataset.name}: split {split!r} is empty")
    size = batch_size or len(dialogues)
    vocab = dataset.speaker_vocab()
    return [
        collate(dialogues[i : i + size], dataset.modalities, vocab)
        for i in range(0, len(dialogues), size)
    ]


def cell_seed(seed: int, cell: Cell, batch_index: int) -> int:
    """The fixed seed of one cell's corruption of one batch."""
    return derive_seed(seed, cell.name, batch_index)


def corrupted_batches(
    batches: list[DialogueBatch], grid: EvalGrid, seed: int, stats: FeatureStats
) -> Iterator[tuple[Cell, list[DialogueBatch]]]:
    """(cell, the batches corrupted as that cell says), for every cell of a feature-level grid."""
    if grid.level != "feature":
        raise ValueError(
            f"grid {grid.name!r} corrupts raw media: extract features through the corruption "
            "(affectrl.features transform hook) instead"
        )
    for cell in grid.cells:
        corruption = build_feature_corruption(list(cell.specs), stats)
        yield cell, [corruption(b, cell_seed(seed, cell, i)) for i, b in enumerate(batches)]


def score(logits: list[torch.Tensor], batches: list[DialogueBatch]) -> dict[str, float]:
    """Accuracy and weighted F1 over the labelled real utterances of the batches.

    logits: per batch [B, T, C], or [N, C] for its N real utterances in batch order.
    """
    y_true, y_pred = [], []
    for z, b in zip(logits, batches, strict=True):
        pred = z.argmax(-1).cpu()
        if pred.dim() == 1:  # [N] over the real utterances
            pred = torch.zeros(b.utterance_mask.shape, dtype=torch.long).masked_scatter(
                b.utterance_mask, pred
            )
        keep = b.utterance_mask & (b.labels >= 0)
        y_true.append(b.labels[keep].numpy())
        y_pred.append(pred[keep].numpy())
    t, p = np.concatenate(y_true), np.concatenate(y_pred)
    return {
        "accuracy": float((t == p).mean()),
        "weighted_f1": float(f1_score(t, p, average="weighted", zero_division=0)),
        "n": int(t.size),
    }


def run_grid(
    predict: Predict,
    dataset: DialogueDataset,
    split: str,
    protocol_name: str,
    seed: int,
    stats: FeatureStats | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Evaluate `predict` on every cell of the named grid; one row per cell (a progress bar on
    stderr unless progress=False).

    Columns: protocol, seed, cell, modalities ("text+audio", "" for clean), corruption, value
    (SNR dB or fraction), severity (common [0, 1] scale), accuracy, weighted_f1, n.
    stats: clean training-feature statistics (default: computed from dataset's train split).
    """
    grid = get_grid(protocol_name)
    stats = stats or FeatureStats.from_dataset(dataset)
    batches = split_batches(dataset, split, batch_size)
    rows = []
    cells = corrupted_batches(batches, grid, seed, stats)
    bar = tqdm(
        cells, total=len(grid.cells), desc=f"grid {grid.name}", leave=False, disable=not progress
    )
    for cell, noisy in bar:
        with torch.no_grad():
            logits = [predict(b) for b in noisy]
        rows.append(
            {
                "protocol": grid.name,
                "seed": seed,
                "cell": cell.name,
                "modalities": "+".join(cell.modalities),
                "corruption": cell.corruption,
                "value": np.nan if cell.value is None else cell.value,
                "severity": cell.severity,
            }
            | score(logits, noisy)
        )
    return pd.DataFrame(rows)


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per cell (grid order kept): columns <metric>_mean, <metric>_std."""
    keys = ["cell", "modalities", "corruption", "value", "severity"]
    grouped = results.groupby(keys, sort=False, dropna=False)
    out = grouped[list(METRICS)].agg(["mean", "std"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out["seeds"] = grouped.size()
    return out.reset_index()


def format_table(results: pd.DataFrame, metric: str = "accuracy") -> str:
    """A text table of the grid: one line per cell, metric as mean ± std over seeds in %."""
    s = summarise(results)
    lines = [f"{'cell':28s} {metric:>16s}"]
    for _, r in s.iterrows():
        std = 0.0 if np.isnan(r[f"{metric}_std"]) else r[f"{metric}_std"]
        lines.append(f"{r['cell']:28s} {100 * r[f'{metric}_mean']:8.2f} ± {100 * std:5.2f}")
    lines.append(f"{'grid mean':28s} {100 * s[f'{metric}_mean'].mean():8.2f}")
    return "\n".join(lines)


def plot_grid(results: pd.DataFrame, path: str | Path, metric: str = "accuracy") -> Path:
    """Robustness plot: metric vs severity, one panel per corruption, one line per modality;
    modality pairs as markers, clean as a dashed line. Error bars: std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summarise(results)
    clean = s[s["corruption"] == "clean"]
    kinds = [k for k in dict.fromkeys(s["corruption"]) if k != "clean"]
    fig, axes = plt.subplots(1, max(len(kinds), 1), figsize=(4.2 * max(len(kinds), 1), 3.6))
    axes = np.atleast_1d(axes)
    for ax, kind in zip(axes, kinds, strict=False):
        part = s[s["corruption"] == kind]
        x_of = (lambda v: v) if kind == "gaussian" else (lambda v: 100 * v)
        for mods, rows in part.groupby("modalities", sort=False):
            rows = rows.sort_values("severity")
            x, y = x_of(rows["value"]), 100 * rows[f"{metric}_mean"]
            err = 100 * rows[f"{metric}_std"].fillna(0)
            if "+" in mods:
                ax.errorbar(x, y, yerr=err, fmt="s", ms=6, capsize=3, label=mods)
            else:
                ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=mods)
        if len(clean):
            ax.axhline(100 * clean[f"{metric}_mean"].iloc[0], ls="--", c="gray", label="clean")
        if kind == "gaussian":
            ax.set_xlabel("SNR (dB)")
            ax.invert_xaxis()
        else:
            ax.set_xlabel(f"{kind} (% of utterances)")
        ax.set_title(kind)
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(str(results["protocol"].iloc[0]))
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format=path.suffix.lstrip(".") or "png"))
    plt.close(fig)
    return path


def write_grid(results: pd.DataFrame, out_dir: str | Path, stem: str = "robustness") -> list[Path]:
    """Write <stem>.csv (one row per cell and seed), <stem>.json (the same rows and the
    per-cell summary) and <stem>.png (the plot) into out_dir."""
    out_dir = Path(out_dir)
    csv_path = atomic_write(out_dir / f"{stem}.csv", lambda p: results.to_csv(p, index=False))
    summary = summarise(results)
    json_path = write_json(
        out_dir / f"{stem}.json",
        {
            "rows": results.replace({np.nan: None}).to_dict("records"),
            "summary": summary.replace({np.nan: None}).to_dict("records"),
        },
    )
    return [csv_path, json_path, plot_grid(results, out_dir / f"{stem}.png")]

"""Run a predictor over every cell of an evaluation grid; tables, files and the robustness plot.

`run_grid(predict, dataset, split, protocol_name, seed)` is what `affectrl eval --noise-grid`
calls: predict(batch) -> logits float [B, T, C] (or [N, C] over the batch's real utterances,
as affectrl.models' ModelOutput.logits) on a (corrupted) DialogueBatch. A grid applies to the
modalities the dataset has (`EvalGrid.restricted`). Raw-level cells (noise added to the media
before feature extraction) need `raw`, e.g. `raw_cell_batches(dataset, split, encoders)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
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
from .protocols import SNR_CORRUPTIONS, Cell, EvalGrid, get_grid
from .spec import derive_seed

Predict = Callable[[DialogueBatch], torch.Tensor]
RawBatches = Callable[[Cell], list[DialogueBatch]]
METRICS = ("accuracy", "weighted_f1")
BABBLE_POOL = 8  # clips of the dataset itself that a babble cell without a pool mixes from


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
    batches: list[DialogueBatch],
    grid: EvalGrid,
    seed: int,
    stats: FeatureStats,
    raw: RawBatches | None = None,
) -> Iterator[tuple[Cell, list[DialogueBatch]]]:
    """(cell, the batches corrupted as that cell says), for every cell of the grid; raw-level
    cells come from `raw` (batches of the same utterances, features extracted from the
    corrupted media)."""
    if raw is None and any(c.level == "raw" for c in grid.cells):
        raise ValueError(
            f"grid {grid.name!r} corrupts raw media: extract features through the corruption "
            "(affectrl.features transform hook; noise.grid.raw_cell_batches) instead"
        )
    for cell in grid.cells:
        if cell.level == "raw":
            yield cell, raw(cell)
            continue
        corruption = build_feature_corruption(list(cell.specs), stats)
        yield cell, [corruption(b, cell_seed(seed, cell, i)) for i, b in enumerate(batches)]


def raw_cell_batches(
    dataset: DialogueDataset,
    split: str,
    encoders: dict[str, str],
    batch_size: int | None = None,
    progress: bool = False,
    text_template: dict | str | None = None,
) -> RawBatches:
    """The batches of a raw-level cell: `split` with each corrupted modality's features
    extracted again (encoder `encoders[modality]`, e.g. the config's `features:`) from its
    media passed through the cell's raw corruption. Every utterance of the dataset is extracted
    in id order through the feature store (cached by corruption spec), so the folds of a
    cross-validation share one extraction per cell. The batches report the cell's severity and
    value for the corrupted modality (`corruption["severity"]`, `["value"]`; `["kind"]` stays 0:
    the feature-level kinds do not name raw noise). A babble spec without a `pool` mixes
    BABBLE_POOL clips of the dataset, evenly spaced in id order. Text is read through the
    run's `text_template` (a corrupted turn reads the same as target and as context)."""

    def batches(cell: Cell) -> list[DialogueBatch]:
        from ..features.extract import extract_items, modality_inputs, store_namespace
        from .spec import build

        dialogues = {d.id: replace(d, features=dict(d.features)) for d in dataset.dialogues()}
        for spec in cell.specs:
            m = spec["modality"]
            if m not in encoders:
                raise ValueError(
                    f"cell {cell.name!r} corrupts raw {m}: its features must be extracted from "
                    f"media (config `features: {{{m}: ...}}`); extracted here: {sorted(encoders)}"
                )
            ids, items = modality_inputs(dataset, m, text_template)
            order = sorted(range(len(ids)), key=ids.__getitem__)
            ids, items = [ids[i] for i in order], [items[i] for i in order]
            if spec["name"] == "babble" and not spec.get("pool"):
                step = max(len(items) // BABBLE_POOL, 1)
                spec = {**spec, "pool": items[::step][:BABBLE_POOL]}
            vectors = extract_items(
                store_namespace(dataset),
                encoders[m],
                ids,
                items,
                modality=m,
                transform=build(spec),
                progress=progress,
                template=text_template,
            ).as_dict()
            for d in dialogues.values():
                d.features[m] = np.stack([vectors[u] for u in d.utterance_ids])
        view = DialogueDataset(
            dataset.name,
            dataset.label_names,
            {s: [dialogues[d.id] for d in dataset.dialogues(s)] for s in (split,)},
        )
        out = split_batches(view, split, batch_size)
        for b in out:
            _report_raw(b, cell)
        return out

    return batches


def run_raw_cell_batches(dataset: DialogueDataset, split: str, config: dict) -> RawBatches | None:
    """`raw_cell_batches` for a run's config: its `features:` that are extracted (not
    "shipped") re-extracted under its `text_template`; None when it extracts none (shipped
    features have no media to corrupt)."""
    media = {m: e for m, e in (config.get("features") or {}).items() if e != "shipped"}
    if not media:
        return None
    return raw_cell_batches(dataset, split, media, text_template=config.get("text_template"))


def _report_raw(batch: DialogueBatch, cell: Cell) -> None:
    """Attach the raw cell's severity and value to the batch's corruption report, in place."""
    from .feature import empty_report

    report = empty_report(batch)
    for m in cell.modalities:
        i = batch.modalities.index(m)
        present = batch.modality_mask[..., i]
        report["severity"][..., i][present] = cell.severity
        report["value"][..., i][present] = cell.value
    batch.corruption = report


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
    raw: RawBatches | None = None,
) -> pd.DataFrame:
    """Evaluate `predict` on every cell of the named grid that applies to the dataset's
    modalities; one row per cell (a progress bar on stderr unless progress=False).

    Columns: protocol, seed, cell, modalities ("text+audio", "" for clean), corruption, value
    (SNR dB or fraction), severity (common [0, 1] scale), accuracy, weighted_f1, n.
    stats: clean training-feature statistics (default: computed from dataset's train split).
    raw: the batches of raw-level cells (`raw_cell_batches`); required when the grid has any.
    """
    grid = get_grid(protocol_name).restricted(dataset.modalities)
    stats = stats or FeatureStats.from_dataset(dataset)
    batches = split_batches(dataset, split, batch_size)
    rows = []
    cells = corrupted_batches(batches, grid, seed, stats, raw)
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
        snr = kind.removeprefix("raw-") in SNR_CORRUPTIONS
        x_of = (lambda v: v) if snr else (lambda v: 100 * v)
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
        if snr:
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


def write_grid(
    results: pd.DataFrame, out_dir: str | Path, stem: str = "robustness", plot: bool = True
) -> list[Path]:
    """Write <stem>.csv (one row per cell and seed), <stem>.json (the same rows and the
    per-cell summary) and, with `plot`, <stem>.png (the plot) into out_dir."""
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
    return [csv_path, json_path] + ([plot_grid(results, out_dir / f"{stem}.png")] if plot else [])

"""What the fusion agent trusted: mean modality weight per noise cell, and per-utterance traces.

`write_fusion_plots` writes into a run folder (the report embeds them):
    fusion_weights.csv   mean weight per modality for every cell of a noise grid
    fusion_weights.png   mean weight per modality against severity, one panel per corrupted
                         modality and corruption (single-modality cells of the grid)
    fusion_traces.png    per-utterance weights along the longest test dialogue (for datasets of
                         one-clip dialogues: the first TRACE_LENGTH test clips), clean and with
                         its most trusted modality (largest fixed weight) substituted on 60% of
                         the utterances
The grid is applied to the modalities the dataset has; its raw-level cells are included when a
`raw` batch provider is given (noise.grid.raw_cell_batches), else left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from ...data.batch import DialogueBatch  # noqa: E402
from ...data.types import DialogueDataset  # noqa: E402
from ...device import module_device  # noqa: E402
from ...io import atomic_write  # noqa: E402
from ...noise.feature import FeatureStats, build_feature_corruption  # noqa: E402
from ...noise.grid import RawBatches, corrupted_batches, split_batches  # noqa: E402
from ...noise.protocols import get_grid  # noqa: E402

TRACE_CORRUPTION = {"name": "substitute", "fraction": 0.6}  # on the most trusted modality
TRACE_LENGTH = 40  # clips in the trace plot of a dataset of one-clip dialogues


Transform = Callable[[DialogueBatch], DialogueBatch]


@torch.no_grad()
def _weights(model, batch, transform: Transform) -> torch.Tensor:
    """Fusion weights [N, M] of the real utterances of a batch (on the CPU)."""
    return model(transform(batch).to(module_device(model))).weights.cpu()


def weights_by_cell(
    model,
    ds: DialogueDataset,
    grid: str,
    transform: Transform,
    seed: int = 0,
    raw: RawBatches | None = None,
) -> pd.DataFrame:
    """One row per grid cell: its description and the mean weight of each modality.
    transform: the model's input transform (the run's standardisation), applied after the
    corruption as in training and evaluation; raw: batches of the raw-level cells (None: those
    cells are left out)."""
    stats = FeatureStats.from_dataset(ds)
    batches = split_batches(ds, "test")
    chosen = get_grid(grid).restricted(ds.modalities)
    if raw is None:
        chosen = replace(chosen, cells=tuple(c for c in chosen.cells if c.level != "raw"))
    rows = []
    for cell, noisy in corrupted_batches(batches, chosen, seed, stats, raw):
        w = torch.cat([_weights(model, b, transform) for b in noisy]).mean(0)
        rows.append(
            {
                "cell": cell.name,
                "modalities": "+".join(cell.modalities),
                "corruption": cell.corruption,
                "severity": cell.severity,
            }
            | {f"w_{m}": float(w[i]) for i, m in enumerate(ds.modalities)}
        )
    return pd.DataFrame(rows)


def plot_weights_by_cell(table: pd.DataFrame, modalities: list[str], path: Path) -> Path:
    single = table[~table["modalities"].str.contains(r"\+") & (table["modalities"] != "")]
    corruptions = sorted(single["corruption"].unique())
    clean = table[table["cell"] == "clean"]
    fig, axes = plt.subplots(
        len(modalities),
        len(corruptions),
        sharey=True,
        figsize=(3.2 * len(corruptions), 2.4 * len(modalities)),
        squeeze=False,
    )
    for r, corrupted in enumerate(modalities):
        for c, corruption in enumerate(corruptions):
            ax = axes[r][c]
            part = pd.concat(
                [
                    clean,
                    single[
                        (single["modalities"] == corrupted) & (single["corruption"] == corruption)
                    ],
                ]
            )
            part = part.sort_values("severity")
            for m in modalities:
                ax.plot(part["severity"], part[f"w_{m}"], marker="o", label=m)
            ax.set_title(f"{corrupted} {corruption}", fontsize=9)
            ax.set_xlabel("severity", fontsize=8)
            ax.set_ylim(0, 1)
            ax.grid(alpha=0.3)
        axes[r][0].set_ylabel("mean weight", fontsize=8)
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)
    return path


def trace_modality(model, ds: DialogueDataset) -> str:
    """The modality the fusion trusts most: largest fixed weight (the first one without)."""
    weights = getattr(model.fusion, "fixed_weights", None)
    return ds.modalities[int(weights.argmax()) if weights is not None else 0]


def plot_traces(
    model, ds: DialogueDataset, path: Path, transform: Transform, seed: int = 0
) -> Path:
    """Weights along the longest test dialogue (or the first TRACE_LENGTH test clips), clean
    and with the most trusted modality substituted."""
    longest = max(ds.splits["test"], key=len)
    shown = [longest] if len(longest) > 1 else ds.splits["test"][:TRACE_LENGTH]
    title = longest.id if len(longest) > 1 else f"{len(shown)} test clips"
    clean = split_batches(DialogueDataset(ds.name, ds.label_names, {"test": shown}), "test")[0]
    modality = trace_modality(model, ds)
    spec = {**TRACE_CORRUPTION, "modality": modality}
    noisy = build_feature_corruption(spec, FeatureStats.from_dataset(ds))(clean, seed)
    m = ds.modalities.index(modality)
    hit = noisy.corruption["kind"][..., m][clean.utterance_mask] > 0
    fig, axes = plt.subplots(2, 1, sharex=True, figsize=(8, 4.2))
    noisy_title = f"{modality} substituted (60%)"
    for ax, batch, name in ((axes[0], clean, "clean"), (axes[1], noisy, noisy_title)):
        w = _weights(model, batch, transform)
        ax.stackplot(range(len(w)), *w.T.numpy(), labels=list(ds.modalities), alpha=0.85)
        ax.set_ylabel("weight", fontsize=8)
        ax.set_title(f"{title}: {name}", fontsize=9, parse_math=False)  # ids: plain text
    for t in hit.nonzero().flatten().tolist():
        axes[1].axvline(t, color="black", alpha=0.25, linewidth=3)
    axes[1].set_xlabel(f"utterance (grey: {modality} substituted)", fontsize=8)
    axes[0].legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)
    return path


def write_fusion_plots(
    model,
    ds: DialogueDataset,
    run_dir: Path,
    grid: str,
    transform: Transform,
    raw: RawBatches | None = None,
) -> list[Path]:
    """The three files of the module docstring, into run_dir (transform, raw: as in
    `weights_by_cell`)."""
    model.eval()
    table = weights_by_cell(model, ds, grid, transform, raw=raw)
    csv = atomic_write(run_dir / "fusion_weights.csv", lambda p: table.to_csv(p, index=False))
    return [
        csv,
        plot_weights_by_cell(table, list(ds.modalities), run_dir / "fusion_weights.png"),
        plot_traces(model, ds, run_dir / "fusion_traces.png", transform),
    ]

"""What a trained context graph kept: per dialogue its edges and windows on the test split,
drawn as PNGs (the arcs over one dialogue, the window used by position and speaker change).

Works for every context graph (COGMEN's window, the RL window selector, the edge scorers of
`affectrl.agents.graph.policies`). For a run folder: `affectrl.train.explain_run`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...device import module_device
from ...io import write_json
from ...models.graph import ContextGraph, GraphEdges


def model_graph(model: torch.nn.Module) -> ContextGraph:
    """The (first) context graph inside a model."""
    graphs = [p for p in model.parts() if isinstance(p, ContextGraph)]
    if not graphs:
        raise ValueError("the model has no context graph to explain")
    return graphs[0]


def collect_graphs(model: torch.nn.Module, batches) -> list[dict]:
    """Run the model in eval mode and record, per dialogue, its edges (local positions) and the
    window choice of a window selector. -> one dict per dialogue: dialogue_id, src, dst [E]
    (positions), weight [E], window [T] (chosen window, or the largest |s - t| kept per target),
    speaker_change [T], gold [T], pred [T]."""
    graph = model_graph(model)
    seen: list[tuple] = []
    hook = graph.register_forward_hook(lambda mod, args, out: seen.append((args, out)))
    model.eval()
    device = module_device(model)
    out: list[dict] = []
    try:
        with torch.inference_mode():
            for batch in batches:
                seen.clear()
                logits = model(batch.to(device)).logits.cpu()
                (mask, speakers, *_), edges = seen[-1]
                edges = GraphEdges(*(t.cpu() if t is not None else None for t in edges))
                out.extend(_per_dialogue(batch, mask.cpu(), speakers.cpu(), edges, logits))
    finally:
        hook.remove()
    return out


def _per_dialogue(batch, mask, speakers, edges: GraphEdges, logits) -> list[dict]:
    b, pos = mask.nonzero(as_tuple=True)
    src, dst = edges.edge_index
    weight = edges.edge_weight if edges.edge_weight is not None else torch.ones(src.shape[0])
    distance = (pos[src] - pos[dst]).abs()
    labels = batch.labels[mask]
    pred = logits.argmax(-1)
    result = []
    for i, dialogue_id in enumerate(batch.dialogue_ids):
        nodes = (b == i).nonzero().squeeze(1)
        first, length = int(nodes[0]), len(nodes)
        on = b[dst] == i
        if edges.window is not None:  # the graph chose each target's window
            window = edges.window[nodes].numpy()
        else:
            window = np.zeros(length, dtype=np.int64)
            np.maximum.at(window, (dst[on] - first).numpy(), distance[on].numpy())
        spk = speakers[i, :length]
        change = torch.cat([torch.ones(1, dtype=torch.bool), spk[1:] != spk[:-1]])
        result.append(
            {
                "dialogue_id": dialogue_id,
                "src": (src[on] - first).numpy(),
                "dst": (dst[on] - first).numpy(),
                "weight": weight[on].numpy(),
                "window": window,
                "speaker": spk.numpy(),
                "speaker_change": change.numpy(),
                "gold": labels[nodes].numpy(),
                "pred": pred[nodes].numpy(),
            }
        )
        if edges.window_probs is not None:  # a window selector's probabilities [T, windows]
            result[-1]["window_probs"] = edges.window_probs[nodes].numpy()
    return result


def plot_dialogue_graph(record: dict, label_names: list[str], path: Path, max_utts: int = 30):
    """Arcs for the kept edges over the first `max_utts` utterances: past -> present above the
    axis, future -> present below, opacity = edge weight; nodes coloured by speaker, gold / pred
    labels under them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Arc

    n = min(len(record["speaker"]), max_utts)
    fig, ax = plt.subplots(figsize=(max(8, n * 0.45), 5))
    for s, t, w in zip(record["src"], record["dst"], record["weight"], strict=True):
        if s == t or s >= n or t >= n:
            continue
        centre, width = (s + t) / 2, abs(t - s)
        above = s < t
        ax.add_patch(
            Arc(
                (centre, 0),
                width,
                width * 0.6,
                theta1=0 if above else 180,
                theta2=180 if above else 360,
                color="tab:blue" if above else "tab:red",
                alpha=float(np.clip(w, 0.05, 1.0)) * 0.6,
                lw=1,
            )
        )
    cmap = plt.get_cmap("tab10")
    for t in range(n):
        ax.scatter(t, 0, s=60, color=cmap(int(record["speaker"][t]) % 10), zorder=3)
        gold = int(record["gold"][t])
        text = f"{label_names[gold] if gold >= 0 else '-'}/{label_names[int(record['pred'][t])]}"
        ax.text(t, -0.6, text, rotation=90, ha="center", va="top", fontsize=7, parse_math=False)
    height = max(3.0, min(n, 12) * 0.35)
    ax.set_xlim(-1, n)
    ax.set_ylim(-height - 2.5, height)
    ax.set_yticks([])
    ax.set_xlabel("utterance (colour = speaker; text = gold/predicted)")
    ax.set_title(  # names from the data are text: a `$` is not mathtext
        f"{record['dialogue_id']}: kept edges (blue: past -> t, red: future -> t)",
        fontsize=10,
        parse_math=False,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_window_histograms(records: list[dict], path: Path) -> None:
    """Window used per target utterance by relative position (5 bins) and by speaker change."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = np.concatenate([r["window"] for r in records])
    change = np.concatenate([r["speaker_change"] for r in records])
    rel = np.concatenate([np.linspace(0, 1, len(r["window"])) for r in records])
    values = sorted(set(window.tolist()))
    labels = ["whole" if v < 0 else str(v) for v in values]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    bins = np.minimum((rel * 5).astype(int), 4)
    for k, v in enumerate(values):
        share = [np.mean(window[bins == i] == v) if (bins == i).any() else 0 for i in range(5)]
        axes[0].bar(np.arange(5) + k * 0.8 / len(values), share, 0.8 / len(values), label=labels[k])
    axes[0].set_xticks(np.arange(5) + 0.4 - 0.4 / len(values))
    axes[0].set_xticklabels(["0-20%", "20-40%", "40-60%", "60-80%", "80-100%"])
    axes[0].set_xlabel("position in the dialogue")
    axes[0].set_ylabel("share of utterances")
    axes[0].legend(title="window", fontsize=7)
    for k, v in enumerate(values):
        share = [np.mean(window[change == c] == v) if (change == c).any() else 0 for c in (0, 1)]
        axes[1].bar(np.arange(2) + k * 0.8 / len(values), share, 0.8 / len(values), label=labels[k])
    axes[1].set_xticks(np.arange(2) + 0.4 - 0.4 / len(values))
    axes[1].set_xticklabels(["same speaker as t-1", "speaker change"])
    axes[1].legend(title="window", fontsize=7)
    fig.suptitle("context window per target utterance (test split)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def explain_graphs(
    ds, model: torch.nn.Module, test_batches, out_dir: str | Path, dialogue_id: str | None = None
) -> dict:
    """Draw a trained model's test graphs into out_dir: graph_dialogue.png (the given dialogue,
    or the test dialogue with the most utterances) and window_hist.png; returns edge statistics
    (edges per utterance; for a window selector its choice counts, window -> utterances) and
    writes them to out_dir/graph_stats.json.
    ds: the run's dataset; test_batches: its test split (`Batches`)."""
    out_dir = Path(out_dir)
    records = collect_graphs(model, test_batches.in_order())
    by_id = {r["dialogue_id"]: r for r in records}
    if dialogue_id is None:
        dialogue_id = max(records, key=lambda r: len(r["speaker"]))["dialogue_id"]
    if dialogue_id not in by_id:
        raise ValueError(f"no test dialogue {dialogue_id!r} in {out_dir}")
    plot_dialogue_graph(by_id[dialogue_id], ds.label_names, out_dir / "graph_dialogue.png")
    plot_window_histograms(records, out_dir / "window_hist.png")
    edges = sum(len(r["src"]) for r in records)
    utterances = sum(len(r["speaker"]) for r in records)
    stats = {
        "edges": int(edges),
        "utterances": int(utterances),
        "edges_per_utterance": edges / max(utterances, 1),
        "weight_sum": float(sum(r["weight"].sum() for r in records)),
        "dialogue_drawn": dialogue_id,
    }
    if getattr(model_graph(model), "windows", None) is not None:  # a window selector's choices
        chosen = np.concatenate([r["window"] for r in records])
        values, counts = np.unique(chosen, return_counts=True)
        stats["window_counts"] = {str(int(v)): int(c) for v, c in zip(values, counts, strict=True)}
        probs = np.concatenate([r["window_probs"] for r in records])
        windows = model_graph(model).windows
        stats["window_mean_probs"] = {
            str(w): float(p) for w, p in zip(windows, probs.mean(0), strict=True)
        }
        stats["window_mean_max_prob"] = float(probs.max(1).mean())
    write_json(out_dir / "graph_stats.json", stats)
    return stats

"""Baselines benchmark: COGMEN on IEMOCAP-6 / MELD-7 text, the MOSI context and fusion baselines.

Usage (from the repository root):  .venv/bin/python benchmarks/baselines.py [--seeds 5]

Each phase trains its configs for the seeds into --runs-dir (default runs/bench; finished runs are
reused, so a restarted benchmark continues), writes what it has so far to
<runs-dir>/results.json after every config, and the last line printed is one JSON object.
The per-epoch time of our COGMEN (3 epochs in a child process, which also gives its peak RSS) is
set against a plain loop in the same run: the same model trained the way the official code does
it (padded transformer without a mask, edges built by Python loops per utterance), as
`official_style_s_per_epoch` and `speedup_vs_official_style`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affectrl.config import apply_overrides, load_config  # noqa: E402
from affectrl.io import write_json  # noqa: E402
from affectrl.models.graph import GraphEdges, WindowGraph  # noqa: E402
from affectrl.train import Run, resolve_config, train_seeds  # noqa: E402
from affectrl.train.run_folder import read_metrics  # noqa: E402

MOSI_VARIANTS = {
    "text": ["modalities=[text]", "model.fusion={name: concat}"],
    "audio": ["modalities=[audio]", "model.fusion={name: concat}"],
    "visual": ["modalities=[visual]", "model.fusion={name: concat}"],
    "concat": ["model.fusion={name: concat}"],
    "late": ["model.fusion={name: late}"],
    "mean": ["model.fusion.name=mean"],
    "fixed": ["model.fusion.name=fixed"],
    "attention": ["model.fusion.name=attention"],
    "gated": ["model.fusion.name=gated"],
}
# The published bc-LSTM figure (80.3) is the best *test* accuracy over 200 epochs (run.py of
# soujanyaporia/multimodal-sentiment-analysis); the same protocol applied to our concat model.
PUBLISHED_PROTOCOL_EPOCHS = 200


class LoopWindowGraph(WindowGraph):
    """The official code's edge construction: Python loops over dialogues and utterance pairs."""

    def forward(self, utterance_mask, speakers, nodes=None) -> GraphEdges:
        src, dst, rel, offset = [], [], [], 0
        for b, n in enumerate(utterance_mask.sum(1).tolist()):
            for j in range(n):
                lo = 0 if self.future < 0 else max(0, j - self.future)
                hi = n if self.past < 0 else min(n, j + self.past + 1)
                for i in range(lo, hi):  # official: (j, item) with item in j's window
                    s1, s2 = int(speakers[b, j]), int(speakers[b, i])
                    src.append(j + offset)
                    dst.append(i + offset)
                    rel.append((s1 * self.num_speakers + s2) * 2 + (0 if j < i else 1))
            offset += n
        return GraphEdges(torch.tensor([src, dst]), torch.tensor(rel))


def official_style_epoch_seconds(config: dict, run_dir: Path, epochs: int) -> float:
    """Per-epoch seconds (train + dev + test eval) of the official-style loop, same process."""
    config = apply_overrides(config, ["model.context.mask_padding=false", f"train.epochs={epochs}"])
    run = Run(resolve_config(config, 1), run_dir, progress=False)
    build = run.build

    def build_with_loops():
        ds, model, splits = build()
        g = model.context.graph
        model.context.graph = LoopWindowGraph(g.num_speakers, g.past, g.future)
        return ds, model, splits

    run.build = build_with_loops
    return run.train()["s_per_epoch"]


def ours_in_child(root: Path, threads: int, epochs: int) -> tuple[float, float]:
    """(s/epoch, peak RSS in GB) of `affectrl train` on IEMOCAP COGMEN in a child process."""
    cmd = [
        sys.executable,
        "-m",
        "affectrl",
        "train",
        "--config",
        "configs/iemocap6_text_cogmen.yaml",
        f"train.epochs={epochs}",
        f"train.threads={threads}",
        "--runs-dir",
        str(root),
        "--name",
        "speed_ours",
        "--seeds",
        "1",
        "--quiet",
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    metrics = read_metrics(root / "speed_ours" / "seed-1")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6
    return metrics["s_per_epoch"], rss


def best_test_epochs(run_dir: Path, seeds: list[int]) -> dict:
    """Per seed, the best test accuracy over the epochs and its epoch (selection on test: the
    published bc-LSTM protocol, reported for comparison only), and their mean over seeds."""
    best = {}
    for seed in seeds:
        history = read_metrics(run_dir / f"seed-{seed}")["history"]
        top = max(history, key=lambda h: h["test"]["accuracy"])
        best[seed] = {
            "epoch": top["epoch"],
            "test_accuracy": round(100 * top["test"]["accuracy"], 2),
        }
    mean = sum(b["test_accuracy"] for b in best.values()) / len(best)
    return {"per_seed": best, "best_test_accuracy_mean": round(mean, 2)}


def summary_row(summary: dict) -> dict:
    out = {}
    for split in ("dev", "test"):
        for key in ("accuracy", "weighted_f1", "macro_f1"):
            s = summary[split][key]
            out[f"{split}_{key}"] = [round(100 * s["mean"], 2), round(100 * s["std"], 2)]
    out["s_per_epoch"] = round(summary["s_per_epoch"]["mean"], 3)
    out["seeds"] = summary["seeds"]
    return out


def render_markdown(results: dict) -> str:
    """The results as Markdown tables (test mean ± std over seeds, in %)."""

    def cell(row, key):
        mean, std = row[key]
        return f"{mean:.2f} ± {std:.2f}"

    lines = [
        "| model | seeds | test wF1 | test acc | test macro-F1 | s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in (
        ("iemocap6_text_cogmen", "IEMOCAP-6 text, COGMEN (masked, ours)"),
        ("iemocap6_text_cogmen_unmasked", "IEMOCAP-6 text, COGMEN (unmasked, official behaviour)"),
        ("meld7_text_cogmen", "MELD-7 text, COGMEN"),
        ("mosi_context_concat", "CMU-MOSI, bc-LSTM concat (shipped features)"),
    ):
        if key in results:
            row = results[key]
            lines.append(
                f"| {label} | {len(row['seeds'])} | {cell(row, 'test_weighted_f1')} | "
                f"{cell(row, 'test_accuracy')} | {cell(row, 'test_macro_f1')} | "
                f"{row['s_per_epoch']} |"
            )
    table = results.get("mosi_table", {})
    if table:
        lines += [
            "",
            "| CMU-MOSI, bc-LSTM context | text features | seeds | test acc | test wF1 |",
            "|---|---|---|---|---|",
        ]
        for text in ("shipped", "minilm"):
            for variant in MOSI_VARIANTS:
                if f"{text}/{variant}" not in table:
                    continue
                row = table[f"{text}/{variant}"]
                lines.append(
                    f"| {variant} | {text} | {len(row['seeds'])} | {cell(row, 'test_accuracy')} | "
                    f"{cell(row, 'test_weighted_f1')} |"
                )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds per config (default 5)")
    parser.add_argument(
        "--runs-dir",
        default="runs/bench",
        help="run folders and results.json (default runs/bench; finished runs are reused)",
    )
    phases = ["mosi_concat", "mosi_published_protocol", "speed", "mosi", "iemocap", "meld"]
    parser.add_argument(
        "--phases",
        nargs="+",
        choices=phases,
        default=phases,
        help="which parts to run (default: all, in this order)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--markdown", action="store_true", help="print results.json as Markdown and exit"
    )
    args = parser.parse_args()
    root = Path(args.runs_dir)
    seeds = list(range(1, args.seeds + 1))
    results_path = root / "results.json"
    results: dict = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if args.markdown:
        print(render_markdown(results))
        return 0
    results.update({"seeds": seeds, "threads": args.threads})
    threads = [f"train.threads={args.threads}"]

    def record(key, value):
        results[key] = value
        write_json(results_path, results)
        print(f"{key}: {json.dumps(value)}", flush=True)

    for phase in args.phases:
        start = time.perf_counter()
        if phase == "mosi_concat":
            cfg = apply_overrides(load_config("configs/mosi_bclstm_concat.yaml"), threads)
            s = train_seeds(cfg, seeds, root / "mosi_bclstm_concat", progress=False)
            record("mosi_context_concat", summary_row(s))
            results["mosi_context_concat_acc_mean"] = 100 * s["test"]["accuracy"]["mean"]
        elif phase == "mosi_published_protocol":
            cfg = apply_overrides(
                load_config("configs/mosi_bclstm_concat.yaml"),
                [f"train.epochs={PUBLISHED_PROTOCOL_EPOCHS}"] + threads,
            )
            run_dir = root / f"mosi_bclstm_concat_{PUBLISHED_PROTOCOL_EPOCHS}ep"
            train_seeds(cfg, seeds, run_dir, progress=False)
            best = best_test_epochs(run_dir, seeds)
            record("mosi_published_protocol", best)
            results["mosi_concat_best_test_epoch_acc_mean"] = best["best_test_accuracy_mean"]
        elif phase == "iemocap":
            cfg = apply_overrides(load_config("configs/iemocap6_text_cogmen.yaml"), threads)
            s = train_seeds(cfg, seeds, root / "iemocap6_text_cogmen", progress=False)
            record("iemocap6_text_cogmen", summary_row(s))
            results["iemocap6_text_cogmen_wf1_mean"] = 100 * s["test"]["weighted_f1"]["mean"]
            results["iemocap6_s_per_epoch"] = s["s_per_epoch"]["mean"]
        elif phase == "speed":
            cfg = apply_overrides(load_config("configs/iemocap6_text_cogmen.yaml"), threads)
            ours, rss = ours_in_child(root, args.threads, epochs=3)
            official = official_style_epoch_seconds(cfg, root / "speed_official_style", epochs=3)
            speed = {
                "ours_s_per_epoch": ours,
                "official_style_s_per_epoch": official,
                "speedup_vs_official_style": official / ours,
                "ours_peak_rss_gb": rss,
            }
            record("speed", speed)
            results["speedup_vs_official_style"] = official / ours
            results["peak_rss_gb"] = rss
        elif phase == "mosi":
            table = {}
            for text in ("shipped", "minilm"):
                for variant, overrides in MOSI_VARIANTS.items():
                    if text == "minilm" and variant in ("audio", "visual"):
                        continue
                    extra = ["features={text: minilm}"] if text == "minilm" else []
                    cfg = apply_overrides(
                        load_config("configs/mosi_fusion.yaml"), overrides + extra + threads
                    )
                    s = train_seeds(cfg, seeds, root / f"mosi_{text}_{variant}", progress=False)
                    table[f"{text}/{variant}"] = summary_row(s)
                    record("mosi_table", table)
        else:  # "meld" (argparse allows only the known phases)
            cfg = apply_overrides(load_config("configs/meld7_text_cogmen.yaml"), threads)
            s = train_seeds(cfg, seeds, root / "meld7_text_cogmen", progress=False)
            record("meld7_text_cogmen", summary_row(s))
            results["meld7_text_cogmen_wf1_mean"] = 100 * s["test"]["weighted_f1"]["mean"]
        record(f"{phase}_wall_s", round(time.perf_counter() - start, 1))
    write_json(results_path, results)
    keys = [
        "iemocap6_text_cogmen_wf1_mean",
        "iemocap6_s_per_epoch",
        "peak_rss_gb",
        "meld7_text_cogmen_wf1_mean",
        "mosi_context_concat_acc_mean",
        "mosi_concat_best_test_epoch_acc_mean",
        "speedup_vs_official_style",
    ]
    print(json.dumps({k: results.get(k) for k in keys} | {"seeds": len(seeds)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

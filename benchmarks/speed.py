"""Speed benchmark: training and inference time of COGMEN and the agents, beside a reference loop.

    python benchmarks/speed.py [--epochs 3] [--parts rss iemocap6 meld7 graph_agent fusion_agent]
        [--variants exact fast] [--runs-dir runs/speed] [--threads 1]

Every figure is measured in this one process next to the *reference loop*: COGMEN trained the
way the official code does it (github.com/Exploration-Lab/COGMEN), written here with PyTorch
and PyG modules only, so that nothing the toolkit speeds up changes it: the transformer over the
padded batch without a mask, edges built by Python loops over every (utterance, neighbour)
pair, PyG's RGCNConv and TransformerConv, plain Adam, no denormal flushing. After each epoch of
ours, one reference epoch (train + dev and test evaluation, IEMOCAP-6) runs, so both see the same
machine load; `*_speedup` is reference time / our time (median over the epoch pairs), a figure
that moves much less with load than seconds do. `reference_ratio` is that speed-up for
IEMOCAP-6 COGMEN, training plus evaluation.

Variants: `exact` is each config as it is (bit-identical to the toolkit's earlier results);
`fast` adds `model.context.fast=true` (bfloat16 encoder, cheaper dropout masks, grouped RGCN;
not bit-identical; docs/PERFORMANCE.md). Keys of the fast variant carry `fast_`. The fusion
agent has no COGMEN context and runs as `exact` only.

Parts:
  rss           peak RSS of `affectrl train` on IEMOCAP-6 COGMEN (2 epochs, a child process)
  iemocap6      COGMEN, configs/iemocap6_text_cogmen.yaml: s/epoch training, with dev + test
                evaluation; then inference over the test split (one batch of the whole split,
                and batches of 32 dialogues), utterances/s
  meld7         COGMEN, configs/meld7_text_cogmen.yaml: s/epoch training, with evaluation
  graph_agent   the graph agent, configs/iemocap6_graph_rl_soft.yaml: as iemocap6
  fusion_agent  the MOSI fusion agent, configs/mosi_agent.yaml (supervised epochs, then the PPO
                stage): s/epoch, stage seconds, inference utterances/s over the MOSI test split
Our runs are ordinary `Run`s (what `affectrl train` does) in --runs-dir, retrained every time.
Wall and process-CPU seconds are both recorded; CPU seconds inflate less when other processes
share the cores. The load average is recorded at the start and end. The last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import RGCNConv, TransformerConv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affectrl.config import apply_overrides, load_config  # noqa: E402
from affectrl.data import collate  # noqa: E402
from affectrl.train import Run, resolve_config  # noqa: E402
from affectrl.train.run_folder import load_run  # noqa: E402
from affectrl.train.trainer import predict  # noqa: E402

PARTS = ("rss", "iemocap6", "meld7", "graph_agent", "fusion_agent")
VARIANTS = {"exact": [], "fast": ["model.context.fast=true", "train.fused_adam=true"]}
CONFIGS = {
    "iemocap6": "configs/iemocap6_text_cogmen.yaml",
    "meld7": "configs/meld7_text_cogmen.yaml",
    "graph_agent": "configs/iemocap6_graph_rl_soft.yaml",
    "fusion_agent": "configs/mosi_agent.yaml",
}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Timer:
    """Wall and process-CPU seconds of a block: `with Timer() as t: ...; t.wall, t.cpu`."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


# ---------------------------------------------------------------- the reference loop


def loop_graph(lengths: list[int], speakers: torch.Tensor, num_speakers: int, window: int = 5):
    """The official `batch_graphify` edges: Python loops over dialogues and utterance pairs.

    Edge j -> i for every i within `window` of j (self loop included), relation
    (spk_j * S + spk_i) * 2 + (0 if j < i else 1)."""
    src, dst, rel, offset = [], [], [], 0
    for b, n in enumerate(lengths):
        for j in range(n):
            for i in range(max(0, j - window), min(n, j + window + 1)):
                s1, s2 = int(speakers[b, j]), int(speakers[b, i])
                src.append(j + offset)
                dst.append(i + offset)
                rel.append((s1 * num_speakers + s2) * 2 + (0 if j < i else 1))
        offset += n
    return torch.tensor([src, dst]), torch.tensor(rel)


class ReferenceCOGMEN(nn.Module):
    """COGMEN as the official code computes it (its train.py defaults), for timing only."""

    def __init__(self, in_dim: int, num_speakers: int, num_classes: int, hidden: int = 100):
        super().__init__()
        heads = next((h for h in range(7, 15) if in_dim % h == 0), 1)
        layer = nn.TransformerEncoderLayer(in_dim, heads, dropout=0.5, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.project = nn.Linear(in_dim, hidden)
        self.num_speakers = num_speakers
        self.rgcn = RGCNConv(hidden, hidden, 2 * num_speakers**2)
        self.gconv = TransformerConv(hidden, hidden, heads=1, concat=True)
        self.norm = nn.BatchNorm1d(hidden)
        self.classifier = nn.Sequential(
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, num_classes)
        )

    def forward(self, batch) -> torch.Tensor:
        h = self.project(self.transformer(batch.features[batch.modalities[0]]))
        lengths = batch.lengths.tolist()
        nodes = torch.cat([h[b, :n] for b, n in enumerate(lengths)])
        edge_index, edge_type = loop_graph(lengths, batch.speakers, self.num_speakers)
        h = self.gconv(self.rgcn(nodes, edge_index, edge_type), edge_index)
        return F.log_softmax(self.classifier(F.leaky_relu(self.norm(h))), -1)


class ReferenceLoop:
    """Epochs of the reference COGMEN on IEMOCAP-6: train, then dev and test evaluation."""

    def __init__(self, root: Path):
        cfg = resolve_config(load_config(CONFIGS["iemocap6"]), 1)
        ds, _, splits = Run(cfg, root / "reference", progress=False).build()
        self.batches = {s: b.in_order() for s, b in splits.items()}  # collated once
        self.model = ReferenceCOGMEN(ds.feature_dims()["text"], ds.num_speakers, ds.num_classes)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4, weight_decay=1e-8)
        self.whole_test = collate(list(ds.dialogues("test")), ["text"], ds.speaker_vocab())

    def _loss(self, batch):
        labels = batch.labels[batch.utterance_mask]
        return F.nll_loss(self.model(batch), labels, ignore_index=-100)

    def epoch(self) -> dict[str, float]:
        """One epoch; wall and CPU seconds of training alone and with evaluation. The global
        generator is restored afterwards, so the run it is interleaved with draws as alone."""
        rng = torch.get_rng_state()
        torch.set_flush_denormal(False)  # the official code does not flush
        try:
            with Timer() as train:
                self.model.train()
                for batch in self.batches["train"]:
                    self.optimizer.zero_grad()
                    self._loss(batch).backward()
                    self.optimizer.step()
            with Timer() as evaluation:
                self.model.eval()
                with torch.no_grad():
                    for split in ("dev", "test"):
                        for batch in self.batches[split]:
                            self._loss(batch)
        finally:
            torch.set_flush_denormal(True)
            torch.set_rng_state(rng)
        return {
            "train_s": train.wall,
            "epoch_s": train.wall + evaluation.wall,
            "train_cpu_s": train.cpu,
            "epoch_cpu_s": train.cpu + evaluation.cpu,
        }

    def inference(self) -> Timer:
        """Time predicting the whole test split as one batch (no denormal flushing)."""
        torch.set_flush_denormal(False)
        try:
            self.model.eval()
            with torch.inference_mode(), Timer() as t:
                self.model(self.whole_test).argmax(-1)
        finally:
            torch.set_flush_denormal(True)
        return t


# ---------------------------------------------------------------- our runs


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def train_beside_reference(
    config_path: str,
    overrides: list[str],
    epochs: int,
    run_dir: Path,
    reference: ReferenceLoop,
    threads: int,
) -> dict:
    """Train `epochs` epochs of a config as a `Run`, one reference epoch after each; per-epoch
    figures are medians over the epochs after the first (warm-up), speed-ups per epoch pair."""
    config = apply_overrides(
        load_config(config_path),
        [*overrides, f"train.epochs={epochs}", f"train.threads={threads}"],
    )
    shutil.rmtree(run_dir, ignore_errors=True)
    refs: list[dict] = []
    with Timer() as whole:
        metrics = Run(resolve_config(config, 1), run_dir, progress=False).train(
            on_epoch_end=lambda epoch, history: refs.append(reference.epoch())
        )
    history = metrics["history"]
    pairs = list(zip(history, refs, strict=True))[1:] or list(zip(history, refs, strict=True))

    def per_epoch(ours_key, ref_key):
        ours = median(h.get(ours_key) for h, _ in pairs)
        ref = median(r[ref_key] for _, r in pairs)
        speedup = median(r[ref_key] / h[ours_key] for h, r in pairs if h.get(ours_key))
        return ours, ref, speedup

    out: dict = {"run_dir": str(run_dir), "epochs": epochs}
    for name, ours_key, ref_key in (
        ("train_s", "train_seconds", "train_s"),
        ("epoch_s", "seconds", "epoch_s"),
        ("train_cpu_s", "train_cpu_seconds", "train_cpu_s"),
        ("epoch_cpu_s", "cpu_seconds", "epoch_cpu_s"),
    ):
        ours, ref, speedup = per_epoch(ours_key, ref_key)
        out[name], out[f"reference_{name}"], out[f"{name}_speedup"] = ours, ref, speedup
    out["run_wall_s"] = whole.wall - sum(r["epoch_s"] for r in refs)
    out["test_weighted_f1"] = metrics["test"]["weighted_f1"]
    return out


def timed_predictions(model, batches) -> Timer:
    with Timer() as t:
        predict(model, batches)
    return t


def inference(run_dir: str, reference: ReferenceLoop | None, repeats: int = 7) -> dict:
    """utterances/s over the run's test split: the whole split as one batch, and batches of 32
    dialogues (the run's batches); the whole split alternates with the reference model's, so
    both see the same load. Per setting: the median and the best (least disturbed) of the
    repeats in wall time, and the median in process CPU time."""
    run = load_run(run_dir)
    test = run.splits["test"]
    whole = [test.transform(collate(test.dialogues, test.modalities, test.speaker_vocab))]
    utterances = int(whole[0].lengths.sum())
    timings: dict[str, list[Timer]] = {"whole_split": [], "batches_of_32": [], "reference": []}
    predict(run.model, whole)  # warm-up
    if reference is not None:
        reference.inference()
    for _ in range(repeats):
        timings["whole_split"].append(timed_predictions(run.model, whole))
        timings["batches_of_32"].append(timed_predictions(run.model, test.in_order()))
        if reference is not None:
            timings["reference"].append(reference.inference())
    out: dict = {"test_utterances": utterances, "repeats": repeats}
    for name, times in timings.items():
        if not times:
            continue
        prefix = "reference_whole_split" if name == "reference" else name
        out[f"{prefix}_utt_per_s"] = utterances / median(t.wall for t in times)
        out[f"{prefix}_best_utt_per_s"] = utterances / min(t.wall for t in times)
        out[f"{prefix}_utt_per_cpu_s"] = utterances / median(t.cpu for t in times)
    if reference is not None:
        out["whole_split_speedup"] = median(
            r.wall / t.wall
            for r, t in zip(timings["reference"], timings["whole_split"], strict=True)
        )
    return out


def peak_rss_gb(root: Path, overrides: list[str], threads: int) -> float:
    """Max RSS (GB) of `affectrl train` on IEMOCAP-6 COGMEN, 2 epochs, in a child process."""
    name = "rss_" + ("fast" if overrides else "exact")
    cmd = [
        sys.executable, "-m", "affectrl", "train", "--config", CONFIGS["iemocap6"],
        *overrides, "train.epochs=2", f"train.threads={threads}", "--runs-dir", str(root),
        "--name", name, "--seeds", "1", "--quiet",
    ]  # fmt: skip
    shutil.rmtree(root / name, ignore_errors=True)
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak (ru_maxrss, KB)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return usage.ru_maxrss / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per model (default 3)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--runs-dir", default="runs/speed", help="run folders (default runs/speed)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    root = Path(args.runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    results: dict = {"loadavg_start": loadavg(), "threads": args.threads, "epochs": args.epochs}

    def record(key, value):
        results[key] = value
        (root / "speed.json").write_text(json.dumps(results, indent=1))
        print(f"{key}: {json.dumps(value)}", flush=True)

    prefixes = {v: "" if v == "exact" else f"{v}_" for v in args.variants}
    if "rss" in args.parts:
        for variant, prefix in prefixes.items():
            record(f"{prefix}peak_rss_gb", peak_rss_gb(root, VARIANTS[variant], args.threads))
    torch.set_num_threads(args.threads)
    reference = ReferenceLoop(root)
    for part in ("iemocap6", "meld7", "graph_agent", "fusion_agent"):
        if part not in args.parts:
            continue
        for variant, prefix in prefixes.items():
            if part == "fusion_agent" and variant != "exact":
                continue
            run_dir = root / f"{Path(CONFIGS[part]).stem}_{variant}" / "seed-1"
            train = train_beside_reference(
                CONFIGS[part], VARIANTS[variant], args.epochs, run_dir, reference, args.threads
            )
            record(f"{prefix}{part}", train)
            if part != "meld7":
                ref = reference if part != "fusion_agent" else None
                record(f"{prefix}{part}_inference", inference(train["run_dir"], ref))
    results["loadavg_end"] = loadavg()

    def get(part, key):
        return results.get(part, {}).get(key)

    summary: dict = {}
    for prefix in ("", "fast_"):
        summary |= {
            f"{prefix}iemocap6_train_s_per_epoch": get(f"{prefix}iemocap6", "train_s"),
            f"{prefix}iemocap6_epoch_with_eval_s": get(f"{prefix}iemocap6", "epoch_s"),
            f"{prefix}meld7_train_s_per_epoch": get(f"{prefix}meld7", "train_s"),
            f"{prefix}meld7_epoch_with_eval_s": get(f"{prefix}meld7", "epoch_s"),
            f"{prefix}graph_agent_train_s_per_epoch": get(f"{prefix}graph_agent", "train_s"),
            f"{prefix}infer_utt_per_s_cogmen": get(
                f"{prefix}iemocap6_inference", "whole_split_utt_per_s"
            ),
            f"{prefix}infer_utt_per_cpu_s_cogmen": get(
                f"{prefix}iemocap6_inference", "whole_split_utt_per_cpu_s"
            ),
            f"{prefix}infer_utt_per_s_cogmen_batches32": get(
                f"{prefix}iemocap6_inference", "batches_of_32_utt_per_s"
            ),
            f"{prefix}infer_utt_per_s_graph_agent": get(
                f"{prefix}graph_agent_inference", "whole_split_utt_per_s"
            ),
            f"{prefix}infer_utt_per_cpu_s_graph_agent": get(
                f"{prefix}graph_agent_inference", "whole_split_utt_per_cpu_s"
            ),
            f"{prefix}infer_utt_per_s_graph_agent_batches32": get(
                f"{prefix}graph_agent_inference", "batches_of_32_utt_per_s"
            ),
            f"{prefix}peak_rss_gb": results.get(f"{prefix}peak_rss_gb"),
            f"{prefix}reference_ratio": get(f"{prefix}iemocap6", "epoch_s_speedup"),
            f"{prefix}reference_train_ratio": get(f"{prefix}iemocap6", "train_s_speedup"),
            f"{prefix}meld7_train_speedup_vs_reference": get(f"{prefix}meld7", "train_s_speedup"),
            f"{prefix}graph_agent_train_speedup_vs_reference": get(
                f"{prefix}graph_agent", "train_s_speedup"
            ),
            f"{prefix}cogmen_inference_speedup_vs_reference": get(
                f"{prefix}iemocap6_inference", "whole_split_speedup"
            ),
            f"{prefix}iemocap6_train_cpu_s_per_epoch": get(f"{prefix}iemocap6", "train_cpu_s"),
            f"{prefix}iemocap6_epoch_with_eval_cpu_s": get(f"{prefix}iemocap6", "epoch_cpu_s"),
            f"{prefix}meld7_train_cpu_s_per_epoch": get(f"{prefix}meld7", "train_cpu_s"),
        }
    summary |= {
        "fusion_agent_train_s_per_epoch": get("fusion_agent", "train_s"),
        "fusion_agent_run_s": get("fusion_agent", "run_wall_s"),
        "infer_utt_per_s_fusion_agent": get("fusion_agent_inference", "whole_split_utt_per_s"),
        "reference_epoch_with_eval_s": get("iemocap6", "reference_epoch_s"),
        "threads": args.threads,
        "loadavg_start": results["loadavg_start"],
        "loadavg_end": results["loadavg_end"],
    }
    record("summary", summary)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

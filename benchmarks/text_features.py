"""Text features for dialogue (issue #23): frozen all-MiniLM-L6-v2 with the plain utterance
template against the context template, with COGMEN (the official 55-epoch recipe of
configs/<dataset>_text_cogmen.yaml) and optionally the graph agent's methods.

    python benchmarks/text_features.py [--datasets iemocap6 meld7] [--variants plain context]
        [--methods cogmen rl_soft] [--seeds 5 | --only-seeds 1 2] [--context '{past: 4}']
        [--runs-dir runs/text_features] [--summary-only]

Per dataset and variant the features are extracted first (timed; a feature-store hit reports
the time of loading them) and recorded in RUNS_DIR/results.json; then every (seed, method) is
one resumable run in RUNS_DIR/<dataset>_<plain | context-<hash8 of the template>>_<method>/
seed-<k>/ (finished runs are read back, not rerun; variants of one template share them), and
results.json is rewritten after each. `--context` is the context template (YAML mapping, over
the template's defaults), `--variants window=<yaml>` names more templates
for a dev-score choice of the window. The context template is compared with the plain one as
a difference of mean test weighted F1 over the seeds both have (paired). The last line is one
JSON object; figures of what was not run are null. `finetune_s_per_epoch` (`--finetune-timing`) is a
timed partial epoch of fine-tuning the encoder with a linear head, extrapolated (the fine-tuning
stage itself is not built yet); null when not timed.
Threads: torch.set_num_threads(--threads, default 1) in every run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affectrl.agents.graph.methods import method_config  # noqa: E402
from affectrl.config import load_config  # noqa: E402
from affectrl.data import load_dataset  # noqa: E402
from affectrl.features import build_template, extract_modality, settings_hash  # noqa: E402
from affectrl.io import write_json  # noqa: E402
from affectrl.train.trainer import Run, resolve_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "iemocap6": "configs/iemocap6_text_cogmen.yaml",
    "meld7": "configs/meld7_text_cogmen.yaml",
}


def template_of(variant: str, context: dict) -> dict | None:
    """The text template of a variant: plain -> None (the utterance alone), context -> the
    context template with `context` options, NAME=<yaml mapping> -> that context template."""
    if variant == "plain":
        return None
    options = context if variant == "context" else yaml.safe_load(variant.partition("=")[2])
    spec = {"name": "context", **(options or {})}
    build_template(spec)  # a bad window is an error before anything runs
    return spec


def variant_name(variant: str) -> str:
    return variant.partition("=")[0]


def read_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def extract(dataset: str, template: dict | None) -> dict:
    """Extract (or load) the dataset's text features through `template`; timing and counts."""
    ds = load_dataset(dataset)
    start = time.perf_counter()
    result = extract_modality(ds, "text", "minilm", template=template)
    return {
        "seconds": time.perf_counter() - start,
        "encoded": result.computed,
        "reused": result.reused,
        "utterances": len(result.ids),
        "folder": str(result.folder),
    }


def finetune_timing(dataset: str, mode: str, batches: int, batch_size: int = 32) -> dict:
    """The cost of fine-tuning MiniLM on `dataset`'s training utterances (the utterance
    template, 128 tokens at most) with a linear emotion head: `batches` timed AdamW steps
    (forward, backward, update; the first, warm-up, left out), `full` (every weight) or `lora`
    (peft LoRA r=8 on the attention's query and value), extrapolated to one epoch. A timing of
    the encoder's share only: the ERC model after it costs ~2-3 s/epoch on IEMOCAP."""
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    from affectrl.features.text import packaged_minilm_path

    torch.manual_seed(0)
    ds = load_dataset(dataset)
    train = list(ds.dialogues("train"))
    texts = [t for d in train for t in d.texts]
    labels = torch.as_tensor(np.concatenate([d.labels for d in train]))
    st = SentenceTransformer(str(packaged_minilm_path()), device="cpu", local_files_only=True)
    bert, tokenizer = st[0].auto_model, st.tokenizer
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        bert = get_peft_model(
            bert, LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"])
        )
    bert.train()
    head = torch.nn.Linear(bert.config.hidden_size, ds.num_classes)
    params = [p for p in [*bert.parameters(), *head.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-5)
    order = torch.randperm(len(texts))
    seconds = []
    for b in range(batches + 1):
        idx = order[b * batch_size : (b + 1) * batch_size]
        enc = tokenizer(
            [texts[i] for i in idx],
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="pt",
        )
        start = time.perf_counter()
        hidden = bert(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        loss = F.cross_entropy(head(pooled), labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    per_batch = float(np.mean(seconds[1:]))
    steps = -(-len(texts) // batch_size)
    return {
        "mode": mode,
        "timed_batches": batches,
        "batch_size": batch_size,
        "trainable_parameters": int(sum(p.numel() for p in params)),
        "s_per_batch": per_batch,
        "batches_per_epoch": steps,
        "s_per_epoch": per_batch * steps,
    }


def run_one(config: dict, run_dir: Path) -> dict:
    metrics = Run(config, run_dir, progress=True).train()
    return {
        "test_wf1": metrics["test"]["weighted_f1"],
        "test_acc": metrics["test"]["accuracy"],
        "test_macro_f1": metrics["test"]["macro_f1"],
        "dev_wf1": metrics["dev"]["weighted_f1"],
        "s_per_epoch": metrics["s_per_epoch"],
        "best_epoch": metrics["best_epoch"],
    }


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarise(results: dict) -> dict:
    """Per dataset, variant and method: seeds, mean/std of test and dev wF1 (in %)."""
    out: dict = {}
    for dataset, variants in results.items():
        if dataset not in CONFIGS:
            continue
        for variant, entry in variants.items():
            for method, seeds in entry.get("runs", {}).items():
                test = [100 * r["test_wf1"] for r in seeds.values()]
                dev = [100 * r["dev_wf1"] for r in seeds.values()]
                out.setdefault(dataset, {}).setdefault(variant, {})[method] = {
                    "seeds": sorted(int(s) for s in seeds),
                    "test_wf1_mean": _mean(test),
                    "test_wf1_std": float(np.std(test)) if test else None,
                    "dev_wf1_mean": _mean(dev),
                    "s_per_epoch": _mean([r["s_per_epoch"] for r in seeds.values()]),
                }
    return out


def paired_difference(results: dict, dataset: str, variant: str, method: str) -> dict | None:
    """Mean test wF1 of `variant` minus plain over the seeds both ran (with the same method)."""
    runs = results.get(dataset, {})
    a = runs.get(variant, {}).get("runs", {}).get(method, {})
    b = runs.get("plain", {}).get("runs", {}).get(method, {})
    seeds = sorted(set(a) & set(b), key=int)
    if not seeds:
        return None
    diff = [100 * (a[s]["test_wf1"] - b[s]["test_wf1"]) for s in seeds]
    return {"seeds": [int(s) for s in seeds], "mean": float(np.mean(diff)), "per_seed": diff}


def final_line(results: dict, summary: dict) -> dict:
    line: dict = {}
    for dataset in CONFIGS:
        per = summary.get(dataset, {})
        cells = [(v, m, s) for v, methods in per.items() for m, s in methods.items()]
        best = max(cells, key=lambda c: c[2]["dev_wf1_mean"], default=None)
        line[f"{dataset}_best_wf1_mean"] = best[2]["test_wf1_mean"] if best else None
        line[f"{dataset}_best_configuration"] = f"{best[0]}/{best[1]}" if best else None
        for variant in ("plain", "context"):
            cell = per.get(variant, {}).get("cogmen", {})
            line[f"{dataset}_{variant}_template_cogmen_wf1_mean"] = cell.get("test_wf1_mean")
            line[f"{dataset}_{variant}_template_cogmen_seeds"] = cell.get("seeds")
        diff = paired_difference(results, dataset, "context", "cogmen")
        line[f"{dataset}_context_minus_plain_cogmen"] = diff["mean"] if diff else None
        for variant in ("plain", "context"):
            key = results.get(dataset, {}).get(variant, {}).get("key")
            timing = results.get("extractions", {}).get(dataset, {}).get(key)
            line[f"{dataset}_{variant}_extraction_s"] = timing["seconds"] if timing else None
    timings = results.get("finetune", {}).get("iemocap6", {})
    for mode, timing in timings.items():
        line[f"finetune_{mode}_s_per_epoch"] = timing["s_per_epoch"]
    cheapest = min((t["s_per_epoch"] for t in timings.values()), default=None)
    line["finetune_s_per_epoch"] = cheapest  # a timed partial epoch, extrapolated
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["plain", "context"],
        help="plain | context | NAME=<yaml options of a context template> (default: both)",
    )
    parser.add_argument("--methods", nargs="+", default=["cogmen"], help="graph methods")
    parser.add_argument("--seeds", type=int, default=5, help="seeds 1..N (default 5)")
    parser.add_argument("--only-seeds", nargs="+", type=int, help="run only these seeds")
    parser.add_argument(
        "--context",
        default="{}",
        help="options of the `context` variant's template, YAML (default: its defaults)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--epochs", type=int, help="override the recipe's 55 epochs (smoke runs)")
    parser.add_argument("--runs-dir", default="runs/text_features")
    parser.add_argument("--extract-only", action="store_true", help="extract and time only")
    parser.add_argument(
        "--finetune-timing",
        type=int,
        metavar="BATCHES",
        help="time BATCHES fine-tuning steps of the encoder on IEMOCAP-6 (full and LoRA) and "
        "extrapolate to an epoch (with --summary-only: nothing else; the fine-tuning stage itself "
        "is not built yet)",
    )
    parser.add_argument("--summary-only", action="store_true", help="summarise results.json")
    args = parser.parse_args()
    runs_dir = Path(args.runs_dir)
    results_path = runs_dir / "results.json"
    context = yaml.safe_load(args.context) or {}
    start = time.time()
    for dataset in [] if args.summary_only else args.datasets:
        base = load_config(ROOT / CONFIGS[dataset])
        base["train"]["threads"] = args.threads
        base["train"]["eval_test_every_epoch"] = False  # selection is on dev; saves time
        if args.epochs:
            base["train"]["epochs"] = args.epochs
        for variant in args.variants:
            name, template = variant_name(variant), template_of(variant, context)
            key = "plain" if template is None else f"context-{settings_hash(template)}"
            timing = extract(dataset, template)
            results = read_results(results_path)
            extractions = results.setdefault("extractions", {}).setdefault(dataset, {})
            if timing["encoded"] or key not in extractions:  # keep the timing of an encoding
                extractions[key] = timing
            entry = results.setdefault(dataset, {}).setdefault(name, {})
            entry.update(template=template, key=key)
            write_json(results_path, results)
            print(f"{dataset} {name}: features {timing}", flush=True)
            if args.extract_only:
                continue
            for seed in args.only_seeds or range(1, args.seeds + 1):
                for method in args.methods:
                    config = method_config(base, method)
                    if template is not None:
                        config["text_template"] = template
                    config["name"] = f"{dataset}_{key}_{method}"  # one run per template
                    run_dir = runs_dir / config["name"] / f"seed-{seed}"
                    record = run_one(resolve_config(config, seed), run_dir)
                    results = read_results(results_path)
                    runs = results[dataset][name].setdefault("runs", {})
                    runs.setdefault(method, {})[str(seed)] = record
                    write_json(results_path, results)
                    print(
                        f"{dataset} {name} {method} seed {seed}: test wF1 "
                        f"{100 * record['test_wf1']:.2f} dev wF1 {100 * record['dev_wf1']:.2f} "
                        f"({record['s_per_epoch']:.1f} s/epoch) [{time.time() - start:.0f} s]",
                        flush=True,
                    )
    if args.finetune_timing:
        for mode in ("lora", "full"):
            timing = finetune_timing("iemocap6", mode, args.finetune_timing)
            results = read_results(results_path)
            results.setdefault("finetune", {}).setdefault("iemocap6", {})[mode] = timing
            write_json(results_path, results)
            print(f"fine-tuning timing: {timing}", flush=True)
    results = read_results(results_path)
    summary = summarise(results)
    print(json.dumps(summary, indent=1))
    print(json.dumps(final_line(results, summary)))


if __name__ == "__main__":
    main()

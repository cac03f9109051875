"""Benchmark of the RLVR pieces: reward throughput and a 2-step CPU GRPO run.

    python benchmarks/rlvr.py [--batch 1024] [--repeats 5] [--threads 1]

1. Rewards: a batch of synthetic completions (well-formed, malformed, nested, empty, synonyms,
   several labels, unmappable words; fixed seed) is scored by each reward function; the figure
   `rewards_per_s` is completions per second through all four rewards (format, accuracy, wheel,
   similarity) with a warm lexicon, median of `--repeats`. The first call (lexicon load) is
   reported separately, as is the corpus wheel metric.
2. GRPO: a tiny cold-started Llama (affectrl.llm.tiny) trained 2 GRPO steps on MELD prompts
   (group size 4, 4 completions per step, 16 new tokens, KL 0.04) on CPU; `grpo_2step_s` is the
   wall time of `run_grpo` (model load, trainer set-up, 2 steps, saving).

3. `--memory-probe ARCH:MODE,...` (GPU): peak GPU memory of the recipe on randomly initialised
   models with the shapes of real ones (ARCHS; MODE full or lora), bf16, G = batch = 8, KL 0.04,
   completions of `--completion-length` tokens (a random model rarely stops early, so every
   completion runs to the limit: the worst case), 2 steps. Random weights take the same memory
   as trained ones of the same shapes.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from affectrl.llm.lexicon import default_lexicon  # noqa: E402
from affectrl.llm.metrics import wheel_metric  # noqa: E402
from affectrl.llm.parsing import completion_text, extract_answer  # noqa: E402
from affectrl.llm.rewards import REWARDS  # noqa: E402

LABELS = ["anger", "joy", "sadness", "neutral", "fear", "surprise", "disgust", "frustration"]
SURFACE = ["Angry", "very happy", "sad", "calm", "scared", "Surprised!", "grossed out", "love"]
SURFACE += ["annoyed, upset", "joy and excitement", "table", "nostalgic", "a bit anxious"]
SHAPES = [
    "<think>{t}</think><answer>{a}</answer>",
    "<think>\n{t}\n</think>\n<answer> {a} </answer>\n",
    "<answer>{a}</answer>",
    "<think>{t}</think><answer></answer>",
    "<think>{t} <think>x</think></think><answer>{a}</answer>",
    "I think it is {a}",
]
REASONING = "The speaker raises the voice and repeats the question, which sounds tense."


def synthetic_batch(n: int, seed: int = 0) -> tuple[list, list[str]]:
    rng = random.Random(seed)
    completions: list = []
    for i in range(n):
        text = rng.choice(SHAPES).format(t=REASONING, a=rng.choice(SURFACE))
        # every other completion in TRL's conversational form
        completions.append([{"role": "assistant", "content": text}] if i % 2 else text)
    return completions, [rng.choice(LABELS) for _ in range(n)]


def time_rewards(batch: int, repeats: int) -> dict:
    completions, answers = synthetic_batch(batch)
    t0 = time.perf_counter()
    default_lexicon()
    first = {name: fn(completions, answer=answers) for name, fn in REWARDS.items()}
    cold_s = time.perf_counter() - t0
    per_reward = {}
    for name, fn in REWARDS.items():
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn(completions, answer=answers)
            runs.append(time.perf_counter() - t)
        per_reward[name] = batch / statistics.median(runs)
    all_runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for fn in REWARDS.values():
            fn(completions, answer=answers)
        all_runs.append(time.perf_counter() - t)
    answers_only = [extract_answer(completion_text(c)) for c in completions]
    t = time.perf_counter()
    metric = wheel_metric(answers_only, answers)
    metric_s = time.perf_counter() - t
    means = {name: sum(v) / len(v) for name, v in first.items()}
    return {
        "rewards_per_s": batch / statistics.median(all_runs),
        "per_reward_per_s": per_reward,
        "first_call_s": cold_s,
        "wheel_metric_s": metric_s,
        "wheel_metric_score": metric["score"],
        "mean_reward": means,
    }


def time_grpo() -> dict:
    import torch

    from affectrl.data import load_dataset
    from affectrl.llm.grpo import GrpoSettings, run_grpo
    from affectrl.llm.prompts import PromptSettings, build_prompts
    from affectrl.llm.tiny import make_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        model = make_tiny_model(Path(tmp) / "tiny")
        make_s = time.perf_counter() - t
        prompts = build_prompts(load_dataset("meld7"), "train", PromptSettings(window=1), limit=2)
        settings = GrpoSettings(
            model=str(model),
            output_dir=str(Path(tmp) / "run"),
            rewards=("format", "accuracy", "similarity"),
            num_generations=4,
            batch_size=4,
            max_steps=2,
            beta=0.04,
            learning_rate=1e-3,
            max_completion_length=16,
        )
        t = time.perf_counter()
        summary = run_grpo(settings, prompts)
        grpo_s = time.perf_counter() - t
    steps = [h for h in summary["log_history"] if "reward" in h]
    return {
        "grpo_2step_s": grpo_s,
        "grpo_train_runtime_s": summary["log_history"][-1].get("train_runtime"),
        "tiny_model_make_s": make_s,
        "grpo_rewards": [h["reward"] for h in steps],
        "torch_threads": torch.get_num_threads(),
    }


# Shapes from the published config.json of the Qwen2.5 instruct models (Apache-2.0).
ARCHS = {
    "qwen2.5-0.5b": dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "qwen2.5-1.5b": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "qwen2.5-7b": dict(
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        vocab_size=152064,
        tie_word_embeddings=False,
    ),
}


def probe_dataset():
    """8 synthetic dialogues of 6 turns: prompts of a typical length for window 5."""
    import numpy as np

    from affectrl.data import Dialogue, DialogueDataset

    line = "I told you already that I would be there at eight and you still did not wait for me"
    dialogues = [
        Dialogue(id=f"d{k}", speakers=["A", "B"] * 3, labels=np.arange(6) % 6, texts=[line] * 6)
        for k in range(8)
    ]
    names = ["neutral", "joy", "sadness", "anger", "surprise", "fear"]
    return DialogueDataset("probe", names, {"train": dialogues})


def memory_probe(arch: str, mode: str, completion_length: int, steps: int = 2) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from affectrl.llm.grpo import GrpoSettings, run_grpo
    from affectrl.llm.prompts import build_prompts
    from affectrl.llm.tiny import make_tokenizer

    tokenizer = make_tokenizer()
    ids = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    config = Qwen2Config(**ARCHS[arch], max_position_embeddings=32768, **ids)
    with tempfile.TemporaryDirectory(dir=os.environ.get("PROBE_TMP")) as tmp:
        with torch.device("cuda"):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        params = sum(p.numel() for p in model.parameters())
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        prompts = build_prompts(probe_dataset(), "train")
        prompt_tokens = max(
            len(tokenizer(tokenizer.apply_chat_template(p, tokenize=False))["input_ids"])
            for p in prompts["prompt"]
        )
        settings = GrpoSettings(
            model=tmp,
            output_dir=str(Path(tmp) / "run"),
            num_generations=8,
            batch_size=8,
            max_steps=steps,
            beta=0.04,
            max_completion_length=completion_length,
            lora=mode == "lora",
        )
        t = time.perf_counter()
        try:
            run_grpo(settings, prompts)
            error = None
        except torch.OutOfMemoryError as exc:
            error = f"out of memory: {str(exc).splitlines()[0]}"
        seconds = time.perf_counter() - t
    return {
        "arch": arch,
        "mode": mode,
        "params_b": params / 1e9,
        "prompt_tokens_max": prompt_tokens,
        "completion_tokens": completion_length,
        "peak_allocated_gib": torch.cuda.max_memory_allocated() / 2**30,
        "peak_reserved_gib": torch.cuda.max_memory_reserved() / 2**30,
        "run_s": seconds,
        "error": error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the GRPO run")
    parser.add_argument("--skip-grpo", action="store_true")
    parser.add_argument("--memory-probe", help="GPU: ARCH:MODE,... e.g. qwen2.5-0.5b:full")
    parser.add_argument("--completion-length", type=int, default=256)
    args = parser.parse_args()

    if args.memory_probe:
        probes = []
        for item in args.memory_probe.split(","):
            arch, mode = item.split(":")
            probes.append(memory_probe(arch, mode, args.completion_length))
            print(json.dumps(probes[-1]), flush=True)
        print(json.dumps({"memory_probe": probes}))
        return

    rewards = time_rewards(args.batch, args.repeats)
    print(f"rewards: {rewards['rewards_per_s']:.0f} completions/s through all four rewards")
    for name, rate in rewards["per_reward_per_s"].items():
        print(f"  {name:10s} {rate:10.0f} completions/s")
    print(f"  first call (lexicon load + cold caches): {rewards['first_call_s']:.3f} s")
    print(f"  wheel metric over {args.batch} samples: {rewards['wheel_metric_s']:.3f} s")
    result = {"batch": args.batch, **rewards}
    if not args.skip_grpo:
        import torch

        torch.set_num_threads(args.threads)
        grpo = time_grpo()
        print(f"grpo: 2 steps in {grpo['grpo_2step_s']:.1f} s (run_grpo wall time)")
        print(f"  trainer.train: {grpo['grpo_train_runtime_s']} s; mean rewards per step:")
        print(f"  {grpo['grpo_rewards']}; tiny model made in {grpo['tiny_model_make_s']:.1f} s")
        result.update(grpo)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()

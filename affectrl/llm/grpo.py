"""GRPO recipe: a local causal LM, our prompts and our verifiable rewards, on TRL's GRPOTrainer.

Needs the `llm` extra (trl, transformers, peft, datasets); everything is imported inside
`run_grpo` so the rest of affectrl works without it. Weights are read from a local folder only
(`local_files_only`, `HF_HUB_OFFLINE=1`): nothing is downloaded.

GRPO (Shao et al. 2024, DeepSeekMath) samples a group of G completions per prompt, scores each
with the weighted sum of the reward functions, and uses the reward minus the group mean, divided
by the group standard deviation, as the advantage of every token of that completion; `beta`
weights a KL penalty to the reference (initial) model.

A run writes to `output_dir`:
    tensorboard/       reward curves (train/rewards/<name>/mean, train/reward, train/kl, ...)
    final/             the trained weights (LoRA adapter only, with --lora) + tokenizer
    grpo_summary.json  the settings and TRL's log history (per-step rewards, loss, KL)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..io import write_json
from .prompts import flatten_prompt
from .rewards import REWARDS


@dataclass
class GrpoSettings:
    """Everything a GRPO run needs besides its prompts.

    Attributes:
        model: local folder with a causal LM and its tokenizer (config.json, *.safetensors, ...).
        output_dir: where the run writes (module docstring).
        rewards: names in `affectrl.llm.rewards.REWARDS`, summed with `reward_weights`.
        num_generations: group size G (completions per prompt).
        beta: KL coefficient to the reference model (0 = no reference model kept).
        batch_size: completions per device per optimisation step; a multiple of G.
        max_completion_length: tokens generated per completion at most.
        lora: train a LoRA adapter (peft) instead of all weights; the reference model is then the
            base model with the adapter disabled, so no second copy is held in memory.
        bf16: bfloat16 weights and autocast (GPU); None = when CUDA supports it.
    """

    model: str
    output_dir: str
    rewards: tuple[str, ...] = ("format", "accuracy")
    reward_weights: tuple[float, ...] | None = None
    num_generations: int = 8
    beta: float = 0.04
    learning_rate: float = 1e-6
    max_steps: int = 100
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_completion_length: int = 256
    temperature: float = 1.0
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    seed: int = 0
    bf16: bool | None = None
    logging_steps: int = 1
    extra: dict[str, Any] = field(default_factory=dict)  # more GRPOConfig fields, passed through


def check_settings(settings: GrpoSettings) -> None:
    """Clear errors before any heavy import."""
    model_dir = Path(settings.model)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir}: not a local model folder (no config.json); --model takes a folder "
            "saved with save_pretrained, nothing is downloaded"
        )
    unknown = [r for r in settings.rewards if r not in REWARDS]
    if unknown:
        raise ValueError(f"unknown rewards {unknown}; known: {sorted(REWARDS)}")
    if settings.reward_weights is not None and len(settings.reward_weights) != len(
        settings.rewards
    ):
        raise ValueError(
            f"{len(settings.reward_weights)} reward weights for {len(settings.rewards)} rewards"
        )
    if settings.num_generations < 2 or settings.batch_size % settings.num_generations:
        raise ValueError(
            f"batch size {settings.batch_size} must be a multiple of the group size "
            f"{settings.num_generations} (>= 2)"
        )


def run_grpo(settings: GrpoSettings, train_dataset: Any) -> dict[str, Any]:
    """Train with GRPO and return the summary written to grpo_summary.json.

    Args:
        train_dataset: a `datasets.Dataset` with a `prompt` column (chat messages or text) and an
            `answer` column (gold labels), e.g. from `affectrl.llm.prompts.build_prompts`.
    """
    check_settings(settings)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from torch.utils.tensorboard import SummaryWriter
    from transformers import AutoTokenizer
    from transformers.integrations import TensorBoardCallback
    from trl import GRPOConfig, GRPOTrainer

    out = Path(settings.output_dir)
    tokenizer = AutoTokenizer.from_pretrained(settings.model, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None and not isinstance(train_dataset[0]["prompt"], str):
        # A base model without a chat template gets the conversation as plain text.
        train_dataset = train_dataset.map(lambda row: {"prompt": flatten_prompt(row["prompt"])})

    cuda = torch.cuda.is_available()
    bf16 = settings.bf16 if settings.bf16 is not None else cuda and torch.cuda.is_bf16_supported()
    config = GRPOConfig(
        output_dir=str(out),
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=settings.beta,
        learning_rate=settings.learning_rate,
        reward_weights=list(settings.reward_weights) if settings.reward_weights else None,
        logging_steps=settings.logging_steps,
        report_to="none",  # TensorBoard is attached below, into a folder we choose
        save_strategy="no",
        seed=settings.seed,
        use_cpu=not cuda,
        bf16=bf16,
        model_init_kwargs={
            "local_files_only": True,
            "dtype": torch.bfloat16 if bf16 else torch.float32,
        },
        **settings.extra,
    )
    peft_config = None
    if settings.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            task_type="CAUSAL_LM",
            r=settings.lora_r,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules="all-linear",
        )
    writer = SummaryWriter(str(out / "tensorboard"))
    trainer = GRPOTrainer(
        model=settings.model,
        reward_funcs=[REWARDS[name] for name in settings.rewards],
        args=config,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[TensorBoardCallback(writer)],
    )
    trainer.train()
    writer.close()
    trainer.save_model(str(out / "final"))
    tokenizer.save_pretrained(str(out / "final"))
    summary = {"settings": asdict(settings), "bf16": bf16, "log_history": trainer.state.log_history}
    write_json(out / "grpo_summary.json", summary)
    return summary

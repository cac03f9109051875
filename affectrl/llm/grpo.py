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
    checkpoint-N/      the last checkpoint every `save_steps`: a run started again resumes there
    final/             the trained weights (LoRA adapter only, with --lora) + tokenizer
    grpo_summary.json  the settings and TRL's log history (per-step rewards, loss, KL)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .prompts import flatten_prompt
from .rewards import REWARDS
from .training import (
    StageSettings,
    check_model_folder,
    load_tokenizer,
    lora_config,
    tensorboard_callback,
    train_and_save,
    trainer_arguments,
)


@dataclass
class GrpoSettings(StageSettings):
    """Everything a GRPO run needs besides its prompts (`StageSettings` plus these).

    Attributes:
        rewards: names in `affectrl.llm.rewards.REWARDS`, summed with `reward_weights`.
        num_generations: group size G (completions per prompt).
        beta: KL coefficient to the reference model (0 = no reference model kept).
        batch_size: completions per device per optimisation step; a multiple of G.
        max_completion_length: tokens generated per completion at most.
        lora: train a LoRA adapter (peft) instead of all weights; the reference model is then the
            base model with the adapter disabled, so no second copy is held in memory.
        extra: more GRPOConfig fields, passed through.
    """

    rewards: tuple[str, ...] = ("format", "accuracy")
    reward_weights: tuple[float, ...] | None = None
    num_generations: int = 8
    beta: float = 0.04
    max_completion_length: int = 256
    temperature: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)


def check_settings(settings: GrpoSettings) -> None:
    """Clear errors before any heavy import."""
    check_model_folder(settings.model)
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
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = load_tokenizer(settings.model)
    if tokenizer.chat_template is None and not isinstance(train_dataset[0]["prompt"], str):
        # A base model without a chat template gets the conversation as plain text.
        train_dataset = train_dataset.map(lambda row: {"prompt": flatten_prompt(row["prompt"])})

    config = GRPOConfig(
        **trainer_arguments(settings),
        num_generations=settings.num_generations,
        max_completion_length=settings.max_completion_length,
        temperature=settings.temperature,
        beta=settings.beta,
        reward_weights=list(settings.reward_weights) if settings.reward_weights else None,
        **settings.extra,
    )
    callback, writer = tensorboard_callback(settings.output_dir)
    trainer = GRPOTrainer(
        model=settings.model,
        reward_funcs=[REWARDS[name] for name in settings.rewards],
        args=config,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=lora_config(settings),
        callbacks=[callback],
    )
    return train_and_save(trainer, settings, tokenizer, writer, "grpo")

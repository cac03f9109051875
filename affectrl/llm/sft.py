"""Cold-start supervised fine-tuning (`affectrl llm sft`): teach the answer format before RLVR.

A small instruct model asked for `<think>…</think><answer>…</answer>` ignores the format, so every
verifiable reward is 0, every GRPO group has zero variance and nothing is learned. R1-Omni
(Zhao et al. 2025) starts from a model fine-tuned on a few hundred annotated explanations for this
reason. We have no reasoning annotations, so the target of each prompt is

    <think>{THINK}</think><answer>{gold label}</answer>

with a short FIXED think sentence (`DEFAULT_THINK`; `--think` changes it, `{speaker}` is filled
in). Why fixed, and not a template that names the label or a made-up explanation: a think that
restates the label ("the speaker sounds angry") only moves the decision earlier, and an invented
rationale would teach the model to produce text no one has checked; a fixed sentence teaches
exactly the format and leaves the label choice to the answer tokens, where the accuracy reward
acts, at the cost of ~6 tokens per completion (CPU budgets count every generated token).

Training is TRL's SFTTrainer on a prompt-completion conversational dataset: the loss is on the
completion tokens only (the assistant turn, with its end-of-turn token). LoRA is optional; with
LoRA the adapter is merged into `final/` by default so that `affectrl llm grpo --model
RUN/final` reads it as a plain model folder. Resumable (training module).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .training import (
    StageSettings,
    check_model_folder,
    load_tokenizer,
    lora_config,
    tensorboard_callback,
    train_and_save,
    trainer_arguments,
)

DEFAULT_THINK = "I weigh the words in context."


def sft_target(answer: str, think: str = DEFAULT_THINK, speaker: str = "") -> str:
    """The assistant turn a prompt is trained towards."""
    return f"<think>{think.format(speaker=speaker)}</think><answer>{answer}</answer>"


def sft_rows(rows: Iterable[Mapping[str, Any]], think: str = DEFAULT_THINK) -> list[dict]:
    """Prompt rows (`affectrl.llm.prompts.build_prompts`) → prompt-completion rows for TRL."""
    return [
        {
            "prompt": list(row["prompt"]),
            "completion": [
                {
                    "role": "assistant",
                    "content": sft_target(row["answer"], think, row.get("speaker", "")),
                }
            ],
        }
        for row in rows
    ]


@dataclass
class SftSettings(StageSettings):
    """SFT settings (`StageSettings` plus these).

    Attributes:
        think: the fixed reasoning sentence of every target (module docstring).
        epochs: passes over the data when `max_steps` is 0 or less.
        max_length: prompt + completion tokens kept at most (longer ones are cut at the end).
        warmup: steps with a linearly rising learning rate (a number below 1: that share of
            the steps).
        lr_scheduler: the learning-rate schedule after warm-up (transformers' names).
    """

    learning_rate: float = 5e-5
    think: str = DEFAULT_THINK
    epochs: float = 1.0
    max_length: int = 512
    warmup: float = 0.05
    merge_lora: bool = True
    lr_scheduler: str = "cosine"


def check_settings(settings: SftSettings) -> None:
    check_model_folder(settings.model)
    if settings.batch_size < 1 or settings.max_length < 16:
        raise ValueError("batch size must be >= 1 and max_length >= 16")
    try:
        settings.think.format(speaker="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"--think {settings.think!r}: only {{speaker}} may be filled in") from exc


def run_sft(settings: SftSettings, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Fine-tune on `rows` (prompt rows with `prompt`, `answer`, optionally `speaker`) and
    return the summary written to `sft_summary.json`."""
    check_settings(settings)
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tokenizer = load_tokenizer(settings.model)
    if not tokenizer.chat_template:
        raise ValueError(f"{settings.model}: the tokenizer has no chat template; SFT needs one")
    dataset = Dataset.from_list(sft_rows(rows, settings.think))
    arguments = trainer_arguments(settings)
    if settings.max_steps <= 0:
        arguments["max_steps"] = -1  # the epochs decide
    config = SFTConfig(
        **arguments,
        num_train_epochs=settings.epochs,
        max_length=settings.max_length,
        warmup_steps=settings.warmup,
        lr_scheduler_type=settings.lr_scheduler,
        completion_only_loss=True,
    )
    callback, writer = tensorboard_callback(settings.output_dir)
    trainer = SFTTrainer(
        model=settings.model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(settings),
        callbacks=[callback],
    )
    target = sft_target("LABEL", settings.think, "SPEAKER")
    return train_and_save(
        trainer, settings, tokenizer, writer, "sft", examples=len(dataset), target=target
    )

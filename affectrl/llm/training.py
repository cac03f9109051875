"""What the SFT and GRPO stages share: a local model folder, LoRA, precision, TensorBoard,
resuming from the last checkpoint, and saving `final/`.

A run folder (`output_dir`) holds `checkpoint-N/` (Trainer checkpoints, the last `keep` kept),
`tensorboard/`, `final/` and a `<stage>_summary.json`. Started again on the same folder, a run
resumes from its last checkpoint: same optimiser state, scheduler, RNG and step count. Needs the
`llm` extra; everything heavy is imported inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import write_json


@dataclass
class StageSettings:
    """Settings both training stages take (the dataclasses of `sft` and `grpo` extend it).

    Attributes:
        model: local folder with a causal LM and its tokenizer (config.json, *.safetensors, ...).
        output_dir: the run folder (module docstring).
        lora: train a LoRA adapter (peft) on all linear layers instead of all weights.
        merge_lora: save `final/` as full weights with the adapter merged in (so the next stage
            or a plain `from_pretrained` reads it), instead of the adapter alone.
        bf16: bfloat16 autocast; None = when CUDA supports it. On a GPU the weights are loaded
            in bfloat16 too (TRL's default); on a CPU they stay float32 master weights under
            autocast (bfloat16 weights would round AdamW's small updates away). On CPUs with AMX
            or AVX512-BF16 this trains about 1.3x faster than float32.
        save_steps: write a checkpoint every N steps (0 = none; the run cannot resume then).
        keep_checkpoints: checkpoints kept on disk.
        gradient_checkpointing: recompute activations in the backward pass (less memory, about a
            third more compute; TRL turns it on by default, off pays on CPU for small models).
    """

    model: str
    output_dir: str
    learning_rate: float = 1e-6
    max_steps: int = 100
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    merge_lora: bool = False
    seed: int = 0
    bf16: bool | None = None
    logging_steps: int = 1
    save_steps: int = 50
    keep_checkpoints: int = 1
    gradient_checkpointing: bool = True


def check_model_folder(model: str | Path) -> None:
    if not (Path(model) / "config.json").is_file():
        raise FileNotFoundError(
            f"{model}: not a local model folder (no config.json); --model takes a folder "
            "saved with save_pretrained (e.g. from `affectrl llm import`), nothing is downloaded"
        )


def load_tokenizer(model: str) -> Any:
    """The folder's tokenizer, offline, with a pad token (the EOS token when it has none)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def use_bf16(setting: bool | None) -> bool:
    import torch

    if setting is not None:
        return setting
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def trainer_arguments(settings: StageSettings) -> dict[str, Any]:
    """The TrainingArguments fields both TRL configs take, from `settings`."""
    import torch

    bf16 = use_bf16(settings.bf16)
    bf16_weights = bf16 and torch.cuda.is_available()
    return dict(
        output_dir=settings.output_dir,
        max_steps=settings.max_steps,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        logging_steps=settings.logging_steps,
        report_to="none",  # TensorBoard is attached by `train`, into a folder we choose
        save_strategy="steps" if settings.save_steps else "no",
        save_steps=settings.save_steps or 500,
        save_total_limit=settings.keep_checkpoints,
        seed=settings.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=bf16,
        gradient_checkpointing=settings.gradient_checkpointing,
        model_init_kwargs={
            "local_files_only": True,
            "dtype": torch.bfloat16 if bf16_weights else torch.float32,
        },
    )


def lora_config(settings: StageSettings) -> Any:
    """A peft LoraConfig on all linear layers, or None without --lora."""
    if not settings.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        task_type="CAUSAL_LM",
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules="all-linear",
    )


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest `checkpoint-N` folder of a run, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(output_dir)
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def tensorboard_callback(output_dir: str | Path) -> tuple[Any, Any]:
    """(callback, writer) logging the Trainer's scalars to OUTPUT/tensorboard."""
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    writer = SummaryWriter(str(Path(output_dir) / "tensorboard"))
    return TensorBoardCallback(writer), writer


def score_only_labelled_positions() -> None:
    """Make TRL's fused LM head score only the labelled positions on CPU, as it does on GPUs.

    TRL 1.16 (`trl.trainer.utils._fused_forward`) projects only the positions with a label onto
    the vocabulary when Triton runs (CUDA/XPU), and every position elsewhere (to keep tile
    shapes fixed for compiling backends such as Neuron). On a CPU that projects the whole prompt
    in float32 for nothing: measured here on SmolLM2-135M SFT (8 x ~160 tokens, ~18 of them
    completion), 35 s/step before, 19 s/step after, same losses to 3 decimals. The compact path
    is plain tensor indexing, correct on any device; this only changes which one CPUs take.
    """
    import trl.trainer.utils as trl_utils

    original = getattr(trl_utils, "_use_triton", None)
    if original is None or getattr(original, "_affectrl_compact", False):
        return

    def compact_on_cpu(device: Any) -> bool:
        return device.type == "cpu" or original(device)

    compact_on_cpu._affectrl_compact = True  # type: ignore[attr-defined]
    trl_utils._use_triton = compact_on_cpu


def train_and_save(
    trainer: Any, settings: StageSettings, tokenizer: Any, writer: Any, stage: str, **extra: Any
) -> dict[str, Any]:
    """Train (resuming from the last checkpoint when there is one), save `final/` and the
    summary `<stage>_summary.json`; returns the summary."""
    from dataclasses import asdict

    out = Path(settings.output_dir)
    resume = last_checkpoint(out)
    if resume:
        print(f"resuming from {resume}")
    score_only_labelled_positions()
    trainer.train(resume_from_checkpoint=resume)
    writer.close()
    final = out / "final"
    model = trainer.model
    if settings.lora and settings.merge_lora:
        model = model.merge_and_unload()
        model.save_pretrained(str(final))
    else:
        trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    summary = {
        "settings": asdict(settings),
        "bf16": use_bf16(settings.bf16),
        "resumed_from": resume,
        "log_history": trainer.state.log_history,
        **extra,
    }
    write_json(out / f"{stage}_summary.json", summary)
    return summary

"""Dialogues → chat prompts with gold answers, one per labelled utterance.

Each row is a dict in TRL's conversational prompt format plus the gold answer and provenance:

    {"prompt": [{"role": "system", "content": ...}, {"role": "user", "content": ...}],
     "answer": "anger", "dialogue_id": ..., "utterance_id": ..., "speaker": ...}

The user message shows up to `window` earlier turns (and `future` later ones, for offline
recognition) as `[speaker]: text`, then the target turn, optional per-modality descriptions of the
target (e.g. `{"audio": "raised voice"}`, from a captioner or the feature pipeline), and the
question, listing the dataset's classes unless `open_vocabulary`. `answer` is the class name in
words (IEMOCAP's abbreviations are spelled out), which the rewards compare after normalisation.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..data import DataError, Dialogue, DialogueDataset

SYSTEM_PROMPT = (
    "You are an expert in emotion recognition in conversation. First reason about the target "
    "utterance inside <think> </think>, then give your final answer inside <answer> </answer>."
)
# Class names as they are shown to the model and written as gold answers.
DISPLAY_NAMES = {
    "hap": "happiness",
    "sad": "sadness",
    "neu": "neutral",
    "ang": "anger",
    "exc": "excitement",
    "fru": "frustration",
}
SENTIMENT_LABELS = {"negative", "non-negative", "neutral", "positive"}


@dataclass(frozen=True)
class PromptSettings:
    """How prompts are built.

    Attributes:
        window: earlier turns shown before the target (0 = none).
        future: later turns shown after it (0 for online recognition).
        open_vocabulary: ask for free emotion words instead of listing the classes.
        system_prompt: the system message (asks for the `<think>`/`<answer>` format).
    """

    window: int = 5
    future: int = 0
    open_vocabulary: bool = False
    system_prompt: str = SYSTEM_PROMPT


def display_name(label: str) -> str:
    return DISPLAY_NAMES.get(label, label)


def _question(speaker: str, classes: list[str], open_vocabulary: bool) -> str:
    if set(classes) <= SENTIMENT_LABELS:
        options = ", ".join(classes)
        return f"What is the sentiment of the target utterance? Answer with one of: {options}."
    if open_vocabulary:
        return (
            f"Which emotions does {speaker} express in the target utterance? Answer with one or "
            "more emotion words separated by commas."
        )
    return (
        f"Which emotion does {speaker} express in the target utterance? Answer with exactly one "
        f"of: {', '.join(classes)}."
    )


def utterance_prompt(
    dialogue: Dialogue,
    index: int,
    classes: list[str],
    settings: PromptSettings = PromptSettings(),
    descriptions: Mapping[str, str] | None = None,
) -> list[dict[str, str]]:
    """The chat messages asking for the emotion of utterance `index` of `dialogue`."""
    texts = dialogue.texts or []

    def turn(i: int) -> str:
        return f"[{dialogue.speakers[i]}]: {texts[i]}"

    before = range(max(0, index - settings.window), index)
    after = range(index + 1, min(len(dialogue), index + 1 + settings.future))
    lines = []
    if before:
        lines += ["Conversation so far:", *(turn(i) for i in before), ""]
    lines += ["Target utterance:", turn(index)]
    for modality, text in (descriptions or {}).items():
        lines.append(f"{modality.capitalize()} cues: {text}")
    if after:
        lines += ["", "What follows:", *(turn(i) for i in after)]
    lines += ["", _question(dialogue.speakers[index], classes, settings.open_vocabulary)]
    return [
        {"role": "system", "content": settings.system_prompt},
        {"role": "user", "content": "\n".join(lines)},
    ]


def build_prompts(
    dataset: DialogueDataset,
    split: str = "train",
    settings: PromptSettings = PromptSettings(),
    descriptions: Mapping[str, Mapping[str, str]] | None = None,
    limit: int | None = None,
    as_dataset: bool | None = None,
    every: int = 1,
    offset: int = 0,
) -> Any:
    """One prompt row per labelled utterance of `split` (module docstring), in dialogue order.

    Args:
        dataset: e.g. `affectrl.data.load_dataset("meld7")`; needs transcripts.
        descriptions: utterance id -> {modality: description of the target's cues}.
        limit: keep the first `limit` rows.
        every, offset: keep only the labelled utterances offset, offset + every, ... (counted in
            dialogue order, before `limit`): a subset spread over all dialogues, each prompt
            still showing its full context.
        as_dataset: True → a `datasets.Dataset` (needs the `llm` extra); False → a list of dicts;
            None → a Dataset when `datasets` is installed, else the list.
    """
    if every < 1 or not 0 <= offset < every:
        raise ValueError(f"every={every}, offset={offset}: need every >= 1 and 0 <= offset < every")
    classes = [display_name(n) for n in dataset.label_names]
    rows: list[dict[str, Any]] = []
    position = -1
    for dialogue in dataset.dialogues(split):
        if dialogue.texts is None:
            source = dataset.source[0] if dataset.source else dataset.name
            raise DataError(source, "no transcripts: prompts need texts", dialogue.id)
        for i, label in enumerate(dialogue.labels.tolist()):
            if label < 0:
                continue
            position += 1
            if position % every != offset:
                continue
            uid = dialogue.utterance_ids[i]
            rows.append(
                {
                    "prompt": utterance_prompt(
                        dialogue, i, classes, settings, (descriptions or {}).get(uid)
                    ),
                    "answer": classes[label],
                    "dialogue_id": dialogue.id,
                    "utterance_id": uid,
                    "speaker": dialogue.speakers[i],
                }
            )
            if limit is not None and len(rows) >= limit:
                return _as_dataset(rows, as_dataset)
    return _as_dataset(rows, as_dataset)


def balanced_subset(
    rows: Sequence[Mapping[str, Any]], per_class: int, seed: int = 0
) -> list[dict[str, Any]]:
    """Up to `per_class` rows of each gold answer, drawn at random (seeded), in their order.

    For RL on an imbalanced label set: with the accuracy reward, "always the majority class"
    earns the majority's share of the reward, and GRPO can collapse onto it (docs/RLVR.md).
    """
    if per_class < 1:
        raise ValueError(f"per_class={per_class}: need at least 1")
    rng = random.Random(seed)
    by_answer: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_answer[str(row["answer"])].append(i)
    keep = sorted(
        i
        for _, indices in sorted(by_answer.items())
        for i in rng.sample(indices, min(per_class, len(indices)))
    )
    return [dict(rows[i]) for i in keep]


def as_dataset(rows: list[dict[str, Any]]) -> Any:
    """Rows as a `datasets.Dataset` (the llm extra)."""
    return _as_dataset(rows, True)


def _as_dataset(rows: list[dict[str, Any]], as_dataset: bool | None) -> Any:
    if as_dataset is False:
        return rows
    try:
        from datasets import Dataset
    except ImportError:
        if as_dataset:
            raise ImportError("datasets is not installed: pip install 'affectrl[llm]'") from None
        return rows
    return Dataset.from_list(rows)


def flatten_prompt(messages: list[dict[str, str]]) -> str:
    """A chat prompt as plain text, for tokenizers without a chat template (base models)."""
    body = "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)
    return body + "\n\nAssistant:"

"""Verifiable rewards for emotion answers, in TRL GRPOTrainer's calling convention.

Each reward is `f(completions, **batch_columns) -> list[float]`, one float per completion, pure
(no state, no randomness) and batched. `completions` may be strings or chat lists of message
dicts (`affectrl.llm.parsing.completion_text`). The gold labels come from the dataset column
`answer` (a string such as "anger" or "anger, frustration", or a list of strings), which TRL
passes by name; other columns TRL adds (`prompts`, `trainer_state`, ...) are ignored.

| reward | value |
|---|---|
| `format_reward` | 1 if well-formed `<think>…</think><answer>…</answer>` (parsing module), else 0 |
| `accuracy_reward` | 1 if the answer's set of label keys equals the gold's, else 0 |
| `wheel_reward` | the sample's emotion-wheel F averaged over wheels, in [0, 1] |
| `similarity_reward` | closeness on Plutchik's wheel, 1 − ‖p − g‖/2, in [0, 1] |

Accuracy, wheel and similarity read the answer with `extract_answer` (format is rewarded
separately, as in R1-Omni where R = R_acc + R_format); no parsable answer scores 0. Label keys
are base forms after normalisation and synonyms ("Angry" = "anger" = "mad"), or the normalised
text for labels outside the lexicon, so closed sets such as "non-negative" work too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..registry import Registry
from .lexicon import default_lexicon, split_labels
from .metrics import Answer, sample_wheel_score
from .parsing import Completion, completion_text, extract_answer, parse_completion
from .similarity import emotion_similarity

RewardFunction = Callable[..., list[float]]


def _answers(completions: Sequence[Completion]) -> list[str | None]:
    return [extract_answer(completion_text(c)) for c in completions]


def _check_lengths(completions: Sequence[Completion], answer: Sequence[Answer]) -> None:
    if len(completions) != len(answer):
        raise ValueError(f"{len(completions)} completions but {len(answer)} gold answers")


def format_reward(completions: Sequence[Completion], **kwargs: Any) -> list[float]:
    """1.0 for a well-formed `<think>…</think><answer>…</answer>` completion, else 0.0."""
    return [float(parse_completion(completion_text(c)) is not None) for c in completions]


def accuracy_reward(
    completions: Sequence[Completion], answer: Sequence[Answer], **kwargs: Any
) -> list[float]:
    """1.0 when the extracted answer's labels equal the gold labels after normalisation, else 0.0.

    Compared as sets of keys, so a single gold label needs a single predicted label: hedging
    ("anger or sadness") scores 0 against "anger".
    """
    _check_lengths(completions, answer)
    lexicon = default_lexicon()
    rewards = []
    for predicted, gold in zip(_answers(completions), answer, strict=True):
        pred_keys = {lexicon.key(x) for x in split_labels(predicted)} if predicted else set()
        gold_keys = {lexicon.key(x) for x in split_labels(gold)} if gold else set()
        rewards.append(float(bool(pred_keys) and pred_keys == gold_keys))
    return rewards


def wheel_reward(
    completions: Sequence[Completion], answer: Sequence[Answer], **kwargs: Any
) -> list[float]:
    """Per sample, F = 2PR/(P+R) on each emotion wheel, averaged over wheels (metrics module)."""
    _check_lengths(completions, answer)
    lexicon = default_lexicon()
    return [
        sample_wheel_score(predicted, gold, lexicon) if predicted else 0.0
        for predicted, gold in zip(_answers(completions), answer, strict=True)
    ]


def similarity_reward(
    completions: Sequence[Completion], answer: Sequence[Answer], **kwargs: Any
) -> list[float]:
    """Partial credit by closeness on Plutchik's wheel (similarity module); 0 if unmappable."""
    _check_lengths(completions, answer)
    lexicon = default_lexicon()
    return [
        emotion_similarity(predicted, gold, lexicon) if predicted and gold else 0.0
        for predicted, gold in zip(_answers(completions), answer, strict=True)
    ]


REWARDS: Registry[RewardFunction] = Registry(
    "reward",
    {
        "format": format_reward,
        "accuracy": accuracy_reward,
        "wheel": wheel_reward,
        "similarity": similarity_reward,
    },
)

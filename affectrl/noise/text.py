"""Raw text corruptions on one transcript (str -> str): word dropout and ASR-like errors."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from .raw import RawCorruption
from .spec import check_fraction, register

# Letters an ASR system (or a listener) confuses: voicing pairs, nasals, vowels.
CONFUSABLE = {
    "b": "p", "p": "b", "d": "t", "t": "d", "g": "k", "k": "g", "v": "f", "f": "v",
    "s": "z", "z": "s", "m": "n", "n": "m", "a": "e", "e": "i", "i": "e", "o": "u", "u": "o",
}  # fmt: skip


@dataclass(frozen=True)
class TextCorruption(RawCorruption):
    MODALITY = "text"

    def __call__(self, text: str, item: Any = None) -> str:
        """One transcript -> the corrupted transcript (item: the RawItem, unused)."""
        if not isinstance(text, str):
            raise ValueError(f"expected a transcript string, got {type(text).__name__}")
        words = text.split()
        rng = self.rng(text.encode())
        chosen = set(rng.permutation(len(words))[: round(self.fraction * len(words))].tolist())
        return " ".join(w for w in self.edit(words, chosen, rng) if w)

    def edit(self, words: list[str], chosen: set[int], rng) -> list[str]:
        raise NotImplementedError


@register("raw", "word_dropout")
@dataclass(frozen=True)
class WordDropout(TextCorruption):
    """Delete a `fraction` of the words (exact count, rounded)."""

    fraction: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("fraction", self.fraction)

    def edit(self, words, chosen, rng):
        return [w for i, w in enumerate(words) if i not in chosen]


@register("raw", "asr_substitute")
@dataclass(frozen=True)
class AsrSubstitute(TextCorruption):
    """Replace a `fraction` of the words by a sound-alike: the closest other word of
    `vocabulary` by spelling when one is close enough, else the word with one letter swapped
    for a confusable one (b/p, d/t, m/n, vowels, ...)."""

    fraction: float = 0.2
    vocabulary: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("fraction", self.fraction)
        object.__setattr__(self, "vocabulary", tuple(self.vocabulary))

    def edit(self, words, chosen, rng):
        return [self._confuse(w, rng) if i in chosen else w for i, w in enumerate(words)]

    def _confuse(self, word: str, rng) -> str:
        lower = word.lower()
        close = [c for c in difflib.get_close_matches(lower, self.vocabulary, 4, 0.6) if c != lower]
        if close:
            out = close[int(rng.integers(len(close)))]
            return out.upper() if word.isupper() else out
        spots = [i for i, ch in enumerate(lower) if ch in CONFUSABLE]
        if not spots:
            return word
        i = spots[int(rng.integers(len(spots)))]
        swap = CONFUSABLE[lower[i]]
        return word[:i] + (swap.upper() if word[i].isupper() else swap) + word[i + 1 :]

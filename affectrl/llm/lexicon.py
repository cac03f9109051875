"""Emotion words → base forms → categories on several emotion wheels.

The tables are package data under `affectrl/llm/resources/` (sources cited in each file):

- `emotion_terms.csv`: one row per base-form emotion term and its category on each wheel
  (Plutchik: one primary, or two for a dyad written `joy+trust`; Parrott: the secondary category,
  whose parent gives the primary; Geneva: the GEW 2.0 family). Empty = not on that wheel.
- `synonyms.yaml`: surface words and phrases ("angry", "scared", "hap") → base-form term.
- `wheels.yaml`: each wheel's category list, Parrott's secondary → primary tree, citations.

How a free-text label becomes a base form (`EmotionLexicon.base_form`):

1. `normalise_label`: Unicode NFKC, lower case, `_` → space, every character other than a letter,
   digit, hyphen, apostrophe or space → space, whitespace collapsed, then leading hedges and
   intensity words ("very", "a bit", "feeling", ...; `LEADING_MODIFIERS`) removed.
2. Lookup of the normalised phrase as a term, then as a synonym; failing both, the same after
   dropping a plural "s". Anything else is unmappable (`None`).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

from ..data.errors import DataError

RESOURCES = "affectrl.llm.resources"
PARROTT_PRIMARY = "parrott_primary"
PARROTT_SECONDARY = "parrott_secondary"
# The wheels the open-vocabulary metric averages over, in report order.
WHEELS = ("plutchik", PARROTT_PRIMARY, PARROTT_SECONDARY, "geneva")
# CSV column holding each wheel's category (the Parrott primary is derived from the secondary).
CSV_COLUMNS = {"plutchik": "plutchik", PARROTT_SECONDARY: "parrott", "geneva": "geneva"}

LEADING_MODIFIERS = frozenset(
    "a an the very really quite rather slightly somewhat extremely mildly deeply highly so too "
    "little bit kind sort of feeling feel feels felt is am are being seems seem strongly strong "
    "mild slight intense intensely extreme".split()
)
# Separators between several labels in one answer: , ; / | + & newline, and the words "and", "or".
LABEL_SEPARATORS = re.compile(r"[,;/|+&\n]|\band\b|\bor\b")
_NON_WORD = re.compile(r"[^a-z0-9' -]+")
# An answer longer than this (a string, or a list's labels together) holds no labels: it is a
# miss, not thousands of labels (R1-style answers are a few words; this keeps a megabyte of
# model output from costing more than its parse).
MAX_ANSWER_CHARS = 2000
MEMO_SIZE = 100_000


def normalise_label(label: str) -> str:
    """Lower-cased, punctuation-free, single-spaced label without leading intensity words."""
    text = unicodedata.normalize("NFKC", label).lower().replace("_", " ")
    words = _NON_WORD.sub(" ", text).replace("-", " - ").split()
    start = next((i for i, w in enumerate(words) if w not in LEADING_MODIFIERS), len(words))
    return " ".join(words[start:]).replace(" - ", "-").strip("-' ")


def split_labels(answer: str | list[str] | tuple[str, ...]) -> list[str]:
    """An answer's labels: a list is taken as given; a string is split on `LABEL_SEPARATORS`.

    Blank pieces are dropped; order is kept (duplicates too: callers take sets). An answer longer
    than MAX_ANSWER_CHARS gives no labels.
    """
    pieces = list(answer) if isinstance(answer, list | tuple) else [answer]
    if sum(len(p) for p in pieces) > MAX_ANSWER_CHARS:
        return []
    if isinstance(answer, str):
        pieces = LABEL_SEPARATORS.split(answer)
    return [p.strip() for p in pieces if p and p.strip()]


@dataclass
class EmotionLexicon:
    """Base forms, synonyms and wheel categories (see the module docstring).

    Attributes:
        terms: base-form term -> {wheel: frozenset of categories} (absent wheel = not on it).
        synonyms: surface form -> base-form term.
        categories: wheel -> its categories, "neutral" last.
        plutchik_order: Plutchik's eight primaries in circle order (0°, 45°, ...).
    """

    terms: dict[str, dict[str, frozenset[str]]]
    synonyms: dict[str, str]
    categories: dict[str, tuple[str, ...]]
    plutchik_order: tuple[str, ...]
    _memo: dict[str, str | None] = field(default_factory=dict, repr=False)

    def base_form(self, label: str) -> str | None:
        """The base-form term a free-text label means, or None when it is unmappable."""
        if label not in self._memo:
            if len(self._memo) >= MEMO_SIZE:  # bounded: model outputs are endless
                self._memo.clear()
            self._memo[label] = self._lookup(normalise_label(label))
        return self._memo[label]

    def _lookup(self, phrase: str) -> str | None:
        candidates = [phrase]
        if phrase.endswith("s") and len(phrase) > 3:
            candidates.append(phrase[:-1])
        for c in candidates:
            if c in self.terms:
                return c
            if c in self.synonyms:
                return self.synonyms[c]
        return None

    def key(self, label: str) -> str:
        """What two labels must share to count as the same answer.

        The base form when the label is in the lexicon, else its normalised text (so closed-set
        names outside the lexicon, like "non-negative", still compare).
        """
        return self.base_form(label) or normalise_label(label)

    def wheel_categories(self, label: str, wheel: str) -> frozenset[str]:
        """Categories of `label` on `wheel`; empty when the label is unmappable there."""
        term = self.base_form(label)
        if term is None:
            return frozenset()
        return self.terms[term].get(wheel, frozenset())


def _read_text(name: str) -> str:
    return resources.files(RESOURCES).joinpath(name).read_text(encoding="utf-8")


@cache
def default_lexicon() -> EmotionLexicon:
    """The lexicon built from the package's resource files (loaded once, then shared)."""
    wheels = yaml.safe_load(_read_text("wheels.yaml"))
    neutral = wheels["neutral_category"]
    spec = wheels["wheels"]
    parents: dict[str, str] = spec[PARROTT_SECONDARY]["parents"]
    categories = {
        "plutchik": (*spec["plutchik"]["categories"], neutral),
        PARROTT_PRIMARY: (*spec[PARROTT_PRIMARY]["categories"], neutral),
        PARROTT_SECONDARY: (*parents, neutral),
        "geneva": (*spec["geneva"]["families"], neutral),
    }
    parents = {**parents, neutral: neutral}
    terms = _read_terms(categories, parents)
    synonyms = _read_synonyms(set(terms))
    return EmotionLexicon(terms, synonyms, categories, tuple(spec["plutchik"]["categories"]))


def _read_terms(
    categories: dict[str, tuple[str, ...]], parents: dict[str, str]
) -> dict[str, dict[str, frozenset[str]]]:
    path = f"{RESOURCES}/emotion_terms.csv"
    terms: dict[str, dict[str, frozenset[str]]] = {}
    for row_number, row in enumerate(csv.DictReader(_read_text("emotion_terms.csv").splitlines())):
        term = row["term"].strip()
        if term in terms:
            raise DataError(path, f"duplicate term {term!r}", row_number)
        per_wheel: dict[str, frozenset[str]] = {}
        for wheel, column in CSV_COLUMNS.items():
            cats = frozenset(c.strip() for c in row[column].split("+") if c.strip())
            unknown = cats - set(categories[wheel])
            if unknown:
                raise DataError(
                    path, f"{term!r}: {sorted(unknown)} not {wheel} categories", row_number
                )
            if cats:
                per_wheel[wheel] = cats
        if PARROTT_SECONDARY in per_wheel:
            per_wheel[PARROTT_PRIMARY] = frozenset(parents[c] for c in per_wheel[PARROTT_SECONDARY])
        terms[term] = per_wheel
    return terms


def _read_synonyms(terms: set[str]) -> dict[str, str]:
    path = f"{RESOURCES}/synonyms.yaml"
    synonyms: dict[str, str] = {}
    for term, forms in yaml.safe_load(_read_text("synonyms.yaml")).items():
        if term not in terms:
            raise DataError(path, f"synonyms given for {term!r}, which is not a term", term)
        for form in forms:
            form = normalise_label(str(form))
            if form in terms or synonyms.get(form, term) != term:
                raise DataError(path, f"form {form!r} is ambiguous (a term or listed twice)", term)
            synonyms[form] = term
    return synonyms

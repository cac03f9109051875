"""Text encoding templates: what text of a dialogue the sentence encoder reads for each utterance.

    utterance  the utterance alone (the default: the features, and the store key, of before
               templates existed)
    speaker    `<speaker>: <utterance>`
    context    a window of the preceding (and optionally following) utterances, each as
               `<speaker>: <text>`, the target marked `>> ... <<`; cut to a token budget by
               dropping the farthest context first; pooled over the whole window or over the
               target's own (contextualised) tokens

Chosen in a run config by `text_template: {name: context, past: 4, ...}` (docs/CONFIG.md). A
template's `spec()` is part of the feature store key, so features of different templates (or
windows) are cached apart; `utterance` adds nothing to the key. A templated utterance reaches
the encoder as a `TemplateInput` (its window of turns): the encoder applies a raw-text
transform to each turn (so a noisy turn reads the same as target and as context), counts
tokens with its own tokenizer and renders the text with `TemplateInput.render`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ..registry import Registry
from .transforms import RawItem, RawTransform

TEMPLATES: Registry[type[TextTemplate]] = Registry("text template", default="utterance")
TARGET_OPEN, TARGET_CLOSE = ">> ", " <<"

TokenCounter = Callable[[str], int]  # text -> number of tokens, without special tokens


@dataclass(frozen=True)
class Turn:
    """One utterance of a dialogue as a template reads it."""

    id: str
    speaker: str
    text: str


@dataclass(frozen=True)
class Rendered:
    """The text given to the encoder; [start, end): the characters of the target utterance."""

    text: str
    start: int
    end: int


class TextTemplate:
    """Base of the templates: `window()` says which turns around the target it reads,
    `render` makes the text. Subclasses' constructor arguments are their config options."""

    name: ClassVar[str]
    pool: str = "all"  # "all": the encoder's sentence vector; "target": the target's tokens
    with_utterance: bool = False  # the utterance's own sentence vector first ([2D] features)

    def window(self) -> tuple[int, int]:
        """(past, future): how many turns before and after the target the template reads."""
        return 0, 0

    def budget(self, max_length: int, specials: int) -> int:
        """Tokens the text may use: the encoder's `max_length` less its `specials` tokens."""
        return max_length - specials

    def spec(self) -> dict[str, Any] | None:
        """The template's part of the feature store key (None: nothing, as before templates)."""
        return {"name": self.name, **vars(self)}

    def render(
        self, turns: Sequence[Turn], target: int, count: TokenCounter, budget: int
    ) -> Rendered:
        """The text for `turns[target]` given its window; `budget`: tokens the text may use
        (`budget()`; `count` counts a text's tokens without the special ones)."""
        raise NotImplementedError


TemplateSpec = str | Mapping[str, Any] | TextTemplate | None  # what `build_template` takes


@TEMPLATES.register("utterance", description="the utterance alone (default)")
class UtteranceTemplate(TextTemplate):
    """The utterance alone: the features of before templates, bit for bit."""

    name = "utterance"

    def spec(self) -> None:
        return None

    def render(self, turns, target, count, budget) -> Rendered:
        text = turns[target].text
        return Rendered(text, 0, len(text))


@TEMPLATES.register("speaker", description="`<speaker>: <utterance>`")
class SpeakerTemplate(TextTemplate):
    """The utterance after its speaker's name or label: `<speaker>: <utterance>`."""

    name = "speaker"

    def render(self, turns, target, count, budget) -> Rendered:
        turn = turns[target]
        head = f"{turn.speaker}: "
        return Rendered(head + turn.text, len(head), len(head) + len(turn.text))


@TEMPLATES.register("context", description="a window of turns marked by speaker, target marked")
class ContextTemplate(TextTemplate):
    """A window of the dialogue around the utterance, each turn as `<speaker>: <text>`, the
    target marked `>> ... <<`, turns joined by spaces, e.g.
    `F: Where were you? >> M: Out. << F: All night?` (past 1, future 1).

    Args:
        past: preceding utterances in the window (>= 0).
        future: following utterances in the window (>= 0; they are in the transcript, as in
            offline ERC; 0 for a model that must not read ahead).
        max_tokens: the text's token budget, the encoder's special tokens included (capped at
            the encoder's maximum sequence length, 256 for MiniLM): context turns are dropped,
            farthest first, until the window fits; the target is never dropped.
        speakers: write each turn's speaker before it.
        pool: `target`: average the target's own tokens, contextualised by the window (then
            L2-normalised where the encoder normalises), so each utterance keeps its own
            vector; `all`: the encoder's sentence vector of the whole window.
        with_utterance: put the utterance's own sentence vector (the `utterance` template's)
            before the window's, so the features are [2D]: what the utterance says, and what
            it says in its context.
    """

    name = "context"

    def __init__(
        self,
        past: int = 4,
        future: int = 0,
        max_tokens: int = 128,
        speakers: bool = True,
        pool: Literal["target", "all"] = "target",
        with_utterance: bool = False,
    ):
        bounds = (("past", past, 0), ("future", future, 0), ("max_tokens", max_tokens, 4))
        for option, value, low in bounds:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"text_template.{option} must be an integer >= {low}, got {value!r}"
                )
        if pool not in ("target", "all"):
            raise ValueError(f"text_template.pool must be target or all, got {pool!r}")
        self.past, self.future, self.max_tokens = past, future, max_tokens
        self.speakers, self.pool, self.with_utterance = bool(speakers), pool, bool(with_utterance)

    def window(self) -> tuple[int, int]:
        return self.past, self.future

    def spec(self) -> dict[str, Any]:
        spec = super().spec()
        if not self.with_utterance:  # added later: at its default, the key of before it
            del spec["with_utterance"]
        return spec

    def _turn(self, turn: Turn) -> str:
        return f"{turn.speaker}: {turn.text}" if self.speakers else turn.text

    def budget(self, max_length: int, specials: int) -> int:
        return min(max_length, self.max_tokens) - specials

    def render(self, turns, target, count, budget) -> Rendered:
        head = f"{TARGET_OPEN}{turns[target].speaker}: " if self.speakers else TARGET_OPEN
        middle = f"{head}{turns[target].text}{TARGET_CLOSE}"
        used = count(middle)
        kept = {target}
        # nearest first, the past before the future at equal distance; a side whose next turn
        # does not fit is closed (the window stays contiguous)
        order = [
            (side, target + side * d)
            for d in range(1, max(target, len(turns) - 1 - target) + 1)
            for side in (-1, 1)
        ]
        closed: set[int] = set()
        for side, i in order:
            if side in closed or not 0 <= i < len(turns):
                continue
            cost = count(self._turn(turns[i]))
            if used + cost > budget:
                closed.add(side)
                continue
            used += cost
            kept.add(i)
        while True:
            rendered = self._join(turns, target, sorted(kept), head, middle)
            if len(kept) == 1 or count(rendered.text) <= budget:
                return rendered
            kept.remove(max(kept - {target}, key=lambda i: (abs(i - target), i > target)))

    def _join(self, turns, target, kept, head, middle) -> Rendered:
        before = " ".join(self._turn(turns[i]) for i in kept if i < target)
        after = " ".join(self._turn(turns[i]) for i in kept if i > target)
        prefix = f"{before} " if before else ""
        text = prefix + middle + (f" {after}" if after else "")
        start = len(prefix) + len(head)
        return Rendered(text, start, start + len(turns[target].text))


@dataclass(frozen=True)
class TemplateInput:
    """One utterance to encode through a template: the turns of its window and which is the
    target. `str()` is its fingerprint for the feature store (the template and every turn)."""

    template: TextTemplate
    turns: tuple[Turn, ...]
    target: int

    def render(
        self,
        count: TokenCounter,
        max_length: int,
        specials: int,
        transform: RawTransform | None = None,
    ) -> Rendered:
        """The text to encode, for an encoder of `max_length` tokens of which `specials` are
        its own (e.g. [CLS], [SEP]); `transform` is applied to each turn's text first."""
        turns = self.turns
        if transform is not None:
            turns = tuple(
                Turn(t.id, t.speaker, str(transform(t.text, RawItem(t.id, "text")))) for t in turns
            )
        budget = self.template.budget(max_length, specials)
        return self.template.render(turns, self.target, count, budget)

    def __str__(self) -> str:
        turns = [[t.id, t.speaker, t.text] for t in self.turns]
        return json.dumps([self.template.spec(), turns, self.target], ensure_ascii=False)


def build_template(spec: TemplateSpec) -> TextTemplate:
    """The template a config names: None (utterance), a name, or {name: ..., options...}."""
    if isinstance(spec, TextTemplate):
        return spec
    if spec is None or isinstance(spec, str):
        spec = {"name": spec or TEMPLATES.default}
    options = dict(spec)
    cls = TEMPLATES[options.pop("name", TEMPLATES.default)]
    try:
        return cls(**options)
    except TypeError as exc:
        raise ValueError(f"text_template {spec!r}: {exc}") from None


def template_inputs(
    template: TextTemplate, ids: Sequence[str], speakers: Sequence[str], texts: Sequence[str]
) -> list[TemplateInput]:
    """One `TemplateInput` per utterance of one dialogue (its T ids, speakers and texts)."""
    turns = tuple(Turn(u, str(s), str(t)) for u, s, t in zip(ids, speakers, texts, strict=True))
    past, future = template.window()
    out = []
    for i in range(len(turns)):
        lo, hi = max(0, i - past), min(len(turns), i + future + 1)
        out.append(TemplateInput(template, turns[lo:hi], i - lo))
    return out

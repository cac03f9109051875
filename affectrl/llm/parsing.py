"""Reading model completions: plain text, or chat messages, in the `<think>/<answer>` format.

The format (as in DeepSeek-R1 and R1-Omni) is exactly one reasoning block then one answer block:

    <think> reasoning </think> <answer> label(s) </answer>

Precisely, a completion is well-formed when, after removing leading and trailing whitespace, it is
`<think>` T `</think>` W `<answer>` A `</answer>` where

- W is whitespace only (possibly empty): nothing but whitespace may stand between the blocks, before
  the first or after the last;
- T and A contain no `<think>`, `</think>`, `<answer>` or `</answer>` tag: no nesting, no second
  block, no stray tag;
- T and A are not blank (an empty reasoning or answer block is malformed);
- tags are lower case with no spaces or attributes (`<Think>` or `< answer >` are not tags).

`extract_answer` is more lenient, so that accuracy can be scored separately from format (R1-Omni
sums the two rewards): it returns A when the completion holds exactly one `<answer>` and one
`</answer>` in that order with a non-blank A, whatever surrounds them.

Both read the text in linear time (tag counts and positions, no backtracking regex), so a
megabyte of adversarial output costs milliseconds, not minutes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

TAG = re.compile(r"</?(?:think|answer)>")
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)

Completion = str | Sequence[Mapping[str, Any]] | Mapping[str, Any]


def completion_text(completion: Completion) -> str:
    """The generated text of a completion.

    Accepts a string, one message dict, or a chat list of message dicts (TRL's conversational
    format, `[{"role": "assistant", "content": ...}]`): the last message's content is used; a
    content given as a list of parts (`[{"type": "text", "text": ...}]`) is joined.
    """
    if isinstance(completion, str):
        return completion
    message = (
        completion if isinstance(completion, Mapping) else (completion[-1] if completion else {})
    )
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))


def parse_completion(text: str) -> tuple[str, str] | None:
    """(reasoning, answer), stripped, if `text` is well-formed (module docstring); else None.

    Each tag exactly once is the same as "no tag inside T or A"; the rest is positions."""
    text = text.strip()
    if not (text.startswith(THINK_OPEN) and text.endswith(ANSWER_CLOSE)):
        return None
    if any(text.count(tag) != 1 for tag in TAGS):
        return None
    think_end, answer_start = text.index(THINK_CLOSE), text.index(ANSWER_OPEN)
    answer_end = len(text) - len(ANSWER_CLOSE)
    if not think_end < answer_start <= answer_end - len(ANSWER_OPEN):
        return None
    think = text[len(THINK_OPEN) : think_end].strip()
    between = text[think_end + len(THINK_CLOSE) : answer_start]
    answer = text[answer_start + len(ANSWER_OPEN) : answer_end].strip()
    if between.strip() or not think or not answer:
        return None
    return think, answer


def extract_answer(text: str) -> str | None:
    """The stripped answer when exactly one `<answer>…</answer>` pair holds a non-blank answer."""
    if text.count(ANSWER_OPEN) != 1 or text.count(ANSWER_CLOSE) != 1:
        return None
    start = text.index(ANSWER_OPEN) + len(ANSWER_OPEN)
    end = text.index(ANSWER_CLOSE)
    answer = text[start:end] if end >= start else ""
    if TAG.search(answer) or not answer.strip():
        return None
    return answer.strip()

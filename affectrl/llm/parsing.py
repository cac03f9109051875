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
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

TAG = re.compile(r"</?(?:think|answer)>")
WELL_FORMED = re.compile(r"<think>(.*?)</think>\s*<answer>(.*?)</answer>", re.DOTALL)
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"

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
    """(reasoning, answer), stripped, if `text` is well-formed (module docstring); else None."""
    match = WELL_FORMED.fullmatch(text.strip())
    if match is None:
        return None
    think, answer = match.group(1), match.group(2)
    if TAG.search(think) or TAG.search(answer) or not think.strip() or not answer.strip():
        return None
    return think.strip(), answer.strip()


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

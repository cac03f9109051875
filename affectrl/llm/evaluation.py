"""Scoring a JSONL file of model outputs (`affectrl llm eval`).

One JSON object per line:

    {"answer": "anger", "completion": "<think>…</think><answer>angry</answer>"}
    {"answer": ["anger", "frustration"], "prediction": "annoyed, upset"}

`answer` holds the gold label(s). The model's output is either `completion` (raw text or chat
messages; the answer is read from its `<answer>` block, and its format is checked) or
`prediction` (the label(s) already extracted). Other keys are ignored. A line longer than
`max_chars` (default 1 MiB) is refused with an error naming it rather than read into memory.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..data import DataError
from .lexicon import default_lexicon
from .metrics import Answer, closed_set_metrics, wheel_metric
from .parsing import completion_text, extract_answer, parse_completion

MAX_LINE_CHARS = 1 << 20


def read_predictions(path: str | Path, max_chars: int = MAX_LINE_CHARS) -> list[dict[str, Any]]:
    """Records of a predictions JSONL file; DataError naming the line for anything malformed or
    longer than `max_chars` characters."""
    path = Path(path)
    records = []
    with path.open(encoding="utf-8") as f:
        for line_number, line in enumerate(iter(lambda: f.readline(max_chars + 1), ""), start=1):
            if len(line.rstrip("\n")) > max_chars:
                raise DataError(
                    path,
                    f"longer than {max_chars} characters (raise the cap with --max-line-chars)",
                    f"line {line_number}",
                )
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(path, f"not JSON ({exc.msg})", f"line {line_number}") from None
            if not isinstance(record, dict) or "answer" not in record:
                raise DataError(path, "needs an object with an 'answer' key", f"line {line_number}")
            if ("completion" in record) == ("prediction" in record):
                raise DataError(
                    path, "needs exactly one of 'completion' or 'prediction'", f"line {line_number}"
                )
            records.append(record)
    if not records:
        raise DataError(path, "no records")
    return records


def evaluate_records(
    records: Sequence[dict[str, Any]], label_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Wheel metric always; accuracy / weighted F1 when `label_names` gives a closed set;
    the well-formed rate when the records carry raw completions."""
    lexicon = default_lexicon()
    predictions: list[Answer] = []
    well_formed = []
    for r in records:
        if "completion" in r:
            text = completion_text(r["completion"])
            predictions.append(extract_answer(text))
            well_formed.append(parse_completion(text) is not None)
        else:
            predictions.append(r["prediction"])
    golds = [r["answer"] for r in records]
    result: dict[str, Any] = {
        "samples": len(records),
        "wheel": wheel_metric(predictions, golds, lexicon),
    }
    if well_formed:
        result["format_rate"] = sum(well_formed) / len(well_formed)
        result["answer_missing"] = sum(p is None for p in predictions)
    if label_names:
        result["closed_set"] = closed_set_metrics(predictions, golds, label_names, lexicon)
    return result

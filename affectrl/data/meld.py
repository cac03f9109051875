"""MELD from its three CSVs: emotion (7 classes) or sentiment (3 classes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .types import Dialogue, DialogueDataset
from .validate import check_dialogue, label_index, require_file

EMOTIONS = ["neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"]
SENTIMENTS = ["neutral", "positive", "negative"]
REQUIRED = ["Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"]
FILES = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}


def read_meld_csv(
    path: Path, label_column: str, label_names: list[str], split: str
) -> list[Dialogue]:
    """Dialogues of one MELD CSV, utterances ordered by Utterance_ID.

    Dialogue_IDs restart in every split file, so ids are prefixed with the split.
    """
    import pandas as pd  # imported here: the CLI's startup does not pay for it

    require_file(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(path, f"malformed CSV: {exc}") from exc
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise DataError(path, f"missing columns {missing}; found {list(table.columns)}")
    rows: dict[int, list[tuple[int, str, str, int]]] = {}
    for i, row in enumerate(table.itertuples(index=False)):
        record = f"row {i + 2}"  # +1 for the header, +1 for 1-based line numbers
        rec = row._asdict()
        try:
            dia, utt = int(rec["Dialogue_ID"]), int(rec["Utterance_ID"])
        except ValueError:
            raise DataError(path, "Dialogue_ID and Utterance_ID must be integers", record) from None
        label = label_index(rec[label_column], label_names, path, record)
        rows.setdefault(dia, []).append((utt, rec["Speaker"], rec["Utterance"], label))
    dialogues = []
    for dia in sorted(rows):
        utts = sorted(rows[dia])
        d = Dialogue(
            id=f"{split}/{dia}",
            speakers=[u[1] for u in utts],
            labels=np.array([u[3] for u in utts], dtype=np.int64),
            texts=[u[2] for u in utts],
            utterance_ids=[f"{split}/dia{dia}_utt{u[0]}" for u in utts],
        )
        dialogues.append(check_dialogue(d, path, len(label_names)))
    return dialogues


def load_meld(root: Path, target: str = "emotion") -> DialogueDataset:
    """MELD with `target` "emotion" (7 classes) or "sentiment" (3 classes)."""
    if target not in ("emotion", "sentiment"):
        raise ValueError(f"MELD target must be 'emotion' or 'sentiment', got {target!r}")
    column, names = ("Emotion", EMOTIONS) if target == "emotion" else ("Sentiment", SENTIMENTS)
    paths = {s: root / "meld" / f for s, f in FILES.items()}
    splits = {s: read_meld_csv(p, column, names, s) for s, p in paths.items()}
    name = "meld7" if target == "emotion" else "meld3"
    return DialogueDataset(name, list(names), splits, source=[str(p) for p in paths.values()])

"""Checks shared by every reader: each failure names the file and the record."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .types import Dialogue, DialogueDataset


def require_file(path: Path, hint: str = "") -> Path:
    if not path.is_file():
        extra = f" {hint}" if hint else ""
        raise DataError(path, f"file not found.{extra}")
    return path


def check_features(array: np.ndarray, path: str | Path, record: str, dim: int | None) -> np.ndarray:
    """Return array as float32 [T, D]; refuse NaN/Inf and a dimension other than `dim`."""
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise DataError(path, f"features must be 2-D [utterances, dims], got {array.shape}", record)
    if dim is not None and array.shape[1] != dim:
        raise DataError(path, f"expected {dim} feature dimensions, got {array.shape[1]}", record)
    bad = ~np.isfinite(array)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise DataError(path, f"non-finite value (NaN/Inf) in features at utterance {row}", record)
    return array


def check_dialogue(dialogue: Dialogue, path: str | Path, num_classes: int) -> Dialogue:
    """Refuse empty dialogues, ragged fields and labels outside [-1, num_classes)."""
    n = len(dialogue.labels)
    if n == 0:
        raise DataError(path, "empty dialogue (no utterances)", dialogue.id)
    lengths = {"speakers": len(dialogue.speakers)}
    if dialogue.texts is not None:
        lengths["texts"] = len(dialogue.texts)
    lengths.update({f"features[{m}]": len(x) for m, x in dialogue.features.items()})
    lengths.update({f"media[{m}]": len(x) for m, x in dialogue.media.items()})
    for name, length in lengths.items():
        if length != n:
            raise DataError(
                path, f"{name} has {length} entries but there are {n} labels", dialogue.id
            )
    bad = (dialogue.labels < -1) | (dialogue.labels >= num_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            path,
            f"label {int(dialogue.labels[i])} at utterance {i} outside 0..{num_classes - 1}",
            dialogue.id,
        )
    return dialogue


def label_index(label: str, label_names: list[str], path: str | Path, record: str | int) -> int:
    """Map a label string to its index, with an error listing the known labels."""
    key = label.strip().lower()
    try:
        return label_names.index(key)
    except ValueError:
        raise DataError(
            path, f"unknown label {label!r}; expected one of {label_names}", record
        ) from None


def check_dataset(ds: DialogueDataset) -> DialogueDataset:
    """Refuse a dialogue listed twice (within a split, or in two splits: a train/test overlap
    would leak test dialogues into training) and an utterance id used twice."""
    where = ds.source[0] if ds.source else ds.name
    seen: dict[str, str] = {}
    utterances: dict[str, str] = {}
    for split, dialogues in ds.splits.items():
        for d in dialogues:
            if d.id in seen:
                also = "twice" if seen[d.id] == split else f"in both {seen[d.id]} and {split}"
                raise DataError(where, f"dialogue listed {also} (splits must not overlap)", d.id)
            seen[d.id] = split
            for u in d.utterance_ids:
                if u in utterances:
                    raise DataError(
                        where, f"utterance id {u!r} also in dialogue {utterances[u]!r}", d.id
                    )
                utterances[u] = d.id
    return ds

"""Bring your own dataset: an utterance table plus optional feature arrays, no code needed.

Layout of a dataset folder:
    utterances.csv | utterances.jsonl   one row per utterance; columns:
        dialogue_id, order, speaker, label, split (train/dev/test)   required
        utterance_id, text, audio, video                              optional
    labels.txt                          optional: the label vocabulary, one per line
                                        (default: the sorted distinct labels)
    features/<modality>.npy             optional: float [N, D] aligned with the table's rows
                                        (loaded with allow_pickle=False)
Media paths are relative to the folder and must stay inside it: an absolute path, `..` or a
symlink leading out of the folder is an error naming the row (as is any of the files above
linked to outside the folder). See docs/DATASETS.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from ..paths import PathEscapeError, inside, is_inside
from .errors import DataError
from .types import SPLITS, Dialogue, DialogueDataset
from .validate import check_dialogue, check_features, label_index

REQUIRED = ["dialogue_id", "order", "speaker", "label", "split"]


def _own(folder: Path, path: Path) -> Path:
    """`path` (a file of the dataset folder), refused when it is a symlink leading out."""
    if path.exists() and not is_inside(path, folder):
        raise DataError(path, f"links to a file outside the dataset folder {folder}")
    return path


def _media_path(folder: Path, relative: str, table: Path, record: str) -> str:
    try:
        return str(inside(folder, relative, "media path"))
    except PathEscapeError as exc:
        raise DataError(table, str(exc), record) from None


def _cell(value: object) -> str:
    """A JSONL value as the table's text: null is an empty cell (an unlabelled utterance, like an
    empty CSV cell), never the text "None"; a list or object is refused."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise TypeError(f"values must be strings or numbers, got {json.dumps(value)[:60]}")
    return str(value)


def _read_labels(path: Path) -> list[str]:
    """labels.txt: one name a line (stripped, lower case, blank lines skipped); a name listed
    twice, ignoring case (`Happy` and `happy`), is an error naming both lines."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        name = line.strip().lower()
        if not name:
            continue
        if name in seen:
            raise DataError(
                path,
                f"label {line.strip()!r} on line {number} repeats line {seen[name]} (labels are "
                "compared ignoring case)",
            )
        seen[name] = number
        names.append(name)
    return names


def _read_table(folder: Path) -> tuple[pd.DataFrame, Path]:
    csv_path = _own(folder, folder / "utterances.csv")
    jsonl_path = _own(folder, folder / "utterances.jsonl")
    for path in (csv_path, jsonl_path):
        if path.is_file():
            return read_table_file(path), path
    raise DataError(folder, "no utterances.csv or utterances.jsonl in the dataset folder")


def read_table_file(path: Path) -> pd.DataFrame:
    """A .csv (with a header row) or .jsonl (one JSON object a line) table, every cell a
    string ("" where a JSON record lacks the column)."""
    import pandas as pd  # imported here: the CLI's startup does not pay for it

    if path.suffix.lower() == ".csv":
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(path, f"malformed CSV: {exc}") from exc
    if path.suffix.lower() != ".jsonl":
        raise DataError(path, "expected a .csv or .jsonl table")
    records = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            records.append({k: _cell(v) for k, v in json.loads(line).items()})
        except (json.JSONDecodeError, AttributeError) as exc:
            raise DataError(path, f"not a JSON object: {exc}", f"line {i + 1}") from None
        except TypeError as exc:
            raise DataError(path, str(exc), f"line {i + 1}") from None
    return pd.DataFrame.from_records(records).fillna("")


def load_byo(folder: str | Path, name: str | None = None) -> DialogueDataset:
    """Read a bring-your-own dataset folder (see the module docstring for the layout)."""
    folder = Path(folder)
    table, path = _read_table(folder)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise DataError(path, f"missing columns {missing}; found {list(table.columns)}")
    labels_file = _own(folder, folder / "labels.txt")
    if labels_file.is_file():
        label_names = _read_labels(labels_file)
    else:
        label_names = sorted({str(x).strip().lower() for x in table["label"] if str(x).strip()})
    features = {}
    for npy in sorted((folder / "features").glob("*.npy")):
        _own(folder, npy)
        try:
            array = np.load(npy, allow_pickle=False)
        except ValueError as exc:
            raise DataError(npy, f"not a plain numeric .npy array ({exc})") from None
        if len(array) != len(table):
            raise DataError(npy, f"has {len(array)} rows but {path.name} has {len(table)}")
        features[npy.stem] = check_features(array, npy, "all rows", None)
    return dataset_from_table(table, path, label_names, features, name or folder.name)


def dataset_from_table(
    table: pd.DataFrame,
    path: Path,
    label_names: list[str],
    features: dict[str, np.ndarray] | None = None,
    name: str | None = None,
) -> DialogueDataset:
    """Dialogues from an utterance table with the REQUIRED columns (see the module docstring);
    media paths are relative to the table's folder, `features` are [rows, D] per modality."""
    features = features or {}
    folder = path.parent
    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for i, row in enumerate(table.to_dict("records")):
        record = f"row {i + 1}"
        if row["split"] not in SPLITS:
            raise DataError(path, f"split must be one of {SPLITS}, got {row['split']!r}", record)
        try:
            order = int(row["order"])
        except ValueError:
            raise DataError(
                path, f"order must be an integer, got {row['order']!r}", record
            ) from None
        groups.setdefault((row["split"], row["dialogue_id"]), []).append((order, i))
    rows = table.to_dict("records")
    splits: dict[str, list[Dialogue]] = {s: [] for s in SPLITS}
    for (split, dia), members in sorted(groups.items()):
        idx = [i for _, i in sorted(members)]
        sub = [rows[i] for i in idx]
        labels = [
            label_index(r["label"], label_names, path, f"row {i + 1}") if r["label"] else -1
            for r, i in zip(sub, idx, strict=True)
        ]
        media = {
            m: [
                _media_path(folder, r[m], path, f"row {i + 1}")
                for r, i in zip(sub, idx, strict=True)
            ]
            for m in ("audio", "video")
            if m in table.columns
        }
        d = Dialogue(
            id=str(dia),
            speakers=[r["speaker"] for r in sub],
            labels=np.array(labels, dtype=np.int64),
            texts=[r["text"] for r in sub] if "text" in table.columns else None,
            features={m: x[idx] for m, x in features.items()},
            media=media,
            utterance_ids=[r.get("utterance_id") or f"{dia}_{r['order']}" for r in sub],
        )
        splits[split].append(check_dialogue(d, path, len(label_names)))
    return DialogueDataset(name or folder.name, label_names, splits, source=[str(path)])

"""CMU-MOSI with the bc-LSTM utterance features (text 100, audio 73, visual 100), binary labels.

A video is a "dialogue" of its utterances (one speaker), ordered by segment number. The shipped
split has no dev set: dev is every DEV_EVERY-th video of the sorted training video ids.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .errors import DataError
from .types import Dialogue, DialogueDataset
from .validate import check_dialogue, check_features, require_file

LABELS = ["negative", "non-negative"]
DIMS = {"text": 100, "audio": 73, "visual": 100}
FEATURE_FILES = {
    "text": "text/text_{split}0.csv",
    "audio": "audio/audio_{split}0.csv",
    "visual": "video/video_{split}0.csv",
}
DEV_EVERY = 5


def _read_rows(path: Path) -> list[list[str]]:
    require_file(path)
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def _floats(row: list[str], path: Path, record: str) -> list[float]:
    try:
        return [float(v) for v in row]
    except ValueError as exc:
        raise DataError(path, f"non-numeric value ({exc})", record) from None


def _segment(utterance_id: str) -> int:
    tail = utterance_id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def read_transcripts(root: Path) -> list[tuple[str, str, str, int]]:
    """Rows of transcripts.csv: (utterance id, transcript, video index, label)."""
    path = root / "mosi" / "transcripts.csv"
    out = []
    for i, row in enumerate(_read_rows(path)):
        if len(row) != 4:
            raise DataError(
                path, f"expected 4 columns (id, text, video, label), got {len(row)}", f"row {i + 1}"
            )
        uid, text, video, label = row
        if label not in ("0", "1"):
            raise DataError(path, f"label must be 0 or 1, got {label!r}", f"row {i + 1}")
        out.append((uid, text, video, int(label)))
    return out


def _transcript_index(row: list[str], count: int, path: Path, record: str) -> int:
    """A row's transcript index, in 0..count-1 (a negative index would silently pick another
    utterance)."""
    try:
        index = int(row[0])
    except (ValueError, IndexError):
        index = -1
    if not 0 <= index < count:
        raise DataError(
            path, f"bad transcript index {row[0] if row else ''!r} (0..{count - 1})", record
        )
    return index


def _read_split(root: Path, split: str, transcripts: list) -> dict[str, list[tuple]]:
    """Video id -> list of (segment, utterance id, transcript, label, {modality: vector})."""
    index_path = root / "mosi" / f"text_{split}.csv"
    index_rows = _read_rows(index_path)
    tables = {
        m: _read_rows(root / "mosi" / f.format(split=split)) for m, f in FEATURE_FILES.items()
    }
    for m, rows in tables.items():
        if len(rows) != len(index_rows):
            raise DataError(
                root / "mosi" / FEATURE_FILES[m].format(split=split),
                f"has {len(rows)} rows but {index_path.name} has {len(index_rows)}",
            )
    videos: dict[str, list[tuple]] = {}
    rows_of: dict[int, int] = {}
    for i, row in enumerate(index_rows):
        record = f"row {i + 1}"
        index = _transcript_index(row, len(transcripts), index_path, record)
        if index in rows_of:
            raise DataError(
                index_path,
                f"transcript index {index} already listed in row {rows_of[index]}",
                record,
            )
        rows_of[index] = i + 1
        uid, text, _, label = transcripts[index]
        feats = {}
        for m, rows in tables.items():
            fpath = root / "mosi" / FEATURE_FILES[m].format(split=split)
            values = _floats(rows[i], fpath, record)
            if int(values[-1]) != label:
                raise DataError(
                    fpath, f"label {values[-1]} disagrees with transcripts.csv ({label})", record
                )
            feats[m] = check_features(np.array(values[:-1]), fpath, f"{record} ({uid})", DIMS[m])[0]
        video = uid.rsplit("_", 1)[0]
        videos.setdefault(video, []).append((_segment(uid), uid, text, label, feats))
    return videos


def _dialogue(video: str, utts: list[tuple]) -> Dialogue:
    utts = sorted(utts, key=lambda u: u[0])
    return Dialogue(
        id=video,
        speakers=[video] * len(utts),
        labels=np.array([u[3] for u in utts], dtype=np.int64),
        texts=[u[2] for u in utts],
        features={m: np.stack([u[4][m] for u in utts]) for m in DIMS},
        utterance_ids=[u[1] for u in utts],
    )


def load_mosi(root: Path) -> DialogueDataset:
    """CMU-MOSI: 62 train videos (DEV_EVERY-th of the sorted ids held out as dev), 31 test."""
    transcripts = read_transcripts(root)
    source = str(root / "mosi")
    train_videos = _read_split(root, "train", transcripts)
    test_videos = _read_split(root, "test", transcripts)
    ordered = sorted(train_videos)
    dev_ids = set(ordered[DEV_EVERY - 1 :: DEV_EVERY])
    splits = {
        "train": [_dialogue(v, train_videos[v]) for v in ordered if v not in dev_ids],
        "dev": [_dialogue(v, train_videos[v]) for v in ordered if v in dev_ids],
        "test": [_dialogue(v, test_videos[v]) for v in sorted(test_videos)],
    }
    for dialogues in splits.values():
        for d in dialogues:
            check_dialogue(d, source, len(LABELS))
    return DialogueDataset("mosi", LABELS, splits, source=[source])

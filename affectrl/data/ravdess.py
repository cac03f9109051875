"""RAVDESS emotional speech (raw 16 kHz WAV). Each actor is one "dialogue" of their 60 files.

File name `03-01-EE-II-SS-RR-AA.wav`: EE emotion, II intensity, SS statement, RR repetition,
AA actor. Speaker-independent split: train actors 1-12, test actors 13-16 (no dev split).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import DataError
from .types import Dialogue, DialogueDataset
from .validate import check_dialogue

LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
TRAIN_ACTORS = range(1, 13)
NAME = re.compile(r"^03-01-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})\.wav$")


def check_wav_header(path: Path) -> None:
    """Refuse files that are not RIFF/WAVE or whose data is shorter than the header claims."""
    try:
        with path.open("rb") as f:
            head = f.read(12)
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from exc
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise DataError(path, "not a WAV file (no RIFF/WAVE header)")
    declared = int.from_bytes(head[4:8], "little") + 8
    if size < declared:
        raise DataError(path, f"truncated WAV: header declares {declared} bytes, file has {size}")


def load_ravdess(root: Path, check_audio: bool = True) -> DialogueDataset:
    """RAVDESS speech files under ravdess/Actor_XX/, labelled with the 8 emotions."""
    base = root / "ravdess"
    if not base.is_dir():
        raise DataError(base, "RAVDESS folder not found (expected Actor_01 ... Actor_24 inside)")
    actors: dict[int, list[tuple[str, int, Path]]] = {}
    for path in sorted(base.glob("Actor_*/*.wav")):
        match = NAME.match(path.name)
        if not match:
            raise DataError(path, "file name is not 03-01-EE-II-SS-RR-AA.wav")
        emotion, actor = int(match.group(1)), int(match.group(5))
        if not 1 <= emotion <= len(LABELS):
            raise DataError(path, f"unknown emotion code {emotion:02d}")
        if check_audio:
            check_wav_header(path)
        actors.setdefault(actor, []).append((path.stem, emotion - 1, path))
    if not actors:
        raise DataError(base, "no WAV files found under Actor_*/")
    splits: dict[str, list[Dialogue]] = {"train": [], "dev": [], "test": []}
    for actor in sorted(actors):
        files = actors[actor]
        d = Dialogue(
            id=f"Actor_{actor:02d}",
            speakers=[f"Actor_{actor:02d}"] * len(files),
            labels=np.array([f[1] for f in files], dtype=np.int64),
            media={"audio": [str(f[2]) for f in files]},
            utterance_ids=[f[0] for f in files],
        )
        split = "train" if actor in TRAIN_ACTORS else "test"
        splits[split].append(check_dialogue(d, base, len(LABELS)))
    return DialogueDataset("ravdess", LABELS, splits, source=[str(base)])

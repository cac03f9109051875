"""RAVDESS emotional speech (raw 16 kHz WAV) and, for `ravdess_av`, facial action units.

File name `03-01-EE-II-SS-RR-AA.wav`: EE emotion, II intensity, SS statement, RR repetition,
AA actor. RAVDESS clips are independent recordings: every clip is its own one-clip dialogue
(speaker = its actor), so no context model can read a label sequence from an order, and the
clips of a split are listed by actor, then in an order fixed by a hash of the file name (sorting
files by name would group them by emotion, and a batch of neighbours would share labels).
Speaker-independent default split: the last quarter of the sorted actors is the test split
(actors 13-16 of 16: fold 4 of the 4-fold actor-grouped cross-validation,
`affectrl.data.folds`), the others train; there is no dev split (training carves one from the
training actors: `affectrl.data.folds.carve_dev`).

`ravdess_av` joins each WAV with its clip's visual features from `ravdess/au_mfcc.pkl`: a
dict keyed by the audio-video name `01-01-EE-II-SS-RR-AA` (the WAVs are its audio-only twins
`03-01-...`), each value float[294] whose first 35 values are the clip's mean OpenFace action
units (17 intensities AU_r, 0-5, then 18 presence rates AU_c, 0-1); the rest is a zero-padded
MFCC series, not used. Only clips in both sources are in the dataset; those in one source are
counted in `coverage` / `one_source` (reported by `affectrl data check`).
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError
from .folds import fold_groups
from .safe_pickle import safe_load
from .types import Dialogue, DialogueDataset
from .validate import check_dialogue, check_features, require_file

LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
TEST_FOLDS = 4  # the default split's test actors: the last of 4 actor folds
NAME = re.compile(r"^03-01-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})\.wav$")
AV_KEY = re.compile(r"^01-01-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
AU_FILE = "au_mfcc.pkl"
AU_VALUES = 294  # per entry: 35 action-unit values, then 259 MFCC-series values
AU_DIMS = 35  # 17 AU intensities (AU_r) + 18 AU presences (AU_c)


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


def _scan_wavs(base: Path, check_audio: bool) -> dict[str, tuple[int, str, Path]]:
    """Clip stem `03-01-...` -> (label index, actor name, path), for every WAV under base."""
    if not base.is_dir():
        raise DataError(base, "RAVDESS folder not found (expected Actor_01 ... Actor_24 inside)")
    clips = {}
    for path in sorted(base.glob("Actor_*/*.wav")):
        match = NAME.match(path.name)
        if not match:
            raise DataError(path, "file name is not 03-01-EE-II-SS-RR-AA.wav")
        emotion, actor = int(match.group(1)), int(match.group(5))
        if not 1 <= emotion <= len(LABELS):
            raise DataError(path, f"unknown emotion code {emotion:02d}")
        if check_audio:
            check_wav_header(path)
        clips[path.stem] = (emotion - 1, f"Actor_{actor:02d}", path)
    if not clips:
        raise DataError(base, "no WAV files found under Actor_*/")
    return clips


def _dataset(
    name: str, clips: dict[str, tuple[int, str, Path]], features: dict, base: Path, **extra
) -> DialogueDataset:
    """One one-clip dialogue per clip; test = the last actor fold, train = the rest."""
    actors = sorted({actor for _, actor, _ in clips.values()})
    test_actors = set(
        fold_groups(actors, min(TEST_FOLDS, len(actors)))[-1] if len(actors) > 1 else []
    )
    splits: dict[str, list[Dialogue]] = {"train": [], "dev": [], "test": []}
    order = sorted(clips, key=lambda stem: (clips[stem][1], zlib.crc32(stem.encode()), stem))
    for stem in order:
        label, actor, path = clips[stem]
        d = Dialogue(
            id=stem,
            speakers=[actor],
            labels=np.array([label], dtype=np.int64),
            features={m: x[None] for m, x in features.get(stem, {}).items()},
            media={"audio": [str(path)]},
            utterance_ids=[stem],
        )
        splits["test" if actor in test_actors else "train"].append(
            check_dialogue(d, base, len(LABELS))
        )
    return DialogueDataset(name, LABELS, splits, source=[str(base)], **extra)


def load_ravdess(root: Path, check_audio: bool = True) -> DialogueDataset:
    """RAVDESS speech files under ravdess/Actor_XX/, labelled with the 8 emotions."""
    base = root / "ravdess"
    return _dataset("ravdess", _scan_wavs(base, check_audio), {}, base)


def read_action_units(path: Path) -> dict[str, np.ndarray]:
    """au_mfcc.pkl (restricted unpickler) -> WAV stem `03-01-...` -> float32 [35] action units."""
    data = safe_load(require_file(path, "(OpenFace action units of the RAVDESS clips)"))
    if not isinstance(data, dict):
        raise DataError(path, f"expected a dict of clip name -> array, got {type(data).__name__}")
    out = {}
    for key, value in data.items():
        match = AV_KEY.match(str(key))
        if not match:
            raise DataError(path, "key is not an audio-video clip name 01-01-EE-II-SS-RR-AA", key)
        vector = np.asarray(value, dtype=np.float64) if not isinstance(value, str) else None
        if vector is None or vector.shape != (AU_VALUES,):
            shape = "text" if vector is None else vector.shape
            raise DataError(path, f"expected {AU_VALUES} values, got {shape}", key)
        out["03" + str(key)[2:]] = check_features(vector[:AU_DIMS], path, str(key), AU_DIMS)[0]
    return out


def load_ravdess_av(root: Path, check_audio: bool = True) -> DialogueDataset:
    """RAVDESS clips with their WAV (audio media, for extraction) and their 35 action units
    (visual features): the clips both sources have."""
    base = root / "ravdess"
    clips = _scan_wavs(base, check_audio)
    units = read_action_units(base / AU_FILE)
    both = sorted(set(clips) & set(units))
    if not both:
        raise DataError(base / AU_FILE, "no clip of the pickle has a WAV under Actor_*/")
    wav_only = sorted(set(clips) - set(units))
    au_only = sorted("01" + k[2:] for k in set(units) - set(clips))
    coverage = {
        "WAV": len(clips),
        AU_FILE: len(units),
        "both (used)": len(both),
        "WAV only": len(wav_only),
        f"{AU_FILE} only": len(au_only),
    }
    return _dataset(
        "ravdess_av",
        {k: clips[k] for k in both},
        {k: {"visual": units[k]} for k in both},
        base,
        coverage=coverage,
        one_source={"WAV": wav_only, AU_FILE: au_only},
    )

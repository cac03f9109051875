"""IEMOCAP-6 readers: the text pickle we ship with, and the widely used 9-tuple feature pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import DataError
from .safe_pickle import safe_load
from .types import Dialogue, DialogueDataset
from .validate import check_dataset, check_dialogue, check_features, require_file

LABELS = ["hap", "sad", "neu", "ang", "exc", "fru"]


def _as_list(value: object, path: Path, what: str) -> list:
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return list(value)
    raise DataError(path, f"{what} must be a list of dialogue ids, got {type(value).__name__}")


def _as_dict(value: object, path: Path, what: str) -> dict:
    if not isinstance(value, dict):
        raise DataError(
            path, f"{what} must be a dict keyed by dialogue id, got {type(value).__name__}"
        )
    return value


def load_iemocap_text(root: Path) -> DialogueDataset:
    """IEMOCAP-6 from `iemocap/iemocap_text.pkl` (speakers, labels, sentences, train, test, dev).

    Dev is the pickle's 12 validation dialogues (DialogueRNN/COSMIC split).
    """
    path = require_file(root / "iemocap" / "iemocap_text.pkl")
    items = safe_load(path)
    if not isinstance(items, list | tuple) or len(items) != 6:
        raise DataError(
            path, "expected a list of 6 items (speakers, labels, sentences, train, test, dev)"
        )
    speakers, labels, sentences = (
        _as_dict(items[i], path, name) for i, name in enumerate(("speakers", "labels", "sentences"))
    )
    ids = {
        split: _as_list(items[i], path, f"{split} ids")
        for i, split in ((3, "train"), (4, "test"), (5, "dev"))
    }
    splits: dict[str, list[Dialogue]] = {}
    for split in ("train", "dev", "test"):
        splits[split] = []
        for vid in ids[split]:
            if vid not in labels or vid not in speakers or vid not in sentences:
                raise DataError(
                    path, "dialogue id listed in a split but missing from the dicts", vid
                )
            d = Dialogue(
                id=str(vid),
                speakers=[str(s) for s in speakers[vid]],
                labels=np.asarray(labels[vid], dtype=np.int64),
                texts=[str(t) for t in sentences[vid]],
            )
            splits[split].append(check_dialogue(d, path, len(LABELS)))
    return DialogueDataset(
        "iemocap6", LABELS, splits, source=[str(path)], per_dialogue_speakers=False
    )


def load_iemocap_features(path: Path, dev_every: int = 10) -> DialogueDataset:
    """IEMOCAP-6 from the 9-tuple multimodal feature pickle used by DialogueGCN and COGMEN.

    Items: video_ids, speakers, labels, text, audio, visual, sentences, train ids, test ids.
    The pickle has no dev split: dev is every `dev_every`-th dialogue of the sorted train ids
    (a fixed rule, so every user gets the same split).
    """
    path = require_file(Path(path))
    items = safe_load(path)
    if not isinstance(items, list | tuple) or len(items) != 9:
        raise DataError(
            path,
            "expected 9 items (video_ids, speakers, labels, text, audio, visual, sentences, "
            "train ids, test ids)",
        )
    names = ("speakers", "labels", "text", "audio", "visual", "sentences")
    speakers, labels, text, audio, visual, sentences = (
        _as_dict(items[i], path, name) for i, name in enumerate(names, start=1)
    )
    train_ids = sorted(_as_list(items[7], path, "train ids"))
    test_ids = sorted(_as_list(items[8], path, "test ids"))
    dev_ids = train_ids[dev_every - 1 :: dev_every]
    split_ids = {
        "train": [v for v in train_ids if v not in set(dev_ids)],
        "dev": dev_ids,
        "test": test_ids,
    }
    dims: dict[str, int | None] = {"text": None, "audio": None, "visual": None}
    splits: dict[str, list[Dialogue]] = {}
    for split, vids in split_ids.items():
        splits[split] = []
        for vid in vids:
            if vid not in labels:
                raise DataError(path, "dialogue id listed in a split but has no labels", vid)
            feats = {}
            for name, table in (("text", text), ("audio", audio), ("visual", visual)):
                if vid not in table:
                    raise DataError(path, f"no {name} features", vid)
                feats[name] = check_features(
                    np.asarray(table[vid]), path, f"{vid} {name}", dims[name]
                )
                dims[name] = feats[name].shape[1]
            d = Dialogue(
                id=str(vid),
                speakers=[str(s) for s in speakers[vid]],
                labels=np.asarray(labels[vid], dtype=np.int64),
                texts=[str(t) for t in sentences.get(vid, [])] or None,
                features=feats,
            )
            splits[split].append(check_dialogue(d, path, len(LABELS)))
    ds = DialogueDataset(
        "iemocap6-features", LABELS, splits, source=[str(path)], per_dialogue_speakers=False
    )
    return check_dataset(ds)

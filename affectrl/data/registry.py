"""Datasets by name: what a config's `dataset:` key and `affectrl data` refer to."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from .byo import load_byo
from .iemocap import load_iemocap_text
from .meld import load_meld
from .mosi import load_mosi
from .ravdess import load_ravdess, load_ravdess_av
from .root import data_root
from .types import DialogueDataset
from .validate import check_dataset

READERS: dict[str, Callable[[Path], DialogueDataset]] = {
    "iemocap6": load_iemocap_text,
    "meld7": partial(load_meld, target="emotion"),
    "meld3": partial(load_meld, target="sentiment"),
    "mosi": load_mosi,
    "ravdess": load_ravdess,
    "ravdess_av": load_ravdess_av,
}

DESCRIPTIONS = {
    "iemocap6": "IEMOCAP, 6 emotions, text + speakers (iemocap/iemocap_text.pkl)",
    "meld7": "MELD, 7 emotions, text + speakers (meld/*_sent_emo.csv)",
    "meld3": "MELD, 3 sentiments, text + speakers (meld/*_sent_emo.csv)",
    "mosi": "CMU-MOSI, binary sentiment, bc-LSTM text/audio/visual features (mosi/)",
    "ravdess": "RAVDESS speech, 8 emotions, raw 16 kHz WAV, one clip a dialogue (ravdess/Actor_*/)",
    "ravdess_av": "RAVDESS audio (WAV) + visual (35 OpenFace action units, ravdess/au_mfcc.pkl)",
}


def load_dataset(name: str, root: str | Path | None = None) -> DialogueDataset:
    """Load a dataset by registry name, or `byo:PATH` for a bring-your-own folder; checked for
    dialogues in two splits and repeated ids (`check_dataset`)."""
    if name.startswith("byo:"):
        return check_dataset(load_byo(Path(name[4:])))
    if name not in READERS:
        raise KeyError(f"unknown dataset {name!r}; known: {sorted(READERS)} or byo:PATH")
    return check_dataset(READERS[name](Path(root) if root else data_root()))

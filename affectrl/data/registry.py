"""Datasets by name: what a config's `dataset:` key and `affectrl data` refer to."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from ..registry import Registry
from .byo import load_byo
from .iemocap import load_iemocap_text
from .meld import load_meld
from .mosi import load_mosi
from .ravdess import load_ravdess, load_ravdess_av
from .root import data_root
from .types import DialogueDataset
from .validate import check_dataset

# name -> reader(data root) -> DialogueDataset
DATASETS: Registry[Callable[[Path], DialogueDataset]] = Registry("dataset", hint="or byo:PATH")
DATASETS.register(
    "iemocap6",
    load_iemocap_text,
    description="IEMOCAP, 6 emotions, text + speakers (iemocap/iemocap_text.pkl)",
)
DATASETS.register(
    "meld7",
    partial(load_meld, target="emotion"),
    description="MELD, 7 emotions, text + speakers (meld/*_sent_emo.csv)",
)
DATASETS.register(
    "meld3",
    partial(load_meld, target="sentiment"),
    description="MELD, 3 sentiments, text + speakers (meld/*_sent_emo.csv)",
)
DATASETS.register(
    "mosi",
    load_mosi,
    description="CMU-MOSI, binary sentiment, bc-LSTM text/audio/visual features (mosi/)",
)
DATASETS.register(
    "ravdess",
    load_ravdess,
    description="RAVDESS speech, 8 emotions, raw 16 kHz WAV, one clip a dialogue "
    "(ravdess/Actor_*/)",
)
DATASETS.register(
    "ravdess_av",
    load_ravdess_av,
    description="RAVDESS audio (WAV) + visual (35 OpenFace action units, ravdess/au_mfcc.pkl)",
)


def load_dataset(name: str, root: str | Path | None = None) -> DialogueDataset:
    """Load a dataset by registry name, or `byo:PATH` for a bring-your-own folder; checked for
    dialogues in two splits and repeated ids (`check_dataset`)."""
    if name.startswith("byo:"):
        return check_dataset(load_byo(Path(name[4:])))
    return check_dataset(DATASETS[name](Path(root) if root else data_root()))

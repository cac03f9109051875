"""Datasets, the Dialogue data model and the DialogueBatch every later stage consumes."""

from .batch import IGNORE_INDEX, DialogueBatch, collate
from .errors import DataError
from .registry import load_dataset
from .types import MODALITIES, SPLITS, Dialogue, DialogueDataset

__all__ = [
    "IGNORE_INDEX",
    "MODALITIES",
    "SPLITS",
    "DataError",
    "Dialogue",
    "DialogueBatch",
    "DialogueDataset",
    "collate",
    "load_dataset",
]

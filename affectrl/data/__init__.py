"""Datasets, the Dialogue data model and the DialogueBatch every later stage consumes."""

from .errors import DataError
from .registry import load_dataset
from .types import MODALITIES, SPLITS, Dialogue, DialogueDataset

_BATCH_NAMES = {"IGNORE_INDEX", "DialogueBatch", "collate"}


def __getattr__(name: str):
    # The batch type needs torch; importing it lazily keeps data-only commands (data check,
    # a feature-store cache hit) from paying torch's import time.
    if name in _BATCH_NAMES:
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

"""Datasets for training: load by name, attach configured features, batch dialogues."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import torch

from ..data import DialogueBatch, DialogueDataset, collate, load_dataset
from ..noise.feature import FeatureStats

_LOADED: dict[str, DialogueDataset] = {}


def attach_configured_features(ds: DialogueDataset, features: dict[str, str]) -> DialogueDataset:
    """Attach extracted features (modality -> extractor name, e.g. {"text": "minilm"})."""
    if not features:
        return ds
    try:
        from ..features import attach_features
    except ImportError as exc:
        raise RuntimeError(
            f"config asks for extracted features {features} but affectrl.features is not "
            f"available ({exc})"
        ) from None
    return attach_features(ds, dict(features))


def dataset_for(config: dict) -> DialogueDataset:
    """The config's dataset with its `features`, loaded once per process (runs share it)."""
    key = json.dumps([config["dataset"], config.get("features") or {}], sort_keys=True)
    if key not in _LOADED:
        ds = load_dataset(config["dataset"])
        _LOADED[key] = attach_configured_features(ds, config.get("features") or {})
    return _LOADED[key]


def modalities_for(config: dict, ds: DialogueDataset) -> list[str]:
    """The config's `modalities` (default: all the dataset has), checked against the dataset."""
    available = ds.modalities
    wanted = config.get("modalities") or available
    missing = [m for m in wanted if m not in available]
    if missing:
        raise ValueError(
            f"dataset {ds.name!r} has no features for {missing} (has {available}); "
            "add them under `features:` in the config, e.g. features: {text: minilm}"
        )
    if not wanted:
        raise ValueError(f"dataset {ds.name!r} has no features; set `features:` in the config")
    return list(wanted)


def standardizer(
    ds: DialogueDataset, modalities: list[str]
) -> Callable[[DialogueBatch], DialogueBatch]:
    """z-score each feature with train-split mean / std; padded and missing entries stay 0.

    The transform returns a new batch (the input's feature tensors are not modified), so it can
    be applied to a corrupted copy of a clean batch that is reused."""
    stats = {}
    for m in modalities:
        x = np.concatenate([d.features[m] for d in ds.dialogues("train")])
        stats[m] = (torch.from_numpy(x.mean(0)), torch.from_numpy(x.std(0).clip(min=1e-6)))

    def transform(batch: DialogueBatch) -> DialogueBatch:
        features = dict(batch.features)
        for i, m in enumerate(batch.modalities):
            mean, std = stats[m]
            keep = batch.modality_mask[..., i : i + 1].to(mean.dtype)
            features[m] = (features[m] - mean) / std * keep
        return replace(batch, features=features)

    return transform


class Batches:
    """Batches of `batch_size` dialogues of one split, collated to DialogueBatch."""

    def __init__(self, ds, split: str, modalities: list[str], batch_size: int, transform=None):
        self.dialogues = list(ds.dialogues(split))
        if not self.dialogues:
            raise ValueError(f"dataset {ds.name!r} has no {split!r} dialogues")
        self.modalities, self.batch_size = modalities, batch_size
        self.speaker_vocab = ds.speaker_vocab()
        self.transform = transform or (lambda batch: batch)
        self._fixed: list[DialogueBatch] | None = None

    def __len__(self) -> int:
        return -(-len(self.dialogues) // self.batch_size)

    def _collate(self, order: list[int]) -> Iterator[DialogueBatch]:
        for i in range(0, len(order), self.batch_size):
            chunk = [self.dialogues[j] for j in order[i : i + self.batch_size]]
            yield self.transform(collate(chunk, self.modalities, self.speaker_vocab))

    def in_order(self) -> list[DialogueBatch]:
        """The split in its stored order (collated once, reused every epoch)."""
        if self._fixed is None:
            self._fixed = list(self._collate(list(range(len(self.dialogues)))))
        return self._fixed

    def feature_stats(self) -> FeatureStats:
        """Feature statistics of the whole split as the model sees it (after the transform):
        what noise scaled to "the training features" and the quality estimator must use."""
        whole = collate(self.dialogues, self.modalities, self.speaker_vocab)
        return FeatureStats.from_batch(self.transform(whole))

    def shuffled(self, generator: torch.Generator) -> Iterator[DialogueBatch]:
        order = torch.randperm(len(self.dialogues), generator=generator).tolist()
        return self._collate(order)

"""Datasets for training: load by name, attach configured features, split, batch dialogues."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..data import DataError, DialogueBatch, DialogueDataset, collate, load_dataset
from ..data.folds import carve_dev, cv_split, holdout_split
from ..noise.feature import FeatureStats
from ..tensorfile import load_tensors, save_tensors

Corrupt = Callable[[DialogueBatch, int], DialogueBatch]  # (raw batch, its index in the pass)

_LOADED: dict[str, DialogueDataset] = {}


def attach_configured_features(
    ds: DialogueDataset,
    features: dict[str, str],
    device: str | None = None,
    progress: bool = True,
    text_template: dict | str | None = None,
) -> DialogueDataset:
    """Attach extracted features (modality -> extractor name, e.g. {"text": "minilm"}),
    encoded on `device` (None: auto) where they are not in the feature store yet; text through
    the config's `text_template` (None: the utterance alone)."""
    if not features:
        return ds
    try:
        from ..features import attach_features
    except ImportError as exc:
        raise RuntimeError(
            f"config asks for extracted features {features} but affectrl.features is not "
            f"available ({exc})"
        ) from None
    return attach_features(
        ds, dict(features), device=device, progress=progress, text_template=text_template
    )


def dataset_for(config: dict, device: str | None = None) -> DialogueDataset:
    """The config's dataset with its `features` (extracted on `device` where not cached yet;
    loaded once per process: runs share it), split as the run uses it: fold `train.cv.fold` of
    a cross-validation, else the dataset's own split; where that has no dev dialogues, dev is
    carved from the training speakers (`affectrl.data.folds`). With `train.holdout: {folds: J,
    fold: j}` block j of J of the training groups becomes the test split and the original test
    is dropped (the cross-fitted models of `agent.cross_fit`)."""
    features, template = config.get("features") or {}, config.get("text_template")
    key = json.dumps([config["dataset"], features, template], sort_keys=True)
    if key not in _LOADED:
        ds = load_dataset(config["dataset"])
        _LOADED[key] = attach_configured_features(ds, features, device, text_template=template)
    train = config.get("train") or {}
    cv = train.get("cv") or {}
    group = cv.get("group", "speaker")
    if cv.get("fold"):
        ds = cv_split(_LOADED[key], cv["folds"], cv["fold"] - 1, group)
    else:
        ds = carve_dev(_LOADED[key])
    holdout = train.get("holdout")
    if holdout:
        ds = holdout_split(ds, holdout["folds"], holdout["fold"] - 1, group)
    return ds


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


STANDARDIZE = (False, True, "global", "speaker")
SPEAKER_STD_FLOOR = 0.5  # of the median speaker's std, per dimension (`standardize: speaker`)


class Standardizer:
    """z-score each feature with train-split mean / std; padded and missing entries stay 0.

    stats: modality -> (mean float32 [D], std float32 [D], floored at 1e-6). Calling it returns
    a new batch (the input's feature tensors are not modified), so it can be applied to a
    corrupted copy of a clean batch that is reused. Saved in the run folder (`save`), so a
    trained model reads new data on exactly the scale it was trained on.
    """

    def __init__(self, stats: dict[str, tuple[torch.Tensor, torch.Tensor]]):
        self.stats = stats

    @classmethod
    def fit(cls, ds: DialogueDataset, modalities: list[str]) -> Standardizer:
        stats = {}
        for m in modalities:
            x = np.concatenate([d.features[m] for d in ds.dialogues("train")])
            stats[m] = (torch.from_numpy(x.mean(0)), torch.from_numpy(x.std(0).clip(min=1e-6)))
        return cls(stats)

    def __call__(self, batch: DialogueBatch) -> DialogueBatch:
        features = dict(batch.features)
        for i, m in enumerate(batch.modalities):
            mean, std = self.stats[m]
            keep = batch.modality_mask[..., i : i + 1].to(mean.dtype)
            features[m] = (features[m] - mean) / std * keep
        return replace(batch, features=features)

    def save(self, path: str | Path) -> Path:
        """One checksummed safetensors file: `<modality>.mean`, `<modality>.std`."""
        tensors = {
            f"{m}.{k}": t
            for m, (mean, std) in self.stats.items()
            for k, t in (("mean", mean), ("std", std))
        }
        return save_tensors(path, tensors)

    @classmethod
    def load(cls, path: str | Path) -> Standardizer:
        tensors, _ = load_tensors(path, require_checksum=True)
        names = dict.fromkeys(k.rsplit(".", 1)[0] for k in tensors)
        return cls({m: (tensors[f"{m}.mean"], tensors[f"{m}.std"]) for m in names})


def standardizer(
    ds: DialogueDataset, modalities: list[str], by: bool | str = True
) -> Callable[[DialogueBatch], DialogueBatch]:
    """z-score each feature; padded and missing entries stay 0.

    by: True / "global" — with the train split's mean / std (a `Standardizer`, saved in the run
    folder); "speaker" — each utterance with the mean / std of its speaker's own utterances
    (every split's, clean, no labels: on unseen speakers this removes the voice and face of the
    person, which a speaker-independent classifier cannot learn from 10-12 training speakers;
    a trained model computes them on the data it predicts), each speaker's std floored at
    SPEAKER_STD_FLOOR x the median speaker's.

    The transform returns a new batch (the input's feature tensors are not modified), so it can
    be applied to a corrupted copy of a clean batch that is reused."""
    if by not in STANDARDIZE or by is False:
        raise ValueError(f"standardize must be one of {STANDARDIZE[1:]}, got {by!r}")
    if by == "speaker":
        return _speaker_standardizer(ds, modalities)
    return Standardizer.fit(ds, modalities)


def _speaker_standardizer(ds: DialogueDataset, modalities: list[str]):
    """The "speaker" transform of `standardizer`: statistics row per speaker, and per dialogue
    the row of each of its utterances."""
    names = sorted({s for d in ds.dialogues() for s in d.speakers})
    row_of = {s: i for i, s in enumerate(names)}
    rows = {d.id: torch.tensor([row_of[s] for s in d.speakers]) for d in ds.dialogues()}
    stats = {}
    for m in modalities:
        per = {s: [] for s in names}
        for d in ds.dialogues():
            for s, x in zip(d.speakers, d.features[m], strict=True):
                per[s].append(x)
        xs = [np.stack(per[s]) for s in names]
        mean = torch.from_numpy(np.stack([x.mean(0) for x in xs]))  # [S, D]
        std = np.stack([x.std(0) for x in xs])
        # A dimension one speaker hardly varies on (an action unit an actor never shows) would
        # turn any deviation from it, noise included, into an enormous z-score (x 2e5 on
        # RAVDESS's AUs at a 1e-6 floor): each speaker's spread is at least SPEAKER_STD_FLOOR x
        # the median speaker's.
        std = np.maximum(std, SPEAKER_STD_FLOOR * np.median(std, 0)).clip(min=1e-6)
        stats[m] = (mean, torch.from_numpy(std))

    def transform(batch: DialogueBatch) -> DialogueBatch:
        index = torch.zeros(batch.utterance_mask.shape, dtype=torch.long)  # [B, T]
        for b, dialogue_id in enumerate(batch.dialogue_ids):
            if dialogue_id not in rows:
                raise ValueError(
                    f"standardize: speaker has no statistics for dialogue {dialogue_id!r} "
                    f"(not in dataset {ds.name!r})"
                )
            index[b, : len(rows[dialogue_id])] = rows[dialogue_id]
        features = dict(batch.features)
        for i, m in enumerate(batch.modalities):
            mean, std = stats[m]
            keep = batch.modality_mask[..., i : i + 1].to(mean.dtype)
            features[m] = (features[m] - mean[index]) / std[index] * keep
        return replace(batch, features=features)

    return transform


def require_labels(ds: DialogueDataset, splits: tuple[str, ...]) -> None:
    """DataError naming the dataset's file when one of `splits` holds no labelled utterance:
    training, model selection and metrics need labels (scores of nothing would read 0.00)."""
    for split in splits:
        if not any((d.labels >= 0).any() for d in ds.dialogues(split)):
            raise DataError(
                ds.source[0] if ds.source else ds.name,
                f"the {split} split has no labelled utterances: training, model selection and "
                "metrics need labels",
            )


class Batches:
    """Batches of `batch_size` dialogues of one split, collated to DialogueBatch."""

    def __init__(
        self,
        ds,
        split: str,
        modalities: list[str],
        batch_size: int,
        transform=None,
        speaker_vocab: dict[str, int] | None | str = "dataset",
    ):
        """speaker_vocab: "dataset" numbers speakers as `ds` does; a trained model reading new
        data passes the numbering it was trained with (None: by first appearance)."""
        self.dialogues = list(ds.dialogues(split))
        if not self.dialogues:
            raise ValueError(f"dataset {ds.name!r} has no {split!r} dialogues")
        self.modalities, self.batch_size = modalities, batch_size
        self.speaker_vocab = ds.speaker_vocab() if speaker_vocab == "dataset" else speaker_vocab
        self.transform = transform or (lambda batch: batch)
        self._fixed: list[DialogueBatch] | None = None

    def __len__(self) -> int:
        return -(-len(self.dialogues) // self.batch_size)

    def with_batch_size(self, batch_size: int) -> Batches:
        """The same dialogues, transform and speaker numbering in batches of `batch_size`."""
        if batch_size == self.batch_size:
            return self
        other = copy.copy(self)
        other.batch_size, other._fixed = int(batch_size), None
        return other

    def _collate(self, order: list[int], corrupt: Corrupt | None = None) -> Iterator[DialogueBatch]:
        for k, i in enumerate(range(0, len(order), self.batch_size)):
            chunk = [self.dialogues[j] for j in order[i : i + self.batch_size]]
            batch = collate(chunk, self.modalities, self.speaker_vocab)
            yield self.transform(batch if corrupt is None else corrupt(batch, k))

    def in_order(self) -> list[DialogueBatch]:
        """The split in its stored order (collated once, reused every epoch)."""
        if self._fixed is None:
            self._fixed = list(self._collate(list(range(len(self.dialogues)))))
        return self._fixed

    def feature_stats(self) -> FeatureStats:
        """Feature statistics of the whole split as the model sees it (after the transform):
        what the quality estimator must use."""
        whole = collate(self.dialogues, self.modalities, self.speaker_vocab)
        return FeatureStats.from_batch(self.transform(whole))

    def noise_stats(self) -> FeatureStats:
        """Feature statistics of the whole split in the data's own units (before the
        transform): the scale of the noise `shuffled(corrupt=...)` adds, as the noise grids
        corrupt the data before the model's transform (affectrl.noise.grid)."""
        return FeatureStats.from_batch(collate(self.dialogues, self.modalities, self.speaker_vocab))

    def shuffled(
        self, generator: torch.Generator, corrupt: Corrupt | None = None
    ) -> Iterator[DialogueBatch]:
        """One shuffled pass; corrupt(batch, k) is applied to the k-th batch in the data's own
        units, before the transform (noise at a given SNR then means what it means in
        evaluation, whatever the standardisation: with `standardize: speaker` noise added after
        the per-speaker z-scoring would be a different, milder corruption)."""
        order = torch.randperm(len(self.dialogues), generator=generator).tolist()
        return self._collate(order, corrupt)

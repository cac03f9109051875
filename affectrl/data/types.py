"""The data model: dialogues of utterances, and a dataset of train/dev/test dialogues."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "dev", "test")
MODALITIES = ("text", "audio", "visual")


@dataclass
class Dialogue:
    """One dialogue (or one video, for monologue datasets) of T utterances.

    Attributes:
        id: dialogue identifier, unique within its dataset.
        speakers: T speaker names, in utterance order.
        labels: int64 [T], class indices into the dataset's label vocabulary; -1 = unlabelled.
        texts: T transcripts, or None when the dataset has no text.
        features: modality name -> float32 [T, D_m] utterance-level feature vectors.
        media: modality name -> T paths of raw media files (e.g. WAV), for extraction.
        utterance_ids: T identifiers of the utterances (for error messages and caching).
    """

    id: str
    speakers: list[str]
    labels: np.ndarray
    texts: list[str] | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)
    media: dict[str, list[str]] = field(default_factory=dict)
    utterance_ids: list[str] | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.utterance_ids is None:
            self.utterance_ids = [f"{self.id}_{i}" for i in range(len(self.speakers))]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class DialogueDataset:
    """A dataset: its dialogues per split and its label vocabulary.

    Attributes:
        name: registry name, e.g. "iemocap6".
        label_names: class names; label k of a Dialogue means label_names[k].
        splits: "train" / "dev" / "test" -> dialogues.
        source: the files it was read from (for `data check` and error messages).
        per_dialogue_speakers: speakers are numbered by first appearance within each dialogue
            (MELD, MOSI); False numbers them dataset-wide (IEMOCAP's 'M'/'F').
        coverage: for datasets joined from several sources (RAVDESS WAVs and action units),
            items per source, e.g. {"WAV": 960, "au_mfcc.pkl": 960, "both": 960}; `data check`
            prints it.
        one_source: source -> ids of the items only that source has (not in the dataset, which
            holds the items every source has; `data check` reports them).
    """

    name: str
    label_names: list[str]
    splits: dict[str, list[Dialogue]]
    source: list[str] = field(default_factory=list)
    per_dialogue_speakers: bool = True
    coverage: dict[str, int] = field(default_factory=dict)
    one_source: dict[str, list[str]] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def modalities(self) -> list[str]:
        """Modalities with features in every dialogue, in canonical order."""
        dialogues = list(self.dialogues())
        if not dialogues:
            return []
        present = set.intersection(*(set(d.features) for d in dialogues))
        ordered = [m for m in MODALITIES if m in present]
        return ordered + sorted(present - set(MODALITIES))

    def feature_dims(self) -> dict[str, int]:
        """Modality -> feature dimension D_m."""
        first = next(self.dialogues())
        return {m: int(first.features[m].shape[1]) for m in self.modalities}

    def speaker_vocab(self) -> dict[str, int] | None:
        """Speaker name -> dataset-wide index (sorted), or None for per-dialogue numbering."""
        if self.per_dialogue_speakers:
            return None
        names = sorted({s for d in self.dialogues() for s in d.speakers})
        return {s: i for i, s in enumerate(names)}

    @property
    def num_speakers(self) -> int:
        """S: the number of speaker indices a batch of this dataset can hold."""
        vocab = self.speaker_vocab()
        if vocab is not None:
            return len(vocab)
        return max(len(set(d.speakers)) for d in self.dialogues())

    def dialogues(self, split: str | None = None) -> Iterator[Dialogue]:
        for name in SPLITS if split is None else (split,):
            yield from self.splits.get(name, [])

    def counts(self) -> dict[str, dict[str, int]]:
        """Per split: number of dialogues and utterances."""
        return {
            s: {
                "dialogues": len(self.splits.get(s, [])),
                "utterances": sum(len(d) for d in self.splits.get(s, [])),
            }
            for s in SPLITS
        }

    def with_features(self, modality: str, vectors: dict[str, np.ndarray]) -> DialogueDataset:
        """Attach vectors (utterance id -> [D]) as a modality, in place; returns self."""
        for d in self.dialogues():
            d.features[modality] = np.stack([vectors[u] for u in d.utterance_ids]).astype(
                np.float32
            )
        return self

"""DialogueBatch: the padded batch type that every stage after the datasets consumes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .types import Dialogue

IGNORE_INDEX = -100


@dataclass
class DialogueBatch:
    """B dialogues padded to T utterances.

    Attributes:
        features: modality -> float32 [B, T, D_m]; padded and missing positions are zero.
        utterance_mask: bool [B, T], True at real utterances.
        modality_mask: bool [B, T, M], True where modality m is present (order = `modalities`).
        speakers: int64 [B, T], speaker index (0 at padding): dataset-wide, or by first
            appearance within the dialogue (see DialogueDataset.per_dialogue_speakers).
        labels: int64 [B, T], class index, IGNORE_INDEX (-100) at padding and unlabelled.
        modalities: the M modality names, in the order of the last axis of modality_mask.
        dialogue_ids: B dialogue identifiers.
        corruption: what a noise transform did, name -> tensor (e.g. severity [B, T, M]);
            empty for clean batches.
    """

    features: dict[str, torch.Tensor]
    utterance_mask: torch.Tensor
    modality_mask: torch.Tensor
    speakers: torch.Tensor
    labels: torch.Tensor
    modalities: tuple[str, ...]
    dialogue_ids: list[str]
    corruption: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def lengths(self) -> torch.Tensor:
        """int64 [B]: utterances per dialogue."""
        return self.utterance_mask.sum(dim=1)

    @property
    def batch_size(self) -> int:
        return self.utterance_mask.shape[0]

    @property
    def max_len(self) -> int:
        return self.utterance_mask.shape[1]

    def to(self, device: torch.device | str) -> DialogueBatch:
        return replace(
            self,
            features={m: x.to(device) for m, x in self.features.items()},
            utterance_mask=self.utterance_mask.to(device),
            modality_mask=self.modality_mask.to(device),
            speakers=self.speakers.to(device),
            labels=self.labels.to(device),
            corruption={k: v.to(device) for k, v in self.corruption.items()},
        )

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        """Select real utterances: [B, T, ...] -> [N, ...] with N = utterance_mask.sum()."""
        return x[self.utterance_mask]


def collate(
    dialogues: Sequence[Dialogue],
    modalities: Sequence[str],
    speaker_vocab: dict[str, int] | None = None,
) -> DialogueBatch:
    """Pad a list of dialogues into one DialogueBatch (all requested modalities must exist).

    speaker_vocab: dataset-wide speaker numbering; None numbers speakers by first appearance
    within each dialogue.
    """
    if not dialogues:
        raise ValueError("collate needs at least one dialogue")
    batch_size, max_len = len(dialogues), max(len(d) for d in dialogues)
    features = {}
    for m in modalities:
        dim = dialogues[0].features[m].shape[1]
        x = np.zeros((batch_size, max_len, dim), dtype=np.float32)
        for b, d in enumerate(dialogues):
            x[b, : len(d)] = d.features[m]
        features[m] = torch.from_numpy(x)
    utterance_mask = torch.zeros(batch_size, max_len, dtype=torch.bool)
    speakers = torch.zeros(batch_size, max_len, dtype=torch.long)
    labels = torch.full((batch_size, max_len), IGNORE_INDEX, dtype=torch.long)
    for b, d in enumerate(dialogues):
        n = len(d)
        utterance_mask[b, :n] = True
        vocab = speaker_vocab or {s: i for i, s in enumerate(dict.fromkeys(d.speakers))}
        speakers[b, :n] = torch.tensor([vocab[s] for s in d.speakers])
        lab = torch.from_numpy(d.labels)
        labels[b, :n] = torch.where(lab < 0, torch.full_like(lab, IGNORE_INDEX), lab)
    modality_mask = utterance_mask.unsqueeze(-1).repeat(1, 1, len(modalities))
    return DialogueBatch(
        features=features,
        utterance_mask=utterance_mask,
        modality_mask=modality_mask,
        speakers=speakers,
        labels=labels,
        modalities=tuple(modalities),
        dialogue_ids=[d.id for d in dialogues],
    )

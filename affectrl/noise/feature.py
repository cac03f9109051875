"""Feature-level corruptions: transforms DialogueBatch -> DialogueBatch that say what they did.

Every corruption acts on one modality, picks its utterances with a seeded torch.Generator (same
seed, same batch -> same corruption), and records per utterance and modality in
`batch.corruption`:

    kind      int64   [B, T, M]  index into feature_kinds() (0 = clean)
    severity  float32 [B, T, M]  common scale in [0, 1]: noise fraction N/(S+N) for gaussian,
                                 1 for missing / misaligned / substituted, the masked share of
                                 dimensions for dim_mask, 0 where clean
    value     float32 [B, T, M]  the corruption's own parameter (SNR dB, fraction, shift), NaN
                                 where clean

Missing utterances (dropped, or shifted out of the stream) are zeroed and switched off in
`modality_mask`. Units: features stay in the units the dataset ships; noise is scaled by the
per-dimension standard deviation of the clean training features (FeatureStats), so an SNR is
measured in standardised feature space where each dimension's signal power is 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..data.batch import DialogueBatch, collate
from ..data.types import DialogueDataset
from ..tensorfile import load_tensors, save_tensors
from .spec import (
    CORRUPTIONS,
    build,
    check_finite,
    check_fraction,
    check_modality,
    derive_seed,
    register,
    snr_severity,
    spec_of,
)


def feature_kinds() -> tuple[str, ...]:
    """What the `kind` codes of a corruption report index: "clean", then the feature-level
    corruptions in registration order (the registry is the one list of kinds)."""
    return ("clean", *CORRUPTIONS["feature"])


def kind_code(name: str) -> int:
    """The `kind` code of a corruption in reports (0: clean)."""
    return feature_kinds().index(name)
MIN_STD = 1e-8


@dataclass
class FeatureStats:
    """Per-dimension mean and standard deviation of clean training features, per modality.

    mean[m], std[m]: float32 [D_m], over the present real utterances of the split they were
    computed from; std is 0 on constant dimensions (they carry no signal and get no noise).
    """

    mean: dict[str, torch.Tensor]
    std: dict[str, torch.Tensor]

    @classmethod
    def from_dataset(cls, dataset: DialogueDataset, split: str = "train") -> FeatureStats:
        dialogues = list(dataset.dialogues(split))
        if not dialogues:
            raise ValueError(f"{dataset.name}: split {split!r} is empty; cannot compute stats")
        return cls.from_batch(collate(dialogues, dataset.modalities))

    @classmethod
    def from_batch(cls, batch: DialogueBatch) -> FeatureStats:
        mean, std = {}, {}
        for i, m in enumerate(batch.modalities):
            x = batch.features[m][batch.modality_mask[..., i]].double()
            mean[m] = x.mean(0).float()
            s = x.std(0, unbiased=False).float()
            std[m] = torch.where(s > MIN_STD, s, torch.zeros_like(s))
        return cls(mean, std)

    def standardise(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """[..., D] raw features -> standardised (constant dimensions -> 0)."""
        std = self.std[modality]
        return torch.where(std > 0, (x - self.mean[modality]) / std.clamp_min(MIN_STD), 0.0)

    def save(self, path: str | Path) -> Path:
        tensors = {f"{m}.mean": v for m, v in self.mean.items()}
        tensors |= {f"{m}.std": v for m, v in self.std.items()}
        return save_tensors(path, tensors)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        tensors, _ = load_tensors(path)
        mods = sorted({k.rsplit(".", 1)[0] for k in tensors})
        return cls({m: tensors[f"{m}.mean"] for m in mods}, {m: tensors[f"{m}.std"] for m in mods})


def empty_report(batch: DialogueBatch) -> dict[str, torch.Tensor]:
    shape = batch.modality_mask.shape
    return {
        "kind": torch.zeros(shape, dtype=torch.long),
        "severity": torch.zeros(shape),
        "value": torch.full(shape, math.nan),
    }


def _report_of(batch: DialogueBatch) -> dict[str, torch.Tensor]:
    if {"kind", "severity", "value"} <= set(batch.corruption):
        return {k: v.clone() for k, v in batch.corruption.items()}
    return batch.corruption | empty_report(batch)


def _exact_fraction(
    candidates: torch.Tensor, fraction: float, gen: torch.Generator
) -> torch.Tensor:
    """bool like `candidates`: round(fraction * count) of its True positions, chosen at random."""
    flat = candidates.flatten().nonzero().squeeze(1)
    k = round(fraction * flat.numel())
    chosen = flat[torch.randperm(flat.numel(), generator=gen)[:k]]
    out = torch.zeros(candidates.numel(), dtype=torch.bool)
    out[chosen] = True
    return out.view_as(candidates)


@dataclass(frozen=True)
class FeatureCorruption:
    """Base: damage `modality` on a `fraction` of its present utterances (exact count)."""

    modality: str
    fraction: float = 1.0
    name: ClassVar[str]
    level: ClassVar[str]

    def __post_init__(self) -> None:
        check_modality(self.modality)
        check_fraction("fraction", self.fraction)

    @property
    def kind(self) -> int:
        return kind_code(self.name)

    @property
    def value(self) -> float:
        """The native parameter reported in corruption['value']."""
        return self.fraction

    @property
    def severity(self) -> float:
        return 1.0

    @property
    def spec(self) -> dict[str, Any]:
        """The YAML-able spec that rebuilds this corruption."""
        return spec_of(self)

    def select(self, present: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """bool [B, T]: the utterances to damage, among the present ones."""
        return _exact_fraction(present, self.fraction, gen)

    def corrupt(
        self, x: torch.Tensor, selected: torch.Tensor, present: torch.Tensor, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, D] -> (new x, dropped bool [B, T]: utterances that became missing)."""
        raise NotImplementedError

    def __call__(self, batch: DialogueBatch, seed: int) -> DialogueBatch:
        if self.modality not in batch.modalities:
            raise ValueError(
                f"corruption {self.name!r}: batch has no modality {self.modality!r} "
                f"(it has {list(batch.modalities)})"
            )
        m = batch.modalities.index(self.modality)
        gen = torch.Generator().manual_seed(int(seed))
        present = batch.modality_mask[..., m] & batch.utterance_mask
        selected = self.select(present, gen)
        x, dropped = self.corrupt(batch.features[self.modality], selected, present, gen)
        changed = selected & ~dropped
        x = x.masked_fill(dropped.unsqueeze(-1), 0.0)
        modality_mask = batch.modality_mask.clone()
        modality_mask[..., m] &= ~dropped
        report = _report_of(batch)
        lost = kind_code("missing")
        for where, kind, severity in ((changed, self.kind, self.severity), (dropped, lost, 1.0)):
            report["kind"][..., m][where] = kind
            report["value"][..., m][where] = self.value
            sev = report["severity"][..., m]
            sev[where] = sev[where].clamp_min(severity)
        return replace(
            batch,
            features=batch.features | {self.modality: x},
            modality_mask=modality_mask,
            corruption=report,
        )


@register("feature", "gaussian")
@dataclass(frozen=True)
class Gaussian(FeatureCorruption):
    """Additive white Gaussian noise at `snr_db`, relative to the training features' variance.

    In standardised space each (non-constant) dimension has signal power 1, so the noise there
    has variance 10^(-snr_db/10); in raw units its std is std_train[d] * 10^(-snr_db/20).
    Needs `stats` (FeatureStats of the clean training split), passed as context to build().
    """

    snr_db: float = 0.0
    stats: FeatureStats | None = field(
        default=None, repr=False, compare=False, metadata={"spec": False}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite("snr_db", self.snr_db)

    @property
    def value(self) -> float:
        return float(self.snr_db)

    @property
    def severity(self) -> float:
        return snr_severity(self.snr_db)

    def corrupt(self, x, selected, present, gen):
        if self.stats is None or self.modality not in self.stats.std:
            raise ValueError(
                f"gaussian noise on {self.modality!r} needs training-feature statistics: "
                "build it with stats=FeatureStats.from_dataset(dataset)"
            )
        scale = self.stats.std[self.modality] * 10 ** (-self.snr_db / 20)
        noise = torch.randn(x.shape, generator=gen) * scale
        return x + noise * selected.unsqueeze(-1), torch.zeros_like(selected)


@register("feature", "missing")
@dataclass(frozen=True)
class Missing(FeatureCorruption):
    """Drop the modality on `fraction` of the utterances: zeroed and flagged in modality_mask."""

    def corrupt(self, x, selected, present, gen):
        return x, selected


@register("feature", "dim_mask")
@dataclass(frozen=True)
class DimMask(FeatureCorruption):
    """Zero a random `dims` share of the feature dimensions (drawn per utterance)."""

    dims: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("dims", self.dims)

    @property
    def value(self) -> float:
        return float(self.dims)

    @property
    def severity(self) -> float:
        return float(self.dims)

    def corrupt(self, x, selected, present, gen):
        k = round(self.dims * x.shape[-1])
        order = torch.rand(x.shape, generator=gen).argsort(dim=-1)
        masked = torch.zeros(x.shape, dtype=torch.bool).scatter_(-1, order[..., :k], True)
        return x.masked_fill(masked & selected.unsqueeze(-1), 0.0), torch.zeros_like(selected)


@register("feature", "misalign")
@dataclass(frozen=True)
class Misalign(FeatureCorruption):
    """Delay the modality's stream by `shift` utterances (negative: ahead) in `fraction` of the
    dialogues: utterance t gets the features of t - shift; those shifted out of range are missing.
    """

    shift: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.shift, int) or isinstance(self.shift, bool) or self.shift == 0:
            raise ValueError(f"shift must be a non-zero integer, got {self.shift!r}")

    @property
    def value(self) -> float:
        return float(self.shift)

    def select(self, present, gen):
        dialogues = _exact_fraction(present.any(dim=1), self.fraction, gen)
        return present & dialogues.unsqueeze(1)

    def corrupt(self, x, selected, present, gen):
        lengths = present.shape[1]
        src = torch.arange(lengths) - self.shift  # [T]
        valid = (src >= 0) & (src < lengths)
        src_c = src.clamp(0, lengths - 1)
        shifted = x[:, src_c]
        src_present = present[:, src_c] & valid
        out = torch.where(selected.unsqueeze(-1), shifted, x)
        return out, selected & ~src_present


@register("feature", "substitute")
@dataclass(frozen=True)
class Substitute(FeatureCorruption):
    """Replace the modality's features with those of another utterance ("plausible but wrong"):
    a donor drawn uniformly from the present utterances of the other dialogues in the batch
    (of the same dialogue when the batch has only one)."""

    def select(self, present, gen):
        if int(present.sum()) < 2:  # no other utterance to take features from
            return torch.zeros_like(present)
        return super().select(present, gen)

    def corrupt(self, x, selected, present, gen):
        pos = present.nonzero()  # [N, 2] (b, t), sorted by dialogue
        dialogue = pos[:, 0]
        counts = torch.bincount(dialogue, minlength=present.shape[0])
        start = torch.cumsum(counts, 0) - counts
        targets = selected.nonzero()
        if targets.numel() == 0:
            return x, torch.zeros_like(selected)
        b = targets[:, 0]
        if int((counts > 0).sum()) > 1:  # donors: everything outside the target's dialogue
            n_donors = pos.shape[0] - counts[b]
            r = (torch.rand(len(b), generator=gen) * n_donors).long()
            donor = torch.where(r < start[b], r, r + counts[b])
        else:  # one dialogue: any other utterance of it
            own = (present.flatten().cumsum(0) - 1).view_as(present)[b, targets[:, 1]]
            r = (torch.rand(len(b), generator=gen) * (pos.shape[0] - 1)).long()
            donor = torch.where(r < own, r, r + 1)
        out = x.clone()
        src = pos[donor]
        out[b, targets[:, 1]] = x[src[:, 0], src[:, 1]]
        return out, torch.zeros_like(selected)


@dataclass(frozen=True)
class Compose:
    """Apply corruptions in order (each with its own seed derived from the call's seed).

    An empty Compose is the clean condition: it only attaches an all-clean report.
    """

    parts: tuple[FeatureCorruption, ...] = ()

    @property
    def spec(self) -> list[dict[str, Any]]:
        return [p.spec for p in self.parts]

    def __call__(self, batch: DialogueBatch, seed: int) -> DialogueBatch:
        batch = replace(batch, corruption=_report_of(batch))
        for i, part in enumerate(self.parts):
            batch = part(batch, derive_seed(seed, i))
        return batch


def build_feature_corruption(
    spec: dict[str, Any] | list[dict[str, Any]], stats: FeatureStats | None = None
) -> Compose:
    """One spec or a list of specs -> a Compose (call it as corruption(batch, seed))."""
    specs = [spec] if isinstance(spec, dict) else list(spec)
    parts = []
    for s in specs:
        if isinstance(s, dict) and s.get("level", "feature") != "feature":
            raise ValueError(f"{s}: not a feature-level corruption (level {s.get('level')!r})")
        parts.append(build(s, stats=stats))
    return Compose(tuple(parts))

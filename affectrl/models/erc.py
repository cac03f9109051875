"""The composed model: fusion -> context model -> classifier; late fusion of unimodal models."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..data import IGNORE_INDEX, DialogueBatch
from .context import CONTEXTS
from .dropout import Dropout
from .fusion import FUSIONS, masked_normalise
from .parts import Part

LATE = "late"  # model.fusion.name of LateFusionModel (a whole model, not a fusion module)


class ModelOutput(NamedTuple):
    """logits [N, C] for the real utterances; unimodal_logits [N, M, C] and modality weights
    [N, M] where the fusion has them; present [N, M] bool modality mask of those utterances."""

    logits: torch.Tensor
    unimodal_logits: torch.Tensor | None
    weights: torch.Tensor | None
    present: torch.Tensor


class Classifier(nn.Module):
    """COGMEN's classifier: Linear -> ReLU -> Dropout -> Linear, giving logits [N, C]."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.net(x)


class ERCModel(nn.Module):
    """fusion (per utterance) -> context model (per dialogue) -> classifier.

    Loss: NLL of log_softmax(logits) (= cross-entropy) plus `unimodal_loss_weight` times the mean
    cross-entropy of the unimodal heads over present modalities, plus the `auxiliary_loss` of
    every part that has one (the RL graph policies of affectrl/agents/graph/policies.py). The
    trainer calls the parts' hooks (affectrl.models.parts) through `parts()`.
    """

    def __init__(
        self, fusion: nn.Module, context: nn.Module, classifier: nn.Module, unimodal_loss_weight=0.0
    ):
        super().__init__()
        self.fusion, self.context, self.classifier = fusion, context, classifier
        self.unimodal_loss_weight = unimodal_loss_weight

    def forward(self, batch: DialogueBatch, weights: torch.Tensor | None = None) -> ModelOutput:
        """weights: modality weights [B, T, M] the (weighted) fusion uses instead of its own."""
        mask = batch.utterance_mask
        fused = self.fusion(batch.features, batch.modality_mask, weights)
        logits = self.classifier(self.context(fused.fused, mask, batch.speakers))
        uni = fused.unimodal_logits[mask] if fused.unimodal_logits is not None else None
        weights = fused.weights[mask] if fused.weights is not None else None
        return ModelOutput(logits, uni, weights, batch.modality_mask[mask])

    def loss(self, out: ModelOutput, batch: DialogueBatch) -> torch.Tensor:
        labels = batch.labels[batch.utterance_mask]
        loss = F.nll_loss(F.log_softmax(out.logits, -1), labels, ignore_index=IGNORE_INDEX)
        if self.unimodal_loss_weight and out.unimodal_logits is not None:
            loss = loss + self.unimodal_loss_weight * unimodal_loss(out, labels)
        # parts with their own objective (e.g. RL graph policies) add it here
        for part in self.parts():
            extra = part.auxiliary_loss(out.logits, labels, batch.utterance_mask)
            if extra is not None:
                loss = loss + extra
        return loss

    def parts(self) -> list[Part]:
        """The fusion, the context model and the parts inside it (its graph), in that order."""
        return [self.fusion, self.context, *self.context.parts()]


def unimodal_loss(out: ModelOutput, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the unimodal heads over (utterance, present modality) pairs."""
    n, m, c = out.unimodal_logits.shape
    per = F.cross_entropy(
        out.unimodal_logits.reshape(n * m, c),
        labels.repeat_interleave(m),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view(n, m)
    keep = out.present & (labels != IGNORE_INDEX).unsqueeze(1)
    return (per * keep).sum() / keep.sum().clamp_min(1)


class LateFusionModel(nn.Module):
    """Late fusion: one unimodal model per modality; logits averaged over present modalities.

    Each unimodal model is trained on its own loss (the sum of the per-modality losses), so
    training them together equals training them apart.
    """

    def __init__(self, models: dict[str, ERCModel]):
        super().__init__()
        self.modalities = list(models)
        self.unimodal = nn.ModuleDict(models)

    def _select(self, batch: DialogueBatch, i: int, m: str) -> DialogueBatch:
        return DialogueBatch(
            features={m: batch.features[m]},
            utterance_mask=batch.utterance_mask,
            modality_mask=batch.modality_mask[..., i : i + 1],
            speakers=batch.speakers,
            labels=batch.labels,
            modalities=(m,),
            dialogue_ids=batch.dialogue_ids,
        )

    def forward(self, batch: DialogueBatch, weights: torch.Tensor | None = None) -> ModelOutput:
        if weights is not None:
            raise ValueError("late fusion averages its unimodal models; it takes no weights")
        mods = [batch.modalities.index(m) for m in self.modalities]
        logits = torch.stack(
            [
                self.unimodal[m](self._select(batch, i, m)).logits
                for i, m in zip(mods, self.modalities, strict=True)
            ],
            1,
        )  # [N, M, C]
        present = batch.modality_mask[batch.utterance_mask][:, mods]
        weights = masked_normalise(torch.ones_like(present, dtype=logits.dtype), present)
        return ModelOutput((weights.unsqueeze(-1) * logits).sum(1), logits, weights, present)

    def loss(self, out: ModelOutput, batch: DialogueBatch) -> torch.Tensor:
        labels = batch.labels[batch.utterance_mask]
        return unimodal_loss(out, labels) * len(self.modalities)

    def parts(self) -> list[Part]:
        """None with hooks: the unimodal models are concatenation models trained as one."""
        return []


def build_model(spec: dict, dims: dict[str, int], num_classes: int, num_speakers: int) -> nn.Module:
    """Build a model from the config's `model` section.

    spec: {fusion: {name, ...}, context: {name, ...}, classifier: {hidden, dropout},
    unimodal_loss_weight}; dims: modality -> feature size, in the batch's modality order.
    """
    fusion_spec = dict(spec.get("fusion", {"name": "concat"}))
    name = fusion_spec.pop("name", "concat")
    if name == LATE:
        per = {**spec, "fusion": {"name": "concat", **fusion_spec}}
        return LateFusionModel(
            {m: build_model(per, {m: d}, num_classes, num_speakers) for m, d in dims.items()}
        )
    if name not in FUSIONS:
        raise ValueError(f"unknown fusion {name!r}; known: {', '.join([*FUSIONS, LATE])}")
    fusion = _component("fusion", name, FUSIONS[name], dims, num_classes, **fusion_spec)
    context_spec = dict(spec.get("context", {"name": "none"}))
    context_name = context_spec.pop("name", "none")
    if CONTEXTS[context_name].uses_speakers:  # an unknown name: an error listing the known
        context_spec["num_speakers"] = num_speakers
    context = _component(
        "context", context_name, CONTEXTS[context_name], fusion.out_dim, **context_spec
    )
    clf = dict(spec.get("classifier", {}))
    classifier = Classifier(
        context.out_dim, clf.get("hidden", 100), num_classes, clf.get("dropout", 0.5)
    )
    return ERCModel(fusion, context, classifier, spec.get("unimodal_loss_weight", 0.0))


def _component(section: str, name: str, factory, *args, **options) -> nn.Module:
    """factory(*args, **options), with an option the component does not take reported as a
    config error naming the section."""
    try:
        return factory(*args, **options)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ValueError(
            f"model.{section} {name!r} does not take an option given in the config "
            f"({exc}); options passed: {sorted(options)}"
        ) from None

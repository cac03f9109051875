"""Utterance-level fusion: per-modality features -> one vector per utterance.

Every fusion is a `Fusion` (affectrl.models.parts): it reads `features[m]` float32 [B, T, D_m]
and `modality_mask` bool [B, T, M] and returns a `FusionOutput`. A missing modality (mask False)
contributes nothing: its input is zeroed and, for weighted fusions, its weight is 0 and the
others are renormalised. A weighted fusion also takes `weights` [B, T, M]: modality weights
decided outside it (an RL rollout, the oracle, equal weights), used instead of its own. The
context model (affectrl.models.context) sits behind a fusion; the RL fusion agent
(affectrl.agents.fusion) is a weighted fusion whose own weights come from its decider.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..registry import Registry, factory
from .parts import FitContext, Fusion, FusionOutput
from .tuning import tune_fixed_weights


def _present(features: dict[str, torch.Tensor], mask: torch.Tensor, modalities: list[str]):
    """Features with missing positions zeroed: list of M tensors [B, T, D_m]."""
    return [
        features[m] * mask[..., i : i + 1].to(features[m].dtype) for i, m in enumerate(modalities)
    ]


def masked_normalise(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero the weights of missing modalities and renormalise to sum 1 over the rest.

    weights, mask: [..., M] (mask bool, or 0/1). Where every modality is missing the result is
    all zeros.
    """
    w = weights * mask  # a bool mask promotes to the weights' dtype
    return w / w.sum(-1, keepdim=True).clamp_min(1e-12)


class ModalityEncoders(nn.Module):
    """One encoder per modality (Linear -> ReLU -> Dropout) to a shared size H, and unimodal heads.

    The heads (Linear H -> C) give each modality its own prediction: an auxiliary loss during
    training, and the confidence signals the fusion agent reads.
    """

    def __init__(self, dims: dict[str, int], hidden: int, num_classes: int, dropout: float):
        super().__init__()
        self.modalities = list(dims)
        self.encoders = nn.ModuleDict(
            {
                m: nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Dropout(dropout))
                for m, d in dims.items()
            }
        )
        self.heads = nn.ModuleDict({m: nn.Linear(hidden, num_classes) for m in dims})

    def forward(self, features, mask) -> tuple[torch.Tensor, torch.Tensor]:
        """-> encodings [B, T, M, H] (zero where missing), unimodal logits [B, T, M, C]."""
        xs = _present(features, mask, self.modalities)
        enc = torch.stack(
            [self.encoders[m](x) for m, x in zip(self.modalities, xs, strict=True)], 2
        )
        enc = enc * mask.unsqueeze(-1).to(enc.dtype)
        logits = torch.stack(
            [self.heads[m](enc[:, :, i]) for i, m in enumerate(self.modalities)], 2
        )
        return enc, logits


class ConcatFusion(Fusion):
    """Early fusion: concatenate the (optionally encoded) modality vectors.

    encoder_dim None feeds the raw features (COGMEN's input: concatenated modalities),
    out_dim = sum D_m; otherwise each modality is encoded to encoder_dim first (out_dim = M * H)
    and unimodal heads are available.

    Args:
        encoder_dim: size each modality is encoded to before concatenation (null: the raw
            features, concatenated).
        dropout: dropout after each modality encoder.
    """

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        encoder_dim: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.modalities = list(dims)
        self.encoders = (
            ModalityEncoders(dims, encoder_dim, num_classes, dropout) if encoder_dim else None
        )
        self.out_dim = encoder_dim * len(dims) if encoder_dim else sum(dims.values())

    def forward(self, features, modality_mask, weights=None) -> FusionOutput:
        if weights is not None:
            raise ValueError("concatenation takes no modality weights (use a weighted fusion)")
        if self.encoders is None:
            return FusionOutput(torch.cat(_present(features, modality_mask, self.modalities), -1))
        enc, logits = self.encoders(features, modality_mask)
        return FusionOutput(enc.flatten(2), logits)


class WeightedFusion(Fusion):
    """fused = sum_m w_m * e_m over per-modality encodings e_m [B, T, H].

    weighting:
        "mean": equal weights over present modalities.
        "fixed": a constant weight vector (the `fixed_weights` buffer), tuned on dev after
            training (`after_fit`, affectrl.models.tuning); during training weights are drawn
            from a flat Dirichlet per utterance so the classifier works under any weighting.
        "attention": w = softmax_m(v . tanh(W e_m)), learned by gradient.
        "gated": a gate per modality and dimension, softmax over modalities of a linear map of
            all encodings (a gated multimodal unit for M modalities); reported weights are the
            gates' mean over dimensions.

    Args:
        hidden: size H of each modality's encoding (and of the fused vector).
        dropout: dropout after each modality encoder.
    """

    WEIGHTINGS = ("mean", "fixed", "attention", "gated")
    takes_weights = True

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        hidden: int = 100,
        dropout: float = 0.0,
        weighting: str = "mean",
    ):
        super().__init__()
        if weighting not in self.WEIGHTINGS:
            raise ValueError(f"unknown weighting {weighting!r}; known: {self.WEIGHTINGS}")
        self.weighting = weighting
        self.encoders = ModalityEncoders(dims, hidden, num_classes, dropout)
        m = len(dims)
        self.out_dim = hidden
        self.register_buffer("fixed_weights", torch.full((m,), 1.0 / m))
        if weighting == "attention":
            self.score = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        if weighting == "gated":
            self.gate = nn.Linear(m * hidden, m * hidden)

    def forward(self, features, modality_mask, weights=None) -> FusionOutput:
        """weights: [B, T, M] to fuse with instead of the weighting's own (renormalised over
        the present modalities), or None."""
        enc, logits = self.encoders(features, modality_mask)  # [B,T,M,H], [B,T,M,C]
        mask = modality_mask
        if weights is not None:
            weights = masked_normalise(weights, mask)
        elif self.weighting == "gated":
            b, t, m, h = enc.shape
            gate_logits = self.gate(enc.flatten(2)).view(b, t, m, h)
            gate_logits = gate_logits.masked_fill(~mask.unsqueeze(-1), -1e9)
            gates = torch.softmax(gate_logits, dim=2) * mask.unsqueeze(-1).to(enc.dtype)
            return FusionOutput((gates * enc).sum(2), logits, gates.mean(-1))
        elif self.weighting == "attention":
            raw = self.score(enc).squeeze(-1).masked_fill(~mask, -1e9)
            weights = torch.softmax(raw, dim=-1) * mask.to(enc.dtype)
        elif self.weighting == "fixed" and self.training:
            alpha = torch.ones(mask.shape, dtype=enc.dtype, device=enc.device)
            weights = masked_normalise(torch.distributions.Dirichlet(alpha).sample(), mask)
        elif self.weighting == "fixed":
            weights = masked_normalise(self.fixed_weights.expand(mask.shape), mask)
        else:
            weights = masked_normalise(enc.new_ones(mask.shape), mask)
        return FusionOutput((weights.unsqueeze(-1) * enc).sum(2), logits, weights)

    def after_fit(self, model: nn.Module, fit: FitContext) -> dict[str, Any]:
        """The "fixed" weighting: its weights set to the simplex grid point best on dev."""
        if self.weighting != "fixed":
            return {}
        dev = fit.splits["dev"].in_order()
        metric = fit.config["train"]["select_metric"]
        names = fit.dataset.label_names
        return {"fixed_weights": tune_fixed_weights(model, self.fixed_weights, dev, names, metric)}


FUSIONS: Registry = Registry("fusion", default="concat", supplied=("dims", "num_classes"))
FUSIONS.register("concat", ConcatFusion)
for _weighting in WeightedFusion.WEIGHTINGS:
    FUSIONS.register(_weighting, factory(WeightedFusion, weighting=_weighting))
FUSIONS.register_lazy("agent", "affectrl.agents.fusion.model", "AgentFusion")

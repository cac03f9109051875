"""Reliability-driven fusion: per-utterance modality weights decided from the agent's state.

`AgentFusion` is the weighted fusion of `WeightedFusion` (per-modality encodings e_m, unimodal
heads) whose weights come from a *decider* reading a reliability state per utterance:

    per modality m: max probability, margin (top-1 minus top-2) of its unimodal head, and the
        label-free quality channels of `affectrl.noise.quality` (missing flag, degradation,
        estimated SNR / 30, log Mahalanobis distance, context deviation, cross-modal residual,
        head entropy, head disagreement), or, with use_quality=False, only missing + entropy;
    across modalities: 1 where the heads of a pair agree on the arg-max class.

The decider's output re-weights the dev-tuned fixed weights per utterance (`from_decision`).
The decider is the RL policy (`DirichletPolicy`, trained by PPO with the backbone frozen) or,
for the ablation that tells RL from the state, a softmax gate trained by gradient on the same
state. Before a decider is trained (the supervised warm-up) the fusion behaves like the
"fixed" weighting: flat-Dirichlet random weights in training, so the classifier is sound under
any weighting, and `fixed_weights` at evaluation.
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import nn

from ..data.batch import IGNORE_INDEX, DialogueBatch
from ..rl.policy import DirichletPolicy
from .fusion import FUSIONS, FusionOutput, WeightedFusion, masked_normalise

STATE_CLIP = 10.0


class SoftmaxGate(nn.Module):
    """A deterministic decider trained by gradient: weights = softmax(MLP(state)) [N, M]."""

    def __init__(self, state_dim: int, num_actions: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(state_dim, hidden), nn.Tanh(), nn.Linear(hidden, num_actions)
        )

    def mean_action(self, state: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(state), -1)


class AgentFusion(WeightedFusion):
    """WeightedFusion whose weights come from a decider over the reliability state.

    Attributes:
        mode: "warmup" (fixed-weights behaviour), "policy" or "gate" (the decider sets weights).
        quality: a fitted `QualityEstimator`, required with use_quality in policy/gate modes.
        override: weights [B, T, M] to use instead of the decider's (RL rollouts, the oracle).
    """

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        hidden: int = 100,
        dropout: float = 0.0,
        use_quality: bool = True,
        decider_hidden: int = 64,
    ):
        super().__init__(dims, num_classes, hidden, dropout, weighting="fixed")
        self.decider_hidden = decider_hidden
        self.configure_state(use_quality)
        self.mode = "warmup"
        self.quality = None
        self.override: torch.Tensor | None = None

    def configure_state(self, use_quality: bool) -> None:
        """Switch the state's quality channels on or off; the deciders are rebuilt to fit."""
        from ..noise.quality import QUALITY_CHANNELS

        m = len(self.encoders.modalities)
        self.use_quality = use_quality
        per_modality = 2 + len(QUALITY_CHANNELS) if use_quality else 4
        self.state_dim = m * per_modality + m * (m - 1) // 2
        self.policy = DirichletPolicy(self.state_dim, m, self.decider_hidden)
        self.gate = SoftmaxGate(self.state_dim, m, self.decider_hidden)

    def from_decision(self, decision: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Decider output a [..., M] on the simplex -> weights proportional to a * fixed_weights
        over the present modalities (mask [..., M]).

        The decider re-weights the dev-tuned fixed weights per utterance (a residual policy):
        a uniform decision reproduces the fixed-weights baseline exactly, so the agent starts
        from the best fixed fusion and learns where to depart from it. Where the fixed weights
        give every present modality weight 0, the decision alone is used (never a zero vector).
        """
        weights = masked_normalise(decision * self.fixed_weights, mask)
        dead = (weights.sum(-1, keepdim=True) == 0) & mask.any(-1, keepdim=True)
        return torch.where(dead, masked_normalise(decision, mask), weights)

    def state(
        self, features: dict[str, torch.Tensor], mask: torch.Tensor, logits: torch.Tensor
    ) -> torch.Tensor:
        """The reliability state [B, T, S] from features, modality mask and unimodal logits."""
        probs = torch.softmax(logits, -1)  # [B, T, M, C]
        top2 = probs.topk(2, dim=-1).values
        parts = [top2[..., 0], top2[..., 0] - top2[..., 1]]  # each [B, T, M]
        if self.use_quality:
            if self.quality is None:
                raise RuntimeError("AgentFusion needs a fitted quality estimator (fit_quality)")
            batch = _feature_batch(features, mask, tuple(self.encoders.modalities))
            heads = {m: probs[:, :, i] for i, m in enumerate(self.encoders.modalities)}
            q = self.quality(batch, head_probs=heads)  # [B, T, M, K]
            q[..., 2] = q[..., 2] / 30.0  # estimated SNR in dB -> about [-1, 1]
            parts += list(q.unbind(-1))
        else:
            entropy = -(probs * probs.clamp_min(1e-8).log()).sum(-1)
            parts += [(~mask).float(), entropy / torch.log(torch.tensor(probs.shape[-1]))]
        agree = probs.argmax(-1)
        pairs = [
            (agree[..., i] == agree[..., j]).float()
            for i, j in combinations(range(probs.shape[2]), 2)
        ]
        per_mod = torch.stack(parts, -1).flatten(2)  # [B, T, M * K']
        state = torch.cat([per_mod, *(p.unsqueeze(-1) for p in pairs)], -1)
        return state.clamp(-STATE_CLIP, STATE_CLIP)

    def forward(self, features, modality_mask) -> FusionOutput:
        if self.mode == "warmup" and self.override is None:
            return super().forward(features, modality_mask)
        enc, logits = self.encoders(features, modality_mask)
        if self.override is not None:
            weights = self.override
        else:
            decider = self.policy if self.mode == "policy" else self.gate
            state = self.state(features, modality_mask, logits)
            weights = self.from_decision(decider.mean_action(state), modality_mask)
        weights = masked_normalise(weights, modality_mask)
        return FusionOutput((weights.unsqueeze(-1) * enc).sum(2), logits, weights)


def _feature_batch(features, mask: torch.Tensor, modalities: tuple[str, ...]) -> DialogueBatch:
    """A DialogueBatch view of the fusion's inputs for the quality estimator.

    Real utterances are those with any modality present (padding has none): an utterance with
    every modality missing counts as padding here, which only zeroes its (empty) quality state.
    """
    real = mask.any(-1)
    return DialogueBatch(
        features=features,
        utterance_mask=real,
        modality_mask=mask,
        speakers=torch.zeros(real.shape, dtype=torch.long),
        labels=torch.full(real.shape, IGNORE_INDEX, dtype=torch.long),
        modalities=modalities,
        dialogue_ids=[],
    )


FUSIONS["agent"] = AgentFusion

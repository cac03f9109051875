"""Reliability-driven fusion: per-utterance modality weights decided from the agent's state.

`AgentFusion` is the weighted fusion of `WeightedFusion` (per-modality encodings e_m, unimodal
heads) whose weights come from a *decider* reading a reliability state per utterance:

    per modality m: max probability and margin (top-1 minus top-2) of its unimodal head, then
        by `signals`:
        "fast" (default): missing flag, head entropy, degradation (the label-free noise fraction
            of `QualityEstimator.excess_power`): a few vectorised tensor ops;
        "full": the eight channels of `affectrl.agents.fusion.quality` (missing flag, degradation,
            estimated SNR / 30, log Mahalanobis distance, context deviation, cross-modal
            mismatch, head entropy, head disagreement); the mismatch MLP and the Mahalanobis
            products cost about as much as the MOSI model itself;
        "confidence": missing flag and head entropy only (the no-quality ablation);
    across modalities: 1 where the heads of a pair agree on the arg-max class.

The decider's output re-weights the dev-tuned fixed weights per utterance (`from_decision`), or,
with `prior="uniform"`, is the weighting itself (for a dev split too unreliable to tune on).
The decider is the RL policy (`DirichletPolicy`, trained by PPO with the backbone frozen) or,
for the ablation that tells RL from the state, a softmax gate trained by gradient on the same
state. Before a decider is trained (the supervised warm-up) the fusion behaves like the
"fixed" weighting: flat-Dirichlet random weights in training, so the classifier is sound under
any weighting, and `fixed_weights` at evaluation.
"""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ...data.batch import IGNORE_INDEX, DialogueBatch
from ...device import module_device
from ...models.fusion import FusionOutput, WeightedFusion, masked_normalise
from ...models.parts import FitContext
from .policy import DirichletPolicy
from .settings import AgentTrainConfig

STATE_CLIP = 10.0
SIGNALS = ("fast", "full", "confidence")
PRIORS = ("fixed", "uniform")
MODES = ("warmup", "policy", "gate")
PRIOR_FLOOR = 1e-9


class SoftmaxGate(nn.Module):
    """A deterministic decider trained by gradient: weights = softmax(MLP(state)) [N, M]."""

    def __init__(self, state_dim: int, num_actions: int, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(state_dim, hidden), nn.Tanh(), nn.Linear(hidden, num_actions)
        )

    def mean_action(self, state: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(state), -1)

    preference = mean_action  # what AgentFusion.decide reads (it renormalises)


class AgentFusion(WeightedFusion):
    """WeightedFusion whose weights come from a decider over the reliability state.

    Where the weights come from, in order:
        1. `weights` given to forward (an RL rollout's sampled decisions, the oracle, equal
           weights): used as they are, renormalised over the present modalities;
        2. the mode (`set_mode`): "warmup" (the default; the fixed-weights behaviour), "policy"
           (the RL policy decides) or "gate" (the gradient-trained gate decides).
    The deciders read the reliability state, which needs a fitted `QualityEstimator`
    (`use_quality`) unless signals="confidence".

    `drop` gives the RL policy a Bernoulli keep/drop decision per modality besides its Dirichlet
    weights (`DirichletPolicy`): the Dirichlet mean alone cannot go below
    1 / sum(alpha) on a modality that is pure noise. `prior` is what the decision re-weights
    (`from_decision`): "fixed" (default) the dev-tuned fixed weights, "uniform" nothing.

    Hooks (affectrl.models.parts): after the warm-up, `after_fit` tunes the fixed weights on
    dev and, with `agent.train: true`, runs the RL stage (affectrl.agents.fusion.stage);
    `restore` makes a finished run's agent decide again with its saved quality estimator.

    Args:
        hidden: size H of each modality's encoding (and of the fused vector).
        dropout: dropout after each modality encoder.
        signals: the state's reliability signals: `fast` (missing flag, head entropy,
            label-free degradation), `full` (the eight quality channels), `confidence`
            (missing flag and head entropy only).
        decider_hidden: hidden size of the policy and gate MLPs.
        drop: give the policy a keep/drop decision per modality besides its weights.
        prior: what the decision re-weights: `fixed` (the dev-tuned fixed weights) or
            `uniform` (nothing: the decision is the weighting).
    """

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        hidden: int = 100,
        dropout: float = 0.0,
        signals: Literal["fast", "full", "confidence"] = "fast",
        decider_hidden: int = 64,
        drop: bool = False,
        prior: Literal["fixed", "uniform"] = "fixed",
    ):
        if len(dims) < 2:
            raise ValueError(f"the fusion agent weighs two or more modalities; got {list(dims)}")
        if prior not in PRIORS:
            raise ValueError(f"unknown fusion agent prior {prior!r}; known: {PRIORS}")
        super().__init__(dims, num_classes, hidden, dropout, weighting="fixed")
        self.decider_hidden, self.drop, self.prior = decider_hidden, drop, prior
        m = len(dims)
        pairs = list(combinations(range(m), 2))
        # index pairs of modalities for the agreement channels (derived, not saved)
        pair_a, pair_b = (torch.tensor(i, dtype=torch.long) for i in zip(*pairs, strict=True))
        self.register_buffer("pair_a", pair_a, persistent=False)
        self.register_buffer("pair_b", pair_b, persistent=False)
        self.configure_state(signals)
        self.mode = "warmup"
        self.quality = None

    def set_mode(self, mode: str) -> None:
        """Who decides the weights when forward is given none: "warmup", "policy" or "gate"."""
        if mode not in MODES:
            raise ValueError(f"unknown fusion agent mode {mode!r}; known: {MODES}")
        self.mode = mode

    def after_fit(self, model: nn.Module, fit: FitContext) -> dict[str, Any]:
        """The dev-tuned fixed weights (the warm-up's "fixed" fusion), then, with
        `agent.train: true`, the RL stage; the agent decides from then on."""
        out = super().after_fit(model, fit)
        settings = AgentTrainConfig.parse(fit.config.get("agent"), "agent")
        if settings.train:
            from .stage import run_agent_stage

            settings = replace(settings, seed=int(fit.config["seed"]))
            out["agent"] = run_agent_stage(
                model,
                fit.dataset,
                fit.splits["train"],
                settings,
                fit.run_dir,
                fit.writer,
                fit.progress,
                fit.config,
                fit.train_run,
            )
        return out

    def before_fit(self, model: nn.Module, fit: FitContext) -> None:
        """The RL stage's grid and curriculum fit the run's modalities (before any training)."""
        from .stage import check_agent_modalities

        settings = AgentTrainConfig.parse(fit.config.get("agent"), "agent")
        check_agent_modalities(settings, fit.splits["train"].modalities)

    def restore(self, run_dir: Path) -> None:
        from .stage import restore_agent

        restore_agent(self, run_dir)

    def use_quality(self, quality) -> None:
        """The fitted `QualityEstimator` whose signals the state reads (moved to this fusion's
        device)."""
        self.quality = quality.to(module_device(self)) if quality is not None else None

    def configure_state(self, signals: str, drop: bool | None = None) -> None:
        """Choose the state's reliability signals (see the module docstring) and whether the
        policy has a drop head (None: as before); the deciders are rebuilt to fit."""
        from .quality import QUALITY_CHANNELS

        if signals not in SIGNALS:
            raise ValueError(f"unknown fusion agent signals {signals!r}; known: {SIGNALS}")
        m = len(self.encoders.modalities)
        self.signals = signals
        per_modality = {"full": 2 + len(QUALITY_CHANNELS), "fast": 5, "confidence": 4}[signals]
        self.state_dim = m * per_modality + m * (m - 1) // 2
        self.drop = self.drop if drop is None else drop
        self.policy = DirichletPolicy(self.state_dim, m, self.decider_hidden, drop=self.drop)
        self.gate = SoftmaxGate(self.state_dim, m, self.decider_hidden)

    def from_decision(self, decision: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Decider output a [..., M] on the simplex (or any positive multiple) -> weights
        proportional to a * fixed_weights over the present modalities (mask [..., M]); with
        prior "uniform", proportional to a.

        By default the decider re-weights the dev-tuned fixed weights per utterance (a residual
        policy): a uniform decision reproduces the fixed-weights baseline, so the agent starts
        from the best fixed fusion and learns where to depart from it. Fixed weights are floored
        at PRIOR_FLOOR, so where every present modality has fixed weight 0 the decision alone
        decides (never a zero vector); elsewhere the floor moves weights by < 1e-8. Where dev
        tuning is unreliable (a leaky dev split), the residual policy inherits its errors: the
        "uniform" prior leaves the weighting to the decider alone.
        """
        if self.prior == "uniform":
            return masked_normalise(decision, mask)
        return masked_normalise(decision * self.fixed_weights.clamp_min(PRIOR_FLOOR), mask)

    def state(
        self,
        features: dict[str, torch.Tensor] | torch.Tensor,
        mask: torch.Tensor,
        logits: torch.Tensor,
    ) -> torch.Tensor:
        """The reliability state [..., S] from features (modality -> [..., D_m], or for "fast"
        and "confidence" also `QualityEstimator.pack`ed [..., sum D_m]), bool modality mask
        [..., M] and unimodal logits [..., M, C]; leading dimensions [B, T] or [N] ("full":
        [B, T] and a dict only).

        Signal-major layout, M values per signal in modality order: max probability, margin,
        then the `signals` channels (see `state_channels`), then the M(M-1)/2 agreement flags.
        """
        log_probs, probs = _log_softmax_and_softmax(logits)  # [..., M, C] each
        top2 = probs.topk(2, dim=-1)
        top1 = top2.values[..., 0]
        parts = [top1, top1 - top2.values[..., 1]]  # each [..., M]
        if self.signals != "confidence" and self.quality is None:
            raise RuntimeError("AgentFusion needs a fitted quality estimator (fit_quality)")
        if self.signals == "full":
            batch = _feature_batch(features, mask, tuple(self.encoders.modalities))
            heads = {m: probs[:, :, i] for i, m in enumerate(self.encoders.modalities)}
            q = self.quality(batch, head_probs=heads)  # [B, T, M, K]
            q[..., 2] = q[..., 2] / 30.0  # estimated SNR in dB -> about [-1, 1]
            parts += list(q.unbind(-1))
        else:  # bool parts (missing flags, agreement) are promoted to float by the cat
            entropy = (probs * log_probs).sum(-1) * (-1 / math.log(probs.shape[-1]))
            parts += [~mask, entropy]
            if self.signals == "fast":
                if isinstance(features, dict):
                    features = self.quality.pack(features)
                # degradation n / (1 + n) with n = max(p - 1, 0) is 1 - 1 / max(p, 1); 1 if missing
                power = self.quality.feature_power(features)
                parts.append(1 - mask / power.clamp_min_(1))
        agree = top2.indices[..., 0]  # arg-max class [..., M]
        parts.append(agree.index_select(-1, self.pair_a) == agree.index_select(-1, self.pair_b))
        state = torch.cat(parts, -1)
        # only the full channels are unbounded (log ratios); the others lie in [0, 1]
        return state.clamp(-STATE_CLIP, STATE_CLIP) if self.signals == "full" else state

    def state_channels(self) -> list[str]:
        """Names of the state's S channels, e.g. "audio.degradation" or "text=visual"."""
        from .quality import QUALITY_CHANNELS

        signals = {
            "full": list(QUALITY_CHANNELS),
            "fast": ["missing", "entropy", "degradation"],
            "confidence": ["missing", "entropy"],
        }[self.signals]
        modalities = self.encoders.modalities
        names = [f"{m}.{s}" for s in ["max_prob", "margin", *signals] for m in modalities]
        return names + [f"{a}={b}" for a, b in combinations(modalities, 2)]

    def decide(self, features, mask: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """The decider's weights [B, T, M] (0 at padding).

        Except for the "full" signals (whose context channels need the dialogue layout) the
        state is computed for the real utterances only: padding is most of a batch of videos.
        """
        decider = self.policy if self.mode == "policy" else self.gate
        if self.signals == "full":
            state = self.state(features, mask, logits)
            return self.from_decision(decider.preference(state), mask)
        m = mask.shape[-1]
        real = mask.reshape(-1, m).any(-1).nonzero().squeeze(1)  # [N] flat indices

        def rows(x: torch.Tensor) -> torch.Tensor:  # [B, T, ...] -> [N, ...]
            return x.flatten(0, 1).index_select(0, real)

        mask_rows = rows(mask)
        packed = rows(self.quality.pack(features)) if self.signals == "fast" else features
        state = self.state(packed, mask_rows, rows(logits))
        decided = self.from_decision(decider.preference(state), mask_rows)
        weights = logits.new_zeros(mask.shape)
        return weights.view(-1, m).index_copy_(0, real, decided).view(mask.shape)

    def forward(self, features, modality_mask, weights=None) -> FusionOutput:
        """weights: [B, T, M] decided outside (see the class docstring), or None."""
        if weights is not None or self.mode == "warmup":
            return super().forward(features, modality_mask, weights)
        enc, logits = self.encoders(features, modality_mask)
        # from_decision returns weights normalised over the present modalities
        weights = self.decide(features, modality_mask, logits)
        return FusionOutput((weights.unsqueeze(-1) * enc).sum(2), logits, weights)


def _log_softmax_and_softmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p and p over the last dimension. Written out because torch's (log_)softmax over a
    last dimension of 2-7 classes costs 4-5x these elementwise ops on CPU, and the agent's
    overhead budget is ~10% of a small model's forward."""
    shifted = logits - logits.amax(-1, keepdim=True)
    exp = shifted.exp()
    total = exp.sum(-1, keepdim=True)
    return shifted - total.log(), exp / total


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
        speakers=torch.zeros(real.shape, dtype=torch.long, device=real.device),
        labels=torch.full(real.shape, IGNORE_INDEX, dtype=torch.long, device=real.device),
        modalities=modalities,
        dialogue_ids=[],
    )


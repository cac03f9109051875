"""What the fusion agent is measured against, on the same backbone, and what it costs.

Decision rules that are not learned (equal weights; the oracle that knows the corruption), a
grid predictor for any of them, the ablations of the agent's training, and the inference
overhead of letting the agent decide. `benchmarks/fusion_agent.py` runs them all; each works
on any model with a weighted fusion.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import torch

from ...data.batch import DialogueBatch
from ...models.erc import ERCModel
from .trainer import AgentTrainConfig, RewardConfig

WeightsOf = Callable[[DialogueBatch], torch.Tensor]


def equal_weights(batch: DialogueBatch) -> torch.Tensor:
    """The same weight for every modality: [B, T, M] (renormalised over the present ones)."""
    return torch.ones(batch.modality_mask.shape, device=batch.modality_mask.device)


def oracle_weights(batch: DialogueBatch, base: torch.Tensor) -> torch.Tensor:
    """Weights [B, T, M] from the known corruption: base weights scaled by 1 - severity
    (0 for missing or substituted modalities); the base weights where nothing survives."""
    mask = batch.modality_mask
    severity = batch.corruption.get("severity", torch.zeros(mask.shape, device=mask.device))
    weights = base * (1 - severity).clamp_min(0) * batch.modality_mask
    dead = weights.sum(-1, keepdim=True) <= 0
    return torch.where(dead, base.expand_as(weights), weights)


def padded_logits(
    model: ERCModel, batch: DialogueBatch, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Model logits scattered back to [B, T, C] (zeros at padding), for the grid runner;
    weights [B, T, M]: the modality weights to fuse with (None: the fusion's own)."""
    out = model(batch, weights=weights)
    logits = out.logits.new_zeros(*batch.utterance_mask.shape, out.logits.shape[-1])
    logits[batch.utterance_mask] = out.logits
    return logits


def weighted_predictor(
    model: ERCModel, weights_of: WeightsOf
) -> Callable[[DialogueBatch], torch.Tensor]:
    """A grid predictor whose fusion weights are `weights_of(batch)` ([B, T, M]) of the
    (corrupted) batch: e.g. `equal_weights`, or `lambda b: oracle_weights(b, base)`."""
    return lambda batch: padded_logits(model, batch, weights_of(batch))


def ablations(config: AgentTrainConfig) -> dict[str, AgentTrainConfig]:
    """The agent's training ablations, each `config` with one thing changed: no curriculum ramp
    (flat severity), clean training (no curriculum), the classification reward alone, strong
    consistency and stability regularisers."""
    return {
        "rl_no_curriculum_ramp": replace(config, curriculum="curriculum-flat"),
        "rl_clean_training": replace(config, curriculum=None),
        "rl_alpha_only": replace(config, reward=RewardConfig(1.0, 0.0, 0.0)),
        "rl_strong_regularisers": replace(config, reward=RewardConfig(1.0, 0.5, 0.5)),
    }


def overhead_ratio(model: ERCModel, batches, repeats: int = 60) -> float:
    """Batch inference time with the agent deciding / with fixed weights, same model, one run.

    The two modes alternate, one pass over `batches` each per repeat, and each keeps its
    fastest pass: on a shared machine the load drifts, and alternating exposes both modes to
    the same drift. Leaves the policy deciding."""
    fusion = model.fusion
    best = {"warmup": float("inf"), "policy": float("inf")}
    with torch.inference_mode():
        for k in range(repeats + 2):  # the first two passes warm caches
            for mode in best:
                fusion.set_mode(mode)
                start = time.perf_counter()
                for b in batches:
                    model(b)
                if k >= 2:
                    best[mode] = min(best[mode], time.perf_counter() - start)
    fusion.set_mode("policy")
    return best["policy"] / best["warmup"]

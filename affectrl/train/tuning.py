"""Dev-set tuning of the fixed-weights fusion: a grid over the simplex of modality weights."""

from __future__ import annotations

import itertools

import torch

from ..eval.metrics import classification_metrics
from ..models.fusion import WeightedFusion


def simplex_grid(num_modalities: int, steps: int = 10) -> list[tuple[float, ...]]:
    """Every weight vector with entries k / steps summing to 1 (66 points for 3 modalities)."""
    return [
        tuple(k / steps for k in ks)
        for ks in itertools.product(range(steps + 1), repeat=num_modalities)
        if sum(ks) == steps
    ]


def tune_fixed_weights(model, dev_batches, label_names, metric: str) -> list[float] | None:
    """For a model with a "fixed" WeightedFusion, set its weights to the best grid point on dev.

    Returns the chosen weights, or None when the model has no fixed-weights fusion.
    """
    from .trainer import predict

    fusion = getattr(model, "fusion", None)
    if not isinstance(fusion, WeightedFusion) or fusion.weighting != "fixed":
        return None
    best, best_score = None, None
    for weights in simplex_grid(len(fusion.fixed_weights)):
        fusion.fixed_weights.copy_(torch.tensor(weights))
        gold, pred, _ = predict(model, dev_batches)
        score = classification_metrics(gold, pred, label_names)[metric]
        if best_score is None or score > best_score:
            best, best_score = weights, score
    fusion.fixed_weights.copy_(torch.tensor(best))
    return list(best)

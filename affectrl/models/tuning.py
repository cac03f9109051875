"""Dev-set tuning of the fixed-weights fusion: a grid over the simplex of modality weights."""

from __future__ import annotations

import itertools

import torch

from ..eval.metrics import classification_metrics
from ..eval.predict import predict


def simplex_grid(num_modalities: int, steps: int = 10) -> list[tuple[float, ...]]:
    """Every weight vector with entries k / steps summing to 1 (66 points for 3 modalities)."""
    return [
        tuple(k / steps for k in ks)
        for ks in itertools.product(range(steps + 1), repeat=num_modalities)
        if sum(ks) == steps
    ]


def tune_fixed_weights(
    model, fixed_weights: torch.Tensor, dev_batches, label_names, metric: str
) -> list[float]:
    """Set `fixed_weights` [M] (the fixed-weights fusion's buffer, in `model`) to the grid point
    best on dev by `metric`; returns it."""
    best, best_score = None, None
    for weights in simplex_grid(len(fixed_weights)):
        fixed_weights.copy_(torch.tensor(weights))
        gold, pred, _ = predict(model, dev_batches)
        score = classification_metrics(gold, pred, label_names)[metric]
        if best_score is None or score > best_score:
            best, best_score = weights, score
    fixed_weights.copy_(torch.tensor(best))
    return list(best)

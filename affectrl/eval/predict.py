"""A model's predictions over batches, and their metrics."""

from __future__ import annotations

import numpy as np
import torch

from ..device import module_device
from .metrics import classification_metrics


def predict(model: torch.nn.Module, batches: list) -> tuple[np.ndarray, np.ndarray, float]:
    """-> gold [N], predicted [N] over labelled utterances, and the summed mean batch loss
    (batches are moved to the model's device).

    model(batch) returns an output with `.logits` [N, C] over the batch's real utterances and
    model.loss(out, batch) its loss (affectrl.models.ERCModel)."""
    model.eval()
    device = module_device(model)
    golds, preds, loss = [], [], 0.0
    with torch.inference_mode():
        for batch in batches:
            batch = batch.to(device)
            out = model(batch)
            loss += float(model.loss(out, batch))
            labels = batch.labels[batch.utterance_mask]
            keep = labels >= 0
            golds.append(labels[keep])
            preds.append(out.logits.argmax(-1)[keep])
    return torch.cat(golds).cpu().numpy(), torch.cat(preds).cpu().numpy(), loss


def evaluate(model, batches, label_names) -> tuple[dict, float]:
    """Classification metrics (affectrl.eval.metrics) of the model on the batches, and the loss."""
    gold, pred, loss = predict(model, batches)
    return classification_metrics(gold, pred, label_names), loss

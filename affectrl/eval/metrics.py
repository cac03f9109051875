"""Classification metrics from a confusion matrix: accuracy, weighted / macro F1, per-class report.

Computed with numpy from the confusion matrix (a few microseconds per call, cheap enough to run on
dev and test every epoch); the test suite checks them against scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(gold: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """int64 [C, C]: row = gold class, column = predicted class."""
    gold, pred = np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    if gold.shape != pred.shape:
        raise ValueError(f"gold {gold.shape} and pred {pred.shape} differ in shape")
    flat = gold * num_classes + pred
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def classification_metrics(
    gold: np.ndarray, pred: np.ndarray, label_names: Sequence[str]
) -> dict[str, object]:
    """Accuracy, weighted F1, macro F1 (over classes present in gold or pred, as scikit-learn),
    per-class precision / recall / F1 / support, and the confusion matrix (as lists)."""
    cm = confusion_matrix(gold, pred, len(label_names))
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1).astype(np.float64)
    predicted = cm.sum(0).astype(np.float64)
    precision, recall = _safe_div(tp, predicted), _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    total = support.sum()
    seen = (support + predicted) > 0
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "weighted_f1": float((f1 * support).sum() / total) if total else 0.0,
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "num_utterances": int(total),
        "per_class": {
            name: {
                "precision": float(precision[k]),
                "recall": float(recall[k]),
                "f1": float(f1[k]),
                "support": int(support[k]),
            }
            for k, name in enumerate(label_names)
        },
        "confusion_matrix": cm.tolist(),
        "labels": list(label_names),
    }


SUMMARY_KEYS = ("accuracy", "weighted_f1", "macro_f1")


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "n": int(len(arr))}

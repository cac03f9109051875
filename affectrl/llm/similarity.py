"""Closeness of emotions on Plutchik's wheel: partial credit for near misses.

Plutchik's eight primaries sit on a circle 45° apart (joy, trust, fear, surprise, sadness,
disgust, anger, anticipation; Plutchik 2001). A term is placed at the mean of the unit vectors of
its primaries (a dyad such as love = joy + trust lies between them, at radius cos 22.5° ≈ 0.92);
"neutral" is the centre. The similarity of two placements p, g is

    s(p, g) = 1 − ‖p − g‖ / 2   ∈ [0, 1]

so equal emotions score 1, neighbours 45° apart 0.62, 90° apart 0.29, opposites (joy/sadness)
0, and neutral against any primary 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .lexicon import EmotionLexicon, default_lexicon, split_labels

PLUTCHIK = "plutchik"


def plutchik_position(
    labels: str | Sequence[str], lexicon: EmotionLexicon | None = None
) -> np.ndarray | None:
    """float64 [2] placement of one answer (mean over its mappable labels); None if none maps."""
    lexicon = lexicon or default_lexicon()
    order = lexicon.plutchik_order
    points = []
    for label in split_labels(labels):
        cats = lexicon.wheel_categories(label, PLUTCHIK)
        if not cats:
            continue
        angles = [2 * np.pi * order.index(c) / len(order) for c in cats if c in order]
        # neutral (no primary) is the centre
        vecs = [(np.cos(a), np.sin(a)) for a in angles] or [(0.0, 0.0)]
        points.append(np.mean(vecs, axis=0))
    return np.mean(points, axis=0) if points else None


def emotion_similarity(
    predicted: str | Sequence[str], gold: str | Sequence[str], lexicon: EmotionLexicon | None = None
) -> float:
    """s = 1 − ‖p − g‖/2 on Plutchik's wheel (module docstring); 0 if either side is unmappable."""
    p = plutchik_position(predicted, lexicon)
    g = plutchik_position(gold, lexicon)
    if p is None or g is None:
        return 0.0
    return float(np.clip(1.0 - np.linalg.norm(p - g) / 2.0, 0.0, 1.0))


def similarity_matrix(
    label_names: Sequence[str], lexicon: EmotionLexicon | None = None
) -> np.ndarray:
    """float64 [C, C]: S[i, j] = similarity of class i and class j (1 on the diagonal).

    For a closed label set, e.g. a dataset's `label_names`; raises ValueError naming any class
    that is not on Plutchik's wheel.
    """
    lexicon = lexicon or default_lexicon()
    missing = [n for n in label_names if plutchik_position(n, lexicon) is None]
    if missing:
        raise ValueError(f"labels not on Plutchik's wheel (see affectrl/llm/resources): {missing}")
    return np.array([[emotion_similarity(a, b, lexicon) for b in label_names] for a in label_names])


def similarity_weighted_reward(
    predicted: np.ndarray, gold: np.ndarray, matrix: np.ndarray
) -> np.ndarray:
    """Partial-credit reward for class predictions, e.g. for the fusion agent.

    Args:
        predicted: int [N] predicted class indices.
        gold: int [N] gold class indices.
        matrix: float [C, C] from `similarity_matrix`.
    Returns:
        float [N]: matrix[predicted, gold] (1 when right, less the further the miss).
    """
    return matrix[np.asarray(predicted), np.asarray(gold)]

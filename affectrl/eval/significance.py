"""Paired significance between two methods: over seeds (t-test, Wilcoxon) and over utterances
(approximate randomisation of per-utterance correctness, paired by utterance)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def paired_seed_tests(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Scores of methods a and b on the same seeds -> mean difference, t-test and Wilcoxon p."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(
            f"need two equal-length lists of >= 2 paired scores, got {len(a)}/{len(b)}"
        )
    diff = a - b
    out = {"mean_diff": float(diff.mean()), "n": int(len(a))}
    out["ttest_p"] = float(stats.ttest_rel(a, b).pvalue) if diff.std() > 0 else 1.0
    out["wilcoxon_p"] = float(stats.wilcoxon(a, b).pvalue) if np.any(diff != 0) else 1.0
    return out


def paired_randomisation_test(
    correct_a: np.ndarray, correct_b: np.ndarray, rounds: int = 10000, seed: int = 0
) -> dict[str, float]:
    """Approximate randomisation: swap each utterance's pair of outcomes with probability 1/2.

    correct_a, correct_b: bool [N], whether each method got utterance i right. Returns the
    accuracy difference and the two-sided p-value (with the +1 correction).
    """
    a, b = np.asarray(correct_a, dtype=np.float64), np.asarray(correct_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes differ in shape: {a.shape} vs {b.shape}")
    diff = a - b
    observed = abs(diff.mean())
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(rounds, len(diff)))
    extreme = (np.abs((signs * diff).mean(1)) >= observed - 1e-12).sum()
    return {"acc_diff": float(diff.mean()), "p": float((extreme + 1) / (rounds + 1)), "n": len(a)}

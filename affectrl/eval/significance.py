"""Paired significance between two methods: over seeds (t-test, Wilcoxon) and over utterances
(approximate randomisation of per-utterance correctness, paired by utterance)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score


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


def bootstrap_wf1(gold, a, b, rounds: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap over utterances of weighted F1(a) - weighted F1(b): mean, 95% CI, and
    the share of resamples where a does not beat b (one-sided p)."""
    rng = np.random.default_rng(seed)
    n = len(gold)
    diffs = np.empty(rounds)
    for k in range(rounds):
        i = rng.integers(0, n, n)
        diffs[k] = f1_score(gold[i], a[i], average="weighted") - f1_score(
            gold[i], b[i], average="weighted"
        )
    return {
        "mean_diff": float(diffs.mean()),
        "ci95": [float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))],
        "p_not_better": float((diffs <= 0).mean()),
        "rounds": rounds,
    }


def fold_scores(metrics: dict, split: str, metric: str) -> dict[str, float]:
    """Scores to pair two methods on, from a run's metrics.json: per fold of a cross-validated
    run (`train.cv`; keys "fold-k"), else the run's own score (key "all")."""
    if "folds" in metrics:
        return {f"fold-{f['fold']}": float(f[split][metric]) for f in metrics["folds"]}
    return {"all": float(metrics[split][metric])} if split in metrics else {}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1) of one family of
    tests, in the input order; NaN entries (no test) stay NaN and do not count towards the
    family's size."""
    p = np.asarray(pvalues, dtype=np.float64)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (len(order) - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted.tolist()


def min_wilcoxon_p(pairs: int) -> float:
    """The smallest two-sided p-value the exact Wilcoxon signed-rank test can give on `pairs`
    paired scores (every difference of one sign): 2 / 2**pairs; 1 for fewer than 2 pairs. With
    5 pairs it is 0.0625, so p < 0.05 cannot be reached whatever the scores."""
    return 1.0 if pairs < 2 else min(1.0, 2.0 / 2.0**pairs)

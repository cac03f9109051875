"""Metrics agree with scikit-learn; significance tests behave at the extremes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from affectrl.eval import (
    bootstrap_wf1,
    classification_metrics,
    mean_std,
    paired_randomisation_test,
    paired_seed_tests,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 5, 300)
    pred = np.where(rng.random(300) < 0.6, gold, rng.integers(0, 4, 300))  # class 4 never predicted
    names = list("abcdef")  # class 5 never occurs at all
    m = classification_metrics(gold, pred, names)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(gold, pred))
    assert m["weighted_f1"] == pytest.approx(skm.f1_score(gold, pred, average="weighted"))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(gold, pred, average="macro"))
    assert m["confusion_matrix"] == skm.confusion_matrix(gold, pred, labels=range(6)).tolist()
    p, r, f, s = skm.precision_recall_fscore_support(gold, pred, labels=range(6), zero_division=0)
    for k, name in enumerate(names):
        assert m["per_class"][name]["precision"] == pytest.approx(p[k])
        assert m["per_class"][name]["recall"] == pytest.approx(r[k])
        assert m["per_class"][name]["f1"] == pytest.approx(f[k])
        assert m["per_class"][name]["support"] == s[k]


def test_mean_std_uses_sample_std():
    assert mean_std([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 3}
    assert mean_std([5.0])["std"] == 0.0


def test_significance_extremes():
    same = paired_randomisation_test(np.ones(50, bool), np.ones(50, bool), rounds=200)
    assert same["p"] == 1.0
    better = paired_randomisation_test(np.ones(200, bool), np.zeros(200, bool), rounds=200)
    assert better["p"] < 0.01 and better["acc_diff"] == 1.0
    seeds = paired_seed_tests([0.8, 0.82, 0.81, 0.83, 0.8], [0.6, 0.61, 0.62, 0.6, 0.63])
    assert seeds["ttest_p"] < 0.01 and seeds["mean_diff"] > 0.15


def test_bootstrap_of_the_weighted_f1_difference():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 300)
    noisy = np.where(rng.random(300) < 0.5, gold, rng.integers(0, 3, 300))
    same = bootstrap_wf1(gold, noisy, noisy, rounds=50)
    assert same["mean_diff"] == 0.0 and same["p_not_better"] == 1.0
    better = bootstrap_wf1(gold, gold, noisy, rounds=50)
    assert better["p_not_better"] == 0.0 and better["ci95"][0] > 0.2


def test_holm_adjusts_step_down_and_leaves_untested_pairs_out():
    from affectrl.eval.significance import holm

    nan = float("nan")
    adjusted = holm([0.01, 0.04, nan, 0.03, 0.005])  # a family of 4 tests
    assert adjusted[:2] == pytest.approx([0.03, 0.06]) and np.isnan(adjusted[2])
    assert adjusted[3:] == pytest.approx([0.06, 0.02])  # monotone: 0.04 is lifted to 0.06
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_five_seeds_cannot_reach_wilcoxon_significance():
    from scipy import stats

    from affectrl.eval.significance import min_wilcoxon_p

    for n in (2, 5, 6):
        always_better = stats.wilcoxon(np.arange(1.0, n + 1), np.zeros(n)).pvalue
        assert min_wilcoxon_p(n) == pytest.approx(always_better)
    assert min_wilcoxon_p(5) > 0.05 > min_wilcoxon_p(6)

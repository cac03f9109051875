"""Evaluation: metrics, mean ± std over seeds, paired significance."""

from .metrics import SUMMARY_KEYS, classification_metrics, confusion_matrix, mean_std
from .significance import bootstrap_wf1, paired_randomisation_test, paired_seed_tests

__all__ = [
    "SUMMARY_KEYS",
    "bootstrap_wf1",
    "classification_metrics",
    "confusion_matrix",
    "mean_std",
    "paired_randomisation_test",
    "paired_seed_tests",
]

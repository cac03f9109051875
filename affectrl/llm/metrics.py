"""Scores for emotion answers: closed-set accuracy / weighted F1, and the emotion-wheel metric.

Emotion-wheel metric (open vocabulary, after AffectGPT / OV-MER): on each wheel w, every label of
a sample is mapped to its categories on w (via base forms and synonyms, `affectrl.llm.lexicon`);
G and P are the sets of categories of the gold and predicted labels. Per sample

    precision = |G ∩ P| / |P|,    recall = |G ∩ P| / |G|

(both 0 when P is empty: a prediction with no mappable label is a miss, not skipped). Precision and
recall are averaged over samples, F_w = 2PR / (P + R), and the final score is the mean of F_w over
the wheels. A sample whose gold labels all fall off wheel w is left out of w (counted in
`skipped`); a wheel left with no sample is left out of the mean. Labels that map to no category
are dropped from P and G and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .lexicon import WHEELS, EmotionLexicon, default_lexicon, split_labels

Answer = str | Sequence[str] | None


def wheel_categories(labels: Answer, wheel: str, lexicon: EmotionLexicon) -> frozenset[str]:
    """Union of the categories of an answer's labels on one wheel (empty for None)."""
    if labels is None:
        return frozenset()
    cats: set[str] = set()
    for label in split_labels(labels):
        cats |= lexicon.wheel_categories(label, wheel)
    return frozenset(cats)


def sample_precision_recall(
    predicted: Answer, gold: Answer, wheel: str, lexicon: EmotionLexicon
) -> tuple[float, float] | None:
    """(precision, recall) of one sample on one wheel; None when the gold maps to nothing there."""
    g = wheel_categories(gold, wheel, lexicon)
    if not g:
        return None
    p = wheel_categories(predicted, wheel, lexicon)
    if not p:
        return 0.0, 0.0
    hits = len(g & p)
    return hits / len(p), hits / len(g)


def f_score(precision: float, recall: float) -> float:
    """2PR / (P + R), 0 when both are 0."""
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def sample_wheel_score(
    predicted: Answer,
    gold: Answer,
    lexicon: EmotionLexicon | None = None,
    wheels: Sequence[str] = WHEELS,
) -> float:
    """One sample's F (from its own P and R), averaged over the wheels its gold maps onto.

    0 when the gold maps onto no wheel.
    """
    lexicon = lexicon or default_lexicon()
    scores = [
        f_score(*pr)
        for w in wheels
        if (pr := sample_precision_recall(predicted, gold, w, lexicon)) is not None
    ]
    return sum(scores) / len(scores) if scores else 0.0


def wheel_metric(
    predictions: Sequence[Answer],
    golds: Sequence[Answer],
    lexicon: EmotionLexicon | None = None,
    wheels: Sequence[str] = WHEELS,
) -> dict:
    """The emotion-wheel metric over a corpus (module docstring).

    Args:
        predictions: per sample, the predicted labels (a string split on commas etc., a list, or
            None for a sample without a parsable answer).
        golds: per sample, the gold labels.
    Returns:
        {"score": mean F over the wheels that scored at least one sample (0 if none),
        "wheels": {wheel: {"precision", "recall", "f1",
        "samples", "skipped"}}, "unmappable": {"predicted": n, "gold": n, "top": [[label, n]]}}
        where unmappable counts labels in no wheel at all.
    """
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold answers")
    lexicon = lexicon or default_lexicon()
    per_wheel = {}
    for wheel in wheels:
        pairs = [
            sample_precision_recall(p, g, wheel, lexicon)
            for p, g in zip(predictions, golds, strict=True)
        ]
        kept = [pr for pr in pairs if pr is not None]
        precision = sum(p for p, _ in kept) / len(kept) if kept else 0.0
        recall = sum(r for _, r in kept) / len(kept) if kept else 0.0
        per_wheel[wheel] = {
            "precision": precision,
            "recall": recall,
            "f1": f_score(precision, recall),
            "samples": len(kept),
            "skipped": len(pairs) - len(kept),
        }
    dropped: Counter[str] = Counter()
    counts = {}
    for side, answers in (("predicted", predictions), ("gold", golds)):
        labels = [x for a in answers if a is not None for x in split_labels(a)]
        unmapped = [x for x in labels if lexicon.base_form(x) is None]
        counts[side] = len(unmapped)
        dropped.update(unmapped)
    scored = [v["f1"] for v in per_wheel.values() if v["samples"]]
    return {
        "score": sum(scored) / len(scored) if scored else 0.0,
        "wheels": per_wheel,
        "unmappable": {**counts, "top": [[k, n] for k, n in dropped.most_common(10)]},
    }


def closed_set_metrics(
    predictions: Sequence[Answer],
    golds: Sequence[str],
    label_names: Sequence[str],
    lexicon: EmotionLexicon | None = None,
) -> dict:
    """Accuracy, weighted F1 and the confusion matrix when the answer must be one of
    `label_names`.

    A prediction counts as class k when it is a single label whose key (base form, or normalised
    text; `EmotionLexicon.key`) equals that of label_names[k]; anything else (no answer, several
    labels, an unknown label) is invalid: wrong for accuracy and a miss for its gold class in F1.
    Gold answers must name a class (ValueError otherwise). `confusion[i][j]` counts gold class i
    answered as class j, the last column ("invalid") answers that name no single class.
    """
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions but {len(golds)} gold answers")
    lexicon = lexicon or default_lexicon()
    index = {lexicon.key(name): k for k, name in enumerate(label_names)}

    def to_class(answer: Answer) -> int:
        keys = {lexicon.key(x) for x in split_labels(answer)} if answer is not None else set()
        return index.get(keys.pop(), -1) if len(keys) == 1 else -1

    y_pred = [to_class(p) for p in predictions]
    y_true = [to_class(g) for g in golds]
    bad = [g for g, y in zip(golds, y_true, strict=True) if y < 0]
    if bad:
        raise ValueError(f"gold answers not in the label set {list(label_names)}: {bad[:5]}")
    from sklearn.metrics import confusion_matrix, f1_score  # here: `affectrl --help` stays fast

    n = len(y_true)
    present = sorted(set(y_true))
    return {
        "accuracy": sum(p == t for p, t in zip(y_pred, y_true, strict=True)) / n if n else 0.0,
        "weighted_f1": float(
            f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)
        )
        if n
        else 0.0,
        "samples": n,
        "invalid": sum(p < 0 for p in y_pred),
        "confusion": {
            "labels": [*label_names, "invalid"],
            "matrix": confusion_matrix(
                y_true, y_pred, labels=[*range(len(label_names)), -1]
            ).tolist()[: len(label_names)],
        },
    }

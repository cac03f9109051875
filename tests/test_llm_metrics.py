"""The emotion-wheel metric and closed-set metrics on worked examples computed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from affectrl.cli import main
from affectrl.data import DataError
from affectrl.llm.evaluation import evaluate_records, read_predictions
from affectrl.llm.lexicon import WHEELS, default_lexicon
from affectrl.llm.metrics import closed_set_metrics, sample_wheel_score, wheel_metric

# Three samples used below (gold, predicted):
#   s1: "anger"         vs "angry, sad"   (sad is a wrong extra label)
#   s2: "joy, surprise" vs "delighted"    (delight = joy + surprise on Plutchik's wheel)
#   s3: "fear"          vs "table"        (unmappable: dropped, counted, P = R = 0)
GOLDS = ["anger", "joy, surprise", "fear"]
PREDS = ["angry, sad", "delighted", "table"]


def test_wheel_metric_worked_example() -> None:
    result = wheel_metric(PREDS, GOLDS)
    w = result["wheels"]
    # Plutchik: s1 G={anger} P={anger,sadness} -> P=1/2 R=1; s2 G=P={joy,surprise} -> 1, 1;
    # s3 P={} -> 0, 0. Mean P = (1/2+1+0)/3 = 1/2, mean R = (1+1+0)/3 = 2/3,
    # F = 2 * 1/2 * 2/3 / (1/2 + 2/3) = 4/7.
    assert w["plutchik"]["precision"] == pytest.approx(1 / 2)
    assert w["plutchik"]["recall"] == pytest.approx(2 / 3)
    assert w["plutchik"]["f1"] == pytest.approx(4 / 7)
    # Parrott primary: s1 G={anger} P={anger,sadness} -> 1/2, 1; s2 G={joy,surprise}
    # P={joy} (delight is under cheerfulness) -> 1, 1/2; s3 -> 0, 0.
    # P = 1/2, R = (1 + 1/2 + 0)/3 = 1/2, F = 1/2. Parrott secondary: s1 G={rage}
    # P={rage,sadness}; s2 G={cheerfulness,surprise} P={cheerfulness}: the same numbers.
    # Geneva: s1 G={anger} P={anger,sadness}; s2 G={joy,surprise} P={joy}: the same again.
    for wheel in ("parrott_primary", "parrott_secondary", "geneva"):
        assert w[wheel]["precision"] == pytest.approx(1 / 2), wheel
        assert w[wheel]["recall"] == pytest.approx(1 / 2), wheel
        assert w[wheel]["f1"] == pytest.approx(1 / 2), wheel
        assert w[wheel]["samples"] == 3 and w[wheel]["skipped"] == 0
    # final = mean over the four wheels = (4/7 + 3 * 1/2) / 4 = 0.517857...
    assert result["score"] == pytest.approx((4 / 7 + 1.5) / 4)
    assert result["unmappable"] == {"predicted": 1, "gold": 0, "top": [["table", 1]]}


def test_wheel_metric_skips_gold_off_a_wheel_and_counts_unmappable_gold() -> None:
    # s1: gold "trust" is only on Plutchik's wheel -> skipped on the three others.
    # s2: gold "table" maps nowhere -> skipped on all four, counted as unmappable gold.
    # s3: gold "sadness" vs "sorrowful" (sorrow: sadness on every wheel) -> P = R = 1.
    result = wheel_metric(["trusting", "anger", "sorrowful"], ["trust", "table", "sadness"])
    w = result["wheels"]
    assert w["plutchik"]["samples"] == 2 and w["plutchik"]["skipped"] == 1
    assert w["plutchik"]["f1"] == pytest.approx(1.0)
    for wheel in ("parrott_primary", "parrott_secondary", "geneva"):
        assert w[wheel]["samples"] == 1 and w[wheel]["skipped"] == 2
        assert w[wheel]["f1"] == pytest.approx(1.0)
    assert result["unmappable"]["gold"] == 1
    # a wheel with no sample left is left out of the final mean: "trust" is scored on Plutchik
    # alone (F = 1), not averaged with three empty wheels
    only_plutchik = wheel_metric(["trust"], ["trust"])
    assert only_plutchik["wheels"]["geneva"]["samples"] == 0
    assert only_plutchik["score"] == pytest.approx(1.0)
    assert wheel_metric(["anger"], ["table"])["score"] == 0.0


def test_wheel_metric_multilabel_and_none() -> None:
    # Plutchik only: s1 gold {anger, sadness} vs pred "furious" -> G={anger,sadness} P={anger}:
    # P=1, R=1/2. s2 prediction None (no parsable answer) -> 0, 0.
    # Mean P = 1/2, R = 1/4, F = 2 * 1/2 * 1/4 / (3/4) = 1/3.
    result = wheel_metric(["furious", None], [["anger", "sadness"], "joy"], wheels=["plutchik"])
    assert result["wheels"]["plutchik"]["precision"] == pytest.approx(1 / 2)
    assert result["wheels"]["plutchik"]["recall"] == pytest.approx(1 / 4)
    assert result["score"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="2 predictions but 1"):
        wheel_metric(["a", "b"], ["a"])


def test_sample_wheel_score_matches_the_corpus_metric_on_one_sample() -> None:
    for pred, gold in zip(PREDS, GOLDS, strict=True):
        one = wheel_metric([pred], [gold])
        # on one sample F from averaged P, R equals the sample's own F
        assert sample_wheel_score(pred, gold) == pytest.approx(one["score"])


def test_every_wheel_category_is_reachable() -> None:
    lex = default_lexicon()
    for wheel in WHEELS:
        reached = set().union(*(cats.get(wheel, frozenset()) for cats in lex.terms.values()))
        assert reached == set(lex.categories[wheel]), wheel


def test_closed_set_metrics_by_hand() -> None:
    labels = ["neutral", "joy", "sadness", "anger"]
    preds = ["Angry", "happy", "table", None]
    golds = ["anger", "joy", "sadness", "anger"]
    result = closed_set_metrics(preds, golds, labels)
    # right: s1 (anger), s2 (happy = joy); invalid: "table" and None -> accuracy 2/4.
    # F1 per gold class: anger TP=1 FN=1 FP=0 -> 2/3 (support 2); joy 1 (support 1);
    # sadness 0 (support 1). Weighted: (2 * 2/3 + 1 + 0) / 4 = 7/12.
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["weighted_f1"] == pytest.approx(7 / 12)
    assert result["invalid"] == 2 and result["samples"] == 4
    # rows: gold neutral, joy, sadness, anger; columns the same + invalid
    assert result["confusion"]["labels"] == [*labels, "invalid"]
    assert result["confusion"]["matrix"] == [
        [0, 0, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 0, 0, 1],
        [0, 0, 0, 1, 1],
    ]
    with pytest.raises(ValueError, match="not in the label set"):
        closed_set_metrics(["joy"], ["surprise"], labels)


def _write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_eval_command_on_completions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    records = [
        {"answer": "anger", "completion": "<think>loud</think><answer>angry</answer>"},
        {"answer": "joy", "completion": [{"role": "assistant", "content": "<answer>sad</answer>"}]},
        {"answer": "sadness", "completion": "I think sadness"},
        {"answer": "neutral", "prediction": "no emotion"},
    ]
    path = _write_jsonl(tmp_path / "preds.jsonl", records)
    out = tmp_path / "metrics.json"
    code = main(
        ["llm", "eval", "--predictions", str(path), "--labels", "neutral,joy,sadness,anger"]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["closed_set"]["accuracy"] == pytest.approx(2 / 4)
    # completions: 1 of 3 well-formed; the third has no answer block
    assert printed["format_rate"] == pytest.approx(1 / 3)
    assert printed["answer_missing"] == 1
    main(["llm", "eval", "--predictions", str(path), "--output", str(out)])
    saved = json.loads(out.read_text())
    assert "closed_set" not in saved and 0 < saved["wheel"]["score"] < 1


def test_eval_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"answer": "joy", "prediction": "joy"}\nnot json\n')
    with pytest.raises(DataError, match=r"bad.jsonl \[record line 2\]: not JSON"):
        read_predictions(bad)
    _write_jsonl(bad, [{"prediction": "joy"}])
    with pytest.raises(DataError, match="'answer'"):
        read_predictions(bad)
    _write_jsonl(bad, [{"answer": "joy", "prediction": "joy", "completion": "x"}])
    with pytest.raises(DataError, match="exactly one"):
        read_predictions(bad)
    bad.write_text("\n")
    with pytest.raises(DataError, match="no records"):
        read_predictions(bad)
    assert main(["llm", "eval", "--predictions", str(tmp_path / "missing.jsonl")]) == 1


def test_evaluate_records_without_label_set() -> None:
    result = evaluate_records([{"answer": "anger", "prediction": ["furious", "annoyed"]}])
    # every wheel: G={anger-ish}, both predicted labels land in G's category except Parrott
    # secondary (fury -> rage, annoyance -> irritation; G = {rage}): P = 1/2, R = 1, F = 2/3
    assert result["wheel"]["wheels"]["parrott_secondary"]["f1"] == pytest.approx(2 / 3)
    assert result["wheel"]["wheels"]["plutchik"]["f1"] == pytest.approx(1.0)
    assert "closed_set" not in result and "format_rate" not in result


def test_eval_scores_a_megabyte_line_fast_and_refuses_a_longer_one(tmp_path: Path, capsys) -> None:
    import json
    import time

    big = "<think>" + "</think><answer>" * 62_500  # 1 MB, quadratic for the old parser
    path = tmp_path / "preds.jsonl"
    lines = [{"answer": "anger", "completion": "<think>x</think><answer>mad</answer>"}]
    lines.append({"answer": "joy", "completion": big})
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    start = time.perf_counter()
    assert main(["llm", "eval", "--predictions", str(path)]) == 0
    assert time.perf_counter() - start < 5.0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 2 and result["format_rate"] == 0.5
    assert main(["llm", "eval", "--predictions", str(path), "--max-line-chars", "100000"]) == 1
    assert "preds.jsonl [record line 2]: longer than 100000 characters" in capsys.readouterr().err

"""Prompt builder: dialogues → chat prompts with gold answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from affectrl.cli import main
from affectrl.data import DataError, Dialogue, DialogueDataset, load_dataset
from affectrl.llm.prompts import PromptSettings, balanced_subset, build_prompts, flatten_prompt
from affectrl.llm.rewards import accuracy_reward


def tiny_dataset(texts: bool = True) -> DialogueDataset:
    dialogue = Dialogue(
        id="d1",
        speakers=["Ann", "Bob", "Ann", "Bob"],
        labels=np.array([2, -1, 3, 5]),
        texts=["hello there", "hi", "I lost my keys again", "that is so annoying"]
        if texts
        else None,
    )
    return DialogueDataset(
        name="tiny",
        label_names=["hap", "sad", "neu", "ang", "exc", "fru"],
        splits={"train": [dialogue]},
        source=["tiny.pkl"],
    )


def test_rows_skip_unlabelled_and_spell_out_labels() -> None:
    rows = build_prompts(tiny_dataset(), "train", PromptSettings(window=1), as_dataset=False)
    assert [r["utterance_id"] for r in rows] == ["d1_0", "d1_2", "d1_3"]  # d1_1 is unlabelled
    assert [r["answer"] for r in rows] == ["neutral", "anger", "frustration"]
    system, user = rows[1]["prompt"]
    assert system["role"] == "system" and "<think>" in system["content"]
    assert user["role"] == "user"
    text = user["content"]
    # window=1: only the previous turn is shown, then the target and the class list
    assert "[Bob]: hi" in text and "hello there" not in text
    assert "Target utterance:\n[Ann]: I lost my keys again" in text
    assert "happiness, sadness, neutral, anger, excitement, frustration" in text
    assert "Which emotion does Ann express" in text
    # the first utterance has no context block
    assert "Conversation so far" not in rows[0]["prompt"][1]["content"]


def test_future_descriptions_and_open_vocabulary() -> None:
    settings = PromptSettings(window=0, future=1, open_vocabulary=True)
    cues = {"d1_2": {"audio": "sighs, low pitch", "visual": "looks down"}}
    rows = build_prompts(tiny_dataset(), "train", settings, descriptions=cues, as_dataset=False)
    text = rows[1]["prompt"][1]["content"]
    assert "Audio cues: sighs, low pitch" in text and "Visual cues: looks down" in text
    assert "What follows:\n[Bob]: that is so annoying" in text
    assert "one or more emotion words" in text and "frustration" not in text
    assert "Audio cues" not in rows[0]["prompt"][1]["content"]


def test_gold_answers_score_with_the_rewards() -> None:
    rows = build_prompts(tiny_dataset(), as_dataset=False)
    completions = [f"<think>x</think><answer>{r['answer']}</answer>" for r in rows]
    assert accuracy_reward(completions, answer=[r["answer"] for r in rows]) == [1.0] * 3


def test_every_and_offset_pick_a_spread_subset() -> None:
    def ids(**kwargs) -> list[str]:
        return [
            r["utterance_id"] for r in build_prompts(tiny_dataset(), as_dataset=False, **kwargs)
        ]

    assert ids(every=2) == ["d1_0", "d1_3"]  # labelled utterances 0 and 2 (d1_1 has no label)
    assert ids(every=2, offset=1) == ["d1_2"]
    assert ids(every=2, limit=1) == ["d1_0"]
    with pytest.raises(ValueError, match="0 <= offset < every"):
        build_prompts(tiny_dataset(), every=2, offset=2)


def test_balanced_subset_caps_every_class_reproducibly() -> None:
    rows = [{"answer": a, "utterance_id": f"u{i}"} for i, a in enumerate("nnnnnjjas")]
    picked = balanced_subset(rows, per_class=2, seed=3)
    answers = [r["answer"] for r in picked]
    assert sorted(answers) == ["a", "j", "j", "n", "n", "s"]  # at most 2 each, all classes kept
    ids = [r["utterance_id"] for r in picked]
    assert ids == sorted(ids, key=lambda u: int(u[1:]))  # original order
    assert picked == balanced_subset(rows, per_class=2, seed=3)  # same seed, same subset
    with pytest.raises(ValueError, match="at least 1"):
        balanced_subset(rows, per_class=0)


def test_datasets_form_limit_and_errors() -> None:
    Dataset = pytest.importorskip("datasets", reason="needs the llm extra").Dataset
    ds = build_prompts(tiny_dataset(), limit=2)

    assert isinstance(ds, Dataset) and len(ds) == 2
    assert ds[0]["prompt"][1]["role"] == "user" and ds[0]["answer"] == "neutral"
    with pytest.raises(DataError, match=r"tiny.pkl \[record d1\]: no transcripts"):
        build_prompts(tiny_dataset(texts=False))
    flat = flatten_prompt(ds[0]["prompt"])
    assert flat.startswith("System: ") and flat.endswith("Assistant:")


@pytest.mark.slow
def test_real_datasets_build_prompts(data_root: Path, tmp_path: Path) -> None:
    iemocap = load_dataset("iemocap6", data_root)
    rows = build_prompts(iemocap, "dev", as_dataset=False)
    assert len(rows) == 647  # every dev utterance of IEMOCAP is labelled
    assert {r["answer"] for r in rows} == {
        "happiness",
        "sadness",
        "neutral",
        "anger",
        "excitement",
        "frustration",
    }
    out = tmp_path / "mosi.jsonl"
    assert (
        main(["llm", "prompts", "--dataset", "mosi", "--split", "dev", "--output", str(out)]) == 0
    )
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 283 and {r["answer"] for r in lines} == {"negative", "non-negative"}
    assert "sentiment" in lines[0]["prompt"][1]["content"]

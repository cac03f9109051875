"""Hand-made cases for every verifiable reward (affectrl.llm.rewards) and the parsing rules."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from affectrl.llm.lexicon import default_lexicon, normalise_label, split_labels
from affectrl.llm.parsing import completion_text, extract_answer, parse_completion
from affectrl.llm.rewards import (
    REWARDS,
    accuracy_reward,
    format_reward,
    similarity_reward,
    wheel_reward,
)
from affectrl.llm.similarity import (
    emotion_similarity,
    similarity_matrix,
    similarity_weighted_reward,
)


def wrap(answer: str, think: str = "the voice is raised") -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


FORMAT_CASES = [
    ("<think>raised voice</think><answer>anger</answer>", 1.0),
    ("  \n<think>\nraised voice\n</think>\n\n<answer> anger </answer>\n", 1.0),  # outer/inner ws
    ("<think>a</think> <answer>anger</answer> and that is all", 0.0),  # text after
    ("Sure! <think>a</think><answer>anger</answer>", 0.0),  # text before
    ("<answer>anger</answer>", 0.0),  # no reasoning block
    ("<think>raised voice</think>", 0.0),  # no answer block
    ("<answer>anger</answer><think>a</think>", 0.0),  # wrong order
    ("<think>a</think>so<answer>anger</answer>", 0.0),  # non-whitespace between blocks
    ("<think>a <think>b</think> c</think><answer>anger</answer>", 0.0),  # nested think
    ("<think>a</think><answer><answer>anger</answer></answer>", 0.0),  # nested answer
    ("<think>a</think><answer>anger</answer><answer>joy</answer>", 0.0),  # two answers
    ("<think>a</think><answer>anger</think></answer>", 0.0),  # stray tag inside answer
    ("<think>a</think><answer>   </answer>", 0.0),  # empty answer
    ("<think> </think><answer>anger</answer>", 0.0),  # empty reasoning
    ("<Think>a</Think><answer>anger</answer>", 0.0),  # tags are lower case
    ("<think>a</think><answer>anger", 0.0),  # unclosed
    ("", 0.0),
]


@pytest.mark.parametrize(("text", "expected"), FORMAT_CASES)
def test_format_reward_cases(text: str, expected: float) -> None:
    assert format_reward([text]) == [expected]


def test_format_reward_accepts_chat_messages_and_is_batched() -> None:
    good = [{"role": "assistant", "content": wrap("anger")}]
    bad = [{"role": "assistant", "content": "anger"}]
    parts = [{"role": "assistant", "content": [{"type": "text", "text": wrap("joy")}]}]
    assert format_reward([good, bad, parts, wrap("joy")], prompts=["p"] * 4) == [1, 0, 1, 1]


def test_parse_and_extract() -> None:
    assert parse_completion(" <think> a b </think>\n<answer> joy </answer> ") == ("a b", "joy")
    # extract_answer ignores the reasoning block (format is rewarded separately) ...
    assert extract_answer("blah <answer> Angry </answer> blah") == "Angry"
    # ... but not ambiguity, nesting or emptiness
    assert extract_answer("<answer>a</answer><answer>b</answer>") is None
    assert extract_answer("<answer><think>a</think></answer>") is None
    assert extract_answer("<answer> </answer>") is None
    assert extract_answer("</answer>joy<answer>") is None
    assert completion_text({"role": "assistant", "content": "x"}) == "x"
    assert completion_text([]) == ""


def test_normalisation_and_synonyms() -> None:
    lex = default_lexicon()
    assert normalise_label("  Feeling   VERY angry!! ") == "angry"
    assert normalise_label("a bit_sad.") == "sad"
    assert normalise_label("Non-Negative") == "non-negative"
    for form in ("anger", "Angry", "ANGRILY", "mad", "ang", "pissed off", "angers"):
        assert lex.base_form(form) == "anger", form
    assert lex.base_form("happy") == lex.base_form("Happiness") == lex.base_form("hap") == "joy"
    assert lex.base_form("scared") == lex.base_form("afraid") == "fear"
    assert lex.base_form("no emotion") == "neutral"
    assert lex.base_form("table") is None
    assert lex.base_form("") is None
    assert split_labels("anger, frustration and sadness / fear;joy") == [
        "anger",
        "frustration",
        "sadness",
        "fear",
        "joy",
    ]
    assert split_labels(["anger", " ", "joy"]) == ["anger", "joy"]


ACCURACY_CASES = [
    (wrap("anger"), "anger", 1.0),
    (wrap(" Angry. "), "anger", 1.0),  # case, punctuation, word form
    (wrap("very mad"), "anger", 1.0),  # synonym, intensity word dropped
    (wrap("happy"), "happiness", 1.0),  # "happiness" and "happy" are forms of joy
    (wrap("joy"), "hap", 1.0),  # IEMOCAP abbreviation
    (wrap("sadness"), "anger", 0.0),  # wrong
    (wrap("anger, sadness"), "anger", 0.0),  # hedging with two labels
    (wrap("anger, frustration"), ["frustrated", "angry"], 1.0),  # multi-label gold, as a set
    (wrap("Non-Negative"), "non-negative", 1.0),  # outside the lexicon: normalised text
    (wrap("positive"), "non-negative", 0.0),
    (wrap("table"), "table", 1.0),  # unmappable on both sides: plain text equality
    (wrap("table"), "anger", 0.0),  # unmappable prediction
    ("<think>a</think><answer> </answer>", "anger", 0.0),  # empty answer
    ("<think>a</think><answer><answer>anger</answer></answer>", "anger", 0.0),  # nested
    ("anger", "anger", 0.0),  # no answer block
    ("<answer>anger</answer>", "anger", 1.0),  # format is not accuracy's business
]


@pytest.mark.parametrize(("text", "gold", "expected"), ACCURACY_CASES)
def test_accuracy_reward_cases(text: str, gold, expected: float) -> None:
    assert accuracy_reward([text], answer=[gold]) == [expected]


def test_accuracy_reward_batched_and_checks_lengths() -> None:
    chat = [{"role": "assistant", "content": wrap("fearful")}]
    assert accuracy_reward([chat, wrap("joy")], answer=["fear", "fear"], trainer_state=None) == [
        1.0,
        0.0,
    ]
    with pytest.raises(ValueError, match="2 completions but 1"):
        accuracy_reward([wrap("a"), wrap("b")], answer=["a"])


def test_wheel_reward_cases() -> None:
    # gold "love" vs predicted "joy, fear", per wheel (G, P -> precision, recall, F):
    #   plutchik: love = joy+trust, G={joy,trust}, P={joy,fear} -> 1/2, 1/2, F=1/2
    #   parrott primary: G={love}, P={joy,fear} -> F=0; parrott secondary: G={affection},
    #   P={cheerfulness,horror} -> F=0; geneva: G={love}, P={joy,fear} -> F=0
    #   reward = (1/2 + 0 + 0 + 0) / 4 = 0.125
    assert wheel_reward([wrap("joy, fear")], answer=["love"]) == [pytest.approx(0.125)]
    # synonyms reach the same categories on every wheel: F=1 everywhere
    assert wheel_reward([wrap("Loving")], answer=["love"]) == [1.0]
    # gold "trust" is on Plutchik's wheel only: the other three wheels are skipped, so the
    # reward is Plutchik's F alone (P=R=1)
    assert wheel_reward([wrap("acceptance")], answer=["trust"]) == [1.0]
    # unmappable prediction: P empty -> P=R=F=0 on every wheel
    assert wheel_reward([wrap("table")], answer=["anger"]) == [0.0]
    # a mappable label next to an unmappable one: "table" is dropped, "angry" scores fully
    assert wheel_reward([wrap("angry, table")], answer=["anger"]) == [1.0]
    # unmappable gold: no wheel to score on
    assert wheel_reward([wrap("anger")], answer=["table"]) == [0.0]
    # empty answer, no answer block, nested answer blocks
    nested = "<think>a</think><answer><answer>anger</answer></answer>"
    empty = "<think>a</think><answer></answer>"
    assert wheel_reward([empty, "anger", nested], answer=["anger"] * 3) == [0.0, 0.0, 0.0]


def test_similarity_reward_cases() -> None:
    gold = ["joy"]
    # primaries 45 degrees apart on the unit circle; s = 1 - |p - g| / 2
    assert similarity_reward([wrap("joyful")], answer=gold) == [1.0]
    # opposite (180 degrees): distance 2 -> 0
    assert similarity_reward([wrap("sadness")], answer=gold) == [pytest.approx(0.0)]
    # neighbour (45 degrees): chord 2 sin(22.5) -> 1 - sin(22.5 deg) = 0.6173
    assert similarity_reward([wrap("trust")], answer=gold) == [
        pytest.approx(1 - math.sin(math.radians(22.5)))
    ]
    # 90 degrees: chord sqrt(2) -> 1 - sqrt(2)/2 = 0.2929
    assert similarity_reward([wrap("fear")], answer=gold) == [pytest.approx(1 - math.sqrt(2) / 2)]
    # neutral is the centre: distance 1 -> 0.5
    assert similarity_reward([wrap("neutral")], answer=gold) == [pytest.approx(0.5)]
    # love = mean of joy (0 deg) and trust (45 deg) = (0.8536, 0.3536); distance to (1, 0) is
    # sqrt(0.1464^2 + 0.3536^2) = 0.3827 -> 0.8087
    assert similarity_reward([wrap("love")], answer=gold) == [pytest.approx(0.80866, abs=1e-4)]
    # unmappable, no answer block, empty answer, nested answer -> 0
    nested = "<think>a</think><answer>joy<answer>joy</answer></answer>"
    completions = [wrap("table"), "joy", "<answer></answer>", nested]
    assert similarity_reward(completions, answer=gold * 4) == [0.0, 0.0, 0.0, 0.0]
    # unmappable gold (e.g. a sentiment label) -> 0
    assert similarity_reward([wrap("joy")], answer=["non-negative"]) == [0.0]


def test_similarity_matrix_for_the_fusion_agent() -> None:
    m = similarity_matrix(["neutral", "joy", "sadness"])
    np.testing.assert_allclose(m, [[1, 0.5, 0.5], [0.5, 1, 0], [0.5, 0, 1]], atol=1e-12)
    assert np.allclose(m, m.T)
    r = similarity_weighted_reward(np.array([1, 2, 0]), np.array([1, 1, 2]), m)
    np.testing.assert_allclose(r, [1.0, 0.0, 0.5], atol=1e-12)
    with pytest.raises(ValueError, match="non-negative"):
        similarity_matrix(["negative", "non-negative"])
    assert emotion_similarity("anger", "table") == 0.0


def test_rewards_registry_and_trl_signature() -> None:
    completions = [wrap("anger"), "nonsense"]
    for name, fn in REWARDS.items():
        kwargs = {"answer": ["anger", "anger"]}
        out = fn(completions, prompts=["p", "p"], completion_ids=[[1], [2]], **kwargs)
        assert isinstance(out, list) and len(out) == 2, name
        assert out[0] == 1.0 and out[1] == 0.0, name


def test_core_llm_modules_do_not_import_the_llm_extra() -> None:
    code = (
        "import sys, affectrl.cli, affectrl.llm.rewards, affectrl.llm.metrics, "
        "affectrl.llm.prompts, affectrl.llm.evaluation, affectrl.llm.grpo\n"
        "heavy = [m for m in ('trl', 'transformers', 'datasets', 'peft') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


MEGABYTE = 1_000_000
# Completions of 1 MB that made the old parsing quadratic (nested lazy regex; modifiers dropped
# one at a time) or would cost a normalisation per label.
HOSTILE = {
    "repeated tags": "<think>" + "</think><answer>" * (MEGABYTE // 16),
    "leading modifiers": wrap("very " * (MEGABYTE // 5) + "angry"),
    "many labels": wrap("angry, " * (MEGABYTE // 7)),
    "distinct labels": wrap(", ".join(f"w{i}" for i in range(MEGABYTE // 8))),
    "whitespace": "<think>x</think>" + " " * MEGABYTE + "<answer>anger</answer>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_megabyte_completion_goes_through_all_four_rewards_in_under_a_second(name):
    import time

    completion = HOSTILE[name]
    assert len(completion) >= 0.99 * MEGABYTE
    start = time.perf_counter()
    scores = {key: fn([completion], answer=["anger"])[0] for key, fn in REWARDS.items()}
    assert time.perf_counter() - start < 1.0
    assert scores["format"] == (0.0 if name == "repeated tags" else 1.0)
    # an answer of thousands of "labels" is a miss, not a lottery ticket
    assert scores["accuracy"] == scores["wheel"] == (1.0 if name == "whitespace" else 0.0)


def test_normalise_label_is_linear_in_the_number_of_leading_modifiers():
    import time

    start = time.perf_counter()
    assert normalise_label("very " * 200_000 + "Angry!") == "angry"
    assert time.perf_counter() - start < 1.0

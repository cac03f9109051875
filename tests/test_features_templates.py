"""Text encoding templates: the utterance template keeps today's features and store key; the
speaker and context templates render the dialogue, respect the token budget, are cached apart,
and work for a bring-your-own dataset through training and prediction."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_byo
from test_features_store import CountingEncoder

from affectrl.data import Dialogue, DialogueDataset, load_dataset
from affectrl.features import FeatureStore, build_template, extract_modality
from affectrl.features.extract import key_settings, modality_inputs
from affectrl.features.templates import TemplateInput, Turn, template_inputs

TURNS = (
    Turn("u0", "A", "one two three"),
    Turn("u1", "B", "four five"),
    Turn("u2", "A", "six"),
    Turn("u3", "B", "seven eight nine ten"),
    Turn("u4", "A", "eleven"),
)


def words(text: str) -> int:
    """A token counter: one token per whitespace-separated word."""
    return len(text.split())


class TemplatedEncoder(CountingEncoder):
    """The fake encoder, reading templated utterances (rendered with one token per word)."""

    templated = True

    def encode(self, items, ids, transform=None):
        texts = [i.render(words, 64, 2).text if isinstance(i, TemplateInput) else i for i in items]
        return super().encode(texts, ids)


def _dataset() -> DialogueDataset:
    texts = [t.text for t in TURNS]
    d = Dialogue("d", [t.speaker for t in TURNS], np.zeros(5), texts=texts)
    d.utterance_ids = [t.id for t in TURNS]
    return DialogueDataset("toy", ["x"], {"train": [d]})


def test_utterance_template_keeps_todays_inputs_and_store_key(monkeypatch, tmp_path):
    import affectrl.features.extract as extract

    enc = CountingEncoder()
    # the key (and folder hash) every cache written before templates existed has
    today = {"encoder": "fake", "scale": 1.0, "modality": "text", "transform": None}
    for spec in (None, "utterance", {"name": "utterance"}):
        assert key_settings(enc, None, build_template(spec)) == today
        assert modality_inputs(_dataset(), "text", spec) == (
            ["u0", "u1", "u2", "u3", "u4"],
            [t.text for t in TURNS],
        )
    monkeypatch.setattr(extract, "get_encoder", lambda *a, **k: CountingEncoder())
    store = FeatureStore(tmp_path)
    plain = extract_modality(_dataset(), "text", "fake", store=store, progress=False)
    assert plain.folder.name == "fake-96e8db39"
    same = extract_modality(
        _dataset(), "text", "fake", store=store, progress=False, template="utterance"
    )
    assert same.cache_hit and same.folder == plain.folder


def test_speaker_and_context_render_the_dialogue():
    speaker = build_template("speaker")
    r = TemplateInput(speaker, TURNS[1:2], 0).render(words, 256, 2)
    assert r.text == "B: four five" and r.text[r.start : r.end] == "four five"

    context = build_template({"name": "context", "past": 2, "future": 1})
    columns = [[t.id for t in TURNS], [t.speaker for t in TURNS], [t.text for t in TURNS]]
    items = template_inputs(context, *columns)
    assert [len(i.turns) for i in items] == [2, 3, 4, 4, 3]
    r = items[2].render(words, 256, 2)
    assert r.text == "A: one two three B: four five >> A: six << B: seven eight nine ten"
    assert r.text[r.start : r.end] == "six"
    quiet = build_template({"name": "context", "past": 1, "speakers": False})
    r = template_inputs(quiet, ["a", "b"], ["A", "B"], ["hi", "yo"])[1].render(words, 256, 2)
    assert (r.text, r.text[r.start : r.end]) == ("hi >> yo <<", "yo")


def test_context_budget_drops_the_farthest_turns_first_never_the_target():
    def render(max_tokens, target=2):
        spec = {"name": "context", "past": 4, "future": 4, "max_tokens": max_tokens}
        item = TemplateInput(build_template(spec), TURNS, target)
        return item.render(words, 256, 2).text

    # target ">> A: six <<" = 4 words; B: four five = 3; B: seven.. = 5; A: one two three = 4
    assert render(6) == ">> A: six <<"  # 4 words + 2 special tokens
    assert render(9) == "B: four five >> A: six <<"  # the nearer past turn fits, the future not
    assert render(14) == "B: four five >> A: six << B: seven eight nine ten"
    full = render(256)
    assert full == " ".join(
        ["A: one two three B: four five >> A: six << B: seven eight nine ten A: eleven"]
    )
    assert words(render(20)) + 2 <= 20
    long = TemplateInput(build_template({"name": "context", "max_tokens": 8}), TURNS[3:4], 0)
    assert long.render(words, 256, 2).text == ">> B: seven eight nine ten <<"  # over, kept whole


def test_templates_are_cached_apart_and_settings_checked(monkeypatch, tmp_path):
    import affectrl.features.extract as extract

    monkeypatch.setattr(extract, "get_encoder", lambda *a, **k: TemplatedEncoder())
    store = FeatureStore(tmp_path)
    folders = set()
    for spec in (None, "speaker", {"name": "context"}, {"name": "context", "past": 1}):
        kw = dict(store=store, progress=False, template=spec)
        first = extract_modality(_dataset(), "text", "fake", **kw)
        assert not first.cache_hit and first.features.shape == (5, 3)
        assert extract_modality(_dataset(), "text", "fake", **kw).cache_hit
        folders.add(first.folder)
    assert len(folders) == 4
    monkeypatch.setattr(extract, "get_encoder", lambda *a, **k: CountingEncoder())
    with pytest.raises(ValueError, match="reads utterances only"):
        extract_modality(_dataset(), "text", "fake", store=store, template="speaker")
    with pytest.raises(ValueError, match="past must be an integer >= 0"):
        build_template({"name": "context", "past": -1})
    with pytest.raises(ValueError, match="unknown text template"):
        build_template("dialogue")


def test_real_minilm_context_vectors(tmp_path):
    """all-MiniLM-L6-v2: unit vectors within the token budget; the same words in another
    context get another vector with target pooling."""
    from affectrl.features.text import load_sentence_model, packaged_minilm_path

    texts = ["I lost my job today.", "Okay.", "We won the lottery!", "Okay."]
    d = Dialogue("d", ["A", "B", "A", "B"], np.zeros(4), texts=texts)
    ds = DialogueDataset("toy", ["x"], {"train": [d]})
    spec = {"name": "context", "past": 1, "max_tokens": 24}
    out = extract_modality(ds, "text", "minilm", store=FeatureStore(tmp_path), template=spec)
    v = out.features
    assert v.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[1] @ v[3] < 0.99  # "Okay." after bad news vs after good news
    tokenizer = load_sentence_model(str(packaged_minilm_path())).tokenizer
    ids, items = modality_inputs(ds, "text", spec)
    def count(text):
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    for item in items:
        assert len(tokenizer(item.render(count, 256, 2).text)["input_ids"]) <= 24
    plain = extract_modality(ds, "text", "minilm", store=FeatureStore(tmp_path), progress=False)
    np.testing.assert_allclose(plain.features[1], plain.features[3])  # no context: the same
    both = {**spec, "with_utterance": True, "pool": "all"}
    both = extract_modality(ds, "text", "minilm", store=FeatureStore(tmp_path), template=both)
    assert both.features.shape == (4, 768)  # [the utterance's own vector, the window's]
    np.testing.assert_allclose(both.features[:, :384], plain.features, atol=1e-5)
    assert both.folder != out.folder


def test_byo_run_with_context_template_trains_and_predicts(tmp_path):
    """A bring-your-own dataset trains with a context template, and prediction on new data
    reads the run's template (its probabilities equal the run's own)."""
    import pandas as pd

    from affectrl.train import Run, resolve_config
    from affectrl.train.inference import TrainedModel

    folder = write_byo(tmp_path / "byo", dialogues=6, turns=3)
    config = {
        "name": "ctx",
        "dataset": f"byo:{folder}",
        "features": {"text": "minilm"},
        "modalities": ["text"],
        "text_template": {"name": "context", "past": 2, "future": 1, "max_tokens": 32},
        "model": {"classifier": {"hidden": 8, "dropout": 0.0}},
        "train": {"epochs": 1, "batch_size": 4, "lr": 1.0e-2},
    }
    run_dir = tmp_path / "runs" / "seed-1"
    Run(resolve_config(config, 1), run_dir, progress=False).train()
    table = TrainedModel.load(run_dir).predict(load_dataset(f"byo:{folder}"), split="test")
    in_run = pd.read_csv(run_dir / "predictions.csv", keep_default_na=False)
    in_run = in_run[in_run["split"] == "test"]
    columns = ["p_neg", "p_pos"]
    np.testing.assert_allclose(table[columns].to_numpy(), in_run[columns].to_numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="pool"):
        resolve_config({**config, "text_template": {"name": "context", "pool": "max"}}, 1)
    with pytest.raises(ValueError, match="past must be an integer"):
        resolve_config({**config, "text_template": {"name": "context", "past": -2}}, 1)

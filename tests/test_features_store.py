"""Feature store: round trip, cache hit, resume after a crash, key changes, the transform hook."""

from __future__ import annotations

import json

import numpy as np
import pytest

from affectrl.data import DataError, Dialogue, DialogueDataset
from affectrl.features import (
    FeatureStore,
    attach_features,
    extract_items,
    get_encoder,
    settings_hash,
    with_spec,
)
from affectrl.features.encoders import Encoder


class CountingEncoder(Encoder):
    """A fake text encoder: [len(text), sum of code points, 1] per text; counts what it encodes."""

    modality = "text"
    slug = "fake"

    def __init__(self, scale: float = 1.0, fail_after: int | None = None):
        self.scale, self.fail_after, self.encoded = scale, fail_after, 0

    def settings(self):
        return {"encoder": "fake", "scale": self.scale}

    def encode(self, items, ids, transform=None):
        if self.fail_after is not None and self.encoded >= self.fail_after:
            raise KeyboardInterrupt("simulated crash")
        if transform is not None:
            from affectrl.features import RawItem

            items = [transform(t, RawItem(u, "text")) for t, u in zip(items, ids, strict=True)]
        self.encoded += len(items)
        return np.array([[len(t), sum(map(ord, t)), 1.0] for t in items], np.float32) * self.scale


IDS = [f"u{i}" for i in range(10)]
TEXTS = [f"sentence number {i}" + "!" * i for i in range(10)]


def _run(store, enc, **kw):
    return extract_items("toy", enc, IDS, TEXTS, store=store, chunk_size=3, progress=False, **kw)


def test_round_trip_and_cache_hit(tmp_path):
    store = FeatureStore(tmp_path)
    first = _run(store, enc := CountingEncoder())
    assert (first.computed, first.reused, enc.encoded) == (10, 0, 10)
    assert first.features.shape == (10, 3) and first.features.dtype == np.float32
    assert first.ids == IDS
    manifest = json.loads(first.manifest.read_text())
    assert manifest["complete"] and manifest["dim"] == 3 and manifest["count"] == 10
    assert manifest["settings"]["scale"] == 1.0 and len(manifest["chunks"]) == 4
    assert first.folder.name == f"fake-{settings_hash(manifest['settings'])}"
    assert first.folder.parent.name == "toy"

    again = _run(store, enc2 := CountingEncoder())
    assert again.cache_hit and enc2.encoded == 0 and again.reused == 10
    np.testing.assert_array_equal(again.features, first.features)
    assert again.as_dict()["u4"].tolist() == first.features[4].tolist()


def test_resume_after_crash_skips_finished_chunks(tmp_path):
    store = FeatureStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        _run(store, CountingEncoder(fail_after=6))  # chunks 0 and 1 (6 items) written, then dies
    manifest = json.loads(next((store.root / "toy").glob("fake-*/manifest-*.json")).read_text())
    assert manifest["complete"] is False
    resumed = _run(store, enc := CountingEncoder())
    assert (resumed.reused, resumed.computed, enc.encoded) == (6, 4, 4)
    clean = _run(FeatureStore(tmp_path / "clean"), CountingEncoder())
    np.testing.assert_array_equal(resumed.features, clean.features)


def test_changed_input_recomputes_only_its_chunk(tmp_path):
    store = FeatureStore(tmp_path)
    _run(store, CountingEncoder())
    texts = list(TEXTS)
    texts[4] = "edited"
    enc = CountingEncoder()
    out = extract_items("toy", enc, IDS, texts, store=store, chunk_size=3, progress=False)
    assert enc.encoded == 3 and out.computed == 3  # only chunk 1 (items 3..5)
    assert out.features[4, 0] == len("edited")
    texts[8] = "edited again"
    with pytest.raises(KeyboardInterrupt):  # crash while re-encoding a stale chunk
        extract_items("toy", CountingEncoder(fail_after=0), IDS, texts, store=store, chunk_size=3)
    assert json.loads(out.manifest.read_text())["complete"] is False


def test_settings_change_gives_a_different_key(tmp_path):
    store = FeatureStore(tmp_path)
    a = _run(store, CountingEncoder(scale=1.0))
    b = _run(store, enc := CountingEncoder(scale=2.0))
    assert a.folder != b.folder and enc.encoded == 10
    np.testing.assert_allclose(b.features, 2 * a.features)
    assert settings_hash({"x": 1, "y": [1, 2]}) == settings_hash({"y": [1, 2], "x": 1})
    assert settings_hash({"x": 1}) != settings_hash({"x": 2})


def test_transform_is_applied_and_cached_by_spec(tmp_path):
    store = FeatureStore(tmp_path)
    clean = _run(store, CountingEncoder())
    upper = with_spec(lambda text, item: text.upper(), {"name": "upper"})
    noisy = _run(store, enc := CountingEncoder(), transform=upper)
    assert enc.encoded == 10 and noisy.folder != clean.folder
    assert noisy.features[0, 1] == sum(map(ord, TEXTS[0].upper()))
    assert json.loads(noisy.manifest.read_text())["settings"]["transform"] == {"name": "upper"}
    assert _run(store, CountingEncoder(), transform=upper).cache_hit
    with pytest.raises(ValueError, match="no `spec`"):
        _run(store, CountingEncoder(), transform=lambda t, item: t)


def test_duplicate_ids_are_refused(tmp_path):
    with pytest.raises(ValueError, match="duplicate item id 'a'"):
        extract_items(
            "toy", CountingEncoder(), ["a", "a"], ["x", "y"], store=FeatureStore(tmp_path)
        )


def test_unknown_encoder_names_are_clear():
    with pytest.raises(ValueError, match=r"unknown encoder 'bert'.*minilm"):
        get_encoder("bert", "text")
    with pytest.raises(ValueError, match="encodes audio, not text"):
        get_encoder("egemaps", "text")
    with pytest.raises(ValueError, match="unknown encoder 'st:'"):
        get_encoder("st:")


def _toy_dataset() -> DialogueDataset:
    dialogues = [
        Dialogue("d0", ["A", "B"], np.array([0, 1]), texts=TEXTS[:2], utterance_ids=IDS[:2]),
        Dialogue("d1", ["A"], np.array([1]), texts=TEXTS[2:3], utterance_ids=IDS[2:3]),
    ]
    return DialogueDataset("toy", ["x", "y"], {"train": dialogues[:1], "test": dialogues[1:]})


def test_attach_features_sets_per_dialogue_matrices(monkeypatch):
    import affectrl.features.extract as extract

    monkeypatch.setattr(
        extract, "get_encoder", lambda name, modality, batch, device=None: CountingEncoder()
    )
    ds = attach_features(_toy_dataset(), {"text": "fake"}, progress=False)
    d0, d1 = ds.splits["train"][0], ds.splits["test"][0]
    assert d0.features["text"].shape == (2, 3) and d0.features["text"].dtype == np.float32
    assert d1.features["text"][0, 0] == len(TEXTS[2])
    assert ds.feature_dims() == {"text": 3}


def test_attach_shipped_requires_the_features():
    with pytest.raises(DataError, match="ships no audio features"):
        attach_features(_toy_dataset(), {"audio": "shipped"})
    with pytest.raises(DataError, match="no audio media"):
        attach_features(_toy_dataset(), {"audio": "egemaps"})


def test_meld_label_views_share_one_store_folder(monkeypatch, tmp_path):
    import affectrl.features.extract as extract

    monkeypatch.setattr(
        extract, "get_encoder", lambda name, modality, batch, device=None: CountingEncoder()
    )
    store = FeatureStore(tmp_path)
    views = []
    for name in ("meld7", "meld3"):
        ds = _toy_dataset()
        ds.name = name
        views.append(extract.extract_modality(ds, "text", "fake", store=store, progress=False))
    assert views[1].cache_hit and views[0].folder == views[1].folder
    assert views[0].folder.parent.name == "meld"


def _a_full_chunk(folder):
    """A chunk file holding 3 items (the largest)."""
    return max(folder.glob("chunk-*.safetensors"), key=lambda p: p.stat().st_size)


def test_a_chunk_overwritten_with_nan_bytes_is_re_encoded_not_a_cache_hit(tmp_path):
    from conftest import spoil

    store = FeatureStore(tmp_path)
    clean = _run(store, CountingEncoder())
    chunk = _a_full_chunk(clean.folder)
    spoil(chunk)  # 0xff bytes over the data: NaN
    with pytest.warns(UserWarning, match=rf"{chunk.name}.*re-encoding"):
        again = _run(store, enc := CountingEncoder())
    assert not again.cache_hit and enc.encoded == 3 and again.computed == 3
    np.testing.assert_array_equal(again.features, clean.features)
    assert _run(store, CountingEncoder()).cache_hit  # repaired for good


def test_a_truncated_chunk_is_named_and_re_encoded(tmp_path):
    store = FeatureStore(tmp_path)
    clean = _run(store, CountingEncoder())
    chunk = _a_full_chunk(clean.folder)
    chunk.write_bytes(chunk.read_bytes()[:40])
    with pytest.warns(UserWarning, match=rf"{chunk.name}"):
        again = _run(store, enc := CountingEncoder())
    assert enc.encoded == 3
    np.testing.assert_array_equal(again.features, clean.features)


def test_a_bad_chunk_size_is_refused_before_anything_is_written(tmp_path, capsys):
    from affectrl.cli import main

    store = FeatureStore(tmp_path / "store")
    for bad in (-5, 0):
        with pytest.raises(ValueError, match="chunk size must be an integer >= 1"):
            extract_items("toy", CountingEncoder(), IDS, TEXTS, store=store, chunk_size=bad)
    assert not store.root.exists()
    with pytest.raises(SystemExit):
        main(["extract", "mosi", "--chunk-size", "-5"])
    assert "--chunk-size: must be an integer >= 1" in capsys.readouterr().err
    # a manifest left with a poisoned chunk size by an older version is not trusted
    good = _run(store, CountingEncoder())
    manifest = json.loads(good.manifest.read_text())
    good.manifest.write_text(json.dumps({**manifest, "chunk_size": -5}))
    again = _run(store, CountingEncoder())
    assert again.features.shape == (10, 3) and again.cache_hit


def _byo_texts(folder, texts):
    folder.mkdir(parents=True)
    rows = ["dialogue_id,order,speaker,label,split,text"]
    rows += [f"d,{i},s,x,train,{t}" for i, t in enumerate(texts)]
    (folder / "utterances.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_two_byo_folders_with_one_name_keep_their_own_features(monkeypatch, tmp_path):
    import affectrl.features.extract as extract
    from affectrl.data import load_dataset

    monkeypatch.setattr(
        extract, "get_encoder", lambda name, modality, batch, device=None: CountingEncoder()
    )
    store = FeatureStore(tmp_path / "store")
    a = _byo_texts(tmp_path / "a" / "data", ["one", "two", "three"])
    b = _byo_texts(tmp_path / "b" / "data", ["uno", "dos", "tres", "cuatro"])

    def extract_from(folder):
        ds = load_dataset(f"byo:{folder}")
        assert ds.name == "data"
        return extract.extract_modality(ds, "text", "fake", store=store, progress=False)

    first_a = extract_from(a)
    extract_from(b)
    again_a = extract_from(a)
    assert again_a.cache_hit  # b neither overwrote nor deleted a's chunks
    np.testing.assert_array_equal(again_a.features, first_a.features)
    assert extract_from(b).cache_hit


def test_a_variant_iemocap_pickle_does_not_delete_the_real_chunks(monkeypatch, tmp_path):
    import pickle

    import affectrl.features.extract as extract
    from affectrl.data import load_dataset

    monkeypatch.setattr(
        extract, "get_encoder", lambda name, modality, batch, device=None: CountingEncoder()
    )
    store = FeatureStore(tmp_path / "store")
    roots = []
    for name, n in (("real", 3), ("variant", 2)):
        (tmp_path / name / "iemocap").mkdir(parents=True)
        ids = [f"Ses0{i}" for i in range(n)]
        sentences = {v: [f"{name} {v} {t}" for t in range(2)] for v in ids}
        items = [
            {v: ["M", "F"] for v in ids},
            {v: [0, 1] for v in ids},
            sentences,
            ids[:-1],
            ids[-1:],
            [],
        ]
        (tmp_path / name / "iemocap" / "iemocap_text.pkl").write_bytes(pickle.dumps(items))
        roots.append(tmp_path / name)

    def extract_from(root):
        ds = load_dataset("iemocap6", root)
        return extract.extract_modality(ds, "text", "fake", store=store, progress=False)

    real = extract_from(roots[0])
    extract_from(roots[1])
    again = extract_from(roots[0])
    assert again.cache_hit
    np.testing.assert_array_equal(again.features, real.features)


def test_chunks_written_before_checksums_are_taken_over_not_re_encoded(tmp_path):
    from safetensors.numpy import save_file

    from affectrl.features.extract import key_settings
    from affectrl.features.store import inputs_digest

    store = FeatureStore(tmp_path)
    folder = store.folder("toy", "fake", key_settings(CountingEncoder(), None))
    folder.mkdir(parents=True)
    clean = CountingEncoder().encode(TEXTS, IDS)
    for index, start in enumerate(range(0, 10, 3)):  # format 1: chunks by index, no checksum
        sl = slice(start, min(start + 3, 10))
        meta = {"ids": json.dumps(IDS[sl]), "inputs": inputs_digest(IDS[sl], TEXTS[sl])}
        save_file({"features": clean[sl]}, str(folder / f"chunk-{index:05d}.safetensors"), meta)
    (folder / "manifest.json").write_text("{}")
    out = _run(store, enc := CountingEncoder())
    assert out.cache_hit and enc.encoded == 0 and out.folder == folder
    np.testing.assert_array_equal(out.features, clean)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("chunk-")) == [
        out.manifest.name
    ]

"""RAVDESS readers (speech; audio-visual with action units), speaker folds, dev carving,
per-speaker standardisation, and WAV resampling: tiny files in the real formats, and the real
data."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from affectrl.cli import main
from affectrl.data import DataError, collate, load_dataset
from affectrl.data.folds import carve_dev, cv_split, fold_groups, holdout_split, split_groups
from affectrl.data.ravdess import AU_DIMS, load_ravdess_av
from affectrl.features import extract_audio, with_spec
from affectrl.train.data import standardizer

ACTORS = (1, 2, 3, 4)
EMOTIONS = (1, 3, 5)


def _stem(emotion: int, actor: int, repetition: int = 1) -> str:
    return f"01-{emotion:02d}-01-01-{repetition:02d}-{actor:02d}"


def _tone(path: Path, rate: int = 16000, seconds: float = 0.3, pitch: float = 200.0) -> None:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.3 * np.sin(2 * np.pi * pitch * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    soundfile.write(str(path), wave.astype(np.float32), rate, subtype="PCM_16")


@pytest.fixture()
def tiny_root(tmp_path: Path) -> Path:
    """ravdess/: 4 actors x 3 emotions of short WAVs, and au_mfcc.pkl (dict of float64[294])
    holding every clip but one, plus one clip that has no WAV."""
    base = tmp_path / "ravdess"
    rng = np.random.default_rng(0)
    units = {}
    for actor in ACTORS:
        (base / f"Actor_{actor:02d}").mkdir(parents=True)
        for emotion in EMOTIONS:
            stem = _stem(emotion, actor)
            _tone(base / f"Actor_{actor:02d}" / f"03-{stem}.wav", pitch=150 + 40 * emotion)
            units[f"01-{stem}"] = np.concatenate([rng.uniform(0, 5, 35), np.zeros(259)])
    del units[f"01-{_stem(5, 4)}"]  # WAV only
    units[f"01-{_stem(3, 4, repetition=2)}"] = np.zeros(294)  # action units only
    (base / "au_mfcc.pkl").write_bytes(pickle.dumps(units))
    return tmp_path


def test_ravdess_av_joins_wavs_and_action_units(tiny_root, monkeypatch, capsys):
    ds = load_ravdess_av(tiny_root)
    assert sum(len(d) for d in ds.dialogues()) == 11  # 12 WAVs, one without action units
    assert all(len(d) == 1 for d in ds.dialogues())  # independent clips: one-clip dialogues
    assert ds.modalities == ["visual"] and ds.feature_dims() == {"visual": AU_DIMS}
    raw = pickle.loads((tiny_root / "ravdess" / "au_mfcc.pkl").read_bytes())
    clip = next(d for d in ds.dialogues() if d.id == f"03-{_stem(3, 2)}")
    np.testing.assert_allclose(clip.features["visual"][0], raw[f"01-{_stem(3, 2)}"][:35], 1e-6)
    assert clip.speakers == ["Actor_02"] and ds.label_names[clip.labels[0]] == "happy"
    assert ds.coverage == {
        "WAV": 12,
        "au_mfcc.pkl": 12,
        "both (used)": 11,
        "WAV only": 1,
        "au_mfcc.pkl only": 1,
    }
    assert ds.one_source == {"WAV": [f"03-{_stem(5, 4)}"], "au_mfcc.pkl": [f"01-{_stem(3, 4, 2)}"]}
    assert {d.speakers[0] for d in ds.dialogues("test")} == {"Actor_04"}  # the last actor fold
    monkeypatch.setenv("AFFECTRL_DATA", str(tiny_root))
    assert main(["data", "check", "ravdess", "ravdess_av"]) == 0
    out = capsys.readouterr().out
    assert "WAV only 1, au_mfcc.pkl only 1" in out
    assert f"only in WAV (not used): 1: 03-{_stem(5, 4)}" in out
    assert f"only in au_mfcc.pkl (not used): 1: 01-{_stem(3, 4, 2)}" in out


def test_action_unit_pickle_is_read_safely_and_checked(tiny_root):
    path = tiny_root / "ravdess" / "au_mfcc.pkl"

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    path.write_bytes(pickle.dumps({f"01-{_stem(1, 1)}": Exploit()}))
    with pytest.raises(DataError, match=r"au_mfcc.pkl: unsafe or corrupt pickle .*builtins.print"):
        load_ravdess_av(tiny_root)
    path.write_bytes(pickle.dumps({f"01-{_stem(1, 1)}": np.zeros(10)}))
    with pytest.raises(DataError, match=r"au_mfcc.pkl \[record 01-01-01.*expected 294 values"):
        load_ravdess_av(tiny_root)
    path.write_bytes(pickle.dumps({"Actor_01/clip": np.zeros(294)}))
    with pytest.raises(DataError, match="not an audio-video clip name"):
        load_ravdess_av(tiny_root)
    bad = np.zeros(294)
    bad[3] = np.nan
    path.write_bytes(pickle.dumps({f"01-{_stem(1, 1)}": bad}))
    with pytest.raises(DataError, match="non-finite"):
        load_ravdess_av(tiny_root)


def test_real_ravdess_is_utterance_level_with_no_label_order(data_root):
    ds = load_dataset("ravdess", data_root)
    assert len(list(ds.dialogues())) == 960 and all(len(d) == 1 for d in ds.dialogues())
    assert split_groups(ds)["test"] == [f"Actor_{a:02d}" for a in range(13, 17)]
    labels = np.array([d.labels[0] for d in ds.dialogues("train")])
    same_as_next = float((labels[1:] == labels[:-1]).mean())
    assert same_as_next < 0.2  # by name: 0.98 of neighbours share the emotion; chance ~0.13
    av = load_dataset("ravdess_av", data_root)
    assert av.coverage["both (used)"] == 960 and av.feature_dims() == {"visual": 35}


def test_actor_folds_and_carved_dev(data_root):
    ds = load_dataset("ravdess", data_root)
    assert fold_groups(["c", "a", "b", "e", "d"], 2) == [["a", "b", "c"], ["d", "e"]]
    seen = []
    for k in range(4):
        fold = cv_split(ds, 4, k)
        groups = split_groups(fold)
        assert groups["test"] == [f"Actor_{a:02d}" for a in range(4 * k + 1, 4 * k + 5)]
        following = [(4 * k + 4 + i) % 16 + 1 for i in range(2)]  # the two after the fold
        assert groups["dev"] == [f"Actor_{a:02d}" for a in following]
        assert not set(groups["train"]) & (set(groups["dev"]) | set(groups["test"]))
        assert [len(list(fold.dialogues(s))) for s in ("train", "dev", "test")] == [600, 120, 240]
        seen += [d.id for d in fold.dialogues("test")]
    assert len(seen) == len(set(seen)) == 960
    assert split_groups(carve_dev(ds))["dev"] == ["Actor_01", "Actor_02"]
    with pytest.raises(ValueError, match="5 folds need at least 5 groups; there are 4"):
        fold_groups(list("abcd"), 5)


def test_holdout_blocks_of_the_training_actors_cover_them_once(data_root):
    fold = cv_split(load_dataset("ravdess", data_root), 4, 0)  # train: actors 7-16
    held = []
    for j in range(5):
        part = split_groups(holdout_split(fold, 5, j))
        assert part["test"] == [f"Actor_{a:02d}" for a in (7 + 2 * j, 8 + 2 * j)]
        assert part["dev"] == ["Actor_05", "Actor_06"]  # the fold's dev, kept for early stopping
        assert not set(part["train"]) & set(part["test"]) and "Actor_01" not in part["train"]
        held += part["test"]
    assert held == split_groups(fold)["train"]
    with pytest.raises(ValueError, match="holdout fold must be an integer in 0..4"):
        holdout_split(fold, 5, 5)


def test_carving_needs_two_training_speakers(tiny_root):
    ds = load_ravdess_av(tiny_root)
    ds.splits["train"] = [d for d in ds.splits["train"] if d.speakers == ["Actor_01"]]
    with pytest.raises(ValueError, match="no 'dev' dialogues and its training split has 1 spe"):
        carve_dev(ds)


def test_speaker_standardisation_uses_each_speakers_own_statistics(tiny_root):
    ds = cv_split(load_ravdess_av(tiny_root), 2, 0)
    batch = collate(list(ds.dialogues()), ["visual"])
    out = standardizer(ds, ["visual"], "speaker")(batch)
    speakers = [d.speakers[0] for d in ds.dialogues()]
    x = out.features["visual"][:, 0]
    for s in set(speakers):
        rows = x[[i for i, t in enumerate(speakers) if t == s]]
        assert torch.allclose(rows.mean(0), torch.zeros(AU_DIMS), atol=1e-4)
    glob = standardizer(ds, ["visual"], "global")(batch).features["visual"][:, 0]
    assert not torch.allclose(glob, x)
    with pytest.raises(ValueError, match="standardize must be one of"):
        standardizer(ds, ["visual"], "actor")


def test_a_speaker_constant_on_a_dimension_does_not_blow_up_its_deviations():
    """An action unit one actor never shows has std ~0 for that actor: its z-scores use at least
    SPEAKER_STD_FLOOR x the median actor's std, so a deviation (noise) stays bounded."""
    from affectrl.data import Dialogue, DialogueDataset
    from affectrl.train.data import SPEAKER_STD_FLOOR

    rng = np.random.default_rng(0)
    clips = []
    for s in ("A", "B", "C"):
        for k in range(20):
            x = rng.normal(size=(1, 2)).astype(np.float32)
            if s == "A":
                x[0, 0] = 0.0  # constant for A
            clips.append(Dialogue(f"{s}{k}", [s], np.array([0]), features={"visual": x}))
    ds = DialogueDataset("toy", ["x"], {"train": clips})
    batch = collate(clips[:1], ["visual"])  # one of A's clips, moved by 1 on dimension 0
    batch.features["visual"][..., 0] += 1.0
    z = standardizer(ds, ["visual"], "speaker")(batch).features["visual"][0, 0, 0]
    assert 0 < z <= 1 / SPEAKER_STD_FLOOR / 0.7  # other actors' std ~1 (was 1e6 at the floor)


def test_wavs_at_other_rates_are_resampled(tmp_path):
    _tone(tmp_path / "a16.wav", 16000, seconds=1.0)
    _tone(tmp_path / "a48.wav", 48000, seconds=1.0)
    seen = []

    def spy(x, item):
        seen.append((item.sample_rate, len(x)))
        return x

    features = extract_audio(
        [str(tmp_path / "a16.wav"), str(tmp_path / "a48.wav")], transform=with_spec(spy, "spy")
    )
    assert seen == [(16000, 16000), (16000, 16000)]
    native = extract_audio([str(tmp_path / "a48.wav")], "egemaps?rate=48000")
    resampled_gap = np.abs(features[0] - features[1]).mean()
    assert resampled_gap < 0.5 * np.abs(features[0] - native[0]).mean()
    with pytest.raises(ValueError, match="takes only the option `rate`"):
        extract_audio([str(tmp_path / "a16.wav")], "egemaps?hz=8000")

"""Integration: the real datasets load with the documented counts."""

from __future__ import annotations

import numpy as np

from affectrl.cli import main
from affectrl.data import collate, load_dataset


def test_counts_match_data_md(capsys):
    assert main(["data", "check"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert rows["iemocap6"][1:7] == ["151", "7433", "5163", "/", "647", "/"]
    assert rows["iemocap6"][7] == "1623"
    assert rows["meld7"][3:8] == ["9989", "/", "1109", "/", "2610"]
    assert rows["mosi"][1:3] == ["93", "2199"]
    assert rows["ravdess"][2] == "960"


def test_iemocap_order_and_labels(data_root):
    ds = load_dataset("iemocap6", data_root)
    assert ds.label_names == ["hap", "sad", "neu", "ang", "exc", "fru"]
    assert len(ds.splits["dev"]) == 12 and len(ds.splits["test"]) == 31
    assert all(d.id.startswith("Ses05") for d in ds.splits["test"])
    assert ds.speaker_vocab() == {"F": 0, "M": 1}


def test_mosi_videos_ordered_by_segment(data_root):
    ds = load_dataset("mosi", data_root)
    assert (
        sum(len(d) for d in ds.dialogues("train")) + sum(len(d) for d in ds.dialogues("dev"))
        == 1447
    )
    assert len(ds.splits["train"]) + len(ds.splits["dev"]) == 62
    d = ds.splits["train"][0]
    segments = [int(u.rsplit("_", 1)[1]) for u in d.utterance_ids]
    assert segments == sorted(segments)
    assert ds.feature_dims() == {"text": 100, "audio": 73, "visual": 100}


def test_collate_pads_and_masks(data_root):
    ds = load_dataset("mosi", data_root)
    dialogues = ds.splits["test"][:3]
    batch = collate(dialogues, ds.modalities, ds.speaker_vocab())
    lengths = [len(d) for d in dialogues]
    assert batch.lengths.tolist() == lengths
    assert batch.features["audio"].shape == (3, max(lengths), 73)
    assert batch.modality_mask.shape == (3, max(lengths), 3)
    short = int(np.argmin(lengths))
    assert (batch.labels[short, lengths[short] :] == -100).all()
    assert not batch.modality_mask[short, lengths[short] :].any()
    np.testing.assert_allclose(
        batch.features["text"][0, : lengths[0]].numpy(), dialogues[0].features["text"]
    )
    assert batch.flat(batch.labels).shape == (sum(lengths),)


def test_meld_per_dialogue_speakers(data_root):
    ds = load_dataset("meld7", data_root)
    assert ds.speaker_vocab() is None
    batch = collate(ds.splits["dev"][:2], [], None)
    first = ds.splits["dev"][0]
    assert batch.speakers[0, 0] == 0
    assert batch.speakers[0, : len(first)].max() == len(set(first.speakers)) - 1

"""Bad input: every failure names the file and the record; unsafe pickles never execute."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from affectrl.data import DataError, load_dataset
from affectrl.data.byo import load_byo
from affectrl.data.iemocap import load_iemocap_features, load_iemocap_text
from affectrl.data.meld import load_meld
from affectrl.data.mosi import load_mosi
from affectrl.data.ravdess import load_ravdess
from affectrl.data.safe_pickle import safe_load

MARKER = "affectrl_pwned_marker"


class _Exploit:
    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, MARKER))


def test_malicious_pickle_refused_without_executing(tmp_path):
    target = tmp_path / "owned.txt"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps([{"a": 1}, _Exploit(target)]))
    with pytest.raises(DataError, match="evil.pkl.*refused to load global"):
        safe_load(evil)
    assert not target.exists()


def test_os_system_pickle_refused(tmp_path):
    evil = tmp_path / "evil2.pkl"
    # Protocol-0 pickle calling os.system("touch ...") on load.
    evil.write_bytes(b"cos\nsystem\n(S'touch " + str(tmp_path / "x").encode() + b"'\ntR.")
    with pytest.raises(DataError, match="os.system"):
        safe_load(evil)
    assert not (tmp_path / "x").exists()


def test_safe_pickle_allows_plain_data_and_arrays(tmp_path):
    data = [{"v": [1, 2]}, ("a", 1.5), np.arange(6, dtype=np.float32).reshape(2, 3)]
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(data))
    loaded = safe_load(path)
    assert loaded[0] == {"v": [1, 2]}
    np.testing.assert_array_equal(loaded[2], data[2])


def _write_iemocap(root: Path, labels: list[int], sentences: list[str] | None = None) -> None:
    (root / "iemocap").mkdir(parents=True, exist_ok=True)
    n = len(labels)
    items = [
        {"d1": ["M"] * n},
        {"d1": labels},
        {"d1": sentences if sentences is not None else ["hi"] * n},
        ["d1"],
        [],
        [],
    ]
    (root / "iemocap" / "iemocap_text.pkl").write_bytes(pickle.dumps(items))


def test_iemocap_unknown_label_names_record(tmp_path):
    _write_iemocap(tmp_path, [0, 9])
    with pytest.raises(DataError, match=r"iemocap_text.pkl \[record d1\].*label 9 at utterance 1"):
        load_iemocap_text(tmp_path)


def test_iemocap_ragged_and_empty(tmp_path):
    _write_iemocap(tmp_path, [0, 1], sentences=["only one"])
    with pytest.raises(DataError, match=r"\[record d1\].*texts has 1 entries"):
        load_iemocap_text(tmp_path)
    _write_iemocap(tmp_path, [], sentences=[])
    with pytest.raises(DataError, match=r"\[record d1\].*empty dialogue"):
        load_iemocap_text(tmp_path)


def test_iemocap_nine_tuple_fixture():
    path = Path(__file__).parent / "fixtures" / "iemocap_features_tiny.pkl"
    ds = load_iemocap_features(path, dev_every=2)
    assert ds.feature_dims() == {"text": 100, "audio": 100, "visual": 512}
    assert len(ds.splits["test"]) == 1 and len(ds.splits["dev"]) == 1
    assert sum(len(d) for d in ds.dialogues()) == 12
    assert ds.splits["train"][0].texts[0].startswith("utterance")


def test_iemocap_nine_tuple_wrong_dim_and_nan(tmp_path):
    items = safe_load(Path(__file__).parent / "fixtures" / "iemocap_features_tiny.pkl")
    vid = items[7][0]
    items[4][vid] = np.zeros((len(items[2][vid]), 99))
    items[4][items[7][1]] = np.zeros((len(items[2][items[7][1]]), 100))
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps(items))
    with pytest.raises(
        DataError, match=r"bad.pkl.*(expected 100 feature dimensions, got 99|got 100)"
    ):
        load_iemocap_features(bad)
    items = safe_load(Path(__file__).parent / "fixtures" / "iemocap_features_tiny.pkl")
    items[3][vid] = np.full_like(items[3][vid], np.nan)
    bad.write_bytes(pickle.dumps(items))
    with pytest.raises(DataError, match=rf"\[record {vid} text\].*non-finite"):
        load_iemocap_features(bad)


def _copy_meld(data_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(data_root / "meld", tmp_path / "meld")
    return tmp_path / "meld"


def test_meld_missing_column_and_unknown_label(data_root, tmp_path):
    meld = _copy_meld(data_root, tmp_path)
    dev = meld / "dev_sent_emo.csv"
    lines = dev.read_text(encoding="utf-8").splitlines()
    dev.write_text("\n".join(lines[:1] + [lines[1].replace(",sadness,", ",bored,", 1)] + lines[2:]))
    with pytest.raises(
        DataError, match=r"dev_sent_emo.csv \[record row 2\]: unknown label 'bored'"
    ):
        load_meld(tmp_path)
    dev.write_text("\n".join([lines[0].replace("Speaker", "Who")] + lines[1:]))
    with pytest.raises(DataError, match=r"dev_sent_emo.csv: missing columns \['Speaker'\]"):
        load_meld(tmp_path)


def test_meld_malformed_row(data_root, tmp_path):
    meld = _copy_meld(data_root, tmp_path)
    dev = meld / "dev_sent_emo.csv"
    lines = dev.read_text(encoding="utf-8").splitlines()
    lines[3] = "3,text,Joey,neutral,neutral,notanumber,1,8,21,a,b"
    dev.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"\[record row 4\]: Dialogue_ID and Utterance_ID"):
        load_meld(tmp_path)


def test_mosi_bad_feature_row(data_root, tmp_path):
    shutil.copytree(data_root / "mosi", tmp_path / "mosi")
    audio = tmp_path / "mosi" / "audio" / "audio_test0.csv"
    lines = audio.read_text().splitlines()
    lines[4] = lines[4].replace('"', "").split(",", 1)[1]  # drop one feature
    audio.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"audio_test0.csv \[record row 5 .*expected 73 feature"):
        load_mosi(tmp_path)
    lines[4] = "nan," + lines[4]
    audio.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"audio_test0.csv \[record row 5 .*non-finite"):
        load_mosi(tmp_path)


def test_ravdess_truncated_and_non_wav(data_root, tmp_path):
    actor = tmp_path / "ravdess" / "Actor_01"
    actor.mkdir(parents=True)
    src = data_root / "ravdess" / "Actor_01" / "03-01-01-01-01-01-01.wav"
    (actor / src.name).write_bytes(src.read_bytes()[:2000])
    with pytest.raises(DataError, match=r"03-01-01-01-01-01-01.wav: truncated WAV"):
        load_ravdess(tmp_path)
    (actor / src.name).write_bytes(b"ID3 this is an mp3 really")
    with pytest.raises(DataError, match=r"03-01-01-01-01-01-01.wav: not a WAV file"):
        load_ravdess(tmp_path)


def test_byo_csv_with_features(tmp_path):
    folder = tmp_path / "mine"
    (folder / "features").mkdir(parents=True)
    (folder / "utterances.csv").write_text(
        "dialogue_id,order,speaker,label,split,text\n"
        "a,1,x,happy,train,second\n"
        "a,0,y,sad,train,first\n"
        "b,0,x,happy,test,only\n"
    )
    np.save(folder / "features" / "audio.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    ds = load_byo(folder)
    assert ds.label_names == ["happy", "sad"]
    a = ds.splits["train"][0]
    assert a.texts == ["first", "second"] and a.labels.tolist() == [1, 0]
    np.testing.assert_array_equal(a.features["audio"][0], [4, 5, 6, 7])
    assert load_dataset(f"byo:{folder}").counts()["test"]["utterances"] == 1


def test_byo_jsonl_errors(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "utterances.jsonl").write_text(
        '{"dialogue_id": "a", "order": 0, "speaker": "x", "label": "happy", "split": "train"}\n'
        '{"dialogue_id": "a", "order": "one", "speaker": "x", "label": "happy", "split": "train"}\n'
    )
    with pytest.raises(DataError, match=r"utterances.jsonl \[record row 2\]: order must be"):
        load_byo(folder)
    (folder / "utterances.jsonl").write_text('{"dialogue_id": "a"}\nnot json\n')
    with pytest.raises(DataError, match=r"\[record line 2\]: not a JSON object"):
        load_byo(folder)
    (folder / "utterances.jsonl").write_text('{"dialogue_id": "a", "order": 0}\n')
    with pytest.raises(DataError, match=r"missing columns \['speaker', 'label', 'split'\]"):
        load_byo(folder)


def test_unknown_dataset_name():
    with pytest.raises(KeyError, match="unknown dataset 'nope'"):
        load_dataset("nope")


def _byo_with_audio(folder: Path, audio: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "utterances.csv").write_text(
        f"dialogue_id,order,speaker,label,split,audio\na,0,x,happy,train,ok.wav\na,1,x,sad,train,{audio}\n"
    )
    return folder


@pytest.mark.parametrize("audio", ["../../etc/passwd", "/etc/passwd", "sub/../../outside.wav"])
def test_byo_media_paths_may_not_leave_the_dataset_folder(tmp_path, audio):
    folder = _byo_with_audio(tmp_path / "mine", audio)
    with pytest.raises(DataError, match=r"utterances.csv \[record row 2\]: media path .* outside"):
        load_byo(folder)


def test_byo_files_symlinked_from_outside_are_refused(tmp_path):
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    folder = _byo_with_audio(tmp_path / "mine", "link.wav")
    (folder / "link.wav").symlink_to(tmp_path / "secret.wav")
    with pytest.raises(DataError, match=r"\[record row 2\]: media path 'link.wav' points outside"):
        load_byo(folder)
    (folder / "link.wav").unlink()
    (tmp_path / "labels.txt").write_text("happy\nsad\n")
    (folder / "labels.txt").symlink_to(tmp_path / "labels.txt")
    with pytest.raises(DataError, match=r"labels.txt: links to a file outside"):
        load_byo(folder)


@pytest.mark.parametrize(("row", "message"), [("-3", r"bad transcript index '-3'"), ("7", None)])
def test_mosi_transcript_indices_are_in_range_and_unique(data_root, tmp_path, row, message):
    shutil.copytree(data_root / "mosi", tmp_path / "mosi")
    index = tmp_path / "mosi" / "text_train.csv"
    lines = index.read_text().splitlines()
    first = lines[0].split(",", 1)
    if message is None:  # row 2 points at the transcript row 1 already uses
        number = first[0].strip('"')
        message = rf"transcript index {number} already listed in row 1"
        row = first[0]
    second = lines[1].split(",", 1)
    lines[1] = f"{row},{second[1]}"
    index.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"text_train.csv \[record row 2\]: {message}"):
        load_mosi(tmp_path)


def _iemocap_pickle(path: Path, train: list, test: list, dev: list) -> Path:
    ids = sorted(set(train + test + dev))
    items = [{v: ["M"] for v in ids}, {v: [0] for v in ids}, {v: ["hi"] for v in ids}]
    path.mkdir(parents=True)
    (path / "iemocap_text.pkl").write_bytes(pickle.dumps([*items, train, test, dev]))
    return path


def test_iemocap_split_overlap_is_refused(tmp_path):
    _iemocap_pickle(tmp_path / "iemocap", ["a", "b"], ["b", "c"], [])
    with pytest.raises(DataError, match=r"iemocap_text.pkl \[record b\]: dialogue listed in both"):
        load_dataset("iemocap6", tmp_path)
    shutil.rmtree(tmp_path / "iemocap")
    _iemocap_pickle(tmp_path / "iemocap", ["a", "a"], ["c"], [])
    with pytest.raises(DataError, match=r"\[record a\]: dialogue listed twice"):
        load_dataset("iemocap6", tmp_path)


def test_byo_jsonl_null_label_is_unlabelled_not_a_class(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    row = '{{"dialogue_id": "a", "order": {}, "speaker": "x", "label": {}, "split": "train"}}\n'
    (folder / "utterances.jsonl").write_text(row.format(0, '"happy"') + row.format(1, "null"))
    ds = load_dataset(f"byo:{folder}")
    assert ds.label_names == ["happy"]
    assert ds.splits["train"][0].labels.tolist() == [0, -1]
    (folder / "utterances.jsonl").write_text(row.format(0, '["happy"]'))
    with pytest.raises(DataError, match=r"\[record line 1\]: values must be strings or numbers"):
        load_dataset(f"byo:{folder}")


def test_byo_labels_differing_only_in_case_are_refused(tmp_path):
    folder = _byo_with_audio(tmp_path / "mine", "b.wav")
    (folder / "labels.txt").write_text("Happy\nsad\n\nhappy\n")
    with pytest.raises(DataError, match=r"labels.txt: label 'happy' on line 4 repeats line 1"):
        load_byo(folder)


def test_byo_dialogue_in_two_splits_is_refused(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "utterances.csv").write_text(
        "dialogue_id,order,speaker,label,split\na,0,x,happy,train\na,1,x,sad,test\n"
    )
    with pytest.raises(DataError, match=r"\[record a\]: dialogue listed in both train and test"):
        load_dataset(f"byo:{folder}")


def test_a_pickle_asking_for_a_huge_allocation_is_refused(tmp_path):
    class Bomb:
        def __init__(self, factory, args):
            self.reduce = (factory, args)

        def __reduce__(self):
            return self.reduce

    bombs = {
        "bytearray": Bomb(bytearray, (10**13,)),
        "bytes": Bomb(bytes, (10**13,)),
        "ndarray": Bomb(np.ndarray, ((10**7, 10**6),)),
    }
    for name, bomb in bombs.items():
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(pickle.dumps(bomb, protocol=4))
        assert path.stat().st_size < 100
        with pytest.raises(DataError, match=rf"{name}.pkl: .*asks for \d+ bytes from a \d+-byte"):
            safe_load(path)
    arrays = [np.arange(5), np.zeros((2, 3), np.float32), bytearray(b"ab"), b"cd"]
    (tmp_path / "fine.pkl").write_bytes(pickle.dumps(arrays, protocol=4))
    loaded = safe_load(tmp_path / "fine.pkl")
    assert loaded[2:] == [bytearray(b"ab"), b"cd"] and loaded[1].shape == (2, 3)

"""`affectrl predict` and `TrainedModel`: a tiny text model applied to unseen transcripts, with
the run's own preprocessing; predict on the test split equals what eval and training saw."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from affectrl.cli import main
from affectrl.train import Run, resolve_config
from affectrl.train.inference import TrainedModel

HAPPY = ["I am so glad you came", "What a wonderful day", "This is great news", "I love this"]
SAD = ["I miss the old days", "This is terrible", "I lost my keys again", "I feel so alone"]
LABELS = ["happy", "sad"]


def _write_byo(folder: Path, splits: dict[str, int], seed: int, labelled: bool = True) -> Path:
    """A BYO folder of dialogues of 4 utterances (2 speakers) per split count."""
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in splits.items():
        for d in range(n):
            for o in range(4):
                label = LABELS[int(rng.integers(2))]
                text = str(rng.choice(HAPPY if label == "happy" else SAD))
                rows.append(
                    {
                        "dialogue_id": f"{split}{d}",
                        "order": o,
                        "speaker": "AB"[o % 2],
                        "label": label if labelled else "",
                        "split": split,
                        "text": f"{text} ({seed}-{d}-{o})",
                    }
                )
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "utterances.csv", index=False)
    (folder / "labels.txt").write_text("\n".join(LABELS))
    return folder


def _config(data: Path, standardize: bool) -> dict:
    return {
        "name": "tiny_text",
        "dataset": f"byo:{data}",
        "features": {"text": "minilm"},
        "standardize": standardize,
        "model": {
            "fusion": {"name": "concat"},
            "context": {"name": "cogmen", "hidden": 8, "seq_layers": 1, "dropout": 0.1},
            "classifier": {"hidden": 8, "dropout": 0.1},
        },
        "train": {"epochs": 2, "batch_size": 3, "lr": 1.0e-3},
    }


@pytest.fixture(scope="module", params=[False, True], ids=["raw", "standardize"])
def trained(request, tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp(f"predict-{request.param}")
    data = _write_byo(root / "toy", {"train": 6, "dev": 2, "test": 3}, seed=0)
    run_dir = root / "runs" / "seed-1"
    Run(resolve_config(_config(data, request.param), 1), run_dir, progress=False).train()
    return run_dir, data


def _probabilities(table: pd.DataFrame) -> np.ndarray:
    return table[[f"p_{c}" for c in LABELS]].to_numpy()


def test_predict_on_unseen_transcripts(trained, tmp_path, capsys):
    run_dir, _ = trained
    new = _write_byo(tmp_path / "new", {"test": 2}, seed=5, labelled=False)
    out = tmp_path / "new.csv"
    assert main(["predict", str(run_dir), "--data", f"byo:{new}", "--out", str(out)]) == 0
    assert "8 utterances in 2 dialogues" in capsys.readouterr().out
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == [
        "split", "dialogue_id", "utterance_id", "speaker", "gold", "pred", "p_happy", "p_sad",
        "edges",
    ]  # fmt: skip
    assert len(table) == 8 and set(table["pred"]) <= set(LABELS)
    assert (table["gold"] == "").all()
    np.testing.assert_allclose(_probabilities(table).sum(1), 1.0, atol=1e-6)
    assert (table["pred"] == np.array(LABELS)[_probabilities(table).argmax(1)]).all()
    first = json.loads(table["edges"][0])  # COGMEN's window: every utterance of a 4-turn dialogue
    assert [e[0] for e in first] == ["test0_0", "test0_1", "test0_2", "test0_3"]


def test_predict_on_the_test_split_equals_eval_and_training(trained, tmp_path):
    run_dir, data = trained
    out = tmp_path / "test.jsonl"
    args = ["predict", str(run_dir), "--data", f"byo:{data}", "--split", "test"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    table = pd.read_json(out, lines=True, dtype=False, precise_float=True)
    saved = json.loads((run_dir / "predictions.json").read_text())["test"]
    labelled = table[table["gold"] != ""]
    assert labelled["utterance_id"].tolist() == saved["utterance_ids"]
    assert labelled["pred"].tolist() == [LABELS[k] for k in saved["pred"]]
    assert main(["eval", str(run_dir), "--quiet"]) == 0
    eval_test = json.loads((run_dir / "eval.json").read_text())["test"]
    assert eval_test["accuracy"] == pytest.approx((labelled["gold"] == labelled["pred"]).mean())
    # ... and the run folder's predictions.csv holds the very same probabilities
    in_run = pd.read_csv(run_dir / "predictions.csv", keep_default_na=False)
    in_run = in_run[in_run["split"] == "test"].reset_index(drop=True)
    assert in_run["pred"].tolist() == table["pred"].tolist()
    np.testing.assert_array_equal(_probabilities(in_run), _probabilities(table))


def test_standardized_runs_read_new_data_on_the_training_scale(trained):
    """The saved standardiser is applied: without it the probabilities change."""
    run_dir, data = trained
    model = TrainedModel.load(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (run_dir / "standardizer.safetensors").is_file() == config["standardize"]
    with_run_scale = model.predict(f"byo:{data}", "test")
    if config["standardize"]:
        model.transform = lambda batch: batch
        raw = model.predict(f"byo:{data}", "test")
        assert np.abs(_probabilities(raw) - _probabilities(with_run_scale)).max() > 1e-4


def test_quick_transcripts_input_and_list_of_dialogues(trained, tmp_path):
    run_dir, _ = trained
    lines = [
        {"dialogue_id": "x", "speaker": "Ann", "text": "What a wonderful day"},
        {"dialogue_id": "x", "speaker": "Bob", "text": "I lost my keys again", "label": "sad"},
        {"dialogue_id": "y", "speaker": "Ann", "text": "I love this"},
    ]
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "chat.csv"
    assert main(["predict", str(run_dir), "--transcripts", str(path), "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert table["utterance_id"].tolist() == ["x_0", "x_1", "y_0"]
    assert table["gold"].tolist() == ["", "sad", ""]
    assert table["speaker"].tolist() == ["Ann", "Bob", "Ann"]
    dialogues = [{"id": "x", "speakers": ["Ann", "Bob"], "texts": [r["text"] for r in lines[:2]]}]
    from_api = TrainedModel.load(run_dir).predict(dialogues)
    np.testing.assert_allclose(_probabilities(from_api), _probabilities(table)[:2], atol=1e-6)


def test_predict_errors_are_clear(trained, tmp_path, capsys):
    run_dir, _ = trained
    bad = tmp_path / "bad.csv"
    bad.write_text("dialogue_id,text\nd,hello\n")
    assert main(["predict", str(run_dir), "--transcripts", str(bad), "--out", "x.csv"]) == 1
    assert "missing columns ['speaker']" in capsys.readouterr().err
    crowd = tmp_path / "crowd.csv"
    crowd.write_text("dialogue_id,speaker,text\n" + "".join(f"d,S{i},hi\n" for i in range(5)))
    assert main(["predict", str(run_dir), "--transcripts", str(crowd), "--out", "x.csv"]) == 1
    assert "has 5 speakers; the model was trained with at most 2" in capsys.readouterr().err
    assert main(["predict", str(run_dir.parent), "--data", "mosi", "--out", "x.txt"]) == 1
    assert "predictions are written as .csv or .jsonl" in capsys.readouterr().err


def test_predict_on_wav_files_with_an_audio_run(tmp_path, data_root):
    """Quick WAV input: openSMILE features of the given files, as the run extracted them."""
    actor = sorted((data_root / "ravdess" / "Actor_01").glob("*.wav"))
    emotions = {"01": "neutral", "05": "angry"}
    files = [f for f in actor if f.name.split("-")[2] in emotions][:12]
    (tmp_path / "audio").mkdir()
    for f in files:  # media paths must stay inside the BYO folder
        shutil.copy(f, tmp_path / "audio" / f.name)
    rows = [
        {"dialogue_id": f"{split}{i // 4}", "order": i % 4, "speaker": "actor1", "split": split,
         "label": emotions[f.name.split("-")[2]], "audio": f.name}
        for i, f in enumerate(files)
        for split in ["train" if i < 8 else ("dev" if i < 10 else "test")]
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "audio" / "utterances.csv", index=False)
    config = {
        "dataset": f"byo:{tmp_path / 'audio'}",
        "features": {"audio": "egemaps"},
        "standardize": True,
        "model": {"classifier": {"hidden": 8}},
        "train": {"epochs": 2, "batch_size": 2, "lr": 1.0e-3},
    }
    run_dir = tmp_path / "run"
    Run(resolve_config(config, 1), run_dir, progress=False).train()
    new = sorted((data_root / "ravdess" / "Actor_02").glob("*.wav"))[:3]
    out = tmp_path / "wav.csv"
    assert main(["predict", str(run_dir), "--wav", *map(str, new), "--out", str(out)]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert table["utterance_id"].tolist() == [f"Actor_02/{f.stem}" for f in new]
    assert set(table["pred"]) <= {"angry", "neutral"}
    np.testing.assert_allclose(table[["p_angry", "p_neutral"]].sum(axis=1), 1.0, atol=1e-6)


def test_runs_from_before_inputs_json_are_rebuilt_from_their_training_data(trained, tmp_path):
    """A run folder without inputs.json / standardizer.safetensors (trained before 0.2.0) is
    loaded through `load_run` from its training dataset: the same predictions."""
    run_dir, data = trained
    old = tmp_path / "old" / "seed-1"
    shutil.copytree(run_dir, old)
    (old / "inputs.json").unlink()
    (old / "standardizer.safetensors").unlink(missing_ok=True)
    now = TrainedModel.load(run_dir).predict(f"byo:{data}", "test")
    before = TrainedModel.load(old.parent).predict(f"byo:{data}", "test")
    np.testing.assert_array_equal(_probabilities(before), _probabilities(now))
    shutil.copytree(old, old.parent / "seed-2")
    with pytest.raises(FileNotFoundError, match="give one finished seed folder"):
        TrainedModel.load(old.parent)

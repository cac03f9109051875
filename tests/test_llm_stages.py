"""The stages before and around GRPO on tiny models: GGUF import, cold-start SFT, generation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("trl", reason="the LLM stages need the llm extra")
pytest.importorskip("gguf", reason="the GGUF import needs the llm extra")

from safetensors.numpy import load_file  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from test_llm_prompts import tiny_dataset  # noqa: E402

from affectrl.cli import main  # noqa: E402
from affectrl.data import DataError  # noqa: E402
from affectrl.llm import model_import  # noqa: E402
from affectrl.llm.generation import GenerationSettings, generate_predictions  # noqa: E402
from affectrl.llm.parsing import parse_completion  # noqa: E402
from affectrl.llm.prompts import build_prompts  # noqa: E402
from affectrl.llm.sft import sft_rows, sft_target  # noqa: E402
from affectrl.llm.tiny import write_tiny_gguf  # noqa: E402

MELD = ["--dataset", "meld7", "--window", "1"]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama written as GGUF, imported through the CLI."""
    folder = tmp_path_factory.mktemp("gguf")
    gguf = write_tiny_gguf(folder / "tiny.gguf")
    assert main(["llm", "import", "--gguf", str(gguf), "--out", str(folder / "model")]) == 0
    return folder / "model"


def test_import_writes_a_checked_plain_folder(imported: Path) -> None:
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (imported / name).is_file(), name
    config = json.loads((imported / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    report = json.loads((imported / "import_report.json").read_text())
    assert report["max_logit_difference"] == 0.0 and report["smoke_new_tokens"] == 16
    assert report["parameters"] == sum(
        v.size for v in load_file(imported / "model.safetensors").values()
    )
    assert report["chat_template"] and len(report["source_sha256"]) == 64


def test_import_refuses_bad_input(imported: Path, tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(DataError, match="not a GGUF file"):
        model_import.import_gguf(fake, tmp_path / "out")
    with pytest.raises(FileExistsError, match="--overwrite"):
        model_import.import_gguf(imported.parent / "tiny.gguf", imported)
    monkeypatch.setattr(model_import.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="make smollm2"):
        model_import.packaged_gguf()
    assert main(["llm", "import", "--out", str(tmp_path / "m")]) == 1  # no package, clear error


def test_sft_targets_are_well_formed() -> None:
    rows = sft_rows(build_prompts(tiny_dataset(), as_dataset=False), think="{speaker} speaks.")
    assert [r["completion"][0]["content"] for r in rows][:1] == [
        "<think>Ann speaks.</think><answer>neutral</answer>"
    ]
    assert all(parse_completion(r["completion"][0]["content"]) for r in rows)
    assert rows[0]["prompt"][0]["role"] == "system" and len(rows) == 3
    assert parse_completion(sft_target("anger")) is not None


def test_sft_trains_logs_and_resumes(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft"
    argv = ["llm", "sft", "--model", str(imported), "--output", str(out), *MELD, "--limit", "4"]
    argv += [
        "--batch-size",
        "2",
        "--lr",
        "1e-2",
        "--save-steps",
        "1",
        "--no-gradient-checkpointing",
    ]
    assert main([*argv, "--steps", "1"]) == 0
    assert (out / "checkpoint-1").is_dir()
    assert main([*argv, "--steps", "2"]) == 0  # the same folder: continues from checkpoint-1
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-1")
    assert [h["step"] for h in summary["log_history"] if "loss" in h] == [1, 2]
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    before = load_file(imported / "model.safetensors")
    after = load_file(out / "final" / "model.safetensors")
    assert any(not np.array_equal(before[k], after[k]) for k in before), "SFT changed nothing"
    assert (out / "final" / "tokenizer.json").is_file()


def test_sft_lora_is_merged_into_a_plain_folder(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "lora"
    argv = ["llm", "sft", "--model", str(imported), "--output", str(out), *MELD, "--limit", "2"]
    argv += ["--batch-size", "2", "--steps", "1", "--lr", "1e-2", "--lora", "--lora-r", "2"]
    assert main([*argv, "--save-steps", "0"]) == 0
    assert not (out / "final" / "adapter_model.safetensors").exists()
    merged = load_file(out / "final" / "model.safetensors")
    assert set(merged) == set(load_file(imported / "model.safetensors"))  # no lora_ weights left


def test_prompts_per_class_via_cli(tmp_path: Path) -> None:
    out = tmp_path / "p.jsonl"
    argv = ["llm", "prompts", "--dataset", "meld7", "--limit", "200", "--per-class", "3"]
    assert main([*argv, "--output", str(out)]) == 0
    answers = [json.loads(line)["answer"] for line in out.read_text().splitlines()]
    counts = {a: answers.count(a) for a in answers}
    assert max(counts.values()) == 3 and len(counts) >= 5, counts


def test_generate_is_resumable_and_scored_by_eval(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.jsonl"
    argv = ["llm", "generate", "--model", str(imported), "--output", str(out), *MELD]
    argv += ["--limit", "3", "--max-new-tokens", "4", "--batch-size", "2"]
    assert main(argv) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2]
    assert all(r["utterance_id"] and r["answer"] and "completion" in r for r in records)
    assert not out.with_name("pred.jsonl.partial").exists()

    rows = build_prompts(tiny_dataset(), as_dataset=False)
    partial = tmp_path / "tiny.jsonl.partial"
    first = {"index": 0, "utterance_id": "d1_0", "answer": "neutral", "completion": "kept"}
    partial.write_text(json.dumps(first) + "\n" + '{"index": 1, "utter')  # cut mid-line
    result = generate_predictions(imported, rows, tmp_path / "tiny.jsonl", GenerationSettings(4))
    assert (result["reused"], result["generated"]) == (1, 2)
    lines = (tmp_path / "tiny.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["completion"] == "kept" and len(lines) == 3

    partial.write_text(json.dumps({**first, "utterance_id": "other"}) + "\n")
    with pytest.raises(DataError, match="utterance ids differ"):
        generate_predictions(imported, rows, tmp_path / "tiny.jsonl", GenerationSettings(4))

    metrics = tmp_path / "metrics.json"
    assert (
        main(
            [
                "llm",
                "eval",
                "--predictions",
                str(out),
                "--dataset",
                "meld7",
                "--output",
                str(metrics),
            ]
        )
        == 0
    )
    closed = json.loads(metrics.read_text())["closed_set"]
    assert (
        len(closed["confusion"]["matrix"]) == 7 and closed["confusion"]["labels"][-1] == "invalid"
    )
    assert sum(map(sum, closed["confusion"]["matrix"])) == 3

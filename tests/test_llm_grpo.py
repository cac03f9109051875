"""Two GRPO steps on CPU with a tiny random causal LM and a tokenizer trained here (no download)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("trl", reason="the GRPO recipe needs the llm extra")

from safetensors.numpy import load_file  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from test_llm_prompts import tiny_dataset  # noqa: E402

from affectrl.cli import main  # noqa: E402
from affectrl.llm.grpo import GrpoSettings, check_settings, run_grpo  # noqa: E402
from affectrl.llm.prompts import build_prompts  # noqa: E402
from affectrl.llm.tiny import make_tiny_model  # noqa: E402

REWARD_TAGS = [f"train/rewards/{n}_reward/mean" for n in ("format", "accuracy", "similarity")]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny_lm"))


def _changed(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> list[str]:
    return [k for k in before if not np.array_equal(before[k], after[k])]


@pytest.mark.slow
def test_grpo_two_steps_via_cli_changes_weights_and_logs_rewards(
    tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    argv = ["llm", "grpo", "--model", str(tiny_model), "--output", str(out)]
    argv += ["--dataset", "meld7", "--limit", "2", "--window", "1"]
    argv += ["--rewards", "format,accuracy,similarity", "--group-size", "4", "--batch-size", "4"]
    argv += ["--steps", "2", "--kl", "0.04", "--lr", "1e-3", "--max-completion-length", "16"]
    assert main(argv) == 0

    summary = json.loads((out / "grpo_summary.json").read_text())
    steps = [h for h in summary["log_history"] if "reward" in h]
    assert [h["step"] for h in steps] == [1, 2]
    for h in steps:
        for name in ("format", "accuracy", "similarity"):
            assert 0.0 <= h[f"rewards/{name}_reward/mean"] <= 1.0
    # the cold-started tiny model answers, so some completions earn rewards
    assert max(h["reward"] for h in steps) > 0
    assert summary["settings"]["num_generations"] == 4 and summary["settings"]["beta"] == 0.04

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    for tag in REWARD_TAGS:
        assert len(events.Scalars(tag)) == 2, tag

    before = load_file(tiny_model / "model.safetensors")
    after = load_file(out / "final" / "model.safetensors")
    assert _changed(before, after), "GRPO left every weight unchanged"


def test_grpo_lora_trains_only_the_adapter(tiny_model: Path, tmp_path: Path) -> None:
    prompts = build_prompts(tiny_dataset(), as_dataset=True)
    settings = GrpoSettings(
        model=str(tiny_model),
        output_dir=str(tmp_path / "lora"),
        rewards=("format", "wheel"),
        reward_weights=(0.5, 1.0),
        num_generations=3,
        batch_size=3,
        max_steps=2,
        beta=0.0,
        learning_rate=1e-2,
        max_completion_length=16,
        lora=True,
        lora_r=4,
    )
    summary = run_grpo(settings, prompts)
    assert [h["step"] for h in summary["log_history"] if "reward" in h] == [1, 2]
    adapter = load_file(tmp_path / "lora" / "final" / "adapter_model.safetensors")
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert lora_b, "no LoRA weights saved"
    # LoRA's B matrices start at zero; GRPO must have moved at least one
    assert any(np.abs(v).max() > 0 for v in lora_b)
    assert not (tmp_path / "lora" / "final" / "model.safetensors").exists()


def test_grpo_settings_are_checked_before_loading(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a local model folder"):
        check_settings(GrpoSettings(model=str(tmp_path), output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="unknown rewards"):
        check_settings(GrpoSettings(model=str(tiny_model), output_dir="x", rewards=("fun",)))
    with pytest.raises(ValueError, match="multiple of the group size"):
        check_settings(GrpoSettings(model=str(tiny_model), output_dir="x", batch_size=6))
    with pytest.raises(ValueError, match="1 reward weights for 2 rewards"):
        check_settings(GrpoSettings(model=str(tiny_model), output_dir="x", reward_weights=(1.0,)))
    code = main(["llm", "grpo", "--model", str(tmp_path / "nope"), "--output", str(tmp_path)])
    assert code == 1

"""Typed settings: every config section checked before anything trains, and docs/CONFIG.md
generated from them; the one registry mechanism."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from affectrl.agents.fusion.settings import AgentTrainConfig
from affectrl.cli import main
from affectrl.registry import Registry
from affectrl.train import resolve_config
from affectrl.train.settings import Settings, config_reference

REPO = Path(__file__).resolve().parents[1]
TINY = {"dataset": "mosi", "model": {"fusion": {"name": "attention"}}}  # checked, never built
AGENT = {**TINY, "model": {"fusion": {"name": "agent"}}}


def test_the_checked_in_config_reference_is_the_generated_one():
    generated = config_reference()
    assert (REPO / "docs" / "CONFIG.md").read_text() == generated, (
        "docs/CONFIG.md is stale: run `affectrl config --reference > docs/CONFIG.md`"
    )
    for key in ("train.epochs", "agent.ppo.minibatch", "agent.reward.alpha", "noise.protocol"):
        assert f"| {key} |" in generated, key
    # every part option is documented (an `Args:` line in its class docstring)
    for line in generated.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[1] not in ("option", "—", "---"):
            assert cells[4], f"undocumented option: {line}"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {**AGENT, "agent": {"train": True, "reward": {"alpah": 1}}},
            r"unknown config setting `agent.reward.alpah`; did you mean `alpha`\?",
        ),
        (
            {**AGENT, "agent": {"train": True, "ppo": {"lr": "fast"}}},
            r"agent.ppo.lr must be a number >= 0, got 'fast'",
        ),
        (
            {**TINY, "model": {"context": {"name": "bilstm", "hidden": "abc"}}},
            r"model.context.hidden must be an integer, got 'abc'",
        ),
        (
            {**TINY, "model": {"context": {"name": "cogmen", "graph": {"name": "windo"}}}},
            r"unknown graph 'windo' \(model.context.graph\); known: window, ",
        ),
        (
            {**TINY, "model": {"context": {"name": "cogmen", "graph": {"past": "5"}}}},
            r"model.context.graph.past must be an integer, got '5'",
        ),
        (
            {**TINY, "model": {"fusion": {"name": "agent", "signals": "all"}}},
            r"model.fusion.signals must be one of `fast`, `full`, `confidence`, got 'all'",
        ),
        ({**TINY, "agent": {"train": True}}, r"`agent.train: true` needs `model.fusion.name"),
        (
            {**TINY, "noise": {"protocol": "mosi-standard"}},
            r"noise.protocol: noise protocol 'mosi-standard' is an evaluation grid, not a train",
        ),
        ({**TINY, "standardize": "yes"}, r"`standardize:` must be bool or global \| speaker"),
        ({**TINY, "train": {"cv": {"folds": 4, "fold": 5}}}, r"train.cv.fold must be an integer"),
        ({**TINY, "train": {"device": "gpu"}}, r"train.device must be auto \(CUDA when"),
    ],
)
def test_a_config_error_is_caught_before_anything_is_built(config, message):
    with pytest.raises(ValueError, match=message):
        resolve_config(config, 1)


def test_a_config_error_leaves_no_run_folder_and_no_traceback(tiny_config, tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_config))
    runs = tmp_path / "runs"
    base = ["train", "--config", str(tmp_path / "tiny.yaml"), "--runs-dir", str(runs), "--quiet"]
    for override in ("model.context.hidden=abc", "agent.reward.alpah=1", "modalities=[face]"):
        assert main([*base, "model.context.name=bilstm", override]) == 1, override
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("affectrl: error: "), err
        assert not runs.exists(), override  # the last one needs the data to show: no folder


def test_agent_settings_are_one_object_with_one_set_of_defaults_reachable_from_yaml():
    agent = Settings.parse(resolve_config({**AGENT, "agent": {"ppo": {"minibatch": 32}}}, 1)).agent
    assert isinstance(agent, AgentTrainConfig)
    assert agent.ppo.minibatch == 32 and agent.ppo.lr == AgentTrainConfig().ppo.lr
    assert agent.iterations == AgentTrainConfig().iterations == 200
    assert agent.joint_iterations == 0


def test_affectrl_config_prints_a_resolved_config_and_the_reference(tiny_config, tmp_path, capsys):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_config))
    assert main(["config", "--config", str(tmp_path / "tiny.yaml"), "train.epochs=3"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["train"]["epochs"] == 3 and resolved["train"]["weight_decay"] == 1e-8
    assert main(["config", "--config", str(tmp_path / "tiny.yaml"), "train.epochz=3"]) == 1
    assert "did you mean `epochs`" in capsys.readouterr().err
    assert main(["config", "--reference"]) == 0
    assert capsys.readouterr().out == config_reference()


def test_a_registry_names_its_parts_and_refuses_unknown_or_taken_names():
    parts: Registry = Registry("widget", {"a": 1}, hint="or w:PATH")
    parts.register("b", 2)

    @parts.register("c")
    def c():
        """The c widget."""

    assert list(parts) == ["a", "b", "c"] and parts["b"] == 2
    assert parts.describe("c") == "The c widget."
    with pytest.raises(KeyError, match="unknown widget 'd'; known: a, b, c or w:PATH"):
        parts["d"]
    with pytest.raises(ValueError, match="unknown widget"):  # a config error too
        parts["d"]
    with pytest.raises(ValueError, match="already registered"):
        parts.register("a", 3)
    parts.register_lazy("json", "json", "dumps")
    assert "json" in parts and parts["json"]([1]) == "[1]"

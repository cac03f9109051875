"""The run config's sections as typed settings (affectrl.settings), checked by `resolve_config`
before anything is trained, and the reference documentation generated from them.

docs/CONFIG.md is `config_reference()`; regenerate it with
`affectrl config --reference > docs/CONFIG.md` after adding or changing a setting (a test
compares the two).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any, Literal

from ..agents.fusion.settings import AgentTrainConfig
from ..data.folds import GROUPS
from ..device import DEVICE_HELP, check_device_name
from ..features.templates import TEMPLATES, build_template
from ..models.context import CONTEXTS
from ..models.erc import LATE
from ..models.fusion import FUSIONS
from ..models.graph import GRAPHS
from ..noise.protocols import get_curriculum
from ..settings import (
    Section,
    component,
    component_rows,
    finite_positive,
    reference_rows,
    setting,
)

SelectMetric = Literal["accuracy", "weighted_f1", "macro_f1"]
SELECT_METRICS: tuple[str, ...] = typing.get_args(SelectMetric)


def _distinct(values: list) -> bool:
    return len(set(values)) == len(values)


@dataclass
class NoiseSettings(Section):
    TITLE = "noise during training"

    protocol: str | None = setting(
        None,
        "training noise curriculum (`affectrl noise list`), severity ramping with the epochs; "
        "null: clean training",
        check=get_curriculum,
    )


@dataclass
class ClassifierSettings(Section):
    TITLE = "the classifier after the context model (Linear -> ReLU -> Dropout -> Linear)"

    hidden: int = setting(100, "hidden size", min=1)
    dropout: float = setting(0.5, "dropout before the last layer", min=0, max=1)


@dataclass
class ModelSettings(Section):
    TITLE = "the model: fusion (per utterance) -> context model (per dialogue) -> classifier"

    fusion: dict = component(
        FUSIONS,
        "how the modalities of an utterance are fused (options per fusion below; `late`: one "
        "model per modality, logits averaged, with the concat fusion's options)",
        aliases={LATE: "concat"},
    )
    context: dict = component(
        CONTEXTS, "how the utterances of a dialogue inform each other (options per model below)"
    )
    classifier: ClassifierSettings = setting(ClassifierSettings, "the classifier")
    unimodal_loss_weight: float = setting(
        0.0, "weight of the unimodal heads' cross-entropy in the loss", min=0
    )


@dataclass
class CVSettings(Section):
    TITLE = "cross-validation: folds of held-out groups (affectrl.train.cv)"

    folds: int = setting(doc="folds the groups are split into", min=2)
    group: Literal[GROUPS] = setting("speaker", "what a fold holds out: speakers or dialogues")
    fold: int | None = setting(None, "run this fold only (1..folds; null: every fold)", min=1)

    def check(self) -> None:
        if self.fold is not None and self.fold > self.folds:
            raise ValueError(
                f"train.cv.fold must be an integer in 1..{self.folds}, got {self.fold}"
            )


@dataclass
class HoldoutSettings(Section):
    TITLE = "one held-out block of the training groups (affectrl.data.folds.holdout_split)"

    folds: int = setting(doc="blocks the training groups are cut into", min=2)
    fold: int = setting(doc="the block that is the test split (1..folds)", min=1)

    def check(self) -> None:
        if self.fold > self.folds:
            raise ValueError(
                f"train.holdout.fold must be an integer in 1..{self.folds}, got {self.fold}"
            )


@dataclass
class TrainSettings(Section):
    TITLE = "the supervised training loop"

    epochs: int = setting(55, "passes over the training split", min=1, max=100_000)
    batch_size: int = setting(32, "dialogues per batch", min=1, max=1_000_000)
    lr: float = setting(1.0e-4, "Adam learning rate", min=0, max=1e3)
    weight_decay: float = setting(1.0e-8, "Adam weight decay", min=0, max=1e3)
    scheduler: Literal["plateau", "none"] | None = setting(
        "plateau", "learning-rate schedule: `plateau` (reduce on a dev-loss plateau) or none"
    )
    select_metric: SelectMetric = setting(
        "weighted_f1", "dev metric that selects the epoch (and tunes fixed fusion weights)"
    )
    select: Literal["dev", "last"] = setting(
        "dev", "which epoch's weights the run keeps: best on dev, or the last"
    )
    grad_clip: float | None = setting(
        None,
        "clip the gradient norm to this (null: no clipping)",
        check=finite_positive,
        message="must be a finite number > 0 (the largest gradient norm) or null (no clipping)",
    )
    fused_adam: bool = setting(
        False,
        "Adam's fused kernel: one pass over the parameters per step (about 3x faster steps on "
        "CPU); not bit-identical to the default (foreach) kernel",
    )
    threads: int = setting(1, "torch threads", min=1, max=256)
    eval_test_every_epoch: bool = setting(
        True, "also evaluate the test split after every epoch (for the history only)"
    )
    cv: CVSettings | None = setting(
        None,
        "cross-validation over groups, e.g. {folds: 4} (null: the dataset's own splits); "
        "metrics pool the folds per seed",
    )
    holdout: HoldoutSettings | None = setting(
        None,
        "train on all but one block of the training groups (grouped as `cv.group`) and test on "
        "that block, the split's own test unused: the held-out copies of `agent.cross_fit` "
        "(null: off)",
    )
    device: str = setting(
        "auto",
        f"where the run trains: {DEVICE_HELP} (not part of the run's identity: a run may "
        "resume elsewhere)",
        check=check_device_name,
        message=f"must be {DEVICE_HELP}",
    )


@dataclass
class Settings(Section):
    """A whole run config (after `base:` files and overrides are merged)."""

    TITLE = "the top level"

    dataset: str = setting(
        doc="dataset name (`affectrl data list`) or byo:PATH",
        message="must be a name such as mosi",
    )
    name: str | None = setting(None, "run name: the folder under --runs-dir (default: file stem)")
    seed: int = setting(0, "set per run from --seeds (a value here is replaced)")
    features: dict[str, str] = setting(
        {},
        "extracted features per modality, e.g. {text: minilm} (`affectrl extract --help`); "
        "modalities not listed keep the dataset's own features",
        message="must map modalities to encoder names, e.g. {text: minilm}",
    )
    text_template: dict = component(
        TEMPLATES,
        "what the text encoder reads for each utterance: the utterance alone, with its speaker, "
        "or a window of the dialogue around it (options per template below; cached apart)",
    )
    modalities: list[str] | None = setting(
        None,
        "the modalities the model reads, in order (null: all the dataset has)",
        check=_distinct,
        message="must be a list of distinct modality names, e.g. [text] or [text, audio] "
        "(or null for all)",
    )
    standardize: bool | Literal["global", "speaker"] = setting(
        False,
        "z-score the features: true / global (the training split's mean and std per dimension) "
        "or speaker (each speaker's own utterances, all splits, no labels)",
    )
    noise: NoiseSettings = setting(NoiseSettings, "noise during training")
    model: ModelSettings = setting(ModelSettings, "the model")
    train: TrainSettings = setting(TrainSettings, "the training loop")
    agent: AgentTrainConfig = setting(AgentTrainConfig, "the fusion agent's RL stage")

    def check(self) -> None:
        build_template(self.text_template)  # its bounds (a window of -1 turns) are errors now
        if self.agent.train and self.model.fusion.get("name") != "agent":
            raise ValueError("`agent.train: true` needs `model.fusion.name: agent`")


# the sections merged into every resolved config (written to its config.yaml)
MERGED = ("features", "modalities", "standardize", "noise", "model", "train")


def defaults() -> dict[str, Any]:
    """The defaults a config is merged over (`resolve_config`)."""
    every = Settings.defaults()
    return {key: every[key] for key in MERGED}


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def config_reference() -> str:
    """docs/CONFIG.md: every setting with its type, default and meaning, then every part's
    options, all read from the settings classes and the parts' constructors."""
    out = [
        "# Run configs: every setting",
        "",
        "Generated from the settings classes (`affectrl/train/settings.py`,",
        "`affectrl/agents/fusion/settings.py`, `affectrl/agents/fusion/ppo.py`) and the",
        "constructors of the registered parts by `affectrl config --reference`; do not edit",
        "by hand. `resolve_config` checks every key and value against these before anything",
        "is trained: an unknown key, a wrong type or a value out of range is an error naming",
        "the setting. A config may extend another (`base: other.yaml`); `key.sub=value`",
        "overrides on the command line are parsed as YAML.",
        "",
        "## Settings",
        "",
    ]
    out += _table(("key", "type", "default", "meaning"), reference_rows(Settings))
    for title, registry in (
        ("Fusions (`model.fusion`)", FUSIONS),
        ("Context models (`model.context`)", CONTEXTS),
        ("Context graphs (`model.context.graph`, inside `cogmen`)", GRAPHS),
        ("Text templates (`text_template`)", TEMPLATES),
    ):
        out += ["", f"## {title}", ""]
        header = ("name", "option", "type", "default", "meaning")
        out += _table(header, component_rows(registry))
        if registry is FUSIONS:
            out += ["", f"`{LATE}`: one model per modality (the `concat` options), logits averaged"]
    return "\n".join(out) + "\n"

"""affectrl: multimodal emotion recognition in conversation with RL agents.

The public Python API (docs/API.md). Names are imported on first use, so `import affectrl` and
`affectrl --help` do not load torch::

    import affectrl

    summary = affectrl.fit(config_dict, seeds=[1], runs_dir="runs")
    model = affectrl.load_model("runs/<name>/seed-1")      # a TrainedModel
    table = model.predict("byo:new_dialogues")             # one row per utterance
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# public name -> module that defines it
_EXPORTS = {
    "fit": "affectrl.train.runs",
    "load_model": "affectrl.train.inference",
    "TrainedModel": "affectrl.train.inference",
    "transcripts_dataset": "affectrl.train.inference",
    "wav_dataset": "affectrl.train.inference",
    "write_predictions": "affectrl.train.inference",
    "load_config": "affectrl.config",
    "load_dataset": "affectrl.data.registry",
    "Dialogue": "affectrl.data.types",
    "DialogueDataset": "affectrl.data.types",
    "resolve_device": "affectrl.device",
}

__all__ = [
    "Dialogue",
    "DialogueDataset",
    "TrainedModel",
    "__version__",
    "fit",
    "load_config",
    "load_dataset",
    "load_model",
    "resolve_device",
    "transcripts_dataset",
    "wav_dataset",
    "write_predictions",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on demand
    from .config import load_config
    from .data.registry import load_dataset
    from .data.types import Dialogue, DialogueDataset
    from .device import resolve_device
    from .train.inference import (
        TrainedModel,
        load_model,
        transcripts_dataset,
        wav_dataset,
        write_predictions,
    )
    from .train.runs import fit


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

"""The declared contracts of the model's swappable parts, and the hooks the trainer calls on them.

`ERCModel` is fusion -> context model -> classifier; the fusion, the context model and the
context graph inside it are `Part`s. The trainer (`affectrl.train.Run`) knows no particular
part: it loops over `model.parts()` and calls the hooks each part declares, all no-ops by default.

    before_fit(model, fit)                          once the model is built, before the run's
                                                    folder exists and anything trains: checks
                                                    that need the data (the agent's grids
                                                    against the run's modalities)
    auxiliary_loss(logits, labels, utterance_mask)  a training objective of the part's own,
                                                    added to the classification loss (the RL
                                                    graph policies' REINFORCE loss)
    after_fit(model, fit) -> dict                   once the supervised epochs are done and the
                                                    weights chosen on dev are loaded: dev tuning
                                                    of fixed weights, the fusion agent's RL
                                                    stage; returns entries for metrics.json
    restore(run_dir)                                when a finished run is loaded: what the part
                                                    saved beside the weights (the agent's
                                                    quality estimator) and how it decides
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn


@dataclass
class FitContext:
    """What an `after_fit` hook may read: the resolved config, the dataset, the run's splits
    (`affectrl.train.data.Batches`, with the run's input transform), the run folder, the
    TensorBoard writer (or None), whether to show progress bars, and `train_run(config,
    run_dir, progress)`, which trains (or reuses) another resolved config in a folder and
    returns the loaded run (`affectrl.train.run_folder.train_run`; for hooks that need more
    models, passed in because parts sit below the training layer)."""

    config: dict[str, Any]
    dataset: Any
    splits: dict[str, Any]
    run_dir: Path
    writer: Any = None
    progress: bool = True
    train_run: Any = None


class Part(nn.Module):
    """A swappable part of the model, with the trainer's hooks (no-ops here)."""

    def auxiliary_loss(
        self, logits: torch.Tensor, labels: torch.Tensor, utterance_mask: torch.Tensor
    ) -> torch.Tensor | None:
        """An objective of the part's own for the last training forward, added to the loss
        (logits [N, C], labels [N], utterance_mask bool [B, T]); None: none."""
        return None

    def before_fit(self, model: nn.Module, fit: FitContext) -> None:
        """Called before training (and before the run folder exists); raise ValueError to
        refuse the run (fit.writer is None here)."""

    def after_fit(self, model: nn.Module, fit: FitContext) -> dict[str, Any]:
        """Called once the supervised epochs are done, with the weights chosen on dev loaded;
        returns entries to record in the run's metrics.json."""
        return {}

    def restore(self, run_dir: Path) -> None:
        """Called when a finished run's model is rebuilt (before its weights are loaded)."""

    def parts(self) -> list[Part]:
        """The parts inside this one (a context model's graph)."""
        return []


class FusionOutput(NamedTuple):
    """fused: [B, T, out_dim]; unimodal_logits: [B, T, M, C] or None; weights: [B, T, M] or None."""

    fused: torch.Tensor
    unimodal_logits: torch.Tensor | None = None
    weights: torch.Tensor | None = None


class Fusion(Part, ABC):
    """Per utterance, the modality features -> one vector of size `out_dim`.

    forward(features {modality: [B, T, D_m]}, modality_mask bool [B, T, M], weights [B, T, M] or
    None) -> FusionOutput. A missing modality (mask False) contributes nothing. `weights`, when
    given, are modality weights decided outside the fusion (an RL rollout, the oracle, equal
    weights) to use instead of its own; a fusion that weighs no modalities (`takes_weights`
    False) refuses them.
    """

    out_dim: int
    takes_weights: ClassVar[bool] = False

    @abstractmethod
    def forward(
        self,
        features: dict[str, torch.Tensor],
        modality_mask: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> FusionOutput: ...


class ContextModel(Part, ABC):
    """Per dialogue, the fused utterance vectors x [B, T, D] (utterance_mask [B, T], speakers
    [B, T]) -> contextual vectors [N, out_dim] of the N real utterances, in
    `DialogueBatch.flat` order."""

    out_dim: int
    uses_speakers: ClassVar[bool] = False  # built with the dataset's `num_speakers`

    @abstractmethod
    def forward(
        self, x: torch.Tensor, utterance_mask: torch.Tensor, speakers: torch.Tensor
    ) -> torch.Tensor: ...

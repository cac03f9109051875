"""Adding a fusion is one class plus its registration: a toy fusion defined and registered here,
checked by the config settings, trained one epoch, its hook called by the trainer, reloaded from
its run folder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from affectrl.models.fusion import FUSIONS
from affectrl.models.parts import FitContext, Fusion, FusionOutput
from affectrl.train import Run, load_run, resolve_config
from affectrl.train.settings import config_reference


class ToyFusion(Fusion):
    """Each present modality projected to `width`, summed.

    Args:
        width: size of the fused vector.
    """

    def __init__(self, dims: dict[str, int], num_classes: int, width: int = 8):
        super().__init__()
        self.project = nn.ModuleDict({m: nn.Linear(d, width) for m, d in dims.items()})
        self.out_dim = width

    def forward(self, features, modality_mask, weights=None) -> FusionOutput:
        if weights is not None:
            raise ValueError("the toy fusion takes no weights")
        fused = sum(
            self.project[m](features[m]) * modality_mask[..., i : i + 1]
            for i, m in enumerate(self.project)
        )
        return FusionOutput(fused)

    def after_fit(self, model: nn.Module, fit: FitContext) -> dict:
        return {"toy": {"width": self.out_dim, "dev_batches": len(fit.splits["dev"])}}


@pytest.fixture
def toy():
    FUSIONS.register("toy", ToyFusion)
    yield
    FUSIONS.unregister("toy")


def test_a_toy_fusion_registered_here_trains_one_epoch(toy, tiny_config, tmp_path):
    config = {**tiny_config, "model": {"fusion": {"name": "toy", "width": 12}}}
    config["train"] = {**config["train"], "epochs": 1}
    with pytest.raises(ValueError, match=r"model.fusion 'toy' does not take an option .*'widht'"):
        resolve_config({**config, "model": {"fusion": {"name": "toy", "widht": 3}}}, 1)
    with pytest.raises(ValueError, match="model.fusion.width must be an integer"):
        resolve_config({**config, "model": {"fusion": {"name": "toy", "width": "wide"}}}, 1)
    assert "| toy | width | int | 8 | size of the fused vector. |" in config_reference()
    metrics = Run(resolve_config(config, 1), tmp_path / "run", progress=False).train()
    assert metrics["epochs"] == 1 and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert metrics["toy"] == {"width": 12, "dev_batches": 1}  # the trainer called its hook
    run = load_run(tmp_path / "run")
    assert isinstance(run.model.fusion, ToyFusion) and run.model.fusion.out_dim == 12
    batch = run.splits["test"].in_order()[0]
    logits = run.logits(batch)
    assert logits.shape == (int(batch.utterance_mask.sum()), 2) and torch.isfinite(logits).all()

"""The fusion agent's RL stage inside an ordinary training run (`AgentFusion.after_fit`).

A config with `agent: {train: true}` and `model.fusion.name: agent` trains in three steps: the
supervised warm-up (the run's epochs), then — after the dev-tuned fixed weights are set — PPO
on the agent with the backbone frozen, optionally joint fine-tuning of the backbone under the
frozen policy (`agent.joint_iterations` > 0), then the run's metrics are computed with the
agent deciding. The quality estimator is saved as run_dir/quality.safetensors, the policy with
the model weights, and PPO diagnostics go to TensorBoard (run_dir/tb, tags agent/...). The
`agent:` settings are `AgentTrainConfig` (docs/CONFIG.md).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from .settings import AgentTrainConfig

QUALITY_FILE = "quality.safetensors"
CROSS_FIT_DIR = "cross_fit"  # the held-out copies of a run's backbone (agent.cross_fit)
DETECTOR_STEPS = 300  # the mismatch detector's training steps when the state reads it


def detector_steps(signals: str, override: int | None = None) -> int:
    """Training steps of the quality estimator's mismatch detector for a fusion agent whose
    state reads `signals`: `override` if given, else DETECTOR_STEPS for "full" (the only state
    that reads the detector) and 0 otherwise."""
    if override is not None:
        return int(override)
    return DETECTOR_STEPS if signals == "full" else 0


def check_agent_modalities(settings: AgentTrainConfig, modalities: list[str]) -> None:
    """Before training: the plot grid and the curriculum of a run's RL stage apply to the
    run's modalities (the names themselves are checked with the settings)."""
    from ...noise.protocols import get_curriculum, get_grid

    if not settings.train:
        return
    get_grid(settings.plot_grid).restricted(modalities)
    curriculum = get_curriculum(settings.curriculum) if settings.curriculum else None
    if curriculum and curriculum.modalities and not set(curriculum.modalities) & set(modalities):
        raise ValueError(
            f"agent.curriculum {curriculum.name!r} corrupts {list(curriculum.modalities)}; "
            f"the run's modalities are {modalities}"
        )


def rollout_batches(train_batches, batch_size: int | None):
    """The training split in batches of `batch_size` dialogues (`agent.batch_size`) for the RL
    stage, on the run's transform and speaker numbering; None: the run's own `train_batches`."""
    if batch_size is None:
        return train_batches
    return train_batches.with_batch_size(batch_size)


def cross_fitted(
    config: dict,
    run_dir: Path,
    blocks: int,
    steps: int,
    batch_size: int | None,
    train_run,
    progress: bool = False,
) -> list[tuple]:
    """The held-out copies of a run's backbone for `agent.cross_fit`: for each of `blocks`
    blocks of the training groups, the run's config trained by `train_run(config, folder,
    progress)` (`affectrl.train.run_folder.train_run`: resumable) in
    run_dir/CROSS_FIT_DIR/holdout-<j> with that block held out (`train.holdout`) and no RL
    stage, with its own quality estimator (`steps` detector steps) -> (model, `Batches` of
    its held-out clips, `batch_size` dialogues each) per block."""
    from .quality import QualityEstimator

    out = []
    for j in range(1, blocks + 1):
        cfg = copy.deepcopy(config)
        cfg["agent"] = {**(cfg.get("agent") or {}), "train": False}
        cfg["train"] = {**cfg["train"], "holdout": {"folds": blocks, "fold": j}}
        run = train_run(cfg, Path(run_dir) / CROSS_FIT_DIR / f"holdout-{j}", progress=progress)
        held = rollout_batches(run.splits["test"], batch_size)
        quality = QualityEstimator.fit(run.dataset, steps=steps, transform=held.transform)
        run.model.fusion.use_quality(quality)
        out.append((run.model, held))
    return out


def run_agent_stage(
    model,
    ds,
    train_batches,
    settings: AgentTrainConfig,
    run_dir: Path,
    writer=None,
    progress: bool = True,
    config: dict | None = None,
    train_run=None,
) -> dict:
    """Fit the quality estimator, train the policy by PPO (with `agent.cross_fit`, on the
    held-out copies of `cross_fitted`, which need the run's resolved `config` and
    `train_run`), then (joint_iterations > 0) fine-tune the backbone under it; leaves the
    fusion in policy mode. Returns the stage's metrics. The weight plots include the grid's
    raw-level cells when `config` extracts features (`run_raw_cell_batches`)."""
    from ...noise.grid import run_raw_cell_batches
    from .plots import write_fusion_plots
    from .quality import QualityEstimator
    from .trainer import fine_tune_jointly, train_fusion_agent

    train_batches = rollout_batches(train_batches, settings.batch_size)
    steps = detector_steps(model.fusion.signals, settings.quality_steps)
    # on the scale the model reads (the run's standardisation, if any), as the curriculum
    quality = QualityEstimator.fit(ds, steps=steps, transform=train_batches.transform)
    quality.save(run_dir / QUALITY_FILE)
    model.fusion.use_quality(quality)
    stats = train_batches.noise_stats()  # the curriculum corrupts before the transform
    held_out = None
    if settings.cross_fit:
        if config is None or train_run is None:
            raise ValueError("agent.cross_fit needs the run's config and trainer for its copies")
        held_out = cross_fitted(
            config, run_dir, settings.cross_fit, steps, settings.batch_size, train_run
        )
    history = train_fusion_agent(
        model, train_batches, stats, settings, writer, progress, cross_fit=held_out
    )
    joint_losses = (
        fine_tune_jointly(model, train_batches, stats, settings, progress=progress)
        if settings.joint_iterations > 0
        else []
    )
    raw = run_raw_cell_batches(ds, "test", config) if config is not None else None
    write_fusion_plots(
        model, ds, run_dir, settings.plot_grid, transform=train_batches.transform, raw=raw
    )
    return {
        "iterations": len(history),
        "cross_fit": settings.cross_fit,
        "final_reward": history[-1]["reward"] if history else None,
        "joint_iterations": len(joint_losses),
        "state_channels": model.fusion.state_channels(),
    }


def restore_agent(fusion, run_dir: Path) -> None:
    """For a finished run: the agent decides, with its saved estimator (nothing to do for a run
    without an RL stage).

    The policy reads its state by position, so a run whose recorded state channels differ from
    this version's (or that recorded none: runs from before the signal-major layout) is refused
    rather than misread."""
    from .quality import QualityEstimator

    run_dir = Path(run_dir)
    path = run_dir / QUALITY_FILE
    if not path.is_file():
        return
    metrics = run_dir / "metrics.json"
    saved = json.loads(metrics.read_text()).get("agent", {}).get("state_channels")
    if saved != fusion.state_channels():
        raise ValueError(
            f"{metrics}: the fusion agent was trained on a different state layout "
            f"({saved or 'not recorded'}); retrain it (delete {run_dir})"
        )
    fusion.use_quality(QualityEstimator.load(path))
    fusion.set_mode("policy")

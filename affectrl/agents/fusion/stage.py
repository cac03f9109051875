"""The fusion agent's RL stage inside an ordinary training run.

A config with an `agent:` section and `model.fusion.name: agent` trains in three steps: the
supervised warm-up (the run's epochs), then — after the dev-tuned fixed weights are set — PPO
on the agent with the backbone frozen, optionally joint fine-tuning of the backbone under the
frozen policy (`joint_iterations` > 0), then the run's metrics are computed with the agent
deciding. The quality estimator is saved as run_dir/quality.safetensors, the policy with the
model weights, and PPO diagnostics go to TensorBoard (run_dir/tb, tags agent/...).

    agent:
      train: true
      iterations: 200                 # PPO updates, one batch of dialogues each
      batch_size: 16
      curriculum: curriculum-standard # or null for clean training
      reward: {alpha: 1.0, beta: 0.1, gamma: 0.1}
      joint_iterations: 0             # stage 3: backbone fine-tuning batches (0: off)
      joint_lr: 1.0e-4
      quality_steps: null             # the quality estimator's detector training steps;
                                      # null: 300 for model.fusion.signals "full", else 0
                                      # (the "fast" and "confidence" states do not read it)
      plot_grid: quick                # noise grid of the weight plots (plots.py)
"""

from __future__ import annotations

import json
from pathlib import Path

QUALITY_FILE = "quality.safetensors"
AGENT_DEFAULTS = {  # the `agent:` settings, as documented above
    "train": False,
    "iterations": 200,
    "batch_size": 16,
    "curriculum": "curriculum-standard",
    "reward": {},
    "joint_iterations": 0,
    "joint_lr": 1e-4,
    "quality_steps": None,
    "plot_grid": "quick",
}
DETECTOR_STEPS = 300  # the mismatch detector's training steps when the state reads it


def check_agent_settings(config: dict, modalities: list[str] | None = None) -> None:
    """The `agent:` settings a run will use, checked before any training (a misnamed curriculum
    or reward term must not surface after the warm-up): protocol names, reward terms, and with
    the run's `modalities` that the plot grid and curriculum apply to them."""
    from ...noise.protocols import get_curriculum, get_grid
    from .trainer import RewardConfig

    agent = {**AGENT_DEFAULTS, **(config.get("agent") or {})}
    if not agent["train"]:
        return
    reward = agent["reward"] or {}
    if not isinstance(reward, dict) or set(reward) - set(RewardConfig.__dataclass_fields__):
        raise ValueError(
            f"agent.reward must map some of {list(RewardConfig.__dataclass_fields__)} to "
            f"numbers, got {reward!r}"
        )
    grid = get_grid(agent["plot_grid"])
    curriculum = get_curriculum(agent["curriculum"]) if agent["curriculum"] else None
    if modalities is not None:
        grid.restricted(modalities)
        if (
            curriculum
            and curriculum.modalities
            and not set(curriculum.modalities) & set(modalities)
        ):
            raise ValueError(
                f"agent.curriculum {curriculum.name!r} corrupts {list(curriculum.modalities)}; "
                f"the run's modalities are {modalities}"
            )


def wants_agent_stage(config: dict, model) -> bool:
    from .model import AgentFusion

    agent = config.get("agent") or {}
    if not agent.get("train"):
        return False
    if not isinstance(getattr(model, "fusion", None), AgentFusion):
        raise ValueError("`agent.train: true` needs `model.fusion.name: agent`")
    return True


def run_agent_stage(
    model, ds, train_batches, config: dict, run_dir: Path, writer=None, progress: bool = True
) -> dict:
    """Fit the quality estimator, train the policy by PPO, then (joint_iterations > 0) fine-tune
    the backbone under it; leaves the fusion in policy mode."""
    from ...noise.grid import raw_cell_batches
    from .plots import write_fusion_plots
    from .quality import QualityEstimator
    from .trainer import (
        AgentTrainConfig,
        RewardConfig,
        fine_tune_jointly,
        train_fusion_agent,
    )

    agent = {**AGENT_DEFAULTS, **config["agent"]}
    steps = agent["quality_steps"]
    if steps is None:
        steps = DETECTOR_STEPS if model.fusion.signals == "full" else 0
    # on the scale the model reads (the run's standardisation, if any), as the curriculum
    quality = QualityEstimator.fit(ds, steps=int(steps), transform=train_batches.transform)
    quality.save(run_dir / QUALITY_FILE)
    model.fusion.use_quality(quality)
    settings = AgentTrainConfig(
        iterations=int(agent["iterations"]),
        batch_size=int(agent["batch_size"]),
        curriculum=agent["curriculum"],
        seed=int(config["seed"]),
        reward=RewardConfig(**agent["reward"]),
        joint_iterations=int(agent["joint_iterations"]),
        joint_lr=float(agent["joint_lr"]),
    )
    stats = train_batches.feature_stats()
    history = train_fusion_agent(
        model, train_batches, stats, settings, writer=writer, progress=progress
    )
    joint_losses = (
        fine_tune_jointly(model, train_batches, stats, settings, progress=progress)
        if settings.joint_iterations > 0
        else []
    )
    extracted = {m: e for m, e in (config.get("features") or {}).items() if e != "shipped"}
    raw = raw_cell_batches(ds, "test", extracted) if extracted else None
    write_fusion_plots(
        model, ds, run_dir, agent["plot_grid"], transform=train_batches.transform, raw=raw
    )
    return {
        "iterations": len(history),
        "final_reward": history[-1]["reward"] if history else None,
        "joint_iterations": len(joint_losses),
        "state_channels": model.fusion.state_channels(),
    }


def restore_agent(model, run_dir: Path) -> None:
    """After loading a finished run's weights: the agent decides, with its saved estimator.

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
    if saved != model.fusion.state_channels():
        raise ValueError(
            f"{metrics}: the fusion agent was trained on a different state layout "
            f"({saved or 'not recorded'}); retrain it (delete {run_dir})"
        )
    model.fusion.use_quality(QualityEstimator.load(path))
    model.fusion.set_mode("policy")

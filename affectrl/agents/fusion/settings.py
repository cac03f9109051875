"""The fusion agent's settings: the `agent:` section of a run config (docs/CONFIG.md)."""

from __future__ import annotations

from dataclasses import dataclass

from ...noise.protocols import get_curriculum, get_grid
from ...settings import Section, setting
from .ppo import PPOConfig

CLASSIFICATION_REWARDS = ("probability", "log_probability")


@dataclass
class RewardConfig(Section):
    """Weights of the reward terms (affectrl.agents.fusion.trainer)."""

    TITLE = "the reward of each utterance's decision"

    alpha: float = setting(1.0, "weight of the class-balanced probability of the gold class")
    beta: float = setting(0.1, "weight of the agreement of the weighted unimodal heads")
    gamma: float = setting(0.1, "weight of the penalty on weights jumping between utterances")
    classification: str = setting(
        "probability",
        "the classification term: `probability` (w_c[y] p(y), in [0, w_c[y]]) or "
        "`log_probability` (w_c[y] log p(y): the gradient gate's cross-entropy, which keeps "
        "paying for moving a confidently wrong fusion where p(y) is already near 0)",
        check=lambda v: v in CLASSIFICATION_REWARDS,
        message=f"must be one of {', '.join(CLASSIFICATION_REWARDS)}",
    )
    departure: float = setting(
        0.0,
        "weight of the penalty on departing from the prior weighting (half the L1 distance "
        "between the weights used and the fixed weights, in [0, 1]): the policy moves away "
        "from the dev-tuned fusion only where that pays more than this",
        min=0,
    )


@dataclass
class AgentTrainConfig(Section):
    """The fusion agent's training: PPO on the decider with the backbone frozen, then optional
    joint fine-tuning of the backbone under the trained policy (stage 3)."""

    TITLE = "the fusion agent's RL stage (needs `model.fusion.name: agent`)"

    train: bool = setting(
        False, "run the RL stage after the supervised warm-up (the run's epochs)"
    )
    iterations: int = setting(200, "PPO updates, one batch of dialogues each", min=1)
    batch_size: int | None = setting(
        None, "dialogues per PPO update (null: the run's train.batch_size)", min=1
    )
    samples: int = setting(
        1,
        "decisions drawn per utterance and update (K > 1: each draw's advantage is its reward "
        "minus the mean reward of the K - 1 other draws for the same utterance, a leave-one-out "
        "baseline; 1: reward minus the critic's value)",
        min=1,
    )
    curriculum: str | None = setting(
        "curriculum-standard",
        "noise curriculum of the PPO batches (`affectrl noise list`; null: clean batches)",
        check=get_curriculum,
    )
    reward: RewardConfig = setting(RewardConfig, "the reward's weights")
    cross_fit: int = setting(
        0,
        "cross-fitted rollouts: J >= 2 trains J more copies of the backbone, each with one of J "
        "blocks of the training speakers (`train.cv.group`) held out, and the deciders learn "
        "from each copy's states and rewards on its held-out clips, which look as unseen "
        "speakers do to the backbone (0: roll out on the training clips through the backbone)",
        check=lambda v: v == 0 or v >= 2,
        message="must be 0 (off) or a number of blocks >= 2",
    )
    joint_iterations: int = setting(
        0, "stage 3: backbone fine-tuning batches under the trained policy (0: off)", min=0
    )
    joint_lr: float = setting(1.0e-4, "stage 3: Adam learning rate of the backbone", min=0)
    quality_steps: int | None = setting(
        None,
        "training steps of the quality estimator's mismatch detector (null: 300 for "
        '`model.fusion.signals: full`, else 0, as the other states do not read it)',
        min=0,
    )
    plot_grid: str = setting(
        "quick",
        "noise grid of the fusion-weight plots written into the run folder",
        check=get_grid,
    )
    ppo: PPOConfig = setting(PPOConfig, "the PPO update")
    gate_lr: float = setting(1.0e-3, "Adam learning rate of the gradient-trained gate", yaml=False)
    seed: int = setting(0, "the run's seed", yaml=False)

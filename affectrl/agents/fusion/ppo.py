"""PPO for batched one-step decisions (a contextual bandit), CleanRL-style.

Why not Stable-Baselines3's PPO for training: our decision is made for every utterance of a
batch at once (thousands of one-step episodes per update), its reward couples neighbouring
utterances (the instability term), and the action lives on the simplex (a Dirichlet, which SB3
does not offer). `affectrl.agents.fusion.env` still exposes the same decision as a Gymnasium
environment so SB3's PPO can train a policy on it for comparison.

With one-step episodes the return is the reward, and the advantage is reward - value.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...settings import Section, setting
from .policy import DirichletPolicy


@dataclass
class PPOConfig(Section):
    """Hyper-parameters of the clipped PPO update."""

    TITLE = "the clipped PPO update of the fusion agent's policy"

    lr: float = setting(3e-4, "Adam learning rate", min=0)
    clip: float = setting(0.2, "ratio clip range epsilon", min=0)
    epochs: int = setting(4, "optimisation passes over each rollout", min=1)
    minibatch: int = setting(256, "decisions per minibatch", min=1)
    entropy_coef: float = setting(1e-3, "entropy bonus weight")
    value_coef: float = setting(0.5, "value loss weight", min=0)
    max_grad_norm: float = setting(0.5, "gradient clipping norm", min=0)
    target_kl: float | None = setting(
        0.05, "stop the passes over a rollout early above this approx KL (null: never)", min=0
    )


@dataclass
class Rollout:
    """N one-step decisions.

    Shapes: states [N, S], actions [N, A] (weights on the simplex [N, M], then keep bits [N, M]
    for a policy with a drop head), log_probs, values, rewards [N]; baselines [N] or None: what
    the advantage subtracts from the reward (None: the critic's values).
    """

    states: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    baselines: torch.Tensor | None = None


@torch.no_grad()
def act(
    policy: DirichletPolicy, states: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample actions [N, A] (weights on the simplex, then any keep bits) with their log-probs
    [N] and values [N]."""
    dist = policy.distribution(states)
    actions = dist.sample()
    return actions, dist.log_prob(actions), policy.value(states)


def ppo_update(
    policy: DirichletPolicy,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    config: PPOConfig,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Clipped-surrogate PPO passes over one rollout; returns diagnostics averaged over minibatches:
    policy_loss, value_loss, entropy, approx_kl, clip_fraction."""
    baselines = rollout.values if rollout.baselines is None else rollout.baselines
    advantages = rollout.rewards - baselines
    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    n = len(rollout.rewards)
    stats = {k: 0.0 for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")}
    steps = 0
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        kls = []
        for start in range(0, n, config.minibatch):
            idx = order[start : start + config.minibatch]
            dist = policy.distribution(rollout.states[idx])
            log_ratio = dist.log_prob(rollout.actions[idx]) - rollout.log_probs[idx]
            ratio = log_ratio.exp()
            adv = advantages[idx]
            policy_loss = -torch.min(
                ratio * adv, ratio.clamp(1 - config.clip, 1 + config.clip) * adv
            ).mean()
            value_loss = (policy.value(rollout.states[idx]) - rollout.rewards[idx]).pow(2).mean()
            entropy = dist.entropy().mean()
            loss = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
            optimizer.step()
            with torch.no_grad():
                approx_kl = ((ratio - 1) - log_ratio).mean().item()
                clipped = ((ratio - 1).abs() > config.clip).float().mean().item()
            kls.append(approx_kl)
            for key, value in zip(
                stats,
                (policy_loss.item(), value_loss.item(), entropy.item(), approx_kl, clipped),
                strict=True,
            ):
                stats[key] += value
            steps += 1
        if config.target_kl is not None and sum(kls) / len(kls) > config.target_kl:
            break
    return {k: v / max(steps, 1) for k, v in stats.items()}

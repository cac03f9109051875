"""The hand-written PPO solves a known contextual bandit on the simplex."""

from __future__ import annotations

import torch

from affectrl.rl.policy import DirichletPolicy
from affectrl.rl.ppo import PPOConfig, Rollout, act, ppo_update


def _bandit(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Context = one-hot of the 'reliable' arm among 3 (plus noise); reward = weight on it."""
    arm = torch.randint(0, 3, (n,), generator=generator)
    states = torch.nn.functional.one_hot(arm, 3).float()
    states = states + 0.1 * torch.randn(n, 3, generator=generator)
    return states, arm


def test_ppo_learns_to_weight_the_reliable_modality():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    policy = DirichletPolicy(state_dim=3, num_actions=3, hidden=32)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    config = PPOConfig(epochs=4, minibatch=256, target_kl=None)
    states, arm = _bandit(512, gen)
    start = policy.mean_action(states).gather(1, arm[:, None]).mean().item()
    assert abs(start - 1 / 3) < 0.05  # starts near uniform weights
    for _ in range(25):
        states, arm = _bandit(512, gen)
        actions, log_probs, values = act(policy, states)
        rewards = actions.gather(1, arm[:, None]).squeeze(1)
        stats = ppo_update(
            policy, optimizer, Rollout(states, actions, log_probs, values, rewards), config, gen
        )
    states, arm = _bandit(512, gen)
    learned = policy.mean_action(states).gather(1, arm[:, None]).mean().item()
    assert learned > 0.8, learned
    assert set(stats) == {"policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction"}
    assert 0.0 <= stats["clip_fraction"] <= 1.0


def test_mean_action_is_on_the_simplex():
    policy = DirichletPolicy(state_dim=5, num_actions=3)
    w = policy.mean_action(torch.randn(7, 5))
    assert w.shape == (7, 3)
    assert torch.allclose(w.sum(-1), torch.ones(7))
    assert (w > 0).all()


def test_policy_tanh_matches_torch_tanh():
    from affectrl.rl.policy import Tanh

    x = torch.linspace(-20, 20, 2001)
    assert torch.allclose(Tanh()(x), torch.tanh(x), atol=1e-6)

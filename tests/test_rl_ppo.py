"""The hand-written PPO solves a known contextual bandit on the simplex."""

from __future__ import annotations

import torch

from affectrl.agents.fusion.policy import DirichletPolicy
from affectrl.agents.fusion.ppo import PPOConfig, Rollout, act, ppo_update


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


def test_inference_actor_folds_tanh_exactly_and_follows_updates():
    torch.manual_seed(0)
    policy = DirichletPolicy(state_dim=5, num_actions=3)
    for layer in policy.actor:  # large weights, so the activations leave tanh's linear range
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.normal_(layer.weight)
            torch.nn.init.normal_(layer.bias)
    states = torch.randn(2, 7, 5)  # any leading dimensions
    with torch.no_grad():
        folded = policy.preference(states)
    assert torch.allclose(folded, policy.concentration(states), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        policy.actor[2].weight.mul_(-1.0)  # an in-place update (an optimizer step, a load)
        updated = policy.preference(states)
    assert not torch.allclose(updated, folded, atol=1e-2)
    assert torch.allclose(updated, policy.concentration(states), rtol=1e-5, atol=1e-5)


def test_drop_head_learns_to_drop_the_noisy_arm():
    """Reward = 1 - the (renormalised) weight on the noisy arm: with the drop head the policy
    learns to drop it, which the Dirichlet mean alone can only approach."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    policy = DirichletPolicy(state_dim=3, num_actions=3, hidden=32, drop=True)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
    config = PPOConfig(epochs=4, minibatch=256, target_kl=None)
    for _ in range(30):
        states, noisy = _bandit(512, gen)
        actions, log_probs, values = act(policy, states)
        assert actions.shape == (512, 6) and set(actions[:, 3:].unique().tolist()) <= {0.0, 1.0}
        weights = policy.decision(actions)
        weights = weights / weights.sum(-1, keepdim=True)
        rewards = 1 - weights.gather(1, noisy[:, None]).squeeze(1)
        ppo_update(policy, optimizer, Rollout(states, actions, log_probs, values, rewards), config)
    states, noisy = _bandit(512, gen)
    with torch.no_grad():
        on_noisy = policy.mean_action(states).gather(1, noisy[:, None])
    assert on_noisy.median() < 1e-3, on_noisy.median()


def test_drop_decision_scales_dropped_weights_and_keeps_a_fallback():
    policy = DirichletPolicy(state_dim=4, num_actions=3, drop=True)
    actions = torch.tensor([[0.5, 0.3, 0.2, 1.0, 0.0, 1.0], [0.5, 0.3, 0.2, 0.0, 0.0, 0.0]])
    w = policy.decision(actions)
    assert torch.allclose(w[0], torch.tensor([0.5, 0.3e-6, 0.2]))
    # every modality dropped: the renormalised weights are the Dirichlet sample's
    assert torch.allclose(w[1] / w[1].sum(), torch.tensor([0.5, 0.3, 0.2]))
    dist = policy.distribution(torch.randn(2, 4))
    assert dist.log_prob(actions).shape == (2,) and torch.isfinite(dist.log_prob(actions)).all()
    assert dist.entropy().shape == (2,)
    # untrained: keeps every modality, so the mean is the plain Dirichlet mean
    states = torch.randn(5, 4)
    plain = policy.concentration(states)
    assert torch.allclose(policy.mean_action(states), plain / plain.sum(-1, keepdim=True))

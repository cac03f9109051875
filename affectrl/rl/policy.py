"""Policies over the probability simplex, for per-utterance modality weights.

A Dirichlet policy is the natural choice for weights that must be non-negative and sum to one:
its mean alpha / sum(alpha) is the deterministic action at inference, and its concentration
sum(alpha) expresses how sure the policy is.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Dirichlet


class Tanh(nn.Module):
    """tanh(x) computed as 2 sigmoid(2x) - 1 (equal to within 2e-7): torch's CPU tanh is
    several times slower than its sigmoid here, and the policy runs on every utterance at
    inference, where its cost is measured against the model it sits in."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(2 * x) * 2 - 1


class DirichletPolicy(nn.Module):
    """Actor-critic: state [N, S] -> Dirichlet(alpha [N, M]) over weights, and a value [N].

    alpha = softplus(MLP(state)) + min_concentration, so alpha > 0 and the density is finite.
    """

    def __init__(
        self,
        state_dim: int,
        num_actions: int,
        hidden: int = 64,
        min_concentration: float = 1.0,
    ):
        super().__init__()
        self.min_concentration = min_concentration
        self.actor = nn.Sequential(
            nn.Linear(state_dim, hidden),
            Tanh(),
            nn.Linear(hidden, hidden),
            Tanh(),
            nn.Linear(hidden, num_actions),
        )
        self.critic = nn.Sequential(nn.Linear(state_dim, hidden), Tanh(), nn.Linear(hidden, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in (*self.actor, *self.critic):
            if isinstance(module, nn.Linear):
                nn.init.orthogonal_(module.weight, gain=2**0.5)
                nn.init.zeros_(module.bias)
        # Small last layers: the initial policy is close to uniform weights.
        nn.init.orthogonal_(self.actor[-1].weight, gain=0.01)
        nn.init.orthogonal_(self.critic[-1].weight, gain=1.0)

    def concentration(self, state: torch.Tensor) -> torch.Tensor:
        """alpha [N, M] > 0."""
        return nn.functional.softplus(self.actor(state)) + self.min_concentration

    def distribution(self, state: torch.Tensor) -> Dirichlet:
        return Dirichlet(self.concentration(state))

    def value(self, state: torch.Tensor) -> torch.Tensor:
        return self.critic(state).squeeze(-1)

    def mean_action(self, state: torch.Tensor) -> torch.Tensor:
        """Deterministic weights [N, M] (the Dirichlet mean), used at inference; computed
        directly, without building the distribution (its argument checks cost more than the
        MLP)."""
        alpha = self.concentration(state)
        return alpha / alpha.sum(-1, keepdim=True)

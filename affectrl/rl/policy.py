"""Policies over the probability simplex, for per-utterance modality weights.

A Dirichlet policy is the natural choice for weights that must be non-negative and sum to one:
its mean alpha / sum(alpha) is the deterministic action at inference, and its concentration
sum(alpha) expresses how sure the policy is.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Dirichlet


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
        self._folded: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._folded_key: tuple = ()
        self.actor = nn.Sequential(
            nn.Linear(state_dim, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, num_actions),
        )
        self.critic = nn.Sequential(nn.Linear(state_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
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
        """Deterministic weights [N, M] (the Dirichlet mean), used at inference."""
        alpha = self.preference(state)
        return alpha / alpha.sum(-1, keepdim=True)

    def preference(self, state: torch.Tensor) -> torch.Tensor:
        """alpha [N, M], proportional to `mean_action`: for callers that renormalise anyway.

        Computed directly, without building the distribution (its argument checks cost more
        than the MLP); without autograd the actor runs with its activations folded into its
        weights (`_folded_actor`)."""
        if torch.is_grad_enabled():
            return self.concentration(state)
        h = state
        *hidden, last = self._folded_actor()
        for weight, bias in hidden:
            h = nn.functional.linear(h, weight, bias).sigmoid_()
        return nn.functional.softplus(nn.functional.linear(h, *last)) + self.min_concentration

    def _folded_actor(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The actor's linear layers as (W, b) with tanh(z) = 2 sigmoid(2z) - 1 folded in, so
        the actor is addmm/sigmoid only: a layer followed by tanh is scaled by 2, and a layer
        reading 2h - 1 takes W' = 2W, b' = b - W 1. Exact up to rounding; recomputed whenever a
        parameter changes (PyTorch counts in-place updates in `_version`). This halves the
        policy's op count at inference, where its fixed per-op cost is most of what it adds to a
        small model's forward."""
        key = tuple((id(p), p._version) for p in self.actor.parameters())
        if key != self._folded_key:
            linears = [m for m in self.actor if isinstance(m, nn.Linear)]
            folded = []
            with torch.no_grad():
                for i, layer in enumerate(linears):
                    weight, bias = layer.weight, layer.bias
                    if i > 0:
                        weight, bias = 2 * weight, bias - weight.sum(1)
                    if i < len(linears) - 1:
                        weight, bias = 2 * weight, 2 * bias
                    folded.append((weight.clone(), bias.clone()))
            self._folded, self._folded_key = folded, key
        return self._folded

"""Policies over the probability simplex, for per-utterance modality weights.

A Dirichlet policy is the natural choice for weights that must be non-negative and sum to one:
its mean alpha / sum(alpha) is the deterministic action at inference, and its concentration
sum(alpha) expresses how sure the policy is. Its mean cannot put less than
min_concentration / sum(alpha) on a modality, so the optional drop head adds one Bernoulli
"keep" decision per modality: a dropped modality's weight is scaled by DROP_SCALE (in effect 0,
yet where every present modality is dropped the renormalised weights stay those of the
Dirichlet).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Bernoulli, Dirichlet

DROP_SCALE = 1e-6


class WeightDistribution:
    """Dirichlet(alpha) over weights [N, M], times independent Bernoulli(keep) bits when
    `keep_logits` [N, M] is given; actions are the weights, then the bits: [N, M] or [N, 2M]."""

    def __init__(self, alpha: torch.Tensor, keep_logits: torch.Tensor | None = None):
        self.dirichlet = Dirichlet(alpha)
        self.keep = None if keep_logits is None else Bernoulli(logits=keep_logits)
        self.num_weights = alpha.shape[-1]

    def sample(self) -> torch.Tensor:
        weights = self.dirichlet.sample().clamp_min(1e-6)  # finite log-density at the border
        weights = weights / weights.sum(-1, keepdim=True)
        if self.keep is None:
            return weights
        return torch.cat([weights, self.keep.sample()], -1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """[N]"""
        log_prob = self.dirichlet.log_prob(actions[..., : self.num_weights])
        if self.keep is not None:
            log_prob = log_prob + self.keep.log_prob(actions[..., self.num_weights :]).sum(-1)
        return log_prob

    def entropy(self) -> torch.Tensor:
        """[N]"""
        entropy = self.dirichlet.entropy()
        if self.keep is not None:
            entropy = entropy + self.keep.entropy().sum(-1)
        return entropy


class DirichletPolicy(nn.Module):
    """Actor-critic: state [N, S] -> Dirichlet(alpha [N, M]) over weights (with `drop`, also
    keep probabilities [N, M]), and a value [N].

    alpha = softplus(MLP(state)) + min_concentration, so alpha > 0 and the density is finite.
    """

    def __init__(
        self,
        state_dim: int,
        num_actions: int,
        hidden: int = 64,
        min_concentration: float = 1.0,
        drop: bool = False,
    ):
        super().__init__()
        self.min_concentration = min_concentration
        self.num_actions, self.drop = num_actions, drop
        self._folded: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._folded_key: tuple = ()
        self.actor = nn.Sequential(
            nn.Linear(state_dim, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, num_actions * (2 if drop else 1)),  # alpha logits, keep logits
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
        if self.drop:  # and starts keeping every modality (keep probability ~0.95)
            nn.init.constant_(self.actor[-1].bias[self.num_actions :], 3.0)
        nn.init.orthogonal_(self.critic[-1].weight, gain=1.0)

    def concentration(self, state: torch.Tensor) -> torch.Tensor:
        """alpha [N, M] > 0."""
        return self._alpha(self.actor(state)[..., : self.num_actions])

    def _alpha(self, logits: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(logits) + self.min_concentration

    def distribution(self, state: torch.Tensor) -> WeightDistribution:
        out = self.actor(state)
        keep = out[..., self.num_actions :] if self.drop else None
        return WeightDistribution(self._alpha(out[..., : self.num_actions]), keep)

    def decision(self, actions: torch.Tensor) -> torch.Tensor:
        """Sampled actions [N, M] or [N, 2M] -> weights [N, M] (dropped ones x DROP_SCALE; not
        renormalised)."""
        if not self.drop:
            return actions
        weights, keep = actions.split(self.num_actions, -1)
        return _apply_drop(weights, keep > 0.5)

    def value(self, state: torch.Tensor) -> torch.Tensor:
        return self.critic(state).squeeze(-1)

    def mean_action(self, state: torch.Tensor) -> torch.Tensor:
        """Deterministic weights [N, M] (the Dirichlet mean; with `drop`, modalities whose keep
        probability is below 1/2 scaled by DROP_SCALE, then renormalised), used at inference."""
        alpha = self.preference(state)
        return alpha / alpha.sum(-1, keepdim=True)

    def preference(self, state: torch.Tensor) -> torch.Tensor:
        """alpha [N, M] (x DROP_SCALE where dropped), proportional to `mean_action`: for callers
        that renormalise anyway.

        Computed directly, without building the distribution (its argument checks cost more
        than the MLP); without autograd the actor runs with its activations folded into its
        weights (`_folded_actor`)."""
        if torch.is_grad_enabled():
            out = self.actor(state)
        else:
            h = state
            *hidden, last = self._folded_actor()
            for weight, bias in hidden:
                h = nn.functional.linear(h, weight, bias).sigmoid_()
            out = nn.functional.linear(h, *last)
        alpha = self._alpha(out[..., : self.num_actions])
        if not self.drop:
            return alpha
        return _apply_drop(alpha, out[..., self.num_actions :] > 0)

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


def _apply_drop(weights: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """weights [N, M] with the dropped ones (keep [N, M] False) scaled by DROP_SCALE."""
    return weights * torch.where(keep, 1.0, DROP_SCALE)

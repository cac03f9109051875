"""Learned context graphs (issues #6, #20): which utterances exchange messages, per dialogue.

All of them are `ContextGraph`s, so they sit inside `COGMENContext` after any fusion:

- `WindowSelectorGraph` (RL step 1): per target utterance a policy picks the window from
  {3, 5, 7, whole dialogue}; edges are COGMEN's (relation types included) within that window.
- `EdgeScorerGraph` (RL step 2 and the gradient-only baseline): every candidate edge s -> t with
  |s - t| <= max_range gets a score (a logit) from a small network over both utterance vectors,
  their cosine similarity, the distance, the direction and whether the speaker is the same.
  Modes:
    * ``soft``: every candidate kept, weighted by its probability p = sigmoid(score); learned by
      the task gradient plus a differentiable sparsity penalty (mean probability). No RL: the
      "gradient-learned soft adjacency" baseline, in the spirit of GASMER's learned graph.
    * ``rl_hard``: edges sampled and used unweighted; the scorer is a policy trained by RL on
      the dialogue reward.
    * ``rl_soft``: edges sampled as in ``rl_hard`` but each kept edge is weighted by its p, so the
      scorer gets both the policy gradient (which edges) and the task gradient (how much).
  Without a budget each candidate is kept ~ Bernoulli(p) (evaluation: p > 0.5). With
  ``budget`` f, each dialogue keeps exactly floor(f * E_ref) edges, E_ref the edge count of the
  fixed window graph ``budget_window`` (COGMEN's 5/5 by default) over the same dialogue, self
  loops included: the self-loops plus the highest-scoring candidates. In training each candidate
  is kept ~ Bernoulli(q), q = sigmoid(score + c_d), with the dialogue's shift c_d (found by
  bisection, not differentiated) making the expected count exactly the budget; evaluation keeps
  the top scores, so the test graph has exactly the budget. Kept edges are weighted by q. (A
  Plackett-Luce policy sampling exactly k edges did not learn: the score function of the order
  of ~100 draws per dialogue drowns the signal; tests/test_graph_agent.py has the toy task.)
  So f = 1.0 is "as many edges as COGMEN, chosen", and one setting sweeps the F1-vs-edges curve.

The RL graphs are `PolicyGraph`s: their forward records the log-probability of the sampled
actions per credit unit (a dialogue, or for the window selector a target utterance) and how
sparse the choice was; `auxiliary_loss`, which `ERCModel.loss` adds for every sub-module that
has one, turns the classifier's predictions into the reward

    dialogue credit:  reward(d) = weighted F1 of d's predictions + sparsity_weight * sparsity(d),
                      sparsity = 1 - kept edges / edges of the whole-dialogue graph;
    utterance credit: reward(t) = log p(gold label of t) + sparsity_weight * (1 - in-edges / T),

and trains the policy with it. `algorithm: reinforce` (default) returns the REINFORCE loss
-(reward - baseline) * log pi(actions) (exponential moving average baseline, advantages scaled by
the batch std) minus an entropy bonus; with `policy_lr` set, the trainer's optimizer updates
the policy's parameters at that rate (`affectrl.train.trainer.parameter_groups`: at the
classifier's 1e-4, a policy that gets 4 updates per IEMOCAP epoch barely moves from its
initialisation). `algorithm: ppo` keeps the batch's actions, advantages and
log-probabilities as a rollout and, at the start of the next training forward (after the trainer's
backward, so no live autograd graph is touched), runs `ppo_epochs` steps of PPO's clipped
surrogate (Schulman et al. 2017) on it with the graph's own Adam (`policy_lr`, default 1e-3);
that optimizer and the pending rollout are not part of the checkpoint. The policy reads detached
utterance vectors, so the policy gradient never reaches the encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter

from ...models.graph import ContextGraph, GraphEdges, WindowGraph

WHOLE = -1
PPO_LR = 1.0e-3  # the PPO optimizer's rate when the graph sets no policy_lr


def flat_layout(utterance_mask: torch.Tensor, speakers: torch.Tensor):
    """Per flat node: dialogue index, position, dialogue length, speaker (all int64 [N])."""
    b, pos = utterance_mask.nonzero(as_tuple=True)
    lengths = utterance_mask.sum(1)
    return b, pos, lengths[b], speakers[b, pos]


def dialogue_weighted_f1(
    pred: torch.Tensor, gold: torch.Tensor, dialogue: torch.Tensor, num_dialogues: int, classes: int
) -> torch.Tensor:
    """Weighted F1 of each dialogue: pred, gold, dialogue int64 [N] (gold < 0 ignored) -> [B].

    A dialogue without labelled utterances scores 0.
    """
    keep = gold >= 0
    g, p, d = gold[keep], pred[keep], dialogue[keep]
    size = num_dialogues * classes

    def counts(index):
        return torch.bincount(index, minlength=size).view(num_dialogues, classes).float()

    support, predicted = counts(d * classes + g), counts(d * classes + p)
    hits = counts((d * classes + g)[p == g])
    f1 = 2 * hits / (support + predicted).clamp_min(1)
    return (f1 * support).sum(1) / support.sum(1).clamp_min(1)


def gold_log_likelihood(logits: torch.Tensor, labels: torch.Tensor):
    """log p(gold) per utterance [N] (0 where unlabelled) and the labelled mask [N]."""
    valid = labels >= 0
    ll = F.log_softmax(logits, -1).gather(1, labels.clamp_min(0).unsqueeze(1)).squeeze(1)
    return torch.where(valid, ll, torch.zeros_like(ll)), valid


def segment_ranks(key: torch.Tensor, group: torch.Tensor, num_groups: int):
    """Sort items by group, then by key descending within the group.

    key float [M], group int64 [M] -> order [M] (item indices in that order), the group [M] and
    the rank within its group [M] of each item in that order.
    """
    order = torch.sort(key, descending=True, stable=True).indices
    order = order[torch.sort(group[order], stable=True).indices]
    sorted_group = group[order]
    counts = torch.bincount(sorted_group, minlength=num_groups)
    start = counts.cumsum(0) - counts
    rank = torch.arange(len(order), device=key.device) - start[sorted_group]
    return order, sorted_group, rank


def budget_shift(logits: torch.Tensor, group: torch.Tensor, k: torch.Tensor, num_groups: int):
    """float [G]: per group the shift c with sum over its items of sigmoid(logit + c) = k[g]
    (bisection between -max(logits) - 30 and -min(logits) + 30, where every probability is ~0
    or ~1; k = 0 or k = the group's size end at those bounds)."""
    if not logits.numel():
        return logits.new_zeros(num_groups)
    lo = logits.new_full((num_groups,), -float(logits.max()) - 30.0)
    hi = logits.new_full((num_groups,), -float(logits.min()) + 30.0)
    target = k.to(logits.dtype)
    for _ in range(50):
        mid = (lo + hi) / 2
        total = logits.new_zeros(num_groups).index_add(0, group, torch.sigmoid(logits + mid[group]))
        below = total < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return (lo + hi) / 2


class PolicyGraph(ContextGraph):
    """A context graph whose edge choices are actions trained by RL (see module doc).

    Subclasses call `record(log_prob, sparsity, entropy, replay, credit)` in training forward and
    start it with `ppo_update()`.

    Args:
        sparsity_weight: reward weight of the graph's sparsity (the share of the whole-dialogue
            graph's edges left out).
        entropy_weight: weight of the policy's entropy bonus.
        pg_weight: weight of the policy-gradient loss.
        baseline_momentum: momentum of the moving-average reward baseline.
        normalize_advantage: divide the advantages by their batch std.
        algorithm: `reinforce` (the loss added to the model's) or `ppo` (clipped-surrogate
            steps on the last batch's rollout, with the graph's own optimizer).
        ppo_epochs: PPO steps per rollout.
        ppo_clip: PPO's ratio clip range.
        policy_lr: learning rate of the policy's parameters (null: the run's train.lr; for
            PPO, 1e-3).
    """

    ALGORITHMS = ("reinforce", "ppo")

    def __init__(
        self,
        sparsity_weight: float = 0.05,
        entropy_weight: float = 0.01,
        pg_weight: float = 1.0,
        baseline_momentum: float = 0.9,
        normalize_advantage: bool = True,
        algorithm: Literal["reinforce", "ppo"] = "reinforce",
        ppo_epochs: int = 4,
        ppo_clip: float = 0.2,
        policy_lr: float | None = None,
    ):
        if algorithm not in self.ALGORITHMS:
            raise ValueError(f"unknown policy algorithm {algorithm!r}; known: {self.ALGORITHMS}")
        super().__init__()
        self.sparsity_weight, self.entropy_weight = sparsity_weight, entropy_weight
        self.pg_weight, self.baseline_momentum = pg_weight, baseline_momentum
        self.normalize_advantage = normalize_advantage
        self.algorithm, self.ppo_epochs, self.ppo_clip = algorithm, ppo_epochs, ppo_clip
        self.policy_lr = policy_lr
        self.register_buffer("baseline", torch.zeros(()))
        self.register_buffer("baseline_ready", torch.zeros((), dtype=torch.bool))
        self._episode: dict | None = None
        self._rollout: dict | None = None
        self._ppo_optimizer: torch.optim.Optimizer | None = None

    def record(
        self,
        log_prob: torch.Tensor,
        sparsity: torch.Tensor,
        entropy: torch.Tensor,
        replay: Callable[[], tuple[torch.Tensor, torch.Tensor]],
        credit: str = "dialogue",
    ) -> None:
        """log_prob [U]: log-probability of the sampled actions per credit unit (U = B dialogues,
        or N target utterances for credit 'utterance'); sparsity [U] in [0, 1]; entropy: scalar
        mean policy entropy; replay() -> (log_prob [U], entropy) recomputed under the current
        parameters for the same (detached) state and actions (PPO)."""
        if self.training and torch.is_grad_enabled():
            self._episode = {
                "log_prob": log_prob,
                "sparsity": sparsity,
                "entropy": entropy,
                "replay": replay,
                "credit": credit,
            }

    def reward(self, episode: dict, logits, labels, utterance_mask):
        """(reward [U], valid [U] bool): see the module doc for both credits."""
        bonus = self.sparsity_weight * episode["sparsity"]
        if episode["credit"] == "utterance":
            ll, valid = gold_log_likelihood(logits, labels)
            return ll + bonus, valid
        dialogue = utterance_mask.nonzero(as_tuple=True)[0]
        num = episode["sparsity"].shape[0]
        wf1 = dialogue_weighted_f1(logits.argmax(-1), labels, dialogue, num, logits.shape[1])
        return wf1 + bonus, torch.ones_like(wf1, dtype=torch.bool)

    def advantage(self, reward: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """reward - EMA baseline (updated here), scaled by the batch std; 0 where not valid."""
        mean = reward[valid].mean() if valid.any() else reward.new_zeros(())
        if not bool(self.baseline_ready):
            self.baseline.fill_(float(mean))
            self.baseline_ready.fill_(True)
        advantage = reward - self.baseline
        if self.normalize_advantage and int(valid.sum()) > 1:
            advantage = advantage / advantage[valid].std().clamp_min(1e-3)
        m = self.baseline_momentum
        self.baseline.mul_(m).add_((1 - m) * mean)
        return torch.where(valid, advantage, torch.zeros_like(advantage)).detach()

    def auxiliary_loss(self, logits, labels, utterance_mask) -> torch.Tensor:
        """The policy loss for the last training forward (0 outside training; 0 for PPO, which
        keeps the rollout for `ppo_update`)."""
        episode, self._episode = self._episode, None
        if episode is None:
            return logits.new_zeros(())
        reward, valid = self.reward(episode, logits.detach(), labels, utterance_mask)
        advantage = self.advantage(reward, valid)
        if not valid.any():
            return logits.new_zeros(())
        if self.algorithm == "ppo":
            old = episode["log_prob"].detach()
            self._rollout = {"replay": episode["replay"], "old": old, "advantage": advantage}
            self._rollout["valid"] = valid
            return logits.new_zeros(())
        pg = -(advantage * episode["log_prob"])[valid].mean()
        return self.pg_weight * pg - self.entropy_weight * episode["entropy"]

    def ppo_update(self) -> None:
        """PPO on the previous training batch's rollout (no-op without one): `ppo_epochs` Adam
        steps on -(clipped surrogate) - entropy_weight * entropy, over this graph's parameters.
        The trainer's gradients are left as they were."""
        rollout, self._rollout = self._rollout, None
        if rollout is None or not self.training:
            return
        params = [p for p in self.parameters() if p.requires_grad]
        if self._ppo_optimizer is None:
            self._ppo_optimizer = torch.optim.Adam(params, lr=self.policy_lr or PPO_LR)
        advantage, valid, clip = rollout["advantage"], rollout["valid"], self.ppo_clip
        with torch.enable_grad():
            for _ in range(self.ppo_epochs):
                log_prob, entropy = rollout["replay"]()
                ratio = (log_prob - rollout["old"]).clamp(max=20).exp()
                surrogate = torch.minimum(
                    ratio * advantage, ratio.clamp(1 - clip, 1 + clip) * advantage
                )
                loss = -self.pg_weight * surrogate[valid].mean() - self.entropy_weight * entropy
                grads = torch.autograd.grad(loss, params, allow_unused=True)
                kept = [p.grad for p in params]
                for p, g in zip(params, grads, strict=True):
                    p.grad = g
                self._ppo_optimizer.step()
                for p, g in zip(params, kept, strict=True):
                    p.grad = g


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class WindowSelectorGraph(PolicyGraph):
    """Step 1: a policy picks each target utterance's window (past and future) from `windows`.

    State per utterance (all detached): its vector [H], the dialogue summary (mean and max of the
    dialogue's vectors, 2H, fixed size whatever the length), relative position t / (T - 1),
    log(1 + t), log(1 + T), speaker change from t - 1 (1 for the first utterance).
    Training samples windows; evaluation takes the most probable. The returned edges carry the
    chosen window per target utterance (`GraphEdges.window`, for the explain drawings) and the
    policy's probabilities (`GraphEdges.window_probs`).

    credit: ``utterance`` (default) rewards each window choice with its own target's gold
    log-likelihood and in-edge sparsity; ``dialogue`` gives every choice of a dialogue the
    dialogue's weighted F1 (issue #6's version: one noisy number for ~50 choices, see
    docs/GRAPH_AGENT.md on why it collapsed to one window).

    Args:
        windows: the windows to choose from, each on both sides of the target (-1: the whole
            dialogue).
        hidden: hidden size of the policy MLP.
        credit: `utterance` (each choice rewarded on its own target) or `dialogue` (on the
            dialogue's weighted F1).
    """

    uses_nodes = True
    CREDITS = ("utterance", "dialogue")

    def __init__(
        self,
        num_speakers: int,
        node_dim: int,
        windows: tuple[int, ...] = (3, 5, 7, WHOLE),
        hidden: int = 64,
        credit: Literal["utterance", "dialogue"] = "utterance",
        **policy,
    ):
        if credit not in self.CREDITS:
            raise ValueError(f"unknown window selector credit {credit!r}; known: {self.CREDITS}")
        super().__init__(**policy)
        self.num_speakers, self.windows = num_speakers, tuple(int(w) for w in windows)
        self.credit = credit
        self.full = WindowGraph(num_speakers, WHOLE, WHOLE)
        self.policy = _mlp(3 * node_dim + 4, hidden, len(self.windows))

    def state(self, utterance_mask, speakers, nodes) -> torch.Tensor:
        b, pos, length, spk = flat_layout(utterance_mask, speakers)
        x = nodes.detach()
        num = utterance_mask.shape[0]
        mean = scatter(x, b, 0, dim_size=num, reduce="mean")[b]
        top = scatter(x, b, 0, dim_size=num, reduce="max")[b]
        prev = speakers[b, (pos - 1).clamp_min(0)]
        change = ((prev != spk) | (pos == 0)).float()
        rel = pos.float() / (length - 1).clamp_min(1).float()
        scalars = torch.stack([rel, torch.log1p(pos.float()), torch.log1p(length.float()), change])
        return torch.cat([x, mean, top, scalars.T], 1)

    def forward(self, utterance_mask, speakers, nodes=None) -> GraphEdges:
        if nodes is None:
            raise ValueError("WindowSelectorGraph needs the utterance vectors (nodes)")
        self.ppo_update()
        state = self.state(utterance_mask, speakers, nodes)
        dist = torch.distributions.Categorical(logits=self.policy(state))
        action = dist.sample() if self.training else dist.probs.argmax(-1)
        edges = self.full(utterance_mask, speakers)
        b, pos, length, _ = flat_layout(utterance_mask, speakers)
        src, dst = edges.edge_index
        window = torch.tensor(self.windows, device=action.device)[action]
        limit = torch.where(window < 0, torch.iinfo(torch.long).max, window)[dst]
        keep = (pos[src] - pos[dst]).abs() <= limit
        if self.training and torch.is_grad_enabled():
            in_edges = torch.bincount(dst[keep], minlength=len(pos)).float()
            sparsity = 1 - in_edges / length.float()  # whole dialogue: T in-edges per target
            num = utterance_mask.shape[0]

            def per_unit(values):  # [N] per target -> per credit unit
                if self.credit == "utterance":
                    return values
                return values.new_zeros(num).index_add(0, b, values)

            def replay():
                d = torch.distributions.Categorical(logits=self.policy(state))
                return per_unit(d.log_prob(action)), d.entropy().mean()

            if self.credit == "dialogue":
                sparsity = 1 - per_unit(in_edges) / per_unit(length.float())
            self.record(
                per_unit(dist.log_prob(action)),
                sparsity,
                dist.entropy().mean(),
                replay,
                self.credit,
            )
        kept_edges = edges.edge_index[:, keep]
        return GraphEdges(
            kept_edges,
            edges.edge_type[keep],
            window=window.detach(),
            window_probs=dist.probs.detach(),
        )


class EdgeScorerGraph(PolicyGraph):
    """Step 2: a score per candidate edge within `max_range` (see module doc).

    Edge features: projections of both (detached) utterance vectors [2 * proj], their cosine
    similarity, |s - t| / max_range, direction (s < t) and same speaker. Self-loops are always
    kept with weight 1. budget: None (Bernoulli per edge) or the fraction f of the
    `budget_window` graph's edges each dialogue keeps (a top-k choice).

    Args:
        mode: `soft` (every candidate, weighted by its probability; gradient only), `rl_hard`
            (sampled, unweighted; RL), `rl_soft` (sampled, weighted; both).
        max_range: candidate edges join utterances at most this far apart.
        proj: size of the projected utterance vectors the scorer reads.
        hidden: hidden size of the scorer MLP.
        init_prob: the untrained scorer's edge probability (its output bias).
        budget: edges kept per dialogue as a fraction of the `budget_window` graph's (null: a
            Bernoulli choice per edge).
        budget_window: the fixed window whose edge count the budget is a fraction of.
    """

    uses_nodes = True
    MODES = ("soft", "rl_hard", "rl_soft")

    def __init__(
        self,
        num_speakers: int,
        node_dim: int,
        mode: Literal["soft", "rl_hard", "rl_soft"] = "rl_soft",
        max_range: int = 10,
        proj: int = 32,
        hidden: int = 64,
        init_prob: float = 0.7,
        budget: float | None = None,
        budget_window: int = 5,
        **policy,
    ):
        if mode not in self.MODES:
            raise ValueError(f"unknown edge scorer mode {mode!r}; known: {self.MODES}")
        if budget is not None and not budget > 0:
            raise ValueError(
                f"edge scorer budget must be > 0 (a fraction of the edges), got {budget}"
            )
        super().__init__(**policy)
        self.num_speakers, self.mode, self.max_range = num_speakers, mode, max_range
        self.budget, self.budget_window = budget, budget_window
        self.weighted = mode != "rl_hard"  # COGMENContext then uses weight-aware convolutions
        self.candidates = WindowGraph(num_speakers, max_range, max_range)
        self.project = nn.Linear(node_dim, proj)
        self.scorer = _mlp(2 * proj + 4, hidden, 1)
        # start near "keep": the untrained graph is close to COGMEN's window, not empty
        nn.init.constant_(self.scorer[-1].bias, float(torch.logit(torch.tensor(init_prob))))
        self._penalty: torch.Tensor | None = None

    def edge_logits(self, edge_index, pos, spk, nodes) -> torch.Tensor:
        """Score [E] of each edge (row 0 source, row 1 target) from detached node vectors."""
        src, dst = edge_index
        x = nodes.detach()
        h = self.project(x)
        cos = F.cosine_similarity(x[src], x[dst], dim=-1)
        dist = (pos[src] - pos[dst]).abs().float() / max(self.max_range, 1)
        feats = torch.stack(
            [cos, dist, (pos[src] < pos[dst]).float(), (spk[src] == spk[dst]).float()], 1
        )
        return self.scorer(torch.cat([h[src], h[dst], feats], 1)).squeeze(-1)

    def edge_probs(self, edges: GraphEdges, utterance_mask, speakers, nodes) -> torch.Tensor:
        """Connection probability [E] of each edge."""
        _, pos, _, spk = flat_layout(utterance_mask, speakers)
        return torch.sigmoid(self.edge_logits(edges.edge_index, pos, spk, nodes))

    def budget_counts(self, b, pos, length, num: int) -> torch.Tensor:
        """int64 [B]: candidate edges each dialogue keeps besides its self-loops,
        floor(budget * E_ref) - T with E_ref the `budget_window` graph's edges (loops included)."""
        w = self.budget_window
        per_target = pos.clamp(max=w) + (length - 1 - pos).clamp(max=w) + 1
        reference = torch.zeros(num, device=pos.device).index_add_(0, b, per_target.float())
        loops = torch.bincount(b, minlength=num)
        return (torch.floor(self.budget * reference + 1e-6).long() - loops).clamp_min(0)

    def forward(self, utterance_mask, speakers, nodes=None) -> GraphEdges:
        if nodes is None:
            raise ValueError("EdgeScorerGraph needs the utterance vectors (nodes)")
        self.ppo_update()
        edges = self.candidates(utterance_mask, speakers)
        src, dst = edges.edge_index
        loop = src == dst
        b, pos, length, spk = flat_layout(utterance_mask, speakers)
        nodes = nodes.detach()
        logits = self.edge_logits(edges.edge_index, pos, spk, nodes)
        p = torch.sigmoid(logits)
        weight = torch.where(loop, torch.ones_like(p), p)
        num = utterance_mask.shape[0]
        learning = self.training and torch.is_grad_enabled()
        if self.mode == "soft" and self.budget is None:
            self._penalty = p[~loop].mean() if learning and (~loop).any() else None
            return GraphEdges(edges.edge_index, edges.edge_type, weight)
        free = (~loop).nonzero().squeeze(1)
        group = b[dst[free]]  # dialogue of each free candidate
        sampling = learning and self.mode != "soft"
        shift = torch.zeros_like(logits[free])
        if self.budget is not None:  # expected kept count = the budget (see module doc)
            k = self.budget_counts(b, pos, length, num)
            shift = budget_shift(logits[free].detach(), group, k, num)[group]
            weight = weight.index_put((free,), torch.sigmoid(logits[free] + shift))
        q = torch.sigmoid(logits[free] + shift)
        if sampling:
            chosen = torch.bernoulli(q.detach()).bool()
        elif self.budget is None:
            chosen = q > 0.5
        else:  # evaluation: exactly the budget, the top scores of each dialogue
            order, sorted_group, rank = segment_ranks(logits[free].detach(), group, num)
            chosen = torch.zeros_like(free, dtype=torch.bool)
            chosen[order[rank < k[sorted_group]]] = True

        def policy_terms(scores):
            d = torch.distributions.Bernoulli(
                probs=torch.sigmoid(scores + shift).clamp(1e-4, 1 - 1e-4)
            )
            log_prob = d.log_prob(chosen.float())
            return log_prob.new_zeros(num).index_add(0, group, log_prob), d.entropy().mean()

        keep = loop.clone()
        keep[free[chosen]] = True
        if self.mode == "soft":
            self._penalty = p[~loop].mean() if learning and (~loop).any() else None
        elif learning:
            log_prob, entropy = policy_terms(logits[free])
            whole = torch.zeros(num, device=p.device).index_add_(0, b, length.float())
            kept = torch.bincount(b[dst][keep], minlength=num).float()

            def replay():  # the same choice under the current parameters (PPO)
                return policy_terms(self.edge_logits(edges.edge_index, pos, spk, nodes)[free])

            self.record(log_prob, 1 - kept / whole.clamp_min(1), entropy, replay)
        return GraphEdges(
            edges.edge_index[:, keep],
            edges.edge_type[keep],
            weight[keep] if self.weighted else None,
        )

    def auxiliary_loss(self, logits, labels, utterance_mask) -> torch.Tensor:
        if self.mode != "soft":
            return super().auxiliary_loss(logits, labels, utterance_mask)
        penalty, self._penalty = self._penalty, None
        return logits.new_zeros(()) if penalty is None else self.sparsity_weight * penalty


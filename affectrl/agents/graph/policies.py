"""Learned context graphs (issue #6): which utterances exchange messages is decided per dialogue.

All of them are `ContextGraph`s, so they sit inside `COGMENContext` after any fusion:

- `WindowSelectorGraph` (RL step 1): per target utterance a policy picks the window from
  {3, 5, 7, whole dialogue}; edges are COGMEN's (relation types included) within that window.
- `EdgeScorerGraph` (RL step 2 and the gradient-only baseline): every candidate edge s -> t with
  |s - t| <= max_range gets a connection probability from a small network over both utterance
  vectors, their cosine similarity, the distance, the direction and whether the speaker is the
  same. Modes:
    * ``soft``: every candidate kept, weighted by its probability; learned by the task gradient
      plus a differentiable sparsity penalty (mean probability). No RL: the "gradient-learned
      soft adjacency" baseline, in the spirit of GASMER's learned graph structure.
    * ``rl_hard``: edges sampled from Bernoulli(p) and used unweighted; the scorer is a policy
      trained by REINFORCE on the dialogue reward.
    * ``rl_soft``: edges sampled as in ``rl_hard`` but each kept edge is weighted by its p, so the
      scorer gets both the policy gradient (which edges) and the task gradient (how much).
  In evaluation the RL modes keep the edges with p > 0.5 (deterministic).

The RL graphs are `PolicyGraph`s: their forward records the log-probability of the sampled
actions per dialogue and how many edges each dialogue kept; `auxiliary_loss`, which `ERCModel.loss`
adds for every sub-module that has one, turns the classifier's predictions into the reward

    reward(dialogue) = weighted F1 of the dialogue's predictions + sparsity_weight * sparsity,
    sparsity = 1 - kept edges / edges of the whole-dialogue graph (self-loops always kept),

and returns the REINFORCE loss -(reward - baseline) * log pi(actions), with an exponential moving
average baseline and advantages scaled by the batch std, minus an entropy bonus. The policy reads
detached utterance vectors, so the policy gradient never reaches the encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.utils import scatter

from ...models.graph import GRAPHS, ContextGraph, GraphEdges, WindowGraph

WHOLE = -1


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


class PolicyGraph(ContextGraph):
    """A context graph whose edge choices are actions trained by REINFORCE (see module doc).

    Subclasses call `record(log_prob, dialogue, kept, candidates, entropy)` in training forward.
    """

    def __init__(
        self,
        sparsity_weight: float = 0.05,
        entropy_weight: float = 0.01,
        pg_weight: float = 1.0,
        baseline_momentum: float = 0.9,
        normalize_advantage: bool = True,
    ):
        super().__init__()
        self.sparsity_weight, self.entropy_weight = sparsity_weight, entropy_weight
        self.pg_weight, self.baseline_momentum = pg_weight, baseline_momentum
        self.normalize_advantage = normalize_advantage
        self.register_buffer("baseline", torch.zeros(()))
        self.register_buffer("baseline_ready", torch.zeros((), dtype=torch.bool))
        self._episode: dict | None = None

    def record(self, log_prob, dialogue, kept, candidates, entropy) -> None:
        """log_prob [N_actions], dialogue [N_actions] (dialogue index of each action),
        kept / candidates float [B] edges per dialogue, entropy [N_actions]."""
        if self.training and torch.is_grad_enabled():
            num = kept.shape[0]
            self._episode = {
                "log_prob": scatter(log_prob, dialogue, 0, dim_size=num, reduce="sum"),
                "sparsity": 1 - kept / candidates.clamp_min(1),
                "entropy": entropy.mean(),
            }

    def reward(self, episode: dict, logits, labels, dialogue) -> torch.Tensor:
        """float [B]: weighted F1 per dialogue + sparsity_weight * sparsity."""
        num = episode["sparsity"].shape[0]
        wf1 = dialogue_weighted_f1(logits.argmax(-1), labels, dialogue, num, logits.shape[1])
        return wf1 + self.sparsity_weight * episode["sparsity"]

    def auxiliary_loss(self, logits, labels, utterance_mask) -> torch.Tensor:
        """REINFORCE loss for the last training forward (0 outside training)."""
        episode, self._episode = self._episode, None
        if episode is None:
            return logits.new_zeros(())
        dialogue = utterance_mask.nonzero(as_tuple=True)[0]
        reward = self.reward(episode, logits.detach(), labels, dialogue)
        if not bool(self.baseline_ready):
            self.baseline.fill_(float(reward.mean()))
            self.baseline_ready.fill_(True)
        advantage = reward - self.baseline
        if self.normalize_advantage and advantage.numel() > 1:
            advantage = advantage / advantage.std().clamp_min(1e-3)
        m = self.baseline_momentum
        self.baseline.mul_(m).add_((1 - m) * reward.mean())
        pg = -(advantage.detach() * episode["log_prob"]).mean()
        return self.pg_weight * pg - self.entropy_weight * episode["entropy"]


def _mlp(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


class WindowSelectorGraph(PolicyGraph):
    """Step 1: a policy picks each target utterance's window (past and future) from `windows`.

    State per utterance (all detached): its vector [H], the dialogue summary (mean and max of the
    dialogue's vectors, 2H, fixed size whatever the length), relative position t / (T - 1),
    log(1 + t), log(1 + T), speaker change from t - 1 (1 for the first utterance).
    Training samples windows; evaluation takes the most probable. `last_windows` holds the
    chosen window index per flat node after each forward (for plots).
    """

    uses_nodes = True

    def __init__(
        self,
        num_speakers: int,
        node_dim: int,
        windows: tuple[int, ...] = (3, 5, 7, WHOLE),
        hidden: int = 64,
        **policy,
    ):
        super().__init__(**policy)
        self.num_speakers, self.windows = num_speakers, tuple(int(w) for w in windows)
        self.full = WindowGraph(num_speakers, WHOLE, WHOLE)
        self.policy = _mlp(3 * node_dim + 4, hidden, len(self.windows))
        self.last_windows: torch.Tensor | None = None

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
        dist = torch.distributions.Categorical(
            logits=self.policy(self.state(utterance_mask, speakers, nodes))
        )
        action = dist.sample() if self.training else dist.probs.argmax(-1)
        self.last_windows = action.detach()
        edges = self.full(utterance_mask, speakers)
        b, pos, _, _ = flat_layout(utterance_mask, speakers)
        src, dst = edges.edge_index
        window = torch.tensor(self.windows, device=action.device)[action]
        limit = torch.where(window < 0, torch.iinfo(torch.long).max, window)[dst]
        keep = (pos[src] - pos[dst]).abs() <= limit
        num = utterance_mask.shape[0]
        candidates = torch.bincount(b[dst], minlength=num).float()
        kept = torch.bincount(b[dst][keep], minlength=num).float()
        self.record(dist.log_prob(action), b, kept, candidates, dist.entropy())
        return GraphEdges(edges.edge_index[:, keep], edges.edge_type[keep])


class EdgeScorerGraph(PolicyGraph):
    """Step 2: a connection probability per candidate edge within `max_range` (see module doc).

    Edge features: projections of both (detached) utterance vectors [2 * proj], their cosine
    similarity, |s - t| / max_range, direction (s < t) and same speaker. Self-loops are always
    kept with weight 1.
    """

    uses_nodes = True
    MODES = ("soft", "rl_hard", "rl_soft")

    def __init__(
        self,
        num_speakers: int,
        node_dim: int,
        mode: str = "rl_soft",
        max_range: int = 10,
        proj: int = 32,
        hidden: int = 64,
        init_prob: float = 0.7,
        **policy,
    ):
        if mode not in self.MODES:
            raise ValueError(f"unknown edge scorer mode {mode!r}; known: {self.MODES}")
        super().__init__(**policy)
        self.num_speakers, self.mode, self.max_range = num_speakers, mode, max_range
        self.weighted = mode != "rl_hard"  # COGMENContext then uses weight-aware convolutions
        self.candidates = WindowGraph(num_speakers, max_range, max_range)
        self.project = nn.Linear(node_dim, proj)
        self.scorer = _mlp(2 * proj + 4, hidden, 1)
        # start near "keep": the untrained graph is close to COGMEN's window, not empty
        nn.init.constant_(self.scorer[-1].bias, float(torch.logit(torch.tensor(init_prob))))
        self._penalty: torch.Tensor | None = None

    def edge_probs(self, edges: GraphEdges, utterance_mask, speakers, nodes) -> torch.Tensor:
        _, pos, _, spk = flat_layout(utterance_mask, speakers)
        src, dst = edges.edge_index
        h = self.project(nodes.detach())
        cos = F.cosine_similarity(nodes[src].detach(), nodes[dst].detach(), dim=-1)
        dist = (pos[src] - pos[dst]).abs().float() / max(self.max_range, 1)
        feats = torch.stack(
            [cos, dist, (pos[src] < pos[dst]).float(), (spk[src] == spk[dst]).float()], 1
        )
        return torch.sigmoid(self.scorer(torch.cat([h[src], h[dst], feats], 1)).squeeze(-1))

    def forward(self, utterance_mask, speakers, nodes=None) -> GraphEdges:
        if nodes is None:
            raise ValueError("EdgeScorerGraph needs the utterance vectors (nodes)")
        edges = self.candidates(utterance_mask, speakers)
        src, dst = edges.edge_index
        loop = src == dst
        p = self.edge_probs(edges, utterance_mask, speakers, nodes)
        if self.mode == "soft":
            weight = torch.where(loop, torch.ones_like(p), p)
            self._penalty = p[~loop].mean() if self.training and (~loop).any() else None
            return GraphEdges(edges.edge_index, edges.edge_type, weight)
        dist = torch.distributions.Bernoulli(probs=p.clamp(1e-4, 1 - 1e-4))
        sample = dist.sample().bool() if self.training else p > 0.5
        keep = sample | loop
        b, _, length, _ = flat_layout(utterance_mask, speakers)
        num = utterance_mask.shape[0]
        whole = torch.zeros(num, device=p.device).index_add_(
            0, b, length.float()
        )  # sum over targets of T = T^2 edges of the whole-dialogue graph
        kept = torch.bincount(b[dst][keep], minlength=num).float()
        free = ~loop
        self.record(
            dist.log_prob(sample.float())[free], b[dst][free], kept, whole, dist.entropy()[free]
        )
        weight = torch.where(loop, torch.ones_like(p), p)[keep] if self.mode == "rl_soft" else None
        return GraphEdges(edges.edge_index[:, keep], edges.edge_type[keep], weight)

    def auxiliary_loss(self, logits, labels, utterance_mask) -> torch.Tensor:
        if self.mode != "soft":
            return super().auxiliary_loss(logits, labels, utterance_mask)
        penalty, self._penalty = self._penalty, None
        return logits.new_zeros(()) if penalty is None else self.sparsity_weight * penalty


GRAPHS.update({"window_selector": WindowSelectorGraph, "edge_scorer": EdgeScorerGraph})

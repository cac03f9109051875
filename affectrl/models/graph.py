"""Context graphs: which utterances of a dialogue send messages to which, with relation types.

A context graph turns a padded batch into one graph whose nodes are the real utterances in the
order of `DialogueBatch.flat` (dialogue by dialogue, utterance by utterance). COGMEN's fixed
window is `WindowGraph`; a learned edge chooser (the RL graph agent of issue #6) implements the
same `ContextGraph` interface and may also return `edge_weight`.

Relation types (`relations:`) follow COGMEN by default: for an edge source s -> target t in a
dialogue with speakers spk,
    "cogmen":        relation = (spk[s] * S + spk[t]) * 2 + direction,   2 * S^2 relations,
    "same_speaker":  relation = (spk[s] == spk[t]) * 2 + direction,      4 relations,
with direction = 0 if s < t else 1 (the self-loop s == t has direction 1, as in the official
code). COGMEN's grows with the number of speakers S: with MELD's per-dialogue numbering (up to
9 speakers) it is 162 relations, most of them rare; "same_speaker" keeps what is shared across
dialogues (whether the speaker is the same one, and the direction) at any S.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal, NamedTuple

import torch

from ..registry import Registry
from .parts import Part


class GraphEdges(NamedTuple):
    """edge_index int64 [2, E] (row 0 source, row 1 target, node ids into the flat utterances),
    edge_type int64 [E] in [0, 2 S^2), edge_weight float [E] or None (unweighted), window
    int64 [N] or None: for a graph that chooses each target utterance's window, the window it
    chose (-1: the whole dialogue), for the explain drawings; window_probs float [N, W] or None:
    that graph's policy probabilities over its W windows (a decided policy vs an argmax over a
    flat one)."""

    edge_index: torch.Tensor
    edge_type: torch.Tensor
    edge_weight: torch.Tensor | None = None
    window: torch.Tensor | None = None
    window_probs: torch.Tensor | None = None


RELATIONS = ("cogmen", "same_speaker")


def num_relations(num_speakers: int, relations: str = "cogmen") -> int:
    return 2 * num_speakers**2 if relations == "cogmen" else 4


def flat_node_ids(utterance_mask: torch.Tensor) -> torch.Tensor:
    """int64 [B, T]: the flat node id of each real utterance (-1 at padding)."""
    ids = utterance_mask.flatten().long().cumsum(0).view_as(utterance_mask) - 1
    return ids.masked_fill(~utterance_mask, -1)


def relation_types(
    src_speaker, dst_speaker, src_pos, dst_pos, num_speakers: int, relations: str = "cogmen"
) -> torch.Tensor:
    """The relation index of edges given speaker indices and utterance positions (module doc)."""
    direction = (src_pos >= dst_pos).long()
    if relations == "cogmen":
        return (src_speaker * num_speakers + dst_speaker) * 2 + direction
    return (src_speaker == dst_speaker).long() * 2 + direction


class ContextGraph(Part, ABC):
    """forward(utterance_mask [B,T], speakers [B,T], nodes [N,H] or None) -> GraphEdges.

    Declared by each graph: `uses_nodes` (class attribute: it reads the utterance vectors, so
    it is built with their size `node_dim`) and `weighted` (it returns edge weights, so the
    context model uses weight-aware convolutions). A graph trained by its own objective (the RL
    policies) returns it from `auxiliary_loss` (affectrl.models.parts).
    """

    uses_nodes: ClassVar[bool] = False
    weighted: bool = False

    @abstractmethod
    def forward(self, utterance_mask, speakers, nodes=None) -> GraphEdges: ...


class WindowGraph(ContextGraph):
    """COGMEN's fixed window: target t receives from every s with t - past <= s <= t + future.

    past / future = -1 means the whole dialogue on that side; `relations` names the relation
    types (module doc; `num_relations` says how many). Built for the whole batch at once from a
    [T, T] band mask (cached per T), without loops over utterances.

    Args:
        past: earlier utterances each target receives from (-1: all).
        future: later utterances each target receives from (-1: all).
        relations: relation types: cogmen (2 S^2 speaker pairs x direction, COGMEN's own) or
            same_speaker (same speaker or not x direction: 4 at any number of speakers).
    """

    def __init__(
        self,
        num_speakers: int,
        past: int = 5,
        future: int = 5,
        relations: Literal[RELATIONS] = "cogmen",
    ):
        super().__init__()
        if past < -1 or future < -1:
            raise ValueError(
                f"window sizes must be >= 0 or -1 (whole dialogue), got {past}/{future}"
            )
        if relations not in RELATIONS:
            raise ValueError(f"unknown relations {relations!r}; known: {RELATIONS}")
        self.num_speakers, self.past, self.future = num_speakers, past, future
        self.relations = relations
        self.num_relations = num_relations(num_speakers, relations)
        self._bands: dict[int, torch.Tensor] = {}

    def band(self, length: int) -> torch.Tensor:
        """bool [T, T], [s, t] True when source s is in the window of target t."""
        if length not in self._bands:
            pos = torch.arange(length)
            offset = pos.view(-1, 1) - pos.view(1, -1)  # s - t
            ok = torch.ones(length, length, dtype=torch.bool)
            if self.past >= 0:
                ok &= offset >= -self.past
            if self.future >= 0:
                ok &= offset <= self.future
            self._bands[length] = ok
        return self._bands[length]

    def forward(self, utterance_mask, speakers, nodes=None) -> GraphEdges:
        length = utterance_mask.shape[1]
        pairs = self.band(length).to(utterance_mask.device).unsqueeze(0)
        pairs = pairs & utterance_mask.unsqueeze(2) & utterance_mask.unsqueeze(1)
        b, s, t = pairs.nonzero(as_tuple=True)
        ids = flat_node_ids(utterance_mask)
        edge_index = torch.stack([ids[b, s], ids[b, t]])
        edge_type = relation_types(
            speakers[b, s], speakers[b, t], s, t, self.num_speakers, self.relations
        )
        if speakers.numel() and int(speakers.max()) >= self.num_speakers:
            raise ValueError(
                f"speaker index {int(speakers.max())} >= num_speakers {self.num_speakers}"
            )
        return GraphEdges(edge_index, edge_type)


GRAPHS: Registry = Registry(
    "graph", {"window": WindowGraph}, default="window", supplied=("num_speakers", "node_dim")
)
GRAPHS.register_lazy("window_selector", "affectrl.agents.graph.policies", "WindowSelectorGraph")
GRAPHS.register_lazy("edge_scorer", "affectrl.agents.graph.policies", "EdgeScorerGraph")


def build_graph(spec: dict, num_speakers: int, node_dim: int | None = None) -> ContextGraph:
    """A context graph by name from a config section, e.g. {name: window, past: 5, future: 5}.

    Graphs that read the utterance vectors (`ContextGraph.uses_nodes`) also get `node_dim`.
    """
    spec = dict(spec)
    name = spec.pop("name", GRAPHS.default)
    graph = GRAPHS[name]  # an unknown name is an error listing the known ones
    if graph.uses_nodes:
        spec["node_dim"] = node_dim
    return graph(num_speakers=num_speakers, **spec)

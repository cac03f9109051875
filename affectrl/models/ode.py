"""DGODE-style context model: utterance vectors evolved by an ODE over the dialogue graph.

After DGODE (Shou et al., COLING 2025, "Dynamic Graph Neural Ordinary Differential Equation
Network for Multi-modal Emotion Recognition in Conversation"): an adaptive MixHop aggregation (a
learned mixture of the graph's 1..K-hop propagations) drives a graph ODE whose state at time
`time` gives the contextual utterance vectors. A restart term keeps the initial state in the
dynamics (as in CGNN, Xhonneux et al. 2020), which is what keeps long propagation from
over-smoothing:

    H(0)  = LayerNorm(Linear(BiGRU(LayerNorm(x)))) -> hidden       [N, hidden]
    dH/dt = sum_k softmax(alpha)_k (A^k H) W_k  -  H  +  H(0)
    out   = [H(0), H(time)]                                        [N, 2 * hidden]

A is the row-normalised adjacency of a context graph (`graph:`, the same section as COGMEN's;
default COGMEN's window 5/5; self-loops included): A H is the (edge-weighted) mean over each
utterance's in-neighbours. Relation types are not used. The ODE is solved by torchdiffeq's
`odeint` (default: fixed-step rk4, `steps` steps), back-propagating through the solver.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch_geometric.utils import scatter
from torchdiffeq import odeint

from .context import CONTEXTS
from .graph import GRAPHS, ContextGraph, build_graph
from .parts import ContextModel, Part


class MixHopDynamics(nn.Module):
    """f(t, H) = sum_k softmax(alpha)_k (A^k H) W_k - H + H(0), for one graph (see module doc)."""

    def __init__(self, hidden: int, hops: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(hops))
        self.mix = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(hops))
        self.graph: tuple | None = None  # (src, dst, weight [E], weight sum per target [N], H(0))

    def bind(self, edge_index, edge_weight, h0) -> None:
        src, dst = edge_index
        weight = torch.ones_like(src, dtype=h0.dtype) if edge_weight is None else edge_weight
        total = scatter(weight, dst, 0, dim_size=h0.shape[0], reduce="sum").clamp_min(1e-6)
        self.graph = (src, dst, weight, total, h0)

    def propagate(self, h: torch.Tensor) -> torch.Tensor:
        src, dst, weight, total, _ = self.graph
        summed = scatter(h[src] * weight.unsqueeze(1), dst, 0, dim_size=h.shape[0], reduce="sum")
        return summed / total.unsqueeze(1)

    def forward(self, t, h):
        h0 = self.graph[4]
        mixture = torch.softmax(self.alpha, 0)
        out, hop = torch.zeros_like(h), h
        for k, linear in enumerate(self.mix):
            hop = self.propagate(hop)
            out = out + mixture[k] * linear(hop)
        return out - h + h0


class GraphODEContext(ContextModel):
    """DGODE-style context model (see module doc). out_dim = 2 * hidden.

    Args:
        hidden: size of the ODE's state H (the graph's nodes).
        gru_hidden: BiGRU hidden size per direction.
        dropout: dropout on H(0).
        hops: MixHop orders 1..hops.
        time: the integration horizon.
        steps: solver steps (fixed-step methods use time / steps as step size; adaptive ones
            ignore it).
        method: the torchdiffeq solver (e.g. rk4, euler, dopri5).
        graph: the context graph, chosen by name as in cogmen (window, or a learned graph: it
            gets H(0) as its nodes).
    """

    uses_speakers = True

    def __init__(
        self,
        in_dim: int,
        num_speakers: int,
        hidden: int = 100,
        gru_hidden: int = 100,
        dropout: float = 0.5,
        hops: int = 2,
        time: float = 1.0,
        steps: int = 4,
        method: str = "rk4",
        graph: Annotated[dict | None, GRAPHS] | ContextGraph = None,
    ):
        super().__init__()
        if hops < 1 or steps < 1 or not time > 0:
            raise ValueError(
                f"dgode needs hops >= 1, steps >= 1, time > 0; got {hops}, {steps}, {time}"
            )
        # the norms put sentence embeddings (per-dimension scale ~0.05 for MiniLM) and the GRU's
        # output on a unit scale: without them the model barely moved in 10 epochs at lr 1e-4
        self.input_norm = nn.LayerNorm(in_dim)
        self.gru = nn.GRU(in_dim, gru_hidden, batch_first=True, bidirectional=True)
        self.project = nn.Sequential(nn.Linear(2 * gru_hidden, hidden), nn.LayerNorm(hidden))
        self.dropout = nn.Dropout(dropout)
        self.graph = (
            graph
            if isinstance(graph, ContextGraph)
            else build_graph(graph or {}, num_speakers, node_dim=hidden)
        )
        self.dynamics = MixHopDynamics(hidden, hops)
        self.time, self.steps, self.method = float(time), steps, method
        self.out_dim = 2 * hidden

    def forward(self, x, utterance_mask, speakers):
        lengths = utterance_mask.sum(1).cpu()
        packed = pack_padded_sequence(
            self.input_norm(x), lengths, batch_first=True, enforce_sorted=False
        )
        seq, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=x.shape[1])
        h0 = self.dropout(self.project(seq[utterance_mask]))
        edges = self.graph(utterance_mask, speakers, h0)
        self.dynamics.bind(edges.edge_index, edges.edge_weight, h0)
        span = torch.tensor([0.0, self.time], dtype=h0.dtype, device=h0.device)
        options = {"step_size": self.time / self.steps} if self.method in FIXED_STEP else None
        h = odeint(self.dynamics, h0, span, method=self.method, options=options)[-1]
        self.dynamics.graph = None  # do not keep the batch alive between forwards
        return torch.cat([h0, h], -1)

    def parts(self) -> list[Part]:
        return [self.graph]


FIXED_STEP = ("euler", "midpoint", "rk4", "explicit_adams", "implicit_adams")

CONTEXTS.register("dgode", GraphODEContext)

"""Context models: fused utterance vectors [B, T, D] -> contextual vectors of the real utterances.

Every context model maps (x [B, T, D], utterance_mask [B, T], speakers [B, T]) to [N, out_dim],
N = utterance_mask.sum(), in `DialogueBatch.flat` order.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch_geometric.nn import RGCNConv, TransformerConv

from .graph import ContextGraph, build_graph, num_relations


class NoContext(nn.Module):
    """Each utterance on its own (utterance-level baselines)."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.out_dim = in_dim

    def forward(self, x, utterance_mask, speakers):
        return x[utterance_mask]


class BiLSTMContext(nn.Module):
    """bc-LSTM (Poria et al., ACL 2017): a bidirectional LSTM over the utterances of a video,
    then a dense layer per utterance. out_dim = dense."""

    def __init__(self, in_dim: int, hidden: int = 150, dense: int = 100, dropout: float = 0.3):
        super().__init__()
        self.input_dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(in_dim, hidden, batch_first=True, bidirectional=True)
        self.dense = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, dense), nn.Tanh())
        self.out_dim = dense

    def forward(self, x, utterance_mask, speakers):
        lengths = utterance_mask.sum(1).cpu()
        packed = pack_padded_sequence(
            self.input_dropout(x), lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return self.dense(out[utterance_mask])


def cogmen_num_heads(dim: int) -> int:
    """The official code's rule: the first h in 7..14 dividing the input size, else 1."""
    return next((h for h in range(7, 15) if dim % h == 0), 1)


class COGMENContext(nn.Module):
    """COGMEN (Joshi et al., NAACL 2022) without its classifier.

    1. A transformer encoder over each dialogue's utterance vectors (d_model = in_dim, heads by
       `cogmen_num_heads`, 2 layers, feed-forward 2048, dropout 0.5), then Linear -> hidden (100).
       With mask_padding (default) padded positions are masked out of attention; the official
       code attends to them (mask_padding=False reproduces that; see docs/COGMEN.md).
    2. A context graph over the utterances (default: window 5/5, 2 S^2 speaker/direction relations).
    3. RGCNConv(hidden, hidden, 2 S^2) then TransformerConv(hidden, hidden, heads, concat) ->
       BatchNorm -> LeakyReLU. out_dim = hidden * heads (+ hidden with concat_gin_gout).
    """

    def __init__(
        self,
        in_dim: int,
        num_speakers: int,
        hidden: int = 100,
        seq_layers: int = 2,
        dropout: float = 0.5,
        mask_padding: bool = True,
        gnn_heads: int = 1,
        concat_gin_gout: bool = False,
        graph: dict | ContextGraph | None = None,
    ):
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            d_model=in_dim, nhead=cogmen_num_heads(in_dim), dropout=dropout, batch_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, seq_layers, enable_nested_tensor=False)
        self.project = nn.Linear(in_dim, hidden)
        self.mask_padding = mask_padding
        self.graph = (
            graph if isinstance(graph, ContextGraph) else build_graph(graph or {}, num_speakers)
        )
        self.rgcn = RGCNConv(hidden, hidden, num_relations(num_speakers))
        self.gconv = TransformerConv(hidden, hidden, heads=gnn_heads, concat=True)
        self.norm = nn.BatchNorm1d(hidden * gnn_heads)
        self.concat_gin_gout = concat_gin_gout
        self.out_dim = hidden * gnn_heads + (hidden if concat_gin_gout else 0)

    def forward(self, x, utterance_mask, speakers):
        padding = ~utterance_mask if self.mask_padding else None
        nodes = self.project(self.transformer(x, src_key_padding_mask=padding))[utterance_mask]
        edges = self.graph(utterance_mask, speakers, nodes)
        if edges.edge_weight is not None:
            raise NotImplementedError("RGCNConv takes no edge weights; use a weighted graph model")
        h = self.rgcn(nodes, edges.edge_index, edges.edge_type)
        h = nn.functional.leaky_relu(self.norm(self.gconv(h, edges.edge_index)))
        return torch.cat([nodes, h], -1) if self.concat_gin_gout else h


CONTEXTS = {"none": NoContext, "bilstm": BiLSTMContext, "cogmen": COGMENContext}

"""Graph layers written to PyTorch Geometric's conventions (`MessagePassing`, `reset_parameters`,
`__repr__`, typed arguments, an Args/Shapes docstring), for what PyG's own layers do not offer."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing


class WeightedRGCNConv(MessagePassing):
    r"""RGCN (Schlichtkrull et al. 2018) whose messages are scaled by an edge weight.

    PyG's `RGCNConv` takes no edge weights, so soft (probability-weighted) edges could not pass
    their gradient to the edge scorer through it; this layer is the same computation with a
    weight per message:

        out_t = W_root x_t + b + sum_r  1/|N_r(t)|  sum_{s in N_r(t)} w_st * W_r x_s

    With every w = 1 it equals `RGCNConv` (mean aggregation per relation, no bases). Messages
    are computed as x @ W_r once per (node, relation), then gathered per edge.

    Args:
        in_channels: size of each input node vector.
        out_channels: size of each output node vector.
        num_relations: number of edge types (COGMEN: 2 S^2 for S speakers).

    Shapes:
        - input: node features (|V|, in_channels), edge indices (2, |E|) (row 0 source, row 1
          target), edge types (|E|,) int64 in [0, num_relations), edge weights (|E|,) or None
          (every weight 1)
        - output: node features (|V|, out_channels)
    """

    def __init__(self, in_channels: int, out_channels: int, num_relations: int):
        super().__init__(aggr="add", node_dim=0)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_relations = num_relations
        self.weight = nn.Parameter(torch.empty(num_relations, in_channels, out_channels))
        self.root = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.xavier_uniform_(self.weight)
        nn.init.xavier_uniform_(self.root)
        nn.init.zeros_(self.bias)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        edge_type: Tensor,
        edge_weight: Tensor | None = None,
    ) -> Tensor:
        n, r = x.shape[0], self.num_relations
        per_relation = torch.einsum("ni,rio->nro", x, self.weight).reshape(n * r, -1)
        src, dst = edge_index
        slot = dst * r + edge_type
        count = torch.bincount(slot, minlength=n * r).clamp_min(1)[slot].to(x.dtype)
        scale = 1.0 / count if edge_weight is None else edge_weight / count
        out = self.propagate(
            torch.stack([src * r + edge_type, dst]),
            x=(per_relation, None),
            scale=scale,
            size=(n * r, n),
        )
        return out + x @ self.root + self.bias

    def message(self, x_j: Tensor, scale: Tensor) -> Tensor:
        return x_j * scale.unsqueeze(-1)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"num_relations={self.num_relations})"
        )

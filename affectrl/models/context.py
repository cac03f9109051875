"""Context models: fused utterance vectors [B, T, D] -> contextual vectors of the real utterances.

Every context model is a `ContextModel` (affectrl.models.parts) and maps (x [B, T, D],
utterance_mask [B, T], speakers [B, T]) to [N, out_dim], N = utterance_mask.sum(), in
`DialogueBatch.flat` order.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch_geometric.nn import RGCNConv, TransformerConv

from ..registry import Registry
from .dropout import dropout, fast_dropout
from .graph import GRAPHS, ContextGraph, build_graph, flat_node_ids, num_relations
from .layers import GroupedRGCNConv, WeightedRGCNConv, init_relation_weights_
from .parts import ContextModel, Part


class NoContext(ContextModel):
    """Each utterance on its own (utterance-level baselines)."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.out_dim = in_dim

    def forward(self, x, utterance_mask, speakers):
        return x[utterance_mask]


class BiLSTMContext(ContextModel):
    """bc-LSTM (Poria et al., ACL 2017): a bidirectional LSTM over the utterances of a video,
    then a dense layer per utterance. out_dim = dense.

    Args:
        hidden: LSTM hidden size per direction.
        dense: size of the dense layer after the LSTM (the output size).
        dropout: dropout on the LSTM's input and before the dense layer.
    """

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


def attention(q, k, v, mask: torch.Tensor, dropout_p: float = 0.0, drop=dropout) -> torch.Tensor:
    """`F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)`, bit for bit.

    q, k, v: [B, H, T, E]; mask: bool, broadcastable to [B, H, T, T], True where attended.
    With dropout, PyTorch's CPU attention runs its composite "math" kernel; this is the same
    composite with the faster exact `dropout` (the attention weights' mask is most of the masks
    drawn per epoch). Without dropout it is the library call. `drop`: as in
    `packed_encoder_layer`.
    """
    if not dropout_p or q.device.type != "cpu":
        return nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=dropout_p
        )
    scale = math.sqrt(1.0 / math.sqrt(q.shape[-1]))  # applied to q and k, as the library does
    bias = torch.zeros(mask.shape, dtype=q.dtype).masked_fill(~mask, -math.inf)
    # no row is masked out entirely (each dialogue has an utterance), so the library's
    # _safe_softmax equals the plain softmax, which skips its check for such rows
    weights = torch.softmax(torch.matmul(q * scale, k.transpose(-2, -1) * scale) + bias, -1)
    return torch.matmul(drop(weights, dropout_p), v)


def fast_attention(q, k, v, mask: torch.Tensor, dropout_p: float = 0.0, drop=fast_dropout):
    """`attention` with q scaled once by 1/sqrt(E) (not q and k by its square root each) and
    `fast_dropout`'s masks: the same function, other rounding (COGMEN's `fast`)."""
    if not dropout_p or q.device.type != "cpu":
        return attention(q, k, v, mask, dropout_p, drop)
    bias = torch.zeros(mask.shape, dtype=q.dtype).masked_fill(~mask, -math.inf)
    scores = torch.matmul(q * (1.0 / math.sqrt(q.shape[-1])), k.transpose(-2, -1))
    return torch.matmul(drop(torch.softmax(scores + bias, -1), dropout_p), v)


class AttentionBlock(NamedTuple):
    """Dialogues whose self-attention runs as one padded batch: their rows of the packed input
    are `start` .. `start + rows` (dialogue by dialogue), `mask` bool [b, t] selects them."""

    start: int
    rows: int
    mask: torch.Tensor


def attention_blocks(lengths: torch.Tensor, multiple: int = 1, fill: float = 0.0):
    """Split dialogues into `AttentionBlock`s: lengths int64 [B] (utterances, longest first).

    Each block is padded to its first dialogue's length rounded up to `multiple`; a dialogue
    starts a new block when it would fill less than `fill` of the current block's length
    (fill 0: one block for all). Attention costs length x padded length per dialogue, so
    grouping similar lengths skips most of the padding's work.
    """
    sizes = lengths.tolist()
    blocks, start, first = [], 0, 0
    for i in range(1, len(sizes) + 1):
        padded = -(-sizes[first] // multiple) * multiple
        if i == len(sizes) or sizes[i] < fill * padded:
            group = lengths[first:i]
            mask = torch.arange(padded, device=lengths.device) < group[:, None]
            blocks.append(AttentionBlock(start, sum(sizes[first:i]), mask))
            start, first = start + blocks[-1].rows, i
    return blocks


def packed_encoder_layer(
    layer: nn.TransformerEncoderLayer,
    x: torch.Tensor,
    mask: torch.Tensor | list[AttentionBlock],
    drop=dropout,
    dtype: torch.dtype | None = None,
    attend=attention,
) -> torch.Tensor:
    """One post-norm nn.TransformerEncoderLayer (ReLU) on the real positions only.

    x: [N, D] real positions of a padded [B, T] batch whose bool mask [B, T] selects them.
    Equals `layer(padded, src_key_padding_mask=~mask)[mask]`, but the projections and the
    feed-forward (most of the FLOPs) run on N rows instead of B * T; only the attention scores
    use the padded layout. `mask` may instead be `AttentionBlock`s covering x's rows in order
    (`attention_blocks`): each block's attention runs padded to its own length. Uses the
    layer's own parameters; `drop(x, p, training)` is the dropout (default: `dropout`,
    PyTorch's own masks) and `attend` the attention (default: `attention`). `dtype` (e.g.
    bfloat16; default x's): the matrix products, the attention and the feed-forward's hidden
    layer run in it, with weights cast on the way in; the residual stream and the
    normalisations stay in x's dtype. x may have rows beyond the mask's N (padding,
    `encode_rows`): they pass through the projections and are left out of the attention; the
    output has as many rows as x.
    """

    def low(t: torch.Tensor) -> torch.Tensor:
        return t if dtype is None else t.to(dtype)

    attn = layer.self_attn
    heads, dim = attn.num_heads, x.shape[-1]
    if isinstance(mask, torch.Tensor):
        mask = [AttentionBlock(0, int(mask.sum()), mask)]
    projected = nn.functional.linear(low(x), low(attn.in_proj_weight), low(attn.in_proj_bias))
    p = attn.dropout if layer.training else 0.0
    outs = []
    for start, rows, block in mask:
        b, t = block.shape
        qkv = projected.new_zeros(b, t, 3 * dim).index_put((block,), projected[start:][:rows])
        q, k, v = qkv.view(b, t, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        out = attend(q, k, v, block[:, None, None, :], p, drop)
        outs.append(out.transpose(1, 2).reshape(b, t, dim)[block])
    out = outs[0] if len(outs) == 1 else torch.cat(outs)
    if x.shape[0] > out.shape[0]:
        out = nn.functional.pad(out, (0, 0, 0, x.shape[0] - out.shape[0]))
    out = nn.functional.linear(out, low(attn.out_proj.weight), low(attn.out_proj.bias))
    x = layer.norm1(x + drop(out, layer.dropout1.p, layer.training))
    hidden = nn.functional.linear(low(x), low(layer.linear1.weight), low(layer.linear1.bias))
    hidden = drop(layer.activation(hidden), layer.dropout.p, layer.training)
    out = nn.functional.linear(hidden, low(layer.linear2.weight), low(layer.linear2.bias))
    return layer.norm2(x + drop(out, layer.dropout2.p, layer.training))


def encode_rows(n: int) -> int:
    """n rounded up to 16 steps per octave (..., 1024, 1088, ..., 1984, 2048, 2176, ...; at most
    6.25% more): bfloat16 products go through oneDNN, which builds a kernel per matrix shape
    (a few ms each, a dozen per layer), so `fast` pads the rows to few distinct sizes."""
    step = 1 << max((n - 1).bit_length() - 5, 0)
    return -(-n // step) * step


def cogmen_num_heads(dim: int) -> int:
    """The official code's rule: the first h in 7..14 dividing the input size, else 1."""
    return next((h for h in range(7, 15) if dim % h == 0), 1)


GROUPED_RGCN_ABOVE = 16  # relations; above this GroupedRGCNConv (much faster for MELD's 162)


class COGMENContext(ContextModel):
    """COGMEN (Joshi et al., NAACL 2022) without its classifier.

    1. A transformer encoder over each dialogue's utterance vectors (d_model = in_dim, heads by
       `cogmen_num_heads`, 2 layers, feed-forward 2048, dropout 0.5), then Linear -> hidden (100).
       With mask_padding (default) padded positions are masked out of attention and the layers
       run on the real utterances only (`packed_encoder_layer`); the official code attends to
       padding (mask_padding=False reproduces that; see docs/COGMEN.md).
    2. A context graph over the utterances (default: window 5/5, 2 S^2 speaker/direction
       relations; `graph: {relations: same_speaker}` for 4 whatever the number of speakers).
    3. RGCNConv(hidden, hidden, 2 S^2) then TransformerConv(hidden, hidden, heads, concat) ->
       BatchNorm -> LeakyReLU. out_dim = hidden * heads (+ hidden with concat_gin_gout).

    `fast: true` trades bit-for-bit reproduction of the default for speed: the transformer
    encoder (about 95% of the training time on IEMOCAP) does its matrix products in bfloat16
    with float32 accumulation (CPU autocast; Intel AMX / AVX-512 BF16), normalisations and the
    residual stream stay float32, its dropout masks come from `fast_dropout`, and the RGCN is
    `GroupedRGCNConv` whatever the number of relations. Off by default; docs/PERFORMANCE.md
    has its measured speed and accuracy.

    Args:
        hidden: size of the utterance vectors after the transformer (the graph's nodes).
        seq_layers: transformer encoder layers over each dialogue.
        dropout: transformer dropout.
        mask_padding: mask padded positions out of attention (false: attend to them, as the
            official code does).
        gnn_heads: attention heads of the TransformerConv.
        concat_gin_gout: concatenate the graph's input vectors to its output.
        graph: the context graph, chosen by name (`model.context.graph.name`, default window
            5/5; see the graphs below).
        fast: bfloat16 transformer, cheaper dropout masks, grouped RGCN (faster, not
            bit-identical to the default; docs/PERFORMANCE.md).
        relation_init: the RGCN's initial relation weights. "per_relation": each relation's
            matrix Glorot-uniform, as PyG's RGCNConv and the official COGMEN; "stacked":
            Xavier over the stacked [R, in, out] tensor, ~7x smaller at IEMOCAP's 8
            relations. "auto": what results were recorded with, per_relation for hard edges
            and up to 16 relations (IEMOCAP), stacked otherwise (MELD's 162 relations, learned
            soft edges). `fast` keeps the same initial weights.
    """

    uses_speakers = True
    ATTENTION_FILL = 0.6  # `fast`: a dialogue filling less of its block starts the next one

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
        graph: Annotated[dict | None, GRAPHS] | ContextGraph = None,
        fast: bool = False,
        relation_init: Literal["auto", "per_relation", "stacked"] = "auto",
    ):
        super().__init__()
        self.fast = bool(fast)
        layer = nn.TransformerEncoderLayer(
            d_model=in_dim, nhead=cogmen_num_heads(in_dim), dropout=dropout, batch_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, seq_layers, enable_nested_tensor=False)
        self.project = nn.Linear(in_dim, hidden)
        self.mask_padding = mask_padding
        self.graph = (
            graph
            if isinstance(graph, ContextGraph)
            else build_graph(graph or {}, num_speakers, node_dim=hidden)
        )
        relations = getattr(self.graph, "num_relations", num_relations(num_speakers))
        # a graph with edge weights (learned soft edges) needs convolutions that take them.
        # All three are the same function: RGCNConv loops over the relations (slow for MELD's
        # 162), GroupedRGCNConv transforms each relation's averages once (docs/PERFORMANCE.md);
        # up to GROUPED_RGCN_ABOVE relations the first two are kept, so that results stay bit
        # for bit what they were. Their initial weights are `relation_init`'s whichever is used.
        self.weighted = self.graph.weighted
        pyg = relations <= GROUPED_RGCN_ABOVE and not self.weighted  # the default's RGCNConv
        if relation_init == "auto":
            relation_init = "per_relation" if pyg else "stacked"
        if pyg and not self.fast:
            self.rgcn = RGCNConv(hidden, hidden, relations)  # draws the per_relation init
            if relation_init != "per_relation":
                init_relation_weights_(self.rgcn.weight, self.rgcn.root, relation_init)
        else:
            grouped = relations > GROUPED_RGCN_ABOVE or self.fast
            conv = GroupedRGCNConv if grouped else WeightedRGCNConv
            self.rgcn = conv(hidden, hidden, relations, init=relation_init)
        self.gconv = TransformerConv(
            hidden, hidden, heads=gnn_heads, concat=True, edge_dim=1 if self.weighted else None
        )
        self.norm = nn.BatchNorm1d(hidden * gnn_heads)
        self.concat_gin_gout = concat_gin_gout
        self.out_dim = hidden * gnn_heads + (hidden if concat_gin_gout else 0)

    def encode(self, x: torch.Tensor, utterance_mask: torch.Tensor) -> torch.Tensor:
        """Transformer over each dialogue -> [N, in_dim] (x's dtype) for the real utterances."""
        if not self.mask_padding:  # the official behaviour: padding is attended to
            with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.fast):
                return self.transformer(x)[utterance_mask].to(x.dtype)
        h = x[utterance_mask]
        if not self.fast:
            for layer in self.transformer.layers:
                h = packed_encoder_layer(layer, h, utterance_mask)
            return h
        # dialogues longest first, in blocks of similar length, each block's attention padded
        # to its own length (a multiple of 16: few distinct shapes for oneDNN); the rows padded
        # to `encode_rows`. Back to the batch's order at the end.
        lengths = utterance_mask.sum(1)
        order = torch.argsort(lengths, descending=True, stable=True)
        flat_ids = flat_node_ids(utterance_mask)[order]
        by_length = flat_ids[flat_ids >= 0]  # the flat id of each row, longest dialogue first
        h = x[order][utterance_mask[order]]
        blocks = attention_blocks(lengths[order], 16, self.ATTENTION_FILL)
        n = h.shape[0]
        h = nn.functional.pad(h, (0, 0, 0, encode_rows(n) - n))
        for layer in self.transformer.layers:
            h = packed_encoder_layer(
                layer, h, blocks, fast_dropout, torch.bfloat16, fast_attention
            )
        return h[:n].index_select(0, torch.argsort(by_length))

    def forward(self, x, utterance_mask, speakers):
        nodes = self.project(self.encode(x, utterance_mask))
        edges = self.graph(utterance_mask, speakers, nodes)
        if edges.edge_weight is None:
            h = self.rgcn(nodes, edges.edge_index, edges.edge_type)
            h = self.gconv(h, edges.edge_index)
        elif self.weighted:
            h = self.rgcn(nodes, edges.edge_index, edges.edge_type, edges.edge_weight)
            h = self.gconv(h, edges.edge_index, edges.edge_weight.unsqueeze(-1))
        else:
            raise ValueError("the graph returned edge weights but does not declare `weighted`")
        h = nn.functional.leaky_relu(self.norm(h))
        return torch.cat([nodes, h], -1) if self.concat_gin_gout else h

    def parts(self) -> list[Part]:
        return [self.graph]


CONTEXTS: Registry = Registry(
    "context model",
    {"none": NoContext, "bilstm": BiLSTMContext, "cogmen": COGMENContext},
    default="none",
    supplied=("in_dim", "num_speakers"),
)

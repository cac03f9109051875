"""Context graph construction against hand-computed edges and COGMEN's relation types."""

from __future__ import annotations

import pytest
import torch

from affectrl.models.graph import WindowGraph, build_graph, num_relations


def _edges(graph, mask, speakers):
    e = graph(torch.tensor(mask), torch.tensor(speakers))
    return sorted(
        zip(e.edge_index[0].tolist(), e.edge_index[1].tolist(), e.edge_type.tolist(), strict=True)
    )


def rel(src_spk, dst_spk, src, dst, s=2):
    """COGMEN: edge_type_to_idx[str(src_spk) + str(dst_spk) + ('0' if src < dst else '1')]."""
    return (src_spk * s + dst_spk) * 2 + (0 if src < dst else 1)


def test_window_1_1_hand_computed():
    # one dialogue of 4 utterances, speakers A B A A, window past 1 / future 1
    edges = _edges(WindowGraph(2, past=1, future=1), [[True] * 4], [[0, 1, 0, 0]])
    spk = [0, 1, 0, 0]
    expected = sorted(
        (s, t, rel(spk[s], spk[t], s, t)) for t in range(4) for s in range(4) if -1 <= s - t <= 1
    )
    assert edges == expected
    assert len(edges) == 10  # 4 self loops + 3 pairs in both directions
    assert (0, 1, 2) in edges  # A -> B from the past: (0*2+1)*2+0
    assert (1, 0, 5) in edges  # B -> A from the future: (1*2+0)*2+1
    assert (2, 2, 1) in edges  # self loop A -> A counts as direction 1, like the official code


def test_batch_offsets_and_padding():
    mask = [[True, True, True], [True, True, False]]
    speakers = [[0, 1, 1], [1, 0, 0]]
    edges = _edges(WindowGraph(2, past=5, future=5), mask, speakers)
    # dialogue 1 is nodes 0..2 (9 edges), dialogue 2 is nodes 3..4 (4 edges); none crosses
    assert len(edges) == 9 + 4
    assert all((s < 3) == (t < 3) for s, t, _ in edges)
    assert (3, 4, rel(1, 0, 0, 1)) in edges and (4, 3, rel(0, 1, 1, 0)) in edges


def test_asymmetric_window_is_from_the_targets_view():
    # target t receives from t-2 .. t (past 2, future 0)
    edges = _edges(WindowGraph(1, past=2, future=0), [[True] * 4], [[0] * 4])
    pairs = {(s, t) for s, t, _ in edges}
    assert pairs == {(s, t) for t in range(4) for s in range(max(0, t - 2), t + 1)}
    assert all(k in (0, 1) for _, _, k in edges)


def test_whole_dialogue_window():
    edges = _edges(
        build_graph({"name": "window", "past": -1, "future": -1}, 3),
        [[True] * 5],
        [[0, 1, 2, 1, 0]],
    )
    assert len(edges) == 25
    assert num_relations(3) == 18
    assert max(k for *_, k in edges) < 18


def test_same_speaker_relations_do_not_grow_with_the_speakers():
    # speakers A B C: same speaker or not x direction, 4 types for any number of speakers
    graph = WindowGraph(9, past=1, future=1, relations="same_speaker")
    assert graph.num_relations == num_relations(9, "same_speaker") == 4
    edges = _edges(graph, [[True] * 3], [[0, 1, 2]])
    assert edges == [(0, 0, 3), (0, 1, 0), (1, 0, 1), (1, 1, 3), (1, 2, 0), (2, 1, 1), (2, 2, 3)]
    assert WindowGraph(9).num_relations == 162  # COGMEN's: 2 * 9^2


def test_unknown_relations_is_an_error():
    import pytest

    with pytest.raises(ValueError, match="same_speaker"):
        WindowGraph(2, relations="pairs")


def test_speaker_out_of_range_is_an_error():
    import pytest

    with pytest.raises(ValueError, match="num_speakers"):
        WindowGraph(2)(torch.tensor([[True, True]]), torch.tensor([[0, 2]]))


def test_grouped_rgcn_is_the_same_function_as_rgcn_and_the_weighted_one():
    from torch_geometric.nn import RGCNConv

    from affectrl.models.layers import GroupedRGCNConv, WeightedRGCNConv

    torch.manual_seed(0)
    x, edge_index, edge_type, weight = (
        torch.randn(30, 8, requires_grad=True),
        torch.randint(0, 30, (2, 200)),
        torch.randint(0, 40, (200,)) ** 2 % 162,  # skewed, most of the 162 types absent
        torch.rand(200),
    )
    ref, weighted, grouped = (
        RGCNConv(8, 5, 162),
        WeightedRGCNConv(8, 5, 162),
        GroupedRGCNConv(8, 5, 162),
    )
    weighted.load_state_dict(ref.state_dict())
    grouped.load_state_dict(ref.state_dict())
    expected, got = ref(x, edge_index, edge_type), grouped(x, edge_index, edge_type)
    assert torch.allclose(expected, got, atol=1e-5)
    grads = [
        torch.autograd.grad(y.square().sum(), (x, m.weight))
        for y, m in ((expected, ref), (got, grouped))
    ]
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-4)
    assert torch.allclose(
        weighted(x, edge_index, edge_type, weight),
        grouped(x, edge_index, edge_type, weight),
        atol=1e-5,
    )


def test_cogmen_uses_the_grouped_rgcn_only_above_16_relations():
    from torch_geometric.nn import RGCNConv

    from affectrl.models.context import COGMENContext
    from affectrl.models.layers import GroupedRGCNConv

    assert type(COGMENContext(12, num_speakers=2).rgcn) is RGCNConv  # 8 relations: as before
    assert type(COGMENContext(12, num_speakers=9).rgcn) is GroupedRGCNConv  # 162


def test_relation_init_is_the_same_whichever_rgcn_computes_it():
    from torch_geometric.nn import RGCNConv

    from affectrl.models.context import COGMENContext
    from affectrl.models.layers import GroupedRGCNConv, WeightedRGCNConv

    torch.manual_seed(0)
    pyg = RGCNConv(100, 100, 8)
    for conv in (WeightedRGCNConv, GroupedRGCNConv):
        torch.manual_seed(0)
        ours = conv(100, 100, 8, init="per_relation")
        assert torch.equal(ours.weight, pyg.weight) and torch.equal(ours.root, pyg.root)
        torch.manual_seed(0)
        stacked = conv(100, 100, 8)  # the grouped and weighted convs' own default
        ratio = float(pyg.weight.detach().std() / stacked.weight.detach().std())
        assert 6 < ratio < 8.5  # the bounds' ratio is 7.3
        assert torch.equal(stacked.root, pyg.root)
    small = COGMENContext(24, num_speakers=2, relation_init="stacked")
    assert isinstance(small.rgcn, RGCNConv) and float(small.rgcn.weight.detach().std()) < 0.02
    assert COGMENContext(24, num_speakers=9).rgcn.init == "stacked"  # MELD's 162: as recorded
    with pytest.raises(ValueError, match="relation init 'glorot'"):
        WeightedRGCNConv(8, 8, 2, init="glorot")

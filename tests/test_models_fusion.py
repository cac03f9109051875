"""Fusion shapes, missing-modality handling, late fusion, and COGMEN's padding mask."""

from __future__ import annotations

import pytest
import torch

from affectrl.data import Dialogue, collate
from affectrl.models import build_model
from affectrl.models.fusion import FUSIONS

DIMS = {"text": 6, "audio": 4, "visual": 5}


def _batch(seed=0, lengths=(5, 3), speakers=2):
    g = torch.Generator().manual_seed(seed)
    dialogues = [
        Dialogue(
            id=f"d{i}",
            speakers=[f"s{j % speakers}" for j in range(n)],
            labels=torch.randint(0, 3, (n,), generator=g).numpy(),
            features={m: torch.randn(n, d, generator=g).numpy() for m, d in DIMS.items()},
        )
        for i, n in enumerate(lengths)
    ]
    return collate(dialogues, list(DIMS))


@pytest.mark.parametrize("name", sorted(FUSIONS))
def test_fusion_shapes_and_missing_modality(name):
    torch.manual_seed(0)
    kwargs = {} if name == "concat" else {"hidden": 8}
    fusion = FUSIONS[name](DIMS, 3, **kwargs).eval()
    batch = _batch()
    batch.modality_mask[0, 1, 1] = False  # audio missing at dialogue 0, utterance 1
    out = fusion(batch.features, batch.modality_mask)
    assert out.fused.shape == (2, 5, fusion.out_dim)
    # whatever the missing audio holds, the fused vector is the same
    batch.features["audio"][0, 1] = 1000.0
    again = fusion(batch.features, batch.modality_mask)
    assert torch.allclose(out.fused, again.fused)
    if out.weights is not None:
        assert out.weights.shape == (2, 5, 3)
        assert out.weights[0, 1, 1] == 0
        real = batch.utterance_mask
        assert torch.allclose(out.weights[real].sum(-1), torch.ones(int(real.sum())), atol=1e-5)
    if name != "concat":
        assert out.unimodal_logits.shape == (2, 5, 3, 3)


def test_concat_without_encoder_is_the_raw_concatenation():
    fusion = FUSIONS["concat"](DIMS, 3)
    batch = _batch()
    out = fusion(batch.features, batch.modality_mask)
    assert fusion.out_dim == 15
    assert torch.equal(out.fused, torch.cat([batch.features[m] for m in DIMS], -1))


def test_fixed_weights_use_the_buffer_at_eval():
    fusion = FUSIONS["fixed"](DIMS, 3, hidden=8).eval()
    fusion.fixed_weights.copy_(torch.tensor([1.0, 0.0, 0.0]))
    batch = _batch()
    out = fusion(batch.features, batch.modality_mask)
    enc, _ = fusion.encoders(batch.features, batch.modality_mask)
    assert torch.allclose(out.fused, enc[:, :, 0])


def test_late_fusion_averages_unimodal_logits_over_present_modalities():
    torch.manual_seed(0)
    model = build_model(
        {"fusion": {"name": "late"}, "context": {"name": "bilstm", "hidden": 4, "dense": 4}},
        DIMS,
        3,
        2,
    ).eval()
    batch = _batch()
    batch.modality_mask[0, 0, 2] = False
    out = model(batch)
    assert out.unimodal_logits.shape == (8, 3, 3)
    assert torch.allclose(out.logits[0], out.unimodal_logits[0, :2].mean(0))
    assert torch.allclose(out.logits[1], out.unimodal_logits[1].mean(0))
    assert torch.isfinite(model.loss(out, batch))


def _cogmen(mask_padding):
    torch.manual_seed(0)
    spec = {"context": {"name": "cogmen", "hidden": 8, "mask_padding": mask_padding}}
    return build_model(spec, DIMS, 3, 2).eval()


def test_cogmen_padding_is_masked():
    model = _cogmen(mask_padding=True)
    both = model(_batch(lengths=(5, 3))).logits
    alone = model(collate([_dialogues_of(_batch(lengths=(5, 3)))[1]], list(DIMS))).logits
    assert torch.allclose(both[5:], alone, atol=1e-5)


def test_cogmen_official_unmasked_mode_sees_padding():
    model = _cogmen(mask_padding=False)
    both = model(_batch(lengths=(5, 3))).logits
    alone = model(collate([_dialogues_of(_batch(lengths=(5, 3)))[1]], list(DIMS))).logits
    assert not torch.allclose(both[5:], alone, atol=1e-5)


def _dialogues_of(batch):
    """Rebuild the Dialogue objects of a batch (to collate one of them alone)."""
    out = []
    for b, did in enumerate(batch.dialogue_ids):
        n = int(batch.utterance_mask[b].sum())
        out.append(
            Dialogue(
                id=did,
                speakers=[f"s{int(s)}" for s in batch.speakers[b, :n]],
                labels=batch.labels[b, :n].numpy(),
                features={m: batch.features[m][b, :n].numpy() for m in DIMS},
            )
        )
    return out


def test_packed_transformer_layer_equals_the_padded_library_layer():
    from torch import nn

    from affectrl.models.context import packed_encoder_layer

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=12, nhead=3, dropout=0.5, batch_first=True).eval()
    x = torch.randn(3, 6, 12)
    mask = torch.tensor(
        [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]], dtype=torch.bool
    )
    with torch.no_grad():
        expected = layer(x, src_key_padding_mask=~mask)[mask]
        packed = packed_encoder_layer(layer, x[mask], mask)
    assert torch.allclose(packed, expected, atol=1e-5)

"""The speed-ups that claim to change no result equal the library's computation bit for bit."""

import pytest
import torch
import torch.nn.functional as F

from affectrl.models.context import attention
from affectrl.models.dropout import Dropout, dropout


@pytest.mark.parametrize(("shape", "p"), [((7,), 0.5), ((300, 64), 0.5), ((13, 5), 0.3)])
def test_dropout_equals_the_library_values_gradient_and_generator(shape, p):
    x = torch.randn(*shape, requires_grad=True)
    results = []
    for fn in (F.dropout, dropout):
        torch.manual_seed(3)
        out = fn(x, p, True)
        after = torch.rand(4)  # the generator is left in the same state
        (grad,) = torch.autograd.grad((out * torch.arange(out.numel()).view_as(out)).sum(), x)
        results.append((out, after, grad))
    for expected, got in zip(*results, strict=True):
        assert torch.equal(expected, got)
    assert 0 < int((results[1][0] == 0).sum()) < x.numel() or x.numel() < 10


def test_dropout_on_a_transposed_tensor_and_the_module():
    x = torch.randn(6, 9).t()
    torch.manual_seed(5)
    expected = F.dropout(x, 0.5, True)
    torch.manual_seed(5)
    assert torch.equal(dropout(x, 0.5, True), expected)
    module = Dropout(0.5)
    assert torch.equal(module.eval()(x), x)
    torch.manual_seed(5)
    assert torch.equal(module.train()(x), expected)


def test_attention_with_dropout_equals_scaled_dot_product_attention():
    batch, heads, length, dim = 4, 3, 7, 8
    mask = torch.arange(length) < torch.tensor([7, 3, 1, 5]).unsqueeze(1)
    qkv = torch.randn(batch, length, 3, heads, dim, requires_grad=True)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)  # the layout packed_encoder_layer passes
    results = []
    for fn in (F.scaled_dot_product_attention, attention):
        torch.manual_seed(9)
        if fn is attention:
            out = attention(q, k, v, mask[:, None, None, :], 0.5)
        else:
            out = fn(q, k, v, attn_mask=mask[:, None, None, :], dropout_p=0.5)
        real = out.transpose(1, 2)[mask]
        (grad,) = torch.autograd.grad((real**2).sum(), qkv)
        results.append((real, grad, torch.rand(3)))
    for expected, got in zip(*results, strict=True):
        assert torch.equal(expected, got)


def test_fast_dropout_keeps_the_distribution_and_is_seeded_by_torch():
    from affectrl.models.dropout import fast_dropout

    for dtype, p in ((torch.float32, 0.5), (torch.float32, 0.3), (torch.bfloat16, 0.5)):
        x = torch.ones(200_000, dtype=dtype, requires_grad=True)
        torch.manual_seed(1)
        out = fast_dropout(x, p)
        kept = out != 0
        assert out.dtype == dtype
        assert abs(float(kept.float().mean()) - (1 - p)) < 0.01
        assert torch.allclose(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert torch.equal(grad, out.detach())  # d out / d x = mask / (1 - p)
        torch.manual_seed(1)
        assert torch.equal(fast_dropout(x, p), out)
    assert torch.equal(fast_dropout(x, 0.5, training=False), x)


def test_fast_cogmen_is_close_to_the_exact_one():
    from affectrl.models.context import COGMENContext
    from affectrl.models.layers import GroupedRGCNConv

    torch.manual_seed(0)
    exact = COGMENContext(24, num_speakers=2)
    torch.manual_seed(0)
    fast = COGMENContext(24, num_speakers=2, fast=True)
    assert isinstance(fast.rgcn, GroupedRGCNConv)
    # the same initial weights: `fast` once drew the RGCN's ~7x smaller (worth +1.4 wF1)
    a, b = exact.state_dict(), fast.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(3, 6, 24)
    mask = torch.arange(6) < torch.tensor([6, 4, 2]).unsqueeze(1)
    speakers = torch.randint(0, 2, (3, 6))
    with torch.no_grad():
        a = exact.eval()(x, mask, speakers)
        b = fast.eval()(x, mask, speakers)
    assert b.dtype == torch.float32
    assert (a - b).abs().max() < 0.05 * a.abs().max()  # bfloat16 products: ~3 digits


def test_adam_foreach_equals_the_per_parameter_loop():
    # the trainer's Adam runs with foreach=True (faster on CPU); the numbers are the same
    params = []
    for foreach in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(37, 64), torch.nn.ReLU(), torch.nn.Linear(64, 6)
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-8, foreach=foreach)
        for _ in range(10):
            loss = model(torch.randn(50, 37)).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        params.append([p.detach() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*params, strict=True))


def test_fast_encoder_pads_rows_to_few_sizes_and_drops_the_padding():
    from affectrl.models.context import COGMENContext, encode_rows

    sizes = {encode_rows(n) for n in range(1025, 2049)}
    assert len(sizes) == 16 and max(sizes) == 2048
    assert all(n <= encode_rows(n) <= 1.0625 * n for n in range(1, 5000))
    torch.manual_seed(0)
    exact, fast = COGMENContext(24, num_speakers=2), COGMENContext(24, num_speakers=2, fast=True)
    fast.load_state_dict(exact.state_dict())
    x = torch.randn(4, 9, 24)
    mask = torch.arange(9) < torch.tensor([2, 9, 1, 7]).unsqueeze(1)  # 19 rows -> 20
    with torch.no_grad():
        a, b = exact.eval().encode(x, mask), fast.eval().encode(x, mask)
    assert b.shape == a.shape == (19, 24)
    assert (a - b).abs().max() < 0.05 * a.abs().max()


def test_attention_blocks_group_similar_lengths_and_cover_every_row_once():
    from affectrl.models.context import attention_blocks

    lengths = torch.tensor([90, 80, 70, 50, 40, 12, 10])
    blocks = attention_blocks(lengths, multiple=16, fill=0.6)
    # a 96-long block keeps 90, 80, 70 (>= 57.6); 50 starts a 64-long one with 40; 12, 10: 16
    assert [b.mask.shape for b in blocks] == [(3, 96), (2, 64), (2, 16)]
    assert [b.start for b in blocks] == [0, 240, 330]
    assert [b.rows for b in blocks] == [240, 90, 22]
    assert torch.equal(torch.cat([b.mask.sum(1) for b in blocks]), lengths)
    assert len(attention_blocks(lengths)) == 1  # fill 0: one block, the exact path's layout


def test_fast_encoder_in_blocks_equals_one_padded_block():
    """The fast path's blocks (dialogues sorted by length, attention padded per block) compute
    the same function as the padded batch: only rounding differs."""
    from affectrl.models.context import COGMENContext

    torch.manual_seed(0)
    exact, fast = COGMENContext(24, num_speakers=2), COGMENContext(24, num_speakers=2, fast=True)
    fast.load_state_dict(exact.state_dict())
    lengths = torch.tensor([3, 40, 7, 38, 1, 20])
    mask = torch.arange(40) < lengths.unsqueeze(1)
    x = torch.randn(6, 40, 24)
    with torch.no_grad():
        a, b = exact.eval().encode(x, mask), fast.eval().encode(x, mask)
    assert b.shape == a.shape == (int(lengths.sum()), 24)
    assert (a - b).abs().max() < 0.05 * a.abs().max()

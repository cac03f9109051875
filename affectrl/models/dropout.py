"""Dropout that equals PyTorch's bit for bit on CPU, with the mask drawn about 1.5x faster.

On CPU `F.dropout(x, p, training=True)` draws `empty_like(x).bernoulli_(1 - p)`: per element two
32-bit outputs of the generator's Mersenne Twister make a 53-bit uniform u, and the element is kept
when u < 1 - p. `empty_like(x, float64).uniform_()` draws exactly those u (same generator, same
order, same state afterwards) through a cheaper kernel, so comparing them with 1 - p gives the
same mask. The rest (`noise.div_(1 - p)`, `x * noise`, and the gradient `grad * noise`) is what
PyTorch does. In COGMEN's training epoch the masks were 14% of the time (docs/PERFORMANCE.md).

Anything else (another device, p of 0 or 1, an integer tensor) goes to `F.dropout` unchanged.

`fast_dropout` is for where bit-for-bit agreement with PyTorch is not wanted (COGMEN's
`fast: true`): its masks come from NumPy's PCG64, seeded by one draw from PyTorch's generator
(so `torch.manual_seed` still makes a run reproducible), about 10x cheaper again.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """`F.dropout(x, p, training)`: same values, same gradient, same generator draws."""
    if not training or p == 0:
        return x
    if x.device.type != "cpu" or not 0 < p < 1 or not x.dtype.is_floating_point:
        return F.dropout(x, p, training)
    keep = 1 - p
    # empty_like keeps x's memory layout, so draws go to elements in the same order as
    # PyTorch's empty_like(x).bernoulli_(keep)
    noise = (torch.empty_like(x, dtype=torch.float64).uniform_() < keep).to(x.dtype)
    noise.div_(keep)
    return x * noise


# the bits of 2.0 in the floating types whose p = 0.5 masks are built bit by bit
_TWO = {torch.bfloat16: (np.uint16, 0x4000), torch.float32: (np.uint32, 0x4000_0000)}


@functools.cache
def _two_or_zero(dtype: torch.dtype) -> np.ndarray:
    """[256, 8] table in dtype's bits: row b holds 2.0 where bit j of the byte b is set, else 0."""
    bits_type, two = _TWO[dtype]
    bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1)
    return bits.astype(bits_type) * bits_type(two)


def fast_dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Dropout with the same distribution as `F.dropout` but other masks, drawn much faster.

    Each element is kept with probability 1 - p (for p other than 0.5 rounded to a multiple
    of 2^-16) and the kept ones are scaled by 1 / (1 - p). For p = 0.5 on a bfloat16 or
    float32 tensor the mask is one random bit per element, looked up as 0 or 2 in x's dtype
    (the multiplication then needs no type conversion).
    """
    if not training or p == 0:
        return x
    if not 0 < p < 1:
        return F.dropout(x, p, training)
    keep, n = 1 - p, x.numel()
    seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
    rng = np.random.Generator(np.random.PCG64(seed))
    if keep == 0.5 and x.dtype in _TWO:
        random_bytes = np.frombuffer(rng.bytes((n + 7) // 8), np.uint8)
        mask = np.take(_two_or_zero(x.dtype), random_bytes, axis=0).reshape(-1)[:n]
        return x * torch.from_numpy(mask).view(x.dtype).view(x.shape).to(x.device)
    kept = rng.integers(0, 1 << 16, n, dtype=np.uint16) < round(keep * (1 << 16))
    return (x * torch.from_numpy(kept).view(x.shape).to(x.device)).mul_(1 / keep)


class Dropout(nn.Dropout):
    """`nn.Dropout` through `dropout` above (same module, same state dict, same results)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p, self.training)

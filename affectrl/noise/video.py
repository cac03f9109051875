"""Raw video corruptions on one utterance's frames: array [F, H, W, C] (any dtype) -> same
shape and dtype."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from .raw import RawCorruption
from .spec import check_finite, check_fraction, register


def _as_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[0] == 0:
        raise ValueError(f"expected video frames [F, H, W, C], got shape {frames.shape}")
    return frames


@dataclass(frozen=True)
class VideoCorruption(RawCorruption):
    MODALITY = "visual"

    def __call__(self, frames: np.ndarray, item: Any = None) -> np.ndarray:
        """frames [F, H, W, C] -> same shape and dtype (item: the RawItem, unused)."""
        frames = _as_frames(frames)
        out = self.apply(frames, self.rng(np.ascontiguousarray(frames).tobytes()))
        return out.astype(frames.dtype, copy=False)

    def apply(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@register("raw", "occlude")
@dataclass(frozen=True)
class Occlude(VideoCorruption):
    """A black square patch covering `area` of each frame, at one random place for the clip
    (a hand or an object in front of the face)."""

    area: float = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("area", self.area)

    def apply(self, frames, rng):
        _, h, w, _ = frames.shape
        ph, pw = round(h * math.sqrt(self.area)), round(w * math.sqrt(self.area))
        top, left = int(rng.integers(h - ph + 1)), int(rng.integers(w - pw + 1))
        out = frames.copy()
        out[:, top : top + ph, left : left + pw] = 0
        return out


@register("raw", "frame_drop")
@dataclass(frozen=True)
class FrameDrop(VideoCorruption):
    """Drop a `fraction` of the frames; a dropped frame repeats the last delivered one (a
    frozen stream). When the first frames are dropped they repeat the first delivered frame."""

    fraction: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("fraction", self.fraction)

    def apply(self, frames, rng):
        n = frames.shape[0]
        dropped = np.zeros(n, bool)
        dropped[rng.permutation(n)[: round(self.fraction * n)]] = True
        kept = np.flatnonzero(~dropped)
        if kept.size == 0:
            return np.zeros_like(frames)
        last = np.maximum.accumulate(np.where(dropped, -1, np.arange(n)))
        return frames[np.where(last < 0, kept[0], last)]


@register("raw", "blur")
@dataclass(frozen=True)
class Blur(VideoCorruption):
    """Gaussian blur of each frame with standard deviation `sigma` pixels."""

    sigma: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite("sigma", self.sigma)
        if self.sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {self.sigma}")

    def apply(self, frames, rng):
        return gaussian_filter(frames.astype(np.float32), sigma=(0, self.sigma, self.sigma, 0))


@register("raw", "downscale")
@dataclass(frozen=True)
class Downscale(VideoCorruption):
    """Lose resolution: average `factor` x `factor` pixel blocks, then upscale back (nearest)."""

    factor: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.factor, int) or self.factor < 1:
            raise ValueError(f"factor must be a positive integer, got {self.factor!r}")

    def apply(self, frames, rng):
        f, h, w, c = frames.shape
        k = self.factor
        hp, wp = math.ceil(h / k) * k, math.ceil(w / k) * k
        padded = np.pad(
            frames.astype(np.float32), ((0, 0), (0, hp - h), (0, wp - w), (0, 0)), "edge"
        )
        small = padded.reshape(f, hp // k, k, wp // k, k, c).mean(axis=(2, 4))
        return small.repeat(k, axis=1).repeat(k, axis=2)[:, :h, :w]

"""Base of the raw-level corruptions (audio waveforms, video frames, transcripts).

A raw corruption is a frozen dataclass, chosen by name like the feature-level ones
(`{name: gaussian, level: raw, modality: audio, snr_db: 10}`), and called on one utterance's
media as `corruption(signal, item)`: the signature of the feature extractors' transform hook
(affectrl.features.transforms; `item` is a RawItem, or for audio simply the sample rate in Hz).
Its randomness comes from `seed` and a hash of the input itself, so the same file gets the same
damage in every run and in every process, whatever order files are processed in. The `spec`
attribute (a JSON-able dict) is what the feature store keys corrupted features by.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .spec import spec_key, spec_of


@dataclass(frozen=True)
class RawCorruption:
    """Base: `modality` must be the one the class works on (MODALITY)."""

    modality: str = ""
    seed: int = 0
    MODALITY: ClassVar[str]
    name: ClassVar[str]
    level: ClassVar[str]

    def __post_init__(self) -> None:
        if not self.modality:
            object.__setattr__(self, "modality", self.MODALITY)
        if self.modality != self.MODALITY:
            raise ValueError(
                f"raw corruption {self.name!r} applies to {self.MODALITY}, not {self.modality!r}"
            )
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    @property
    def spec(self) -> dict[str, Any]:
        """The YAML/JSON-able spec that rebuilds this corruption."""
        return spec_of(self)

    @property
    def cache_key(self) -> str:
        """Canonical JSON of the spec: equal corruptions share cached features."""
        return spec_key(self.spec)

    def rng(self, content: bytes) -> np.random.Generator:
        """A generator seeded by `seed` and the content (deterministic per input)."""
        return np.random.default_rng([self.seed, zlib.crc32(content)])

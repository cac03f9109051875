"""The raw-input transform hook: a callable applied to each raw signal before it is encoded.

A transform is called as ``transform(signal, item)`` and returns a signal of the same kind:

    text    str
    audio   float32 [samples] mono waveform in [-1, 1]; item.sample_rate in Hz
    visual  uint8 [F, H, W, 3] RGB frames, after frame sampling and before crop/resize

`item` (a `RawItem`) names the utterance, so a transform can seed its randomness per
utterance and give the same corruption on every run. Every transform must carry a `spec`
attribute (a string or JSON-serialisable dict, e.g. {"name": "white_noise", "snr_db": 5,
"seed": 0}); the spec is part of the feature store key, so corrupted features are cached apart
from clean ones and by corruption spec. `with_spec(fn, spec)` attaches one to a plain function.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RawItem:
    """The utterance a raw signal belongs to.

    Attributes:
        id: utterance id (unique within the dataset).
        modality: "text", "audio" or "visual".
        sample_rate: Hz, for audio; None otherwise.
        path: the media file or folder the signal was read from, when there is one.
    """

    id: str
    modality: str
    sample_rate: int | None = None
    path: str | None = None


RawTransform = Callable[[Any, RawItem], Any]


class _SpecTransform:
    def __init__(self, fn: Callable[[Any, RawItem], Any], spec: str | dict):
        self.fn, self.spec = fn, spec

    def __call__(self, signal: Any, item: RawItem) -> Any:
        return self.fn(signal, item)

    def __repr__(self) -> str:
        return f"RawTransform({self.spec!r})"


def with_spec(fn: Callable[[Any, RawItem], Any], spec: str | dict) -> RawTransform:
    """Wrap `fn(signal, item)` as a transform whose cache identity is `spec`."""
    transform_spec(_SpecTransform(fn, spec))  # validates the spec now, not mid-extraction
    return _SpecTransform(fn, spec)


def transform_spec(transform: RawTransform | None) -> str | dict | None:
    """The transform's spec for the store key (None without a transform)."""
    if transform is None:
        return None
    spec = getattr(transform, "spec", None)
    if spec is None:
        raise ValueError(
            f"raw transform {transform!r} has no `spec`: give it one (affectrl.features.with_spec)"
            " so its features are cached apart from clean ones"
        )
    try:
        json.dumps(spec, sort_keys=True)
    except TypeError as exc:
        raise ValueError(f"transform spec {spec!r} is not JSON-serialisable: {exc}") from None
    return spec

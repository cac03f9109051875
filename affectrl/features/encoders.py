"""Frozen encoders chosen by name, and the base class they share.

Names (options after `?` as key=value pairs joined by `&`, e.g. `cnn:w.safetensors?frames=4`):

    text    minilm            the packaged all-MiniLM-L6-v2 sentence encoder (384-d), default
            st:PATH           any sentence-transformers model in a local folder
    audio   egemaps           openSMILE eGeMAPSv02 functionals (88-d), default
            compare           openSMILE ComParE_2016 functionals (6373-d)
    visual  cnn:PATH          the small torch CNN saved by `save_small_cnn` (safetensors)
            tv:ARCH:PATH      a torchvision model with local weights (needs the `vision` extra)
            visual options: frames=N, crop=none|center|X,Y,W,H, size=PX, pool=mean|max

Nothing is ever downloaded: every model comes from an installed package or a local file.
Torch encoders (text, visual) run on `device` (auto | cpu | cuda[:N], see affectrl.device);
openSMILE runs on the CPU. The device is not part of the store key: vectors extracted on a GPU
are reused on the CPU (they agree to float rounding).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..registry import Registry
from .transforms import RawTransform

DEFAULT_ENCODERS = {"text": "minilm", "audio": "egemaps", "visual": None}


class Encoder(ABC):
    """A frozen encoder of one modality: raw inputs -> float32 [N, D].

    Subclasses define `modality`, `slug` (short folder-safe name), `settings()` (everything
    that changes the vectors: the store key) and `encode`.
    """

    modality: str
    slug: str
    templated: bool = False  # encodes TemplateInput items (text templates other than utterance)

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The encoder's identity and settings (JSON-serialisable)."""

    @abstractmethod
    def encode(
        self, items: Sequence[Any], ids: Sequence[str], transform: RawTransform | None = None
    ) -> np.ndarray:
        """Encode N raw inputs (texts or media paths) -> float32 [N, D]."""

    def fingerprint(self, item: Any) -> str:
        """A string that changes when the raw input changes (the text itself by default)."""
        return str(item)


def parse_options(name: str) -> tuple[str, dict[str, str]]:
    """Split `base?k=v&k2=v2` into (base, {k: v})."""
    base, _, query = name.partition("?")
    options = {}
    for pair in filter(None, query.split("&")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"encoder option {pair!r} in {name!r} must look like key=value")
        options[key.strip()] = value.strip()
    return base, options


def _text(base: str, options: dict, batch_size: int | None, device: str | None) -> Encoder:
    from .text import SentenceEncoder

    return SentenceEncoder.from_name(base, options, batch_size, device)


def _audio(base: str, options: dict, batch_size: int | None, device: str | None) -> Encoder:
    from .audio import OpenSmileEncoder

    return OpenSmileEncoder(base, options)


def _visual(base: str, options: dict, batch_size: int | None, device: str | None) -> Encoder:
    from .visual import FrameEncoder

    return FrameEncoder.from_name(base, options, batch_size, device)


class EncoderEntry(NamedTuple):
    """A registered encoder: the modality it encodes, its factory(base, options, batch_size,
    device), and its name as users write it (a prefix ending in ':' takes an argument, e.g.
    st:PATH)."""

    modality: str
    factory: Callable[[str, dict, int | None, str | None], Encoder]
    usage: str
    description: str


# exact name, or prefix ending in ':' -> entry
ENCODERS: Registry[EncoderEntry] = Registry("encoder")
for _key, _entry in {
    "minilm": EncoderEntry("text", _text, "minilm", "packaged all-MiniLM-L6-v2, 384-d (default)"),
    "st:": EncoderEntry("text", _text, "st:PATH", "a local sentence-transformers model folder"),
    "egemaps": EncoderEntry(
        "audio", _audio, "egemaps", "openSMILE eGeMAPSv02 functionals, 88-d (default)"
    ),
    "compare": EncoderEntry(
        "audio", _audio, "compare", "openSMILE ComParE_2016 functionals, 6373-d"
    ),
    "cnn:": EncoderEntry(
        "visual", _visual, "cnn:PATH", "small torch CNN from a local safetensors file"
    ),
    "tv:": EncoderEntry(
        "visual", _visual, "tv:ARCH:PATH", "torchvision ARCH with local weights (`vision` extra)"
    ),
}.items():
    ENCODERS.register(_key, _entry, description=f"{_entry.modality}: {_entry.description}")

HELP = {entry.usage: ENCODERS.describe(key) for key, entry in ENCODERS.items()}


def known_names(modality: str | None = None) -> list[str]:
    """Registered names (prefixes shown with their argument) for `modality` or all."""
    return [e.usage for e in ENCODERS.values() if modality in (None, e.modality)]


def get_encoder(
    name: str,
    modality: str | None = None,
    batch_size: int | None = None,
    device: str | None = None,
) -> Encoder:
    """The encoder called `name` (see the module docstring), checked against `modality`;
    device: where a torch encoder runs (None: auto)."""
    base, options = parse_options(name)
    for key, entry in ENCODERS.items():
        is_prefix = key.endswith(":")
        if (base == key and not is_prefix) or (is_prefix and base.startswith(key) and base != key):
            if modality is not None and entry.modality != modality:
                raise ValueError(
                    f"encoder {name!r} encodes {entry.modality}, not {modality}; "
                    f"{modality} encoders: {', '.join(known_names(modality))}"
                )
            return entry.factory(base, options, batch_size, device)
    where = f" for {modality}" if modality else ""
    raise ValueError(
        f"unknown encoder {name!r}{where}; known: {', '.join(known_names(modality))}"
        " (or 'shipped' to keep a dataset's own features)"
    )

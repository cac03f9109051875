"""Corruptions chosen by name from YAML-able specs.

Example: `{name: gaussian, modality: text, snr_db: -10}`.

A spec is a mapping with `name`, `modality`, an optional `level` (`feature`, the default, or
`raw`) and the corruption's parameters. The same name means the same kind of damage at both
levels (`gaussian` is white Gaussian noise at a target SNR on features and on raw audio).
A list of specs is applied in order (see feature.Compose).
"""

from __future__ import annotations

import dataclasses
import json
import math
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..data.types import MODALITIES
from ..registry import Registry

LEVELS = ("feature", "raw")

# level -> name -> corruption class; filled by the @register decorator of each module.
CORRUPTIONS: dict[str, Registry[type]] = {
    level: Registry(f"{level}-level corruption") for level in LEVELS
}


def register(level: str, name: str):
    """Class decorator: make a corruption available under `name` at `level`."""

    def wrap(cls: type) -> type:
        cls.name = name
        cls.level = level
        return CORRUPTIONS[level].register(name, cls)

    return wrap


def known_names(level: str) -> list[str]:
    return sorted(CORRUPTIONS[level])


def snr_severity(snr_db):
    """Noise fraction N / (S + N) of an SNR in dB (0 dB -> 0.5, -20 dB -> 0.99): the one
    SNR -> severity formula of the grids, the corruption reports and the quality estimates.
    A float or a tensor of SNRs."""
    return 1.0 / (1.0 + 10 ** (snr_db / 10))


def check_modality(modality: str, allowed: tuple[str, ...] = MODALITIES) -> None:
    if modality not in allowed:
        raise ValueError(f"unknown modality {modality!r}; expected one of {list(allowed)}")


def check_fraction(name: str, value: float, allow_zero: bool = True) -> None:
    """A fraction in [0, 1] ((0, 1] when allow_zero is False)."""
    ok = isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1
    if not ok or (not allow_zero and value == 0):
        bound = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be a fraction in {bound}, got {value!r}")


def check_finite(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def spec_of(corruption: Any) -> dict[str, Any]:
    """The YAML-able spec that rebuilds `corruption` (name, level and every init field)."""
    out: dict[str, Any] = {"name": corruption.name, "level": corruption.level}
    for f in dataclasses.fields(corruption):
        if f.init and f.metadata.get("spec", True):
            value = getattr(corruption, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def spec_key(spec: Mapping[str, Any] | list) -> str:
    """Canonical JSON of a spec (sorted keys): equal specs give equal keys (for caches)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed from integers and strings (stable across runs and machines)."""
    ints = [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts]
    return int(np.random.SeedSequence([abs(i) for i in ints]).generate_state(2, np.uint64)[0] >> 1)


def build(spec: Mapping[str, Any], **context: Any) -> Any:
    """Instantiate one corruption from its spec; bad specs raise ValueError saying why.

    context: objects a corruption needs but that are not part of its spec (e.g. `stats`, the
    training-feature statistics of the Gaussian feature corruption); ignored by the others.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"a corruption spec must be a mapping, got {type(spec).__name__}: {spec!r}"
        )
    params = dict(spec)
    name = params.pop("name", None)
    level = params.pop("level", "feature")
    if level not in LEVELS:
        raise ValueError(f"unknown corruption level {level!r} in {dict(spec)}; expected {LEVELS}")
    if name is None:
        raise ValueError(f"corruption spec {dict(spec)} has no 'name'")
    if name not in CORRUPTIONS[level]:
        raise ValueError(
            f"unknown {level}-level corruption {name!r}; known: {', '.join(known_names(level))}"
        )
    cls = CORRUPTIONS[level][name]
    accepted = {f.name for f in dataclasses.fields(cls) if f.init and f.metadata.get("spec", True)}
    unknown = set(params) - accepted
    if unknown:
        raise ValueError(
            f"corruption {name!r} got unknown parameter(s) {sorted(unknown)}; "
            f"accepted: {sorted(accepted)}"
        )
    needed = {
        f.name for f in dataclasses.fields(cls) if f.init and not f.metadata.get("spec", True)
    }
    extra = {k: v for k, v in context.items() if k in needed}
    try:
        return cls(**params, **extra)
    except TypeError as exc:  # a required parameter is missing
        raise ValueError(f"corruption {name!r}: {exc}") from None

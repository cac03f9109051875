"""Named protocols: evaluation grids (a fixed list of cells, each a list of corruption specs)
and training curricula (a sampler of corruption specs whose severity ramps up over training).

`affectrl noise list` prints them; `get_protocol(name)` returns one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np

from ..data.batch import DialogueBatch
from ..data.types import MODALITIES
from ..registry import Registry
from .feature import FeatureStats, build_feature_corruption
from .spec import CORRUPTIONS, derive_seed, snr_severity


@dataclass(frozen=True)
class Cell:
    """One condition of a grid.

    name: e.g. "text/gaussian/-10", "text+audio/missing/0.6", "clean".
    modalities: the corrupted modalities ("" for clean).
    corruption: "clean" or the corruption name.
    value: the native parameter (SNR dB or fraction), None for clean.
    severity: the common [0, 1] scale (noise fraction N/(S+N) for gaussian and babble, the
        fraction for missing/substitute, the masked share of dimensions for dim_mask), 0 for
        clean.
    specs: the corruption specs applied, in order (YAML-able).
    level: "feature" (specs act on the feature batch) or "raw" (on the media before feature
        extraction: the cell's name and corruption carry a "raw-" prefix, e.g.
        "audio/raw-babble/10", so it never shares a name with a feature-level cell).
    """

    name: str
    modalities: tuple[str, ...]
    corruption: str
    value: float | None
    severity: float
    specs: tuple[dict[str, Any], ...]
    level: str = "feature"


@dataclass(frozen=True)
class EvalGrid:
    """A named list of cells. level: "feature", "raw" (every cell corrupts media) or "mixed"."""

    name: str
    description: str
    cells: tuple[Cell, ...]
    level: str = "feature"
    kind: str = field(default="grid", init=False)

    def cell(self, name: str) -> Cell:
        for c in self.cells:
            if c.name == name:
                return c
        raise KeyError(f"grid {self.name!r} has no cell {name!r}")

    def restricted(self, modalities: Sequence[str]) -> EvalGrid:
        """The grid as it applies to data with these modalities: the cells that corrupt only
        modalities the data has (clean always), in order. A grid that shares no corrupted
        modality with the data is an error, not a grid of one clean cell."""
        cells = tuple(c for c in self.cells if set(c.modalities) <= set(modalities))
        if len(cells) == 1 < len(self.cells):
            touched = sorted({m for c in self.cells for m in c.modalities})
            raise ValueError(
                f"noise grid {self.name!r} corrupts {touched}; the data has {list(modalities)}"
            )
        return replace(self, cells=cells)



SNR_CORRUPTIONS = ("gaussian", "babble")  # whose value is an SNR in dB
PARAMETER = {"gaussian": "snr_db", "babble": "snr_db", "dim_mask": "dims"}  # else "fraction"


def _spec(corruption: str, modality: str, value: float, level: str = "feature") -> dict[str, Any]:
    spec = {"name": corruption, "modality": modality, PARAMETER.get(corruption, "fraction"): value}
    return spec | ({"level": level} if level != "feature" else {})


def _cell(
    corruption: str, mods: Sequence[str], value: float, level: str = "feature", prefix: str = ""
) -> Cell:
    """prefix: put before the corruption in the cell's name and corruption ("raw-" for the
    raw-level cells of a mixed grid)."""
    severity = snr_severity(value) if corruption in SNR_CORRUPTIONS else float(value)
    return Cell(
        name=f"{'+'.join(mods)}/{prefix}{corruption}/{value:g}",
        modalities=tuple(mods),
        corruption=prefix + corruption,
        value=float(value),
        severity=severity,
        specs=tuple(_spec(corruption, m, value, level) for m in mods),
        level=level,
    )


CLEAN = Cell("clean", (), "clean", None, 0.0, ())


def modality_grid(
    name: str,
    description: str,
    severities: dict[str, Sequence[float]],
    pair_values: dict[str, float] | None = None,
    modalities: Sequence[str] = MODALITIES,
    only: dict[str, Sequence[str]] | None = None,
    raw: dict[str, Sequence[float]] | None = None,
) -> EvalGrid:
    """clean + each modality x each corruption x each value, + modality pairs at pair_values.

    only: corruption -> the modalities it applies to (default: all); raw: raw-level corruption
    -> values, for the modalities that corruption registers for (audio, visual, text), as
    "raw-" cells after the feature-level ones (the grid's level is then "mixed")."""
    only = only or {}
    cells = [CLEAN]
    for corruption, values in severities.items():
        mods = [m for m in modalities if m in only.get(corruption, modalities)]
        cells += [_cell(corruption, (m,), v) for m in mods for v in values]
    for corruption, values in (raw or {}).items():
        mods = [m for m in modalities if m in raw_modalities(corruption)]
        cells += [_cell(corruption, (m,), v, "raw", "raw-") for m in mods for v in values]
    for corruption, value in (pair_values or {}).items():
        cells += [_cell(corruption, pair, value) for pair in combinations(modalities, 2)]
    return EvalGrid(name, description, tuple(cells), "mixed" if raw else "feature")


def raw_modalities(corruption: str) -> tuple[str, ...]:
    """The modalities a raw-level corruption name is registered for."""
    from . import audio, text, video  # noqa: F401  (registers the raw corruptions)
    if corruption not in CORRUPTIONS["raw"]:
        raise ValueError(f"unknown raw-level corruption {corruption!r}")
    return (CORRUPTIONS["raw"][corruption].MODALITY,)


@dataclass(frozen=True)
class Curriculum:
    """A training curriculum: per batch, each modality independently stays clean with
    probability `p_clean`, else gets one of `kinds` at a random severity s ~ U(0, s_max), where
    s_max ramps linearly from `start` to 1 over the first `ramp` share of training.
    Severity maps to parameters as on the grids: gaussian SNR = snr_high + s*(snr_low-snr_high);
    missing/substitute fraction = s; dim_mask dims = s. Gaussian and dim_mask hit a random
    share U(0.25, 1) of the utterances, so one batch mixes clean and damaged utterances.
    `modalities`: those it corrupts, in the batch's order (default: every modality the batch
    has, so one curriculum serves text+audio+visual and audio+visual data alike).
    """

    name: str
    description: str
    kinds: tuple[str, ...] = ("gaussian", "missing", "substitute", "dim_mask")
    p_clean: float = 0.3
    start: float = 0.2
    ramp: float = 0.5
    snr_high: float = 10.0
    snr_low: float = -20.0
    modalities: tuple[str, ...] = ()  # () = every modality of the batch
    kind: str = field(default="curriculum", init=False)

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in CORRUPTIONS["feature"]]
        if unknown:
            raise ValueError(
                f"curriculum {self.name!r}: unknown corruption kinds {unknown}; "
                f"known: {', '.join(CORRUPTIONS['feature'])}"
            )

    def max_severity(self, progress: float) -> float:
        """s_max at `progress` in [0, 1] (share of training done)."""
        if self.ramp <= 0:
            return 1.0
        return self.start + (1 - self.start) * min(max(progress, 0.0) / self.ramp, 1.0)

    def sample(
        self,
        progress: float,
        rng: np.random.Generator,
        modalities: Sequence[str] = MODALITIES,
    ) -> list[dict[str, Any]]:
        """The specs for one batch (possibly empty = clean), e.g. for build_feature_corruption:
        for each of `modalities` (the batch's) that the curriculum covers, in that order."""
        specs = []
        s_max = self.max_severity(progress)
        for m in [m for m in modalities if m in (self.modalities or modalities)]:
            if rng.random() < self.p_clean:
                continue
            corruption = self.kinds[int(rng.integers(len(self.kinds)))]
            s = round(float(rng.uniform(0, s_max)), 3)
            if corruption == "gaussian":
                snr = round(self.snr_high + s * (self.snr_low - self.snr_high), 2)
                frac = round(float(rng.uniform(0.25, 1)), 2)
                specs.append({"name": "gaussian", "modality": m, "snr_db": snr, "fraction": frac})
            elif corruption == "dim_mask":
                frac = round(float(rng.uniform(0.25, 1)), 2)
                specs.append({"name": "dim_mask", "modality": m, "dims": s, "fraction": frac})
            else:
                specs.append({"name": corruption, "modality": m, "fraction": s})
        return specs

    def corrupt(
        self, batch: DialogueBatch, progress: float, seed: int, stats: FeatureStats
    ) -> DialogueBatch:
        """Sample this batch's specs (from `seed`) and apply them (the report is attached even
        when the draw is clean) — one call per training step."""
        rng = np.random.default_rng(derive_seed(seed, self.name))
        specs = self.sample(progress, rng, batch.modalities)
        return build_feature_corruption(specs, stats)(batch, seed)


PROTOCOLS: Registry[EvalGrid | Curriculum] = Registry("noise protocol")


def register_protocol(protocol: EvalGrid | Curriculum) -> EvalGrid | Curriculum:
    return PROTOCOLS.register(protocol.name, protocol, description=protocol.description)


register_protocol(
    modality_grid(
        "mosi-standard",
        "each modality x {gaussian SNR 0, -5, -10, -20 dB; missing 30/60/100%; substitution "
        "30/60/100%}, the modality pairs at the middle severity (-10 dB, 60%), and clean",
        {
            "gaussian": (0, -5, -10, -20),
            "missing": (0.3, 0.6, 1.0),
            "substitute": (0.3, 0.6, 1.0),
        },
        pair_values={"gaussian": -10, "missing": 0.6, "substitute": 0.6},
    )
)
register_protocol(
    modality_grid(
        "quick",
        "a 10-cell smoke grid: clean + each modality x {gaussian -10 dB, missing 60%, "
        "substitution 60%}",
        {"gaussian": (-10,), "missing": (0.6,), "substitute": (0.6,)},
    )
)
register_protocol(
    EvalGrid(
        "raw-audio-snr",
        "raw audio white noise before feature extraction at 20, 10, 0 dB, and clean",
        (CLEAN, *(_cell("gaussian", ("audio",), v, level="raw") for v in (20, 10, 0))),
        level="raw",
    )
)
# RAVDESS audio-visual's feature-level cells: each modality x {gaussian SNR, missing,
# substitution}, dimension masking of the action units, the pair at the middle severity.
RAVDESS_AV_CELLS: dict = {
    "severities": {
        "gaussian": (0, -5, -10, -20),
        "missing": (0.3, 0.6, 1.0),
        "substitute": (0.3, 0.6, 1.0),
        "dim_mask": (0.3, 0.6, 1.0),
    },
    "pair_values": {"gaussian": -10, "missing": 0.6, "substitute": 0.6},
    "modalities": ("audio", "visual"),
    "only": {"dim_mask": ("visual",)},
}
register_protocol(
    modality_grid(
        "ravdess-av-standard",
        "RAVDESS audio-visual: each modality x {gaussian SNR 0, -5, -10, -20 dB; missing "
        "30/60/100%; substitution 30/60/100%}, dimension masking 30/60/100% of the action units "
        "(visual), raw audio white and babble noise at 20/10/0 dB before feature extraction, the "
        "pair at the middle severity (-10 dB, 60%), and clean",
        **RAVDESS_AV_CELLS,
        raw={"gaussian": (20, 10, 0), "babble": (20, 10, 0)},
    )
)
register_protocol(  # the same without the raw cells, which re-extract eGeMAPS per cell
    modality_grid(
        "ravdess-av-features",
        "the feature-level cells of ravdess-av-standard (no raw-audio cells, so nothing is "
        "extracted again: seconds, where the raw cells take minutes); the main job's grid",
        **RAVDESS_AV_CELLS,
    )
)
register_protocol(
    Curriculum(
        "curriculum-ravdess-av",
        "the training curriculum of ravdess-av-standard: curriculum-standard's mixture (gaussian "
        "10..-20 dB / missing / substitution / dim-mask) on audio and visual",
        modalities=("audio", "visual"),
    )
)
register_protocol(
    Curriculum(
        "curriculum-standard",
        "training curriculum: per modality clean w.p. 0.3, else gaussian (10..-20 dB) / missing / "
        "substitution / dim-mask, max severity ramping 0.2 -> 1 over the first half of training; "
        "every modality the data has",
    )
)
register_protocol(
    Curriculum(
        "curriculum-flat",
        "the same mixture at full severity range from the first step (the no-curriculum ablation)",
        ramp=0.0,
    )
)


def get_protocol(name: str) -> EvalGrid | Curriculum:
    return PROTOCOLS[name]  # an unknown name: "unknown noise protocol ...; known: ..."


def get_grid(name: str) -> EvalGrid:
    protocol = get_protocol(name)
    if not isinstance(protocol, EvalGrid):
        raise ValueError(f"protocol {name!r} is a training curriculum, not an evaluation grid")
    return protocol


def get_curriculum(name: str) -> Curriculum:
    protocol = get_protocol(name)
    if not isinstance(protocol, Curriculum):
        raise ValueError(
            f"noise protocol {name!r} is an evaluation grid, not a training curriculum"
        )
    return protocol

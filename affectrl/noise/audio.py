"""Raw audio corruptions on one waveform: float [N] samples at `sr` Hz -> float32 [N].

SNR convention: global SNR over the whole utterance, 10*log10(mean(x^2) / mean(n^2)), where n is
the added signal; the noise is scaled to hit the target exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import soundfile as sf

from .raw import RawCorruption
from .spec import check_finite, check_fraction, register


def power(x: np.ndarray) -> float:
    """Mean square of a waveform."""
    return float(np.mean(np.square(x, dtype=np.float64)))


def measure_snr_db(clean: np.ndarray, corrupted: np.ndarray) -> float:
    """SNR in dB of `corrupted` against `clean` (the difference is the noise)."""
    return 10 * math.log10(power(clean) / power(np.asarray(corrupted, np.float64) - clean))


def estimate_snr_db(
    wave: np.ndarray, sr: int, frame_ms: float = 20.0, quantile: float = 0.1
) -> float:
    """Blind SNR estimate of a speech waveform in dB (no clean reference).

    The noise power is the mean power of the quietest `quantile` of `frame_ms` frames (pauses
    carry only noise); SNR = 10*log10((P_total - P_noise) / P_noise), clipped to [-30, 60].
    """
    wave = np.asarray(wave, np.float64)
    frame = max(1, round(frame_ms * sr / 1000))
    n = len(wave) // frame
    if n < 2:
        raise ValueError(f"waveform too short for SNR estimation ({len(wave)} samples)")
    powers = np.sort(np.mean(wave[: n * frame].reshape(n, frame) ** 2, axis=1))
    p_noise = powers[: max(1, int(quantile * n))].mean()
    p_total = powers.mean()
    if p_noise <= 0:
        return 60.0
    return float(np.clip(10 * np.log10(max(p_total - p_noise, 1e-12) / p_noise), -30.0, 60.0))


def mix_at_snr(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """wave + noise scaled so that the global SNR is exactly `snr_db` (float32 out)."""
    p_signal, p_noise = power(wave), power(noise)
    if p_signal == 0 or p_noise == 0:
        raise ValueError("cannot set an SNR on a silent waveform or with silent noise")
    gain = math.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    return (wave.astype(np.float64) + gain * noise).astype(np.float32)


def _as_wave(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"expected a mono waveform [N], got shape {wave.shape}")
    return wave.astype(np.float32, copy=False)


@dataclass(frozen=True)
class AudioCorruption(RawCorruption):
    MODALITY = "audio"

    def __call__(self, wave: np.ndarray, item: Any) -> np.ndarray:
        """wave float [N] -> float32 [N]; item: a RawItem (its sample_rate) or the rate in Hz."""
        sr = getattr(item, "sample_rate", item)
        if not isinstance(sr, int) or sr <= 0:
            raise ValueError(f"{self.name}: need the sample rate in Hz, got {item!r}")
        wave = _as_wave(wave)
        return self.apply(wave, sr, self.rng(wave.tobytes()))

    def apply(self, wave: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@register("raw", "gaussian")
@dataclass(frozen=True)
class WhiteNoise(AudioCorruption):
    """White Gaussian noise at a global SNR of `snr_db`."""

    snr_db: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite("snr_db", self.snr_db)

    def apply(self, wave, sr, rng):
        return mix_at_snr(wave, rng.standard_normal(wave.shape), self.snr_db)


@lru_cache(maxsize=256)
def _load_mono(path: str) -> tuple[np.ndarray, int]:
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as exc:
        raise ValueError(f"{path}: cannot read babble source: {exc}") from exc
    return data.mean(axis=1), sr


@register("raw", "babble")
@dataclass(frozen=True)
class Babble(AudioCorruption):
    """Babble: `talkers` other utterances from `pool` (WAV paths), each at a random offset,
    looped to the target length and equalised in power, summed and mixed at `snr_db`.
    A pool file identical to the input is never used as its own babble."""

    snr_db: float = 10.0
    talkers: int = 4
    pool: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite("snr_db", self.snr_db)
        object.__setattr__(self, "pool", tuple(str(p) for p in self.pool))
        if not isinstance(self.talkers, int) or self.talkers < 1:
            raise ValueError(f"talkers must be a positive integer, got {self.talkers!r}")
        if len(self.pool) < self.talkers:
            raise ValueError(
                f"babble needs a pool of at least talkers={self.talkers} WAV files, "
                f"got {len(self.pool)}"
            )

    def apply(self, wave, sr, rng):
        mix = np.zeros(wave.shape, np.float64)
        used = 0
        for i in rng.permutation(len(self.pool)):
            other, other_sr = _load_mono(self.pool[i])
            if other_sr != sr:
                raise ValueError(f"{self.pool[i]}: sample rate {other_sr} Hz, input has {sr} Hz")
            if (other.shape == wave.shape and np.array_equal(other, wave)) or power(other) == 0:
                continue
            start = int(rng.integers(len(other)))
            piece = np.resize(np.roll(other, -start), wave.shape).astype(np.float64)
            mix += piece / math.sqrt(power(piece) or 1.0)
            used += 1
            if used == self.talkers:
                break
        if used == 0:
            raise ValueError("babble pool has no usable file other than the input")
        return mix_at_snr(wave, mix, self.snr_db)


@register("raw", "clip")
@dataclass(frozen=True)
class Clip(AudioCorruption):
    """Hard clipping at `threshold` times the waveform's peak amplitude (1 = no clipping)."""

    threshold: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("threshold", self.threshold, allow_zero=False)

    def apply(self, wave, sr, rng):
        limit = self.threshold * float(np.max(np.abs(wave)))
        return np.clip(wave, -limit, limit).astype(np.float32)


@register("raw", "drop_segments")
@dataclass(frozen=True)
class DropSegments(AudioCorruption):
    """Silence a `fraction` of the utterance in random non-overlapping `segment_ms` chunks
    (packet loss, a cut microphone)."""

    fraction: float = 0.2
    segment_ms: float = 100.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fraction("fraction", self.fraction)
        check_finite("segment_ms", self.segment_ms)
        if self.segment_ms <= 0:
            raise ValueError(f"segment_ms must be positive, got {self.segment_ms}")

    def apply(self, wave, sr, rng):
        seg = max(1, round(self.segment_ms * sr / 1000))
        slots = math.ceil(len(wave) / seg)
        out = wave.copy()
        for slot in rng.permutation(slots)[: round(self.fraction * slots)]:
            out[slot * seg : (slot + 1) * seg] = 0.0
        return out

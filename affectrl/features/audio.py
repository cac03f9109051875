"""Audio encoders: openSMILE functionals over whole utterances (eGeMAPSv02 88-d, ComParE_2016)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..data.errors import DataError
from ..data.ravdess import check_wav_header
from ..io import file_sha256
from .encoders import Encoder
from .transforms import RawItem, RawTransform

FEATURE_SETS = {"egemaps": ("eGeMAPSv02", 88), "compare": ("ComParE_2016", 6373)}
SAMPLE_RATE = 16_000  # Hz: what every file is resampled to before extraction (option `rate`)


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV file -> (float32 [samples] mono in [-1, 1], sample rate in Hz).

    Multi-channel audio is averaged to mono. Raises DataError naming the file for a missing,
    non-WAV, truncated, unreadable or empty file.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "audio file not found")
    check_wav_header(path)
    try:
        signal, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise DataError(path, f"unreadable WAV: {exc}") from None
    if signal.shape[0] == 0:
        raise DataError(path, "WAV file holds no samples")
    return signal.mean(axis=1), int(rate)


def resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    """float32 [samples] at `rate` Hz -> float32 at `target` Hz (polyphase, anti-aliased)."""
    if rate == target:
        return signal
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(signal, target // g, rate // g).astype(np.float32)


class OpenSmileEncoder(Encoder):
    """openSMILE functionals: N WAV paths -> float32 [N, D] (D = 88 eGeMAPSv02, 6373 ComParE).

    Each utterance's whole waveform is summarised by the feature set's functionals (means,
    percentiles, slopes of low-level descriptors such as pitch, loudness, jitter, MFCCs).
    Every file is first resampled to `rate` Hz (option `rate`, default 16000): functionals of
    the same speech differ with the sample rate (a RAVDESS classifier trained at 16 kHz loses
    about 10 points on 48 kHz originals), so files of mixed rates are never encoded as-is.
    """

    modality = "audio"

    def __init__(self, name: str, options: dict[str, Any] | None = None):
        if name not in FEATURE_SETS:
            raise ValueError(
                f"unknown openSMILE feature set {name!r}; known: {sorted(FEATURE_SETS)}"
            )
        options = dict(options or {})
        rate = options.pop("rate", SAMPLE_RATE)
        if options:
            raise ValueError(
                f"audio encoder {name!r} takes only the option `rate`, got {sorted(options)}"
            )
        try:
            self.rate = int(rate)
        except ValueError:
            raise ValueError(f"audio encoder option rate={rate!r}: an integer in Hz") from None
        if self.rate < 8000:
            raise ValueError(f"audio encoder option rate={self.rate} Hz: use 8000 Hz or more")
        self.slug = name if self.rate == SAMPLE_RATE else f"{name}-{self.rate}"
        self.feature_set, self.dim = FEATURE_SETS[name]
        self._smile = None

    def settings(self) -> dict[str, Any]:
        return {
            "encoder": "opensmile",
            "feature_set": self.feature_set,
            "feature_level": "Functionals",
            "opensmile": metadata.version("opensmile"),
            "sample_rate": self.rate,
        }

    def fingerprint(self, item: Any) -> str:
        """File name and the SHA-256 of its bytes: changes whenever the audio changes (even with
        its size and modification time kept)."""
        path = Path(item)
        try:
            return f"{path.name}|{file_sha256(path)}"
        except OSError:
            return f"{path.name}|missing"

    def _extractor(self):
        if self._smile is None:
            import opensmile

            self._smile = opensmile.Smile(
                feature_set=getattr(opensmile.FeatureSet, self.feature_set),
                feature_level=opensmile.FeatureLevel.Functionals,
            )
        return self._smile

    def encode(
        self, items: Sequence[str], ids: Sequence[str], transform: RawTransform | None = None
    ) -> np.ndarray:
        smile = self._extractor()
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for row, (path, uid) in enumerate(zip(items, ids, strict=True)):
            signal, rate = read_wav(path)
            signal, rate = resample(signal, rate, self.rate), self.rate
            if transform is not None:
                signal = np.asarray(
                    transform(signal, RawItem(uid, "audio", rate, str(path))), np.float32
                )
            values = smile.process_signal(signal, rate).to_numpy(dtype=np.float32)
            if values.shape != (1, self.dim):
                raise DataError(
                    path, f"openSMILE gave {values.shape} features, expected {self.dim}"
                )
            if not np.isfinite(values).all():
                raise DataError(path, "openSMILE features contain NaN/Inf (audio too short?)", uid)
            out[row] = values[0]
        return out

"""Noise and missing-modality suite: feature- and raw-level corruptions chosen by name,
evaluation grids and training curricula (protocols), and label-free quality estimates."""

from . import audio, text, video  # noqa: F401  (register the raw-level corruptions)
from .feature import (
    FEATURE_KINDS,
    Compose,
    FeatureStats,
    build_feature_corruption,
)
from .spec import build, spec_key

__all__ = [
    "FEATURE_KINDS",
    "Compose",
    "FeatureStats",
    "build",
    "build_feature_corruption",
    "spec_key",
]

"""Noise and missing-modality suite: feature- and raw-level corruptions chosen by name,
evaluation grids and training curricula (protocols), and label-free quality estimates."""

from . import audio, text, video  # noqa: F401  (register the raw-level corruptions)
from .feature import (
    Compose,
    FeatureStats,
    build_feature_corruption,
    feature_kinds,
    kind_code,
)
from .spec import build, spec_key

__all__ = [
    "Compose",
    "FeatureStats",
    "build",
    "build_feature_corruption",
    "feature_kinds",
    "kind_code",
    "spec_key",
]

"""Frozen feature encoders (text, audio, visual frames) and the feature store they write to.

Other stages use `attach_features(ds, {"text": "minilm"})`; see docs/FEATURES.md.
"""

from .encoders import Encoder, get_encoder, known_names
from .extract import (
    SHIPPED,
    attach_features,
    extract_audio,
    extract_frames,
    extract_items,
    extract_modality,
    extract_texts,
)
from .store import ExtractResult, FeatureStore, settings_hash
from .templates import TEMPLATES, TextTemplate, build_template
from .transforms import RawItem, RawTransform, transform_spec, with_spec

__all__ = [
    "SHIPPED",
    "TEMPLATES",
    "TextTemplate",
    "Encoder",
    "ExtractResult",
    "FeatureStore",
    "RawItem",
    "RawTransform",
    "attach_features",
    "build_template",
    "extract_audio",
    "extract_frames",
    "extract_items",
    "extract_modality",
    "extract_texts",
    "get_encoder",
    "known_names",
    "settings_hash",
    "transform_spec",
    "with_spec",
]

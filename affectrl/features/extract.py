"""Extraction entry points: attach features to a dataset (cached), or encode inputs directly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data.errors import DataError
from ..data.types import DialogueDataset
from .encoders import Encoder, get_encoder
from .store import ExtractResult, FeatureStore, check_chunk_size
from .templates import TemplateInput, TemplateSpec, TextTemplate, build_template, template_inputs
from .transforms import RawTransform, transform_spec

SHIPPED = "shipped"
CHUNK_SIZES = {"text": 512, "audio": 32, "visual": 16}
# Media keys a modality's raw inputs may be listed under in Dialogue.media.
MEDIA_KEYS = {"audio": ("audio",), "visual": ("visual", "video")}
# Datasets that are label views of the same utterances share one store namespace (the chunk
# digests still check every id and input, so sharing can never return another text's vector).
SHARED_NAMESPACES = {"meld7": "meld", "meld3": "meld", "ravdess_av": "ravdess"}


def store_namespace(ds: DialogueDataset) -> str:
    """The dataset part of the store key: `ds.name`, or the namespace it shares."""
    return SHARED_NAMESPACES.get(ds.name, ds.name)


def key_settings(
    encoder: Encoder, transform: RawTransform | None, template: TextTemplate | None = None
) -> dict[str, Any]:
    """The store key beyond the dataset: encoder settings, modality, raw transform spec, and
    the text template's spec where it has one (`utterance` adds nothing: the key of before)."""
    key = {
        **encoder.settings(),
        "modality": encoder.modality,
        "transform": transform_spec(transform),
    }
    spec = template.spec() if template is not None else None
    if spec is not None:
        key["template"] = spec
    return key


def modality_inputs(
    ds: DialogueDataset, modality: str, template: TemplateSpec = None
) -> tuple[list[str], list[Any]]:
    """All utterance ids and their raw inputs (texts or media paths), in dataset order; for
    text with a template other than `utterance`, each utterance's `TemplateInput` (its window
    of turns, affectrl.features.templates) instead of its text."""
    template = build_template(template) if modality == "text" else None
    templated = template is not None and template.spec() is not None
    if modality != "text" and modality not in MEDIA_KEYS:
        raise ValueError(f"unknown modality {modality!r}; known: text, {', '.join(MEDIA_KEYS)}")
    where = ds.source[0] if ds.source else ds.name
    ids: list[str] = []
    items: list[Any] = []
    for d in ds.dialogues():
        if modality == "text":
            if d.texts is None:
                raise DataError(where, f"{ds.name} has no transcripts to encode as text", d.id)
            inputs = d.texts
        else:
            key = next((k for k in MEDIA_KEYS.get(modality, ()) if k in d.media), None)
            if key is None:
                raise DataError(where, f"{ds.name} has no {modality} media files to encode", d.id)
            inputs = d.media[key]
        ids += d.utterance_ids
        if templated:
            inputs = template_inputs(template, d.utterance_ids, d.speakers, inputs)
        items += list(inputs)
    return ids, items


def extract_items(
    dataset: str,
    encoder: str | Encoder,
    ids: Sequence[str],
    items: Sequence[Any],
    *,
    modality: str | None = None,
    transform: RawTransform | None = None,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    store: FeatureStore | None = None,
    source: Sequence[str] = (),
    device: str | None = None,
    template: TemplateSpec = None,
) -> ExtractResult:
    """Encode `items` (ids unique) through the feature store of `dataset`; cached and resumable.
    `source`: the files the items were read from (each source keeps its own manifest); device:
    where a torch encoder runs (auto | cpu | cuda[:N]; None: auto); template: the text
    template the items were made with (`modality_inputs`), for the store key."""
    if chunk_size is not None:
        check_chunk_size(chunk_size)  # before any model is loaded or input hashed
    enc = (
        encoder
        if isinstance(encoder, Encoder)
        else get_encoder(encoder, modality, batch_size, device)
    )
    ids, items = list(ids), list(items)
    if len(ids) != len(items):
        raise ValueError(f"{len(ids)} ids but {len(items)} inputs")
    if not enc.templated and any(isinstance(x, TemplateInput) for x in items[:1]):
        raise ValueError(
            f"text encoder {enc.slug!r} reads utterances only, not text templates "
            "(`text_template`); use a sentence-transformers encoder (minilm, st:PATH)"
        )
    store = store or FeatureStore()
    return store.extract(
        dataset,
        enc.slug,
        key_settings(enc, transform, build_template(template) if enc.modality == "text" else None),
        ids,
        [enc.fingerprint(x) for x in items],
        lambda sl: enc.encode(items[sl], ids[sl], transform),
        chunk_size=CHUNK_SIZES.get(enc.modality, 64) if chunk_size is None else chunk_size,
        progress=progress,
        desc=f"{dataset} {enc.modality}:{enc.slug}",
        source=source,
    )


def extract_modality(
    ds: DialogueDataset,
    modality: str,
    encoder: str | Encoder,
    *,
    transform: RawTransform | None = None,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    store: FeatureStore | None = None,
    device: str | None = None,
    template: TemplateSpec = None,
) -> ExtractResult:
    """Features of every utterance of `ds` for one modality, from the store or freshly encoded
    (on `device`, see `extract_items`); text through `template` (None: `utterance`)."""
    ids, items = modality_inputs(ds, modality, template)
    return extract_items(
        store_namespace(ds),
        encoder,
        ids,
        items,
        modality=modality,
        transform=transform,
        batch_size=batch_size,
        chunk_size=chunk_size,
        progress=progress,
        store=store,
        source=ds.source,
        device=device,
        template=template,
    )


def attach_features(
    ds: DialogueDataset,
    encoders: dict[str, str],
    *,
    progress: bool = True,
    transforms: Mapping[str, RawTransform] | None = None,
    device: str | None = None,
    text_template: TemplateSpec = None,
) -> DialogueDataset:
    """Set `dialogue.features[modality]` (float32 [T, D]) for each modality -> encoder name.

    `"shipped"` keeps the dataset's own features for that modality (and checks they exist).
    Other names are encoders (see `affectrl.features.encoders`), extracted from
    `Dialogue.texts` / `Dialogue.media[...]` or loaded from the feature store. `transforms`
    optionally maps a modality to a raw-input transform (cached apart by its spec); `device`
    is where torch encoders run (None: auto); `text_template` what text the text encoder reads
    per utterance (a name or {name, options}, affectrl.features.templates; None: the
    utterance alone). Returns `ds` (modified in place).
    """
    transforms = transforms or {}
    for modality, name in encoders.items():
        if name == SHIPPED:
            missing = [d.id for d in ds.dialogues() if modality not in d.features]
            if missing:
                where = ds.source[0] if ds.source else ds.name
                raise DataError(where, f"{ds.name} ships no {modality} features", missing[0])
            continue
        result = extract_modality(
            ds,
            modality,
            name,
            transform=transforms.get(modality),
            progress=progress,
            device=device,
            template=text_template,
        )
        ds.with_features(modality, result.as_dict())
    return ds


def _direct(encoder: str | Encoder, modality: str, items: Sequence[Any], transform) -> np.ndarray:
    enc = encoder if isinstance(encoder, Encoder) else get_encoder(encoder, modality)
    items = list(items)
    return enc.encode(items, [str(i) for i in range(len(items))], transform)


def extract_texts(
    texts: Sequence[str], encoder: str | Encoder = "minilm", transform: RawTransform | None = None
) -> np.ndarray:
    """Encode N texts directly (no store) -> float32 [N, D]. Transform items are ids "0".."N-1"."""
    return _direct(encoder, "text", texts, transform)


def extract_audio(
    paths: Sequence[str], encoder: str | Encoder = "egemaps", transform: RawTransform | None = None
) -> np.ndarray:
    """Encode N WAV files directly (no store) -> float32 [N, D] openSMILE functionals."""
    return _direct(encoder, "audio", paths, transform)


def extract_frames(
    sources: Sequence[Any], encoder: str | Encoder, transform: RawTransform | None = None
) -> np.ndarray:
    """Encode N frame sources (image folders, .npy videos or uint8 arrays) -> float32 [N, D]."""
    return _direct(encoder, "visual", sources, transform)

"""The feature store: extracted vectors on disk, keyed by dataset + encoder + encoder settings,
each chunk addressed by the content it encodes and checksummed.

Layout (one folder per key, readable and stable across runs and machines)::

    <cache>/features/<dataset>/<encoder-slug>-<hash8>/
        manifest-<source8>.json          one per data source (the dataset's files): dataset,
                                         source, encoder, settings (the whole key), dim, chunks
        chunk-<inputs16>.safetensors     tensor "features": float32 [n, D]; metadata "ids" (JSON
        ...                              list of the n utterance ids), "inputs" (their digest)
                                         and the file's checksum (affectrl.tensorfile)

`hash8` is the first 8 hex digits of the SHA-256 of the canonical JSON of the settings dict,
so any change of a setting (model, feature set, frame sampling, raw-input transform) gives a
new folder and never reuses stale vectors. A chunk file is named by the digest of its ids and
raw-input fingerprints (texts, or media files' SHA-256), so two sources that share a dataset
name (two BYO folders called `data`, a variant IEMOCAP pickle) can never read each other's
vectors, and a chunk is deleted only when no source's manifest lists it. Items are extracted in
fixed chunks; each chunk is written atomically as soon as it is done, so a crashed run restarts
where it stopped. A chunk that fails its checksum or holds NaN/Inf is re-encoded (with a
warning naming it), never used. A complete manifest whose chunks all verify is a cache hit:
nothing is encoded (and no model is loaded).
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..data.root import cache_root
from ..io import write_json
from ..paths import safe_name
from ..tensorfile import CorruptFileError, load_tensors, save_tensors

FORMAT_VERSION = 2
LEGACY_MANIFEST = "manifest.json"  # format 1: one manifest per folder, chunks by index


class RepairWarning(UserWarning):
    """A damaged cache file was found and is being rebuilt."""


def settings_hash(settings: dict[str, Any]) -> str:
    """First 8 hex digits of SHA-256 over the canonical JSON of `settings` (sorted keys)."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def inputs_digest(ids: Sequence[str], fingerprints: Sequence[str]) -> str:
    """SHA-256 over (id, fingerprint of the raw input) pairs: a chunk's identity."""
    h = hashlib.sha256()
    for uid, fp in zip(ids, fingerprints, strict=True):
        h.update(uid.encode("utf-8", "surrogatepass") + b"\0")
        h.update(fp.encode("utf-8", "surrogatepass") + b"\1")
    return h.hexdigest()


def check_chunk_size(chunk_size: object) -> int:
    """The chunk size as a positive int, else ValueError (before anything is written)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk size must be an integer >= 1, got {chunk_size!r}")
    return chunk_size


@dataclass
class ExtractResult:
    """What one extraction produced.

    Attributes:
        ids: N item (utterance) ids, in the order they were given.
        features: float32 [N, D], row i belongs to ids[i].
        folder: the store folder holding them; manifest: this source's manifest in it.
        computed: items encoded by this call; reused: items read back from finished chunks.
        seconds: wall time of the call, including loading.
    """

    ids: list[str]
    features: np.ndarray
    folder: Path
    manifest: Path
    computed: int
    reused: int
    seconds: float

    @property
    def cache_hit(self) -> bool:
        return self.computed == 0

    def as_dict(self) -> dict[str, np.ndarray]:
        """Utterance id -> vector [D] (views into `features`)."""
        return dict(zip(self.ids, self.features, strict=True))


def _write_chunk(path: Path, ids: list[str], digest: str, features: np.ndarray) -> None:
    metadata = {"ids": json.dumps(ids), "inputs": digest}
    save_tensors(path, {"features": np.asarray(features, dtype=np.float32)}, metadata)


def _read_chunk(path: Path, ids: list[str], digest: str, legacy: bool = False) -> np.ndarray | None:
    """The chunk's float32 [n, D] when it is intact and holds exactly `ids` with these inputs;
    None when it is missing or stale; a damaged chunk is reported and treated as missing."""
    if not path.is_file():
        return None
    try:
        tensors, meta = load_tensors(path, "np", require_checksum=not legacy)
        array = tensors["features"]
        same = json.loads(meta.get("ids", "[]")) == ids and meta.get("inputs") == digest
    except (CorruptFileError, KeyError, json.JSONDecodeError) as exc:
        warnings.warn(f"{exc}; re-encoding this chunk", RepairWarning, stacklevel=4)
        return None
    if not same:
        return None
    if array.ndim != 2 or len(array) != len(ids):
        message = f"{path}: shape {array.shape} for {len(ids)} ids; re-encoding this chunk"
        warnings.warn(message, RepairWarning, stacklevel=4)
        return None
    return array


def _read_manifest(path: Path) -> dict:
    """A manifest's content, or {} when it is missing or unreadable (its chunks still verify)."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


class FeatureStore:
    """Feature folders under `root` (default `<cache_root()>/features`)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else cache_root() / "features"

    def folder(self, dataset: str, slug: str, settings: dict[str, Any]) -> Path:
        """`<root>/<dataset>/<slug>-<hash8>` for this dataset and encoder settings."""
        return self.root / safe_name(dataset) / f"{safe_name(slug)}-{settings_hash(settings)}"

    def extract(
        self,
        dataset: str,
        slug: str,
        settings: dict[str, Any],
        ids: Sequence[str],
        fingerprints: Sequence[str],
        encode: Callable[[slice], np.ndarray],
        *,
        chunk_size: int = 512,
        progress: bool = True,
        desc: str | None = None,
        source: Sequence[str] = (),
    ) -> ExtractResult:
        """Vectors for `ids`, from verified chunks where possible, encoding the rest.

        Args:
            dataset: dataset name (first part of the key).
            slug: short readable encoder name for the folder.
            settings: everything that determines the vectors (the rest of the key).
            ids: N unique item ids; fingerprints: N strings identifying each raw input.
            encode: encode(slice of the N items) -> float32 [len, D]; called only for chunks
                that are missing, stale or damaged.
            chunk_size: items per chunk file (the unit of resumption), >= 1.
            source: the files the items come from (names this source's manifest).
        """
        start = time.perf_counter()
        chunk_size = check_chunk_size(chunk_size)
        ids = list(ids)
        if len(set(ids)) != len(ids):
            dup = next(u for u in ids if ids.count(u) > 1)
            raise ValueError(f"duplicate item id {dup!r} in {dataset}: ids must be unique")
        source = sorted(str(Path(s).resolve()) for s in source)
        folder = self.folder(dataset, slug, settings)
        folder.mkdir(parents=True, exist_ok=True)
        manifest_path = folder / f"manifest-{settings_hash({'source': source})}.json"
        old = _read_manifest(manifest_path)
        if old.get("count") == len(ids):
            try:  # a resumed run keeps the chunking its finished chunks were written with
                chunk_size = check_chunk_size(old.get("chunk_size"))
            except ValueError:
                pass
        base = {"dataset": dataset, "source": source, "slug": slug, "settings": settings}
        marked_incomplete = False

        bounds = [slice(i, min(i + chunk_size, len(ids))) for i in range(0, len(ids), chunk_size)]
        parts: list[np.ndarray] = []
        chunks, computed, reused = [], 0, 0
        bar = tqdm(
            total=len(ids), desc=desc or f"{dataset} {slug}", unit="utt", disable=not progress
        )
        for index, sl in enumerate(bounds):
            digest = inputs_digest(ids[sl], fingerprints[sl])
            path = folder / f"chunk-{digest[:16]}.safetensors"
            vectors = _read_chunk(path, ids[sl], digest)
            if vectors is None:
                vectors = self._legacy_chunk(folder, index, ids[sl], digest)
                if vectors is not None:  # taken over from format 1, now with a checksum
                    _write_chunk(path, ids[sl], digest, vectors)
            if vectors is not None:
                reused += len(vectors)
            else:
                if not marked_incomplete:  # a crash from here on leaves an incomplete manifest
                    write_json(manifest_path, self._manifest(base, len(ids), chunk_size))
                    marked_incomplete = True
                vectors = self._encode(encode, sl, ids, slug)
                _write_chunk(path, ids[sl], digest, vectors)
                computed += len(vectors)
            parts.append(vectors)
            chunks.append({"file": path.name, "count": len(vectors), "inputs": digest})
            bar.update(len(vectors))
        bar.close()

        if len({p.shape[1] for p in parts}) > 1:
            raise CorruptFileError(folder, "chunks of different dimensions; delete the folder")
        features = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        if computed or not old.get("complete") or old.get("chunks") != chunks:
            manifest = self._manifest(base, len(ids), chunk_size)
            manifest.update(complete=True, dim=int(features.shape[1]), chunks=chunks)
            write_json(manifest_path, manifest)
            self._remove_unlisted(folder)
        seconds = time.perf_counter() - start
        return ExtractResult(ids, features, folder, manifest_path, computed, reused, seconds)

    @staticmethod
    def _encode(encode: Callable[[slice], np.ndarray], sl: slice, ids: list[str], slug: str):
        vectors = np.asarray(encode(sl), dtype=np.float32)
        count = sl.stop - sl.start
        if vectors.ndim != 2 or len(vectors) != count:
            raise RuntimeError(f"encoder {slug} gave shape {vectors.shape} for {count} items")
        bad = ~np.isfinite(vectors)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise RuntimeError(f"encoder {slug} gave NaN/Inf for item {ids[sl.start + row]!r}")
        return vectors

    @staticmethod
    def _legacy_chunk(folder: Path, index: int, ids: list[str], digest: str) -> np.ndarray | None:
        """A format-1 chunk (named by index, no checksum) holding exactly these inputs, so that
        vectors encoded before checksums are kept (re-written with one) rather than re-encoded."""
        if not (folder / LEGACY_MANIFEST).is_file():
            return None
        return _read_chunk(folder / f"chunk-{index:05d}.safetensors", ids, digest, legacy=True)

    @staticmethod
    def _remove_unlisted(folder: Path) -> None:
        """Delete chunks no source's manifest lists (only when every manifest is complete: an
        extraction in progress elsewhere may be writing chunks its manifest does not list yet)."""
        listed: set[str] = set()
        for path in folder.glob("manifest-*.json"):
            manifest = _read_manifest(path)
            if not manifest.get("complete"):
                return
            listed |= {c.get("file") for c in manifest.get("chunks", []) if isinstance(c, dict)}
        for chunk in folder.glob("chunk-*.safetensors"):
            if chunk.name not in listed:
                chunk.unlink(missing_ok=True)
        (folder / LEGACY_MANIFEST).unlink(missing_ok=True)

    @staticmethod
    def _manifest(base: dict, count: int, chunk_size: int) -> dict:
        return {
            "format": FORMAT_VERSION,
            "dataset": base["dataset"],
            "source": base["source"],
            "encoder": base["slug"],
            "settings": base["settings"],
            "key": settings_hash(base["settings"]),
            "count": count,
            "chunk_size": chunk_size,
            "complete": False,
        }

"""The feature store: extracted vectors on disk, keyed by dataset + encoder + encoder settings.

Layout (one folder per key, readable and stable across runs and machines)::

    <cache>/features/<dataset>/<encoder-slug>-<hash8>/
        manifest.json            dataset, encoder, settings (the whole key), dim, chunk list
        chunk-00000.safetensors  tensor "features": float32 [n, D]; metadata "ids" (JSON list
        chunk-00001.safetensors  of the n utterance ids) and "inputs" (digest of the raw inputs)
        ...

`hash8` is the first 8 hex digits of the SHA-256 of the canonical JSON of the settings dict,
so any change of a setting (model, feature set, frame sampling, raw-input transform) gives a
new folder and never reuses stale vectors. Items are extracted in fixed chunks; each chunk is
written atomically as soon as it is done, so a crashed run restarts where it stopped, and a
chunk is reused only when the digest of its ids and raw inputs still matches. A complete
folder whose chunks all match is a cache hit: nothing is encoded (and no model is loaded).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
from tqdm.auto import tqdm

from ..data.root import cache_root
from ..io import atomic_write, write_json

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def settings_hash(settings: dict[str, Any]) -> str:
    """First 8 hex digits of SHA-256 over the canonical JSON of `settings` (sorted keys)."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:8]


def safe_name(text: str) -> str:
    """A file-system-safe folder name: runs of other characters become '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "unnamed"


def inputs_digest(ids: Sequence[str], fingerprints: Sequence[str]) -> str:
    """SHA-256 over (id, fingerprint of the raw input) pairs: a chunk's identity."""
    h = hashlib.sha256()
    for uid, fp in zip(ids, fingerprints, strict=True):
        h.update(uid.encode("utf-8", "surrogatepass") + b"\0")
        h.update(fp.encode("utf-8", "surrogatepass") + b"\1")
    return h.hexdigest()


@dataclass
class ExtractResult:
    """What one extraction produced.

    Attributes:
        ids: N item (utterance) ids, in the order they were given.
        features: float32 [N, D], row i belongs to ids[i].
        folder: the store folder holding them.
        computed: items encoded by this call; reused: items read back from finished chunks.
        seconds: wall time of the call, including loading.
    """

    ids: list[str]
    features: np.ndarray
    folder: Path
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
    array = np.ascontiguousarray(features, dtype=np.float32)
    atomic_write(path, lambda tmp: save_file({"features": array}, str(tmp), metadata=metadata))


def _read_chunk(path: Path) -> tuple[list[str], str, np.ndarray]:
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata() or {}
        return json.loads(meta.get("ids", "[]")), meta.get("inputs", ""), f.get_tensor("features")


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
    ) -> ExtractResult:
        """Vectors for `ids`, from finished chunks where possible, encoding the rest.

        Args:
            dataset: dataset name (first part of the key).
            slug: short readable encoder name for the folder.
            settings: everything that determines the vectors (the rest of the key).
            ids: N unique item ids; fingerprints: N strings identifying each raw input.
            encode: encode(slice of the N items) -> float32 [len, D]; called only for chunks
                that are missing or stale.
            chunk_size: items per chunk file (the unit of resumption).
        """
        start = time.perf_counter()
        ids = list(ids)
        if len(set(ids)) != len(ids):
            dup = next(u for u in ids if ids.count(u) > 1)
            raise ValueError(f"duplicate item id {dup!r} in {dataset}: ids must be unique")
        folder = self.folder(dataset, slug, settings)
        folder.mkdir(parents=True, exist_ok=True)
        manifest_path = folder / MANIFEST
        old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        chunk_size = (
            int(old.get("chunk_size", chunk_size)) if old.get("count") == len(ids) else chunk_size
        )
        marked_incomplete = False

        bounds = [slice(i, min(i + chunk_size, len(ids))) for i in range(0, len(ids), chunk_size)]
        parts: list[np.ndarray] = []
        chunks, computed, reused = [], 0, 0
        bar = tqdm(
            total=len(ids), desc=desc or f"{dataset} {slug}", unit="utt", disable=not progress
        )
        for index, sl in enumerate(bounds):
            path = folder / f"chunk-{index:05d}.safetensors"
            digest = inputs_digest(ids[sl], fingerprints[sl])
            vectors = None
            if path.is_file():
                chunk_ids, chunk_digest, array = _read_chunk(path)
                if chunk_digest == digest and chunk_ids == ids[sl]:
                    vectors, reused = array, reused + len(chunk_ids)
            if vectors is None:
                if not marked_incomplete:  # a crash from here on leaves an incomplete manifest
                    manifest = self._manifest(dataset, slug, settings, len(ids), chunk_size)
                    write_json(manifest_path, manifest)
                    marked_incomplete = True
                vectors = np.asarray(encode(sl), dtype=np.float32)
                count = sl.stop - sl.start
                if vectors.ndim != 2 or len(vectors) != count:
                    raise RuntimeError(
                        f"encoder {slug} gave shape {vectors.shape} for {count} items"
                    )
                _write_chunk(path, ids[sl], digest, vectors)
                computed += len(vectors)
            parts.append(vectors)
            chunks.append({"file": path.name, "count": len(vectors), "inputs": digest})
            bar.update(len(vectors))
        bar.close()

        features = np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)
        if computed or not old.get("complete") or old.get("chunks") != chunks:
            for stale in folder.glob("chunk-*.safetensors"):
                if stale.name not in {c["file"] for c in chunks}:
                    stale.unlink()
            manifest = self._manifest(dataset, slug, settings, len(ids), chunk_size)
            manifest.update(complete=True, dim=int(features.shape[1]), chunks=chunks)
            write_json(manifest_path, manifest)
        seconds = time.perf_counter() - start
        return ExtractResult(ids, features, folder, computed, reused, seconds)

    @staticmethod
    def _manifest(dataset: str, slug: str, settings: dict, count: int, chunk_size: int) -> dict:
        return {
            "format": FORMAT_VERSION,
            "dataset": dataset,
            "encoder": slug,
            "settings": settings,
            "key": settings_hash(settings),
            "count": count,
            "chunk_size": chunk_size,
            "complete": False,
        }

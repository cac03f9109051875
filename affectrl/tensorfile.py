"""Checksummed safetensors files: what the toolkit writes is verified when it is read back.

Every tensor file affectrl writes (feature chunks, checkpoints, model weights, estimators)
carries in its metadata `affectrl.sha256`: the SHA-256 over each tensor's name, dtype, shape
and bytes (in name order) and over the other metadata entries. `load_tensors` recomputes it and
refuses, with a `CorruptFileError` naming the file, a file that is truncated or unparsable,
whose checksum does not match, or that holds a non-finite value in a floating tensor. A file
without the checksum (written by another tool, or by affectrl before checksums) is accepted
unless `require_checksum` is set, and is still checked for non-finite values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open

from .io import atomic_write

CHECKSUM_KEY = "affectrl.sha256"


class CorruptFileError(ValueError):
    """A file on disk is damaged (truncated, altered, or holding NaN/Inf where none was saved);
    the message starts with the file, as a DataError's does."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch")


def _dtype_and_bytes(value: Any) -> tuple[str, tuple[int, ...], np.ndarray]:
    """(dtype name, shape, the raw bytes as a uint8 array) of a numpy array or torch tensor."""
    if _is_torch(value):
        import torch

        t = value.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy()
        return str(t.dtype).removeprefix("torch."), tuple(t.shape), raw
    a = np.ascontiguousarray(value)
    return a.dtype.name, tuple(a.shape), a.reshape(-1).view(np.uint8)


def tensor_digest(tensors: Mapping[str, Any], metadata: Mapping[str, str]) -> str:
    """SHA-256 (hex) over the tensors (name, dtype, shape, bytes; name order) and the metadata
    other than the checksum itself; the same for numpy arrays and torch tensors."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        dtype, shape, raw = _dtype_and_bytes(tensors[name])
        h.update(json.dumps([name, dtype, list(shape), raw.size]).encode() + b"\0")
        h.update(raw)
    meta = {k: v for k, v in metadata.items() if k != CHECKSUM_KEY}
    h.update(json.dumps(meta, sort_keys=True).encode())
    return h.hexdigest()


def save_tensors(
    path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None
) -> Path:
    """Write numpy arrays or torch tensors (all of one kind) as safetensors, atomically, with the
    checksum in the metadata (metadata values must be strings)."""
    meta = dict(metadata or {})
    if tensors and all(_is_torch(v) for v in tensors.values()):
        from safetensors.torch import save_file

        data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    else:
        from safetensors.numpy import save_file

        data = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    meta[CHECKSUM_KEY] = tensor_digest(data, meta)
    return atomic_write(path, lambda tmp: save_file(data, str(tmp), metadata=meta))


def _floating(value: Any) -> bool:
    if _is_torch(value):
        return value.is_floating_point()
    return np.issubdtype(value.dtype, np.floating)


def _first_non_finite(value: Any) -> int | None:
    if _is_torch(value):
        import torch

        bad = ~torch.isfinite(value.reshape(-1))
        return int(bad.nonzero()[0, 0]) if bool(bad.any()) else None
    bad = ~np.isfinite(value.reshape(-1))
    return int(np.argmax(bad)) if bad.any() else None


def load_tensors(
    path: str | Path, framework: str = "pt", *, require_checksum: bool = False
) -> tuple[dict[str, Any], dict[str, str]]:
    """-> (tensors, metadata without the checksum) of a safetensors file, verified.

    framework: "pt" (torch tensors) or "np" (numpy arrays). Raises FileNotFoundError when the
    file is missing and CorruptFileError (naming the file) when it is damaged (module docstring).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        with safe_open(str(path), framework=framework) as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CorruptFileError(path, f"not a readable safetensors file ({exc})") from None
    expected = metadata.pop(CHECKSUM_KEY, None)
    if expected is None and require_checksum:
        raise CorruptFileError(path, f"has no {CHECKSUM_KEY} checksum")
    if expected is not None and tensor_digest(tensors, metadata) != expected:
        raise CorruptFileError(path, "checksum mismatch: the file was altered or damaged on disk")
    for name, value in tensors.items():
        if _floating(value) and (at := _first_non_finite(value)) is not None:
            raise CorruptFileError(path, f"non-finite value (NaN/Inf) in tensor {name!r} at {at}")
    return tensors, metadata

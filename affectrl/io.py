"""Atomic file writes (a crash mid-write never leaves a half-written result behind) and file
digests."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)`, then rename it onto `path` (same folder: the rename is atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the result ordinary permissions
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (sorted keys, indented, so diffs between runs read well)."""
    text = json.dumps(data, indent=2, sort_keys=True, default=float) + "\n"
    return atomic_write(path, lambda p: p.write_text(text))


_DIGESTS: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes. Memoised per process by the file's inode, size, mtime and
    ctime: a rewrite always changes the ctime, even when size and mtime are put back."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]

"""Paths built from names and from data: file-system-safe names, and containment in a root.

Every path that comes from a dataset table, a config or a run folder is resolved (symlinks
followed) and must stay inside its root (the dataset folder, the runs dir, the run folder): a
`../../etc/passwd`, an absolute path or a symlink pointing out is refused, not read or written.
"""

from __future__ import annotations

import re
from pathlib import Path


class PathEscapeError(ValueError):
    """A path from data or a config points outside the folder it must stay in."""


def safe_name(text: str) -> str:
    """A file-system-safe single name: runs of other characters than A-Z a-z 0-9 . _ - become
    '_' (so `byo:some/folder` cannot nest folders); never empty, '.' or '..'."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
    return name if name.strip(".") else "unnamed"


def is_inside(path: str | Path, root: str | Path) -> bool:
    """Whether `path`, resolved (symlinks followed), is `root` or lies below it."""
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def inside(root: str | Path, relative: str | Path, what: str) -> Path:
    """`root / relative`, refused with PathEscapeError when it resolves outside `root` (an
    absolute path, `..` components, or a symlink leaving the root). `what` names the path in
    the message (e.g. "audio path in row 3")."""
    root = Path(root)
    path = root / relative
    if Path(relative).is_absolute() or not is_inside(path, root):
        raise PathEscapeError(
            f"{what} {str(relative)!r} points outside {root} (absolute paths, '..' and "
            "symlinks leaving the folder are refused)"
        )
    return path

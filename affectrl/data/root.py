"""Where the data lives: $AFFECTRL_DATA, then ./data, then ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "AFFECTRL_DATA"


def candidate_roots() -> list[Path]:
    """The data roots searched, in order of precedence."""
    roots = []
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]).expanduser())
    roots += [Path.cwd() / "data", Path.cwd().parent / "shared" / "data"]
    return roots


def data_root() -> Path:
    """The first existing data root; the environment variable wins even if empty of datasets,
    and a variable naming no folder is an error (not a silent fall-back to another root)."""
    if os.environ.get(ENV_VAR) and not candidate_roots()[0].is_dir():
        raise FileNotFoundError(
            f"{ENV_VAR}={os.environ[ENV_VAR]} is not a folder. Point it at your data folder, "
            f"unset it to use ./data or ../shared/data, or run `affectrl data download` to "
            "fetch the datasets into it."
        )
    for root in candidate_roots():
        if root.is_dir():
            return root.resolve()
    tried = ", ".join(str(r) for r in candidate_roots())
    raise FileNotFoundError(
        f"no data root found (tried {tried}). Set {ENV_VAR}=/path/to/data or run "
        "`affectrl data download` on a machine with internet."
    )


def cache_root() -> Path:
    """Where extracted features and other derived files go ($AFFECTRL_CACHE or ./.cache)."""
    return Path(os.environ.get("AFFECTRL_CACHE", Path.cwd() / ".cache")).expanduser()

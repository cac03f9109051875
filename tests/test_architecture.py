"""The layer order of docs/ARCHITECTURE.md: no module imports from a layer above its own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = REPO / "docs" / "ARCHITECTURE.md"


def layer_order(text: str) -> dict[str, int]:
    """Package -> rank from the ```layers block (one line per layer, lowest first)."""
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, f"{ARCHITECTURE}: no ```layers block"
    ranks = {}
    for rank, line in enumerate(filter(None, map(str.strip, block.group(1).splitlines()))):
        for name in map(str.strip, line.split(",")):
            ranks[name] = rank
    return ranks


def imported_packages(path: Path, package_root: Path) -> list[tuple[int, str]]:
    """(line, first-level package under `affectrl`) of every affectrl import in a module, at any
    depth (imports inside functions count), relative imports resolved."""
    module = list(path.relative_to(package_root.parent).with_suffix("").parts)
    if module[-1] == "__init__":
        module = module[:-1]
        here = module
    else:
        here = module[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            stem = base + (node.module.split(".") if node.module else [])
            targets = [stem] if node.module else [stem + [a.name] for a in node.names]
        else:
            continue
        for target in targets:
            if target[0] == package_root.name and len(target) > 1:
                found.append((node.lineno, target[1]))
    return found


def violations(package_root: Path, ranks: dict[str, int]) -> list[str]:
    """Every import of a package from a layer above its own (or from an unlisted package)."""
    out = []
    for path in sorted(package_root.rglob("*.py")):
        parts = path.relative_to(package_root).with_suffix("").parts
        own = parts[0]
        if own == "__init__":
            continue  # the package's own __init__ sits above every layer
        if own not in ranks:
            out.append(f"{path}: package {own!r} is not in the layer order")
            continue
        for line, target in imported_packages(path, package_root):
            if target == own:
                continue
            if target not in ranks:
                out.append(f"{path}:{line} imports {target!r}, which is not in the layer order")
            elif ranks[target] >= ranks[own]:
                out.append(f"{path}:{line}: {own} imports {target}, a layer at or above its own")
    return out


def test_no_module_imports_from_a_layer_above_its_own():
    ranks = layer_order(ARCHITECTURE.read_text())
    assert {"data", "models", "agents", "train", "commands"} <= set(ranks)
    assert violations(REPO / "affectrl", ranks) == []


@pytest.mark.parametrize(
    "source, bad",
    [
        ("from ..train.trainer import Run\n", True),  # models -> train: up the order
        ("def f():\n    from ..train import Run\n", True),  # inside a function too
        ("from affectrl.agents import fusion\n", True),  # absolute
        ("from .. import train\n", True),
        ("from ..data.batch import DialogueBatch\n", False),  # down the order
        ("from .fusion import FUSIONS\n", False),  # its own package
    ],
)
def test_the_check_catches_an_import_up_the_order(tmp_path, source, bad):
    root = tmp_path / "affectrl"
    for package in ("data", "models", "agents", "train"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "models" / "erc.py").write_text(source)
    ranks = {"data": 0, "models": 1, "agents": 2, "train": 3}
    found = violations(root, ranks)
    assert bool(found) == bad, found
    if bad:
        assert "models/erc.py" in found[0]


def test_an_unlisted_package_is_reported(tmp_path):
    root = tmp_path / "affectrl"
    (root / "plugins").mkdir(parents=True)
    (root / "plugins" / "x.py").write_text("")
    assert "not in the layer order" in violations(root, {"data": 0})[0]

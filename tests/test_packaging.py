"""Packaging: torch as a range, the pinned CPU wheel via constraints.txt, the `vision` extra
resolving, the version string, and a CLI whose --help does not import the heavy stack."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import affectrl

REPO = Path(__file__).resolve().parents[1]

HEAVY = ("torch", "pandas", "sklearn", "scipy", "torch_geometric")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_torch_is_a_range_and_the_pin_lives_in_the_constraints_file():
    deps = _pyproject()["project"]["dependencies"]
    torch_req = next(d for d in deps if re.match(r"torch\b", d) and "geometric" not in d)
    assert "==" not in torch_req and ">=" in torch_req
    constraints = (REPO / "constraints.txt").read_text().splitlines()
    assert "torch==2.13.0" in constraints
    assert "-c constraints.txt" in (REPO / "Makefile").read_text()
    extras = _pyproject()["project"]["optional-dependencies"]
    assert not any(d.startswith("torch") and "vision" not in d for d in extras["vision"])


def test_vision_extra_resolves_with_the_pinned_torch(tmp_path):
    """`pip install --dry-run -e '.[vision]'` resolves, keeping the pinned torch (it used to
    ask for torch 2.14.1 against the base's 2.13.0 and fail)."""
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report),
         "-c", "constraints.txt", "-e", ".[vision]"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    chosen = {i["metadata"]["name"].lower(): i["metadata"]["version"]
              for i in json.loads(report.read_text())["install"]}  # fmt: skip
    assert "torchvision" in chosen or _installed("torchvision")
    assert chosen.get("torch", "2.13.0").startswith("2.13.0")  # not replaced


def _installed(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def test_version_string_cli_and_changelog():
    out = subprocess.run(
        [sys.executable, "-m", "affectrl", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == f"affectrl {affectrl.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", affectrl.__version__)
    assert f"## {affectrl.__version__}" in (REPO / "CHANGELOG.md").read_text()
    assert (REPO / "affectrl" / "py.typed").is_file()


def test_help_and_import_do_not_load_the_heavy_stack():
    """`affectrl --help` builds every command's parser; `import affectrl` is the public API's
    entry: neither imports torch & co. (each costs seconds), only the commands that run them."""
    code = (
        "import sys, affectrl, affectrl.cli as c; c.build_parser().format_help(); "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert out.strip() == "[]"

"""YAML configs with `key.sub=value` overrides from the command line."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


def load_config(
    path: str | Path, overrides: Iterable[str] = (), _extending: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """Read a YAML config (with optional `base:` file it extends, relative to it) and apply
    overrides. A chain of bases that comes back to a config already in it is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config not found: {path}")
    chain = (*_extending, path.resolve())
    if path.resolve() in _extending:
        raise ValueError("config `base:` cycle: " + " -> ".join(str(p) for p in chain))
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a config must be a mapping, got {type(config).__name__}")
    base = config.pop("base", None)
    if base is not None and not isinstance(base, str):
        raise ValueError(f"{path}: `base:` must be the path of a config file, got {base!r}")
    if base:
        config = merge(load_config(path.parent / base, (), chain), config)
    return apply_overrides(config, overrides)


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; values of `update` win. Returns a new dict.

    A section that names a different component (`name:` changes, e.g. a config extending a
    bilstm one with `context: {name: cogmen}`) replaces the base's section instead of merging:
    the old component's options would not fit the new one."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and _same_component(old, value):
            out[key] = merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _same_component(base: dict[str, Any], update: dict[str, Any]) -> bool:
    return "name" not in update or update["name"] == base.get("name")


def apply_overrides(config: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` strings; values are parsed as YAML (numbers, lists, booleans)."""
    config = copy.deepcopy(config)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        node = config
        *parents, leaf = key.strip().split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
        node[leaf] = _number_or_yaml(raw)
    return config


def _number_or_yaml(raw: str) -> Any:
    """An override's value parsed as YAML, except that a number YAML 1.1 reads as text (1e-4,
    without a dot) is a float: what a user typing lr=1e-4 means."""
    value = yaml.safe_load(raw)
    return float(value) if reads_as_number(value) else value


def reads_as_number(value: Any) -> bool:
    """A str holding a number written with digits, e.g. "1e-4" (YAML 1.1 reads it as text)."""
    if not isinstance(value, str) or not any(ch.isdigit() for ch in value):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True

"""Atomic, resumable training checkpoints in one safetensors file (no pickles).

Tensors: the model (`model.*`), the best-on-dev model (`best.*`), the optimizer's per-parameter
state (`optim.<param index>.<key>`) and the torch RNG state (`rng.torch`). Everything else (epoch,
history, optimizer hyper-parameters, scheduler state) is JSON in the file's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save

from ..io import atomic_write


def _tensors(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous().clone() for k, v in state.items()}


def _unprefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def save_weights(
    path: str | Path, state: dict[str, torch.Tensor], meta: dict | None = None
) -> Path:
    """Write a state dict as safetensors, atomically (metadata values must be JSON-able)."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}
    data = save(tensors, metadata={"meta": json.dumps(meta or {})})
    return atomic_write(path, lambda p: p.write_bytes(data))


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (state dict, metadata) of a file written by `save_weights` or `save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path}")
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("meta", "{}"))
        return {k: f.get_tensor(k) for k in f.keys()}, meta


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    best_state: dict[str, torch.Tensor] | None,
    meta: dict[str, Any],
    scheduler: Any | None = None,
) -> Path:
    """Everything needed to continue training exactly where it stopped, in one atomic write."""
    opt = optimizer.state_dict()
    tensors = _tensors("model", model.state_dict())
    if best_state is not None:
        tensors.update(_tensors("best", best_state))
    opt_scalars: dict[str, dict[str, float]] = {}
    for idx, state in opt["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                opt_scalars.setdefault(str(idx), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {
        **meta,
        "optimizer": {"param_groups": opt["param_groups"], "scalars": opt_scalars},
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    }
    return save_weights(path, tensors, meta)


def load_checkpoint(path, model, optimizer, scheduler=None) -> tuple[dict, dict | None]:
    """Restore model, optimizer, scheduler and RNG in place; -> (meta, best state or None)."""
    tensors, meta = load_weights(path)
    model.load_state_dict(_unprefix("model", tensors))
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, scalars in meta["optimizer"]["scalars"].items():
        state.setdefault(int(idx), {}).update(scalars)
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    best = _unprefix("best", tensors) or None
    return meta, best

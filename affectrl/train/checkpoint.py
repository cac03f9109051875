"""Atomic, resumable training checkpoints in one safetensors file (no pickles), checksummed.

Tensors: the model (`model.*`), the optimizer's per-parameter state (`optim.<param index>.<key>`)
and the torch RNG state (`rng.torch`; `rng.cuda` too for a model on a GPU). Everything else
(epoch, history, optimizer hyper-parameters, scheduler state) is JSON in the file's metadata.
The best-on-dev weights are a separate file, written only when they change (see
affectrl.train.trainer). Every file carries a checksum (affectrl.tensorfile): a damaged one is a
clear error naming it, never used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..device import module_device
from ..tensorfile import CorruptFileError, load_tensors, save_tensors


def _tensors(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in state.items()}


def _unprefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def save_weights(
    path: str | Path, state: dict[str, torch.Tensor], meta: dict | None = None
) -> Path:
    """Write a state dict as safetensors, atomically, with its checksum (metadata values must
    be JSON-able)."""
    return save_tensors(path, state, {"meta": json.dumps(meta or {})})


def load_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """-> (state dict, metadata) of a file written by `save_weights` or `save_checkpoint`;
    CorruptFileError naming the file when it is damaged."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path}")
    tensors, metadata = load_tensors(path)
    try:
        return tensors, json.loads(metadata.get("meta", "{}"))
    except json.JSONDecodeError as exc:
        raise CorruptFileError(path, f"unreadable metadata ({exc})") from None


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    meta: dict[str, Any],
    scheduler: Any | None = None,
) -> Path:
    """Everything needed to continue training exactly where it stopped, in one atomic write."""
    opt = optimizer.state_dict()
    tensors = _tensors("model", model.state_dict())
    opt_scalars: dict[str, dict[str, float]] = {}
    for idx, state in opt["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                opt_scalars.setdefault(str(idx), {})[key] = value
    tensors["rng.torch"] = torch.get_rng_state()
    device = module_device(model)
    if device.type == "cuda":  # dropout on the GPU draws from the GPU's generator
        tensors["rng.cuda"] = torch.cuda.get_rng_state(device)
    meta = {
        **meta,
        "optimizer": {"param_groups": opt["param_groups"], "scalars": opt_scalars},
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    }
    return save_weights(path, tensors, meta)


def load_checkpoint(path, model, optimizer, scheduler=None) -> dict:
    """Restore model, optimizer, scheduler and RNG in place; -> the checkpoint's metadata."""
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
    device = module_device(model)
    if device.type == "cuda" and "rng.cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng.cuda"], device)
    return meta

"""A NaN or Inf loss stops the run with an error saying where the non-finite value first appeared.

Checked on every training batch (the loss is read anyway) and on the dev/test losses after each
epoch. The diagnosis looks, in order, at the batch's input features, the model's parameters (a
previous optimizer step that diverged), and the forward pass module by module (forward hooks:
the first module whose output holds NaN/Inf); failing all three, the loss function itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..data.batch import DialogueBatch

DIVERGED = 1e8  # parameters this large did not come from a sane training step


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/Inf loss; the message says where it first appeared."""


def _non_finite(value) -> bool:
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and not bool(torch.isfinite(value).all())
    if isinstance(value, tuple | list):
        return any(_non_finite(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):  # e.g. ModelOutput
        return any(_non_finite(getattr(value, f)) for f in value.__dataclass_fields__)
    return False


def _first_module(model: torch.nn.Module, batch: DialogueBatch) -> str | None:
    """The first module (in call order) whose forward output holds NaN/Inf, re-running the
    forward pass on `batch` without gradients."""
    found: list[str] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, _inputs, output):
        if not found and _non_finite(output):
            found.append(f"{names[module] or 'the model'} ({type(module).__name__})")

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model(batch)
    finally:
        for h in handles:
            h.remove()
    return found[0] if found else None


def where_non_finite(model: torch.nn.Module, batch: DialogueBatch) -> str:
    """A sentence naming where a non-finite loss on `batch` comes from (module docstring)."""
    for m, x in batch.features.items():
        if not bool(torch.isfinite(x).all()):
            row = int((~torch.isfinite(x)).flatten(1).any(1).nonzero()[0, 0])
            return f"the input features `{m}` of dialogue {batch.dialogue_ids[row]!r} hold NaN/Inf"
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            return (
                f"parameter `{name}` was already NaN/Inf: the previous optimizer step diverged "
                "(lower train.lr or set train.grad_clip)"
            )
    module = _first_module(model, batch)
    if module is not None:
        largest = max(
            [float(p.detach().abs().max()) for p in model.parameters() if p.numel()] or [0.0]
        )
        hint = (
            f"; the parameters reach {largest:.1e}: training diverged (lower train.lr or set "
            "train.grad_clip)"
            if largest > DIVERGED
            else ""
        )
        return f"the forward pass first gives NaN/Inf in {module}{hint}"
    return "inputs, parameters and outputs are finite: the loss function itself gave it"


def check_loss(value: float, where: str, model: torch.nn.Module, batch: DialogueBatch) -> None:
    """Raise NonFiniteLossError when `value` (the loss on `batch`) is NaN or Inf.

    where: e.g. "train loss at epoch 3, batch 7"."""
    if math.isfinite(value):
        return
    dialogues = ", ".join(repr(d) for d in batch.dialogue_ids[:3])
    more = ", ..." if len(batch.dialogue_ids) > 3 else ""
    raise NonFiniteLossError(
        f"{where} is {value} (dialogues {dialogues}{more}): {where_non_finite(model, batch)}. "
        "The run stopped; its last finished epoch is kept."
    )


def check_split_loss(
    loss: float, where: str, model: torch.nn.Module, batches: Sequence[DialogueBatch]
) -> None:
    """Raise NonFiniteLossError naming the first of `batches` whose loss is NaN/Inf when the
    summed `loss` over them is (where: e.g. "dev loss after epoch 3")."""
    if math.isfinite(loss):
        return
    for index, batch in enumerate(batches, start=1):
        with torch.inference_mode():
            value = float(model.loss(model(batch), batch))
        check_loss(value, f"{where}, batch {index}", model, batch)
    raise NonFiniteLossError(f"{where} is {loss}")

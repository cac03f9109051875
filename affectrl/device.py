"""Where tensors live: `train.device` / `--device` settings read as a torch device.

    auto      CUDA (device 0) when torch sees a GPU, else the CPU
    cpu       the CPU
    cuda      CUDA device 0;  cuda:N  CUDA device N

Asking for CUDA where there is none is an error, never a silent CPU run. Batches are built and
corrupted on the CPU (the noise generators are CPU generators, so a seed draws the same noise on
every device) and moved to the model's device just before the model reads them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_HELP = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N"
_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_name(name: object, setting: str = "train.device") -> str:
    """`name` if it is a device setting this toolkit reads (see the module docstring)."""
    if not isinstance(name, str) or not _PATTERN.match(name):
        raise ValueError(f"{setting} must be {DEVICE_HELP}; got {name!r}")
    return name


def resolve_device(name: str | None = "auto", setting: str = "train.device") -> torch.device:
    """The torch device for a setting (None = auto); CUDA asked for but absent is an error."""
    import torch

    name = check_device_name(name or "auto", setting)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = "built without CUDA" if torch.version.cuda is None else "sees no GPU"
            raise RuntimeError(
                f"{setting}={name} but CUDA is not available (torch {torch.__version__} "
                f"{built}); use {setting}=auto or cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise RuntimeError(f"{setting}={name} but torch sees {count} CUDA device(s)")
    return device


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's parameters (the CPU for a module without any)."""
    import torch

    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")

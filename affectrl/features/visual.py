"""Visual frame pipeline: sample frames, crop (face box or centre), resize, per-frame frozen
backbone, pool over frames -> one vector per utterance.

An utterance's frames come from a folder of images (sorted by name), a `.npy` uint8 array
[F, H, W, 3] (or [F, H, W] grey), or an in-memory array of that shape. Backbones load from a
LOCAL weights file only: the small CNN of this module (`cnn:PATH`, a safetensors file with its
config in the metadata) or a torchvision model (`tv:ARCH:PATH`, needs the optional `vision`
extra). Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.errors import DataError
from ..io import file_sha256
from ..tensorfile import load_tensors, save_tensors
from .encoders import Encoder
from .transforms import RawItem, RawTransform

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------- frames: read, sample, crop
def load_frames(source: str | Path | np.ndarray) -> np.ndarray:
    """Frames of one utterance -> uint8 [F, H, W, 3] RGB."""
    if isinstance(source, np.ndarray):
        return _check_frames(source, "<array>")
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(
                path, f"no image frames ({', '.join(sorted(IMAGE_SUFFIXES))}) in folder"
            )
        from PIL import Image, UnidentifiedImageError

        frames = []
        for f in files:
            try:
                with Image.open(f) as im:
                    frames.append(np.asarray(im.convert("RGB")))
            except (OSError, UnidentifiedImageError) as exc:
                raise DataError(f, f"unreadable image frame: {exc}") from None
        if len({fr.shape for fr in frames}) > 1:
            raise DataError(path, f"frames differ in size: {sorted({fr.shape for fr in frames})}")
        return np.stack(frames)
    if path.suffix == ".npy" and path.is_file():
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise DataError(path, f"not a plain numeric .npy array ({exc})") from None
        return _check_frames(array, path)
    if not path.exists():
        raise DataError(path, "visual media not found")
    raise DataError(
        path,
        "unsupported visual media: give a folder of image frames or a .npy uint8 array "
        "[F, H, W, 3] (video containers are not decoded here; extract frames first)",
    )


def _check_frames(array: np.ndarray, where: str | Path) -> np.ndarray:
    if array.ndim == 3:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 4 or array.shape[-1] != 3 or array.shape[0] == 0:
        raise DataError(where, f"frames must be [F, H, W, 3] with F > 0, got {array.shape}")
    if array.dtype != np.uint8:
        raise DataError(where, f"frames must be uint8 (0..255), got {array.dtype}")
    return array


def sample_frames(frames: np.ndarray, num_frames: int) -> np.ndarray:
    """Up to `num_frames` frames evenly spaced over the clip (all frames if there are fewer)."""
    if len(frames) <= num_frames:
        return frames
    index = np.linspace(0, len(frames) - 1, num_frames).round().astype(int)
    return frames[index]


def crop_frames(frames: np.ndarray, crop: str | tuple[int, int, int, int]) -> np.ndarray:
    """Crop [F, H, W, 3]: "none", "center" (largest centred square) or a box (x, y, w, h) in
    pixels (a face box), clipped to the image."""
    if crop == "none":
        return frames
    h, w = frames.shape[1:3]
    if crop == "center":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        return frames[:, top : top + side, left : left + side]
    x, y, bw, bh = crop
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"crop box {crop} lies outside the {w}x{h} frames")
    return frames[:, y0:y1, x0:x1]


def frames_to_tensor(
    frames: np.ndarray, size: int, mean: Sequence[float], std: Sequence[float]
) -> torch.Tensor:
    """uint8 [F, H, W, 3] -> float32 [F, 3, size, size], resized (bilinear, antialiased) and
    normalised per channel."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean_t) / std_t


def pool_frames(features: torch.Tensor, how: str) -> torch.Tensor:
    """[F, D] per-frame features -> [D] by mean or max over frames."""
    if how == "mean":
        return features.mean(dim=0)
    if how == "max":
        return features.max(dim=0).values
    raise ValueError(f"pool must be 'mean' or 'max', got {how!r}")


# ---------------------------------------------------------------- backbones
@dataclass
class SmallCNNConfig:
    """A small frame CNN: conv3x3-ReLU-maxpool blocks, global average pool, linear to embed_dim."""

    channels: list[int] = field(default_factory=lambda: [16, 32])
    embed_dim: int = 64
    in_channels: int = 3


class SmallCNN(nn.Module):
    """[F, 3, H, W] frames -> [F, embed_dim] frame embeddings."""

    def __init__(self, config: SmallCNNConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        prev = config.in_channels
        for ch in config.channels:
            layers += [nn.Conv2d(prev, ch, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            prev = ch
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(prev, config.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def save_small_cnn(model: SmallCNN, path: str | Path) -> Path:
    """Write the CNN's weights and config to one safetensors file (atomic, checksummed)."""
    meta = {"config": json.dumps(asdict(model.config))}
    return save_tensors(path, model.state_dict(), meta)


def load_small_cnn(path: str | Path) -> SmallCNN:
    """Rebuild a SmallCNN from a file written by `save_small_cnn`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: CNN weights file not found (weights are never downloaded)"
        )
    state, meta = load_tensors(path)
    try:
        config = SmallCNNConfig(**json.loads(meta["config"]))
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not a SmallCNN weights file (config metadata: {exc})") from None
    model = SmallCNN(config)
    model.load_state_dict(state)
    return model


def load_torchvision(arch: str, path: str | Path) -> nn.Module:
    """A torchvision `arch` with weights from a local file, its classifier replaced by identity
    (so it outputs the pooled penultimate features). Needs the optional `vision` extra."""
    try:
        import torchvision
    except ImportError:
        raise RuntimeError(
            "torchvision is not installed: `pip install -e '.[vision]'` for torchvision backbones "
            "(it needs its own torch build), or use a `cnn:PATH` backbone"
        ) from None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found (weights are never downloaded)")
    model = torchvision.models.get_model(arch, weights=None)
    if path.suffix == ".safetensors":
        state, _ = load_tensors(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)  # no arbitrary unpickling
    model.load_state_dict(state)
    for head in ("fc", "classifier", "heads"):
        if hasattr(model, head):
            setattr(model, head, nn.Identity())
            break
    return model


# ---------------------------------------------------------------- the encoder
@dataclass(frozen=True)
class FrameSettings:
    """Frame pipeline settings (all part of the store key)."""

    num_frames: int = 8
    crop: str | tuple[int, int, int, int] = "none"
    size: int = 112
    pool: str = "mean"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @classmethod
    def from_options(cls, options: dict[str, str]) -> FrameSettings:
        known = {"frames", "crop", "size", "pool"}
        if set(options) - known:
            raise ValueError(
                f"unknown visual options {sorted(set(options) - known)}; known: {sorted(known)}"
            )
        kwargs: dict[str, Any] = {}
        if "frames" in options:
            kwargs["num_frames"] = int(options["frames"])
        if "size" in options:
            kwargs["size"] = int(options["size"])
        if "pool" in options:
            kwargs["pool"] = options["pool"]
        if "crop" in options:
            crop = options["crop"]
            if crop not in ("none", "center"):
                parts = crop.split(",")
                if len(parts) != 4:
                    raise ValueError(f"crop must be none, center or X,Y,W,H, got {crop!r}")
                crop = tuple(int(p) for p in parts)
            kwargs["crop"] = crop
        return cls(**kwargs)

    def __post_init__(self) -> None:
        if self.pool not in ("mean", "max"):
            raise ValueError(f"pool must be mean or max, got {self.pool!r}")
        if self.num_frames < 1 or self.size < 8:
            raise ValueError(f"need frames >= 1 and size >= 8, got {self.num_frames}, {self.size}")


class FrameEncoder(Encoder):
    """Frozen per-frame backbone + pooling: N frame sources -> float32 [N, D].

    Args:
        backbone: module mapping [F, 3, size, size] -> [F, D] (put in eval mode, no gradients).
        identity: backbone identity for the store key (kind, arch, weights digest).
        frames: the frame pipeline settings.
        device: where the backbone runs (auto | cpu | cuda[:N]; None: auto; not in the key).
    """

    modality = "visual"

    def __init__(
        self,
        backbone: nn.Module,
        identity: dict[str, Any],
        slug: str,
        frames: FrameSettings,
        device: str | None = None,
    ):
        from ..device import resolve_device

        self.device = resolve_device(device, "feature extraction device")
        self.backbone = backbone.eval().requires_grad_(False).to(self.device)
        self.identity, self.slug, self.frames = identity, slug, frames

    @classmethod
    def from_name(
        cls, base: str, options: dict, batch_size: int | None = None, device: str | None = None
    ) -> FrameEncoder:
        frames = FrameSettings.from_options(options)
        if base.startswith("cnn:"):
            path = Path(base[4:]).expanduser()
            model = load_small_cnn(path)
            identity = {"backbone": "small_cnn", "weights": file_sha256(path)[:16]}
            return cls(model, identity, f"cnn-{path.stem}", frames, device)
        arch, sep, weights = base[3:].partition(":")
        if not sep or not arch or not weights:
            raise ValueError(f"torchvision encoder must look like tv:ARCH:PATH, got {base!r}")
        path = Path(weights).expanduser()
        model = load_torchvision(arch, path)
        identity = {"backbone": f"torchvision/{arch}", "weights": file_sha256(path)[:16]}
        return cls(model, identity, f"tv-{arch}", frames, device)

    def settings(self) -> dict[str, Any]:
        return {"encoder": "frames", **self.identity, **asdict(self.frames)}

    def fingerprint(self, item: Any) -> str:
        """Changes when the frames change: array bytes, or file names and contents."""
        if isinstance(item, np.ndarray):
            return "array:" + hashlib.sha256(np.ascontiguousarray(item).tobytes()).hexdigest()
        path = Path(item)
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        h = hashlib.sha256()
        for f in files:
            h.update(f"{f.name}|{file_sha256(f) if f.is_file() else 'missing'}\n".encode())
        return h.hexdigest()

    @torch.no_grad()
    def encode_one(
        self, source: Any, uid: str, transform: RawTransform | None = None
    ) -> np.ndarray:
        """One utterance's frames -> float32 [D]."""
        frames = sample_frames(load_frames(source), self.frames.num_frames)
        if transform is not None:
            path = None if isinstance(source, np.ndarray) else str(source)
            frames = _check_frames(
                np.asarray(transform(frames, RawItem(uid, "visual", None, path))), uid
            )
        x = frames_to_tensor(
            crop_frames(frames, self.frames.crop),
            self.frames.size,
            self.frames.mean,
            self.frames.std,
        )
        per_frame = self.backbone(x.to(self.device)).cpu()
        return (
            pool_frames(per_frame.reshape(len(x), -1), self.frames.pool).numpy().astype(np.float32)
        )

    def encode(
        self, items: Sequence[Any], ids: Sequence[str], transform: RawTransform | None = None
    ) -> np.ndarray:
        return np.stack([self.encode_one(s, u, transform) for s, u in zip(items, ids, strict=True)])

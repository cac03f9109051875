"""The visual frame pipeline with a tiny random CNN on tiny synthetic frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from affectrl.data import DataError, Dialogue, DialogueDataset
from affectrl.features import attach_features, extract_frames, extract_modality, get_encoder
from affectrl.features.visual import (
    SmallCNN,
    SmallCNNConfig,
    crop_frames,
    frames_to_tensor,
    load_frames,
    load_small_cnn,
    sample_frames,
    save_small_cnn,
)

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = SmallCNN(SmallCNNConfig(channels=[4, 8], embed_dim=6))
    return save_small_cnn(model, tmp_path_factory.mktemp("w") / "tiny.safetensors")


def _clip(n: int = 10, h: int = 20, w: int = 30) -> np.ndarray:
    """n frames [h, w, 3]; frame i has value 10 * i everywhere plus a little noise."""
    base = (np.arange(n) * 10).reshape(n, 1, 1, 1)
    return np.clip(base + RNG.integers(0, 5, (n, h, w, 3)), 0, 255).astype(np.uint8)


def _png_folder(folder: Path, frames: np.ndarray) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"frame_{i:03d}.png")
    return folder


def test_sampling_and_crop():
    clip = _clip()
    sampled = sample_frames(clip, 4)
    assert [int(f[0, 0, 0]) // 10 for f in sampled] == [0, 3, 6, 9]
    assert len(sample_frames(clip[:3], 4)) == 3
    centre = crop_frames(clip, "center")
    assert centre.shape == (10, 20, 20, 3)
    np.testing.assert_array_equal(centre, clip[:, :, 5:25])
    np.testing.assert_array_equal(crop_frames(clip, (2, 3, 8, 5)), clip[:, 3:8, 2:10])
    assert crop_frames(clip, (25, 15, 10, 10)).shape == (10, 5, 5, 3)  # clipped to the image
    with pytest.raises(ValueError, match="outside"):
        crop_frames(clip, (40, 0, 5, 5))
    x = frames_to_tensor(centre, 16, (0.5,) * 3, (0.5,) * 3)
    assert x.shape == (10, 3, 16, 16) and x.dtype == torch.float32


def test_weights_round_trip(weights):
    model = load_small_cnn(weights)
    assert model.config.channels == [4, 8] and model.config.embed_dim == 6
    torch.manual_seed(0)
    np.testing.assert_array_equal(
        model.head.weight.detach().numpy(),
        SmallCNN(SmallCNNConfig(channels=[4, 8], embed_dim=6)).head.weight.detach().numpy(),
    )


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_encoding_is_the_pooled_backbone_output(weights, pool):
    clip = _clip()
    enc = get_encoder(f"cnn:{weights}?frames=4&crop=center&size=16&pool={pool}", "visual")
    vector = extract_frames([clip], enc)
    assert vector.shape == (1, 6) and vector.dtype == np.float32
    x = frames_to_tensor(
        crop_frames(sample_frames(clip, 4), "center"), 16, enc.frames.mean, enc.frames.std
    )
    with torch.no_grad():
        per_frame = load_small_cnn(weights)(x)
    expected = per_frame.mean(0) if pool == "mean" else per_frame.max(0).values
    np.testing.assert_allclose(vector[0], expected.numpy(), rtol=1e-5, atol=1e-6)


def test_folder_npy_and_array_agree(weights, tmp_path):
    clip = _clip(6)
    folder = _png_folder(tmp_path / "utt0", clip)
    npy = tmp_path / "utt1.npy"
    np.save(npy, clip)
    np.testing.assert_array_equal(load_frames(folder), clip)
    out = extract_frames([str(folder), str(npy), clip], f"cnn:{weights}?size=16")
    np.testing.assert_allclose(out[0], out[1], rtol=1e-6)
    np.testing.assert_allclose(out[0], out[2], rtol=1e-6)


def test_attach_visual_caches_and_keys_by_settings(weights, tmp_path):
    paths = []
    for i in range(3):
        np.save(tmp_path / f"v{i}.npy", _clip(5 + i))
        paths.append(str(tmp_path / f"v{i}.npy"))
    d = Dialogue("d", ["a"] * 3, np.array([0, 1, 0]), media={"video": paths})
    ds = DialogueDataset("frames-toy", ["x", "y"], {"train": [d]})
    name = f"cnn:{weights}?frames=3&size=16"
    attach_features(ds, {"visual": name}, progress=False)
    assert d.features["visual"].shape == (3, 6)
    again = extract_modality(ds, "visual", name, progress=False)
    assert again.cache_hit
    np.testing.assert_array_equal(again.features, d.features["visual"])
    other = extract_modality(ds, "visual", name + "&pool=max", progress=False)
    assert not other.cache_hit and other.folder != again.folder


def test_frame_transform_hook(weights):
    from affectrl.features import with_spec

    seen = []

    def occlude(frames, item):
        seen.append((item.id, item.modality, frames.shape))
        out = frames.copy()
        out[:, :10] = 0
        return out

    clip = _clip()
    name = f"cnn:{weights}?frames=4&size=16"
    clean = extract_frames([clip], name)
    occluded = extract_frames([clip], name, transform=with_spec(occlude, "occlude-top"))
    assert seen == [("0", "visual", (4, 20, 30, 3))]
    assert not np.allclose(clean, occluded)


def test_bad_visual_inputs(weights, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(DataError, match=r"clip\.mp4.*extract frames first"):
        load_frames(video)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty.*no image frames"):
        load_frames(tmp_path / "empty")
    with pytest.raises(DataError, match="must be uint8"):
        load_frames(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="unknown visual options"):
        get_encoder(f"cnn:{weights}?fps=3", "visual")
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        get_encoder(f"cnn:{tmp_path / 'missing.safetensors'}", "visual")


def test_torchvision_backbone_needs_the_vision_extra(tmp_path):
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r"vision"):
            get_encoder(f"tv:resnet18:{tmp_path / 'r18.pth'}", "visual")
    else:
        pytest.skip("torchvision installed; the missing-extra error cannot be exercised")

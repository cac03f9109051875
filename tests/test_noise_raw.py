"""Raw-level corruptions: audio SNR on real RAVDESS speech, determinism, video and text."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from affectrl.noise import build, spec_key
from affectrl.noise.audio import estimate_snr_db, measure_snr_db


@pytest.fixture(scope="module")
def speech(data_root):
    files = sorted((data_root / "ravdess").glob("Actor_0[78]/*.wav"))[:6]
    wave, sr = sf.read(files[0], dtype="float32")
    return wave, sr, [str(f) for f in files]


@pytest.mark.parametrize("snr_db", [20, 10, 0, -5])
@pytest.mark.parametrize("name", ["gaussian", "babble"])
def test_raw_audio_hits_target_snr(name, snr_db, speech):
    wave, sr, pool = speech
    spec = {"name": name, "level": "raw", "modality": "audio", "snr_db": snr_db, "seed": 1}
    if name == "babble":
        spec |= {"pool": pool, "talkers": 3}
    noisy = build(spec)(wave, sr)
    assert noisy.shape == wave.shape and noisy.dtype == np.float32
    assert abs(measure_snr_db(wave, noisy) - snr_db) <= 0.5


def test_babble_never_uses_the_input_itself(speech):
    wave, sr, pool = speech
    babble = build({"name": "babble", "level": "raw", "snr_db": 0, "talkers": 5, "pool": pool})
    with pytest.raises(ValueError, match="at least talkers=5"):
        build({"name": "babble", "level": "raw", "snr_db": 0, "talkers": 5, "pool": pool[:2]})
    noisy = babble(wave, sr)  # 6 files, one is the input: exactly 5 others exist
    assert abs(measure_snr_db(wave, noisy)) <= 0.5


def test_raw_audio_deterministic_per_input(speech):
    wave, sr, _ = speech
    noise = build({"name": "gaussian", "level": "raw", "snr_db": 5, "seed": 3})
    np.testing.assert_array_equal(noise(wave, sr), noise(wave.copy(), sr))
    other_seed = build({"name": "gaussian", "level": "raw", "snr_db": 5, "seed": 4})
    assert not np.array_equal(noise(wave, sr), other_seed(wave, sr))
    assert noise.cache_key != other_seed.cache_key
    assert noise.cache_key == spec_key(noise.spec)


def test_clip_and_drop_segments(speech):
    wave, sr, _ = speech
    clipped = build({"name": "clip", "level": "raw", "modality": "audio", "threshold": 0.2})
    out = clipped(wave, sr)
    assert np.abs(out).max() <= 0.2 * np.abs(wave).max() + 1e-7
    assert clipped.spec["threshold"] == 0.2 and clipped.spec["level"] == "raw"
    dropped = build({"name": "drop_segments", "level": "raw", "fraction": 0.5, "segment_ms": 50})(
        wave, sr
    )
    seg = 800
    slots = -(-len(wave) // seg)
    silent = sum(not dropped[i * seg : (i + 1) * seg].any() for i in range(slots))
    assert silent >= round(0.5 * slots)


def test_blind_snr_estimate_tracks_white_noise(speech):
    wave, sr, _ = speech
    estimates = [
        estimate_snr_db(build({"name": "gaussian", "level": "raw", "snr_db": s})(wave, sr), sr)
        for s in (20, 10, 0)
    ]
    assert estimates[0] > estimates[1] > estimates[2]
    assert abs(estimates[2]) < 3


def test_video_corruptions_keep_shape_and_dtype():
    rng = np.random.default_rng(0)
    frames = rng.integers(1, 255, (8, 32, 24, 3), dtype=np.uint8)
    for spec in (
        {"name": "occlude", "area": 0.25},
        {"name": "frame_drop", "fraction": 0.5},
        {"name": "blur", "sigma": 2.0},
        {"name": "downscale", "factor": 4},
    ):
        out = build(spec | {"level": "raw", "modality": "visual"})(frames)
        assert out.shape == frames.shape and out.dtype == frames.dtype, spec
        assert not np.array_equal(out, frames), spec
    occluded = build({"name": "occlude", "level": "raw", "area": 0.25})(frames)
    assert (occluded == 0).all(-1).sum(axis=(1, 2)).tolist() == [16 * 12] * 8
    dropped = build({"name": "frame_drop", "level": "raw", "fraction": 0.5})(frames)
    distinct = {dropped[i].tobytes() for i in range(8)}
    assert len(distinct) == 4
    small = build({"name": "downscale", "level": "raw", "factor": 4})(frames)
    assert (small[:, :4, :4] == small[:, :1, :1]).all()


def test_text_corruptions():
    text = "I REALLY LIKED THE MOVIE BUT THE ENDING WAS BAD"
    dropped = build({"name": "word_dropout", "level": "raw", "fraction": 0.5, "seed": 2})(text)
    assert len(dropped.split()) == 5 and set(dropped.split()) <= set(text.split())
    vocab = ["liked", "likes", "movies", "ending", "bed", "bat"]
    asr = build({"name": "asr_substitute", "level": "raw", "fraction": 1.0, "vocabulary": vocab})
    out = asr(text).split()
    assert len(out) == 10 and sum(a != b for a, b in zip(out, text.split(), strict=True)) >= 8
    assert asr(text) == asr(text)
    assert out[4] == "MOVIES"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "babble", "level": "raw", "modality": "text"}, "applies to audio, not 'text'"),
        ({"name": "shout", "level": "raw"}, "unknown raw-level corruption 'shout'"),
        ({"name": "word_dropout", "level": "raw", "fraction": -1}, "fraction must be a fraction"),
        ({"name": "clip", "level": "raw", "level_": 1}, "unknown parameter(s) ['level_']"),
        (
            {"name": "clip", "level": "raw", "threshold": 0},
            "threshold must be a fraction in (0, 1]",
        ),
        ({"name": "downscale", "level": "raw", "factor": 0}, "factor must be a positive integer"),
        ({"name": "missing", "level": "raw"}, "unknown raw-level corruption 'missing'"),
    ],
)
def test_bad_raw_specs(spec, message):
    with pytest.raises(ValueError) as info:
        build(spec)
    assert message in str(info.value)


def test_raw_corruption_plugs_into_the_feature_transform_hook(speech):
    from affectrl.features import extract_audio, transform_spec

    _, _, files = speech
    noise = build({"name": "gaussian", "level": "raw", "modality": "audio", "snr_db": 0})
    assert transform_spec(noise) == noise.spec
    clean, noisy = extract_audio(files[:2]), extract_audio(files[:2], transform=noise)
    assert clean.shape == noisy.shape == (2, 88)
    assert not np.allclose(clean, noisy)
    np.testing.assert_array_equal(noisy, extract_audio(files[:2], transform=noise))


def test_a_runs_raw_cells_extract_its_own_features_through_its_text_template(monkeypatch):
    """The fusion agent's weight plots and `eval --noise` read raw cells the same way: the
    config's extracted (not shipped) features, under its text template."""
    from affectrl.noise import grid

    calls = []
    monkeypatch.setattr(grid, "raw_cell_batches", lambda *args, **kw: calls.append((args, kw)))
    template = {"name": "context", "past": 2}
    config = {"features": {"text": "minilm", "audio": "shipped"}, "text_template": template}
    grid.run_raw_cell_batches("dataset", "test", config)
    assert calls == [(("dataset", "test", {"text": "minilm"}), {"text_template": template})]
    assert grid.run_raw_cell_batches("dataset", "test", {"features": {"audio": "shipped"}}) is None
    assert len(calls) == 1

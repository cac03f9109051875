"""Protocols, the grid runner, quality estimates and the `affectrl noise` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from affectrl.agents.fusion.quality import QUALITY_CHANNELS, QualityEstimator
from affectrl.cli import main
from affectrl.data import load_dataset
from affectrl.noise import FeatureStats, build_feature_corruption
from affectrl.noise.grid import run_grid, split_batches, write_grid
from affectrl.noise.protocols import PROTOCOLS, get_grid, get_protocol

CH = {name: k for k, name in enumerate(QUALITY_CHANNELS)}


@pytest.fixture(scope="module")
def mosi():
    ds = load_dataset("mosi")
    return ds, FeatureStats.from_dataset(ds)


@pytest.fixture(scope="module")
def estimator(mosi):
    return QualityEstimator.fit(mosi[0], steps=150, draws=4)


def test_mosi_standard_has_the_issue_cells():
    grid = get_grid("mosi-standard")
    names = [c.name for c in grid.cells]
    assert names[0] == "clean" and len(names) == len(set(names)) == 1 + 3 * 10 + 3 * 3
    for m in ("text", "audio", "visual"):
        for v in ("gaussian/0", "gaussian/-5", "gaussian/-10", "gaussian/-20", "missing/0.3"):
            assert f"{m}/{v}" in names
        for v in ("missing/0.6", "missing/1", "substitute/0.3", "substitute/0.6", "substitute/1"):
            assert f"{m}/{v}" in names
    assert "text+audio/missing/0.6" in names and "audio+visual/gaussian/-10" in names
    assert grid.cell("text/gaussian/0").severity == pytest.approx(0.5)
    for cell in grid.cells:  # every cell is a valid, buildable list of specs
        build_feature_corruption(list(cell.specs), FeatureStats({}, {}))
    with pytest.raises(ValueError, match="curriculum, not an evaluation grid"):
        get_grid("curriculum-standard")
    with pytest.raises(ValueError, match="unknown noise protocol 'nope'"):
        get_protocol("nope")


def test_curriculum_ramps_and_is_reproducible(mosi):
    ds, stats = mosi
    cur = get_protocol("curriculum-standard")
    early = [cur.sample(0.0, np.random.default_rng(s)) for s in range(200)]
    late = [cur.sample(1.0, np.random.default_rng(s)) for s in range(200)]
    assert early[:5] == [cur.sample(0.0, np.random.default_rng(s)) for s in range(5)]

    def worst(samples, name, key):
        return max(s[key] for specs in samples for s in specs if s["name"] == name)

    assert worst(early, "missing", "fraction") <= 0.2 < worst(late, "missing", "fraction")
    assert min(s["snr_db"] for x in late for s in x if s["name"] == "gaussian") < -10
    assert any(x == [] for x in late)
    (batch,) = split_batches(ds, "dev")
    for i, specs in enumerate(late[:20]):
        build_feature_corruption(specs, stats)(batch, i)
    noisy = cur.corrupt(batch, progress=1.0, seed=5, stats=stats)
    again = cur.corrupt(batch, progress=1.0, seed=5, stats=stats)
    assert torch.equal(noisy.corruption["kind"], again.corruption["kind"])
    assert torch.equal(noisy.features["text"], again.features["text"])


def _text_sign_predictor(batch):
    x = batch.features["text"][..., :1]
    return torch.cat([-x, x], -1)


def test_grid_runner_table_files_and_determinism(mosi, tmp_path):
    ds, stats = mosi
    a = run_grid(_text_sign_predictor, ds, "test", "quick", seed=0, stats=stats)
    b = run_grid(_text_sign_predictor, ds, "test", "quick", seed=0, stats=stats, batch_size=7)
    assert list(a["cell"]) == [c.name for c in get_grid("quick").cells]
    assert (a["n"] == 752).all()
    assert a.query("cell == 'audio/missing/0.6'")["accuracy"].item() == pytest.approx(
        a.query("cell == 'clean'")["accuracy"].item()
    )  # the predictor ignores audio
    again = run_grid(_text_sign_predictor, ds, "test", "quick", seed=0, stats=stats)
    assert a.equals(again)
    flat = run_grid(  # [N, C] logits over the real utterances, as the models return them
        lambda batch: _text_sign_predictor(batch)[batch.utterance_mask],
        ds,
        "test",
        "quick",
        0,
        stats=stats,
    )
    assert flat.equals(a)
    assert (
        a.query("cell == 'clean'")["accuracy"].item()
        == b.query("cell == 'clean'")["accuracy"].item()
    )
    paths = write_grid(a, tmp_path, "quick")
    assert [p.suffix for p in paths] == [".csv", ".json", ".png"] and all(
        p.stat().st_size for p in paths
    )
    saved = json.loads(paths[1].read_text())
    assert len(saved["rows"]) == 10 and saved["summary"][0]["cell"] == "clean"
    with pytest.raises(ValueError, match="corrupts raw media"):
        run_grid(_text_sign_predictor, ds, "test", "raw-audio-snr", seed=0, stats=stats)


def test_quality_tracks_severity_on_mosi(mosi, estimator):
    """Spearman(degradation, true severity) >= 0.8 per modality over clean/Gaussian/missing."""
    ds, stats = mosi
    (batch,) = split_batches(ds, "dev")  # the benchmark measures the test split
    grid = get_grid("mosi-standard")
    for i, m in enumerate(ds.modalities):
        sev, deg = [], []
        for cell in grid.cells:
            if cell.name != "clean" and (
                cell.modalities != (m,) or cell.corruption == "substitute"
            ):
                continue
            noisy = build_feature_corruption(list(cell.specs), stats)(batch, 1)
            q = estimator(noisy)
            assert q.shape == (*batch.modality_mask.shape, len(QUALITY_CHANNELS))
            sev.append(noisy.corruption["severity"][..., i][batch.utterance_mask])
            deg.append(q[..., i, CH["degradation"]][batch.utterance_mask])
            missing = batch.utterance_mask & ~noisy.modality_mask[..., i]
            assert torch.equal(q[..., i, CH["missing"]].bool(), missing)
        assert spearmanr(torch.cat(sev), torch.cat(deg)).statistic >= 0.8, m


def test_quality_channels_padding_heads_and_round_trip(mosi, estimator, tmp_path):
    ds, stats = mosi
    (batch,) = split_batches(ds, "dev")
    probs = {
        m: torch.softmax(torch.randn(*batch.utterance_mask.shape, 2), -1) for m in ds.modalities
    }
    q = estimator(batch, head_probs=probs)
    assert (q[~batch.utterance_mask] == 0).all()
    real = batch.utterance_mask
    assert ((q[..., CH["entropy"]][real] > 0) & (q[..., CH["entropy"]][real] <= 1)).all()
    assert (q[..., CH["head_disagreement"]][real] >= 0).all()
    loaded = QualityEstimator.load(estimator.save(tmp_path / "quality.safetensors"))
    assert torch.allclose(loaded(batch, head_probs=probs), q, atol=1e-5)
    raw = torch.full(batch.modality_mask.shape, float("nan"))
    raw[..., 1] = 0.0
    q_raw = estimator(batch, raw_snr_db=raw)
    assert torch.allclose(q_raw[..., 1, CH["degradation"]][real], torch.tensor(0.5))
    assert torch.equal(q_raw[..., 0, :], estimator(batch)[..., 0, :])


def test_estimator_without_detector_gives_power_only(mosi, estimator, tmp_path):
    ds, _ = mosi
    (batch,) = split_batches(ds, "dev")
    light = QualityEstimator.fit(ds, steps=0)
    assert light.detector is None
    loaded = QualityEstimator.load(light.save(tmp_path / "light.safetensors"))
    assert loaded.detector is None
    expected = estimator.excess_power(batch.features)  # the statistics need no detector
    assert torch.allclose(loaded.excess_power(batch.features), expected)
    with pytest.raises(ValueError, match="without its mismatch detector"):
        loaded(batch)


def test_mismatch_channel_flags_substituted_audio(mosi, estimator):
    ds, stats = mosi
    (batch,) = split_batches(ds, "test")
    noisy = build_feature_corruption({"name": "substitute", "modality": "audio", "fraction": 0.5})(
        batch, 3
    )
    i = ds.modalities.index("audio")
    score = estimator(noisy)[..., i, CH["mismatch"]][batch.utterance_mask]
    hit = (noisy.corruption["kind"][..., i] == 5)[batch.utterance_mask]
    assert roc_auc_score(hit.numpy(), score.numpy()) > 0.75


def test_noise_cli(capsys):
    assert main(["noise", "list"]) == 0
    out = capsys.readouterr().out
    assert "mosi-standard" in out and "40 cells" in out and "babble" in out
    for name in PROTOCOLS:
        assert main(["noise", "show", name]) == 0
        shown = yaml.safe_load(capsys.readouterr().out)
        assert shown["name"] == name
    assert main(["noise", "show", "nope"]) == 1
    assert "unknown noise protocol 'nope'" in capsys.readouterr().err


def test_quality_fit_is_deterministic(mosi):
    ds, _ = mosi
    (batch,) = split_batches(ds, "dev")
    a = QualityEstimator.fit(ds, steps=5, draws=1, seed=2)(batch)
    b = QualityEstimator.fit(ds, steps=5, draws=1, seed=2)(batch)
    assert torch.equal(a, b)

"""Feature-level corruptions: target SNR, determinism, masks, reports, bad specs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from affectrl.data import Dialogue, DialogueDataset, collate, load_dataset
from affectrl.noise import FeatureStats, build_feature_corruption, feature_kinds, kind_code
from affectrl.noise.protocols import Curriculum
from affectrl.noise.spec import CORRUPTIONS, snr_severity


def _toy_dataset(seed: int = 0) -> DialogueDataset:
    """Three dialogues per split, text 6-d (one constant dim) and audio 4-d, mean far from 0."""
    rng = np.random.default_rng(seed)

    def dialogue(i: int, n: int) -> Dialogue:
        text = rng.normal(5.0, 2.0, (n, 6)).astype(np.float32)
        text[:, 5] = 1.0
        audio = rng.normal(-3.0, 0.5, (n, 4)).astype(np.float32)
        return Dialogue(f"d{i}", ["a"] * n, np.zeros(n), features={"text": text, "audio": audio})

    splits = {
        "train": [dialogue(i, 50) for i in range(3)],
        "test": [dialogue(10 + i, n) for i, n in enumerate((7, 4, 9))],
    }
    return DialogueDataset("toy", ["neg", "pos"], splits)


@pytest.fixture(scope="module")
def toy():
    ds = _toy_dataset()
    return ds, FeatureStats.from_dataset(ds), collate(ds.splits["test"], ds.modalities)


def measured_snr_db(stats, modality, clean, noisy, where) -> float:
    live = stats.std[modality] > 0
    diff = (noisy - clean)[where][:, live] / stats.std[modality][live]
    return 10 * math.log10(1.0 / float(diff.pow(2).mean()))


@pytest.mark.parametrize("snr_db", [0, -5, -10, -20, 10])
def test_gaussian_hits_target_snr_on_mosi(snr_db, mosi_setup):
    ds, stats, batch = mosi_setup
    for m in ds.modalities:
        noisy = build_feature_corruption(
            {"name": "gaussian", "modality": m, "snr_db": snr_db}, stats
        )(batch, seed=3)
        snr = measured_snr_db(stats, m, batch.features[m], noisy.features[m], batch.utterance_mask)
        assert abs(snr - snr_db) <= 0.5, (m, snr)


@pytest.fixture(scope="module")
def mosi_setup():
    ds = load_dataset("mosi")
    return ds, FeatureStats.from_dataset(ds), collate(ds.splits["test"], ds.modalities)


def test_gaussian_signal_power_is_training_variance_not_raw_power(toy):
    """The toy text has mean 5, std 2: its raw power (29) would inflate the noise 8.6 dB."""
    _, stats, batch = toy
    noisy = build_feature_corruption({"name": "gaussian", "modality": "text", "snr_db": 0}, stats)(
        batch, 0
    )
    real = batch.utterance_mask
    diff = (noisy.features["text"] - batch.features["text"])[real][:, :5]
    assert 0.7 < float(diff.pow(2).mean()) / float(stats.std["text"][:5].pow(2).mean()) < 1.4


def test_gaussian_leaves_constant_dims_padding_and_other_modalities(toy):
    ds, stats, batch = toy
    out = build_feature_corruption({"name": "gaussian", "modality": "text", "snr_db": 0}, stats)(
        batch, 1
    )
    assert torch.equal(out.features["text"][..., 5], batch.features["text"][..., 5])
    assert torch.equal(
        out.features["text"][~batch.utterance_mask], batch.features["text"][~batch.utterance_mask]
    )
    assert torch.equal(out.features["audio"], batch.features["audio"])
    i = batch.modalities.index("text")
    assert (
        out.corruption["kind"][..., i][batch.utterance_mask] == kind_code("gaussian")
    ).all()
    assert torch.allclose(
        out.corruption["severity"][..., i][batch.utterance_mask], torch.tensor(0.5)
    )
    assert (out.corruption["kind"][..., 1 - i] == 0).all()
    assert torch.isnan(out.corruption["value"][..., 1 - i]).all()


ALL_SPECS = [
    {"name": "gaussian", "modality": "text", "snr_db": -5, "fraction": 0.5},
    {"name": "missing", "modality": "audio", "fraction": 0.4},
    {"name": "dim_mask", "modality": "text", "dims": 0.5},
    {"name": "misalign", "modality": "audio", "shift": 2},
    {"name": "substitute", "modality": "text", "fraction": 0.6},
]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s["name"])
def test_same_seed_same_corruption_other_seed_differs(spec, toy):
    _, stats, batch = toy
    corruption = build_feature_corruption(spec, stats)
    a, b, c = corruption(batch, 7), corruption(batch, 7), corruption(batch, 8)
    for m in batch.modalities:
        assert torch.equal(a.features[m], b.features[m])
    assert torch.equal(a.modality_mask, b.modality_mask)
    assert all(
        torch.equal(
            a.corruption[k],
            b.corruption[k],
        )
        or k == "value"
        for k in a.corruption
    )
    assert torch.equal(a.corruption["value"].nan_to_num(-1), b.corruption["value"].nan_to_num(-1))
    m = spec["modality"]
    differs = not torch.equal(a.features[m], c.features[m])
    assert differs or spec["name"] == "misalign"  # a shift has no randomness at fraction 1
    assert torch.equal(
        batch.features[m], collate(_toy_dataset().splits["test"], ["text", "audio"]).features[m]
    )


def test_missing_masks_match_what_was_dropped(toy):
    _, stats, batch = toy
    out = build_feature_corruption(
        {"name": "missing", "modality": "audio", "fraction": 0.4}, stats
    )(batch, 0)
    i = batch.modalities.index("audio")
    dropped = batch.utterance_mask & ~out.modality_mask[..., i]
    assert int(dropped.sum()) == round(0.4 * int(batch.utterance_mask.sum()))
    assert (out.features["audio"][dropped] == 0).all()
    kept = batch.utterance_mask & out.modality_mask[..., i]
    assert torch.equal(out.features["audio"][kept], batch.features["audio"][kept])
    assert torch.equal(out.corruption["kind"][..., i] == kind_code("missing"), dropped)
    assert torch.equal(out.modality_mask[..., 1 - i], batch.modality_mask[..., 1 - i])
    full = build_feature_corruption({"name": "missing", "modality": "audio", "fraction": 1.0})(
        batch, 0
    )
    assert not full.modality_mask[..., i].any()


def test_missing_fraction_counts_only_present_utterances(toy):
    _, stats, batch = toy
    half = build_feature_corruption({"name": "missing", "modality": "text", "fraction": 0.5})(
        batch, 0
    )
    more = build_feature_corruption({"name": "missing", "modality": "text", "fraction": 0.5})(
        half, 1
    )
    i = batch.modalities.index("text")
    n = int(batch.utterance_mask.sum())
    assert int((batch.utterance_mask & ~more.modality_mask[..., i]).sum()) == round(n / 2) + round(
        (n - round(n / 2)) / 2
    )


def test_substitute_takes_features_of_another_dialogue(toy):
    _, stats, batch = toy
    out = build_feature_corruption({"name": "substitute", "modality": "text", "fraction": 1.0})(
        batch, 0
    )
    real = batch.utterance_mask
    pool = batch.features["text"][real]
    for b, t in real.nonzero().tolist():
        new = out.features["text"][b, t]
        matches = (batch.features["text"] == new).all(-1) & real
        ((src_b, _),) = matches.nonzero().tolist()
        assert src_b != b
    assert out.modality_mask.equal(batch.modality_mask)
    assert pool.shape[0] == int(real.sum())


def test_misalign_shifts_within_dialogue_and_drops_the_head(toy):
    _, stats, batch = toy
    out = build_feature_corruption({"name": "misalign", "modality": "text", "shift": 2})(batch, 0)
    i = batch.modalities.index("text")
    length = int(batch.lengths[0])
    assert torch.equal(out.features["text"][0, 2:length], batch.features["text"][0, : length - 2])
    assert not out.modality_mask[0, :2, i].any() and out.modality_mask[0, 2:length, i].all()
    assert (out.features["text"][0, :2] == 0).all()


def test_dim_mask_zeroes_the_requested_share(toy):
    _, stats, batch = toy
    out = build_feature_corruption({"name": "dim_mask", "modality": "audio", "dims": 0.5})(batch, 0)
    zeros = (out.features["audio"] == 0).sum(-1)[batch.utterance_mask]
    assert (zeros == 2).all()


def test_compose_and_empty_spec_report(toy):
    _, stats, batch = toy
    clean = build_feature_corruption([], stats)(batch, 0)
    assert (clean.corruption["kind"] == 0).all() and (clean.corruption["severity"] == 0).all()
    both = build_feature_corruption(
        [
            {"name": "gaussian", "modality": "text", "snr_db": 0},
            {"name": "missing", "modality": "text", "fraction": 1.0},
        ],
        stats,
    )(batch, 0)
    i = batch.modalities.index("text")
    real = batch.utterance_mask
    assert (both.corruption["kind"][..., i][real] == kind_code("missing")).all()
    assert (both.corruption["severity"][..., i][real] == 1).all()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"name": "gausian", "modality": "text", "snr_db": 0},
            "unknown feature-level corruption 'gausian'",
        ),
        (
            {"name": "missing", "modality": "text", "fraction": -0.1},
            "fraction must be a fraction in",
        ),
        (
            {"name": "missing", "modality": "text", "fraction": 1.5},
            "fraction must be a fraction in",
        ),
        ({"name": "missing", "modality": "smell", "fraction": 0.5}, "unknown modality 'smell'"),
        ({"name": "gaussian", "modality": "text", "snr": 0}, "unknown parameter(s) ['snr']"),
        (
            {"name": "gaussian", "modality": "text", "snr_db": float("nan")},
            "snr_db must be a finite",
        ),
        ({"name": "misalign", "modality": "text", "shift": 0}, "shift must be a non-zero integer"),
        ({"modality": "text"}, "has no 'name'"),
        (
            {"name": "missing", "fraction": 0.5},
            "missing 1 required positional argument: 'modality'",
        ),
        (
            {"name": "gaussian", "level": "pixel", "modality": "text"},
            "not a feature-level corruption (level 'pixel')",
        ),
        ("gaussian", "must be a mapping"),
    ],
)
def test_bad_specs_raise_clear_errors(spec, message):
    with pytest.raises(ValueError) as info:
        build_feature_corruption(spec if not isinstance(spec, str) else [spec])
    assert message in str(info.value)


def test_gaussian_without_stats_and_absent_modality_raise(toy):
    _, _, batch = toy
    with pytest.raises(ValueError, match="needs training-feature statistics"):
        build_feature_corruption({"name": "gaussian", "modality": "text", "snr_db": 0})(batch, 0)
    with pytest.raises(ValueError, match="batch has no modality 'visual'"):
        build_feature_corruption({"name": "missing", "modality": "visual", "fraction": 0.5})(
            batch, 0
        )


def test_stats_round_trip(toy, tmp_path):
    _, stats, _ = toy
    loaded = FeatureStats.load(stats.save(tmp_path / "stats.safetensors"))
    assert all(torch.equal(stats.std[m], loaded.std[m]) for m in stats.std)
    assert float(stats.std["text"][5]) == 0.0


def test_substitute_within_a_single_dialogue_and_with_one_utterance(toy):
    ds, stats, _ = toy
    one = collate(ds.splits["test"][:1], ds.modalities)
    out = build_feature_corruption({"name": "substitute", "modality": "text", "fraction": 1.0})(
        one, 0
    )
    real = one.utterance_mask[0]
    for t in range(int(real.sum())):  # every utterance got another utterance's features
        assert not torch.equal(out.features["text"][0, t], one.features["text"][0, t])
    single = collate([ds.splits["test"][0]], ds.modalities)
    single.utterance_mask[0, 1:] = False
    single.modality_mask[0, 1:] = False
    kept = build_feature_corruption({"name": "substitute", "modality": "text", "fraction": 1.0})(
        single, 0
    )
    assert torch.equal(kept.features["text"], single.features["text"])
    assert (kept.corruption["kind"] == 0).all()


def test_the_registry_is_the_one_list_of_kinds_and_their_codes_are_stable():
    # reports saved with runs hold these codes: a new corruption appends, never renumbers
    codes = ("clean", "gaussian", "missing", "dim_mask", "misalign", "substitute")
    assert feature_kinds()[:6] == codes
    assert feature_kinds()[1:] == tuple(CORRUPTIONS["feature"])
    assert kind_code("substitute") == 5
    with pytest.raises(ValueError, match="unknown corruption kinds \\['blur'\\]"):
        Curriculum("c", "a curriculum of an unregistered kind", kinds=("gaussian", "blur"))


def test_one_snr_to_severity_formula_for_grids_reports_and_estimates():
    import torch

    from affectrl.noise.protocols import get_grid

    assert snr_severity(0.0) == 0.5 and abs(snr_severity(-20.0) - 100 / 101) < 1e-12
    cell = get_grid("mosi-standard").cell("text/gaussian/-10")
    assert cell.severity == snr_severity(-10.0)
    spec = {"name": "gaussian", "modality": "text", "snr_db": -10.0}
    (gaussian,) = build_feature_corruption(spec, FeatureStats({}, {})).parts
    assert gaussian.severity == cell.severity
    assert torch.allclose(snr_severity(torch.tensor([-10.0])), torch.tensor([cell.severity]))


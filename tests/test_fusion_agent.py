"""The fusion agent: state, weights on the simplex, rewards, oracle, PPO/gate training loops and
the Gymnasium environment, on a tiny synthetic tri-modal dataset."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from affectrl.agents.fusion.baselines import (
    ablations,
    equal_weights,
    oracle_weights,
    weighted_predictor,
)
from affectrl.agents.fusion.env import FusionEnv
from affectrl.agents.fusion.ppo import PPOConfig
from affectrl.agents.fusion.quality import QUALITY_CHANNELS, QualityEstimator
from affectrl.agents.fusion.trainer import (
    AgentTrainConfig,
    RewardConfig,
    fine_tune_jointly,
    prior_weights,
    train_fusion_agent,
    train_gradient_gate,
    utterance_rewards,
)
from affectrl.data import Dialogue, DialogueDataset, collate
from affectrl.models import build_model
from affectrl.noise.feature import FeatureStats, build_feature_corruption
from affectrl.train.data import Batches

DIMS = {"text": 6, "audio": 4, "visual": 5}


def _dataset(seed: int = 0) -> DialogueDataset:
    """Labels are readable from text (strongly) and audio (weakly); visual is noise."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, n in (("train", 12), ("dev", 3), ("test", 4)):
        dialogues = []
        for k in range(n):
            t = int(rng.integers(4, 9))
            labels = rng.integers(0, 2, t)
            sign = (2 * labels - 1)[:, None]
            feats = {
                "text": sign * 1.5 + rng.normal(size=(t, 6)),
                "audio": sign * 0.3 + rng.normal(size=(t, 4)),
                "visual": rng.normal(size=(t, 5)),
            }
            dialogues.append(
                Dialogue(
                    f"{split}{k}",
                    ["s"] * t,
                    labels,
                    features={m: x.astype(np.float32) for m, x in feats.items()},
                )
            )
        splits[split] = dialogues
    return DialogueDataset("toy", ["neg", "pos"], splits)


def _model(ds: DialogueDataset, signals: str = "fast"):
    torch.manual_seed(0)
    spec = {
        "fusion": {"name": "agent", "hidden": 8, "signals": signals},
        "context": {"name": "bilstm", "hidden": 8, "dense": 8, "dropout": 0.0},
        "classifier": {"hidden": 8, "dropout": 0.0},
        "unimodal_loss_weight": 1.0,
    }
    model = build_model(spec, DIMS, 2, 1)
    model.fusion.use_quality(QualityEstimator.fit(ds))
    return model


def test_state_and_weights_respect_missing_modalities():
    ds = _dataset()
    model = _model(ds)
    batch = collate(ds.splits["test"], list(DIMS))
    stats = FeatureStats.from_dataset(ds)
    batch = build_feature_corruption(
        {"name": "missing", "modality": "audio", "fraction": 1.0}, stats
    )(batch, 0)
    fusion = model.fusion
    _, logits = fusion.encoders(batch.features, batch.modality_mask)
    state = fusion.state(batch.features, batch.modality_mask, logits)
    assert state.shape == (*batch.utterance_mask.shape, fusion.state_dim)
    assert torch.isfinite(state).all()
    fusion.set_mode("policy")
    model.eval()
    out = model(batch)
    assert torch.allclose(out.weights.sum(-1), torch.ones(len(out.weights)))
    assert (out.weights[:, 1] == 0).all()  # audio is missing everywhere


def test_warmup_behaves_like_fixed_weights():
    ds = _dataset()
    model = _model(ds).eval()
    batch = collate(ds.splits["dev"], list(DIMS))
    model.fusion.fixed_weights.copy_(torch.tensor([1.0, 0.0, 0.0]))
    out = model(batch)
    assert torch.allclose(out.weights, torch.tensor([1.0, 0.0, 0.0]).expand_as(out.weights))


def test_rewards_by_hand():
    ds = _dataset()
    model = _model(ds).eval()
    batch = collate(ds.splits["dev"][:1], list(DIMS))
    weights = torch.zeros(*batch.utterance_mask.shape, 3)
    weights[0, :, 0] = 1.0
    weights[0, 1, :] = torch.tensor([0.0, 1.0, 0.0])  # a jump at utterance 1 and back at 2
    out = model(batch, weights=weights)
    cw = torch.tensor([1.0, 1.0])
    total, terms = utterance_rewards(out, batch, weights, cw, RewardConfig(1.0, 0.0, 1.0))
    gold = batch.labels[batch.utterance_mask]
    p_gold = torch.softmax(out.logits, -1)[torch.arange(len(gold)), gold]
    assert torch.allclose(terms["classification"], p_gold)
    assert terms["instability"].tolist()[:3] == [0.0, 1.0, 1.0]
    assert torch.allclose(total, p_gold - terms["instability"])
    log_reward = RewardConfig(1.0, 0.0, 0.0, classification="log_probability")
    total, terms = utterance_rewards(out, batch, weights, torch.tensor([2.0, 0.5]), log_reward)
    assert torch.allclose(total, torch.tensor([2.0, 0.5])[gold] * p_gold.log())
    # departing from the prior weighting costs half the L1 distance, times its weight
    model.fusion.fixed_weights.copy_(torch.tensor([0.5, 0.5, 0.0]))
    prior = prior_weights(model.fusion, batch)
    departing = RewardConfig(1.0, 0.0, 0.0, departure=2.0)
    total, terms = utterance_rewards(out, batch, weights, cw, departing, prior)
    assert terms["departure"].tolist()[:3] == [0.5, 0.5, 0.5]
    assert torch.allclose(total, p_gold - 2.0 * terms["departure"])
    _, terms = utterance_rewards(out, batch, prior, cw, departing, prior)
    assert terms["departure"].abs().max() == 0


def test_oracle_zeroes_corrupted_modalities():
    ds = _dataset()
    stats = FeatureStats.from_dataset(ds)
    batch = collate(ds.splits["test"], list(DIMS))
    batch = build_feature_corruption(
        [
            {"name": "substitute", "modality": "text", "fraction": 1.0},
            {"name": "gaussian", "modality": "audio", "snr_db": 0.0, "fraction": 1.0},
        ],
        stats,
    )(batch, 1)
    w = oracle_weights(batch, torch.tensor([0.6, 0.2, 0.2]))[batch.utterance_mask]
    assert (w[:, 0] == 0).all()
    assert torch.allclose(w[:, 1], torch.full_like(w[:, 1], 0.1))  # 0.2 * (1 - 0.5)
    assert torch.allclose(w[:, 2], torch.full_like(w[:, 2], 0.2))


def test_weights_given_to_the_model_decide_the_fusion():
    ds = _dataset()
    model = _model(ds).eval()
    batch = collate(ds.splits["test"], list(DIMS))
    predict = weighted_predictor(model, equal_weights)
    logits = predict(batch)
    assert logits.shape == (*batch.utterance_mask.shape, 2)
    equal = model(batch, weights=equal_weights(batch))
    assert torch.allclose(equal.weights, torch.full_like(equal.weights, 1 / 3))
    assert torch.equal(logits[batch.utterance_mask], equal.logits)
    model.fusion.fixed_weights.copy_(torch.tensor([1.0, 0.0, 0.0]))
    assert not torch.equal(equal.logits, model(batch).logits)  # warm-up: the fixed weights
    assert torch.equal(equal.logits, model(batch, weights=equal_weights(batch)).logits)
    names = set(ablations(AgentTrainConfig()))
    assert {"rl_clean_training", "rl_alpha_only"} <= names


def test_ppo_and_gate_train_only_the_decider():
    ds = _dataset()
    model = _model(ds)
    stats = FeatureStats.from_dataset(ds)
    train = Batches(ds, "train", list(DIMS), 4)
    backbone = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if not k.startswith(("fusion.policy", "fusion.gate"))
    }
    policy = {k: v.clone() for k, v in model.fusion.policy.state_dict().items()}
    gate = {k: v.clone() for k, v in model.fusion.gate.state_dict().items()}
    cfg = AgentTrainConfig(iterations=6, seed=0, ppo=PPOConfig(minibatch=32))
    history = train_fusion_agent(model, train, stats, cfg, progress=False)
    assert len(history) == 6
    # the policy learned (a no-op trainer fails here), and nothing else moved
    after_ppo = model.fusion.policy.state_dict()
    moved = [k for k, v in after_ppo.items() if not torch.equal(v, policy[k])]
    assert "actor.4.weight" in moved and "critic.2.weight" in moved
    assert all(torch.equal(v, gate[k]) for k, v in model.fusion.gate.state_dict().items())
    assert model.fusion.mode == "policy"
    assert {
        "reward",
        "approx_kl",
        "clip_fraction",
        "entropy",
        "value_loss",
        "reward/instability",
    } <= set(history[0])
    trained_policy = {k: v.clone() for k, v in model.fusion.policy.state_dict().items()}
    losses = train_gradient_gate(model, train, stats, cfg, progress=False)
    assert len(losses) == 6 and np.isfinite(losses).all()
    assert model.fusion.mode == "gate"
    gate_after = model.fusion.gate.state_dict()
    assert not any(torch.equal(v, gate[k]) for k, v in gate_after.items())  # every layer learned
    policy_after = model.fusion.policy.state_dict()
    assert all(torch.equal(v, trained_policy[k]) for k, v in policy_after.items())
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in backbone.items())
    # stage 3: the backbone moves, the deciders do not, and the model is left for inference
    deciders = {
        k: v.clone() for k, v in after.items() if k.startswith(("fusion.policy", "fusion.gate"))
    }
    joint = replace(cfg, joint_iterations=4, joint_lr=1e-2)
    losses = fine_tune_jointly(model, train, stats, joint, progress=False)
    assert len(losses) == 4 and np.isfinite(losses).all()
    tuned = model.state_dict()
    assert all(torch.equal(v, tuned[k]) for k, v in deciders.items())
    assert not torch.equal(backbone["classifier.net.0.weight"], tuned["classifier.net.0.weight"])
    assert not model.training and model.fusion.mode == "policy"


def test_signal_sets_size_the_state_and_all_run():
    ds = _dataset()
    models = {s: _model(ds, s) for s in ("confidence", "fast", "full")}
    dims = [models[s].fusion.state_dim for s in ("confidence", "fast", "full")]
    assert dims == sorted(dims) and len(set(dims)) == 3
    batch = collate(ds.splits["dev"], list(DIMS))
    for model in models.values():
        model.fusion.set_mode("policy")
        assert model.eval()(batch).weights.shape[1] == 3
    with pytest.raises(ValueError, match="signals"):
        _model(ds, "everything")


def test_fast_degradation_matches_the_quality_channel_and_tracks_noise():
    ds = _dataset()
    model = _model(ds)
    fusion, quality = model.fusion, model.fusion.quality
    stats = FeatureStats.from_dataset(ds)
    clean = collate(ds.splits["test"], list(DIMS))
    levels = []
    for snr in (10.0, 0.0, -10.0):
        spec = {"name": "gaussian", "modality": "visual", "snr_db": snr}
        batch = build_feature_corruption(spec, stats)(clean, 0)
        _, logits = fusion.encoders(batch.features, batch.modality_mask)
        state = fusion.state(batch.features, batch.modality_mask, logits)
        names = fusion.state_channels()
        columns = [names.index(f"{m}.degradation") for m in DIMS]
        degradation = state[..., columns]  # [B, T, M]
        full = quality(batch)[..., QUALITY_CHANNELS.index("degradation")]
        real = batch.utterance_mask
        assert torch.allclose(degradation[real], full[real], atol=1e-5)
        levels.append(degradation[real][:, 2].mean().item())
    assert levels[0] < levels[1] < levels[2]


def test_gymnasium_environment_passes_the_checker():
    ds = _dataset()
    model = _model(ds)
    env = FusionEnv(
        model,
        Batches(ds, "train", list(DIMS), 4),
        FeatureStats.from_dataset(ds),
        pool_size=4,
        seed=0,
    )
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (model.fusion.state_dim,)
    _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
    assert terminated and not truncated and np.isfinite(reward)


def test_unknown_curriculum_is_a_clear_error():
    ds = _dataset()
    model = _model(ds)
    cfg = AgentTrainConfig(iterations=1, curriculum="mosi-standard")
    with pytest.raises(ValueError, match="evaluation grid, not a training curriculum"):
        train_fusion_agent(
            model,
            Batches(ds, "train", list(DIMS), 4),
            FeatureStats.from_dataset(ds),
            cfg,
            progress=False,
        )


def test_agent_stage_in_a_training_run_and_eval_restores_it(tmp_path, capsys):
    from affectrl.cli import main

    config = Path(__file__).resolve().parents[1] / "configs" / "mosi_agent.yaml"
    runs = tmp_path / "runs"
    overrides = [
        "train.epochs=1",
        "agent.iterations=3",
        "agent.joint_iterations=2",
    ]
    assert (
        main(["train", "--config", str(config), *overrides, "--runs-dir", str(runs), "--quiet"])
        == 0
    )
    assert "PPO fusion agent" not in capsys.readouterr().err  # --quiet: no bars, RL stage too
    seed_dir = runs / "mosi_agent" / "seed-1"
    metrics = json.loads((seed_dir / "metrics.json").read_text())
    assert metrics["agent"]["iterations"] == 3
    assert metrics["agent"]["joint_iterations"] == 2
    # the "fast" state reads no mismatch logits, so the estimator is fitted without its detector
    assert QualityEstimator.load(seed_dir / "quality.safetensors").detector is None
    for name in ("fusion_weights.png", "fusion_traces.png"):
        assert (seed_dir / name).stat().st_size > 5_000, name
    weights = pd.read_csv(seed_dir / "fusion_weights.csv")
    assert len(weights) == 40  # every mosi-standard cell
    assert np.allclose(weights[["w_text", "w_audio", "w_visual"]].sum(axis=1), 1, atol=1e-4)
    text_gone = weights.loc[weights["cell"] == "text/missing/1", "w_text"].iloc[0]
    assert text_gone == 0  # a missing modality gets no weight
    assert main(["eval", str(seed_dir)]) == 0
    again = json.loads((seed_dir / "eval.json").read_text())
    assert again["test"]["accuracy"] == metrics["test"]["accuracy"]
    # a run whose policy read another state layout is refused, not misread
    metrics["agent"]["state_channels"].reverse()
    (seed_dir / "metrics.json").write_text(json.dumps(metrics))
    assert main(["eval", str(seed_dir)]) == 1
    assert "different state layout" in capsys.readouterr().err


def test_agent_stage_reads_standardised_features_on_their_scale(tmp_path):
    """With `standardize: true` the quality estimator (and the curriculum) must see the
    features as the model does: z-scored, so clean training power is ~1 per modality."""
    from affectrl.cli import main

    config = Path(__file__).resolve().parents[1] / "configs" / "mosi_agent.yaml"
    overrides = [
        "standardize=true",
        "train.epochs=1",
        "agent.iterations=2",
        "agent.plot_grid=quick",
    ]
    runs = tmp_path / "runs"
    assert (
        main(["train", "--config", str(config), *overrides, "--runs-dir", str(runs), "--quiet"])
        == 0
    )
    quality = QualityEstimator.load(runs / "mosi_agent" / "seed-1" / "quality.safetensors")
    for m in ("text", "audio", "visual"):
        valid = quality.stats.std[m] > 0
        assert quality.stats.mean[m].abs().max() < 1e-3, m
        assert torch.allclose(quality.stats.std[m][valid], torch.ones(int(valid.sum())), atol=1e-3)


def test_split_feature_stats_cover_the_whole_split_after_the_transform():
    from affectrl.train.data import standardizer

    ds = _dataset()
    reference = FeatureStats.from_dataset(ds)
    plain = Batches(ds, "train", list(DIMS), 2).feature_stats()  # batches of 2 of 12 dialogues
    scaled = Batches(ds, "train", list(DIMS), 2, standardizer(ds, list(DIMS))).feature_stats()
    for m in DIMS:
        assert torch.equal(plain.mean[m], reference.mean[m])
        assert torch.equal(plain.std[m], reference.std[m])
        assert scaled.mean[m].abs().max() < 1e-5
        assert torch.allclose(scaled.std[m], torch.ones(DIMS[m]), atol=1e-4)


def test_zero_fixed_weights_never_give_a_zero_fusion():
    fusion = _model(_dataset()).fusion
    fusion.fixed_weights.copy_(torch.tensor([0.0, 0.0, 1.0]))
    decision = torch.full((4, 3), 1 / 3)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.bool)
    w = fusion.from_decision(decision, mask)
    assert torch.allclose(w[0], torch.tensor([0.0, 0.0, 1.0]))  # the prior, as is
    assert torch.allclose(w[1], torch.tensor([0.5, 0.5, 0.0]))  # visual missing: the decision
    assert torch.allclose(w[2], torch.tensor([0.0, 1.0, 0.0]))
    assert (w[3] == 0).all()  # nothing present


def test_a_uniform_prior_leaves_the_weighting_to_the_decision():
    ds = _dataset()
    fixed = torch.tensor([0.0, 0.0, 1.0])
    decision = torch.tensor([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 1]], dtype=torch.bool)
    residual = _model(ds).fusion
    residual.fixed_weights.copy_(fixed)
    assert torch.allclose(residual.from_decision(decision, mask)[0], fixed)
    uniform = build_model(
        {"fusion": {"name": "agent", "hidden": 8, "prior": "uniform"}}, DIMS, 2, 1
    ).fusion
    uniform.fixed_weights.copy_(fixed)
    w = uniform.from_decision(decision, mask)
    assert torch.allclose(w[0], decision[0])
    assert torch.allclose(w[1], torch.tensor([6 / 7, 0.0, 1 / 7]))
    with pytest.raises(ValueError, match="unknown fusion agent prior 'dev'"):
        build_model({"fusion": {"name": "agent", "prior": "dev"}}, DIMS, 2, 1)


def test_both_agents_compose_in_one_model(tmp_path):
    """configs/mosi_both_agents.yaml: the fusion agent in front of COGMEN with the graph agent's
    edge scorer, on real MOSI; `graph-explain` and `eval` of the run use the trained policy."""
    from affectrl.agents.graph.policies import EdgeScorerGraph
    from affectrl.cli import main
    from affectrl.train.run_folder import load_run

    config = Path(__file__).resolve().parents[1] / "configs" / "mosi_both_agents.yaml"
    runs = tmp_path / "runs"
    overrides = ["train.epochs=1", "agent.iterations=3", "agent.plot_grid=quick"]
    args = ["train", "--config", str(config), *overrides, "--runs-dir", str(runs), "--quiet"]
    assert main(args) == 0
    seed_dir = runs / "mosi_both_agents" / "seed-1"
    metrics = json.loads((seed_dir / "metrics.json").read_text())
    assert metrics["agent"]["iterations"] == 3
    assert main(["graph-explain", str(seed_dir)]) == 0
    assert (seed_dir / "graph_dialogue.png").stat().st_size > 5_000
    assert main(["eval", str(seed_dir)]) == 0
    again = json.loads((seed_dir / "eval.json").read_text())
    assert again["test"]["accuracy"] == metrics["test"]["accuracy"]
    model = load_run(seed_dir).model
    assert model.fusion.mode == "policy" and isinstance(model.context.graph, EdgeScorerGraph)


def test_fusion_agent_needs_two_modalities():
    with pytest.raises(ValueError, match="two or more modalities"):
        build_model({"fusion": {"name": "agent"}}, {"text": 6}, num_classes=2, num_speakers=1)


def _clips(n: int, seed: int) -> list[Dialogue]:
    """One-clip dialogues of 3 classes read from both audio and visual (clip-level, as RAVDESS)."""
    centre = np.random.default_rng(99)  # the same class centres in every split
    centres = {m: centre.normal(size=(3, 6)) * 1.5 for m in ("audio", "visual")}
    rng = np.random.default_rng(seed)
    clips = []
    for k in range(n):
        label = int(rng.integers(0, 3))
        feats = {m: (c[label] + rng.normal(size=6)).astype(np.float32) for m, c in centres.items()}
        clips.append(
            Dialogue(
                f"c{seed}-{k}",
                ["s"],
                np.array([label]),
                features={m: f[None] for m, f in feats.items()},
            )
        )
    return clips


@pytest.fixture
def gaussian_curriculum():
    """Gaussian noise only, at the full SNR range from the first step: the corruption the
    "fast" state's degradation channel measures."""
    from affectrl.noise.protocols import PROTOCOLS, Curriculum, register_protocol

    register_protocol(Curriculum("test-gaussian", "test", kinds=("gaussian",), ramp=0.0))
    yield "test-gaussian"
    PROTOCOLS.unregister("test-gaussian")


def test_weight_on_a_corrupted_modality_falls_as_its_severity_rises(gaussian_curriculum):
    """The weight plot's claim on a small trained audio-visual agent: along the Gaussian cells of
    ravdess-av-standard (clean, 0, -5, -10, -20 dB) the mean weight on the corrupted modality
    falls (flat within 0.02 where the degradation channel saturates, -10 -> -20 dB), and the
    other modality takes it."""
    from affectrl.agents.fusion.plots import weights_by_cell

    ds = DialogueDataset(
        "av",
        ["a", "b", "c"],
        {"train": _clips(240, 0), "dev": _clips(30, 1), "test": _clips(60, 2)},
    )
    torch.manual_seed(0)
    spec = {
        "fusion": {"name": "agent", "hidden": 16, "signals": "fast"},
        "context": {"name": "none"},
        "classifier": {"hidden": 16, "dropout": 0.0},
        "unimodal_loss_weight": 1.0,
    }
    model = build_model(spec, {"audio": 6, "visual": 6}, 3, 1)
    warmup = Batches(ds, "train", ["audio", "visual"], 32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(15):  # the supervised warm-up, clean
        for batch in warmup.shuffled(generator):
            optimizer.zero_grad()
            model.loss(model(batch), batch).backward()
            optimizer.step()
    model.fusion.use_quality(QualityEstimator.fit(ds))
    cfg = AgentTrainConfig(
        iterations=40, seed=0, samples=4, curriculum=gaussian_curriculum, ppo=PPOConfig(lr=3e-3)
    )
    train = Batches(ds, "train", ["audio", "visual"], 60)
    train_fusion_agent(model, train, FeatureStats.from_dataset(ds), cfg, progress=False)
    table = weights_by_cell(model, ds, "ravdess-av-standard", lambda b: b).set_index("cell")
    for m, other in (("audio", "visual"), ("visual", "audio")):
        cells = ["clean"] + [f"{m}/gaussian/{snr}" for snr in (0, -5, -10, -20)]
        w = table.loc[cells, f"w_{m}"].to_numpy()
        assert (np.diff(w) < 0.02).all() and w[3] < w[1] < w[0], (m, w)
        assert w[-1] < w[0] - 0.15, (m, w)
        assert table.loc[cells[-1], f"w_{other}"] > 0.6, m  # the weight went to the other one


def test_agent_batch_size_sets_the_rl_stage_batches():
    """`agent.batch_size` is what the PPO stage batches by (null: the run's own batches)."""
    from affectrl.agents.fusion.stage import rollout_batches

    ds = _dataset()
    train = Batches(ds, "train", list(DIMS), 4)
    assert rollout_batches(train, None) is train
    other = rollout_batches(train, 3)
    assert other.batch_size == 3 and train.batch_size == 4
    sizes = [len(b.dialogue_ids) for b in other.in_order()]
    assert sizes[:-1] == [3] * (len(sizes) - 1) and sum(sizes) == len(train.dialogues)
    assert [len(b.dialogue_ids) for b in train.in_order()][0] == 4
    ids = [i for b in other.in_order() for i in b.dialogue_ids]
    assert ids == [i for b in train.in_order() for i in b.dialogue_ids]

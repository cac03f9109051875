"""Train the fusion agent's decider with the backbone frozen.

`train_fusion_agent` runs PPO on the Dirichlet policy: each iteration takes a batch of
dialogues, corrupts it as the noise curriculum says, samples weights for every utterance,
runs the frozen model with them and rewards each utterance with

    R = alpha * w_c[y] * p(y)            class-balanced probability of the gold class y
                                         (reward.classification "log_probability": log p(y))
      + beta  * sum_m w_m [head_m agrees with the fused prediction]      consistency
      - gamma * 0.5 * |w_t - w_{t-1}|_1  instability between neighbouring utterances
      - departure * 0.5 * |w_t - w_fixed|_1   departing from the undecided (prior) weights

(w_c: inverse class frequency, mean 1). Noise-aware scaling: under heavy noise every reward is
low, which would starve learning; the critic sees the state (its quality channels tell the noise
level), so the advantage R - V(s) measures the decision relative to what that noise level
allows, and advantages are standardised per rollout.

`train_gradient_gate` trains the softmax gate on exactly the same state by back-propagating the
classification loss through the frozen model: the ablation that tells whether a gain comes from
RL or from the state.

`fine_tune_jointly` is the optional third stage: the trained policy keeps deciding (frozen) while
the backbone is trained by gradient on the supervised loss under the same curriculum, so the
classifier learns the agent's weightings rather than the warm-up's random ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import torch
from tqdm import trange

from ...data.batch import DialogueBatch
from ...device import module_device
from ...models.erc import ERCModel, ModelOutput
from ...noise.feature import FeatureStats
from ...noise.protocols import get_curriculum
from .model import AgentFusion
from .ppo import Rollout, act, ppo_update
from .settings import AgentTrainConfig, RewardConfig


def class_weights(batches: list[DialogueBatch], num_classes: int) -> torch.Tensor:
    """Inverse class frequency over the labelled utterances, scaled to mean 1: [C]."""
    labels = torch.cat([b.labels[b.utterance_mask] for b in batches])
    counts = torch.bincount(labels[labels >= 0], minlength=num_classes).float().clamp_min(1)
    weights = counts.sum() / counts
    return weights / weights.mean()


def utterance_rewards(
    out: ModelOutput,
    batch: DialogueBatch,
    weights: torch.Tensor,
    cls_weights: torch.Tensor,
    config: RewardConfig,
    prior: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Reward [N] per real utterance and its terms (each [N]); weights: [B, T, M] used;
    prior: [B, T, M] the weights of the undecided fusion (`prior_weights`; for the departure
    term, 0 without)."""
    mask = batch.utterance_mask
    labels = batch.labels[mask]
    gold = labels.clamp_min(0)
    probs = torch.softmax(out.logits, -1)
    scored = probs
    if config.classification == "log_probability":
        scored = torch.log_softmax(out.logits, -1)
    classification = cls_weights[gold] * scored.gather(1, gold[:, None]).squeeze(1)
    pred = probs.argmax(-1)
    agree = (out.unimodal_logits.argmax(-1) == pred[:, None]) & out.present
    flat_w = weights[mask]
    consistency = (flat_w * agree).sum(-1)
    jump = torch.zeros(mask.shape, device=mask.device)
    jump[:, 1:] = 0.5 * (weights[:, 1:] - weights[:, :-1]).abs().sum(-1) * mask[:, :-1]
    instability = jump[mask]
    departure = torch.zeros_like(instability)
    if prior is not None:
        departure = 0.5 * (flat_w - prior[mask]).abs().sum(-1)
    total = (
        config.alpha * classification
        + config.beta * consistency
        - config.gamma * instability
        - config.departure * departure
    )
    terms = {
        "classification": classification,
        "consistency": consistency,
        "instability": instability,
        "departure": departure,
    }
    return total, terms


def _training_batches(
    sources: list,
    stats: FeatureStats,
    config: AgentTrainConfig,
    generator,
    desc: str,
    progress: bool,
    device: torch.device,
) -> Iterator[tuple[int, int, DialogueBatch]]:
    """(iteration, source index, batch) for `config.iterations` steps, the sources' `Batches`
    taken in turn: shuffled passes over each, every batch corrupted as the curriculum says
    (severity ramping with the share of steps done) on the CPU in the data's own units
    (`stats`: `Batches.noise_stats`), then transformed, as the noise grids do, then moved to
    `device`."""
    curriculum = get_curriculum(config.curriculum) if config.curriculum else None
    it = 0

    def corrupt(batch: DialogueBatch, _: int) -> DialogueBatch:
        # called lazily inside next(stream) below, so `it` is the step being drawn
        return curriculum.corrupt(batch, it / config.iterations, config.seed * 100_003 + it, stats)

    def stream(batches) -> Iterator[DialogueBatch]:
        passes = (
            batches.shuffled(generator, corrupt if curriculum is not None else None)
            for _ in itertools.count()
        )
        return itertools.chain.from_iterable(passes)

    streams = [stream(b) for b in sources]
    for it in trange(config.iterations, desc=desc, disable=not progress):
        j = it % len(streams)
        yield it, j, next(streams[j]).to(device)


def _freeze(model: ERCModel, trainable) -> None:
    """Eval mode, and gradients for the `trainable` parameters only."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)


def _rollout_sources(model: ERCModel, train_batches, cross_fit, mode: str) -> list[tuple]:
    """The (model, `Batches`) pairs whose rollouts train `model`'s decider for `mode` ("policy"
    or "gate"): `model` on `train_batches`, or with cross-fitting the held-out copies on their
    held-out clips, made to share `model`'s policy and gate (their own backbone, fixed weights
    and quality estimator stay theirs). Every model involved is frozen but for the decider and
    set to `mode`."""
    fusion: AgentFusion = model.fusion
    sources = list(cross_fit) if cross_fit else [(model, train_batches)]
    for other, _ in sources:
        if other.fusion.state_dim != fusion.state_dim:
            raise ValueError(
                f"cross-fitted model's state has {other.fusion.state_dim} channels, the agent's "
                f"{fusion.state_dim}: build them from the same config"
            )
        other.fusion.policy, other.fusion.gate = fusion.policy, fusion.gate
    decider = fusion.policy if mode == "policy" else fusion.gate
    for m in {id(m): m for m in (model, *(m for m, _ in sources))}.values():
        _freeze(m, decider.parameters())
        m.fusion.set_mode(mode)
    return sources


def train_fusion_agent(
    model: ERCModel,
    train_batches,
    stats: FeatureStats,
    config: AgentTrainConfig,
    writer=None,
    progress: bool = True,
    cross_fit: list[tuple[ERCModel, object]] | None = None,
) -> list[dict[str, float]]:
    """PPO on `model.fusion.policy` with the rest of the model frozen; returns per-iteration
    diagnostics (reward terms, entropy, approx KL, clip fraction, value loss).

    cross_fit: (model, its held-out `Batches`) pairs, each model trained with one block of the
    training groups held out (`train.holdout`): the rollouts then come from them in turn,
    `train_batches` unused, so the policy learns from states and rewards of clips the backbone
    did not fit (on its own training clips the unimodal heads and the quality channels look
    more reliable than on unseen speakers)."""
    fusion: AgentFusion = model.fusion
    sources = _rollout_sources(model, train_batches, cross_fit, "policy")
    optimizer = torch.optim.Adam(fusion.policy.parameters(), lr=config.ppo.lr)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    device = module_device(model)
    num_classes = model.classifier.net[-1].out_features
    labelled = [b for _, batches in sources for b in batches.in_order()]
    cls_weights = class_weights(labelled, num_classes).to(device)
    history = []
    desc = "PPO fusion agent"
    batches = [b for _, b in sources]
    steps = _training_batches(batches, stats, config, generator, desc, progress, device)
    k = config.samples
    for it, j, batch in steps:
        keep = batch.labels[batch.utterance_mask] >= 0
        rolling = sources[j][0]
        with torch.no_grad():
            _, logits = rolling.fusion.encoders(batch.features, batch.modality_mask)
            states = rolling.fusion.state(batch.features, batch.modality_mask, logits)
            states = states[batch.utterance_mask]
            draws = [_draw(rolling, batch, states, cls_weights, config.reward) for _ in range(k)]
        actions, log_probs, values, rewards = (
            torch.stack([d[i] for d in draws])[:, keep] for i in range(4)
        )  # [K, N, ...]
        baselines = None
        if k > 1:  # leave-one-out mean reward of the other draws for the same utterance
            baselines = ((rewards.sum(0, keepdim=True) - rewards) / (k - 1)).flatten()
        rollout = Rollout(
            states[keep].repeat(k, 1),
            actions.flatten(0, 1),
            log_probs.flatten(),
            values.flatten(),
            rewards.flatten(),
            baselines,
        )
        terms = {name: torch.stack([d[4][name] for d in draws])[:, keep] for name in draws[0][4]}
        record = ppo_update(fusion.policy, optimizer, rollout, config.ppo, generator)
        record |= {"reward": float(rewards.mean())}
        record |= {f"reward/{name}": float(v.mean()) for name, v in terms.items()}
        history.append(record)
        if writer is not None:
            for key, value in record.items():
                writer.add_scalar(f"agent/{key}", value, it)
    fusion.set_mode("policy")
    return history


def prior_weights(fusion: AgentFusion, batch: DialogueBatch) -> torch.Tensor:
    """The weights [B, T, M] of an undecided (uniform) decision: the dev-tuned fixed weights
    over the present modalities (prior "uniform": equal weights)."""
    mask = batch.modality_mask
    return fusion.from_decision(torch.ones(mask.shape, device=mask.device), mask)


def _draw(model: ERCModel, batch: DialogueBatch, states, cls_weights, reward: RewardConfig):
    """One sampled decision per real utterance of `batch` (states [N, S]) and its outcome:
    actions [N, A], log-probs, values, rewards [N], reward terms (name -> [N])."""
    fusion: AgentFusion = model.fusion
    mask = batch.utterance_mask
    actions, log_probs, values = act(fusion.policy, states)
    decisions = fusion.policy.decision(actions)  # [N, M]
    weights = decisions.new_zeros(*mask.shape, decisions.shape[-1])
    weights[mask] = decisions
    out = model(batch, weights=fusion.from_decision(weights, batch.modality_mask))
    full = torch.zeros_like(weights)
    full[mask] = out.weights  # after renormalising over present modalities
    prior = prior_weights(fusion, batch)
    rewards, terms = utterance_rewards(out, batch, full, cls_weights, reward, prior)
    return actions, log_probs, values, rewards, terms


def train_gradient_gate(
    model: ERCModel,
    train_batches,
    stats: FeatureStats,
    config: AgentTrainConfig,
    progress: bool = True,
    cross_fit: list[tuple[ERCModel, object]] | None = None,
) -> list[float]:
    """Train `model.fusion.gate` by gradient on the classification loss (backbone frozen);
    returns the per-iteration losses. cross_fit: as in `train_fusion_agent`."""
    sources = _rollout_sources(model, train_batches, cross_fit, "gate")
    gate = model.fusion.gate.parameters()
    return _train_by_gradient(model, gate, config.gate_lr, sources, stats, config, progress)


def fine_tune_jointly(
    model: ERCModel,
    train_batches,
    stats: FeatureStats,
    config: AgentTrainConfig,
    progress: bool = True,
) -> list[float]:
    """Stage 3: the backbone (encoders, unimodal heads, context model, classifier) trained by
    gradient for `config.joint_iterations` curriculum batches at `config.joint_lr`, dropout on,
    while the frozen policy decides the weights; returns the per-iteration losses.

    The loss reaches the heads also through the policy's state (the weights are not detached):
    the heads may learn to signal their reliability, and the unimodal loss keeps them
    classifiers."""
    fusion: AgentFusion = model.fusion
    deciders = {id(p) for p in (*fusion.policy.parameters(), *fusion.gate.parameters())}
    backbone = [p for p in model.parameters() if id(p) not in deciders]
    _freeze(model, backbone)
    model.train()
    fusion.set_mode("policy")
    schedule = replace(config, iterations=config.joint_iterations)
    try:
        return _train_by_gradient(
            model, backbone, config.joint_lr, [(model, train_batches)], stats, schedule, progress
        )
    finally:
        model.eval()


def _train_by_gradient(
    model: ERCModel, params, lr: float, sources, stats, config, progress
) -> list[float]:
    """Adam on `params` against the loss of the curriculum's training batches of each (model,
    `Batches`) source in turn (`params` shared by them)."""
    optimizer = torch.optim.Adam(params, lr=lr)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    losses = []
    desc = f"gradient ({model.fusion.mode})"
    device = module_device(model)
    batches = [b for _, b in sources]
    steps = _training_batches(batches, stats, config, generator, desc, progress, device)
    for _, j, batch in steps:
        through = sources[j][0]
        loss = through.loss(through(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses

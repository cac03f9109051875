"""The fusion decision as a Gymnasium environment, so Stable-Baselines3 can train a policy on it.

Each episode is one step: the observation is one utterance's reliability state (the same
state the built-in PPO sees), the action is M numbers in [-1, 1] whose scaled softmax gives the
modality weights, and the reward is the built-in reward for that utterance. To keep a step
cheap and its reward attributable to its action, the rest of the utterance's dialogue is
fused with equal weights (the built-in trainer samples every utterance's weights jointly:
this is the one difference between the two setups).

Observations come from a pool of curriculum-corrupted training batches drawn at reset.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from ...data.batch import DialogueBatch
from ...device import module_device, resolve_device
from ...models.erc import ERCModel
from ...noise.feature import FeatureStats
from ...noise.protocols import get_curriculum
from .model import STATE_CLIP
from .trainer import RewardConfig, class_weights, prior_weights, utterance_rewards

LOGIT_SCALE = 5.0


class FusionEnv(gym.Env):
    """obs: float32 [S] state (clipped to +-STATE_CLIP); action: float32 [M] in [-1, 1], scaled
    by LOGIT_SCALE to logits whose softmax gives the weights; one step per episode."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        model: ERCModel,
        train_batches,
        stats: FeatureStats,
        curriculum: str | None = "curriculum-standard",
        reward: RewardConfig | None = None,
        pool_size: int = 64,
        seed: int = 0,
    ):
        super().__init__()
        self.model, self.reward = model, reward or RewardConfig()
        self.fusion = model.fusion
        self.model.eval()
        m, s = len(self.fusion.encoders.modalities), self.fusion.state_dim
        self.observation_space = gym.spaces.Box(-STATE_CLIP, STATE_CLIP, (s,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (m,), np.float32)
        self.cls_weights = class_weights(
            train_batches.in_order(), model.classifier.net[-1].out_features
        )
        schedule = get_curriculum(curriculum) if curriculum else None
        generator = torch.Generator().manual_seed(seed)
        self.pool: list[tuple[DialogueBatch, torch.Tensor]] = []
        drawn: list[DialogueBatch] = []

        def corrupt(batch: DialogueBatch, _: int) -> DialogueBatch:  # before the transform
            i = len(drawn)
            return schedule.corrupt(batch, i / pool_size, seed * 100_003 + i, stats)

        while len(drawn) < pool_size:
            for batch in train_batches.shuffled(generator, corrupt if schedule else None):
                drawn.append(batch)
                if len(drawn) == pool_size:
                    break
        device = module_device(model)
        self.cls_weights = self.cls_weights.to(device)
        for batch in drawn:
            batch = batch.to(device)  # corrupted on the CPU, decided where the model lives
            with torch.no_grad():
                _, logits = self.fusion.encoders(batch.features, batch.modality_mask)
                state = self.fusion.state(batch.features, batch.modality_mask, logits)
            self.pool.append((batch, state))
        self._rng = np.random.default_rng(seed)
        self._current: tuple[int, int, int] | None = None

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        k = int(self._rng.integers(len(self.pool)))
        batch, state = self.pool[k]
        labelled = (batch.utterance_mask & (batch.labels >= 0)).nonzero()
        b, t = labelled[int(self._rng.integers(len(labelled)))].tolist()
        self._current = (k, b, t)
        return state[b, t].cpu().numpy().astype(np.float32), {}

    def step(self, action):
        k, b, t = self._current
        batch, _ = self.pool[k]
        shape = (*batch.utterance_mask.shape, self.action_space.shape[0])
        weights = torch.ones(shape, device=batch.utterance_mask.device)
        weights[b, t] = action_weights(torch.as_tensor(action, dtype=torch.float32)).to(weights)
        weights = self.fusion.from_decision(weights, batch.modality_mask)
        one = _select(batch, b)
        with torch.no_grad():
            out = self.model(one, weights=weights[b : b + 1])
        used = torch.zeros_like(weights[b : b + 1])
        used[one.utterance_mask] = out.weights
        prior = prior_weights(self.fusion, one)
        rewards, _ = utterance_rewards(out, one, used, self.cls_weights, self.reward, prior)
        position = int(one.utterance_mask[0, :t].sum())
        obs = np.zeros(self.observation_space.shape, np.float32)
        return obs, float(rewards[position]), True, False, {}


def _select(batch: DialogueBatch, b: int) -> DialogueBatch:
    """Dialogue b of a batch as a batch of one (same padding length)."""
    return DialogueBatch(
        features={m: x[b : b + 1] for m, x in batch.features.items()},
        utterance_mask=batch.utterance_mask[b : b + 1],
        modality_mask=batch.modality_mask[b : b + 1],
        speakers=batch.speakers[b : b + 1],
        labels=batch.labels[b : b + 1],
        modalities=batch.modalities,
        dialogue_ids=batch.dialogue_ids[b : b + 1],
        corruption={k: v[b : b + 1] for k, v in batch.corruption.items()},
    )


def train_sb3(env: FusionEnv, timesteps: int = 20_000, seed: int = 0, device: str | None = None):
    """Stable-Baselines3 PPO (MLP policy on the state) on the environment; returns the model.
    device: of SB3's policy (auto | cpu | cuda[:N]; None: where the environment's model is)."""
    from stable_baselines3 import PPO

    agent = PPO(
        "MlpPolicy",
        env,
        n_steps=1024,
        batch_size=256,
        n_epochs=4,
        gamma=0.0,
        learning_rate=3e-4,
        policy_kwargs={"net_arch": [64, 64]},
        seed=seed,
        verbose=0,
        device=resolve_device(device, "SB3 device") if device else module_device(env.model),
    )
    agent.learn(total_timesteps=timesteps)
    return agent


def sb3_weights(agent, state: torch.Tensor) -> torch.Tensor:
    """Deterministic SB3 weights [..., M] for states [..., S] (softmax of the action logits)."""
    flat = state.reshape(-1, state.shape[-1]).cpu().numpy()
    actions, _ = agent.predict(flat, deterministic=True)
    weights = action_weights(torch.as_tensor(actions, dtype=torch.float32, device=state.device))
    return weights.reshape(*state.shape[:-1], -1)


def sb3_decider(fusion, agent):
    """batch -> the fusion weights [B, T, M] a trained SB3 agent decides: the fusion's state
    per utterance, the agent's deterministic action, applied to the fusion's prior."""

    def weights(batch: DialogueBatch) -> torch.Tensor:
        _, logits = fusion.encoders(batch.features, batch.modality_mask)
        state = fusion.state(batch.features, batch.modality_mask, logits)
        return fusion.from_decision(sb3_weights(agent, state), batch.modality_mask)

    return weights


def action_weights(action: torch.Tensor) -> torch.Tensor:
    """Environment action in [-1, 1]^M -> weights on the simplex."""
    return torch.softmax(LOGIT_SCALE * action.clamp(-1, 1), -1)

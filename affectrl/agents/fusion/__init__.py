"""The fusion agent: per-utterance modality weights decided from a reliability state.

model.py (AgentFusion: the state, the deciders), quality.py (label-free quality signals),
policy.py (Dirichlet policy), ppo.py, trainer.py (PPO, the gradient gate, joint fine-tuning),
env.py (Gymnasium / Stable-Baselines3), plots.py (what it trusted), stage.py (the RL stage of a
training run). docs/FUSION_AGENT.md describes the method.
"""

from .model import AgentFusion

__all__ = ["AgentFusion"]

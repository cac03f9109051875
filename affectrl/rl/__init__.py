"""Reinforcement learning: policies, a batched PPO for per-utterance decisions, and environments."""

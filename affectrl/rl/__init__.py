"""Reinforcement learning: the fusion agent (policy.py, ppo.py, fusion_trainer.py, env.py for
Gymnasium / Stable-Baselines3) and the graph agent (graph_agent.py)."""

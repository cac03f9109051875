"""Reinforcement-learning agents (the graph agent: graph_agent.py)."""

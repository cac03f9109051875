"""The graph agent: which earlier utterances feed COGMEN's dialogue graph.

policies.py (the RL context graphs and their REINFORCE objective), methods.py (the compared
graphs by name), explain.py (what a trained graph kept, drawn). docs/GRAPH_AGENT.md describes
the method.
"""

from .policies import EdgeScorerGraph, PolicyGraph, WindowSelectorGraph

__all__ = ["EdgeScorerGraph", "PolicyGraph", "WindowSelectorGraph"]

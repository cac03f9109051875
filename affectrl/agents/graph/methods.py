"""The context graphs the graph agent is compared with, by name, and the run config of each.

Every method is COGMEN's context model with one graph; the RL methods are the graph agent's.
"""

from __future__ import annotations

import copy

# graph section of `model.context` for each compared method (COGMEN's context model around it)
GRAPH_METHODS: dict[str, dict] = {
    "cogmen": {"name": "window", "past": 5, "future": 5},
    "full": {"name": "window", "past": -1, "future": -1},
    # COGMEN's graph with the edge scorers' range: separates "more context" from "learned edges"
    "window10": {"name": "window", "past": 10, "future": 10},
    "soft_adjacency": {"name": "edge_scorer", "mode": "soft", "max_range": 10},
    "rl_window": {"name": "window_selector"},
    "rl_hard": {"name": "edge_scorer", "mode": "rl_hard", "max_range": 10},
    "rl_soft": {"name": "edge_scorer", "mode": "rl_soft", "max_range": 10},
}
RL_METHODS = ("rl_window", "rl_hard", "rl_soft")


def method_config(base: dict, method: str) -> dict:
    """`base` (a COGMEN config) with its context graph replaced by `method`'s."""
    if method not in GRAPH_METHODS:
        raise ValueError(f"unknown graph method {method!r}; known: {sorted(GRAPH_METHODS)}")
    config = copy.deepcopy(base)
    config["model"]["context"]["graph"] = dict(GRAPH_METHODS[method])
    return config

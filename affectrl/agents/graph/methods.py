"""The context models the graph agent is compared with, by name, and the run config of each.

Every graph method is COGMEN's context model with one graph; the RL methods are the graph
agent's. `sparse_<f>` is the edge policy (rl_soft) under an edge budget of f times COGMEN's
edges (`EdgeScorerGraph.budget`); `dgode` replaces COGMEN's context model by the DGODE-style
graph ODE (`affectrl.models.ode`) over COGMEN's window graph, trained at its own lr.
"""

from __future__ import annotations

import copy

# the policies' learning rate in the issue-20 methods (train.lr, 1e-4, leaves them near their
# initialisation after 55 epochs of 4 batches on IEMOCAP; docs/GRAPH_AGENT.md)
POLICY_LR = 3.0e-3
COGMEN_WINDOW = {"name": "window", "past": 5, "future": 5}
# graph section of `model.context` for each compared method (COGMEN's context model around it)
GRAPH_METHODS: dict[str, dict] = {
    "cogmen": COGMEN_WINDOW,
    "full": {"name": "window", "past": -1, "future": -1},
    # fixed windows 1..10 (the Pareto curve; window10 has the edge scorers' range, separating
    # "more context" from "learned edges")
    **{f"window{k}": {"name": "window", "past": k, "future": k} for k in range(1, 11)},
    "soft_adjacency": {"name": "edge_scorer", "mode": "soft", "max_range": 10},
    "rl_window": {"name": "window_selector", "credit": "utterance", "policy_lr": POLICY_LR},
    "rl_window_dialogue": {"name": "window_selector", "credit": "dialogue"},
    "rl_hard": {"name": "edge_scorer", "mode": "rl_hard", "max_range": 10},
    "rl_soft": {"name": "edge_scorer", "mode": "rl_soft", "max_range": 10},
    # the budgeted edge policy at COGMEN's edge count, trained by PPO instead of REINFORCE
    "ppo": {
        "name": "edge_scorer",
        "mode": "rl_soft",
        "max_range": 10,
        "budget": 1.0,
        "algorithm": "ppo",
        "policy_lr": POLICY_LR,
    },
}
# methods that replace the whole context model
CONTEXT_METHODS: dict[str, dict] = {"dgode": {"name": "dgode", "graph": COGMEN_WINDOW}}
# a method's own training recipe over the base's (COGMEN's): the graph ODE barely moves at
# COGMEN's lr 1e-4 (IEMOCAP dev wF1 21.7 after 10 epochs, seed 1) and trains at 1e-3 (58.2;
# docs/BENCHMARKS.md, issue 20)
TRAIN_RECIPES: dict[str, dict] = {"dgode": {"lr": 1.0e-3}}
SPARSE = "sparse_"
RL_METHODS = ("rl_window", "rl_window_dialogue", "rl_hard", "rl_soft", "ppo")


def sparse_method(budget: float) -> str:
    """The method name of the edge policy at `budget` times COGMEN's edges, e.g. sparse_0.75."""
    return f"{SPARSE}{budget:g}"


def sparse_budget(method: str) -> float | None:
    """The budget of a sparse_<f> method (None for any other name)."""
    if not method.startswith(SPARSE):
        return None
    try:
        return float(method[len(SPARSE) :])
    except ValueError:
        raise ValueError(
            f"bad budget in method name {method!r} (expected e.g. sparse_0.75)"
        ) from None


def is_rl(method: str) -> bool:
    return method in RL_METHODS or sparse_budget(method) is not None


def known_method(method: str) -> bool:
    return method in GRAPH_METHODS or method in CONTEXT_METHODS or sparse_budget(method) is not None


def method_config(base: dict, method: str) -> dict:
    """`base` (a COGMEN config) with its context graph (or context model) replaced by
    `method`'s, and `method`'s own training recipe (`TRAIN_RECIPES`) over base's."""
    config = copy.deepcopy(base)
    if method in TRAIN_RECIPES:
        config.setdefault("train", {}).update(TRAIN_RECIPES[method])
    context = config["model"]["context"]
    budget = sparse_budget(method)
    if budget is not None:
        context["graph"] = {**GRAPH_METHODS["rl_soft"], "budget": budget, "policy_lr": POLICY_LR}
    elif method in GRAPH_METHODS:
        context["graph"] = copy.deepcopy(GRAPH_METHODS[method])
    elif method in CONTEXT_METHODS:
        config["model"]["context"] = copy.deepcopy(CONTEXT_METHODS[method])
    else:
        known = sorted(GRAPH_METHODS) + sorted(CONTEXT_METHODS) + [f"{SPARSE}<budget>"]
        raise ValueError(f"unknown graph method {method!r}; known: {known}")
    return config

"""The two RL decision-makers, each owning its whole life cycle.

- `affectrl.agents.fusion`: the fusion agent, per-utterance modality weights (reliability state
  and quality signals, Dirichlet policy, PPO, trainer, Gymnasium env for SB3, plots, the RL stage
  of a training run).
- `affectrl.agents.graph`: the graph agent, which earlier utterances feed COGMEN's dialogue graph
  (policy graphs trained by REINFORCE, the compared graph methods, explain drawings).

Both plug into the supervised model of `affectrl.models` as a fusion and a context graph.
Importing this package registers them by name (fusion `agent`; graphs `window_selector`,
`edge_scorer`).
"""

from . import fusion, graph  # noqa: F401

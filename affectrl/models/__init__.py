"""Models: fusion (per utterance) -> context model (per dialogue) -> classifier."""

from .agent_fusion import AgentFusion
from .context import CONTEXTS, BiLSTMContext, COGMENContext, NoContext
from .erc import Classifier, ERCModel, LateFusionModel, ModelOutput, build_model
from .fusion import FUSIONS, ConcatFusion, FusionOutput, WeightedFusion
from .graph import GRAPHS, ContextGraph, GraphEdges, WindowGraph, build_graph
from .learned_graph import EdgeScorerGraph, PolicyGraph, WeightedRGCNConv, WindowSelectorGraph

__all__ = [
    "CONTEXTS",
    "AgentFusion",
    "FUSIONS",
    "GRAPHS",
    "BiLSTMContext",
    "COGMENContext",
    "Classifier",
    "ConcatFusion",
    "ContextGraph",
    "EdgeScorerGraph",
    "ERCModel",
    "FusionOutput",
    "GraphEdges",
    "LateFusionModel",
    "ModelOutput",
    "NoContext",
    "PolicyGraph",
    "WeightedFusion",
    "WeightedRGCNConv",
    "WindowGraph",
    "WindowSelectorGraph",
    "build_graph",
    "build_model",
]

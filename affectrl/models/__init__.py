"""Models: fusion (per utterance) -> context model (per dialogue) -> classifier."""

from .agent_fusion import AgentFusion
from .context import CONTEXTS, BiLSTMContext, COGMENContext, NoContext
from .erc import Classifier, ERCModel, LateFusionModel, ModelOutput, build_model
from .fusion import FUSIONS, ConcatFusion, FusionOutput, WeightedFusion
from .graph import GRAPHS, ContextGraph, GraphEdges, WindowGraph, build_graph

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
    "ERCModel",
    "FusionOutput",
    "GraphEdges",
    "LateFusionModel",
    "ModelOutput",
    "NoContext",
    "WeightedFusion",
    "WindowGraph",
    "build_graph",
    "build_model",
]

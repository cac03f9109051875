"""Models: fusion (per utterance) -> context model (per dialogue) -> classifier.

The supervised building blocks; the RL decision-makers that plug into them (the fusion agent, the
learned context graphs) live in `affectrl.agents`.
"""

from .context import CONTEXTS, BiLSTMContext, COGMENContext, NoContext
from .erc import Classifier, ERCModel, LateFusionModel, ModelOutput, build_model
from .fusion import FUSIONS, ConcatFusion, FusionOutput, WeightedFusion
from .graph import GRAPHS, ContextGraph, GraphEdges, WindowGraph, build_graph
from .layers import GroupedRGCNConv, WeightedRGCNConv
from .ode import GraphODEContext

__all__ = [
    "CONTEXTS",
    "FUSIONS",
    "GRAPHS",
    "BiLSTMContext",
    "COGMENContext",
    "Classifier",
    "ConcatFusion",
    "ContextGraph",
    "ERCModel",
    "FusionOutput",
    "GraphODEContext",
    "GraphEdges",
    "GroupedRGCNConv",
    "LateFusionModel",
    "ModelOutput",
    "NoContext",
    "WeightedFusion",
    "WeightedRGCNConv",
    "WindowGraph",
    "build_graph",
    "build_model",
]

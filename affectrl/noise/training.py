"""Training under a noise curriculum: corrupt each training batch as the curriculum says."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..data.batch import DialogueBatch
from .feature import FeatureStats, build_feature_corruption
from .protocols import Curriculum, get_protocol
from .spec import derive_seed

BatchCorruptor = Callable[[DialogueBatch, float, int], DialogueBatch]


def curriculum_corruptor(name: str, stats: FeatureStats, seed: int) -> BatchCorruptor:
    """corrupt(batch, progress, step) for the named curriculum.

    progress: share of training done, in [0, 1] (drives the curriculum's severity ramp);
    step: a counter unique to the batch within the run (e.g. epoch * 10_000 + index), so the
    corruption is deterministic for a given seed and reproduced exactly after a resume.
    """
    protocol = get_protocol(name)
    if not isinstance(protocol, Curriculum):
        raise ValueError(
            f"noise protocol {name!r} is an evaluation grid, not a training curriculum"
        )

    def corrupt(batch: DialogueBatch, progress: float, step: int) -> DialogueBatch:
        rng = np.random.default_rng(derive_seed(seed, name, step))
        specs = protocol.sample(progress, rng)
        return build_feature_corruption(specs, stats)(batch, derive_seed(seed, step, "apply"))

    return corrupt

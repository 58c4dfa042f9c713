"""Random selection: the baseline that MaxVol has to beat in benchmarks."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms

from ...domain_models.config import RandomSelectorConfig
from ..base import PotentialFiles


class RandomSelector:
    """`Selector` drawing `n` distinct candidates uniformly, reproducibly from `seed`."""

    def __init__(self, cfg: RandomSelectorConfig):
        self.cfg = cfg

    def select(self, candidates: Sequence[Atoms], potential: PotentialFiles, n: int, seed: int) -> list[int]:
        k = max(0, min(n, len(candidates)))
        rng = np.random.default_rng(seed)
        return [int(i) for i in rng.choice(len(candidates), size=k, replace=False)]

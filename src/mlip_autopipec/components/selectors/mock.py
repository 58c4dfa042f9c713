"""Deterministic selection for mock runs: evenly spaced candidates."""

from __future__ import annotations

import numpy as np


class MockSelector:
    def __init__(self, cfg):
        self.cfg = cfg

    def select(self, candidates, potential, n: int, seed: int) -> list[int]:
        if not candidates:
            return []
        n = min(n, len(candidates))
        return sorted({int(i) for i in np.linspace(0, len(candidates) - 1, n).round()})

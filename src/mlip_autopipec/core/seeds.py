"""Reproducible, independent random streams for every step from one master seed.

A step's seed depends only on the master seed and the step's identity (stage, condition, ...),
never on execution order, so a rerun after a crash draws the same numbers.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(master: int, *keys: object) -> int:
    text = "|".join([str(master), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") % (2**63)


def rng_for(master: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(master, *keys))

"""Reproducible, independent random streams for every step from one master seed.

A step's seed depends only on the master seed and the step's identity (stage, condition, ...),
never on execution order, so a rerun after a crash draws the same numbers.

`derive_seed` gives up to 63 bits (numpy's Generator takes any size). Libraries with a legacy
32-bit seed (pacemaker, `np.random.seed`, `Atoms.rattle`) get `library_seed(seed)`: the same
derived value reduced into their range, so it stays a pure function of the step's identity.
"""

from __future__ import annotations

import hashlib

import numpy as np

LEGACY_SEED_BOUND = 2**32  # np.random.seed / RandomState: 0 <= seed < 2**32


def derive_seed(master: int, *keys: object) -> int:
    text = "|".join([str(master), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") % (2**63)


def library_seed(seed: int, bound: int = LEGACY_SEED_BOUND) -> int:
    """`seed` reduced into [0, bound) for libraries that reject larger seeds."""
    return int(seed) % int(bound)


def rng_for(master: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(master, *keys))

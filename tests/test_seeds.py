"""Seeds: one master seed, a reproducible stream per step, and legacy 32-bit seeds that libraries accept."""

import numpy as np
import pytest

from mlip_autopipec.core.seeds import LEGACY_SEED_BOUND, derive_seed, library_seed, rng_for


def test_derived_seed_depends_on_master_and_keys_only():
    assert derive_seed(42, "train", "iter_003") == derive_seed(42, "train", "iter_003")
    assert derive_seed(42, "train", "iter_003") != derive_seed(43, "train", "iter_003")
    assert derive_seed(42, "train", "iter_003") != derive_seed(42, "train", "iter_004")
    assert rng_for(7, "swarm", 1, 0).random() == rng_for(7, "swarm", 1, 0).random()


def test_library_seed_is_accepted_by_legacy_numpy_seeding():
    """The issue: derive_seed gives up to 2**63 and np.random.seed (pacemaker) rejects >= 2**32."""
    seeds = [derive_seed(42, "train", stage) for stage in ["initial", *(f"iter_{i:03d}" for i in range(50))]]
    big = [s for s in seeds if s >= LEGACY_SEED_BOUND]
    assert big  # 63-bit values: almost every derived seed is too large as it is
    with pytest.raises(ValueError):
        np.random.seed(big[0])
    reduced = [library_seed(s) for s in seeds]
    for s in reduced:
        assert 0 <= s < 2**32
        np.random.seed(s)
    assert len(set(reduced)) == len(seeds)  # steps keep distinct streams
    assert reduced == [library_seed(s) for s in seeds]  # and reruns draw the same ones


def test_library_seed_bound():
    assert library_seed(2**32 + 5) == 5
    assert library_seed(2**40 + 7, bound=2**31) == 7

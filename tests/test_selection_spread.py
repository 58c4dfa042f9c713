"""`selection.spread`: MaxVol's picks taken one exploration condition in turn (pure ranking functions)."""

from collections import Counter

import numpy as np
from ase import Atoms

from mlip_autopipec.components.selectors.maxvol import condition_sources, in_turn, rank_candidates


def test_in_turn_takes_one_of_each_source_per_round_in_each_sources_own_order():
    sources = ["liquid", "liquid", "slab", "liquid", "cluster", "slab"]
    order = [0, 1, 3, 2, 5, 4]  # the liquid's three first, as MaxVol ranked them
    assert in_turn(order, sources) == [0, 2, 4, 1, 5, 3]
    assert in_turn([], sources) == []


def test_rank_candidates_spreads_the_entering_structures_and_leaves_the_rest_by_gamma():
    # structures 0-3 come from one halt (many atoms enter), 4 and 5 from two others; 6, 7 enter nowhere
    counts = Counter({0: 40, 1: 35, 2: 30, 3: 25, 4: 5, 5: 3})
    gmax = np.array([9.0, 8.0, 7.0, 6.0, 3.0, 2.0, 5.0, 0.5])
    sources = ["liquid"] * 4 + ["slab", "cluster", "slab", "liquid"]
    assert rank_candidates(counts, gmax, 4) == [0, 1, 2, 3]  # without spread: one halt fills the batch
    assert rank_candidates(counts, gmax, 4, sources) == [0, 4, 5, 1]
    # every entering structure before any that enters nowhere, which follow by gamma
    assert rank_candidates(counts, gmax, 8, sources) == [0, 4, 5, 1, 2, 3, 6, 7]


def test_condition_sources_fall_back_to_one_source_per_untagged_candidate():
    tagged, untagged = Atoms("Cu"), Atoms("Cu")
    tagged.info["condition"] = "fcc_t407"
    assert condition_sources([tagged, untagged, untagged]) == ["fcc_t407", ("own", 1), ("own", 2)]

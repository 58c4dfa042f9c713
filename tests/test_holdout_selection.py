"""holdout.pick_largest_within_se: which rung the held-out share's noise lets a larger basis win."""

from __future__ import annotations

import numpy as np

from mlip_autopipec.components.trainers.holdout import pick, pick_largest_within_se
from mlip_autopipec.scoring.fit_weights import WeightedErrors

N = 12  # held-out structures, about the default run's share


def errors(force_rms_per_structure) -> WeightedErrors:
    """Structures of 32 atoms (96 trusted force components each) with exact energies."""
    f = np.asarray(force_rms_per_structure, dtype=float)
    n = np.full(len(f), 96.0)
    return WeightedErrors(energy_error=np.zeros(len(f)), energy_weight=np.full(len(f), 32.0),
                          force_sse=f ** 2 * n, force_weight=n)


def test_a_bootstrap_sample_repeats_structures():
    e = WeightedErrors(energy_error=np.zeros(2), energy_weight=np.ones(2), force_sse=np.array([4.0, 0.0]),
                       force_weight=np.array([3.0, 1.0]))
    assert e.score() == 1.0  # sqrt(4 / 4)
    assert e.score(np.array([0, 0])) == np.sqrt(8 / 6)


def test_a_larger_rung_within_the_noise_wins_and_a_clearly_worse_one_does_not():
    small_rms = np.linspace(1.0e-3, 2.0e-3, N)
    swing = np.where(np.arange(N) % 2 == 0, 0.4e-3, -0.4e-3)  # better on half the structures, worse on the rest
    small = errors(small_rms)
    noisy_larger = errors(small_rms + swing + 0.03e-3)
    sizes = [300, 600]
    idx = np.arange(N)
    assert noisy_larger.score(idx) > small.score(idx)  # the lowest score is the small rung's ...
    assert pick([small.score(idx), noisy_larger.score(idx)], sizes) == 0
    chosen, detail = pick_largest_within_se([small, noisy_larger], sizes, n_se=1.0)
    assert chosen == 1  # ... but by less than its standard error
    assert 0 < detail[1]["excess"] <= detail[1]["standard_error"]

    clearly_worse = errors(np.sqrt(small.force_sse / 96) * 1.3)  # 30 % worse on every structure
    chosen, detail = pick_largest_within_se([small, clearly_worse], sizes, n_se=1.0)
    assert chosen == 0
    assert detail[1]["excess"] > detail[1]["standard_error"]


def test_unscored_rungs_are_skipped_and_nothing_scored_is_none():
    small = errors(np.full(N, 1e-3))
    assert pick_largest_within_se([small, None], [300, 600], 1.0)[0] == 0
    assert pick_largest_within_se([None, None], [300, 600], 1.0) == (None, {})


def test_the_choice_is_reproducible():
    rng = np.random.default_rng(5)
    rungs = [errors(1e-3 + 0.3e-3 * rng.random(N)) for _ in range(4)]
    first = pick_largest_within_se(rungs, [100, 200, 300, 450], 0.5)
    assert pick_largest_within_se(rungs, [100, 200, 300, 450], 0.5) == first

"""steps/cutout_stage.py: which structures become cut-outs and what they carry (mock config, EMT-free:
no calculator needed for the initial data)."""

import numpy as np
import yaml
from ase.build import bulk

from conftest import CONFIGS
from mlip_autopipec.sampling.cutouts import ENERGY_WEIGHT, FORCE_WEIGHT
from mlip_autopipec.domain_models.config import config_from_dict
from mlip_autopipec.steps.cutout_stage import cutouts_from_gamma, cutouts_without_gamma, is_large, swarm_of_cutouts


def _cfg(tmp_path, max_atoms):
    raw = yaml.safe_load((CONFIGS / "mock.yaml").read_text())
    raw.setdefault("labeling", {})["max_atoms"] = max_atoms
    return config_from_dict(raw, tmp_path / "c.yaml").cfg


def _large_cell():
    atoms = bulk("Cu", "fcc", a=3.59, cubic=True) * (5, 5, 5)  # 500 atoms
    del atoms[[0]]
    atoms.positions += np.random.default_rng(0).normal(0, 0.03, atoms.positions.shape)
    return atoms


def test_small_frames_pass_unchanged_and_large_ones_become_bounded_cutouts(tmp_path):
    cfg = _cfg(tmp_path, 64)
    small, large = bulk("Cu", cubic=True), _large_cell()
    assert not is_large(cfg, small) and is_large(cfg, large)
    out = cutouts_without_gamma(cfg, [small, large], np.random.default_rng(1))
    assert out[0] is small
    cuts = out[1:]
    assert cuts and all(len(c) <= 64 for c in cuts)
    for c in cuts:
        assert c.info[ENERGY_WEIGHT] == 0
        assert 0 < c.arrays[FORCE_WEIGHT].sum() < len(c)
    again = cutouts_without_gamma(cfg, [small, large], np.random.default_rng(1))[1:]
    assert [c.info["cutout_centre"] for c in again] == [c.info["cutout_centre"] for c in cuts]


def test_no_limit_means_nothing_is_large(tmp_path):
    cfg = _cfg(tmp_path, None)
    assert not is_large(cfg, _large_cell())


def test_cutouts_from_gamma_centre_on_the_extrapolative_atoms(tmp_path):
    cfg = _cfg(tmp_path, 64)
    frame = _large_cell()
    gamma = np.full(len(frame), 0.5)
    gamma[123] = 9.0  # the only atom above gamma_select
    cuts = cutouts_from_gamma(cfg, frame, gamma, None, "test frame")
    assert [c.info["cutout_centre_gamma"] for c in cuts] == [9.0]
    assert len(cuts[0]) <= 64


def test_swarm_of_cutouts_with_the_default_per_pair_minimum_distances(tmp_path):
    """The default candidates.min_distance is null (per element pair from covalent radii): the cut-out
    swarm (rattle, MD burst, normal modes) works with it."""
    from ase.calculators.emt import EMT

    cfg = _cfg(tmp_path, 64)
    cfg.candidates = type(cfg.candidates)(n_candidates=6, burst_steps=10)  # the default mix: all three kinds
    assert cfg.candidates.min_distance is None
    frame = _large_cell()
    gamma = np.full(len(frame), 0.5)
    gamma[123] = 9.0
    cuts = cutouts_from_gamma(cfg, frame, gamma, None, "test frame")
    swarm = swarm_of_cutouts(cfg, cuts, EMT(), np.random.default_rng(0))
    assert len(swarm) == cfg.candidates.n_candidates
    assert {c.info["generator"] for c in swarm} == {"rattle", "md_burst", "normal_modes"}

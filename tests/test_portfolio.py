"""The portfolio (issue 29): its expansion into structures and conditions, and every structure it builds.

Expected values come from geometry and the published melting point, not from the code: fcc Cu
nearest neighbours at a/sqrt(2), its octahedral hole at a/2, Mackay icosahedra of 13/55/147 atoms,
Cu melting at 1357.8 K (CRC).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlip_autopipec.core.errors import ConfigError
from mlip_autopipec.domain_models.config import OTFConfig, config_from_dict
from mlip_autopipec.sampling import portfolio as P

A_CU = 3.61  # ASE's reference lattice constant of Cu
CUTOFF = 5.0  # the default ACE cutoff


def portfolio_config(**portfolio) -> OTFConfig:
    return OTFConfig.model_validate({"portfolio": {"enabled": True, "element": "Cu", **portfolio}})


def min_distance(atoms) -> float:
    d = atoms.get_all_distances(mic=atoms.pbc.any())
    return float(d[np.triu_indices(len(atoms), 1)].min())


def widths(atoms) -> np.ndarray:
    """Independent of P.periodic_widths: 1 / |reciprocal vector|."""
    return 1.0 / np.linalg.norm(np.linalg.inv(np.asarray(atoms.cell)).T, axis=1)


@pytest.fixture(scope="module")
def built():
    cfg = portfolio_config()
    return cfg, {s.name: P.build(s) for s in cfg.structures}


def test_every_kind_is_built(built):
    cfg, atoms = built
    assert set(atoms) == {"fcc", "liquid", "bcc", "hcp", "vacancy", "divacancy", "interstitial", "surface_111", "surface_100",
                          "surface_110", "nanoparticle", "strained_p5", "strained_m5"}
    kinds = {c.kind for c in cfg.exploration.conditions}
    assert kinds == set(atoms)


@pytest.mark.parametrize("name", ["fcc", "liquid", "bcc", "hcp", "vacancy", "divacancy", "interstitial", "strained_p5",
                                  "strained_m5"])
def test_bulk_kinds_are_periodic_and_wider_than_twice_the_cutoff(built, name):
    atoms = built[1][name]
    assert atoms.pbc.all()
    assert widths(atoms).min() >= 2 * CUTOFF * (0.95 if name.startswith("strained") else 1.0) - 1e-9
    assert min_distance(atoms) > 0.65 * A_CU / np.sqrt(2)


@pytest.mark.parametrize("facet", ["111", "100", "110"])
def test_slabs_are_periodic_in_plane_with_vacuum_along_z(built, facet):
    atoms = built[1][f"surface_{facet}"]
    assert list(atoms.pbc) == [True, True, False]
    z = atoms.positions[:, 2]
    gap = atoms.cell[2, 2] - (z.max() - z.min())
    assert gap == pytest.approx(2 * 6.0, abs=1e-6)  # vacuum 6 Å on each side
    assert gap > CUTOFF + 2.0  # preflight's rule: cutoff + vacuum_margin
    assert widths(atoms)[:2].min() >= 2 * CUTOFF - 1e-9
    nn = A_CU / np.sqrt(2)
    assert min_distance(atoms) >= 0.95 * nn - 1e-6  # the adatom sits no closer than 0.95 NN
    top = np.sort(z)[-1]
    assert top - np.sort(z)[-2] > 0.5  # one atom (the adatom) above the top layer


def test_nanoparticle_is_a_free_55_atom_cluster(built):
    atoms = built[1]["nanoparticle"]
    assert len(atoms) == 55
    assert not atoms.pbc.any()
    assert min_distance(atoms) == pytest.approx(A_CU / np.sqrt(2), rel=0.06)  # icosahedron: ~5 % strained shells


def test_defects(built):
    atoms = built[1]
    n = len(atoms["fcc"])
    assert (len(atoms["vacancy"]), len(atoms["divacancy"]), len(atoms["interstitial"])) == (n - 1, n - 2, n + 1)
    # the two empty sites of the divacancy are nearest neighbours
    host = atoms["fcc"]
    kept = atoms["divacancy"].positions
    missing = [p for p in host.positions if np.min(np.linalg.norm(kept - p, axis=1)) > 0.1]
    assert len(missing) == 2
    assert np.linalg.norm(missing[0] - missing[1]) == pytest.approx(A_CU / np.sqrt(2), abs=1e-6)
    # the interstitial sits in the octahedral hole of fcc: a/2 from its six neighbours
    d = atoms["interstitial"].get_distances(len(host), range(len(host)), mic=True)
    assert np.sort(d)[:6] == pytest.approx([A_CU / 2] * 6, abs=1e-6)


def test_liquid_is_a_reproducible_random_packing(built):
    cfg, atoms = built
    liquid, crystal = atoms["liquid"], atoms["fcc"]
    assert len(liquid) == len(crystal)
    assert liquid.get_volume() == pytest.approx(1.05 * crystal.get_volume())
    assert min_distance(liquid) >= 0.75 * A_CU / np.sqrt(2) - 1e-9
    # not the lattice: most atoms are far from every crystal site (scaled to the liquid's cell)
    sites = crystal.positions * 1.05 ** (1 / 3)
    from ase.geometry import get_distances

    d = get_distances(liquid.positions, sites, cell=liquid.cell, pbc=True)[1].min(axis=1)
    assert np.mean(d > 0.3) > 0.8
    spec = [s for s in cfg.structures if s.name == "liquid"][0]
    assert np.array_equal(P.build(spec).positions, liquid.positions)


def test_polymorphs_keep_the_volume_per_atom(built):
    atoms = built[1]
    v = {k: atoms[k].get_volume() / len(atoms[k]) for k in ("fcc", "bcc", "hcp")}
    assert v["bcc"] == pytest.approx(A_CU**3 / 4, rel=1e-3)
    assert v["hcp"] == pytest.approx(A_CU**3 / 4, rel=1e-3)


def test_temperatures_from_the_melting_point(built):
    cfg, _ = built
    t = {c.name: (c.temperature, c.pressure) for c in cfg.exploration.conditions}
    tm = 1357.8  # Cu, CRC
    assert t[f"fcc_t{round(0.3 * tm)}"] == (round(0.3 * tm), None)
    assert t[f"fcc_npt{round(0.85 * tm)}"] == (round(0.85 * tm), 0.0)
    liquid = [c for c in cfg.exploration.conditions if c.kind == "liquid"]
    assert len(liquid) == 1 and liquid[0].temperature > tm
    assert cfg.structures[liquid[0].structure].part == "liquid"
    assert portfolio_config(melting_point=1000).exploration.conditions[0].temperature == 300


def test_parts_switch_off_and_user_entries_come_first():
    cfg = OTFConfig.model_validate({
        "structures": [{"kind": "bulk", "element": "Cu"}],
        "exploration": {"conditions": [{"name": "mine", "temperature": 500}]},
        "portfolio": {"enabled": True, "polymorphs": {"enabled": False}, "defects": {"vacancy": False,
                      "divacancy": False, "interstitial": False}, "surfaces": {"facets": ["111"]},
                      "nanoparticle": {"enabled": False}, "strained": {"strains": []}, "liquid": {"enabled": False}}})
    assert [s.kind for s in cfg.structures] == ["bulk", "portfolio", "portfolio"]
    assert [(c.name, c.structure, c.kind) for c in cfg.exploration.conditions] == [
        ("mine", 0, None), ("fcc_t407", 1, "fcc"), ("fcc_npt1154", 1, "fcc"), ("surface_111_t679", 2, "surface_111")]


def test_expansion_is_idempotent_and_sets_unset_defaults():
    cfg = portfolio_config()
    again = OTFConfig.model_validate(cfg.model_dump(mode="json"))
    assert again.model_dump() == cfg.model_dump()
    assert cfg.convergence.spot_checks == len(cfg.exploration.conditions) == 14
    assert cfg.properties.enabled and cfg.initial_data.n_rattled == 1 and cfg.initial_data.strains == []
    own = OTFConfig.model_validate({"portfolio": {"enabled": True}, "convergence": {"spot_checks": 3}})
    assert own.convergence.spot_checks == 3
    assert cfg.selection.spread is True and OTFConfig().selection.spread is False
    mine = OTFConfig.model_validate({"portfolio": {"enabled": True}, "selection": {"kind": "maxvol", "spread": False}})
    assert mine.selection.spread is False


def test_off_by_default_changes_nothing():
    off = OTFConfig.model_validate({"portfolio": {"element": "Al"}}).model_dump()
    assert {k: v for k, v in off.items() if k != "portfolio"} == {
        k: v for k, v in OTFConfig().model_dump().items() if k != "portfolio"}
    assert [c.name for c in OTFConfig().exploration.conditions] == ["t600", "t1200", "npt1000"]


@pytest.mark.parametrize("portfolio, field", [({"element": "Si"}, "portfolio.element"),
                                              ({"element": "Sc"}, "portfolio.melting_point")])
def test_unsupported_elements_are_one_line_errors(tmp_path: Path, portfolio, field):
    with pytest.raises(ConfigError, match=field):
        config_from_dict({"portfolio": {"enabled": True, **portfolio}}, tmp_path / "config.yaml")


def test_other_metals_and_lattices():
    for element, crystal in (("Al", "fcc"), ("Fe", "bcc"), ("Mg", "hcp")):
        cfg = portfolio_config(element=element)
        assert cfg.structures[0].crystal == crystal
        for spec in cfg.structures:
            atoms = P.build(spec)
            assert atoms.get_chemical_symbols()[0] == element
            if spec.part != "nanoparticle":
                periodic = np.flatnonzero(atoms.pbc)
                assert widths(atoms)[periodic].min() >= 2 * CUTOFF * 0.95 - 1e-9
            assert min_distance(atoms) > 0.6 * P.nearest_neighbour_distance(spec)

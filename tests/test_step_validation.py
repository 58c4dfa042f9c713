"""steps/validation.py called directly (no Snakemake): a user's labelled file, or frames the
oracle itself labels along its own MD."""

from __future__ import annotations

import pytest
from ase.build import bulk
from conftest import mock_config

from mlip_autopipec.components.oracles.mock import MockOracle
from mlip_autopipec.core.errors import UserError
from mlip_autopipec.core.io import read_structures, write_structures
from mlip_autopipec.domain_models.config import MockOracleConfig
from mlip_autopipec.steps.validation import run_validation_set


def test_generated_frames_are_labelled_by_the_oracle(tmp_path):
    rcfg = mock_config(tmp_path, validation={"n_generated": 2, "temperatures": [300.0]},
                       structures=[{"kind": "bulk", "element": "Cu", "crystal": "fcc", "a": 3.61}])
    assert run_validation_set(rcfg, str(tmp_path / "val.extxyz")) == 2
    frames = read_structures(tmp_path / "val.extxyz")
    oracle = MockOracle(MockOracleConfig())
    for f in frames:  # each label is the oracle's own result for that geometry
        fresh = oracle.label(f.copy())
        assert f.get_potential_energy() == pytest.approx(fresh.get_potential_energy(), abs=1e-6)
    assert frames[0].positions.tobytes() != frames[1].positions.tobytes()


def test_a_user_file_is_copied_when_labelled_and_refused_otherwise(tmp_path):
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    write_structures(tmp_path / "labelled.extxyz", [MockOracle(MockOracleConfig()).label(atoms)])
    write_structures(tmp_path / "bare.extxyz", [atoms])
    rcfg = mock_config(tmp_path, validation={"file": "labelled.extxyz"})
    assert run_validation_set(rcfg, str(tmp_path / "out.extxyz")) == 1
    bare = mock_config(tmp_path, validation={"file": "bare.extxyz"})
    with pytest.raises(UserError, match="bare.extxyz: validation frames need energies and forces"):
        run_validation_set(bare, str(tmp_path / "out2.extxyz"))
    assert not (tmp_path / "out2.extxyz").exists()


def test_portfolio_frames_per_kind_from_oracle_md(tmp_path, monkeypatch):
    """One held-out group per portfolio condition, tagged with its kind, labelled by the oracle (EMT), from
    the structures at the oracle's lattice constant (initial/lattice.json, which the initial job writes)."""
    from ase.calculators.emt import EMT

    from mlip_autopipec.domain_models.config import config_from_dict
    from mlip_autopipec.steps.initial import run_initial_structures

    monkeypatch.chdir(tmp_path)

    small = {"enabled": True, "element": "Cu", "thermal": {"enabled": False}, "liquid": {"enabled": False},
             "polymorphs": {"enabled": False}, "defects": {"vacancy": False, "divacancy": False,
             "interstitial": False}, "surfaces": {"facets": ["100"]}, "nanoparticle": {"shells": 2},
             "strained": {"strains": []}, "validation_frames": 2, "validation_warmup": 0, "validation_stride": 2}
    rcfg = config_from_dict({"oracle": {"kind": "emt"}, "portfolio": small, "initial_data": {"oracle_lattice": True}},
                            tmp_path / "config.yaml")
    run_initial_structures(rcfg, "initial/selected.xyz", "initial/lattice.json")
    assert run_validation_set(rcfg, str(tmp_path / "val.extxyz")) == 4
    frames = read_structures(tmp_path / "val.extxyz")
    assert [f.info["kind"] for f in frames] == ["surface_100"] * 2 + ["nanoparticle"] * 2
    assert [len(f) for f in frames[2:]] == [13, 13]
    for f in frames:
        fresh = f.copy()
        fresh.calc = EMT()
        assert f.get_forces() == pytest.approx(fresh.get_forces(), abs=1e-6)


def test_frames_per_run_gives_exactly_the_requested_frames():
    from mlip_autopipec.steps.validation import frames_per_run

    assert frames_per_run(24, 9) == [3, 3, 3, 3, 3, 3, 2, 2, 2]  # the default Cu run: 3 cells x 3 temperatures
    assert frames_per_run(24, 6) == [4] * 6
    assert frames_per_run(2, 3) == [1, 1, 1]  # at least one frame per MD run
    assert frames_per_run(5, 0) == []


def test_generated_frames_use_the_systems_step_and_stay_40_fs_apart(tmp_path, monkeypatch):
    """A CH4 file (H: 0.5 fs) gets oracle MD at 0.5 fs, a frame every 80 steps (40 fs, as 20 steps of
    2 fs for a metal), at each derived temperature (the exploration's)."""
    from pathlib import Path

    import mlip_autopipec.steps.validation as validation

    (tmp_path / "ch4.xyz").write_text((Path(__file__).resolve().parents[1] / "examples/ch4_molecule/ch4.xyz").read_text())
    calls = []
    real = validation.langevin_snapshots

    def spy(atoms, calc, temperature, n, rng, **kw):
        calls.append((temperature, n, kw["stride"], kw["timestep_fs"]))
        return real(atoms, calc, temperature, n, rng, **{**kw, "stride": 1})  # the frames themselves: cheap

    monkeypatch.setattr(validation, "langevin_snapshots", spy)
    rcfg = mock_config(tmp_path, structures=[{"kind": "file", "path": "ch4.xyz"}], validation={"n_generated": 4},
                       exploration={"conditions": [{"name": "a", "temperature": 300}, {"name": "b", "temperature": 600}]})
    assert rcfg.cfg.validation.temperatures == [300.0, 600.0]
    assert run_validation_set(rcfg, str(tmp_path / "val.extxyz")) == 4
    assert calls == [(300.0, 2, 80, 0.5), (600.0, 2, 80, 0.5)]

"""The universal-potential oracle family (components/oracles/universal.py) and its CHGNet backend.

The base class is tested with a toy backend that evaluates ASE's EMT structure by structure (no
PyTorch): batching by atoms, one bad structure failing alone, the label step's batched path and
its cache. The CHGNet tests need the `chgnet` package (tools/install_universal.sh)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units
from ase.build import bulk
from ase.calculators.calculator import CalculationFailed
from ase.calculators.emt import EMT
from conftest import mock_config, require_module

from mlip_autopipec.core.errors import OracleError
from mlip_autopipec.core.io import read_structures, write_structures
from mlip_autopipec.domain_models.oracle_config import ChgnetOracleConfig, UniversalOracleBase
from mlip_autopipec.steps.label import label_batched, run_label_chunk
from mlip_autopipec.steps.label_cache import LabelCache, attempt_settings, physics_settings

INSTALL = "bash tools/install_universal.sh .venv/bin/pip"


class ToyConfig(UniversalOracleBase):
    kind: str = "toy"


def toy_oracle(max_batch_atoms: int = 64):
    from mlip_autopipec.components.oracles.universal import UniversalOracle

    class Toy(UniversalOracle):
        name = "toy"
        calls: list[int] = []

        def package(self):
            return "ase"

        def load_model(self):
            return EMT

        def predict(self, frames, need_stress):
            self.calls.append(len(frames))
            out = []
            for atoms, want in zip(frames, need_stress):
                if atoms.info.get("poison"):  # the model failing on this structure
                    raise CalculationFailed("model blew up")
                if atoms.info.get("bug"):  # a bug in our own hook
                    raise KeyError("energy")
                work = atoms.copy()
                work.calc = self.model()
                out.append((work.get_potential_energy(), work.get_forces(), work.get_stress() if want else None))
            return out

    return Toy(ToyConfig(max_batch_atoms=max_batch_atoms))


def test_a_bug_in_our_hook_stops_the_job():
    """The failure rule (oracles/base.py) holds for batches: a KeyError raised in our own code is not
    recorded as a failed structure; it propagates with its traceback."""
    oracle = toy_oracle()
    frames = cu_cells(2)
    frames[0].info["bug"] = True
    with pytest.raises(KeyError, match="energy"):
        oracle.label_batch(frames)


def cu_cells(n: int, repeat=(1, 1, 1)):
    out = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
        atoms.rattle(0.05, seed=k)
        out.append(atoms)
    return out


def test_structures_are_grouped_in_order_up_to_max_batch_atoms():
    oracle = toy_oracle(max_batch_atoms=10)
    frames = [bulk("Cu", cubic=True).repeat((1, 1, n)) for n in (1, 1, 3, 1, 2)]  # 4, 4, 12, 4, 8 atoms
    assert oracle.batches(frames) == [[0, 1], [2], [3], [4]]


def test_a_batch_is_one_call_and_gives_the_calculators_own_results():
    oracle = toy_oracle()
    frames = cu_cells(3)
    out = oracle.label_batch(frames)
    assert oracle.calls == [3]
    for atoms, labelled in zip(frames, out):
        ref = atoms.copy()
        ref.calc = EMT()
        assert labelled.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-12)
        assert np.allclose(labelled.get_forces(), ref.get_forces(), atol=1e-12)
        assert np.allclose(labelled.get_stress(), ref.get_stress(), atol=1e-12)
        assert labelled.info["oracle"] == "toy"


def test_one_bad_structure_fails_alone():
    oracle = toy_oracle()
    frames = cu_cells(3)
    frames[1].info["poison"] = True
    out = oracle.label_batch(frames)
    assert isinstance(out[1], OracleError) and "model blew up" in str(out[1])
    assert [isinstance(x, OracleError) for x in out] == [False, True, False]
    assert oracle.calls == [3, 1, 1, 1]  # the batch, then each of its structures alone


def test_the_label_steps_batched_path_caches_per_structure(tmp_path):
    oracle = toy_oracle(max_batch_atoms=8)
    frames = cu_cells(3)  # 4 atoms each: batches of 2 and 1
    cfg = ToyConfig()
    cache = LabelCache(tmp_path / "cache")
    physics = [physics_settings(oracle, cfg, a) for a in frames]
    attempt = attempt_settings(cfg, 1)
    first = label_batched(oracle, frames, cache, physics, attempt)
    assert oracle.calls == [2, 1]
    assert [why for _, _, why in first] == ["new"] * 3
    again = label_batched(oracle, frames, cache, physics, attempt)
    assert oracle.calls == [2, 1] and [why for _, _, why in again] == [None] * 3
    assert [a.get_potential_energy() for a, _, _ in again] == [a.get_potential_energy() for a, _, _ in first]


def test_a_missing_package_is_a_one_line_error_naming_the_install_script():
    from mlip_autopipec.core.errors import UserError

    oracle = toy_oracle()
    oracle.package = lambda: "no_such_universal_package"
    with pytest.raises(UserError, match="no_such_universal_package is not installed; install it with "
                                        "tools/install_universal.sh"):
        oracle.check_setup()


def test_chgnet_config_names_its_models():
    assert ChgnetOracleConfig().model == "0.3.0"
    with pytest.raises(ValueError, match="model"):
        ChgnetOracleConfig(model="9.9.9")


# --- CHGNet itself -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chgnet_oracle():
    require_module("chgnet", INSTALL)
    from mlip_autopipec.components.registry import make_oracle

    return make_oracle(ChgnetOracleConfig(), cores=1)


def mgo_cells(n: int):
    out = []
    for k in range(n):
        atoms = bulk("MgO", "rocksalt", a=4.25, cubic=True)  # 8 atoms
        atoms.rattle(0.05, seed=k)
        out.append(atoms)
    return out


def test_chgnet_labels_a_batch_as_its_ase_calculator_does_and_records_model_and_version(chgnet_oracle):
    from importlib.metadata import version

    from chgnet.model.dynamics import CHGNetCalculator

    frames = mgo_cells(3)
    out = chgnet_oracle.label_batch(frames)
    calc = CHGNetCalculator(model=chgnet_oracle.model, use_device="cpu")
    for atoms, labelled in zip(frames, out):
        ref = atoms.copy()
        ref.calc = calc
        assert labelled.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-4)
        assert np.allclose(labelled.get_forces(), ref.get_forces(), atol=1e-4)
        assert np.allclose(labelled.get_stress(), ref.get_stress(), atol=1e-6)
        assert labelled.info["oracle_settings"] == (
            '{"kind":"chgnet","model":"0.3.0","version":"%s"}' % version("chgnet"))


def test_chgnet_stress_is_the_strain_derivative_of_its_total_energy(chgnet_oracle):
    """Independent of CHGNet's own conversion: sigma_xx = dE/d(eps_xx) / V (ASE sign, eV/Å³) by central
    differences of the labelled total energy, and F = -dE/dx for one coordinate."""
    atoms = mgo_cells(1)[0]
    h = 1e-3
    strained = []
    for sign in (1, -1):
        s = atoms.copy()
        s.set_cell(atoms.cell.array @ np.diag([1 + sign * h, 1, 1]), scale_atoms=True)
        strained.append(s)
    for sign in (1, -1):
        s = atoms.copy()
        s.positions[0, 1] += sign * h
        strained.append(s)
    out = chgnet_oracle.label_batch([atoms] + strained)
    e = [x.get_potential_energy() for x in out[1:]]
    sxx = (e[0] - e[1]) / (2 * h) / atoms.get_volume()
    fy = -(e[2] - e[3]) / (2 * h)
    assert out[0].get_stress()[0] == pytest.approx(sxx, abs=2e-4)  # 2e-4 eV/Å³ = 0.03 GPa
    assert out[0].get_forces()[0, 1] == pytest.approx(fy, abs=2e-2)
    assert abs(out[0].get_stress()[0]) / units.GPa < 100  # GPa-sized, not off by 160


def test_chgnet_cache_key_changes_with_the_model(chgnet_oracle, tmp_path):
    from mlip_autopipec.components.registry import make_oracle

    atoms = mgo_cells(1)[0]
    other = make_oracle(ChgnetOracleConfig(model="0.2.0"))
    keys = {cfg.model: LabelCache(tmp_path).paths(atoms, physics_settings(o, cfg, atoms))[1].name
            for o, cfg in ((chgnet_oracle, chgnet_oracle.cfg), (other, other.cfg))}
    assert keys["0.3.0"] != keys["0.2.0"]
    same_physics = ChgnetOracleConfig(max_batch_atoms=8, timeout_s=100)
    assert (physics_settings(make_oracle(same_physics), same_physics, atoms)
            == physics_settings(chgnet_oracle, chgnet_oracle.cfg, atoms))


def test_the_label_step_labels_a_chunk_with_chgnet_in_batches_and_with_a_timeout(tmp_path):
    require_module("chgnet", INSTALL)
    rcfg = mock_config(tmp_path, oracle={"kind": "chgnet", "timeout_s": 600, "max_batch_atoms": 16})
    write_structures(tmp_path / "selected.xyz", mgo_cells(3))
    record = run_label_chunk(rcfg, "iter_000", str(tmp_path / "selected.xyz"), 0, 3, str(tmp_path / "l.extxyz"),
                             str(tmp_path / "l.json"), str(tmp_path / "cache"))
    labelled = read_structures(tmp_path / "l.extxyz")
    assert (record.n_labelled, record.n_computed_now, record.failures) == (3, 3, [])
    assert [a.info["selected_index"] for a in labelled] == [0, 1, 2]
    assert all(a.info["oracle"] == "chgnet" and a.get_stress().shape == (6,) for a in labelled)

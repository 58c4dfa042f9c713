"""Real ACE components (pyace) against ASE's EMT as the oracle, on 32-atom fcc cells.

One well-trained Cu potential, one deliberately undertrained one and one CuNi potential are fitted
once per session (linear ACE, ~100 functions: a few seconds each).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin

from mlip_autopipec.core.metrics import rmse_metrics
from ase import units

from mlip_autopipec.components.base import PotentialFiles
from mlip_autopipec.components.dynamics.ase_md import (
    AseMD,
    ensure_triangular_cell,
    is_unphysical,
    thermalize_momenta,
)
from mlip_autopipec.components.selectors.maxvol import MaxVolSelector, structure_max_gamma
from mlip_autopipec.components.selectors.random_selector import RandomSelector
from mlip_autopipec.components.ace import common as ace_common
from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer
from mlip_autopipec.core.errors import TrainingError
from mlip_autopipec.domain_models.config import (
    AceBasisConfig,
    AseMDConfig,
    ExplorationCondition,
    ExplorationConfig,
    LinearAceTrainerConfig,
    MaxVolSelectorConfig,
    RandomSelectorConfig,
)

pytestmark = pytest.mark.slow

A_CU = 3.6


# --------------------------------------------------------------------------------------------
# EMT oracle helpers
# --------------------------------------------------------------------------------------------
def label(atoms: Atoms) -> Atoms:
    """Copy of `atoms` carrying EMT energy/forces/stress as SinglePointCalculator results."""
    work = atoms.copy()
    work.calc = EMT()
    e, f, s = work.get_potential_energy(), work.get_forces(), work.get_stress()
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=e, forces=f, stress=s)
    return out


def isolated_energy(symbol: str) -> float:
    atom = Atoms(symbol, cell=[12.0, 12.0, 12.0], pbc=True)
    atom.calc = EMT()
    return float(atom.get_potential_energy())


def cu_cell() -> Atoms:
    return bulk("Cu", "fcc", a=A_CU, cubic=True).repeat((2, 2, 2))


def cuni_cell(rng: np.random.Generator) -> Atoms:
    atoms = cu_cell()
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[rng.permutation(len(atoms))[: len(atoms) // 2]] = "Ni"
    atoms.set_chemical_symbols(symbols)
    return atoms


def distorted(atoms: Atoms, rng: np.random.Generator, strain: float, rattle: float) -> Atoms:
    """Isotropic strain in [-strain, strain] plus a Gaussian rattle of `rattle` Å."""
    out = atoms.copy()
    out.set_cell(out.cell * (1 + rng.uniform(-strain, strain)), scale_atoms=True)
    out.positions += rng.normal(0.0, rattle, out.positions.shape)
    return out


def emt_md_frames(atoms: Atoms, temperature: float, n_frames: int, seed: int, every: int = 15) -> list[Atoms]:
    """Snapshots of EMT Langevin MD: the configurations an ACE MD at that temperature visits."""
    work = atoms.copy()
    work.calc = EMT()
    rng = np.random.default_rng(seed)
    thermalize_momenta(work, temperature_K=temperature, rng=rng)
    dyn = Langevin(work, timestep=2 * units.fs, temperature_K=temperature, friction=0.02 / units.fs,
                   fixcm=False, rng=rng)
    frames = []
    for _ in range(n_frames):
        dyn.run(every)
        frames.append(label(work))
    return frames


def trainer(n_functions: int = 100) -> LinearAceTrainer:
    basis = AceBasisConfig(cutoff=5.0, number_of_functions_per_element=n_functions, max_order=3)
    return LinearAceTrainer(LinearAceTrainerConfig(basis=basis, ladder=None))  # a fixed basis here


# --------------------------------------------------------------------------------------------
# Session fixtures: trained potentials
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ref_energies() -> dict[str, float]:
    return {"Cu": isolated_energy("Cu"), "Ni": isolated_energy("Ni")}


@pytest.fixture(scope="session")
def cu_train(ref_energies) -> list[Atoms]:
    rng = np.random.default_rng(0)
    frames = [label(distorted(cu_cell(), rng, 0.03, rattle)) for rattle in np.linspace(0.02, 0.1, 16)]
    frames += emt_md_frames(cu_cell(), 300.0, 12, seed=1) + emt_md_frames(cu_cell(), 600.0, 12, seed=2)
    return frames


@pytest.fixture(scope="session")
def cu_fit(tmp_path_factory, cu_train, ref_energies):
    out = tmp_path_factory.mktemp("cu_pot")
    metrics = trainer().fit(cu_train, out, {"Cu": ref_energies["Cu"]}, previous=None, seed=0)
    return PotentialFiles.in_dir(out), metrics


@pytest.fixture(scope="session")
def cu_pot(cu_fit) -> PotentialFiles:
    return cu_fit[0]


@pytest.fixture(scope="session")
def cu_undertrained(tmp_path_factory, ref_energies) -> PotentialFiles:
    rng = np.random.default_rng(10)
    frames = [label(distorted(cu_cell(), rng, 0.005, 0.02)) for _ in range(3)]
    out = tmp_path_factory.mktemp("cu_under")
    trainer(60).fit(frames, out, {"Cu": ref_energies["Cu"]}, previous=None, seed=0)
    return PotentialFiles.in_dir(out)


@pytest.fixture(scope="session")
def cuni_fit(tmp_path_factory, ref_energies):
    rng = np.random.default_rng(20)
    frames = [label(distorted(cuni_cell(rng), rng, 0.03, 0.06)) for _ in range(14)]
    out = tmp_path_factory.mktemp("cuni_pot")
    metrics = trainer(60).fit(frames, out, ref_energies, previous=None, seed=0)
    return PotentialFiles.in_dir(out), metrics, frames


# --------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------
def test_fit_writes_three_files_and_fits_well(cu_fit, cu_train):
    pot, metrics = cu_fit
    for path in (pot.yaml, pot.yace, pot.asi):
        assert path.is_file() and path.stat().st_size > 0
    assert not list(pot.yaml.parent.glob(".*.tmp")), "temporary files left behind"
    for key in ("train_energy_rmse_per_atom", "train_force_rmse", "wall_time_s"):
        assert math.isfinite(metrics[key])
    assert metrics["n_structures"] == len(cu_train)
    assert 0 < metrics["n_functions"] <= 100
    assert metrics["train_force_rmse"] < 0.05
    assert metrics["train_energy_rmse_per_atom"] < 0.005


def test_yace_loads_and_predicts_total_energies(cu_pot, ref_energies):
    """The .yace (E0 from the reference energies) and the yaml calculator agree with EMT."""
    from pyace import PyACECalculator

    frame = label(distorted(cu_cell(), np.random.default_rng(5), 0.02, 0.05))
    e_ref = frame.get_potential_energy()
    yace_atoms, yaml_atoms = frame.copy(), frame.copy()
    yace_atoms.calc = PyACECalculator(str(cu_pot.yace))
    yaml_atoms.calc = ace_common.ace_calculator(cu_pot)
    assert yace_atoms.get_potential_energy() == pytest.approx(yaml_atoms.get_potential_energy(), abs=1e-6)
    assert abs(yaml_atoms.get_potential_energy() - e_ref) / len(frame) < 0.005
    # the binding energy alone would be off by the whole isolated-atom sum
    assert abs(ref_energies["Cu"]) * len(frame) > 1.0


def test_rmse_metrics_on_fresh_structures(cu_pot):
    rng = np.random.default_rng(6)
    fresh = [label(distorted(cu_cell(), rng, 0.02, 0.05)) for _ in range(5)]
    metrics = rmse_metrics(ace_common.ace_calculator(cu_pot), fresh)
    assert metrics["n_structures"] == 5
    assert metrics["energy_rmse_per_atom"] < 0.005
    assert metrics["force_rmse"] < 0.05


def test_nan_labels_raise_training_error(cu_train, ref_energies, tmp_path):
    bad = cu_train[0].copy()
    forces = cu_train[0].get_forces().copy()
    forces[3, 1] = np.nan
    bad.calc = SinglePointCalculator(bad, energy=cu_train[0].get_potential_energy(), forces=forces)
    with pytest.raises(TrainingError):
        trainer(60).fit(cu_train[:4] + [bad], tmp_path, {"Cu": ref_energies["Cu"]}, previous=None, seed=0)
    assert not (tmp_path / "potential.yaml").exists()


def test_frames_to_dataframe_columns(cu_train, ref_energies):
    df = ace_common.frames_to_dataframe(cu_train[:3], {"Cu": ref_energies["Cu"]})
    assert {"ase_atoms", "energy", "energy_corrected", "forces"} <= set(df.columns)
    expected = cu_train[0].get_potential_energy() - 32 * ref_energies["Cu"]
    assert df["energy_corrected"].iloc[0] == pytest.approx(expected)
    assert df["forces"].iloc[0].shape == (32, 3)
    with pytest.raises(ValueError, match="Ni"):
        ace_common.frames_to_dataframe([label(cuni_cell(np.random.default_rng(0)))], {"Cu": 0.0})


# --------------------------------------------------------------------------------------------
# Gamma
# --------------------------------------------------------------------------------------------
def test_gamma_low_in_domain_high_out_of_domain(cu_pot):
    calc = ace_common.ace_calculator(cu_pot, with_gamma=True)
    rng = np.random.default_rng(7)
    in_domain = [ace_common.max_gamma(calc, distorted(cu_cell(), rng, 0.02, 0.05)) for _ in range(5)]
    assert max(in_domain) < 2.0, in_domain

    rattled = distorted(cu_cell(), rng, 0.0, 0.25)
    compressed = cu_cell()
    compressed.set_cell(compressed.cell * 0.85, scale_atoms=True)
    assert ace_common.max_gamma(calc, rattled) > 5.0
    assert ace_common.max_gamma(calc, compressed) > 5.0
    # the calculator recomputes for a new configuration (no stale cached gamma)
    assert ace_common.max_gamma(calc, cu_cell()) < 2.0
    assert len(ace_common.per_atom_gamma(calc, rattled)) == 32


@pytest.mark.parametrize("closest", [None, 1.2])  # a thermal cell, and a pair inside the ZBL core
def test_recursive_evaluator_without_gamma_matches_the_b_basis(cu_pot, closest, monkeypatch):
    atoms = cu_cell()
    atoms.rattle(0.1, seed=4)
    if closest is not None:
        d = atoms.positions[1] - atoms.positions[0]
        atoms.positions[1] = atoms.positions[0] + d / np.linalg.norm(d) * closest
    fast = ace_common.ace_calculator(cu_pot)
    monkeypatch.setattr(ace_common.AceCalculator, "recursive_without_gamma", False)
    slow = ace_common.ace_calculator(cu_pot)
    assert fast._ace_plain is not slow._ace_plain and hasattr(fast, "_fast_evaluator")
    assert not hasattr(slow, "_fast_evaluator")
    results = []
    for calc in (fast, slow):
        a = atoms.copy()
        a.calc = calc
        results.append((a.get_potential_energy(), a.get_forces(), a.get_stress()))
    assert abs(results[0][0] - results[1][0]) < 1e-9
    assert np.abs(results[0][1] - results[1][1]).max() < 1e-9
    assert np.abs(results[0][2] - results[1][2]).max() < 1e-9
    if closest is not None:
        assert np.abs(results[0][1]).max() > 1.0  # the core repulsion is in both


def test_calculator_without_gamma_refuses_gamma(cu_pot):
    calc = ace_common.ace_calculator(cu_pot, with_gamma=False)
    with pytest.raises(ValueError, match="gamma"):
        ace_common.max_gamma(calc, cu_cell())


def test_asi_gamma_matches_calculator_gamma(cu_pot):
    """Gamma from projections x .asi (selector) equals pyace's C++ gamma (calculator)."""
    bbasis = ace_common.ACEBBasisSet(str(cu_pot.yaml))
    asi = ace_common.read_active_set_inverse(cu_pot.asi, bbasis)
    frames = [distorted(cu_cell(), np.random.default_rng(s), 0.05, 0.1) for s in range(3)]
    proj, struct_ind = ace_common.compute_B_projections(bbasis, frames, return_structure_ind_dict=True)
    from_asi = structure_max_gamma(proj, struct_ind, asi, len(frames))
    calc = ace_common.ace_calculator(cu_pot, with_gamma=True)
    from_calc = [ace_common.max_gamma(calc, a) for a in frames]
    np.testing.assert_allclose(from_asi, from_calc, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Dynamics
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "pot_fixture, temperature, interval",
    [
        ("cu_undertrained", 2000.0, 10),  # gamma explodes within one interval
        ("cu_pot", 1500.0, 5),  # gamma climbs over several checks before crossing 5
    ],
)
def test_md_halts_at_first_check_above_gamma_halt(request, pot_fixture, temperature, interval):
    pot = request.getfixturevalue(pot_fixture)
    md = AseMD(AseMDConfig(), ExplorationConfig(gamma_check_interval=interval, gamma_select=2.0, gamma_halt=5.0))
    calc = ace_common.ace_calculator(pot, with_gamma=True)
    cond = ExplorationCondition(name="hot", temperature=temperature)
    out = md.run(cu_cell(), calc, pot, cond, n_steps=500, seed=2)

    assert out.halted
    assert 0 < out.steps_run < 500 and out.steps_run % interval == 0
    assert out.budget == 500
    steps, gammas = zip(*out.gamma_trace)
    assert list(steps) == list(range(0, out.steps_run + 1, interval))
    assert gammas[-1] > 5.0 and all(g <= 5.0 for g in gammas[:-1])  # first check above halts
    last = out.frames[-1]
    assert last.info["step"] == out.steps_run and last.info["max_gamma"] > 5.0
    assert last.arrays["gamma"].shape == (32,) and last.arrays["gamma"].max() == pytest.approx(gammas[-1])
    assert last.calc is None
    assert all(f.info["max_gamma"] > 2.0 for f in out.frames)
    assert out.max_gamma == pytest.approx(max(gammas))


def test_md_runs_full_budget_on_trained_potential(cu_pot):
    md = AseMD(AseMDConfig(), ExplorationConfig(gamma_check_interval=10))
    calc = ace_common.ace_calculator(cu_pot, with_gamma=True)
    cond = ExplorationCondition(name="t300", temperature=300.0)
    out = md.run(cu_cell(), calc, cu_pot, cond, n_steps=100, seed=4)
    assert not out.halted
    assert out.steps_run == 100
    assert [s for s, _ in out.gamma_trace] == list(range(0, 101, 10))
    assert out.max_gamma < 5.0


def test_md_is_reproducible_with_seed(cu_pot):
    md = AseMD(AseMDConfig(), ExplorationConfig(gamma_check_interval=5))
    calc = ace_common.ace_calculator(cu_pot, with_gamma=True)
    cond = ExplorationCondition(name="t600", temperature=600.0)
    a = md.run(cu_cell(), calc, cu_pot, cond, n_steps=20, seed=11)
    b = md.run(cu_cell(), calc, cu_pot, cond, n_steps=20, seed=11)
    c = md.run(cu_cell(), calc, cu_pot, cond, n_steps=20, seed=12)
    assert a.gamma_trace == b.gamma_trace
    assert a.gamma_trace != c.gamma_trace


def _gamma_calls(calc) -> list[bool]:
    """Record, for every pyace evaluation of `calc`, whether it computed gamma."""
    calls: list[bool] = []
    plain = calc.calculate

    def calculate(*args, **kwargs):
        plain(*args, **kwargs)
        calls.append("gamma" in calc.results)

    calc.calculate = calculate
    return calls


def test_gamma_only_at_checks_halts_where_gamma_every_step_would(cu_pot):
    """Gamma computed with the check steps' forces only changes no force: the trajectory, the
    checked gammas and the halt (step and structure) are those of gamma at every step."""
    cond = ExplorationCondition(name="hot", temperature=1500.0)
    calc = ace_common.ace_calculator(cu_pot, with_gamma=True)
    calls = _gamma_calls(calc)
    every = AseMD(AseMDConfig(), ExplorationConfig(gamma_check_interval=1, gamma_select=1e-9, gamma_halt=1e7))
    ref = every.run(cu_cell(), calc, cu_pot, cond, n_steps=40, seed=3)
    assert len(calls) == 41 and all(calls)  # every step checked: gamma with every force call
    g_ref = dict(ref.gamma_trace)

    # a threshold first crossed at a check step of interval 5 (by the every-step gammas)
    checks = range(0, 41, 5)
    s = max(checks[1:], key=lambda k: g_ref[k])
    below = max(g_ref[k] for k in checks if k < s)
    assert g_ref[s] > below
    threshold = (below + g_ref[s]) / 2

    calls.clear()
    at_checks = AseMD(AseMDConfig(), ExplorationConfig(gamma_check_interval=5, gamma_select=1e-9,
                                                       gamma_halt=threshold))
    out = at_checks.run(cu_cell(), calc, cu_pot, cond, n_steps=40, seed=3)
    assert out.halted and out.steps_run == s
    assert [k for k, _ in out.gamma_trace] == [k for k in checks if k <= s]
    assert np.allclose([g for _, g in out.gamma_trace], [g_ref[k] for k in checks if k <= s], rtol=1e-9, atol=0)
    halt, same = out.frames[-1], ref.frames[s]
    assert halt.info["step"] == same.info["step"] == s
    # between checks the forces come from the recursive C-tilde evaluator: equal to ~1e-12 eV/Å
    assert np.allclose(halt.positions, same.positions, rtol=0, atol=1e-9)
    # the two evaluators' gammas differ in the last bits, by CPU: 1.2e-9 relative on the 2026-12-07 machine
    # (positions equal to 1e-9 Å), below 1e-9 on earlier ones
    rel = np.abs(halt.arrays["gamma"] - same.arrays["gamma"]) / np.abs(same.arrays["gamma"])
    assert rel.max() < 1e-7, f"gamma differs by {rel.max():.1e} relative"
    assert len(calls) == s + 1  # one pyace evaluation per step ...
    assert sum(calls) == s // 5 + 1  # ... with gamma only at the checks
    assert calc.gamma_with_forces  # handed back as it came


def test_unphysical_guard_reads_the_calculators_neighbours(cu_pot, monkeypatch):
    from mlip_autopipec.components.dynamics import common as dyn_common

    atoms = cu_cell()
    atoms.calc = ace_common.ace_calculator(cu_pot)
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]
    assert is_unphysical(atoms)  # nothing computed yet: ASE's neighbour list
    atoms.get_forces()

    def no_neighbour_list(*args, **kwargs):
        raise AssertionError("ASE's neighbour list used although the calculator's is current")

    monkeypatch.setattr(dyn_common, "neighbor_list", no_neighbour_list)
    assert is_unphysical(atoms)
    atoms.positions[1] = atoms.positions[0] + [1.8, 0.0, 0.0]
    atoms.get_forces()
    assert not is_unphysical(atoms)


def test_npt_changes_cell(cu_pot):
    # gamma_select tiny so every check is recorded; gamma_halt huge: this tests the barostat only
    exploration = ExplorationConfig(gamma_check_interval=30, gamma_select=1e-9, gamma_halt=1e7)
    md = AseMD(AseMDConfig(), exploration)
    calc = ace_common.ace_calculator(cu_pot, with_gamma=True)
    start = cu_cell()
    cond = ExplorationCondition(name="p5", temperature=300.0, pressure=5.0)
    out = md.run(start, calc, cu_pot, cond, n_steps=60, seed=5)
    assert not out.halted and out.steps_run == 60
    assert [f.info["step"] for f in out.frames] == [0, 30, 60]
    final = out.frames[-1]
    assert final.info["pressure"] == 5.0
    assert final.get_volume() < start.get_volume() * 0.995  # 5 GPa compresses Cu
    assert start.get_volume() == pytest.approx(cu_cell().get_volume())  # input untouched
    assert start.calc is None


def test_triangular_cell_is_a_rigid_rotation():
    atoms = bulk("Cu", "fcc", a=A_CU).repeat((2, 2, 2))  # primitive fcc cell: not triangular
    atoms.rattle(0.05, seed=3)
    before = atoms.get_all_distances(mic=True)
    ensure_triangular_cell(atoms)
    assert np.allclose(np.triu(atoms.cell.array, 1), 0)
    np.testing.assert_allclose(atoms.get_all_distances(mic=True), before, atol=1e-10)


def test_unphysical_guard():
    atoms = cu_cell()
    assert not is_unphysical(atoms)
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]
    assert is_unphysical(atoms)
    atoms = cu_cell()
    atoms.positions[2, 0] = np.nan
    assert is_unphysical(atoms, check_distances=False)


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------
def test_maxvol_prefers_out_of_domain_candidates(cu_pot, cu_train):
    rng = np.random.default_rng(8)
    near_duplicates = [distorted(cu_train[i], rng, 0.0, 0.005) for i in range(10)]
    strained = cu_cell()
    strained.set_cell(strained.cell * 1.08, scale_atoms=True)
    strained.rattle(0.02, seed=1)
    rattled = distorted(cu_cell(), rng, 0.0, 0.2)
    candidates = near_duplicates[:4] + [strained] + near_duplicates[4:8] + [rattled] + near_duplicates[8:]
    ood = {4, 9}

    picked = MaxVolSelector(MaxVolSelectorConfig()).select(candidates, cu_pot, 3, seed=0)
    assert len(picked) == len(set(picked)) <= 3
    assert set(picked[:2]) == ood

    all_picked = MaxVolSelector(MaxVolSelectorConfig()).select(candidates, cu_pot, 50, seed=0)
    assert sorted(all_picked) == list(range(len(candidates)))  # filled up by gamma, no duplicates
    assert MaxVolSelector(MaxVolSelectorConfig()).select([], cu_pot, 3, seed=0) == []


def test_random_selector_is_seeded_and_distinct():
    cands = [cu_cell() for _ in range(10)]
    sel = RandomSelector(RandomSelectorConfig())
    a = sel.select(cands, None, 4, seed=1)
    assert a == sel.select(cands, None, 4, seed=1)
    assert len(set(a)) == 4 and all(0 <= i < 10 for i in a)
    assert len(sel.select(cands, None, 20, seed=1)) == 10


# --------------------------------------------------------------------------------------------
# Multi-element
# --------------------------------------------------------------------------------------------
def test_binary_cuni_fit_gamma_and_selection(cuni_fit):
    pot, metrics, train = cuni_fit
    assert metrics["elements"] == ["Cu", "Ni"]
    assert metrics["train_force_rmse"] < 0.05
    with np.load(pot.asi) as asi:
        assert sorted(asi.files) == ["Cu", "Ni"]

    rng = np.random.default_rng(21)
    calc = ace_common.ace_calculator(pot, with_gamma=True)
    typical = distorted(cuni_cell(rng), rng, 0.02, 0.05)
    assert ace_common.max_gamma(calc, typical) < 5.0

    candidates = [distorted(train[i], rng, 0.0, 0.005) for i in range(6)]
    squeezed = cuni_cell(rng)
    squeezed.set_cell(squeezed.cell * 0.9, scale_atoms=True)
    candidates.insert(3, squeezed)
    pure_cu = distorted(cu_cell(), rng, 0.0, 0.05)  # a composition the potential never saw
    candidates.append(pure_cu)
    picked = MaxVolSelector(MaxVolSelectorConfig()).select(candidates, pot, 2, seed=0)
    assert len(picked) == len(set(picked)) <= 2
    assert picked[0] == 3


class _ExplodingEMT(EMT):
    """EMT that reports gamma 0.1 and returns NaN forces from its `explode_after`-th call on:
    drives AseMD's guard against a blown-up trajectory without needing a broken potential."""

    implemented_properties = list(EMT.implemented_properties) + ["gamma"]

    def __init__(self, explode_after: int):
        super().__init__()
        self.calls, self.explode_after = 0, explode_after

    def calculate(self, atoms=None, properties=("energy",), system_changes=None):
        super().calculate(atoms, ["energy", "forces", "stress"], system_changes or [])
        self.calls += 1
        self.results["gamma"] = np.full(len(self.atoms), 0.1)
        if self.calls > self.explode_after:
            self.results["forces"] = np.full((len(self.atoms), 3), np.nan)


def test_md_treats_exploding_run_as_halt(cu_pot):
    md = AseMD(AseMDConfig(), ExplorationConfig(gamma_check_interval=10))
    cond = ExplorationCondition(name="boom", temperature=300.0)
    out = md.run(cu_cell(), _ExplodingEMT(explode_after=25), cu_pot, cond, n_steps=100, seed=0)
    assert out.halted
    assert 20 < out.steps_run < 30  # noticed right after the step that produced NaN forces
    assert out.gamma_trace[-1] == (out.steps_run, math.inf)
    assert out.max_gamma == math.inf
    halt = out.frames[-1]  # the last sane checked snapshot, not the exploded structure
    assert halt.info["halt_reason"] == "unphysical" and halt.info["step"] == 20
    assert np.isfinite(halt.positions).all()

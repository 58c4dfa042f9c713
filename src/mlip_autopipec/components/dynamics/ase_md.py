"""Exploration by ASE molecular dynamics with the current ACE potential, watched by gamma.

NVT: Langevin (seeded). NPT (condition.pressure set): ASE's Melchionna NPT (Nose-Hoover +
Parrinello-Rahman) with the config's `ttime_fs` and `pfactor`; it is deterministic given the
initial velocities, which are seeded. Melchionna needs a triangular cell, so a general cell is
rotated to ASE's standard (lower-triangular) form first; the frames come out in that orientation.

Every `gamma_check_interval` steps (from step 0 on, and at the last step) the max per-atom gamma is
recorded in `gamma_trace`; frames above `gamma_select` are kept, and one above `gamma_halt` stops
the run at that check (it is the last frame).

An exploding trajectory is treated as a halt too, with max_gamma = inf at the step where it is
noticed: non-finite positions/forces are checked after every step (before pyace sees them);
non-finite gamma and two atoms closer than `MIN_DISTANCE` at every check; an exception from the
calculator counts when the configuration is unphysical by those rules (otherwise it propagates).
The halt frame appended then is the last *sane* checked snapshot (info['halt_reason'] =
'unphysical', info['unphysical_step']), since an exploded structure is useless to label; only if
the starting structure itself is unphysical are there no frames.

Constraints of the starting structure are dropped (Melchionna NPT does not support them); NVT
keeps the centre of mass fixed with `FixCom`, which the recorded frames do not carry.
"""

from __future__ import annotations

import logging
import math
from typing import Iterator

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.melchionna import MelchionnaNPT
from ase.md.velocitydistribution import Stationary

try:  # ASE >= 3.29 (MaxwellBoltzmannDistribution is deprecated there)
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta
from ase.neighborlist import neighbor_list

from ...domain_models.config import AseMDConfig, ExplorationCondition, ExplorationConfig
from ...report.progress import Progress
from ..base import ExplorationOutcome, PotentialFiles
from ..trainers.ace_common import ace_calculator, per_atom_gamma

log = logging.getLogger(__name__)

MIN_DISTANCE = 0.5  # Å; closer atoms mean the trajectory has blown up


def is_unphysical(atoms: Atoms, check_distances: bool = True) -> bool:
    """Non-finite positions or forces, or (optionally) two atoms closer than MIN_DISTANCE."""
    if not np.isfinite(atoms.positions).all():
        return True
    calc = atoms.calc
    forces = None if calc is None else calc.results.get("forces")
    if forces is not None and not np.isfinite(forces).all():
        return True
    if check_distances and len(neighbor_list("i", atoms, MIN_DISTANCE)) > 0:
        return True
    return False


def ensure_triangular_cell(atoms: Atoms) -> None:
    """Rotate `atoms` in place to ASE's lower-triangular standard cell (needed by Melchionna NPT);
    a no-op for cells that are already triangular (e.g. cubic or orthorhombic)."""
    cell = atoms.cell.array
    if np.allclose(np.triu(cell, 1), 0) or np.allclose(np.tril(cell, -1), 0):
        return
    rcell, _ = atoms.cell.standard_form()
    atoms.set_cell(rcell, scale_atoms=True)  # fractional coordinates kept = rigid rotation


class AseMD:
    """`Dynamics` backed by ASE (see module docstring)."""

    def __init__(self, cfg: AseMDConfig, exploration: ExplorationConfig):
        self.cfg = cfg
        self.exploration = exploration

    def run(
        self,
        atoms: Atoms,
        calculator: Calculator | None,
        potential: PotentialFiles,
        condition: ExplorationCondition,
        n_steps: int,
        seed: int,
    ) -> ExplorationOutcome:
        calc = calculator if calculator is not None else ace_calculator(potential, with_gamma=True)
        atoms = self._prepare(atoms, condition, seed)
        atoms.calc = calc
        dyn = self._integrator(atoms, condition, np.random.default_rng([seed, 1]))
        watch = GammaWatch(self.exploration, n_steps, condition)
        progress = Progress(n_steps, f"explore {condition.name}", unit="steps", logger=log)

        for step in self._steps(dyn, n_steps):
            if step is None:  # the calculator failed on an unphysical configuration
                watch.explode(dyn.nsteps + 1)
                break
            watch.steps_run = step
            progress.update_to(step)
            if is_unphysical(atoms, check_distances=False):
                watch.explode(step)
                break
            if watch.due(step):
                if is_unphysical(atoms):
                    watch.explode(step)
                    break
                gamma = per_atom_gamma(calc, atoms)
                if not np.isfinite(gamma).all():
                    watch.explode(step)
                    break
                if watch.check(step, atoms, gamma):
                    break
        outcome = watch.outcome()
        progress.close(note="halted" if outcome.halted else "ran through")
        log.info("%s: %s after %d/%d steps, max gamma %.3g, %d extrapolative frames", condition.name,
                 "halted" if outcome.halted else "completed", outcome.steps_run, n_steps,
                 outcome.max_gamma, len(outcome.frames))
        return outcome

    # -- internals -----------------------------------------------------------------------------
    def _prepare(self, atoms: Atoms, condition: ExplorationCondition, seed: int) -> Atoms:
        """A private copy with seeded Maxwell-Boltzmann velocities (zero total momentum)."""
        atoms = atoms.copy()
        atoms.calc = None
        atoms.set_constraint()
        if condition.pressure is not None:
            ensure_triangular_cell(atoms)
        rng = np.random.default_rng([seed, 0])
        thermalize_momenta(atoms, temperature_K=condition.temperature, rng=rng)
        Stationary(atoms)
        return atoms

    def _integrator(self, atoms: Atoms, condition: ExplorationCondition, rng: np.random.Generator):
        dt = self.cfg.timestep_fs * units.fs
        if condition.pressure is None:
            # ASE >= 3.28 deprecates Langevin(fixcm=True) (biased sampling); FixCom is its replacement
            atoms.set_constraint(FixCom())
            return Langevin(atoms, timestep=dt, temperature_K=condition.temperature,
                            friction=self.cfg.friction / units.fs, fixcm=False, rng=rng)
        return MelchionnaNPT(
            atoms,
            timestep=dt,
            temperature_K=condition.temperature,
            externalstress=condition.pressure * units.GPa,  # a scalar is a pressure (positive = compress)
            ttime=self.cfg.ttime_fs * units.fs,
            pfactor=self.cfg.pfactor * units.GPa * units.fs**2,
        )

    @staticmethod
    def _steps(dyn, n_steps: int) -> Iterator[int | None]:
        """Yield the step number after each MD step (0 = initial state). Yields None once and
        stops if the calculator raised on an unphysical configuration; other errors propagate."""
        runner = dyn.irun(n_steps)
        while True:
            try:
                next(runner)
            except StopIteration:
                return
            except (ValueError, RuntimeError):
                if is_unphysical(dyn.atoms):
                    yield None
                    return
                raise
            yield dyn.nsteps


N_SAMPLES = 8  # frames kept per run, evenly spread, as spot-check candidates


class GammaWatch:
    """Bookkeeping of one run: gamma trace, kept frames, halt decision."""

    def __init__(self, exploration: ExplorationConfig, n_steps: int, condition: ExplorationCondition):
        self.interval = exploration.gamma_check_interval
        self.gamma_select = exploration.gamma_select
        self.gamma_halt = exploration.gamma_halt
        self.n_steps = n_steps
        self.condition = condition
        self.trace: list[tuple[int, float]] = []
        self.frames: list[Atoms] = []
        self.halted = False
        self.steps_run = 0
        self.last_sane: Atoms | None = None
        self.samples: list[Atoms] = []
        self.next_sample = max(self.interval, n_steps // N_SAMPLES)

    def due(self, step: int) -> bool:
        return step % self.interval == 0 or step == self.n_steps

    def check(self, step: int, atoms: Atoms, gamma: np.ndarray) -> bool:
        """Record one check; True if the run must halt here."""
        g = float(np.max(gamma))
        self.trace.append((step, g))
        snapshot = self._snapshot(atoms, step, g, gamma)
        self.last_sane = snapshot
        if step > 0 and step >= self.next_sample:  # spread over the run, whatever the gamma
            self.samples.append(snapshot)
            self.next_sample = step + max(self.interval, self.n_steps // N_SAMPLES)
        if g > self.gamma_select:
            self.frames.append(snapshot)
        if g > self.gamma_halt:
            snapshot.info["halt_reason"] = "gamma"
            self.halted = True
        return self.halted

    def explode(self, step: int) -> None:
        """Halt because the trajectory became unphysical at `step`."""
        log.warning("%s: unphysical configuration at step %d (NaN or atoms closer than %.2f Å)",
                    self.condition.name, step, MIN_DISTANCE)
        self.steps_run = step
        self.trace.append((step, math.inf))
        self.halted = True
        if self.last_sane is None:  # the starting structure itself was unphysical
            return
        if not self.frames or self.frames[-1] is not self.last_sane:
            self.frames.append(self.last_sane)
        self.frames[-1].info.update({"halt_reason": "unphysical", "unphysical_step": step})

    def outcome(self) -> ExplorationOutcome:
        return ExplorationOutcome(
            halted=self.halted,
            steps_run=self.steps_run,
            budget=self.n_steps,
            max_gamma=max((g for _, g in self.trace), default=0.0),
            frames=self.frames,
            gamma_trace=self.trace,
            samples=self.samples,
        )

    def _snapshot(self, atoms: Atoms, step: int, g: float, gamma: np.ndarray) -> Atoms:
        frame = atoms.copy()  # no calculator: the oracle labels it later
        frame.set_constraint()  # the MD's FixCom is no property of the structure
        frame.info.update({"step": step, "max_gamma": g, "condition": self.condition.name,
                           "temperature": self.condition.temperature})
        if self.condition.pressure is not None:
            frame.info["pressure"] = self.condition.pressure
        frame.arrays["gamma"] = np.asarray(gamma, dtype=float).copy()
        return frame

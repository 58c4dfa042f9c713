"""Exploration by ASE molecular dynamics with the current ACE potential, watched by gamma.

NVT: Langevin (seeded). NPT (condition.pressure set): ASE's Melchionna NPT (Nose-Hoover +
Parrinello-Rahman) with the config's `ttime_fs` and `pfactor`; it is deterministic given the
initial velocities, which are seeded. Melchionna needs a triangular cell, so a general cell is
rotated to ASE's standard (lower-triangular) form first; the frames come out in that orientation.

Every `gamma_check_interval` steps (from step 0 on, and at the last step) the max per-atom gamma is
recorded in `gamma_trace` (computed with those steps' forces only: between checks the calculator
skips it, which changes no force); frames above `gamma_select` are kept, and one above `gamma_halt` stops
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
from typing import Iterator

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.melchionna import MelchionnaNPT

from ...domain_models.config import AseMDConfig, ExplorationCondition, ExplorationConfig
from ...core.progress import Progress
from ..base import ExplorationOutcome, PotentialFiles
from ...sampling.swaps import SwapStats, metropolis_swaps, swaps_enabled
from ..ace.common import per_atom_gamma
from .common import (  # noqa: F401  (GammaWatch, is_unphysical, thermalize_momenta: re-exported)
    MIN_DISTANCE,
    GammaWatch,
    calculator_for,
    gamma_on_next_call,
    is_unphysical,
    log_outcome,
    prepare_atoms,
    thermalize_momenta,
)

log = logging.getLogger(__name__)


def ensure_triangular_cell(atoms: Atoms) -> None:
    """Rotate `atoms` in place to ASE's lower-triangular standard cell (needed by Melchionna NPT);
    a no-op for cells that are already triangular (e.g. cubic or orthorhombic)."""
    cell = atoms.cell.array
    if np.allclose(np.triu(cell, 1), 0) or np.allclose(np.tril(cell, -1), 0):
        return
    rcell, _ = atoms.cell.standard_form()
    atoms.set_cell(rcell, scale_atoms=True)  # fractional coordinates kept = rigid rotation


class _Swapper:
    """Swap rounds every `interval` steps of one run (not at step 0 nor at the last step)."""

    def __init__(self, calc: Calculator, temperature: float, n_attempts: int, interval: int,
                 rng: np.random.Generator):
        self.calc, self.temperature, self.n_attempts, self.interval, self.rng = (
            calc, temperature, n_attempts, interval, rng)
        self.stats = SwapStats()

    def due(self, step: int, n_steps: int) -> bool:
        return 0 < step < n_steps and step % self.interval == 0

    def run(self, atoms: Atoms) -> None:
        gamma_on_next_call(self.calc, False)  # the swap energies need no extrapolation grade
        self.stats.add(metropolis_swaps(atoms, self.calc, self.temperature, self.n_attempts, self.rng))


class AseMD:
    """`Dynamics` backed by ASE (see module docstring)."""

    needs_calculator = True

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
        calc = calculator_for(calculator, potential)
        atoms = self._prepare(atoms, condition, seed)
        atoms.calc = calc
        dyn = self._integrator(atoms, condition, np.random.default_rng([seed, 1]))
        watch = GammaWatch(self.exploration, n_steps, condition)
        progress = Progress(n_steps, f"explore {condition.name}", unit="steps", logger=log)
        swapper = self._swapper(atoms, calc, condition, seed)

        try:
            self._loop(dyn, atoms, calc, watch, progress, n_steps, swapper)
        finally:
            gamma_on_next_call(calc, True)  # the caller's calculator as it came
        if swapper is not None:
            log.info("%s: atom swaps %d accepted of %d attempted (Metropolis at %.0f K, every %d steps)",
                     condition.name, swapper.stats.accepted, swapper.stats.attempted, condition.temperature,
                     self.exploration.swap_interval)
        outcome = watch.outcome()
        progress.close(note="halted" if outcome.halted else "ran through")
        log_outcome(condition, outcome, n_steps)
        return outcome

    # -- internals -----------------------------------------------------------------------------
    def _swapper(self, atoms: Atoms, calc: Calculator, condition: ExplorationCondition, seed: int):
        """Atom-swap Monte Carlo for this run (sampling/swaps.py), or None when the condition has none."""
        if not swaps_enabled(atoms, condition.swaps, condition.pressure):
            return None
        n_attempts = max(1, round(self.exploration.swaps_per_atom * len(atoms)))
        return _Swapper(calc, condition.temperature, n_attempts, self.exploration.swap_interval,
                        np.random.default_rng([seed, 2]))

    def _loop(self, dyn, atoms: Atoms, calc: Calculator, watch: GammaWatch, progress: Progress,
              n_steps: int, swapper: "_Swapper | None" = None) -> None:
        """Step, guard and check until the budget is spent or the watch halts. Gamma is computed
        with the forces of check steps only (`gamma_on_next_call`, armed before the step that
        produces the checked configuration); a check whose forces came without gamma (an
        integrator that evaluates elsewhere) recomputes it, so the result never depends on it."""
        gamma_on_next_call(calc, watch.due(0))
        for step in self._steps(dyn, n_steps):
            if step is None:  # the calculator failed on an unphysical configuration
                watch.explode(dyn.nsteps + 1)
                return
            watch.steps_run = step
            progress.update_to(step)
            if is_unphysical(atoms, check_distances=False):
                watch.explode(step)
                return
            if watch.due(step):
                if is_unphysical(atoms):
                    watch.explode(step)
                    return
                gamma = per_atom_gamma(calc, atoms)
                if not np.isfinite(gamma).all():
                    watch.explode(step)
                    return
                if watch.check(step, atoms, gamma):
                    return
            if swapper is not None and swapper.due(step, n_steps):
                swapper.run(atoms)
            gamma_on_next_call(calc, watch.due(step + 1))

    def _prepare(self, atoms: Atoms, condition: ExplorationCondition, seed: int) -> Atoms:
        """The shared starting state; NPT also needs Melchionna's triangular cell (the rotation
        moves positions only, so the velocities are those of every backend)."""
        atoms = prepare_atoms(atoms, condition, seed)
        if condition.pressure is not None:
            ensure_triangular_cell(atoms)
        return atoms

    def _integrator(self, atoms: Atoms, condition: ExplorationCondition, rng: np.random.Generator):
        dt = self.cfg.step_fs() * units.fs
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

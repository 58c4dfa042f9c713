"""What every exploration backend shares: the starting state, the gamma watch and the outcome.

The backends differ in how they integrate (ASE in-process, LAMMPS in-process through `fix
external`, an external ML-PACE LAMMPS) but not in what an exploration means:

* `prepare_atoms`: a private copy with seeded Maxwell-Boltzmann velocities (zero total momentum),
  the same random stream in every backend, so all start from identical velocities;
* `GammaWatch`: gamma checks every `gamma_check_interval` steps (from step 0 on, and at the last
  step), frames above `gamma_select` kept, a halt above `gamma_halt`, and an exploding trajectory
  (`is_unphysical`) treated as a halt with max_gamma = inf whose last frame is the last sane one;
  a molecule or cluster that falls apart (`fragmented`) halts too, at the frame where it did;
* `calculator_for`: the ACE calculator with gamma when the caller passed none;
* `gamma_on_next_call`: gamma computed only with the forces of check steps (the forces are the
  same either way, so the trajectory is too);
* `log_outcome`: one log line per run, the same in every backend.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.md.velocitydistribution import Stationary

try:  # ASE >= 3.29 (MaxwellBoltzmannDistribution is deprecated there)
    from ase.md.velocitydistribution import thermalize_momenta
except ImportError:  # older ASE
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution as thermalize_momenta
from ase.neighborlist import neighbor_list

from ...domain_models.config import ExplorationCondition, ExplorationConfig
from ..ace.common import ace_calculator
from ..base import ExplorationOutcome, PotentialFiles

log = logging.getLogger(__name__)

MIN_DISTANCE = 0.5  # Å; closer atoms mean the trajectory has blown up
FRAGMENT_FACTOR = 2.0  # x the sum of covalent radii: an atom this far from every other one has left


def fragmented(atoms: Atoms) -> bool:
    """A non-periodic structure (a molecule or cluster) one of whose atoms is farther than
    FRAGMENT_FACTOR x the covalent bond length from every other atom (CH4: H beyond 2.1 Å of C and
    of every H).

    Why: an atom beyond the cutoff has zero ACE projections, so its γ is 0 and a young potential that
    blows a molecule apart runs its whole budget "without halting"; its spot-check frames (isolated
    atoms, zero forces for oracle and potential alike) then pass at 0.00 meV/Å (seen on CH4 with the
    bulk defaults). The frame where the molecule broke is the label that teaches it not to."""
    if len(atoms) < 2 or atoms.pbc.any():
        return False
    from ase.data import covalent_radii

    d = atoms.get_all_distances()
    np.fill_diagonal(d, np.inf)
    r = covalent_radii[atoms.numbers]
    return bool(np.any(np.all(d > FRAGMENT_FACTOR * (r[:, None] + r[None, :]), axis=1)))


def is_unphysical(atoms: Atoms, check_distances: bool = True, calc: Calculator | None = None) -> bool:
    """Non-finite positions or forces, or (optionally) two atoms closer than MIN_DISTANCE.
    `calc` (default: the atoms' calculator) only supplies the forces and, when it has just
    computed this very configuration, its neighbour list."""
    if not np.isfinite(atoms.positions).all():
        return True
    calc = atoms.calc if calc is None else calc
    forces = None if calc is None else calc.results.get("forces")
    if forces is not None and not np.isfinite(forces).all():
        return True
    return check_distances and _too_close(atoms, calc)


def _too_close(atoms: Atoms, calc: Calculator | None) -> bool:
    """Two atoms closer than MIN_DISTANCE. The ACE calculator's atomic environment of the current
    configuration (every pair within the cutoff) answers in microseconds; ASE's neighbour list
    costs ~10 ms even for 32 atoms, a third of a 10-step check interval's force calls."""
    env = getattr(calc, "ae", None)
    if (env is not None and getattr(calc, "atoms", None) is not None and env.n_atoms_real == len(atoms)
            and not calc.check_state(atoms)):
        return env.get_minimal_nn_distance() < MIN_DISTANCE
    return len(neighbor_list("i", atoms, MIN_DISTANCE)) > 0


def gamma_on_next_call(calc: Calculator, wanted: bool) -> None:
    """Whether the calculator's next force call also computes gamma: MD asks for it only before
    the step that lands on a check. A calculator without the switch computes what it computes."""
    if hasattr(calc, "gamma_with_forces"):
        calc.gamma_with_forces = wanted


def prepare_atoms(atoms: Atoms, condition: ExplorationCondition, seed: int) -> Atoms:
    """A private copy with seeded Maxwell-Boltzmann velocities and zero total momentum: the same
    random stream in every backend, so all start from identical velocities."""
    atoms = atoms.copy()
    atoms.calc = None
    atoms.set_constraint()
    rng = np.random.default_rng([seed, 0])
    thermalize_momenta(atoms, temperature_K=condition.temperature, rng=rng)
    Stationary(atoms)
    return atoms


def calculator_for(calculator: Calculator | None, potential: PotentialFiles) -> Calculator:
    """The caller's calculator, or the potential's ACE calculator with gamma."""
    return calculator if calculator is not None else ace_calculator(potential, with_gamma=True)


def log_outcome(condition: ExplorationCondition, outcome: ExplorationOutcome, n_steps: int, backend: str = "") -> None:
    log.info("%s: %s after %d/%d steps%s, max gamma %.3g, %d extrapolative frames", condition.name,
             "halted" if outcome.halted else "completed", outcome.steps_run, n_steps,
             f" ({backend})" if backend else "", outcome.max_gamma, len(outcome.frames))


N_SAMPLES = 8  # frames kept per run, evenly spread whatever their gamma: the spot checks' candidates


class GammaWatch:
    """Bookkeeping of one run: gamma trace, kept frames, evenly spread samples, halt decision."""

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
        elif fragmented(snapshot):
            log.warning("%s: the molecule/cluster fell apart at step %d (an atom farther than %g x the covalent "
                        "bond length from all others): halt", self.condition.name, step, FRAGMENT_FACTOR)
            if not self.frames or self.frames[-1] is not snapshot:
                self.frames.append(snapshot)
            snapshot.info["halt_reason"] = "fragmented"
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

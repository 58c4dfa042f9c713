"""The small interfaces every component implements.

Like ASE's calculators: one protocol per job, many backends. Components are built from their
config section by the factories in `components/registry.py`; the pipeline steps only see these
protocols, so a mock and a real backend are interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, Sequence

from ase import Atoms
from ase.calculators.calculator import Calculator

from ..domain_models.config import ExplorationCondition
from ..core import layout as L
from ..domain_models.records import TrainRecord, read_record


@dataclass(frozen=True)
class PotentialFiles:
    """The three files of a trained potential; all live in one directory. `record`: the fit's
    TrainRecord when the step that hands the potential over has read it (the train step passes the
    previous fit's, so a trainer never reads a record file behind the step's back)."""

    yace: Path
    yaml: Path
    asi: Path
    record: "TrainRecord | None" = None

    @classmethod
    def in_dir(cls, directory: str | Path, stem: str = "potential") -> "PotentialFiles":
        d = Path(directory)
        return cls(d / f"{stem}.yace", d / f"{stem}.yaml", d / f"{stem}.asi")

    @classmethod
    def fitted(cls, stage_dir: str | Path) -> "PotentialFiles":
        """A stage's potential with its TrainRecord (`<stage>/train.json`, when it exists): what the
        train step hands the next fit (keep-the-best and the held-out share read the earlier fit's)."""
        record_file = Path(L.train_record(str(stage_dir)))
        record = read_record(TrainRecord, record_file) if record_file.is_file() else None
        return replace(cls.in_dir(stage_dir), record=record)


@dataclass
class ExplorationOutcome:
    """What one exploration run reports back.

    `frames` holds the extrapolative frames (max gamma > gamma_select), in the order seen; when the
    run halted, the last frame is the halt structure. Each frame carries `info['step']` and
    `info['max_gamma']`.
    """

    halted: bool
    steps_run: int
    budget: int
    max_gamma: float
    frames: list[Atoms] = field(default_factory=list)
    gamma_trace: list[tuple[int, float]] = field(default_factory=list)
    # a few frames spread over the run whatever their gamma: candidates for the spot checks that
    # test a gamma-converged potential against the oracle (convergence.spot_checks)
    samples: list[Atoms] = field(default_factory=list)


class Oracle(Protocol):
    """Computes reference energy, forces and stress (DFT or a stand-in)."""

    name: str

    def label(self, atoms: Atoms) -> Atoms:
        """Return a copy of `atoms` carrying energy, forces and stress (SinglePointCalculator).

        Raises OracleError when the oracle program fails (recorded and skipped by the caller);
        any other exception is a bug or a setup mistake and stops the job (oracles/base.py).
        """

    def isolated_atom_energy(self, symbol: str) -> float:
        """Energy of one isolated atom (the reference subtracted before fitting)."""

    def check_elements(self, symbols: Sequence[str]) -> None:
        """Raise UserError naming the unsupported elements before any work starts."""


class Trainer(Protocol):
    """Fits a potential on all labels so far."""

    def fit(
        self,
        dataset: Sequence[Atoms],
        out_dir: Path,
        reference_energies: dict[str, float],
        previous: PotentialFiles | None,
        seed: int,
    ) -> dict:
        """Write `potential.yace/.yaml/.asi` in `out_dir` (atomically) and return fit metrics."""

    def calculator(self, potential: PotentialFiles, with_gamma: bool = False) -> Calculator:
        """An ASE calculator for a potential this trainer wrote; with gamma it also reports
        `results['gamma']` (per-atom extrapolation grade from the active set)."""


class Dynamics(Protocol):
    """Runs an exploration and halts when the potential becomes unreliable."""

    # False: the backend evaluates the potential itself (LAMMPS ML-PACE) or not at all (mock), so
    # the explore step builds no ASE calculator for it
    needs_calculator: bool

    def run(
        self,
        atoms: Atoms,
        calculator: Calculator | None,
        potential: PotentialFiles,
        condition: ExplorationCondition,
        n_steps: int,
        seed: int,
    ) -> ExplorationOutcome: ...


class Selector(Protocol):
    """Picks the most informative candidates to label."""

    def select(self, candidates: Sequence[Atoms], potential: PotentialFiles, n: int, seed: int) -> list[int]:
        """Indices into `candidates`, at most `n`, most informative first."""

"""Exploration stand-in: halts at a fixed step while the potential is young, then converges.

Youth is the mock potential's generation (number of fits behind it), so the loop's control flow
(halt → refine → label → train → explore again) is exercised exactly as with real MD.
"""

from __future__ import annotations

from ase import Atoms

from ...core.seeds import library_seed
from ...domain_models.config import ExplorationCondition, ExplorationConfig, MockDynamicsConfig
from ..base import ExplorationOutcome, PotentialFiles
from ..trainers.mock import read_mock_potential


class MockDynamics:
    needs_calculator = False

    def __init__(self, cfg: MockDynamicsConfig, exploration: ExplorationConfig):
        self.cfg = cfg
        self.exploration = exploration

    def run(self, atoms: Atoms, calculator, potential: PotentialFiles, condition: ExplorationCondition,
            n_steps: int, seed: int) -> ExplorationOutcome:
        generation = read_mock_potential(potential)["generation"]
        halts = generation < self.cfg.halt_generations and self.cfg.halt_step <= n_steps
        last = self.cfg.halt_step if halts else n_steps
        interval = self.exploration.gamma_check_interval
        steps = list(range(interval, last + 1, interval)) or [last]
        # gamma ramps up to just above gamma_halt when halting, stays low otherwise
        top = self.exploration.gamma_halt * 1.2 if halts else self.exploration.gamma_select * 0.5
        trace = [(s, float(top * s / last)) for s in steps]
        frames = []
        if halts:
            frame = atoms.copy()
            frame.rattle(stdev=0.05, seed=library_seed(seed))
            frame.info.update(step=last, max_gamma=trace[-1][1], condition=condition.name)
            frames.append(frame)
        samples = []
        for k in range(2):  # spot-check candidates: two rattled copies of the start
            sample = atoms.copy()
            sample.rattle(stdev=0.05, seed=(seed + 1 + k) % (2**32))
            sample.info.update(step=last, max_gamma=trace[-1][1], condition=condition.name)
            samples.append(sample)
        return ExplorationOutcome(
            halted=halts, steps_run=last, budget=n_steps, max_gamma=float(max(g for _, g in trace)),
            frames=frames, gamma_trace=trace, samples=samples,
        )

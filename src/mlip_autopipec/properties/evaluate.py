"""One property task with any ASE calculator (the potential in-process; the oracle in cheap tests):
what the task's flags ask for, so both sides compute a task the same way."""

from __future__ import annotations

from ase import Atoms
from ase.calculators.calculator import Calculator

from . import RELAX
from .relax import relax_positions, single_point
from .vibrations import VIB, vibrate


def evaluate(task: Atoms, calc: Calculator, fmax: float, max_steps: int) -> Atoms:
    """Relaxed (fixed cell) when the task asks for it, else a single point; with the vibrational
    frequencies at that geometry when it asks for them."""
    if task.info.get(VIB):
        return vibrate(task, calc, float(task.info[VIB]), fmax, max_steps, bool(task.info.get(RELAX)))
    if task.info.get(RELAX):
        return relax_positions(task, calc, fmax, max_steps)
    return single_point(task, calc)

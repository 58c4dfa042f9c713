"""Relax one property task with any ASE calculator (fixed cell), and the oracle as such a calculator.

The oracle takes part through `OracleCalculator`, which turns each relaxation step into one
`oracle.label` call, so every oracle kind (EMT in-process, DFT codes through their own files)
relaxes the same way, and `RelaxingOracle` makes a whole relaxation look like one label to the
label cache (cached, resumable and failure-recorded exactly like a training label).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
from ase.calculators.singlepoint import SinglePointCalculator
from ase.optimize import BFGS

from ..core.errors import OracleError


def _results_copy(atoms: Atoms) -> Atoms:
    """A copy holding only energy, forces and (for periodic cells) stress of `atoms.calc`."""
    results = {"energy": float(atoms.get_potential_energy()), "forces": np.array(atoms.get_forces())}
    if atoms.pbc.all():
        try:
            results["stress"] = np.array(atoms.get_stress(voigt=True))
        except PropertyNotImplementedError:
            pass
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, **results)
    return out


def single_point(atoms: Atoms, calc: Calculator) -> Atoms:
    """`atoms` computed once with `calc`, as a results-only copy."""
    work = atoms.copy()
    work.calc = calc
    return _results_copy(work)


def relax_positions(atoms: Atoms, calc: Calculator, fmax: float, max_steps: int) -> Atoms:
    """BFGS on the positions only (the cell is the task's); raises OracleError when not converged,
    because a half-relaxed energy would be silently wrong."""
    work = atoms.copy()
    work.calc = calc
    opt = BFGS(work, logfile=None, maxstep=0.1)
    converged = opt.run(fmax=fmax, steps=max_steps)
    if not converged:
        fnow = float(np.linalg.norm(work.get_forces(), axis=1).max())
        raise OracleError(f"relaxation not converged in {max_steps} steps (max force {fnow:.3g} eV/Å > "
                          f"properties.fmax={fmax}); raise properties.max_relax_steps")
    out = _results_copy(work)
    out.info["relax_steps"] = int(opt.nsteps)
    return out


class OracleCalculator(Calculator):
    """An ASE calculator whose every call is one oracle label (energy, forces, stress)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, oracle):
        super().__init__()
        self.oracle = oracle
        self.n_calls = 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        labelled = self.oracle.label(self.atoms)
        self.n_calls += 1
        calc = labelled.calc
        self.results = {"energy": calc.results["energy"], "free_energy": calc.results["energy"],
                        "forces": calc.results["forces"]}
        if "stress" in calc.results:
            self.results["stress"] = calc.results["stress"]


class RelaxingOracle:
    """Wraps an oracle: `label(atoms)` relaxes the positions with it and labels the result, one
    cached unit of many oracle calls. Subclasses compute something else with the oracle as an ASE
    calculator (`compute`) and keep the labelling."""

    what = "relaxation"

    def __init__(self, oracle, fmax: float, max_steps: int):
        self.oracle = oracle
        self.name = f"{oracle.name} ({self.what})"
        self.fmax, self.max_steps = fmax, max_steps

    def compute(self, atoms: Atoms, calc: Calculator) -> Atoms:
        return relax_positions(atoms, calc, self.fmax, self.max_steps)

    def label(self, atoms: Atoms) -> Atoms:
        calc = OracleCalculator(self.oracle)
        out = self.compute(atoms, calc)
        out.info.update({k: v for k, v in atoms.info.items() if k not in out.info})
        out.info["oracle"] = self.oracle.name
        out.info["oracle_calls"] = calc.n_calls
        return out

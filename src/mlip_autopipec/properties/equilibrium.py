"""Each model's own equilibrium: the relaxed bulk crystal (cell and positions) every bulk property starts from.

Elastic constants, the EOS, the vacancy, the surfaces and the phonons of a crystal are defined at
zero stress. Computed on a cell built from a tabulated lattice constant (ASE's Cu: 3.61 Å; EMT's
equilibrium is 3.590 Å) the cell is under ~2 GPa of tension and C11 comes out 7 % low for both
columns alike. So each side relaxes the crystal first with its own forces and stress (the potential
in-process, the oracle as one cached relaxation, `CellRelaxingOracle`), and its tasks are built at
that structure: the oracle's column at the oracle's equilibrium, the potential's at its own.

The relaxed cell is the one the EOS and elastic tasks use (`properties.cell`: for a DFT oracle with a
fixed k grid, the cell whose sampling the numbers belong to); the other cell (primitive or
conventional) is deformed by the same strain. A general cell relaxation (not only an isotropic EOS
scale) relaxes c/a of non-cubic crystals and the internal positions of structure files too.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from ..core.errors import OracleError
from . import EV_PER_A3_TO_GPA, tag
from .relax import RelaxingOracle, _results_copy

TASK = "equilibrium/cell"
CACHE_KIND = "cell"  # properties_cache/cell: the oracle's equilibrium relaxations


def relax_cell(atoms: Atoms, calc: Calculator, fmax: float, max_steps: int) -> Atoms:
    """Cell and positions relaxed with `calc` (BFGS on ASE's FrechetCellFilter) to `fmax`, as a
    results-only copy with energy, forces and stress; OracleError when not converged (a half-relaxed
    reference would shift every property built on it)."""
    work = atoms.copy()
    work.calc = calc
    opt = BFGS(FrechetCellFilter(work), logfile=None, maxstep=0.05)
    if not opt.run(fmax=fmax, steps=max_steps):
        stress = float(np.abs(work.get_stress()).max()) * EV_PER_A3_TO_GPA
        raise OracleError(f"equilibrium (cell) relaxation not converged in {max_steps} steps (max stress "
                          f"{stress:.3g} GPa, properties.equilibrium_fmax={fmax}); raise properties.max_relax_steps")
    out = _results_copy(work)
    out.info["relax_steps"] = int(opt.nsteps)
    return out


def residual_stress_gpa(relaxed: Atoms) -> float:
    """Largest stress component left in the relaxed structure, GPa."""
    return float(np.abs(relaxed.get_stress(voigt=True)).max()) * EV_PER_A3_TO_GPA


def task(cell: Atoms) -> Atoms:
    """The structure to relax: the system's EOS/elastic cell at the configured lattice constant."""
    out = cell.copy()
    out.calc = None
    return tag(out, TASK, relax=True)


def deformation(reference: Atoms, relaxed: Atoms) -> np.ndarray:
    """F with relaxed.cell = reference.cell @ F (row vectors)."""
    return np.linalg.solve(reference.cell.array, relaxed.cell.array)


def deformed(atoms: Atoms, f: np.ndarray) -> Atoms:
    out = atoms.copy()
    out.calc = None
    out.set_cell(atoms.cell.array @ f, scale_atoms=True)
    return out


def summary(reference: Atoms, relaxed: Atoms, a_reference: float | None) -> dict:
    """What the report shows of one side's equilibrium: a (when the crystal has one), the volume per
    atom, the residual stress and the relaxation steps."""
    f = deformation(reference, relaxed)
    out = {"volume_per_atom": round(relaxed.get_volume() / len(relaxed), 6),
           "residual_stress_GPa": round(residual_stress_gpa(relaxed), 5) if relaxed.calc is not None else None,
           "cell": relaxed.cell.array.round(6).tolist(), "relax_steps": relaxed.info.get("relax_steps")}
    if a_reference is not None:
        out["a"] = round(a_reference * float(np.linalg.norm(reference.cell[0] @ f) / np.linalg.norm(reference.cell[0])), 6)
    return out


class CellRelaxingOracle(RelaxingOracle):
    """Wraps an oracle: `label(atoms)` relaxes cell and positions with it; one cached label."""

    what = "equilibrium"

    def compute(self, atoms: Atoms, calc: Calculator) -> Atoms:
        return relax_cell(atoms, calc, self.fmax, self.max_steps)


def relaxed_system(system, calc: Calculator, pcfg):
    """(system at `calc`'s equilibrium, the relaxed structure tagged TASK, None) for a bulk crystal;
    (system unchanged, None, reason) when the relaxation fails or the system has no bulk
    equilibrium (slabs and clusters relax in their own tasks)."""
    if not system.has_equilibrium:
        return system, None, None
    try:
        relaxed = relax_cell(task(system.cell(pcfg.cell)), calc, pcfg.equilibrium_fmax, pcfg.max_relax_steps)
    except OracleError as exc:
        return system, None, str(exc)
    relaxed.info[TASK] = TASK
    return system.at_equilibrium(relaxed, pcfg.cell), relaxed, None

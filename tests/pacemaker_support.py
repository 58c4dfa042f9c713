"""The pacemaker trainer's environment for the tests: found as in a real run (pacemaker_env).

CI installs it (tools/install_pacemaker_extra.sh), so with CI=1 or MLIP_CI=1 a missing one FAILS
the pacemaker tests; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_autopipec.components.trainers.pacemaker_env import pacemaker_python
from mlip_autopipec.core.errors import UserError


def in_ci() -> bool:
    return any(os.environ.get(k, "") not in ("", "0", "false") for k in ("CI", "MLIP_CI"))


def require_pacemaker_python() -> Path:
    try:
        return pacemaker_python()
    except UserError as exc:
        if in_ci():
            pytest.fail(f"pacemaker environment missing under CI: {exc}", pytrace=False)
        pytest.skip(f"pacemaker environment missing: {exc}")


def emt_labelled_cu_cells(n: int, seed: int, repeat: int = 1, base_stdev: float = 0.04) -> list[Atoms]:
    """Synthetic training data for tiny pacemaker fits: rattled (stdev base_stdev + 0.01 x (i mod 4) Å),
    isotropically strained (±3 %) cubic fcc Cu cells repeated `repeat` times per axis, labelled with EMT
    (energy, forces, stress) and carried by a SinglePointCalculator as an oracle's labels are."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        atoms = bulk("Cu", "fcc", a=3.61 * rng.uniform(0.97, 1.03), cubic=True).repeat((repeat,) * 3)
        atoms.rattle(stdev=base_stdev + 0.01 * (i % 4), seed=seed * 1000 + i)
        atoms.calc = EMT()
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        labelled = atoms.copy()
        labelled.calc = SinglePointCalculator(labelled, energy=e, forces=f, stress=s)
        frames.append(labelled)
    return frames


def emt_isolated_energy(symbol: str) -> float:
    """EMT energy of one atom in a 20 Å box: the reference energy the fits subtract."""
    atom = Atoms(symbol, cell=[20.0, 20.0, 20.0], pbc=True)
    atom.calc = EMT()
    return float(atom.get_potential_energy())

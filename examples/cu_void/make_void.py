"""Build the starting structure of this example: a 6x6x6 cubic fcc Cu cell (864 atoms) with every
atom within 5 Å of the box centre removed (a ~5 Å void, 821 atoms left), saved as cu_void.extxyz.

    python examples/cu_void/make_void.py [out.extxyz]
"""

import sys
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.io import write

A_EMT = 3.59  # EMT's Cu lattice constant (ASE deltacodesdft table): no strain from the oracle
VOID_RADIUS = 5.0


def void_cell(a: float = A_EMT, repeat: int = 6, radius: float = VOID_RADIUS):
    atoms = bulk("Cu", "fcc", a=a, cubic=True) * (repeat, repeat, repeat)
    centre = atoms.cell.sum(axis=0) / 2
    keep = np.linalg.norm(atoms.positions - centre, axis=1) > radius
    return atoms[keep]


def emt_md_snapshots(n: int, seed: int, temperature: float = 900.0, equilibrate: int = 40, every: int = 15):
    """EMT Langevin MD of the void cell: `n` snapshots (copies carrying EMT energy and forces),
    `every` steps apart after `equilibrate` steps; the held-out frames of the test and the benchmark."""
    from ase import units
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.md.langevin import Langevin

    atoms = void_cell()
    atoms.calc = EMT()
    rng = np.random.default_rng(seed)
    atoms.set_momenta(rng.standard_normal((len(atoms), 3))
                      * np.sqrt(atoms.get_masses()[:, None] * units.kB * temperature))
    dyn = Langevin(atoms, 2 * units.fs, temperature_K=temperature, friction=0.02, rng=rng, fixcm=False)
    dyn.run(equilibrate)
    frames = []
    for _ in range(n):
        dyn.run(every)
        snap = atoms.copy()
        snap.calc = SinglePointCalculator(snap, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        frames.append(snap)
    return frames


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("cu_void.extxyz")
    atoms = void_cell()
    write(out, atoms, format="extxyz")
    print(f"{out}: {len(atoms)} atoms")

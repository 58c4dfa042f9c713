"""Snapshots of Langevin MD driven by any calculator: the held-out sets (oracle MD, steps/validation.py)
and the benchmarks' held-out frames draw them the same way, so a frame set is defined by its seed and
these few numbers."""

from __future__ import annotations

from typing import Callable

import numpy as np
from ase import Atoms


def langevin_snapshots(atoms: Atoms, calc, temperature: float, n: int, rng: np.random.Generator,
                       stride: int = 20, warmup: int = 0, timestep_fs: float = 2.0, fixcm: bool = True,
                       keep: Callable[[Atoms, Atoms], None] | None = None) -> list[Atoms]:
    """`n` copies of `atoms` along Langevin MD (friction 0.02) with `calc` at `temperature`, `stride`
    steps apart after `warmup` steps, started from Maxwell-Boltzmann velocities. The copies carry no
    calculator; `keep(snapshot, md_atoms)` may store what the caller wants from the MD state (e.g. its
    energy and forces as reference labels)."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    work = atoms.copy()
    work.calc = calc
    MaxwellBoltzmannDistribution(work, temperature_K=temperature, rng=rng)
    dyn = Langevin(work, timestep_fs * units.fs, temperature_K=temperature, friction=0.02, rng=rng, fixcm=fixcm)
    if warmup:
        dyn.run(warmup)
    frames = []
    for _ in range(n):
        dyn.run(stride)
        snap = work.copy()
        snap.calc = None
        if keep is not None:
            keep(snap, work)
        frames.append(snap)
    return frames


def keep_reference_labels(snap: Atoms, md_atoms: Atoms) -> None:
    """Store the MD calculator's energy and forces on the snapshot (info 'energy', arrays 'ref_forces')."""
    snap.info["energy"] = md_atoms.get_potential_energy()
    snap.arrays["ref_forces"] = md_atoms.get_forces()

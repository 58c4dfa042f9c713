"""Phonon frequencies at the high-symmetry points by finite displacements (ASE's `ase.phonons`).

ASE's `Phonons` both chooses the displaced supercells and turns their forces into a dynamical
matrix, but it wants to call a calculator itself. Here it runs twice with stand-in calculators:
once recording the structures it asks for (they become tasks, computed like any other, possibly
as oracle jobs), once replaying the computed forces. The physics stays entirely ASE's.
(phonopy would do the same with symmetry-reduced displacements; it is not a dependency.)
"""

from __future__ import annotations

import tempfile

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.phonons import Phonons

from ..core.identity import structure_hash
from . import tag

PREFIX = "phonons/"
EV_TO_THZ = 1.0 / 4.135667696e-3  # h = 4.1357 meV/THz


class _Recorder(Calculator):
    implemented_properties = ["energy", "forces"]

    def __init__(self):
        super().__init__()
        self.seen: list[Atoms] = []

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.seen.append(self.atoms.copy())
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


class _Replay(Calculator):
    implemented_properties = ["energy", "forces"]

    def __init__(self, by_hash: dict[str, Atoms]):
        super().__init__()
        self.by_hash = by_hash

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        done = self.by_hash[structure_hash(self.atoms)]
        self.results = {"energy": done.get_potential_energy(), "forces": done.get_forces()}


def _run(primitive: Atoms, supercell, delta: float, calc: Calculator) -> Phonons:
    with tempfile.TemporaryDirectory(prefix="mlip-phonons-") as tmp:
        ph = Phonons(primitive, calc, supercell=tuple(supercell), delta=delta, name=f"{tmp}/ph")
        ph.run()
        ph.read(acoustic=True)
    return ph


def tasks(primitive: Atoms, supercell, delta: float) -> list[Atoms]:
    rec = _Recorder()
    _run(primitive, supercell, delta, rec)
    return [tag(a, f"{PREFIX}{k:03d}") for k, a in enumerate(rec.seen)]


def special_points(primitive: Atoms) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in primitive.cell.bandpath(npoints=0).special_points.items()}


def frequencies(results: dict[str, Atoms], primitive: Atoms, supercell, delta: float) -> dict[str, list[float]]:
    """THz at each high-symmetry point (imaginary modes as negative numbers, ASE's convention)."""
    by_hash = {structure_hash(a): a for k, a in results.items() if k.startswith(PREFIX)}
    ph = _run(primitive, supercell, delta, _Replay(by_hash))
    points = special_points(primitive)
    omega = ph.band_structure(np.array(list(points.values())))
    return {name: (np.real(w) * EV_TO_THZ).round(4).tolist() for name, w in zip(points, omega)}


def rmse(freqs_a: dict[str, list[float]], freqs_b: dict[str, list[float]]) -> float:
    a = np.concatenate([freqs_a[k] for k in sorted(freqs_a)])
    b = np.concatenate([freqs_b[k] for k in sorted(freqs_a)])
    return float(np.sqrt(np.mean((a - b) ** 2)))

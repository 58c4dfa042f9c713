"""Vacancy formation energy: E_f = E(N−1, relaxed) − (N−1)/N · E(N), in a fixed supercell.

The cell stays that of the perfect crystal (constant volume, the usual choice at these sizes); the
positions around the vacancy relax. The supercell size is configurable because E_f converges
slowly with it for DFT; for comparing a potential with its oracle, identical cells are what matters.
"""

from __future__ import annotations

from ase import Atoms

from . import tag

BULK, DEFECT = "vacancy/bulk", "vacancy/defect"


def tasks(conventional: Atoms, supercell: tuple[int, int, int]) -> list[Atoms]:
    perfect = conventional * tuple(supercell)
    defect = perfect.copy()
    del defect[0]
    return [tag(perfect, BULK), tag(defect, DEFECT, relax=True)]


def analyze(results: dict[str, Atoms]) -> dict[str, float]:
    bulk, defect = results[BULK], results[DEFECT]
    n = len(bulk)
    return {"vacancy_formation_energy": defect.get_potential_energy() - (n - 1) / n * bulk.get_potential_energy()}

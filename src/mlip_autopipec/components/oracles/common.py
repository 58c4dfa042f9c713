"""What every oracle shares: running an ASE calculator and checking what it returned."""

from __future__ import annotations

import time

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.singlepoint import SinglePointCalculator

from ...core.errors import OracleError


def singlepoint(atoms: Atoms, calc: Calculator, oracle_name: str, need_stress: bool = True) -> Atoms:
    """Compute energy, forces (and stress) and return a clean copy that carries only the results.

    The returned copy has a SinglePointCalculator so the results survive extxyz round trips and
    the live calculator (which may hold large state) is dropped.
    """
    work = atoms.copy()
    work.calc = calc
    t0 = time.perf_counter()
    try:
        energy = float(work.get_potential_energy())
        forces = np.array(work.get_forces(), dtype=float)
        stress = np.array(work.get_stress(voigt=True), dtype=float) if need_stress else None
    except Exception as exc:
        raise OracleError(f"{oracle_name} calculation failed: {type(exc).__name__}: {exc}") from exc
    check_results(atoms, energy, forces, stress, oracle_name)
    out = atoms.copy()
    out.info = {k: v for k, v in atoms.info.items() if k not in ("energy", "free_energy", "stress")}
    results = {"energy": energy, "free_energy": energy, "forces": forces}
    if stress is not None:
        results["stress"] = stress
    out.calc = SinglePointCalculator(out, **results)
    out.info["oracle"] = oracle_name
    out.info["oracle_wall_time_s"] = round(time.perf_counter() - t0, 6)
    return out


def check_results(atoms: Atoms, energy: float, forces: np.ndarray, stress, oracle_name: str) -> None:
    """Reject results that would poison the training set."""
    if forces.shape != (len(atoms), 3):
        raise OracleError(
            f"{oracle_name} returned forces of shape {forces.shape} for {len(atoms)} atoms"
        )
    if not np.isfinite(energy):
        raise OracleError(f"{oracle_name} returned a non-finite energy ({energy})")
    if not np.all(np.isfinite(forces)):
        raise OracleError(f"{oracle_name} returned non-finite forces")
    if stress is not None and not np.all(np.isfinite(stress)):
        raise OracleError(f"{oracle_name} returned a non-finite stress")


def isolated_atom(symbol: str, box: float = 20.0) -> Atoms:
    return Atoms(symbol, positions=[[box / 2] * 3], cell=[box] * 3, pbc=False)

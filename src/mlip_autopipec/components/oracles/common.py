"""What every oracle shares: running an ASE calculator and checking what it returned (the failure
rule around it is base.Oracle's)."""

from __future__ import annotations

import json
import time

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError
from ase.calculators.singlepoint import SinglePointCalculator

from ...core.errors import OracleError
from ...core.periodicity import boxed, is_bulk


def singlepoint(atoms: Atoms, calc: Calculator, oracle_name: str, need_stress: bool = True,
                settings: dict | None = None, force_consistent: bool = False) -> Atoms:
    """Compute energy, forces (and stress) and return a clean copy that carries only the results.

    The returned copy has a SinglePointCalculator so the results survive extxyz round trips and
    the live calculator (which may hold large state) is dropped. Its info records the oracle's
    name, its wall time (`oracle_wall_time_s`) and, if given, its `settings` (`oracle_settings`,
    compact JSON).

    `force_consistent`: record the free energy (whose derivatives the forces are, with smearing)
    as the energy; the zero-smearing extrapolation, when the code gives one, goes to
    info['energy_sigma0']. Without smearing both are the same.
    """
    work = atoms.copy()
    work.calc = calc
    need_stress = need_stress and has_stress(atoms)
    t0 = time.perf_counter()
    # what the calculator raises is classified by the oracle's failure rule (base.Oracle): a failed
    # calculation is recorded, anything else stops the job
    energy = float(work.get_potential_energy(force_consistent=force_consistent))
    forces = np.array(work.get_forces(), dtype=float)
    stress = _stress(work, oracle_name) if need_stress else None
    sigma0 = _sigma0_energy(calc) if force_consistent else None
    wall = time.perf_counter() - t0
    check_results(atoms, energy, forces, stress, oracle_name)
    return labelled_copy(atoms, energy, forces, stress, oracle_name, wall, settings, sigma0)


def labelled_copy(atoms: Atoms, energy: float, forces: np.ndarray, stress, oracle_name: str, wall_time_s: float,
                  settings: dict | None = None, energy_sigma0: float | None = None) -> Atoms:
    """A copy of `atoms` carrying the results and the oracle's record in its info."""
    out = atoms.copy()
    out.info = {k: v for k, v in atoms.info.items() if k not in ("energy", "free_energy", "stress")}
    results = {"energy": energy, "free_energy": energy, "forces": np.asarray(forces, dtype=float)}
    if stress is not None:
        results["stress"] = np.asarray(stress, dtype=float)
    out.calc = SinglePointCalculator(out, **results)
    out.info["oracle"] = oracle_name
    out.info["oracle_wall_time_s"] = round(float(wall_time_s), 6)
    if settings is not None:
        out.info["oracle_settings"] = settings_json(settings)
    if energy_sigma0 is not None and abs(energy_sigma0 - energy) > 1e-12:
        out.info["energy_sigma0"] = float(energy_sigma0)
    return out


def settings_json(settings: dict) -> str:
    """Compact, key-sorted JSON: one extxyz info string that survives round trips."""
    return json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)


def no_stress(oracle_name: str, why: str = "") -> str:
    """The one wording of a missing stress tensor (every oracle)."""
    return (f"{oracle_name} returned no stress tensor{why}; enable stress in the code's settings, or set "
            f"oracle.need_stress: false to accept labels without stress")


def _stress(work: Atoms, oracle_name: str) -> np.ndarray:
    try:
        stress = work.get_stress(voigt=True)
    except PropertyNotImplementedError:
        stress = None
    if stress is None:
        raise OracleError(no_stress(oracle_name))
    return np.array(stress, dtype=float)


def _sigma0_energy(calc) -> float | None:
    try:
        value = calc.get_property("energy", allow_calculation=False)
    except Exception:  # noqa: BLE001 - optional extra, never a reason to fail a label
        return None
    return None if value is None else float(value)


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


# --------------------------------------------------------------------------------------------
# Slabs, wires, clusters and molecules (see core/periodicity.py)
# --------------------------------------------------------------------------------------------
def has_stress(atoms: Atoms) -> bool:
    """Stress is a bulk property: with vacuum along some axis it depends on the box, not the system,
    so slabs, wires and clusters are labelled without it."""
    return is_bulk(atoms)


def boxed_for_code(atoms: Atoms, padding: float) -> Atoms:
    """What a DFT code computes for `atoms`: a fully periodic copy, a cluster centred in a box with
    `padding` Å of vacuum on each side, a slab in its own (vacuum-checked) cell. k-points still
    follow the structure's own periodicity (the oracles compute them from `atoms`)."""
    return boxed(atoms, padding)


def on_original_geometry(labelled: Atoms, atoms: Atoms) -> Atoms:
    """`labelled`'s results on `atoms`' own cell, pbc and positions (the box only translated the
    atoms, so energy and forces are unchanged); the labelled copy's info is kept."""
    same = (np.array_equal(labelled.pbc, atoms.pbc) and np.allclose(labelled.cell.array, atoms.cell.array)
            and np.allclose(labelled.positions, atoms.positions))
    if same or labelled.calc is None:
        return labelled
    results = dict(labelled.calc.results)
    out = labelled.copy()
    out.set_cell(atoms.cell, scale_atoms=False)
    out.pbc = atoms.pbc
    out.positions = atoms.positions
    out.calc = SinglePointCalculator(out, **results)
    return out

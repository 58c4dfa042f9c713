"""Potential against oracle: one record per property, with its tolerance and verdict.

Records are what `final/properties.json` holds: {name, unit, oracle, potential, abs_error,
rel_error, tolerance, tolerance_kind, ok} plus `reference` when an external value is configured.
Relative tolerances are fractions of the oracle's value; `consistency` rows check each side
against itself (`consistency.py`: B from the Cij against the EOS B0); potential-only checks (the MD stability
run, errors that are already differences such as phonon_rmse) have `oracle: null` and compare the
potential's value with a bound.
"""

from __future__ import annotations

import math

import numpy as np

from . import consistency, phonons, vibrations

# name -> (unit, tolerance field in PropertyTolerances, kind): rel | abs | max (value <= tol) | min (value >= tol)
SPEC: dict[str, tuple[str, str, str]] = {
    "lattice_constant": ("Å", "lattice_constant", "rel"),
    "volume_per_atom": ("Å^3", "lattice_constant", "rel3"),
    "bulk_modulus": ("GPa", "bulk_modulus", "rel"),
    "vacancy_formation_energy": ("eV", "vacancy_formation_energy", "abs"),
    "surface_energy_111": ("J/m^2", "surface_energy", "rel"),
    "surface_energy_100": ("J/m^2", "surface_energy", "rel"),
    "surface_energy_110": ("J/m^2", "surface_energy", "rel"),
    "surface_energy": ("J/m^2", "surface_energy", "rel"),
    "phonon_rmse": ("THz", "phonon_rmse", "max"),
    "vibration_rmse": ("THz", "vibration_rmse", "max"),
    "relaxed_geometry_rmsd": ("Å", "relaxed_geometry_rmsd", "max"),
    "md_max_gamma": ("-", "md_max_gamma", "max"),
    "md_energy_drift": ("eV/atom", "md_energy_drift", "max"),
    "md_min_distance": ("Å", "", "min"),
}


def spec(name: str) -> tuple[str, str, str]:
    if name.startswith("C") and name[1:].isdigit():
        return ("GPa", "elastic", "rel")
    return SPEC[name]


def record(name: str, oracle: float | None, potential: float | None, tolerance: float,
           reference: float | None = None) -> dict:
    unit, _, kind = spec(name)
    rec: dict = {"name": name, "unit": unit, "oracle": _num(oracle), "potential": _num(potential),
                 "abs_error": None, "rel_error": None, "tolerance": tolerance,
                 "tolerance_kind": "rel" if kind == "rel3" else kind, "ok": False}
    if kind == "rel3":  # a volume: the lattice-constant tolerance, cubed
        rec["tolerance"] = tolerance = round((1 + tolerance) ** 3 - 1, 6)
    if potential is None or (oracle is None and kind in ("rel", "rel3", "abs")):
        rec["ok"] = False
    elif kind in ("rel", "rel3", "abs"):
        rec["abs_error"] = _num(abs(potential - oracle))
        rec["rel_error"] = _num(abs(potential - oracle) / abs(oracle)) if oracle else None
        err = rec["abs_error"] if kind == "abs" else rec["rel_error"]
        rec["ok"] = bool(err is not None and err <= tolerance)
    elif kind == "max":
        rec["abs_error"] = _num(potential if oracle is None else abs(potential - oracle))
        rec["ok"] = bool(potential <= tolerance)
    else:  # min
        rec["ok"] = bool(potential >= tolerance)
    if reference is not None:
        rec["reference"] = reference
    return rec


def _num(x):
    if x is None:
        return None
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None


def compare(oracle: tuple[dict, dict, dict], potential: tuple[dict, dict, dict], pcfg,
            extra: list[dict] | None = None) -> list[dict]:
    """Records for every property either side computed (a side's failure gives `ok: false`)."""
    (o_val, o_det, _), (p_val, p_det, _) = oracle, potential
    tol = pcfg.tolerances
    names = list(dict.fromkeys([*o_val, *p_val]))
    records = [record(n, o_val.get(n), p_val.get(n), getattr(tol, spec(n)[1]), pcfg.reference.get(n))
               for n in names]
    if "phonon_frequencies_THz" in o_det and "phonon_frequencies_THz" in p_det:
        rmse = phonons.rmse(p_det["phonon_frequencies_THz"], o_det["phonon_frequencies_THz"])
        records.append(record("phonon_rmse", None, rmse, tol.phonon_rmse, pcfg.reference.get("phonon_rmse")))
    if "vibration_frequencies_THz" in o_det and "vibration_frequencies_THz" in p_det:
        rmse = vibrations.rmse(p_det["vibration_frequencies_THz"], o_det["vibration_frequencies_THz"])
        records.append(record("vibration_rmse", None, rmse, tol.vibration_rmse, pcfg.reference.get("vibration_rmse")))
    if "relaxed_positions" in o_det and "relaxed_positions" in p_det:
        d = np.asarray(p_det["relaxed_positions"]) - np.asarray(o_det["relaxed_positions"])
        rmsd = float(np.sqrt((d**2).sum(axis=1).mean()))
        records.append(record("relaxed_geometry_rmsd", None, rmsd, tol.relaxed_geometry_rmsd))
    check = consistency.record(o_det.get(consistency.NAME), p_det.get(consistency.NAME))
    if check is not None:
        records.append(check)
    return records + list(extra or [])

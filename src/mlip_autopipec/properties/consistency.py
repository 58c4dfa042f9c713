"""The table checks itself: values that physics ties together must agree within their numerical error.

The bulk modulus two ways, on each side separately: from the EOS (E(V) of isotropically scaled cells,
Birch–Murnaghan B0) and from the elastic constants. An isotropic strain ε on a crystal at zero stress
costs E/V = ½ ε² Σ_{i,j≤3} C_ij, and the volume strain is 3ε, so the EOS along that path has
B = Σ_{i,j≤3} C_ij / 9 (Voigt's bound; cubic: (C11 + 2 C12)/3), for any lattice. Both numbers are
finite differences, so they agree to the Birch–Murnaghan form's error over ± eos_range and the
O(strain²) error of the central differences, which `tolerances.bulk_modulus_consistency` covers, plus
three standard errors of the EOS fit (a noisy oracle widens it). A mismatch says the reference
structure was not at zero stress (the 3.61 Å Cu cell of issue 26 gave 125.2 against 134.4 GPa) or a
side's energies and stresses disagree.

Skipped, with the reason, when a side lacks either number, when the upper-left 3x3 block of C is
incomplete for a non-cubic crystal, or when relaxed-ion constants of a non-cubic crystal meet the
clamped-ion EOS (internal relaxation under isotropic strain would make them differ legitimately).
"""

from __future__ import annotations

import numpy as np

from ..domain_models.properties_config import ELASTIC, EOS
from ..domain_models.property_files import BulkModulusSide
from ..domain_models.property_records import BulkModuli, PropertyRecord
from .elastic import MATRIX

NAME = "bulk_modulus_consistency"


def bulk_modulus_check(values: dict, matrix: list | None, b0_se: float | None, cubic: bool, relax_ions: bool,
                       tolerance: float) -> BulkModulusSide:
    """One side's check: b_eos, b_elastic, rel_diff, tolerance, or the reason it was skipped."""
    if "bulk_modulus" not in values:
        return BulkModulusSide(skipped="no EOS bulk modulus")
    if matrix is None:
        return BulkModulusSide(skipped="no elastic constants")
    c = np.array([[np.nan if x is None else x for x in row] for row in matrix], dtype=float)
    block = c[:3, :3]
    if not np.isnan(block).any():
        b_el = float(block.sum() / 9)
    elif cubic and "C11" in values and "C12" in values:
        b_el = (values["C11"] + 2 * values["C12"]) / 3
    else:
        return BulkModulusSide(skipped="the upper-left 3x3 block of C_ij is incomplete (add 0, 1, 2 to "
                               "properties.elastic_components) for a non-cubic crystal")
    if relax_ions and not cubic:
        return BulkModulusSide(skipped="relaxed-ion C_ij of a non-cubic crystal: internal relaxation under isotropic "
                               "strain may differ from the clamped-ion EOS")
    b_eos = float(values["bulk_modulus"])
    tol = tolerance + (3 * b0_se / b_eos if b0_se else 0.0)
    return BulkModulusSide(b_eos=round(b_eos, 4), b_elastic=round(b_el, 4),
                           rel_diff=round(abs(b_el - b_eos) / b_eos, 6), tolerance=round(tol, 6))


def _side(check: BulkModulusSide | dict | None) -> BulkModulusSide:
    """A side's check as `details` holds it (the dict written to details.json), validated."""
    if check is None:
        return BulkModulusSide(skipped="not computed")
    return check if isinstance(check, BulkModulusSide) else BulkModulusSide.model_validate(check)


def record(oracle: BulkModulusSide | dict | None, potential: BulkModulusSide | dict | None) -> PropertyRecord | None:
    """The properties-table row: each side's |B_C − B_EOS| / B_EOS against its own tolerance; `ok`
    when both agree. A side's skip reason skips the row (`ok` true: nothing was contradicted)."""
    if oracle is None and potential is None:
        return None
    sides = {"oracle": _side(oracle), "potential": _side(potential)}
    rec: dict = {"name": NAME, "unit": "rel", "oracle": sides["oracle"].rel_diff,
                 "potential": sides["potential"].rel_diff,
                 "tolerance": max((s.tolerance for s in sides.values() if s.tolerance is not None), default=None),
                 "tolerance_kind": "consistency", "ok": True,
                 "check": "B from elastic constants (sum C_ij i,j<=3 / 9; cubic (C11+2C12)/3) against the EOS B0, each side"}
    for side, s in sides.items():
        if s.skipped is not None:
            rec["skipped"] = f"{side}: {s.skipped}"
            continue
        rec[f"{side}_B_GPa"] = BulkModuli(eos=s.b_eos, elastic=s.b_elastic)
        rec[f"{side}_tolerance"] = s.tolerance
        rec["ok"] = rec["ok"] and s.ok
    if "skipped" in rec:
        rec["ok"] = True
    return PropertyRecord(**rec)


class BulkModulusCheck:
    """The check as the stage runs it: after the groups it needs, on bulk crystals (each at its own
    equilibrium); its result is a side's `details[NAME]`, its row compares the two."""

    name = NAME
    requires = (EOS, ELASTIC)

    def analyze(self, values: dict, details: dict, system, pcfg, groups: list[str]) -> dict | None:
        """The side's check as it goes into its details (and details.json)."""
        if not (system.has_equilibrium and set(self.requires) <= set(groups)):
            return None
        return bulk_modulus_check(values, details.get(MATRIX), details.get(EOS, {}).get("bulk_modulus_se"),
                                  system.cubic, system.relax_ions(pcfg.relax_ions),
                                  pcfg.tolerances.bulk_modulus_consistency).model_dump()

    def records(self, oracle: dict, potential: dict) -> list[PropertyRecord]:
        row = record(oracle.get(NAME), potential.get(NAME))
        return [] if row is None else [row]

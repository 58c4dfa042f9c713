"""One property's verdict: a value of each side judged against its tolerance (`PropertyRecord`).

Every value a group reports declares how it is judged (`Quantity`: unit, tolerance field, kind).
Relative tolerances are fractions of the oracle's value; potential-only checks (the MD stability run,
errors that are already differences such as phonon_rmse) have `oracle: null` and compare the
potential's value with a bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..domain_models.property_records import PropertyRecord


@dataclass(frozen=True)
class Quantity:
    """How a reported value is judged."""

    unit: str
    tolerance: str  # field of PropertyTolerances ("": the caller passes the bound)
    kind: str  # rel | rel3 (a volume: the lattice-constant tolerance, cubed) | abs | max (<= tol) | min (>= tol)


def record(name: str, quantity: Quantity, oracle: float | None, potential: float | None, tolerance: float,
           reference: float | None = None) -> PropertyRecord:
    unit, kind = quantity.unit, quantity.kind
    abs_error = rel_error = None
    if kind == "rel3":
        tolerance = round((1 + tolerance) ** 3 - 1, 6)
    if potential is None or (oracle is None and kind in ("rel", "rel3", "abs")):
        ok = False
    elif kind in ("rel", "rel3", "abs"):
        abs_error = _num(abs(potential - oracle))
        rel_error = _num(abs(potential - oracle) / abs(oracle)) if oracle else None
        err = abs_error if kind == "abs" else rel_error
        ok = bool(err is not None and err <= tolerance)
    elif kind == "max":
        abs_error = _num(potential if oracle is None else abs(potential - oracle))
        ok = bool(potential <= tolerance)
    else:  # min
        ok = bool(potential >= tolerance)
    return PropertyRecord(name=name, unit=unit, oracle=_num(oracle), potential=_num(potential), abs_error=abs_error,
                          rel_error=rel_error, tolerance=tolerance, tolerance_kind="rel" if kind == "rel3" else kind,
                          ok=ok, reference=reference)


def _num(x):
    if x is None:
        return None
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None

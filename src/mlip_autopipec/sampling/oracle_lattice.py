"""The starting crystals at the oracle's own equilibrium lattice constant (`initial_data.oracle_lattice`).

Why: a bulk spec without `a:` and the portfolio take their lattice constant from ASE's reference data,
which are experimental values, and an oracle's equilibrium differs from them: EMT's Al is at 3.994 Å
against 4.05 (1.4 %), its Ni at 3.486 against 3.52; PBE overestimates most metals' by 1-2 %. NVT
exploration keeps the cell it starts from, so nearly every label then sits at one strained volume: in the
EMT Al matrix run almost all labels were at 16.6 Å^3/atom against EMT's 15.93, and the potential's elastic
constants at its own equilibrium came out 11-17 % soft (benchmarks/RESULTS.md). DP-GEN's init_bulk relaxes
the cell with the DFT code before anything else; here the oracle's equation of state of the primitive cell
(a few calculations of 1-2 atoms, `steps/lattice.py`) sets `a` of every starting crystal built from
reference data. Specs the user gave `a:` (or `portfolio.lattice_constant`) and alloys (`substitutions`:
their Vegard lattice is anchored at the host's value, sampling/compositions.py) keep theirs.

This module is pure: which crystals to fit, the record of the fits, and the specs with the fitted values.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pydantic import BaseModel, Field

from ..domain_models.config import takes_reference_lattice
from ..domain_models.portfolio_config import REFERENCE_LATTICE_SOURCE
from .compositions import reference_lattice_constant

STRAINS = tuple(float(s) for s in np.linspace(-0.04, 0.04, 7))  # of a: EMT Al (-1.4 %) and PBE (+1-2 %) inside
SOURCE = "oracle equation of state (initial/lattice.json)"


class LatticeFit(BaseModel):
    """One crystal's equation of state from the oracle; `a` is `a_reference` where the fit was not usable."""

    element: str
    crystal: str
    a_reference: float = Field(description="ASE's reference lattice constant (Å) the specs would have used.")
    a: float = Field(description="The lattice constant the starting structures get (Å).")
    fitted: bool = Field(description="False: the reference value is kept (see `note`).")
    volumes: list[float] = Field(default_factory=list, description="Volume per atom of each labelled cell (Å^3).")
    energies: list[float] = Field(default_factory=list, description="Oracle energy per atom of each cell (eV).")
    bulk_modulus_gpa: float | None = None
    note: str = ""

    @property
    def scale(self) -> float:
        return self.a / self.a_reference

    def describe(self) -> str:
        if not self.fitted:
            return f"{self.element} {self.crystal}: a = {self.a:.4f} Å kept from ASE's reference data ({self.note})"
        return (f"{self.element} {self.crystal}: a = {self.a:.4f} Å from the oracle's equation of state "
                f"({100 * (self.scale - 1):+.2f} % against ASE's reference {self.a_reference:.4f} Å"
                f"{f', B = {self.bulk_modulus_gpa:.0f} GPa' if self.bulk_modulus_gpa else ''})")


class LatticeRecord(BaseModel):
    """What `initial/lattice.json` holds: one fit per crystal the starting structures take from reference data."""

    fits: list[LatticeFit] = Field(default_factory=list)

    def fit_for(self, element: str, crystal: str) -> LatticeFit | None:
        return next((f for f in self.fits if f.element == element and f.crystal == crystal), None)


def targets(specs: Sequence) -> list[tuple[str, str, float]]:
    """(element, crystal, reference a) of each crystal some spec builds from ASE's reference data
    (`takes_reference_lattice`), once each. For the portfolio only its ground state: the polymorphs are at
    the ground state's volume per atom, so they follow its scale."""
    out: list[tuple[str, str, float]] = []
    for spec in specs:
        if not takes_reference_lattice(spec):
            continue
        if spec.kind == "bulk":
            key = (spec.element, spec.crystal, reference_lattice_constant(spec.element, spec.crystal))
        elif spec.a_source == REFERENCE_LATTICE_SOURCE:
            key = (spec.element, spec.crystal, spec.a)
        else:  # a polymorph ("same volume per atom as ...")
            continue
        if key[2] is not None and not any(t[:2] == key[:2] for t in out):
            out.append(key)
    return out


def eos_cells(element: str, crystal: str, a_reference: float) -> list:
    """The primitive cell at each of STRAINS (1-2 atoms: a DFT oracle labels them in seconds)."""
    from ase.build import bulk

    return [bulk(element, crystal, a=a_reference * (1 + s)) for s in STRAINS]


def volume_per_atom(element: str, crystal: str, a: float) -> float:
    from ase.build import bulk

    cell = bulk(element, crystal, a=a)
    return cell.get_volume() / len(cell)


def portfolio_scale(record: LatticeRecord, spec) -> float | None:
    """The scale of a portfolio spec's element: its ground state's fit (the spec's a_source names the reference)."""
    fitted = [f for f in record.fits if f.element == spec.element and f.fitted]
    return fitted[0].scale if fitted else None


def with_oracle_lattice(specs: Sequence, record: LatticeRecord | None) -> list:
    """`specs` with the fitted lattice constants (new objects; the others unchanged)."""
    if record is None or not record.fits:
        return list(specs)
    out = []
    for spec in specs:
        if takes_reference_lattice(spec):
            if spec.kind == "bulk":
                fit = record.fit_for(spec.element, spec.crystal)
                if fit is not None and fit.fitted:
                    spec = spec.model_copy(update={"a": fit.a})
            else:
                scale = portfolio_scale(record, spec)
                if scale is not None:
                    spec = spec.model_copy(update={"a": round(spec.a * scale, 5),
                                                   "a_source": spec.a_source.replace(REFERENCE_LATTICE_SOURCE, SOURCE)})
        out.append(spec)
    return out

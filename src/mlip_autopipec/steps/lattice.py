"""The oracle's equilibrium lattice constant of each starting crystal built from reference data
(sampling/oracle_lattice.py says why and which), written to `initial/lattice.json` before the initial
structures are built from it.

The calculations go through a label cache (`initial/lattice_cache/`), so a killed run recomputes none of
them, and a failed one is recorded there and skipped: with fewer than 5 of the 7 volumes, or a minimum
outside the scanned ±4 %, the crystal keeps ASE's reference value, and the log and the record say why
(the run goes on: these are starting structures, not labels).
"""

from __future__ import annotations

import logging

from ..core import layout as L
from ..core.io import read_json, write_json
from ..properties.eos import fit_birch_murnaghan
from ..sampling.oracle_lattice import (LatticeFit, LatticeRecord, STRAINS, eos_cells, targets,
                                       volume_per_atom)
from .label import label_one
from .label_cache import LabelCache, attempt_settings, physics_settings, retry_failed_requested

log = logging.getLogger(__name__)

MIN_POINTS = 5  # a Birch-Murnaghan fit has 4 parameters


def fit_lattice(element: str, crystal: str, a_reference: float, labelled: list) -> LatticeFit:
    """The fit from the labelled EOS cells (None where the oracle failed)."""
    done = [a for a in labelled if a is not None]
    keep = dict(element=element, crystal=crystal, a_reference=a_reference, a=a_reference, fitted=False)
    if len(done) < MIN_POINTS:
        return LatticeFit(**keep, note=f"the oracle labelled {len(done)} of {len(labelled)} volumes, "
                                       f"{MIN_POINTS} are needed")
    volumes = [a.get_volume() / len(a) for a in done]
    energies = [a.get_potential_energy() / len(a) for a in done]
    curve = dict(volumes=[round(v, 5) for v in volumes], energies=[round(e, 6) for e in energies])
    outside = f"no minimum of the oracle's energy within ±{100 * max(STRAINS):.0f} % of ASE's a"
    try:
        fit = fit_birch_murnaghan(volumes, energies)
    except (ValueError, RuntimeError) as exc:  # not convex, or the fit's minimum far outside
        return LatticeFit(**keep, **curve, note=f"{outside} ({exc}); set `a:` of the structure")
    if not min(volumes) <= fit["v0"] <= max(volumes):
        return LatticeFit(**keep, **curve, note=f"{outside} (the fit's minimum: {fit['v0']:.3f} Å^3/atom, scanned "
                                                f"{min(volumes):.3f}-{max(volumes):.3f}); set `a:` of the structure")
    a = a_reference * (fit["v0"] / volume_per_atom(element, crystal, a_reference)) ** (1 / 3)
    return LatticeFit(element=element, crystal=crystal, a_reference=a_reference, a=round(a, 5), fitted=True,
                      bulk_modulus_gpa=round(fit["b0"], 2), **curve)


def compute_lattice(rcfg, oracle, cache_dir=L.LATTICE_CACHE, cores: int = 1) -> LatticeRecord:
    """One fit per crystal of `targets(rcfg.cfg.structures)`; the oracle labels through the cache."""
    ocfg = rcfg.cfg.oracle
    cache = LabelCache(cache_dir, retry_failed=retry_failed_requested())
    attempt = attempt_settings(ocfg, cores)
    fits = []
    for element, crystal, a_ref in targets(rcfg.cfg.structures):
        labelled = []
        for atoms in eos_cells(element, crystal, a_ref):
            atoms.info["source"] = f"lattice:{element}-{crystal}"
            label, failure, _ = label_one(oracle, atoms, cache, physics_settings(oracle, oracle.cfg, atoms),
                                          attempt, ocfg.timeout_s)
            if failure is not None:
                log.warning("INITIAL: lattice of %s %s: the oracle failed at V = %.3f Å^3: %s", element, crystal,
                            atoms.get_volume() / len(atoms), failure.reason)
            labelled.append(label)
        fit = fit_lattice(element, crystal, a_ref, labelled)
        (log.info if fit.fitted else log.warning)("INITIAL: lattice %s", fit.describe())
        fits.append(fit)
    return LatticeRecord(fits=fits)


def write_lattice(path: str, record: LatticeRecord) -> None:
    write_json(path, record.model_dump(mode="json"))


def read_lattice(path: str = L.LATTICE) -> LatticeRecord:
    return LatticeRecord.model_validate(read_json(path))

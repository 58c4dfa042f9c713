"""Design-matrix rows carried from one fit to the next.

Every iteration refits on all labels, but only the few structures labelled since the last fit are
new: their rows (energy, force components, virials) under the same basis are all that has to be
computed. Recomputing every row each time made the fit grow with the data (in the default Cu run
the design matrix and virial rows were ~70 % of each train job). So a fit writes the rows of every
structure it used to `design_rows.npz` next to its potential, and the next fit reads the previous
stage's file (a declared input of the train rule) and computes only what is missing.

Rows depend on the structure and the basis only (not on labels, weights or the ladder choice), so
the key is the structure's content hash (core.identity.structure_hash, also the label cache's key)
and the file carries a fingerprint of the pool basis (elements, cutoff, the largest rung, pyace's
version): a file written under another basis is ignored, never mixed in. A missing or unreadable
file only costs time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from ...core import layout as L
from ...core.io import atomic_path

log = logging.getLogger(__name__)

FILE_NAME = Path(L.design_rows(".")).name  # next to the potential (core/layout.py)
FORMAT = 1


@dataclass
class StructureRows:
    """One structure's rows: energy per atom (nf,), force components (3N, nf), virials (6, nf) or None."""

    energy: np.ndarray
    forces: np.ndarray
    virial: np.ndarray | None


def basis_fingerprint(elements, cutoff: float, pool_rung: Mapping, strain_step: float) -> str:
    """What makes rows comparable: the pool basis and the finite-difference step of the virials."""
    import pyace

    payload = {"format": FORMAT, "elements": sorted(elements), "cutoff": cutoff, "pool": dict(pool_rung),
               "strain_step": strain_step, "pyace": getattr(pyace, "__version__", "?")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def load(path: Path | None, fingerprint: str) -> dict[str, StructureRows]:
    """Rows stored at `path` under `fingerprint`; {} when absent, unreadable or from another basis."""
    if path is None or not Path(path).is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["fingerprint"]) != fingerprint:
                log.info("design rows in %s were computed for another basis: recomputing all", path)
                return {}
            keys = [str(k) for k in z["keys"]]
            energy, forces, virial = z["energy"], z["forces"], z["virial"]
            force_start, n_atoms, has_virial = z["force_start"], z["n_atoms"], z["has_virial"]
    except (OSError, KeyError, ValueError) as exc:
        log.warning("cannot read design rows from %s (%s): recomputing all", path, exc)
        return {}
    out = {}
    for k, key in enumerate(keys):
        s = int(force_start[k])
        out[key] = StructureRows(energy=energy[k], forces=forces[s:s + 3 * int(n_atoms[k])],
                                 virial=virial[k] if has_virial[k] else None)
    return out


def save(path: Path, fingerprint: str, rows: Mapping[str, StructureRows]) -> None:
    """Write `rows` (insertion order kept) to `path`, atomically."""
    keys = list(rows)
    nf = next(iter(rows.values())).energy.shape[0] if rows else 0
    n_atoms = np.array([rows[k].forces.shape[0] // 3 for k in keys], dtype=np.int64)
    force_start = np.concatenate([[0], np.cumsum(3 * n_atoms)[:-1]]).astype(np.int64) if keys else np.zeros(0, int)
    energy = np.array([rows[k].energy for k in keys]).reshape(len(keys), nf)
    forces = np.concatenate([rows[k].forces for k in keys]) if keys else np.zeros((0, nf))
    has_virial = np.array([rows[k].virial is not None for k in keys], dtype=bool)
    virial = np.array([rows[k].virial if rows[k].virial is not None else np.zeros((6, nf)) for k in keys])
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, fingerprint=np.array(fingerprint), keys=np.array(keys), energy=energy, forces=forces,
                     virial=virial.reshape(len(keys), 6, nf), force_start=force_start, n_atoms=n_atoms,
                     has_virial=has_virial)

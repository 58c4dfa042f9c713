"""Which parts of a label are trusted: per-atom force weights and a per-structure energy weight.

A cut-out's label is only partly a label of the large structure it came from (core/cutouts.py):
the forces on its core atoms are, its energy and the other forces are not. Labels carry that in
the extxyz itself - ``arrays['force_weight']`` (1 trusted, 0 not) and ``info['energy_weight']``
(0) - so the dataset and final/ record it, and every trainer reads it through this module: the
linear fit as row weights of its design matrix, pacemaker as its `w_energy`/`w_forces` columns,
the active set and MaxVol as a mask of the environments to use. Frames without the keys are
fully trusted, so datasets without cut-outs fit exactly as before.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms

# The label's per-row weight keys, written by the cut-out step (sampling/cutouts.py) and read by
# every fit and score; they live here so `core` needs nothing above it.
FORCE_WEIGHT = "force_weight"  # per-atom array: 1 = trained (core), 0 = not
ENERGY_WEIGHT = "energy_weight"  # info: 0 = the energy is not a label of anything physical

# pacemaker normalises its weight columns to sum 1, so an all-zero energy column is impossible;
# this share (of the uniform weight) anchors the energy offset without pulling on the forces
PACEMAKER_MIN_ENERGY_WEIGHT = 1e-6


def force_weights(atoms: Atoms) -> np.ndarray:
    w = atoms.arrays.get(FORCE_WEIGHT)
    return np.ones(len(atoms)) if w is None else np.asarray(w, dtype=float)


def energy_weight(atoms: Atoms) -> float:
    return float(atoms.info.get(ENERGY_WEIGHT, 1.0))


def has_partial_trust(frames: Sequence[Atoms]) -> bool:
    return any(FORCE_WEIGHT in a.arrays or ENERGY_WEIGHT in a.info for a in frames)


def row_weight_factors(frames: Sequence[Atoms]) -> np.ndarray:
    """Factors for the linear fit's rows [one energy row per structure..., 3 force rows per atom
    (atom-major, x y z)...]: the structure's energy weight, each atom's force weight."""
    energy = np.array([energy_weight(a) for a in frames], dtype=float)
    forces = np.concatenate([np.repeat(force_weights(a), 3) for a in frames]) if frames else np.zeros(0)
    return np.concatenate([energy, forces])


def pacemaker_weights(frames: Sequence[Atoms]) -> tuple[list[float], list[np.ndarray]]:
    """(`w_energy`, `w_forces`) columns equal to pacemaker's uniform weighting (1 per structure,
    1 per atom) times the trust weights."""
    w_e = [max(energy_weight(a), PACEMAKER_MIN_ENERGY_WEIGHT) for a in frames]
    w_f = [force_weights(a).copy() for a in frames]
    return w_e, w_f


def trusted_rows_by_species(frames: Sequence[Atoms], element_to_index: dict) -> dict | None:
    """{species type: bool mask} over the rows of pyace's `compute_B_projections(frames)` (structures
    in order, atoms in order, split by species type): True for atoms with force weight > 0.
    None when no frame carries weights."""
    if not any(FORCE_WEIGHT in a.arrays for a in frames):
        return None
    masks: dict[int, list] = {st: [] for st in element_to_index.values()}
    for atoms in frames:
        w = force_weights(atoms) > 0
        for sym, trusted in zip(atoms.get_chemical_symbols(), w):
            masks[element_to_index[sym]].append(bool(trusted))
    return {st: np.array(m, dtype=bool) for st, m in masks.items()}

"""Compositions: the initial data of an alloy spans its composition range, and every fit checks
that the per-element energies are determined.

Why: a linear ACE fit (or any per-element energy model) trained at one composition x cannot tell
the per-element terms apart: shifting every Cu energy by +d and every Ni energy by -d x/(1-x)
leaves each training energy unchanged, so energies at other compositions are off by a constant
per atom that grows with the distance from x (+0.5 eV/atom at 3:1 after a 50/50-only run, issue
28). The composition matrix of the training set (rows = structures, columns = element fractions)
must have full rank for the terms to be determined; the initial data makes it so for a bulk
structure with substitutions (`composition_structures`), and `composition_check` says so, or
what is missing and how to fix it, after every fit.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Sequence

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

from .candidate_generator import rattle, strip_results
from .structures import apply_substitutions, default_min_distance
from .swaps import compound_with_nonmetal
from ..domain_models.records import CompositionCheck

if TYPE_CHECKING:  # pragma: no cover
    from ..domain_models.config import BulkSpec, InitialDataConfig

log = logging.getLogger(__name__)

RANK_TOLERANCE = 1e-3  # singular values below this x the largest count as zero: two compositions
# that differ by one atom in 1000 are numerically the same composition for the energy fit


def reference_lattice_constant(element: str, crystal: str) -> float | None:
    """ASE's reference lattice constant of `element` when its reference state is `crystal`."""
    from ase.data import reference_states

    state = reference_states[atomic_numbers[element]] or {}
    return state.get("a") if state.get("symmetry") == crystal else None


def vegard_lattice_constant(spec: "BulkSpec", variant: dict[str, float]) -> float | None:
    """The lattice constant of `variant` (substituent fractions) by Vegard's law, anchored at the
    spec's own a (or ASE's for the host): a(x) = a_spec + V(x) - V(x_spec) with V the fraction-weighted
    reference lattice constants; None (use the spec's a unchanged) when an element has no reference
    value for this crystal."""
    elements = {spec.element, *spec.substitutions, *variant}
    refs = {el: reference_lattice_constant(el, spec.crystal) for el in elements}
    if any(v is None for v in refs.values()):
        return None

    def vegard(subs: dict[str, float]) -> float:
        host = 1.0 - sum(subs.values())
        return host * refs[spec.element] + sum(f * refs[el] for el, f in subs.items())

    a_spec = spec.a if spec.a is not None else refs[spec.element]
    return a_spec + vegard(variant) - vegard({k: v for k, v in spec.substitutions.items() if v > 0})


def composition_structures(
    specs: Sequence, starting: Sequence[Atoms], cfg: "InitialDataConfig", rng: np.random.Generator
) -> list[Atoms]:
    """For each bulk spec with substitutions: its lattice at every other composition
    (`BulkSpec.composition_variants`), `cfg.composition_copies` rattled copies each at strains
    0, strains[0], strains[1], ... in turn. The lattice is the starting structure's cell (its
    supercell, before vacancies) scaled to the Vegard lattice constant and re-decorated at random.
    Labels: info source 'initial:composition', structure_index, composition (formula), strain."""
    out: list[Atoms] = []
    strains = [0.0] + list(cfg.strains)
    for k, (spec, atoms) in enumerate(zip(specs, starting)):
        if spec.kind != "bulk":
            continue
        variants = spec.composition_variants(cfg.compositions)
        if not variants:
            continue
        lattice = _host_lattice(spec)
        for variant in variants:
            a_new = vegard_lattice_constant(spec, variant)
            a_spec = spec.a if spec.a is not None else _lattice_a(lattice, spec)
            scale = 1.0 if a_new is None else a_new / a_spec
            decorated = apply_substitutions(lattice, variant, rng, f"structures[{k}] composition {variant}")
            d_min = default_min_distance(decorated, scale)
            for c in range(cfg.composition_copies):
                strain = strains[c % len(strains)]
                copy = decorated.copy()
                copy.set_cell(np.asarray(lattice.cell) * scale * (1.0 + strain), scale_atoms=True)
                copy = rattle(copy, 1, cfg.rattle_amplitude(), d_min * min(1.0, 1.0 + strain), rng)[0]
                copy = strip_results(copy)
                copy.info.update({"source": "initial:composition", "structure_index": k,
                                  "composition": copy.get_chemical_formula(), "strain": float(strain)})
                out.append(copy)
        log.info("INITIAL: structures[%d] also at %d other composition(s) (%s), %d copies each, lattice by "
                 "Vegard's law", k, len(variants), ", ".join(_label(spec, v) for v in variants),
                 cfg.composition_copies)
    return out


def _host_lattice(spec: "BulkSpec") -> Atoms:
    from ase.build import bulk

    return bulk(spec.element, spec.crystal, a=spec.a, cubic=spec.cubic) * tuple(spec.supercell)


def _lattice_a(lattice: Atoms, spec: "BulkSpec") -> float:
    """ASE's default a of the host (when the spec gives none)."""
    from ase.build import bulk

    return float(bulk(spec.element, spec.crystal, cubic=True).cell.lengths()[0])


def _label(spec: "BulkSpec", variant: dict[str, float]) -> str:
    host = 1.0 - sum(variant.values())
    parts = [f"{spec.element}{host:.2g}"] if host > 0 else []
    return "".join(parts + [f"{el}{f:.2g}" for el, f in variant.items()])


# --------------------------------------------------------------------------------------------
# The rank check
# --------------------------------------------------------------------------------------------
def composition_matrix(frames: Sequence[Atoms], elements: Sequence[str]) -> np.ndarray:
    """Rows = structures, columns = the fraction of each element (counts / atoms)."""
    index = {el: j for j, el in enumerate(elements)}
    m = np.zeros((len(frames), len(elements)))
    for i, atoms in enumerate(frames):
        for sym in atoms.get_chemical_symbols():
            m[i, index[sym]] += 1.0
        m[i] /= max(len(atoms), 1)
    return m


def composition_check(frames: Sequence[Atoms], elements: Sequence[str] | None = None) -> CompositionCheck:
    """Are the per-element energy terms determined by these training structures? The composition
    matrix must have rank = number of elements (singular values above RANK_TOLERANCE x the largest).
    When not, `advice` says which compositions the set holds and how to add others."""
    if elements is None:
        elements = sorted({s for a in frames for s in a.get_chemical_symbols()})
    elements = list(elements)
    m = composition_matrix(frames, elements)
    distinct = sorted({tuple(np.round(row, 4)) for row in m})
    if len(frames) == 0:
        rank = 0
    else:
        s = np.linalg.svd(m, compute_uv=False)
        rank = int(np.sum(s > RANK_TOLERANCE * s[0])) if s[0] > 0 else 0
    determined = rank >= len(elements)
    advice = None
    one_composition = bool(frames) and len(distinct) == 1
    molecules = one_composition and not any(a.pbc.any() for a in frames)
    # MgO, SiC, LiF: a cation-anion exchange is an antisite, not a change of composition (swaps stay off,
    # sampling/swaps.py), so one stoichiometry is the compound's, not a blind spot of an alloy run
    compound = one_composition and compound_with_nonmetal(atomic_numbers[el] for el in elements)
    if not determined and molecules:
        advice = (f"per-element energies not determined: every training structure is the same molecule or cluster "
                  f"({_formula(np.asarray(distinct[0]), elements)}), so how its energy splits among "
                  f"{', '.join(elements)} is arbitrary. Its own energies and all forces are unaffected; only "
                  "energies at other compositions (fragments, other molecules of these elements) can be off by a "
                  "constant per atom. To use the potential there, add molecules of those compositions (e.g. each "
                  "element's own molecule, such as H2) to `structures`")
    elif not determined and compound:
        advice = (f"per-element energies not determined: every training structure has the composition "
                  f"{_formula(np.asarray(distinct[0]), elements)}, a compound with a nonmetal whose stoichiometry "
                  f"the loop keeps, so how its energy splits among {', '.join(elements)} is arbitrary. Energies "
                  "and forces of this compound (bulk, surfaces, defects that keep its formula) are unaffected; "
                  "only energies at other compositions (vacancies of one element, other phases of these elements) "
                  "can be off by a constant per atom. To use the potential there, add structures of those "
                  "compositions (e.g. each element's own phase) to `structures`")
    elif not determined:
        shown = ", ".join(_formula(row, elements) for row in distinct[:4]) + (" ..." if len(distinct) > 4 else "")
        advice = (f"per-element energies not determined: the training set spans {len(distinct)} composition(s) "
                  f"({shown}) of {len(elements)} elements (composition matrix rank {rank} < {len(elements)}), so "
                  "energies at other compositions can be off by a constant per atom. Fix: give the bulk structure "
                  "`substitutions` and keep initial_data.compositions (default [0, 0.25, 0.5, 0.75, 1]), or add "
                  "structures at other compositions (e.g. each pure element) to `structures`")
    return CompositionCheck(elements=elements, rank=rank, n_compositions=len(distinct), determined=determined,
                            advice=advice, fixed_composition=not determined and (molecules or compound))


def _formula(row: np.ndarray, elements: Sequence[str]) -> str:
    return "".join(f"{el}{x:.2g}" for el, x in zip(elements, row) if x > 0)

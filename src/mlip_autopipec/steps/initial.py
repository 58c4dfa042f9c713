"""INITIAL: starting structures → a small set of rattled and strained copies to label, and the
isolated-atom reference energies from the oracle."""

from __future__ import annotations

import logging

from ..components.registry import make_oracle
from ..core.io import write_json, write_structures
from ..core.seeds import rng_for
from ..core.structures import build_structures, initial_training_structures
from ..core.system_checks import narrow_cells_advice, trainer_cutoff
from ..domain_models.derived_defaults import log_lines
from ..sampling.compositions import composition_check, composition_structures
from .cutout_stage import cutouts_without_gamma

log = logging.getLogger(__name__)


def starting_structures(rcfg):
    """The configured starting structures (deterministic: same seed, same alloy decoration)."""
    return build_structures(rcfg.cfg.structures, rcfg.base_dir, rng_for(rcfg.cfg.seed, "structures"))


def elements_of(structures) -> list[str]:
    return sorted({s for atoms in structures for s in atoms.get_chemical_symbols()})


def run_initial_structures(rcfg, out_selected: str) -> int:
    for line in log_lines(rcfg.cfg.derived()):  # the settings derived from the system, and why
        log.info(line)
    structures = starting_structures(rcfg)
    make_oracle(rcfg.cfg.oracle).check_elements(elements_of(structures))
    wide = rcfg.cfg.wide_cell()
    training = list(structures)
    if wide is not None:  # a cell wider than 2 x cutoff: its copies join the initial data, it is not explored
        cell = build_structures([wide], rcfg.base_dir, rng_for(rcfg.cfg.seed, "wide_cell"))[0]
        cell.info["source"] = "initial:wide_cell"
        training.append(cell)
        log.info("DEFAULTS: initial_data.wide_cell: structures[0] x %s (%d atoms) also joins the initial data: "
                 "every configured cell is narrower than 2 x the cutoff (README \"Training cells\")",
                 tuple(wide.supercell), len(cell))
    else:
        advice = narrow_cells_advice(structures, trainer_cutoff(rcfg.cfg))
        if advice:
            log.warning("INITIAL: %s", advice)
    frames = initial_training_structures(training, rcfg.cfg.initial_data, rng_for(rcfg.cfg.seed, "initial"))
    frames += composition_structures(rcfg.cfg.structures, structures, rcfg.cfg.initial_data,
                                     rng_for(rcfg.cfg.seed, "initial_compositions"))
    check = composition_check(frames)
    if not check.determined:
        log.warning("INITIAL: %s", check.advice)
    if rcfg.cfg.labeling.max_atoms is not None:  # large structures are labelled through cut-outs
        frames = cutouts_without_gamma(rcfg.cfg, frames, rng_for(rcfg.cfg.seed, "initial_cutouts"))
        if len(frames) > rcfg.cfg.n_initial_structures():  # label jobs are sized from this bound
            raise RuntimeError(f"initial set has {len(frames)} structures, more than {rcfg.cfg.n_initial_structures()}")
    elif len(frames) != rcfg.cfg.n_initial_structures():  # the label jobs are sized from this count
        raise RuntimeError(f"initial set has {len(frames)} structures, expected {rcfg.cfg.n_initial_structures()}")
    write_structures(out_selected, frames)
    log.info("INITIAL: %d structures to label from %d starting structure(s)", len(frames), len(structures))
    return len(frames)


def run_reference_energies(rcfg, out_json: str) -> dict[str, float]:
    oracle = make_oracle(rcfg.cfg.oracle)
    elements = elements_of(starting_structures(rcfg))
    oracle.check_elements(elements)
    energies = {el: oracle.isolated_atom_energy(el) for el in elements}
    write_json(out_json, energies)
    log.info("INITIAL: isolated-atom energies %s", {k: round(v, 4) for k, v in energies.items()})
    return energies

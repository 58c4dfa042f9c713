"""INITIAL: starting structures → a small set of rattled and strained copies to label, and the
isolated-atom reference energies from the oracle."""

from __future__ import annotations

import logging
from pathlib import Path

from ..components.registry import make_oracle
from ..core.io import write_json, write_structures
from ..core.seeds import rng_for
from ..properties.surface import training_slabs
from ..sampling.structures import (build_structures, cell_strain_copies, initial_training_structures,
                                   surface_slab_copies)
from ..sampling.system_checks import narrow_cells_advice, trainer_cutoff
from ..domain_models.derived_defaults import log_lines
from ..sampling.compositions import composition_check, composition_structures
from ..core import layout as L
from ..sampling.oracle_lattice import LatticeRecord, with_oracle_lattice
from .cutout_stage import cutouts_without_gamma
from .lattice import compute_lattice, read_lattice, write_lattice

log = logging.getLogger(__name__)


def oracle_lattice(rcfg) -> "LatticeRecord | None":
    """The oracle's lattice constants (initial/lattice.json, written by the initial_structures job: every
    rule that builds the starting structures declares it as an input), or None when the config does not
    ask for them."""
    if not rcfg.cfg.initial_data.oracle_lattice:
        return None
    if not Path(L.LATTICE).is_file():
        raise RuntimeError(f"{L.LATTICE} is missing: the initial_structures job writes it before any job that "
                           "builds the starting structures (a rule that reads it must declare it as input)")
    return read_lattice(L.LATTICE)


def starting_structures(rcfg, lattice: "LatticeRecord | None | str" = "run"):
    """The configured starting structures (deterministic: same seed, same alloy decoration), at the
    oracle's lattice constants in a run (`lattice` "run": initial/lattice.json when the config asks for
    them); `lattice` None: ASE's reference values (the preflight, before any oracle work)."""
    record = oracle_lattice(rcfg) if lattice == "run" else lattice
    specs = with_oracle_lattice(rcfg.cfg.structures, record)
    return build_structures(specs, rcfg.base_dir, rng_for(rcfg.cfg.seed, "structures"))


def wide_cell_structure(rcfg, lattice: "LatticeRecord | None | str" = "run"):
    """The derived wide cell (initial_data.wide_cell) as atoms, or None; the initial data and the wide
    exploration (exploration.wide_cell) build the same cell from the same seed."""
    wide = rcfg.cfg.wide_cell()
    if wide is None:
        return None
    record = oracle_lattice(rcfg) if lattice == "run" else lattice
    cell = build_structures(with_oracle_lattice([wide], record), rcfg.base_dir, rng_for(rcfg.cfg.seed, "wide_cell"))[0]
    cell.info["source"] = "initial:wide_cell"
    return cell


def elements_of(structures) -> list[str]:
    return sorted({s for atoms in structures for s in atoms.get_chemical_symbols()})


def log_portfolio(rcfg, structures) -> None:
    """Where the portfolio's numbers came from: the melting point behind every temperature and each
    structure's lattice constant (issue 29: a user must see which are data and which are guesses)."""
    from ..sampling.portfolio import describe

    p = rcfg.cfg.portfolio
    if not p.enabled:
        return
    tm, source = p.melting()
    log.info("PORTFOLIO %s: melting point %.0f K (%s) sets the temperatures", p.element, tm, source)
    for spec, atoms in zip(rcfg.cfg.structures, structures):
        if spec.kind == "portfolio":
            log.info("PORTFOLIO %s", describe(spec, atoms))
    crystals = [(spec, atoms) for spec, atoms in zip(rcfg.cfg.structures, structures)
                if spec.kind == "portfolio" and spec.part == "bulk"]
    oracle = make_oracle(rcfg.cfg.oracle)
    if len(crystals) > 1 and hasattr(oracle, "calculator"):  # a cheap check of the ground state
        energies = {}
        for spec, atoms in crystals:
            work = atoms.copy()
            work.calc = oracle.calculator()
            energies[spec.crystal] = work.get_potential_energy() / len(work)
        lowest = min(energies, key=energies.get)
        log.info("PORTFOLIO oracle energy per atom at these volumes: %s",
                 ", ".join(f"{k} {v:.4f} eV" for k, v in energies.items()))
        if lowest != crystals[0][0].crystal:
            log.warning("PORTFOLIO: the oracle finds %s lower than the ground state %s of ASE's reference data; "
                        "both are explored", lowest, crystals[0][0].crystal)
    for cond in rcfg.cfg.exploration.conditions:
        if cond.kind is not None:
            log.info("PORTFOLIO condition %s: kind %s, %.0f K (%.2f x Tm), %s", cond.name, cond.kind,
                     cond.temperature, cond.temperature / tm, "NVT" if cond.pressure is None else
                     f"NPT {cond.pressure:g} GPa")


def run_initial_structures(rcfg, out_selected: str, out_lattice: str | None = None, cores: int = 1) -> int:
    """`out_lattice`: where the oracle's lattice constants go (the rule's initial/lattice.json; None: not
    kept, e.g. a caller that needs only the structures), its calculations cached beside it."""
    for line in log_lines(rcfg.cfg.derived()):  # the settings derived from the system, and why
        log.info(line)
    oracle = make_oracle(rcfg.cfg.oracle, cores=cores)
    oracle.check_elements(elements_of(starting_structures(rcfg, lattice=None)))  # before any oracle work
    cache = Path(out_lattice or L.LATTICE).parent / Path(L.LATTICE_CACHE).name
    record = compute_lattice(rcfg, oracle, cache, cores) if rcfg.cfg.initial_data.oracle_lattice else LatticeRecord()
    if out_lattice is not None:
        write_lattice(out_lattice, record)
    structures = starting_structures(rcfg, record)
    log_portfolio(rcfg, structures)
    cell = wide_cell_structure(rcfg, record)
    training = list(structures)
    if cell is not None:  # a cell wider than 2 x cutoff: its copies join the initial data
        training.append(cell)
        log.info("DEFAULTS: initial_data.wide_cell: structures[0] x %s (%d atoms) also joins the initial data: "
                 "every configured cell is narrower than 2 x the cutoff (README \"Training cells\")",
                 tuple(rcfg.cfg.wide_cell().supercell), len(cell))
    else:
        advice = narrow_cells_advice(structures, trainer_cutoff(rcfg.cfg))
        if advice:
            log.warning("INITIAL: %s", advice)
    frames = initial_training_structures(training, rcfg.cfg.initial_data, rng_for(rcfg.cfg.seed, "initial"))
    frames += composition_structures(rcfg.cfg.structures, structures, rcfg.cfg.initial_data,
                                     rng_for(rcfg.cfg.seed, "initial_compositions"))
    crystal = rcfg.cfg.surface_slab_crystal()
    if crystal is not None:  # the surfaces whose energies the properties stage reports
        p = rcfg.cfg.properties
        if p.a is None:  # the slabs at the property crystal's lattice constant, the oracle's where it was fitted
            own = with_oracle_lattice([rcfg.cfg.structures[p.structure]], record)[0].a
            crystal = (crystal[0], own or crystal[1])
        slabs = training_slabs(*crystal, p.slab_layers, p.vacuum)
        frames += surface_slab_copies(slabs, rcfg.cfg.initial_data, rng_for(rcfg.cfg.seed, "surface_slabs"))
        log.info("DEFAULTS: initial_data.surface_slabs: %d rattled copies of each of %s's %s slabs (%d atoms, "
                 "a = %.3f Å) join the initial data", rcfg.cfg.initial_data.surface_slab_copies, crystal[0],
                 "/".join(s.info["facet"] for s in slabs), len(slabs[0]), crystal[1])
    k = rcfg.cfg.cell_strain_structure()
    if k is not None:  # deformed cells: the stress response to shape changes (elastic constants)
        data = rcfg.cfg.initial_data
        frames += cell_strain_copies(structures[k], k, data, rng_for(rcfg.cfg.seed, "cell_strain"))
        final = rcfg.cfg.has_final_fit()
        fit = rcfg.cfg.final_fit_trainer() if final else rcfg.cfg.trainer
        log.info("DEFAULTS: initial_data.cell_strain_copies: %d copies of structures[%d] (%d atoms) in deformed cells "
                 "(strain components up to %g) join the initial data; the %s weighs stresses %s, rows_per_function %s",
                 data.cell_strain_copies, k, len(structures[k]), data.cell_strain_fraction,
                 "final fit" if final else "fit", getattr(fit, "stress_weight", "-"),
                 getattr(getattr(fit, "ladder", None), "rows_per_function", "-"))
    check = composition_check(frames)
    if check.warning:
        log.warning("INITIAL: %s", check.warning)
    elif check.note:  # a molecule or compound at its one composition: information only
        log.info("INITIAL: %s", check.note)
    if rcfg.cfg.labeling.max_atoms is not None:  # large structures are labelled through cut-outs
        frames = cutouts_without_gamma(rcfg.cfg, frames, rng_for(rcfg.cfg.seed, "initial_cutouts"))
        if len(frames) > rcfg.cfg.n_initial_structures():  # label jobs are sized from this bound
            raise RuntimeError(f"initial set has {len(frames)} structures, more than {rcfg.cfg.n_initial_structures()}")
    elif len(frames) != rcfg.cfg.n_initial_structures():  # the label jobs are sized from this count
        raise RuntimeError(f"initial set has {len(frames)} structures, expected {rcfg.cfg.n_initial_structures()}")
    write_structures(out_selected, frames)
    log.info("INITIAL: %d structures to label from %d starting structure(s)", len(frames), len(structures))
    return len(frames)


def run_reference_energies(rcfg, out_json: str, level: str | None = None) -> dict[str, float]:
    """Isolated-atom energies of `oracle`, or of `cheap_oracle` with `level` "cheap" (two-level labelling:
    the energy shift between the levels falls back on them when the structures labelled at both levels do
    not determine the per-element terms, prior_fit.energy_shift)."""
    oracle = make_oracle(rcfg.cfg.cheap_oracle if level == "cheap" else rcfg.cfg.oracle)
    elements = elements_of(starting_structures(rcfg))
    oracle.check_elements(elements)
    energies = {el: oracle.isolated_atom_energy(el) for el in elements}
    write_json(out_json, energies)
    log.info("INITIAL: isolated-atom energies%s %s", f" ({level})" if level else "",
             {k: round(v, 4) for k, v in energies.items()})
    return energies

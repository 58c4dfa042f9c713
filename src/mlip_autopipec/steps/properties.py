"""PROPERTIES: physical properties of a potential, computed with the potential and with the oracle.

Every bulk property is computed at each model's own equilibrium (`properties/equilibrium.py`): the
potential's column on structures built from the potential-relaxed crystal, the oracle's from the
oracle-relaxed one. The oracle's relaxation is a job of its own because its tasks are only known
once it has finished; it is one cached label (`properties_cache/cell`), so every stage after the
first reads it from the cache.

Five kinds of job per potential (stage directory):
  property_equilibrium  the oracle relaxes the bulk crystal (cell + positions) ->
                   `oracle_equilibrium.extxyz` (+ `.json`: computed now or cached, or why it failed);
                   not in cheap mode, nor for slabs and clusters
  property_tasks   the potential relaxes the crystal, then the structures (`tasks.extxyz`) and the
                   potential's results on them, relaxations included (`potential.extxyz`, its
                   equilibrium among them); in cheap mode the oracle's tasks are single points at the
                   potential-relaxed geometries (its equilibrium too)
  property_label   the oracle on a chunk of tasks, through the same per-structure cache as training
                   labels (`properties_cache/`, shared by all stages, so `every` recomputes nothing
                   twice), failures recorded; an oracle relaxation (a cluster's relaxation + Hessian)
                   is one cached "label". The tasks follow from the config and the oracle's
                   equilibrium, so this job does not wait for `property_tasks` (cheap mode: it reads
                   the potential-relaxed geometries)
  md_stability     the potential alone, hot, on a larger cell
  properties       both sides analysed identically -> records with tolerances
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..components.base import PotentialFiles
from ..components.registry import make_oracle, make_trainer
from ..core.crashpoints import crashpoint
from ..core.errors import OracleError
from ..core.min_distance import PairLimits
from ..core.identity import structure_hash
from ..core.io import copy_file, read_structures, write_structures
from ..core.seeds import derive_seed
from ..properties import RELAX, TASK, equilibrium
from ..properties.analyze import analyze
from ..properties.compare import compare
from ..properties.md_stability import records as md_records
from ..properties.md_stability import run_md_stability
from ..properties.evaluate import evaluate
from ..properties.jobs import per_job
from ..properties.relax import RelaxingOracle
from ..properties.system import build_tasks, property_system
from ..properties.vibrations import VIB, VibratingOracle
from ..core.progress import Progress
from ..domain_models.property_files import (MdStabilityResult, OracleEquilibriumRecord, PropertyDetails,
                                            PropertyLabelChunkRecord, PropertyLabelFailure, read_md_stability,
                                            read_oracle_equilibrium, read_property_label_chunk, write_model)
from ..domain_models.property_records import PropertyRecord, write_property_records
from ..domain_models.records import read_record
from ..domain_models.ship import GammaScale
from .label import label_one
from .label_cache import LabelCache, attempt_settings, physics_settings, retry_failed_requested

log = logging.getLogger(__name__)

CACHE_DIR = "properties_cache"  # run level: identical tasks of different stages are computed once


def properties_dir(stage: str) -> str:
    return f"{stage}/properties"


def _clean(atoms):
    out = atoms.copy()
    out.calc = None
    out.info = {k: v for k, v in atoms.info.items() if k in (TASK, RELAX, VIB)}
    return out


def run_property_tasks(rcfg, stage: str, out_tasks: str, out_potential: str) -> dict:
    pcfg = rcfg.cfg.properties
    calc = make_trainer(rcfg.cfg.trainer).calculator(PotentialFiles.in_dir(stage))
    done, oracle_tasks, failed = [], [], []
    t0 = time.perf_counter()
    reference = property_system(rcfg)
    system, relaxed, why = equilibrium.relaxed_system(reference, calc, pcfg)
    if relaxed is not None:
        done.append(relaxed)
        log.info("potential's equilibrium: %s", equilibrium.summary(reference.cell(pcfg.cell), relaxed, reference.a))
    elif why is not None:
        log.warning("potential: equilibrium relaxation failed (%s); its properties at the configured structure", why)
        failed.append({"task": equilibrium.TASK, "reason": why})
    tasks = build_tasks(pcfg, system)
    progress = Progress(len(tasks), f"properties {stage}: potential", unit="tasks", logger=log)
    for task in tasks:
        name = task.info[TASK]
        try:
            res = evaluate(task, calc, pcfg.fmax, pcfg.max_relax_steps)
            res.info[TASK] = name
            done.append(res)
        except OracleError as exc:  # a relaxation that did not converge
            log.warning("potential: task %s failed: %s", name, exc)
            failed.append({"task": name, "reason": str(exc)})
            res = None
        if pcfg.cheap and task.info[RELAX]:
            start = _clean(res) if res is not None else _clean(task)
            start.info[RELAX] = False
            start.info["relaxed_by"] = "potential"
            oracle_tasks.append(start)
        else:
            oracle_tasks.append(_clean(task))
        progress.update()
    progress.close()
    if pcfg.cheap and system.has_equilibrium:  # the oracle's side is analysed at the potential's equilibrium
        start = _clean(relaxed if relaxed is not None else equilibrium.task(system.cell(pcfg.cell)))
        start.info[RELAX] = False
        start.info["relaxed_by"] = "potential"
        oracle_tasks.append(start)
    write_structures(out_potential, done)
    write_structures(out_tasks, oracle_tasks)
    log.info("PROPERTIES %s: %d tasks with the potential in %.1f s (%d failed)%s", stage, len(tasks),
             time.perf_counter() - t0, len(failed), "; cheap mode: oracle single points" if pcfg.cheap else "")
    return {"n_tasks": len(tasks), "failed": failed}


def run_property_equilibrium(rcfg, out_structure: str, out_record: str, cache_dir: str = CACHE_DIR,
                             cores: int = 1) -> OracleEquilibriumRecord:
    """The oracle's equilibrium: cell and positions of the bulk crystal relaxed with the oracle, one
    cached label (`cache_dir/cell`). A failure is recorded (the structure file is then empty, and
    the oracle's tasks stay at the configured structure, flagged in the properties table)."""
    pcfg, ocfg = rcfg.cfg.properties, rcfg.cfg.oracle
    system = property_system(rcfg)
    task = equilibrium.task(system.cell(pcfg.cell))
    oracle = make_oracle(ocfg, cores=cores)
    doer = equilibrium.CellRelaxingOracle(oracle, pcfg.equilibrium_fmax, pcfg.max_relax_steps)
    physics = {**physics_settings(oracle, ocfg, task), "cell_relax": True, "relax_fmax": pcfg.equilibrium_fmax,
               "relax_max_steps": pcfg.max_relax_steps}
    cache = LabelCache(Path(cache_dir) / equilibrium.CACHE_KIND, retry_failed=retry_failed_requested())
    t0 = time.perf_counter()
    result, failure, why = label_one(doer, task, cache, physics, attempt_settings(ocfg, cores), ocfg.timeout_s)
    wall = round(time.perf_counter() - t0, 3)
    if result is not None:
        result.info[TASK] = equilibrium.TASK
        summary = equilibrium.summary(task, result, system.a)
        record = OracleEquilibriumRecord(computed_now=why is not None, wall_time_s=wall, equilibrium=summary)
        log.info("ORACLE EQUILIBRIUM: %s (%s)", summary, "computed" if why else "cached")
    else:
        record = OracleEquilibriumRecord(computed_now=why is not None, wall_time_s=wall, failure=failure.reason)
        log.warning("ORACLE EQUILIBRIUM failed: %s; the oracle's properties at the configured structure",
                    failure.reason)
    write_structures(out_structure, [result] if result is not None else [])
    write_model(out_record, record)
    return record


def oracle_system(rcfg, equilibrium_file: str | None):
    """The property system the oracle's tasks are built on: at the oracle's equilibrium when
    `equilibrium_file` holds it, else as configured."""
    system = property_system(rcfg)
    relaxed = read_structures(equilibrium_file) if equilibrium_file else []
    return system.at_equilibrium(relaxed[0], rcfg.cfg.properties.cell) if relaxed else system


def run_property_label_chunk(rcfg, tasks_file: str | None, chunk: int, out_labels: str, out_record: str,
                             cache_dir: str = CACHE_DIR, cores: int = 1,
                             equilibrium_file: str | None = None) -> PropertyLabelChunkRecord:
    """The oracle on tasks [chunk*per_job, (chunk+1)*per_job): single points in cache_dir/single,
    relaxations (each one cached result) in cache_dir/relax, cluster vibrations in cache_dir/vib.
    `tasks_file`: the oracle's tasks as `run_property_tasks` wrote them (cheap mode); None: built
    from the config at the oracle's equilibrium (`equilibrium_file`), the same list, so the job need
    not wait for the potential's side."""
    pcfg = rcfg.cfg.properties
    if tasks_file:
        tasks = read_structures(tasks_file)
    else:
        tasks = [_clean(t) for t in build_tasks(pcfg, oracle_system(rcfg, equilibrium_file))]
    n = per_job(rcfg)
    indices = range(min(chunk * n, len(tasks)), min((chunk + 1) * n, len(tasks)))
    oracle = make_oracle(rcfg.cfg.oracle, cores=cores) if len(indices) else None
    relaxing = RelaxingOracle(oracle, pcfg.fmax, pcfg.max_relax_steps) if oracle is not None else None
    vibrating = VibratingOracle(oracle, pcfg.fmax, pcfg.max_relax_steps) if oracle is not None else None
    ocfg = rcfg.cfg.oracle
    attempt = attempt_settings(ocfg, cores)
    caches = {kind: LabelCache(Path(cache_dir) / kind, retry_failed=retry_failed_requested())
              for kind in ("single", "relax", "vib")}
    labelled, failures, n_computed = [], [], 0
    t0 = time.perf_counter()
    for i in indices:
        task = tasks[i]
        name, relax, vib = task.info[TASK], bool(task.info.get(RELAX)), task.info.get(VIB)
        # the cache key holds the oracle's settings, for a relaxation also where it stops, for
        # vibrations the displacement
        physics = physics_settings(oracle, ocfg, task)
        if relax:
            physics = {**physics, "relax_fmax": pcfg.fmax, "relax_max_steps": pcfg.max_relax_steps}
        kind, doer = ("vib", vibrating) if vib else ("relax", relaxing) if relax else ("single", oracle)
        if vib:
            physics = {**physics, "vib_delta": float(vib)}
        result, failure, why = label_one(doer, task, caches[kind], physics, attempt, ocfg.timeout_s)
        if why is not None:
            n_computed += 1
            crashpoint("property_label:after_one")
        if result is not None:
            result.info[TASK] = name  # an identical structure may have been cached by another task
            labelled.append(result)
        else:
            failures.append(PropertyLabelFailure.of(i, name, failure))
    record = PropertyLabelChunkRecord(chunk=chunk, indices=list(indices), n_labelled=len(labelled), failures=failures,
                                      n_computed_now=n_computed, wall_time_s=round(time.perf_counter() - t0, 3))
    write_structures(out_labels, labelled)
    write_model(out_record, record)
    if len(indices):
        log.info("PROPERTY LABEL chunk %d: %d labelled, %d failed, %d computed now (%d from cache)", chunk,
                 len(labelled), len(failures), n_computed, len(indices) - n_computed)
    return record


def run_md_stability_step(rcfg, stage: str, out_json: str, scale_file: str | None = None) -> MdStabilityResult:
    """`scale_file`: a final fit's gamma scale (shipping/gamma_scale.py); its `md_max_gamma` is the
    bound on this run's gamma instead of properties.tolerances.md_max_gamma (recorded in the result)."""
    cfg = rcfg.cfg
    pcfg = cfg.properties
    trainer = make_trainer(cfg.trainer)
    files = PotentialFiles.in_dir(stage)
    calc = trainer.calculator(files)  # the MD itself without gamma (cheaper); gamma only at the checks
    gamma_fn = None
    try:
        from ..components.ace.common import max_gamma

        gamma_calc = trainer.calculator(files, with_gamma=True)
        gamma_fn = lambda atoms: max_gamma(gamma_calc, atoms)  # noqa: E731
    except Exception as exc:  # noqa: BLE001 - a potential without an active set still gets the other checks
        log.info("no extrapolation grade for the MD stability run (%s)", exc)
    temperature = pcfg.md_temperature or max(c.temperature for c in cfg.exploration.conditions)
    system, _, why = equilibrium.relaxed_system(property_system(rcfg), calc, pcfg)  # at the potential's own volume
    if why is not None:
        log.warning("MD stability: the potential's equilibrium relaxation failed (%s); the configured cell", why)
    t0 = time.perf_counter()
    result = run_md_stability(system.conventional, pcfg.md_supercell, calc, temperature, pcfg.md_steps,
                              cfg.md_timestep_fs(),
                              cfg.exploration.gamma_check_interval, derive_seed(cfg.seed, "md_stability", stage),
                              gamma=gamma_fn)
    wall = round(time.perf_counter() - t0, 3)
    if scale_file:
        scale = read_record(GammaScale, scale_file)
        bound, why = scale.md_max_gamma, scale.reason
    else:
        bound, why = pcfg.tolerances.md_max_gamma, "properties.tolerances.md_max_gamma"
    result = result.model_copy(update={"wall_time_s": wall, "gamma_threshold": bound, "gamma_threshold_reason": why})
    write_model(out_json, result)
    log.info("MD STABILITY %s: %d atoms, %d/%d steps at %g K, max gamma %s (bound %.3g), min distance %.3f Å, "
             "drift %.2g eV/atom (%.1f s)", stage, result.n_atoms, result.steps_run, result.steps,
             temperature, result.max_gamma, result.gamma_threshold, result.min_distance,
             result.max_energy_drift, result.wall_time_s)
    return result


def run_properties(rcfg, stage: str, potential_file: str, label_files: list[str], record_files: list[str],
                   md_file: str | None, out_records: str, out_details: str,
                   equilibrium_files: tuple[str, str] | None = None) -> list[PropertyRecord]:
    """`equilibrium_files`: the oracle's equilibrium (structure, record) from `property_equilibrium`
    (None in cheap mode, where the oracle's labels hold its single point at the potential's)."""
    cfg = rcfg.cfg
    pcfg = cfg.properties
    system = property_system(rcfg)
    pot = {a.info[TASK]: a for a in read_structures(potential_file)}
    orc = {a.info[TASK]: a for f in label_files for a in read_structures(f)}
    failures = [x for f in record_files for x in read_property_label_chunk(f).failures]
    eq_errors = []
    if equilibrium_files:
        relaxed = read_structures(equilibrium_files[0])
        if relaxed:
            orc[equilibrium.TASK] = relaxed[0]
        else:
            eq_errors.append(("oracle", read_oracle_equilibrium(equilibrium_files[1]).failure or "no structure"))
    if system.has_equilibrium and equilibrium.TASK not in pot:
        eq_errors.append(("potential", "relaxation failed (see logs/property_tasks)"))
    p_side, o_side = analyze(pot, system, pcfg), analyze(orc, system, pcfg)
    extra = []
    md = read_md_stability(md_file) if md_file else None
    if md is not None:
        # the MD must keep every pair above the smallest limit its elements can form (candidates.min_distance,
        # per pair: a number, a table, or the covalent-radii default)
        limits = PairLimits.from_setting(cfg.candidates.min_distance, cfg.candidates.min_distance_fraction)
        z = sorted(set(system.conventional.numbers))
        bound = min(limits.pair(a, b) for a in z for b in z)
        extra = md_records(md, pcfg.tolerances, bound)
    records = compare(o_side, p_side, pcfg, extra)
    for side, msg in eq_errors:  # that side's properties were computed at the configured structure
        records.append(PropertyRecord.failed("equilibrium", f"{side}: equilibrium relaxation failed, its properties "
                                             f"are at the configured structure: {msg}"))
    for side, (_, _, errors) in (("oracle", o_side), ("potential", p_side)):
        for group, msg in errors.items():
            records.append(PropertyRecord.failed(group, f"{side}: {msg}"))
    details = PropertyDetails(stage=stage, system=system.kind, element=system.element, crystal=system.crystal,
                              cheap=pcfg.cheap, potential=p_side[1], oracle=o_side[1], oracle_failures=failures,
                              md_stability=md.without_trace() if md is not None else None)
    write_model(out_details, details)
    write_property_records(out_records, records)
    bad = [r.name for r in records if not r.ok]
    log.info("PROPERTIES %s: %d properties, %d out of tolerance%s", stage, len(records), len(bad),
             f" ({', '.join(bad)})" if bad else "")
    for r in records:
        log.info("  %-26s %-8s oracle %-12s potential %-12s ok %s", r.name, r.unit or "", r.oracle, r.potential, r.ok)
    return records


def run_final_properties(src: str, dst: str) -> None:
    """The final potential's records, where the loop hands over its results."""
    copy_file(src, dst)


def disagreement(labelled, calc) -> float:
    """Potential against the oracle's label of one structure: |ΔE| per atom in meV plus the force
    RMSE in units of 10 meV/Å (the loop's usual 1 : 10 ratio of energy to force accuracy)."""
    import numpy as np

    work = labelled.copy()
    work.calc = calc
    de = abs(work.get_potential_energy() - labelled.get_potential_energy()) / len(work)
    df = float(np.sqrt(np.mean((work.get_forces() - labelled.get_forces()) ** 2)))
    return 1000 * de + 100 * df


def run_property_offer(rcfg, potential_dir: str, label_files: list[str], out_offer: str,
                       trained_files: list[str] = ()) -> int:
    """convergence.properties: the oracle-labelled property structures ranked by how badly the
    explored potential reproduces them; the worst `convergence.property_candidates` become candidates.
    Structures already in the training set (`trained_files`: an earlier offer that was selected) are
    not offered again: labelling them twice would only weigh them double."""
    calc = make_trainer(rcfg.cfg.trainer).calculator(PotentialFiles.in_dir(potential_dir))
    trained = {a.info.get("label_hash") or structure_hash(a) for f in trained_files for a in read_structures(f)}
    frames = [a for f in label_files for a in read_structures(f) if structure_hash(a) not in trained]
    scored = sorted(((disagreement(a, calc), k) for k, a in enumerate(frames)), reverse=True)
    offer = []
    for score, k in scored[: rcfg.cfg.convergence.property_candidates]:
        a = _clean(frames[k])
        a.info["generator"] = f"property:{frames[k].info[TASK]}"
        a.info["property_disagreement"] = round(score, 4)
        offer.append(a)
    write_structures(out_offer, offer)
    log.info("PROPERTY OFFER: %d of %d property structures not yet trained on (worst %s)", len(offer), len(frames),
             ", ".join(f"{a.info['generator']}={a.info['property_disagreement']:.3g}" for a in offer[:3]))
    return len(offer)

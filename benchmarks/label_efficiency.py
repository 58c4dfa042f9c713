"""Label efficiency counted in oracle calls (issue 17): the loop against three naive strategies, on
a held-out set harder than the loop's own conditions, over several seeds.

Every strategy of one seed starts from the same labelled and fitted initial set (the config's
rattled and strained copies; the seed changes them) and adds labels on top:

  (a) loop     this pipeline with the config as it is (read at run time, not hard-coded): MD with
               the current potential until gamma > gamma_halt, the swarm around each halt, MaxVol,
               spot checks, until the loop itself ends. Oracle calls = labels.
  (b) aimd     random frames of oracle-driven MD under the loop's exploration conditions (same
               integrator, cells, temperatures, pressure, iteration-0 step budget, frames every
               gamma_check_interval steps). Every MD step is an oracle call, as in AIMD: oracle calls
               = the initial labels + the MD steps each trajectory must run up to the latest frame
               used (a frame is one of those steps, so it is not counted twice).
  (c) md+random  MD with the current potential under the same conditions, n_select frames drawn at
               random per iteration (no gamma, no swarm, no selection), label, refit, repeat.
               Oracle calls = labels.
  (d) rattle   more rattled and strained copies of the starting structures (the initial-data
               generator, strains drawn in the configured range). Oracle calls = labels.

With a portfolio config (issue 29, e.g. --config examples/cu_general/config.yaml) the held-out set is
the portfolio's: per kind, EMT MD of that kind at its temperature, from seed 2024 (not the run's), and
the per-set columns are the kinds; --only-ac runs (a) and (c) alone.

All fits go through the package's own TRAIN step (same trainer, ladder, keep-best), and the loop's
iterations call the same step functions the Snakemake rules call, in the Snakefile's order, so
(a) labels what `mlip-runner run` labels (checked against a real run, RESULTS.md). The held-out
set (`hard_held_out`) is EMT MD of cells the loop never explores: bulk 32/108 atoms at
300-1400 K, a vacancy cell, ±3 % strained cells, a (111) slab and a thermally expanded 108-atom
cell just below melting.

Reported (per target: absolute force RMSEs and the loop's own final error): labels and oracle calls
each strategy needs (mean, min-max over seeds), the oracle-call ratio (a)/(b) and the label ratio
(a)/(c), and every strategy's error at the loop's final label count.

    nice -n 10 .venv/bin/python benchmarks/label_efficiency.py [--config config/config.yaml]
        [--seeds 42 43 44] [--jobs 2] [--quick] [--held-out-cache /tmp/held_out.extxyz]
    .venv/bin/python benchmarks/label_efficiency.py --tables results.json   # reprint the tables
"""

from __future__ import annotations

import os

# Two worker processes on two cores: one BLAS thread each, or the fits oversubscribe the machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from default_run import held_out_frames, md_frames  # noqa: E402
from efficiency_metrics import CurvePoint, cost_ratio, first_reach, md_calls, summarize  # noqa: E402

log = logging.getLogger("label_efficiency")

STRATEGIES = {"a": "loop", "b": "aimd", "c": "md+random", "d": "rattle"}
TARGETS_MEV = (6.0, 5.0, 4.0, 3.5, 3.0, 2.5, 2.0, 1.5)  # absolute force-RMSE targets, meV/Å
GOAL_CALLS, GOAL_LABELS = 0.05, 0.5  # issue 17: (a)/(b) in oracle calls, (a)/(c) in labels


# -- the held-out set ------------------------------------------------------------------------------
def hard_held_out(element: str = "Cu", seed: int = 2024) -> dict[str, list]:
    """default_run's held-out sets (32/108 atoms, vacancy, ±3 % strain at 300-1200 K; unchanged)
    plus what the loop never explores: 1400 K bulk, a (111) slab and a cell just below melting.

    EMT Cu stays crystalline in these cells up to at least 1600 K over 4 ps (no diffusion: RMS
    displacement flat at 0.3 Å), so the near-melting frames are a solid at 1350 K in a cell
    expanded by 2 % (about EMT's zero-pressure volume there), the hottest, most anharmonic crystal.
    """
    from ase.build import bulk, fcc111

    sets = held_out_frames(element)
    rng = np.random.default_rng(seed + 1)  # drawn after default_run's sets, which stay as they were
    a0 = 3.61
    sets["32 atoms 1400 K"] = md_frames(bulk(element, "fcc", a=a0, cubic=True) * (2, 2, 2), 5, rng, (1400,))
    sets["108 atoms 1400 K"] = md_frames(bulk(element, "fcc", a=a0, cubic=True) * (3, 3, 3), 5, rng, (1400,))
    slab = fcc111(element, size=(3, 3, 4), a=a0, vacuum=6.0)
    sets["(111) slab (36 atoms) 300-900 K"] = md_frames(slab, 4, rng, (300, 600, 900))
    hot = bulk(element, "fcc", a=a0 * 1.02, cubic=True) * (3, 3, 3)
    sets["near melting (108 atoms, +2 %, 1350 K)"] = md_frames(hot, 8, rng, (1350,))
    return sets


PORTFOLIO_HELD_OUT_SEED = 2024  # not the loop's seed: these frames are never the run's own held-out set


def portfolio_held_out(config: Path) -> dict[str, list]:
    """With a portfolio config (issue 29): per kind, EMT MD of that kind's structure at its temperature,
    as the validation step makes it (steps/validation.portfolio_frames) but from another seed, so the
    frames are none the run itself scored while its settings were chosen."""
    from mlip_autopipec.components.registry import make_oracle
    from mlip_autopipec.steps.initial import starting_structures
    from mlip_autopipec.steps.validation import portfolio_frames

    rcfg = seed_config(config, PORTFOLIO_HELD_OUT_SEED)
    sets: dict[str, list] = {}
    for frame in portfolio_frames(rcfg, make_oracle(rcfg.cfg.oracle), starting_structures(rcfg)):
        sets.setdefault(frame.info["kind"], []).append(frame)
    return sets


def uses_portfolio(config: Path | None) -> bool:
    if config is None:
        return False
    from mlip_autopipec.domain_models.config import load_config

    return load_config(config).cfg.portfolio.enabled


def load_held_out(cache: Path | None, config: Path | None = None) -> dict[str, list]:
    """The held-out set: `cache` if it exists, else made (the portfolio's kinds with a portfolio
    config, else `hard_held_out`) and written to `cache`."""
    from mlip_autopipec.core.io import read_structures, write_structures

    if cache is not None and cache.exists():
        sets: dict[str, list] = {}
        for frame in read_structures(cache):
            sets.setdefault(frame.info["held_out_set"], []).append(frame)
        return sets
    sets = portfolio_held_out(config) if uses_portfolio(config) else hard_held_out()
    if cache is not None:
        for name, frames in sets.items():
            for frame in frames:
                frame.info["held_out_set"] = name
        write_structures(cache, [f for frames in sets.values() for f in frames])
    return sets


# -- results --------------------------------------------------------------------------------------
@dataclass
class Point:
    strategy: str
    labels: int  # labelled structures the potential was fitted on (initial set included)
    calls: int  # oracle calls spent to get there
    potential: str
    note: str = ""
    force_rmse: float | None = None  # eV/Å, whole held-out set
    energy_rmse: float | None = None  # eV/atom
    per_set: dict = field(default_factory=dict)  # held-out set -> force RMSE, eV/Å

    def curve_point(self) -> CurvePoint:
        return CurvePoint(self.labels, self.calls, self.force_rmse)


def scorer(rcfg, sets: dict[str, list]):
    """A function scoring a potential directory on every held-out set (force RMSE per set and over
    all force components, energy RMSE per atom over all frames)."""
    from mlip_autopipec.components.base import PotentialFiles
    from mlip_autopipec.components.registry import make_trainer

    trainer = make_trainer(rcfg.cfg.trainer)

    def score(point: Point) -> Point:
        calc = trainer.calculator(PotentialFiles.in_dir(point.potential))
        f_all, e_all = [], []
        for name, frames in sets.items():
            f_set = []
            for ref in frames:
                atoms = ref.copy()
                atoms.calc = calc
                f_set.append((atoms.get_forces() - ref.get_forces()).ravel())
                e_all.append((atoms.get_potential_energy() - ref.get_potential_energy()) / len(atoms))
            f_set = np.concatenate(f_set)
            point.per_set[name] = float(np.sqrt(np.mean(f_set**2)))
            f_all.append(f_set)
        point.force_rmse = float(np.sqrt(np.mean(np.concatenate(f_all) ** 2)))
        point.energy_rmse = float(np.sqrt(np.mean(np.square(e_all))))
        log.info("%s %d labels %d calls: F %.2f meV/Å (%s)", point.strategy, point.labels, point.calls,
                 1000 * point.force_rmse, point.note)
        return point

    return score


# -- shared pieces: the package's steps ------------------------------------------------------------
def seed_config(config: Path, seed: int):
    from mlip_autopipec.domain_models.config import load_config

    rcfg = load_config(config)
    rcfg.cfg = rcfg.cfg.model_copy(update={"seed": seed})
    return at_oracle_lattice(rcfg)


def at_oracle_lattice(rcfg):
    """The run's initial job puts the starting crystals at the oracle's lattice constant
    (initial_data.oracle_lattice, initial/lattice.json) before any job builds them; the strategies here
    call the steps without that file, so the config gets the fitted values written into its specs (the
    same structures: the equation of state is deterministic)."""
    import tempfile

    from mlip_autopipec.components.registry import make_oracle
    from mlip_autopipec.sampling.oracle_lattice import with_oracle_lattice
    from mlip_autopipec.steps.lattice import compute_lattice

    if not rcfg.cfg.initial_data.oracle_lattice:
        return rcfg
    with tempfile.TemporaryDirectory() as cache:
        record = compute_lattice(rcfg, make_oracle(rcfg.cfg.oracle), cache)
    data = rcfg.cfg.initial_data.model_copy(update={"oracle_lattice": False})
    rcfg.cfg = rcfg.cfg.model_copy(update={"structures": with_oracle_lattice(rcfg.cfg.structures, record),
                                           "initial_data": data})
    return rcfg


def label_stage(rcfg, workdir: Path, stage: str) -> int:
    """LABEL one stage: the rule's step for one chunk, then the gather step."""
    from mlip_autopipec.core import layout as L
    from mlip_autopipec.core.io import count_frames
    from mlip_autopipec.steps.label import run_gather_labels, run_label_chunk

    d = workdir / stage
    run_label_chunk(rcfg, stage, str(d / "selected.xyz"), 0, 10**6, str(d / "label_jobs/0.extxyz"),
                    str(d / "label_jobs/0.json"), str(d / "label_cache"))
    run_gather_labels(stage, [str(d / "label_jobs/0.extxyz")], [str(d / "label_jobs/0.json")],
                      str(workdir / L.labels(stage)), str(workdir / L.labels_failed(stage)))
    return count_frames(workdir / L.labels(stage))


def train(rcfg, workdir: Path, stage: str, label_files: list[Path], out_dir: Path, previous: Path | None) -> None:
    """TRAIN: the rule's step (ladder, keep-best against `previous`), no validation file."""
    from mlip_autopipec.core import layout as L
    from mlip_autopipec.steps.train import run_train

    run_train(rcfg, stage, [str(f) for f in label_files], str(workdir / L.REFERENCE_ENERGIES), str(out_dir),
              str(previous) if previous else None, None, str(out_dir / "train.json"))


def initial_stage(rcfg, base: Path) -> int:
    """The rules' INITIAL steps in `base`: structures, reference energies, labels, first fit."""
    from mlip_autopipec.core import layout as L
    from mlip_autopipec.steps.initial import run_initial_structures, run_reference_energies

    base.mkdir(parents=True, exist_ok=True)
    run_initial_structures(rcfg, str(base / L.selected(L.INITIAL)))
    run_reference_energies(rcfg, str(base / L.REFERENCE_ENERGIES))
    n = label_stage(rcfg, base, L.INITIAL)
    train(rcfg, base, L.INITIAL, [base / L.labels(L.INITIAL)], base / L.INITIAL, None)
    return n


def initial_task(config: Path, seed: int, root: Path, verbose: bool) -> int:
    """The seed's initial set: structures, reference energies, labels, first fit."""
    _setup_logging(verbose)
    return initial_stage(seed_config(config, seed), root / f"seed_{seed}" / "base")


def copy_base(root: Path, seed: int, name: str) -> Path:
    from mlip_autopipec.core import layout as L

    base, d = root / f"seed_{seed}" / "base", root / f"seed_{seed}" / name
    d.mkdir(parents=True)
    shutil.copytree(base / L.INITIAL, d / L.INITIAL)
    shutil.copy(base / L.REFERENCE_ENERGIES, d / L.REFERENCE_ENERGIES)
    return d


# -- (a) the loop ---------------------------------------------------------------------------------
def run_loop(rcfg, workdir: Path, initial: Point) -> list[Point]:
    """The Snakefile's iteration, step by step: explore every condition, gate (spot checks
    included), collect halts, candidates, select, label, train on all labels so far."""
    from mlip_autopipec.core import layout as L
    from mlip_autopipec.domain_models.state import Action
    from mlip_autopipec.steps.explore import run_explore
    from mlip_autopipec.steps.gate import run_gate
    from mlip_autopipec.steps.refine import run_candidates, run_collect_halts, run_select

    cfg = rcfg.cfg
    points = [replace(initial, strategy="a")]
    conds = [c.name for c in cfg.exploration.conditions]
    labels, n = initial.labels, 0
    while True:
        stage, pot = L.iter_dir(n), workdir / L.potential_stage_for(n)
        recs = [str(workdir / L.explore_record(n, c)) for c in conds]
        frames = [str(workdir / L.explore_frames(n, c)) for c in conds]
        samples = [str(workdir / L.explore_samples(n, c)) for c in conds]
        # exploration.adaptive_gamma (opt-in, newer than this script): the rule's calibration input
        adaptive = getattr(getattr(cfg.exploration, "adaptive_gamma", None), "enabled", False)
        calibration = ([str(workdir / L.train_record(L.iter_dir(k))) for k in range(n)],) if adaptive else ()
        for c, rec, frm, smp in zip(conds, recs, frames, samples):
            run_explore(rcfg, n, c, str(pot), rec, frm, smp, *calibration)
        previous_train = str(workdir / L.train_record(L.iter_dir(n - 1))) if n > 0 else None
        decision = run_gate(rcfg, n, recs, [str(workdir / L.decision(k)) for k in range(n)],
                            str(workdir / L.decision(n)), None, [], previous_train)
        if decision.action is not Action.CONTINUE:
            points[-1].note += f"; iteration {n}: {decision.action.value}"
            return points
        run_collect_halts(recs, frames, str(workdir / L.halt(n)))
        run_candidates(rcfg, n, str(workdir / L.halt(n)), frames, str(pot), str(workdir / L.candidates(n)),
                       [], str(workdir / L.decision(n)), samples)
        run_select(rcfg, n, str(workdir / L.candidates(n)), str(pot), str(workdir / L.selected(stage)))
        labels += label_stage(rcfg, workdir, stage)
        train(rcfg, workdir, stage, [workdir / L.labels(s) for s in L.stages_up_to(stage)], workdir / stage,
              workdir / L.previous_stage(stage))
        note = f"iteration {n}" + (" (spot checks)" if decision.spot_check else "")
        points.append(Point("a", labels, labels, str(workdir / stage), note))
        n += 1


# -- MD under the loop's conditions (b: the oracle drives it; c: the current potential) -----------
def md_under_conditions(rcfg, calculator, seed_tag: tuple, last_step: dict[str, int] | None = None) -> list:
    """Frames every gamma_check_interval steps of MD under each exploration condition, with the
    loop's integrator, thermostat, starting structure and iteration-0 budget; `last_step` (condition
    -> step) ends runs early (a condition absent from it is not run). A run that turns unphysical
    (NaN, atoms < 0.5 Å apart) ends there. Each frame's info has `condition` and `step`."""
    from mlip_autopipec.components.dynamics.ase_md import AseMD, is_unphysical
    from mlip_autopipec.core.seeds import derive_seed
    from mlip_autopipec.steps.initial import starting_structures

    cfg = rcfg.cfg
    md = AseMD(cfg.dynamics, cfg.exploration)
    stride, budget = cfg.exploration.gamma_check_interval, cfg.exploration_steps(0)
    structures = starting_structures(rcfg)
    pool = []
    for cond in cfg.exploration.conditions:
        end = budget if last_step is None else last_step.get(cond.name, 0)
        if end <= 0:
            continue
        seed = derive_seed(cfg.seed, *seed_tag, cond.name)
        atoms = md._prepare(structures[cond.structure], cond, seed)
        atoms.calc = calculator
        dyn = md._integrator(atoms, cond, np.random.default_rng([seed, 1]))
        for step in range(stride, end + 1, stride):
            try:
                dyn.run(stride)
            except (ValueError, RuntimeError):
                if not is_unphysical(atoms):
                    raise
                log.warning("%s: MD turned unphysical before step %d", cond.name, step)
                break
            if is_unphysical(atoms):
                log.warning("%s: MD turned unphysical at step %d", cond.name, step)
                break
            frame = atoms.copy()
            frame.set_constraint()
            frame.calc = None
            frame.info = {"condition": cond.name, "step": step}
            pool.append(frame)
    return pool


def frames_in_pool(rcfg) -> list[tuple[str, int]]:
    """(condition, step) of every frame a full run of `md_under_conditions` yields."""
    stride, budget = rcfg.cfg.exploration.gamma_check_interval, rcfg.cfg.exploration_steps(0)
    return [(c.name, s) for c in rcfg.cfg.exploration.conditions for s in range(stride, budget + 1, stride)]


def fit_subsets(rcfg, workdir: Path, strategy: str, initial: Point, labelled: list, calls_of, sizes, score,
                note_of) -> list[Point]:
    """(b), (d): fit the initial labels plus the first k of `labelled` for each k in `sizes`, in
    turn, each with the previous fit as the TRAIN step's `previous` (keep-best, as the loop)."""
    from mlip_autopipec.core import layout as L
    from mlip_autopipec.core.io import write_structures

    points = [replace(initial, strategy=strategy)]
    previous = workdir / L.INITIAL
    for k in sizes:
        if k > len(labelled):
            break
        d = workdir / f"{strategy}_{k:03d}"
        write_structures(d / "labels.extxyz", labelled[:k])
        # the previous size's potential as `previous`: keep-best as in the loop's iterations
        train(rcfg, workdir, d.name, [workdir / L.labels(L.INITIAL), d / "labels.extxyz"], d, previous)
        previous = d
        points.append(score(Point(strategy, initial.labels + k, calls_of(k), str(d), note_of(k))))
    return points


def run_aimd(rcfg, workdir: Path, initial: Point, sizes: list[int], score) -> list[Point]:
    """(b): random frames of oracle-driven MD; oracle calls = initial labels + MD steps needed."""
    from mlip_autopipec.components.registry import make_oracle
    from mlip_autopipec.core.seeds import derive_seed

    oracle = make_oracle(rcfg.cfg.oracle)
    pool = md_under_conditions(rcfg, oracle.calculator(), ("aimd",))
    order = np.random.default_rng(derive_seed(rcfg.cfg.seed, "aimd-frames")).permutation(len(pool))
    used = [pool[i] for i in order[: max(sizes)]]
    labelled = [oracle.label(a) for a in used]
    where = [(a.info["condition"], a.info["step"]) for a in used]

    def calls(k: int) -> int:
        return initial.labels + md_calls(where[:k])

    return fit_subsets(rcfg, workdir, "b", initial, labelled, calls, sizes, score,
                       lambda k: f"{k} of {len(pool)} frames, {md_calls(where[:k])} MD steps")


def run_rattle(rcfg, workdir: Path, initial: Point, sizes: list[int], score) -> list[Point]:
    """(d): more rattled and strained copies (the initial-data generator; strains drawn uniformly in
    the configured range so that the copies are not the same few volumes again)."""
    from mlip_autopipec.components.registry import make_oracle
    from mlip_autopipec.core.seeds import rng_for
    from mlip_autopipec.sampling.structures import initial_training_structures
    from mlip_autopipec.steps.initial import starting_structures

    cfg = rcfg.cfg
    idata = cfg.initial_data
    lo, hi = min(idata.strains, default=0.0), max(idata.strains, default=0.0)
    structures = starting_structures(rcfg)
    copies = []
    for batch in range(100):
        rng = rng_for(cfg.seed, "rattle-copies", batch)
        strains = [float(s) for s in rng.uniform(lo, hi, len(idata.strains))]
        more = initial_training_structures(structures, idata.model_copy(update={"strains": strains}), rng)
        copies += [a for a in more if a.info.get("source") != "initial:original"]
        if len(copies) >= max(sizes):
            break
    order = rng_for(cfg.seed, "rattle-order").permutation(len(copies))
    oracle = make_oracle(cfg.oracle)
    labelled = [oracle.label(copies[i]) for i in order[: max(sizes)]]
    return fit_subsets(rcfg, workdir, "d", initial, labelled, lambda k: initial.labels + k, sizes, score,
                       lambda k: f"{k} copies")


def run_md_random(rcfg, workdir: Path, initial: Point, score, enough) -> list[Point]:
    """(c): per iteration, MD with the current potential under the loop's conditions and n_select
    frames drawn at random from it (no gamma, no swarm, no selection); label, refit on all labels
    (the same TRAIN step, keep-best against the previous potential). The frames are drawn before
    the MD runs and each run stops at its last drawn frame: the same draw as running every condition
    to the end, for less MD. Runs until `enough(points)` says every ratio is decided."""
    from mlip_autopipec.components.base import PotentialFiles
    from mlip_autopipec.components.registry import make_oracle, make_trainer
    from mlip_autopipec.core import layout as L
    from mlip_autopipec.core.io import write_structures
    from mlip_autopipec.core.seeds import derive_seed

    cfg = rcfg.cfg
    oracle, trainer = make_oracle(cfg.oracle), make_trainer(cfg.trainer)
    candidates = frames_in_pool(rcfg)
    points = [replace(initial, strategy="c")]
    label_files, pot, n = [workdir / L.labels(L.INITIAL)], workdir / L.INITIAL, 0
    while not enough(points):
        rng = np.random.default_rng(derive_seed(cfg.seed, "md-random", n))
        drawn = [candidates[i] for i in rng.choice(len(candidates), cfg.selection.n_select, replace=False)]
        last = {}
        for cond, step in drawn:
            last[cond] = max(step, last.get(cond, 0))
        pool = md_under_conditions(rcfg, trainer.calculator(PotentialFiles.in_dir(pot)), ("md-random", n), last)
        by_key = {(a.info["condition"], a.info["step"]): a for a in pool}
        picked = [by_key[k] for k in drawn if k in by_key]
        missing = len(drawn) - len(picked)
        if missing:  # a run turned unphysical before a drawn frame: draw from what it produced
            rest = [a for k, a in by_key.items() if k not in set(drawn)]
            picked += [rest[i] for i in rng.choice(len(rest), min(missing, len(rest)), replace=False)]
        stage = f"c_{n:03d}"
        write_structures(workdir / stage / "labels.extxyz", [oracle.label(a) for a in picked])
        label_files.append(workdir / stage / "labels.extxyz")
        train(rcfg, workdir, stage, label_files, workdir / stage, pot)
        pot = workdir / stage
        labels = points[-1].labels + len(picked)
        note = f"iteration {n}" + (f" ({missing} frame(s) redrawn: MD unphysical)" if missing else "")
        points.append(score(Point("c", labels, labels, str(pot), note)))
        n += 1
    return points


# -- tasks (one process each; ResolvedConfig does not pickle, so each reloads the config) ----------
def targets_reached_by(points: list[Point]) -> list[float]:
    """The targets whose ratio needs the other strategies' costs: the absolute ones this curve
    reaches and its own final error."""
    curve = [p.curve_point() for p in points]
    return [t / 1000 for t in TARGETS_MEV if first_reach(curve, t / 1000) is not None] + [points[-1].force_rmse]


def _initial_point(score, root: Path, seed: int, n_initial: int) -> Point:
    return score(Point("initial", n_initial, n_initial, str(root / f"seed_{seed}" / "base" / "initial"), "initial"))


def loop_task(config: Path, seed: int, root: Path, n_initial: int, held_out: Path, verbose: bool) -> dict:
    """(a): the loop until it ends itself."""
    _setup_logging(verbose)
    rcfg = seed_config(config, seed)
    score = scorer(rcfg, load_held_out(held_out))
    initial = _initial_point(score, root, seed, n_initial)
    t0 = time.perf_counter()
    loop = run_loop(rcfg, copy_base(root, seed, "a_loop"), initial)
    loop = loop[:1] + [score(p) for p in loop[1:]]
    return {"seed": seed, "a": loop, "times": {"a": time.perf_counter() - t0}}


def md_random_task(config: Path, seed: int, root: Path, n_initial: int, held_out: Path, loop: list[Point],
                   max_labels: int, verbose: bool) -> dict:
    """(c), run until it has reached every target the loop reached (the loop's final error
    included) and has at least the loop's labels, or twice the loop's labels (beyond that the
    label ratio is below 0.5 whatever (c) does), or `max_labels`."""
    _setup_logging(verbose)
    rcfg = seed_config(config, seed)
    sets = load_held_out(held_out)
    score = scorer(rcfg, sets)
    needed, cap = targets_reached_by(loop), min(max_labels, 2 * loop[-1].labels)
    # the slab dominates the whole-set RMSE and no strategy labels a surface: (c) must also reach the
    # loop's final error without it, or the label ratio of that view stays undecided
    atoms = set_sizes(sets)
    bulk_final = _force_rmse(asdict(loop[-1]), atoms, SLAB)

    def enough(points: list[Point]) -> bool:
        curve = [p.curve_point() for p in points]
        if points[-1].labels >= cap:
            return True
        bulk_reached = any(_force_rmse(asdict(p), atoms, SLAB) <= bulk_final for p in points[1:])
        return (points[-1].labels >= loop[-1].labels and bulk_reached
                and all(first_reach(curve, t) is not None for t in needed))

    t0 = time.perf_counter()
    md_random = run_md_random(rcfg, copy_base(root, seed, "c_md_random"), replace(loop[0]), score, enough)
    return {"seed": seed, "c": md_random, "times": {"c": time.perf_counter() - t0}}


def aimd_and_rattle_task(config: Path, seed: int, root: Path, n_initial: int, held_out: Path, sizes: list[int],
                         verbose: bool) -> dict:
    """(b) and (d), fitted at `sizes` labels added (the loop's own count among them)."""
    _setup_logging(verbose)
    rcfg = seed_config(config, seed)
    score = scorer(rcfg, load_held_out(held_out))
    initial = _initial_point(score, root, seed, n_initial)
    t0 = time.perf_counter()
    aimd = run_aimd(rcfg, copy_base(root, seed, "b_aimd"), initial, sizes, score)
    t1 = time.perf_counter()
    rattle = run_rattle(rcfg, copy_base(root, seed, "d_rattle"), initial, sizes, score)
    return {"seed": seed, "b": aimd, "d": rattle,
            "times": {"b": t1 - t0, "d": time.perf_counter() - t1}}


def held_out_task(cache: Path, verbose: bool, config: Path | None = None) -> dict:
    """{set: [frames, atoms]} of the held-out set (made and cached on the way)."""
    _setup_logging(verbose)
    return set_sizes(load_held_out(cache, config))


def set_sizes(sets: dict[str, list]) -> dict[str, list[int]]:
    """{set: [frames, atoms]}: the atoms weigh each set in the pooled force RMSEs (_force_rmse)."""
    return {name: [len(frames), sum(len(f) for f in frames)] for name, frames in sets.items()}


# -- tables ---------------------------------------------------------------------------------------
def _mev(x: float | None) -> str:
    return "-" if x is None else f"{1000 * x:.2f}"


def _spread(values: list[int | None]) -> str:
    """mean (min-max) of the seeds that reached, with how many did when not all."""
    got = [v for v in values if v is not None]
    if not got:
        return "not reached"
    text = f"{np.mean(got):.0f}" + (f" ({min(got)}-{max(got)})" if len(got) > 1 else "")
    return text + ("" if len(got) == len(values) else f" [{len(got)}/{len(values)} seeds]")


SLAB = "(111) slab"  # prefix of the held-out set left out of the second view


def _force_rmse(point: dict, held_out: dict, exclude: str | None) -> float:
    """The point's force RMSE over all held-out sets but those named `exclude...` (pooled over
    force components: each set weighs by its atoms)."""
    if exclude is None:
        return point["force_rmse"]
    sets = [k for k in held_out if not k.startswith(exclude)]
    atoms = np.array([held_out[k][1] for k in sets], dtype=float)
    return float(np.sqrt(np.sum(atoms * np.square([point["per_set"][k] for k in sets])) / atoms.sum()))


def _curves(res: dict, seed: int, exclude: str | None = None) -> dict[str, list[CurvePoint]]:
    return {s: [CurvePoint(p["labels"], p["calls"], _force_rmse(p, res["held_out"], exclude))
                for p in res["seeds"][str(seed)][s]] for s in STRATEGIES}


def _agg(values: list[float], digits: int = 2) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def target_table(res: dict, exclude: str | None = None) -> dict:
    """Labels and oracle calls to reach each target, and the ratios; returns the ratios per target."""
    seeds = [int(s) for s in res["seeds"]]
    curves = {seed: _curves(res, seed, exclude) for seed in seeds}
    finals = {seed: curves[seed]["a"][-1].force_rmse for seed in seeds}
    print("| target meV/Å | (a) loop labels | (b) aimd oracle calls | (b) labels | (c) md+random labels "
          "| (d) rattle labels | oracle-call ratio (a)/(b) | label ratio (a)/(c) | (a)/(d) labels |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    out = {}
    for name, target in [(f"{t:.1f}", t / 1000) for t in TARGETS_MEV] + [("final", None)]:
        cost = {k: [] for k in ("a", "b_calls", "b", "c", "d")}
        ratios = {"ab": [], "ac": [], "ad": []}
        for seed in seeds:
            cv, t = curves[seed], finals[seed] if target is None else target
            a, b_calls = first_reach(cv["a"], t), first_reach(cv["b"], t, "calls")
            if target is None:  # the loop's final error costs all the loop spent (its spot checks too)
                a = cv["a"][-1].labels
            b, c, d = first_reach(cv["b"], t), first_reach(cv["c"], t), first_reach(cv["d"], t)
            for k, v in (("a", a), ("b_calls", b_calls), ("b", b), ("c", c), ("d", d)):
                cost[k].append(v)
            ratios["ab"].append(cost_ratio(a, b_calls, max(p.calls for p in cv["b"])))
            ratios["ac"].append(cost_ratio(a, c, max(p.labels for p in cv["c"])))
            ratios["ad"].append(cost_ratio(a, d, max(p.labels for p in cv["d"])))
        if all(v is None for v in cost["a"]) and all(v is None for v in cost["c"]) and all(v is None for v in cost["b"]):
            continue  # nobody reaches it: no row
        if target is not None and all(curves[seed]["a"][0].force_rmse <= target for seed in seeds):
            continue  # the shared initial fit reaches it already
        cells = []
        for key in ("ab", "ac", "ad"):
            mean, lo, hi = summarize(ratios[key])
            cells.append(mean.text() + ("" if lo is None or len(seeds) == 1 else f" ({lo:.3f}-{hi:.3f})"))
        out[name] = ratios
        shown = name if target is not None else "loop's final: " + ", ".join(_mev(finals[s]) for s in seeds)
        print(f"| {shown} | {_spread(cost['a'])} | {_spread(cost['b_calls'])} | {_spread(cost['b'])} | "
              f"{_spread(cost['c'])} | {_spread(cost['d'])} | {' | '.join(cells)} |")
    return out


def headline_lines(ratios: dict, n_seeds: int, what: str) -> None:
    for key, goal, name in (("ab", GOAL_CALLS, "oracle-call ratio (a)/(b)"), ("ac", GOAL_LABELS, "label ratio (a)/(c)")):
        per = ratios["final"][key]
        mean, lo, hi = summarize(per)
        if mean.value is not None and max(r.value for r in per) <= goal:
            verdict = "met in every seed"
        elif any(r.value is not None and not r.bound and r.value > goal for r in per):
            verdict = "NOT met"
        else:
            verdict = "undecided (a bound above the goal: the other strategy stopped before reaching the target)"
        print(f"* {name} to reach the loop's own final force RMSE on {what}: {mean.text()} (mean of {n_seeds} "
              f"seeds; per seed {', '.join(r.text() for r in per)}); goal <= {goal}: {verdict}.")


def ac_lines(res: dict) -> None:
    """(a) against (c) alone (--only-ac): labels (c) needs to reach the loop's final whole-set force
    RMSE, per seed, and the label ratio (a)/(c) (a bound when (c) never reaches it)."""
    print("\n### (a) loop against (c) MLIP-MD + random frames, whole held-out set\n")
    print("| seed | (a) labels | (a) final F meV/Å | (c) labels to reach it | label ratio (a)/(c) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    ratios = []
    for seed, runs in res["seeds"].items():
        if "a" not in runs or "c" not in runs:
            continue
        a = [CurvePoint(p["labels"], p["calls"], p["force_rmse"]) for p in runs["a"]]
        c = [CurvePoint(p["labels"], p["calls"], p["force_rmse"]) for p in runs["c"]]
        reach = first_reach(c, a[-1].force_rmse)
        ratio = cost_ratio(a[-1].labels, reach, max(p.labels for p in c))
        ratios.append(ratio)
        print(f"| {seed} | {a[-1].labels} | {_mev(a[-1].force_rmse)} | {reach if reach is not None else '-'} | "
              f"{ratio.text()} |")
    if ratios:
        mean, lo, hi = summarize(ratios)
        print(f"\nmean label ratio (a)/(c): {mean.text()} over {len(ratios)} seed(s)")


def print_tables(res: dict) -> None:
    """Markdown tables; seeds whose four strategies are not all finished (a partial results file)
    show their learning curves only."""
    held_out = res["held_out"]
    partial = [int(s) for s, runs in res["seeds"].items() if not all(k in runs for k in STRATEGIES)]
    if partial:
        print(f"\n(partial results: seeds {partial} have not finished every strategy)")
        ac_lines(res)
    print(f"\n### Held-out set: {sum(v[0] for v in held_out.values())} EMT frames\n")
    print("| set | frames | atoms |\n| --- | ---: | ---: |")
    for name, (n, atoms) in held_out.items():
        print(f"| {name} | {n} | {atoms} |")

    for seed in [int(s) for s in res["seeds"]]:
        runs = res["seeds"][str(seed)]
        print(f"\n### Seed {seed}: learning curves ({runs['n_initial']} initial labels)\n")
        print("| strategy | labels | oracle calls | F RMSE meV/Å | F without slab | E RMSE meV/atom | note |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for s, name in STRATEGIES.items():
            for p in runs.get(s, []):
                print(f"| ({s}) {name} | {p['labels']} | {p['calls']} | {_mev(p['force_rmse'])} | "
                      f"{_mev(_force_rmse(p, held_out, SLAB))} | {_mev(p['energy_rmse'])} | {p['note']} |")

    res = {**res, "seeds": {k: v for k, v in res["seeds"].items() if int(k) not in partial}}
    seeds = [int(s) for s in res["seeds"]]
    if not seeds:
        return
    print("\n### Cost to reach a held-out force-RMSE target, whole held-out set (mean (min-max) over seeds)\n")
    whole = target_table(res)
    print("\n### The same without the (111) slab (no strategy ever labels a surface)\n")
    no_slab = target_table(res, SLAB)
    print("\nA ratio '< x' is a bound: the other strategy did not reach the target with the most it spent "
          "(the true ratio is below x); '-': the loop did not reach it in at least one seed. "
          "Rows no strategy reaches are left out.")

    print("\n### At the loop's final label count (mean (min-max) over seeds; F RMSE meV/Å)\n")
    print("| strategy | labels | oracle calls | F all | F without slab | E meV/atom | " + " | ".join(held_out) + " |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(held_out))
    for s, name in STRATEGIES.items():
        pts = []
        for seed in seeds:
            runs = res["seeds"][str(seed)]
            pts.append(max((p for p in runs[s] if p["labels"] <= runs["a"][-1]["labels"]), key=lambda p: p["labels"]))
        cols = [_agg([1000 * p["per_set"][k] for p in pts]) for k in held_out]
        print(f"| ({s}) {name} | {_agg([p['labels'] for p in pts], 0)} | {_agg([p['calls'] for p in pts], 0)} | "
              f"{_agg([1000 * p['force_rmse'] for p in pts])} | "
              f"{_agg([1000 * _force_rmse(p, held_out, SLAB) for p in pts])} | "
              f"{_agg([1000 * p['energy_rmse'] for p in pts], 3)} | " + " | ".join(cols) + " |")
    print("\n(c) adds n_select labels per iteration; its row is the largest count not above the loop's.")

    print("\n### Headline\n")
    headline_lines(whole, len(seeds), "the whole held-out set")
    headline_lines(no_slab, len(seeds), "the held-out set without the slab")
    print(f"\nwall time {res['wall']:.0f} s (load average of the shared machine in RESULTS.md); per task: " + ", ".join(
        f"seed {seed} ({s}) {t:.0f} s" for seed in seeds for s, t in res["seeds"][str(seed)]["times"].items()))


# -- main -------------------------------------------------------------------------------------------
def _one_core_worker() -> None:
    """A worker process of the pool fits with one core: the linear fit's design matrix otherwise
    forks one process per CPU, and two workers would run four processes on two cores."""
    import mlip_autopipec.components.trainers.linear_ace as linear_ace

    linear_ace._available_cpus = lambda: 1


def _setup_logging(verbose: bool) -> None:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # ASE's Langevin(fixcm) deprecation
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, force=True,
                        format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    if verbose:  # the package's own step logs are too many; the benchmark's are enough
        logging.getLogger("mlip_autopipec").setLevel(logging.WARNING)


def run(args) -> dict:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    t0 = time.perf_counter()
    if args.resume:  # a run that stopped: its work directory, config snapshot and finished loops
        res = json.loads(Path(args.resume).read_text())
        root = Path(res["root"])
        t0 -= res.get("wall", 0.0)
    else:
        root = Path(tempfile.mkdtemp(prefix="mlip_label_eff_", dir=args.workdir))
        res = {"config": str(Path(args.config).resolve()), "root": str(root), "seeds": {}}
        # every task reads this copy: the config may change while the benchmark runs
        shutil.copy(args.config, root / "config.yaml")
    config = root / "config.yaml"
    held_out = Path(args.held_out_cache) if args.held_out_cache else root / "held_out.extxyz"
    res["held_out_file"] = str(held_out)
    print(f"# label efficiency (config {res['config']}, work directory {root})", flush=True)

    def record(out: dict, n_initial: int) -> None:
        entry = res["seeds"].setdefault(str(out["seed"]), {"n_initial": n_initial, "times": {}})
        entry["times"].update(out.pop("times"))
        for s in STRATEGIES:
            if s in out:
                entry[s] = [asdict(p) for p in out[s]]
        if args.json:  # after every task: a late failure keeps what was measured
            Path(args.json).write_text(json.dumps({**res, "wall": time.perf_counter() - t0}, indent=1))

    def after_loop(pool, seed: int, loop: list[Point], n_initial: int) -> set:
        """(c) and (b)+(d) of a seed whose loop has finished, unless they have too."""
        have, tasks = res["seeds"].get(str(seed), {}), set()
        if "c" not in have:
            shutil.rmtree(root / f"seed_{seed}" / "c_md_random", ignore_errors=True)
            tasks.add(pool.submit(md_random_task, config, seed, root, n_initial, held_out, loop,
                                  args.max_labels_c, args.verbose))
        if ("b" not in have or "d" not in have) and not args.only_ac:
            for d in ("b_aimd", "d_rattle"):
                shutil.rmtree(root / f"seed_{seed}" / d, ignore_errors=True)
            sizes = sorted(set(args.sizes) | {loop[-1].labels - n_initial})
            tasks.add(pool.submit(aimd_and_rattle_task, config, seed, root, n_initial, held_out, sizes, args.verbose))
        return tasks

    with ProcessPoolExecutor(max_workers=args.jobs, initializer=_one_core_worker if args.jobs > 1 else None) as pool:
        if args.resume:
            running = set()
            for seed, entry in res["seeds"].items():
                running |= after_loop(pool, int(seed), [Point(**p) for p in entry["a"]], entry["n_initial"])
            n_initial = {int(seed): entry["n_initial"] for seed, entry in res["seeds"].items()}
        else:
            ho = pool.submit(held_out_task, held_out, args.verbose, config)
            initial = {seed: pool.submit(initial_task, config, seed, root, args.verbose) for seed in args.seeds}
            res["held_out"] = ho.result()
            n_initial = {seed: f.result() for seed, f in initial.items()}
            # the loops first; each finished loop releases its seed's (c) and (b)+(d), which need its
            # results (the targets (c) must reach, the loop's label count as one of (b)/(d)'s sizes)
            running = {pool.submit(loop_task, config, seed, root, n_initial[seed], held_out, args.verbose)
                       for seed in args.seeds}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                out = fut.result()
                seed = out["seed"]
                loop = out.get("a")
                record(out, n_initial[seed])
                if loop is not None:
                    running |= after_loop(pool, seed, loop, n_initial[seed])
    res["wall"] = time.perf_counter() - t0
    if not args.keep:
        shutil.rmtree(root)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"),
                    help="the loop's config, read as it is (default: this checkout's config/config.yaml)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40, 70],
                    help="labels added to the initial set at which (b) and (d) are fitted")
    ap.add_argument("--max-labels-c", type=int, default=140, help="most labels (c) may reach")
    ap.add_argument("--quick", action="store_true",
                    help="development: one seed, (b)/(d) at 3 sizes, (c) to at most 60 labels")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (one BLAS thread each)")
    ap.add_argument("--held-out-cache", default=None, help="extxyz of the held-out set: read if it exists, else written")
    ap.add_argument("--workdir", default=None, help="parent of the work directory (default: the system's temp)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--tables", default=None, help="only print the tables of a results JSON written by --json")
    ap.add_argument("--resume", default=None,
                    help="finish a stopped run from its --json file (its loops are kept; with --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--only-ac", action="store_true",
                    help="only (a) the loop and (c) MLIP-MD + random frames (e.g. a portfolio config, whose "
                         "liquid and slabs make oracle-driven MD (b) costly)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    _setup_logging(args.verbose)
    if args.tables:
        print_tables(json.loads(Path(args.tables).read_text()))
        return 0
    if args.quick:
        args.seeds, args.sizes, args.max_labels_c = args.seeds[:1], [10, 20, 40], 60
    res = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print_tables(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())

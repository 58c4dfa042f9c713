"""Labels needed to reach a force-RMSE target: this loop vs random MD frames vs the loop without
its swarm, at equal label budgets, on held-out EMT MD frames.

Strategies (all start from the same initial data, labelled and fitted once, and add labels on top):

  (a) loop      this loop: MD with the current potential until gamma > gamma_halt, local swarm
                around every halt (rattle, MD burst, normal modes), MaxVol picks n_select, label, refit
  (b) random    random frames from plain MD (the oracle drives it) under the same exploration
                conditions (temperature, pressure, structure, steps), labelled in increments of n_select
  (c) halts     the loop without the swarm: only the halt frames are labelled

Steps are called through the package (the same functions the Snakemake rules call), not through
Snakemake, so the three strategies share one initial fit and one held-out set (the three run in
parallel processes). Every potential is scored on the held-out set (Cu: `default_run.held_out_frames`;
CuNi: the same kind of EMT MD frames of the alloy cell and a 3x3x3 alloy cell). The tables give
the learning curves, then the labels (initial set included) each strategy needs to reach force-RMSE
targets set as fractions of the initial fit's error (a sweep; `--target-frac` marks the headline
one), and the ratio (a)/(b). Strategy (b) is also fitted beyond the equal budget (`--random-beyond`)
so that the ratio has a value, not only a bound, when random frames need more labels.

    .venv/bin/python benchmarks/label_efficiency.py [--systems Cu CuNi] [--budget 30]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from default_run import held_out_frames  # noqa: E402
from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.dynamics.ase_md import AseMD  # noqa: E402
from mlip_autopipec.components.registry import make_oracle, make_trainer  # noqa: E402
from mlip_autopipec.core import layout as L  # noqa: E402
from mlip_autopipec.core.candidate_generator import strip_results  # noqa: E402
from mlip_autopipec.core.io import count_frames, read_structures, write_structures  # noqa: E402
from mlip_autopipec.core.metrics import rmse_metrics  # noqa: E402
from mlip_autopipec.core.seeds import derive_seed  # noqa: E402
from mlip_autopipec.core.structures import build_structures  # noqa: E402
from mlip_autopipec.domain_models.config import load_config  # noqa: E402
from mlip_autopipec.domain_models.state import Action  # noqa: E402
from mlip_autopipec.steps.explore import run_explore  # noqa: E402
from mlip_autopipec.steps.gate import run_gate  # noqa: E402
from mlip_autopipec.steps.initial import run_initial_structures, run_reference_energies, starting_structures  # noqa: E402
from mlip_autopipec.steps.label import run_gather_labels, run_label_chunk  # noqa: E402
from mlip_autopipec.steps.refine import run_candidates, run_collect_halts, run_select  # noqa: E402
from mlip_autopipec.steps.train import run_train  # noqa: E402
from mlip_autopipec.steps.validation import oracle_md_frames  # noqa: E402

SYSTEMS = {"Cu": REPO / "config" / "config.yaml", "CuNi": REPO / "tests" / "configs" / "cuni_emt.yaml"}
log = logging.getLogger("label_efficiency")


def system_config(system: str, functions: int | None = None):
    """The system's config; `functions` overrides trainer.basis.number_of_functions_per_element."""
    rcfg = load_config(SYSTEMS[system])
    if functions:
        basis = rcfg.cfg.trainer.basis.model_copy(update={"number_of_functions_per_element": functions})
        rcfg.cfg = rcfg.cfg.model_copy(update={"trainer": rcfg.cfg.trainer.model_copy(update={"basis": basis})})
    return rcfg


@dataclass
class Point:
    strategy: str
    n_labels: int  # all labels the potential was fitted on (initial set included)
    potential: Path
    note: str = ""
    force_rmse: float | None = None
    energy_rmse: float | None = None


# -- shared pieces --------------------------------------------------------------------------------
def label_stage(rcfg, workdir: Path, stage: str) -> int:
    """LABEL one stage: the rule's step for one chunk, then the gather step."""
    d = workdir / stage
    run_label_chunk(rcfg, stage, str(d / "selected.xyz"), 0, 10**6, str(d / "label_jobs/0.extxyz"),
                    str(d / "label_jobs/0.json"), str(d / "label_cache"))
    run_gather_labels(stage, [str(d / "label_jobs/0.extxyz")], [str(d / "label_jobs/0.json")],
                      str(workdir / L.labels(stage)), str(workdir / L.labels_failed(stage)))
    return count_frames(workdir / L.labels(stage))


def train(rcfg, workdir: Path, stage: str, label_files: list[Path], out_dir: Path, previous: Path | None) -> None:
    run_train(rcfg, stage, [str(f) for f in label_files], str(workdir / L.REFERENCE_ENERGIES), str(out_dir),
              str(previous) if previous else None, None, str(out_dir / "train.json"))


def initial_stage(rcfg, workdir: Path) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    run_initial_structures(rcfg, str(workdir / L.selected(L.INITIAL)))
    run_reference_energies(rcfg, str(workdir / L.REFERENCE_ENERGIES))
    n = label_stage(rcfg, workdir, L.INITIAL)
    train(rcfg, workdir, L.INITIAL, [workdir / L.labels(L.INITIAL)], workdir / L.INITIAL, None)
    return n


def copy_initial(base: Path, workdir: Path) -> None:
    workdir.mkdir(parents=True)
    shutil.copytree(base / L.INITIAL, workdir / L.INITIAL)


# -- (a) and (c): the loop, with or without the swarm ----------------------------------------------
def run_loop(rcfg, workdir: Path, n_initial: int, budget: int, swarm: bool, strategy: str) -> list[Point]:
    points = [Point(strategy, n_initial, workdir / L.INITIAL, "initial")]
    conds = [c.name for c in rcfg.cfg.exploration.conditions]
    added, n = 0, 0
    while n < rcfg.cfg.max_cycles:
        stage, pot = L.iter_dir(n), workdir / L.potential_stage_for(n)
        recs = [str(workdir / L.explore_record(n, c)) for c in conds]
        frames = [str(workdir / L.explore_frames(n, c)) for c in conds]
        for c, rec, frm in zip(conds, recs, frames):
            run_explore(rcfg, n, c, str(pot), rec, frm)
        decision = run_gate(rcfg, n, recs, [str(workdir / L.decision(k)) for k in range(n)], str(workdir / L.decision(n)))
        if decision.action is not Action.CONTINUE:
            points[-1].note += f"; iteration {n}: {decision.action.value}"
            break
        if added >= budget:  # the budget is spent: an exploration that still halts is not refined
            points[-1].note += f"; iteration {n} still halts: budget spent"
            break
        run_collect_halts(recs, frames, str(workdir / L.halt(n)))
        if swarm:
            run_candidates(rcfg, n, str(workdir / L.halt(n)), frames, str(pot), str(workdir / L.candidates(n)))
            run_select(rcfg, n, str(workdir / L.candidates(n)), str(pot), str(workdir / L.selected(stage)))
        else:
            halts = [strip_results(a) for a in read_structures(workdir / L.halt(n))]
            write_structures(workdir / L.selected(stage), halts[: budget - added])
        added += label_stage(rcfg, workdir, stage)
        train(rcfg, workdir, stage, [workdir / L.labels(s) for s in L.stages_up_to(stage)], workdir / stage, pot)
        points.append(Point(strategy, n_initial + added, workdir / stage, f"iteration {n}"))
        n += 1
    return points


# -- (b): random frames of plain MD under the same conditions --------------------------------------
def plain_md_pool(rcfg, stride: int) -> list:
    """Frames every `stride` steps of oracle-driven MD, one run per exploration condition with the
    loop's integrator, thermostat, starting structure and step budget of iteration 0."""
    cfg = rcfg.cfg
    oracle = make_oracle(cfg.oracle)
    md = AseMD(cfg.dynamics, cfg.exploration)
    structures = starting_structures(rcfg)
    pool = []
    for cond in cfg.exploration.conditions:
        seed = derive_seed(cfg.seed, "plain-md", cond.name)
        atoms = md._prepare(structures[cond.structure], cond, seed)
        atoms.calc = oracle.calculator()
        dyn = md._integrator(atoms, cond, np.random.default_rng([seed, 1]))
        for _ in range(cfg.exploration_steps(0) // stride):
            dyn.run(stride)
            frame = atoms.copy()
            frame.set_constraint()
            frame.calc = None
            frame.info = {"condition": cond.name, "generator": "plain_md"}
            pool.append(frame)
    return pool


def random_sizes(budget: int, step: int, beyond: int) -> list[int]:
    """Labels added at which (b) is fitted: every `step` up to the equal budget, then coarser up to
    `beyond` (to find where random frames reach a target the budget does not)."""
    sizes = list(range(step, budget + 1, step))
    k = budget
    while beyond > budget and k < beyond:
        k = min(beyond, k + 3 * step)
        sizes.append(k)
    return sizes


def run_random(rcfg, workdir: Path, n_initial: int, budget: int, step: int, beyond: int) -> list[Point]:
    cfg = rcfg.cfg
    pool = plain_md_pool(rcfg, cfg.exploration.gamma_check_interval)
    order = np.random.default_rng(derive_seed(cfg.seed, "random-frames")).permutation(len(pool))
    oracle = make_oracle(cfg.oracle)
    sizes = random_sizes(budget, step, beyond)
    labelled = [oracle.label(pool[i]) for i in order[: sizes[-1]]]
    points = [Point("random", n_initial, workdir / L.INITIAL, "initial")]
    for k in sizes:
        d = workdir / f"random_{k:03d}"
        write_structures(d / "labels.extxyz", labelled[:k])
        train(rcfg, workdir, f"random_{k:03d}", [workdir / L.labels(L.INITIAL), d / "labels.extxyz"], d, None)
        note = f"{k} of {len(pool)} MD frames" + (" (beyond the equal budget)" if k > budget else "")
        points.append(Point("random", n_initial + k, d, note))
    return points


# -- held-out sets and scoring ---------------------------------------------------------------------
def held_out_for(system: str, rcfg) -> list:
    if system == "Cu":
        return [f for frames in held_out_frames("Cu").values() for f in frames]
    # an alloy: EMT MD of the starting cell and of a 3x3x3 cell with the same composition
    oracle = make_oracle(rcfg.cfg.oracle)
    spec = rcfg.cfg.structures[0]
    cells = [starting_structures(rcfg)[0],
             build_structures([spec.model_copy(update={"supercell": (3, 3, 3)})], rcfg.base_dir,
                              np.random.default_rng(2024))[0]]
    frames = []
    for i, cell in enumerate(cells):
        for t in (300, 600, 900, 1200):
            frames += oracle_md_frames(cell, oracle, t, 5, seed=2024 + 10 * i + t, stride=25)
    return frames


def score(points: list[Point], rcfg, frames: list) -> None:
    trainer = make_trainer(rcfg.cfg.trainer)
    for p in points:
        m = rmse_metrics(trainer.calculator(PotentialFiles.in_dir(p.potential)), frames)
        p.force_rmse, p.energy_rmse = m["force_rmse"], m["energy_rmse_per_atom"]


def labels_to_target(points: list[Point], target: float) -> int | None:
    for p in sorted(points, key=lambda p: p.n_labels):
        if p.force_rmse is not None and p.force_rmse <= target:
            return p.n_labels
    return None


# -- main -------------------------------------------------------------------------------------------
STRATEGIES = ("loop", "random", "halts")
TARGET_FRACS = (0.8, 0.6, 0.5, 0.45, 0.4)


def strategy_task(system: str, name: str, root: Path, n_initial: int, budget: int, beyond: int,
                  frames: list, verbose: bool, functions: int | None) -> tuple[str, list[Point], float]:
    """One strategy in its own process (the config is reloaded: ResolvedConfig does not pickle)."""
    _setup_logging(verbose)
    rcfg = system_config(system, functions)
    d = root / system / name
    copy_initial(root / system / "base", d)
    t0 = time.perf_counter()
    if name == "random":
        points = run_random(rcfg, d, n_initial, budget, rcfg.cfg.selection.n_select, beyond)
    else:
        points = run_loop(rcfg, d, n_initial, budget, name == "loop", name)
    score(points, rcfg, frames)
    return name, points, time.perf_counter() - t0


def run_system(system: str, budget: int, beyond: int, root: Path, jobs: int, verbose: bool,
               functions: int | None = None) -> dict:
    from concurrent.futures import ProcessPoolExecutor

    rcfg = system_config(system, functions)
    t0 = time.perf_counter()
    frames = held_out_for(system, rcfg)
    n_initial = initial_stage(rcfg, root / system / "base")
    curves, times = {}, {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(strategy_task, system, name, root, n_initial, budget, beyond, frames, verbose,
                               functions) for name in STRATEGIES]
        for fut in futures:
            name, points, seconds = fut.result()
            curves[name], times[name] = points, seconds
    return {"system": system, "functions": rcfg.cfg.trainer.basis.number_of_functions_per_element,
            "n_held_out": len(frames), "n_initial": n_initial, "budget": budget,
            "initial_rmse": curves["loop"][0].force_rmse, "curves": curves, "times": times,
            "wall": time.perf_counter() - t0}


def _need(points: list[Point], target: float, limit: int | None = None) -> str:
    pts = [p for p in points if limit is None or p.n_labels <= limit]
    n = labels_to_target(pts, target)
    return str(n) if n is not None else f"> {max(p.n_labels for p in pts)}"


def print_system(res: dict, target_frac: float) -> None:
    curves, n0, budget = res["curves"], res["n_initial"], res["budget"]
    limit = n0 + budget
    print(f"\n## {res['system']}: {n0} initial labels, equal budget +{budget} labels, "
          f"{res['n_held_out']} held-out frames, {res['functions']} ACE functions per element, {res['wall']:.0f} s\n")
    print("| strategy | labels | F RMSE meV/Å | E RMSE meV/atom | note |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, pts in curves.items():
        for p in pts:
            print(f"| {name} | {p.n_labels} | {1000 * p.force_rmse:.3f} | {1000 * p.energy_rmse:.3f} | {p.note} |")
    print()
    best = {name: min((p for p in pts if p.n_labels <= limit), key=lambda p: p.force_rmse) for name, pts in curves.items()}
    print("| strategy | best F RMSE within the budget, meV/Å (labels) | labels used | time s |")
    print("| --- | ---: | ---: | ---: |")
    for name, pts in curves.items():
        used = max(p.n_labels for p in pts if p.n_labels <= limit)
        print(f"| {name} | {1000 * best[name].force_rmse:.3f} ({best[name].n_labels}) | {used} | {res['times'][name]:.0f} |")
    print()
    print(f"Labels (initial set included) to reach a force-RMSE target; targets are fractions of the initial "
          f"fit's {1000 * res['initial_rmse']:.3f} meV/Å. (b)* may go beyond the equal budget.\n")
    print("| target (x initial) | meV/Å | (a) loop | (b) random | (b)* random, more labels | (c) halts only "
          "| (a)/(b*) all labels | (a)/(b*) labels added |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    fracs = sorted(set(TARGET_FRACS) | {target_frac}, reverse=True)
    for frac in fracs:
        target = frac * res["initial_rmse"]
        a = labels_to_target(curves["loop"], target)
        a = a if a is not None and a <= limit else None
        b_all = labels_to_target(curves["random"], target)
        ratio_all = ratio_added = "-"
        if a is not None and b_all is not None:
            ratio_all = f"{a / b_all:.2f}"
            ratio_added = f"{(a - n0) / (b_all - n0):.2f}" if b_all > n0 else "-"
        elif a is not None:
            ratio_all = f"< {a / max(p.n_labels for p in curves['random']):.2f}"
            ratio_added = f"< {(a - n0) / (max(p.n_labels for p in curves['random']) - n0):.2f}"
        mark = " (headline)" if frac == target_frac else ""
        print(f"| {frac:.2f}{mark} | {1000 * target:.3f} | {_need(curves['loop'], target, limit)} | "
              f"{_need(curves['random'], target, limit)} | {_need(curves['random'], target)} | "
              f"{_need(curves['halts'], target, limit)} | {ratio_all} | {ratio_added} |")


def _setup_logging(verbose: bool) -> None:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # ASE's Langevin(fixcm) deprecation
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, force=True,
                        format="%(asctime)s %(levelname)s [%(name)s] %(message)s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    ap.add_argument("--budget", type=int, default=30, help="labels each strategy may add to the initial set")
    ap.add_argument("--random-beyond", type=int, default=90,
                    help="also fit (b) with up to this many random frames, to see where it reaches the targets")
    ap.add_argument("--target-frac", type=float, default=0.45,
                    help="headline force-RMSE target as a fraction of the initial fit's held-out force RMSE")
    ap.add_argument("--functions", type=int, default=None,
                    help="override trainer.basis.number_of_functions_per_element of every system")
    ap.add_argument("--jobs", type=int, default=2, help="strategies run in parallel processes")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    _setup_logging(args.verbose)
    root = Path(tempfile.mkdtemp(prefix="mlip_label_eff_"))
    t0 = time.perf_counter()
    print(f"# label efficiency (work directory {root})")
    for system in args.systems:
        res = run_system(system, args.budget, args.random_beyond, root, args.jobs, args.verbose, args.functions)
        print_system(res, args.target_frac)
        sys.stdout.flush()
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s")
    if not args.keep:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())

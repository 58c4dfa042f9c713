"""Labels needed to reach a force-RMSE target: this loop vs random MD frames vs the loop without
its swarm, at equal label budgets, on held-out EMT MD frames.

Strategies (all start from the same initial data, labelled and fitted once, and add labels on top):

  (a) loop      this loop: MD with the current potential until gamma > gamma_halt, local swarm
                around every halt (rattle, MD burst, normal modes), MaxVol picks n_select, label, refit
  (b) random    random frames from plain MD (the oracle drives it) under the same exploration
                conditions (temperature, pressure, structure, steps), labelled in increments of n_select
  (c) halts     the loop without the swarm: only the halt frames are labelled

Steps are called through the package (the same functions the Snakemake rules call), not through
Snakemake, so the three strategies share one initial fit and one held-out set. Every potential is
scored on the held-out set; the table gives the labels (initial set included) each strategy needs
to reach the force-RMSE target, and the ratio (a)/(b). The target defaults to `--target-frac`
(0.85) times the force RMSE of the initial fit: a 15 % improvement over what the starting data give.

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
            points[-1].note = decision.action.value
            break
        if added >= budget:  # the budget is spent: an exploration that still halts is not refined
            points[-1].note = "budget spent"
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


def run_random(rcfg, workdir: Path, n_initial: int, budget: int, step: int) -> list[Point]:
    cfg = rcfg.cfg
    pool = plain_md_pool(rcfg, cfg.exploration.gamma_check_interval)
    order = np.random.default_rng(derive_seed(cfg.seed, "random-frames")).permutation(len(pool))
    oracle = make_oracle(cfg.oracle)
    labelled = [oracle.label(pool[i]) for i in order[:budget]]
    points = [Point("random", n_initial, workdir / L.INITIAL, "initial")]
    for k in range(step, budget + 1, step):
        d = workdir / f"random_{k:03d}"
        write_structures(d / "labels.extxyz", labelled[:k])
        train(rcfg, workdir, f"random_{k:03d}", [workdir / L.labels(L.INITIAL), d / "labels.extxyz"], d, None)
        points.append(Point("random", n_initial + k, d, f"{k} MD frames from {len(pool)}"))
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
def run_system(system: str, budget: int, target_frac: float, root: Path) -> dict:
    rcfg = load_config(SYSTEMS[system])
    t0 = time.perf_counter()
    frames = held_out_for(system, rcfg)
    base = root / system / "base"
    n_initial = initial_stage(rcfg, base)
    times, curves = {}, {}
    for name, fn in (
        ("loop", lambda d: run_loop(rcfg, d, n_initial, budget, True, "loop")),
        ("random", lambda d: run_random(rcfg, d, n_initial, budget, rcfg.cfg.selection.n_select)),
        ("halts", lambda d: run_loop(rcfg, d, n_initial, budget, False, "halts")),
    ):
        d = root / system / name
        copy_initial(base, d)
        t1 = time.perf_counter()
        curves[name] = fn(d)
        score(curves[name], rcfg, frames)
        times[name] = time.perf_counter() - t1
    initial_rmse = curves["loop"][0].force_rmse
    target = target_frac * initial_rmse
    return {"system": system, "n_held_out": len(frames), "n_initial": n_initial, "budget": budget,
            "target": target, "initial_rmse": initial_rmse, "curves": curves, "times": times,
            "wall": time.perf_counter() - t0}


def print_system(res: dict) -> None:
    system, curves, target = res["system"], res["curves"], res["target"]
    print(f"\n## {system}: {res['n_initial']} initial labels, budget +{res['budget']} labels, "
          f"{res['n_held_out']} held-out frames, {res['wall']:.0f} s")
    print(f"force-RMSE target: {1000 * target:.3f} meV/Å ({res['target_frac']:.2f} x the initial fit's "
          f"{1000 * res['initial_rmse']:.3f} meV/Å)\n")
    print("| strategy | labels | F RMSE meV/Å | E RMSE meV/atom | note |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, pts in curves.items():
        for p in pts:
            print(f"| {name} | {p.n_labels} | {1000 * p.force_rmse:.3f} | {1000 * p.energy_rmse:.3f} | {p.note} |")
    print()
    need = {name: labels_to_target(pts, target) for name, pts in curves.items()}
    best = {name: min(pts, key=lambda p: p.force_rmse) for name, pts in curves.items()}
    print("| strategy | labels to target (incl. initial) | labels added | best F RMSE meV/Å (at labels) | time s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in curves:
        n = need[name]
        print(f"| {name} | {n if n is not None else '> ' + str(res['n_initial'] + res['budget'])} | "
              f"{n - res['n_initial'] if n is not None else '-'} | "
              f"{1000 * best[name].force_rmse:.3f} ({best[name].n_labels}) | {res['times'][name]:.0f} |")
    a, b = need["loop"], need["random"]
    if a is not None and b is not None:
        added_a, added_b = a - res["n_initial"], b - res["n_initial"]
        ratio_added = f"{added_a / added_b:.2f}" if added_b else "n/a"
        print(f"\nratio (a)/(b) of labels to target: {a / b:.2f} (all labels), {ratio_added} (labels added)")
    else:
        print(f"\nratio (a)/(b): not defined (loop reaches target: {a is not None}, random: {b is not None})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    ap.add_argument("--budget", type=int, default=30, help="labels each strategy may add to the initial set")
    ap.add_argument("--target-frac", type=float, default=0.85,
                    help="force-RMSE target as a fraction of the initial fit's held-out force RMSE")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s [%(name)s] %(message)s")
    root = Path(tempfile.mkdtemp(prefix="mlip_label_eff_"))
    t0 = time.perf_counter()
    print(f"# label efficiency (work directory {root})")
    for system in args.systems:
        res = run_system(system, args.budget, args.target_frac, root)
        res["target_frac"] = args.target_frac
        print_system(res)
        sys.stdout.flush()
    print(f"\ntotal wall time {time.perf_counter() - t0:.0f} s")
    if not args.keep:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())

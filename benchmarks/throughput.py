"""Throughput: exploration MD steps per second with gamma, selection time, Snakemake overhead per
iteration, and the share of a real run's wall time spent outside the oracle.

1. MD: ASE Langevin with a linear ACE potential fitted on the default config's initial data, gamma
   checked every 10 steps (the default), before and after issue 17's speed-up (gamma only with
   the check steps' forces) and plain MD without gamma, for 32-, 256- and 2048-atom Cu cells
   (`--md-only` runs just this part).
2. Selection: MaxVol (`selection.kind: maxvol`) over 20 / 200 / 2000 rattled 32-atom candidates,
   and the swarm generation for one halt structure (20 candidates, the default mix).
3. Snakemake: the full mock loop (4 iterations, every component mocked) with `--cores 1`; the wall
   time minus the summed job times is Snakemake's own overhead (DAG, checkpoints, scheduling);
   the job times themselves are mostly Python start-up of the rule scripts.
4. Oracle share: the default config (Cu, EMT) run to convergence with `--cores 2` (or a finished
   run given with --run-dir); oracle seconds are the labels' `oracle_wall_time_s`.

    .venv/bin/python benchmarks/throughput.py [--run-dir DIR] [--skip-default-run]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.neighborlist import neighbor_list

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from label_efficiency import initial_stage  # noqa: E402
from mlip_autopipec.components.ace.common import AceCalculator  # noqa: E402
from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.dynamics.ase_md import AseMD  # noqa: E402
from mlip_autopipec.components.registry import make_selector, make_trainer  # noqa: E402
from mlip_autopipec.core import layout as L  # noqa: E402
from mlip_autopipec.sampling.candidate_generator import generate_swarm  # noqa: E402
from mlip_autopipec.loop.state import derive_state  # noqa: E402
from mlip_autopipec.domain_models.config import (  # noqa: E402
    ExplorationCondition,
    ExplorationConfig,
    MaxVolSelectorConfig,
    load_config,
)
from mlip_autopipec.report.data import label_times  # noqa: E402

RUNNER = Path(sys.executable).parent / "mlip-runner"


def table(header: list[str], rows: list[list]) -> None:
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" if i == 0 else "---:" for i in range(len(header))) + " |")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {n} cores available, Python {platform.python_version()}, {platform.system()} {platform.release()}"


# -- 1. MD --------------------------------------------------------------------------------------
@contextlib.contextmanager
def exploration_before_issue_17():
    """The exploration as it was before issue 17's speed-up: gamma (and the B-projections it is
    computed from) with every force call, ASE's neighbour list for the distance guard at checks,
    ASE's comparison of every array to decide whether the forces are cached."""
    from ase.calculators.calculator import Calculator

    from mlip_autopipec.components.ace.common import AceCalculator
    from mlip_autopipec.components.dynamics import ase_md, common

    saved = ase_md.gamma_on_next_call, common._too_close, AceCalculator.check_state
    ase_md.gamma_on_next_call = lambda calc, wanted: None
    common._too_close = lambda atoms, calc: len(neighbor_list("i", atoms, common.MIN_DISTANCE)) > 0
    AceCalculator.check_state = Calculator.check_state
    try:
        yield
    finally:
        ase_md.gamma_on_next_call, common._too_close, AceCalculator.check_state = saved


def timed_md(md: AseMD, atoms, calc, potential, cond, steps: int):
    """(outcome, wall s, CPU s) of one exploration run."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = md.run(atoms, calc, potential, cond, steps, seed=1)
    return out, time.perf_counter() - w0, time.process_time() - c0


def timed_plain(md: AseMD, atoms, calc, cond, steps: int):
    """(None, wall s, CPU s) of the same MD without any gamma or check: the ceiling."""
    work = md._prepare(atoms, cond, 1)
    work.calc = calc
    dyn = md._integrator(work, cond, np.random.default_rng(1))
    w0, c0 = time.perf_counter(), time.process_time()
    dyn.run(steps)
    return None, time.perf_counter() - w0, time.process_time() - c0


def md_throughput(rcfg, potential: PotentialFiles, sizes=(("32 atoms", 2, 100, 10), ("256 atoms", 4, 20, 6),
                                                          ("2048 atoms", 8, 10, 3))) -> None:
    """Before/after in one process, interleaved: `repeats` rounds of (before, after, plain) runs
    of `steps` each, so all variants see the same machine load; medians over the rounds. The
    speed-up is the median over rounds of the CPU-time ratio before/variant (CPU time is less
    sensitive than wall time to other jobs on a shared machine). Every after run must reproduce
    the before run's gamma trace exactly (same seed, same forces)."""
    from ase.build import bulk

    trainer = make_trainer(rcfg.cfg.trainer)
    cond = ExplorationCondition(name="t900", temperature=900.0)
    rows = []
    for label, reps, steps, repeats in sizes:
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (reps, reps, reps)
        exploration = ExplorationConfig(conditions=[cond], gamma_check_interval=10, gamma_select=1e8, gamma_halt=1e9)
        md = AseMD(rcfg.cfg.dynamics, exploration)
        calc, plain = trainer.calculator(potential, with_gamma=True), trainer.calculator(potential)
        AceCalculator.recursive_without_gamma = False  # the B-basis evaluator between checks too
        try:
            calc_b = trainer.calculator(potential, with_gamma=True)
        finally:
            AceCalculator.recursive_without_gamma = True
        times: dict[str, list[tuple[float, float]]] = {"before": [], "b_between": [], "after": [], "plain": []}
        for _ in range(repeats):
            with exploration_before_issue_17():
                before, wall, cpu = timed_md(md, atoms, calc, potential, cond, steps)
            times["before"].append((wall, cpu))
            b_between, wall, cpu = timed_md(md, atoms, calc_b, potential, cond, steps)
            times["b_between"].append((wall, cpu))
            assert b_between.gamma_trace == before.gamma_trace, "gamma at checks only changed the trajectory"
            after, wall, cpu = timed_md(md, atoms, calc, potential, cond, steps)
            times["after"].append((wall, cpu))
            assert not after.halted and after.steps_run == steps
            # the recursive evaluator's forces agree to ~1e-12 eV/Å, so the trajectories to rounding
            assert np.allclose([g for _, g in after.gamma_trace], [g for _, g in before.gamma_trace], rtol=1e-6), \
                "the recursive evaluator changed the trajectory"
            times["plain"].append(timed_plain(md, atoms, plain, cond, steps)[1:])
        for variant, what in (("before", "gamma with every force call (before issue 17)"),
                              ("b_between", "gamma at checks only, B-basis evaluator between them"),
                              ("after", "gamma at checks only, recursive C-tilde evaluator between them"),
                              ("plain", "no gamma, no checks (ASE MD alone)")):
            wall = float(np.median([w for w, _ in times[variant]]))
            cpu = float(np.median([c for _, c in times[variant]]))
            ratio = float(np.median([b[1] / v[1] for b, v in zip(times["before"], times[variant])]))
            rows.append([label, what, f"{repeats} x {steps}", f"{steps / wall:.1f}", f"{1000 * cpu / steps:.2f}",
                         f"{ratio:.2f}x"])
    print("### Exploration MD (ASE Langevin 900 K, linear ACE of the default config's initial data, "
          "gamma checked every 10 steps)\n")
    table(["cell", "gamma", "runs x steps", "steps/s (wall)", "CPU ms/step", "speed-up vs before (CPU)"], rows)


# -- 2. selection ---------------------------------------------------------------------------------
def selection_throughput(rcfg, potential: PotentialFiles) -> None:
    from ase.build import bulk

    base = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    selector = make_selector(MaxVolSelectorConfig(n_select=5))
    rows = []
    selector.select([base.copy() for _ in range(3)], potential, 1, seed=0)  # warm-up: imports, basis load
    for n in (20, 200, 2000):
        cands = []
        for i in range(n):
            a = base.copy()
            a.rattle(stdev=0.04 + 0.08 * (i % 5) / 4, seed=i)
            cands.append(a)
        t0 = time.perf_counter()
        picked = selector.select(cands, potential, 5, seed=0)
        dt = time.perf_counter() - t0
        rows.append([f"MaxVol, {n} candidates (32 atoms)", len(picked), f"{dt:.2f}", f"{1000 * dt / n:.1f}"])
    calc = make_trainer(rcfg.cfg.trainer).calculator(potential)
    halt = base.copy()
    halt.rattle(stdev=0.1, seed=7)
    t0 = time.perf_counter()
    swarm = generate_swarm(halt, calc, rcfg.cfg.candidates, np.random.default_rng(0))
    dt = time.perf_counter() - t0
    rows.append([f"swarm of {len(swarm)} around one halt (rattle/MD burst/normal modes)", len(swarm),
                 f"{dt:.2f}", f"{1000 * dt / len(swarm):.1f}"])
    print("### Selection and candidate generation\n")
    table(["what", "picked / made", "seconds", "ms per candidate"], rows)


# -- 3. Snakemake overhead ------------------------------------------------------------------------
def benchmark_seconds(workdir: Path) -> tuple[float, int, dict[str, float]]:
    import csv

    total, n, per_rule = 0.0, 0, {}
    for tsv in (workdir / "logs" / "benchmark").rglob("*.tsv"):
        with open(tsv) as fh:
            s = float(list(csv.DictReader(fh, delimiter="\t"))[-1]["s"])
        total += s
        n += 1
        per_rule[tsv.parent.name] = per_rule.get(tsv.parent.name, 0.0) + s
    return total, n, per_rule


def snakemake_overhead(root: Path) -> None:
    d = root / "mock"
    d.mkdir()
    shutil.copy(REPO / "tests" / "configs" / "mock.yaml", d / "config.yaml")
    t0 = time.perf_counter()
    subprocess.run([str(RUNNER), "run", "config.yaml", "--cores", "1"], cwd=d, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    state = derive_state(d)
    jobs_s, n_jobs, _ = benchmark_seconds(d)
    n_iter = len(state.history)
    t0 = time.perf_counter()
    subprocess.run([str(RUNNER), "run", "config.yaml", "--cores", "1"], cwd=d, check=True, capture_output=True)
    noop = time.perf_counter() - t0
    print("### Snakemake overhead (mock loop, every component mocked, --cores 1)\n")
    table(["quantity", "value"], [
        ["iterations / jobs", f"{n_iter} / {n_jobs}"],
        ["wall time of the run (mlip-runner, incl. start-up)", f"{wall:.1f} s"],
        ["sum of job times (benchmark files)", f"{jobs_s:.1f} s ({jobs_s / n_jobs:.2f} s per job: Python start-up + imports)"],
        ["Snakemake's own time = wall - jobs", f"{wall - jobs_s:.1f} s"],
        ["Snakemake overhead per iteration", f"{(wall - jobs_s) / n_iter:.2f} s"],
        ["whole mock loop per iteration (jobs + overhead)", f"{wall / n_iter:.1f} s"],
        ["rerun of the finished run (nothing to do)", f"{noop:.1f} s"],
    ])


# -- 4. oracle share ------------------------------------------------------------------------------
def oracle_share(root: Path, run_dir: Path | None) -> None:
    wall = None
    if run_dir is None:
        run_dir = root / "default"
        run_dir.mkdir()
        shutil.copy(REPO / "config" / "config.yaml", run_dir / "config.yaml")
        t0 = time.perf_counter()
        subprocess.run([str(RUNNER), "run", "config.yaml", "--cores", "2"], cwd=run_dir, check=True,
                       capture_output=True)
        wall = time.perf_counter() - t0
    state = derive_state(run_dir)
    oracle = sum(t["seconds"] for t in label_times(run_dir) if np.isfinite(t["seconds"]))
    n_labels = len(label_times(run_dir))
    jobs_s, n_jobs, per_rule = benchmark_seconds(run_dir)
    groups = {"explore + gate": ("explore", "gate"), "refine (halts, candidates, select)": ("collect_halts", "candidates", "select"),
              "label + gather": ("label", "gather_labels"), "train": ("train",),
              "initial data + validation set": ("initial_structures", "reference_energies", "validation_set"),
              "finalize / report": ("finalize", "report")}
    print(f"### Where the time goes: default config (Cu, EMT, linear ACE), {state.status.value} after "
          f"{len(state.history)} iterations\n")
    rows = [[g, f"{sum(per_rule.get(r, 0.0) for r in rules):.1f}",
             f"{100 * sum(per_rule.get(r, 0.0) for r in rules) / jobs_s:.0f}%"] for g, rules in groups.items()]
    rows.append([f"all {n_jobs} jobs", f"{jobs_s:.1f}", "100%"])
    table(["stage", "job seconds", "share of job time"], rows)
    ref = wall if wall is not None else jobs_s
    what = "wall time" if wall is not None else "summed job time"
    table(["quantity", "value"], [
        ["wall time (mlip-runner run, --cores 2)" if wall is not None else "summed job time", f"{ref:.1f} s"],
        [f"oracle time ({n_labels} EMT calculations)", f"{oracle:.2f} s"],
        [f"share of {what} outside the oracle", f"{100 * (1 - oracle / ref):.2f}%"],
    ])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default=None, help="a finished run of the default config to analyse (else one is run)")
    ap.add_argument("--skip-default-run", action="store_true", help="skip part 4 (the ~3 min default run)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--md-only", action="store_true", help="only part 1 (exploration MD, before/after)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="mlip_throughput_"))
    print(f"# throughput ({machine()})\n")
    t0 = time.perf_counter()
    rcfg = load_config(REPO / "config" / "config.yaml")
    initial_stage(rcfg, root / "fit")
    potential = PotentialFiles.in_dir(root / "fit" / L.INITIAL)
    md_throughput(rcfg, potential)
    if not args.md_only:
        selection_throughput(rcfg, potential)
        snakemake_overhead(root)
    if not args.skip_default_run and not args.md_only:
        oracle_share(root, Path(args.run_dir) if args.run_dir else None)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if not args.keep:
        shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())

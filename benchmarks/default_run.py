"""Clean checkout → converged: wall time, labels used, and accuracy of the final potential.

Runs the default config (fcc Cu, EMT oracle, linear ACE) in a fresh directory through
`mlip-runner`, then scores the final potential on held-out EMT-labelled MD frames it never saw:
300-1200 K, the 32-atom training cell size, a larger 108-atom cell, a 31-atom cell with a
vacancy and 32-atom cells strained by ±3 % (of the config's first structure's element: another fcc
metal EMT knows, e.g. Ni, Pd, Ag, Au, Al, checks the default settings on a system they were not tuned on).

    .venv/bin/python benchmarks/default_run.py [--config config/config.yaml] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase import units
from ase.data import atomic_numbers, reference_states

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.oracles.emt import EMTOracle  # noqa: E402
from mlip_autopipec.core.io import count_frames  # noqa: E402
from mlip_autopipec.core.metrics import rmse_metrics  # noqa: E402
from mlip_autopipec.core.state import derive_state  # noqa: E402
from mlip_autopipec.domain_models.config import load_config  # noqa: E402


def md_frames(cell, per_temperature: int, rng, temperatures=(300, 600, 900, 1200)) -> list:
    """EMT Langevin MD at each temperature, `per_temperature` labelled snapshots 25 steps apart after
    200 steps of equilibration; `rng` drives velocities and thermostat (shared, so sets drawn in order
    stay reproducible)."""
    oracle = EMTOracle()
    frames = []
    for temperature in temperatures:
        atoms = cell.copy()
        atoms.calc = EMT()
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        dyn = Langevin(atoms, 2 * units.fs, temperature_K=temperature, friction=0.02, rng=rng)
        dyn.run(200)
        for _ in range(per_temperature):
            dyn.run(25)
            snap = atoms.copy()
            snap.calc = None
            frames.append(oracle.label(snap))
    return frames


def held_out_frames(element: str = "Cu", seed: int = 2024) -> dict[str, list]:
    """EMT MD frames (every 25 steps after 200 steps of equilibration): 32- and 108-atom cells, a
    vacancy cell (20 frames each) and ±3 % strained 32-atom cells (12 frames each), of fcc `element`
    at ASE's reference lattice constant (Cu: 3.61 Å)."""
    a = reference_states[atomic_numbers[element]]["a"]
    rng = np.random.default_rng(seed)
    cells = {
        "32 atoms": bulk(element, "fcc", a=a, cubic=True) * (2, 2, 2),
        "108 atoms": bulk(element, "fcc", a=a, cubic=True) * (3, 3, 3),
    }
    vac = bulk(element, "fcc", a=a, cubic=True) * (2, 2, 2)
    del vac[0]
    cells["vacancy (31 atoms)"] = vac
    sets = {name: md_frames(cell, 5, rng) for name, cell in cells.items()}
    # ±3 % isotropically strained 32-atom cells (drawn after the others, which stay as they were)
    for strain in (-0.03, 0.03):
        cell = bulk(element, "fcc", a=a * (1 + strain), cubic=True) * (2, 2, 2)
        sets[f"strained {100 * strain:+.0f} % (32 atoms)"] = md_frames(cell, 3, rng)
    return sets


def linear_reference(workdir: Path, potential: PotentialFiles, basis, frames) -> dict:
    """Held-out RMSE of linear ACE with `basis` fitted on the labels the final potential saw: the
    yardstick for another trainer on the same run."""
    import json

    from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer
    from mlip_autopipec.core.io import read_structures
    from mlip_autopipec.domain_models.config import LinearAceTrainerConfig

    final_stage = Path(potential.yaml).parent.name
    stages = ["initial", *sorted(p.parent.name for p in workdir.glob("iter_*/labels.extxyz")
                                 if p.parent.name <= final_stage)]
    train = [f for st in stages for f in read_structures(workdir / st / "labels.extxyz")]
    refs = json.loads((workdir / "initial" / "reference_energies.json").read_text())
    trainer = LinearAceTrainer(LinearAceTrainerConfig(basis=basis, ladder=None))
    out = workdir / "linear_reference"
    trainer.fit(train, out, refs, None, 0)
    return rmse_metrics(trainer.calculator(PotentialFiles.in_dir(out)), frames)


def pressure_rmse_gpa(calc, frames) -> float:
    """RMSE of the pressure (-trace(stress)/3) against the labels, GPa."""
    diffs = []
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = calc
        diffs.append(-(atoms.get_stress()[:3].mean() - frame.get_stress()[:3].mean()) / units.GPa)
    return float(np.sqrt(np.mean(np.square(diffs))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the run directory")
    ap.add_argument("--run", help="score this finished run directory instead of running the config")
    args = ap.parse_args()

    if args.run:
        workdir, wall = Path(args.run).resolve(), float("nan")
    else:
        workdir = Path(tempfile.mkdtemp(prefix="mlip_bench_"))
        shutil.copy(args.config, workdir / "config.yaml")
        runner = Path(sys.executable).parent / "mlip-runner"
        t0 = time.perf_counter()
        proc = subprocess.run([str(runner), "run", "config.yaml", "--cores", str(args.cores)], cwd=workdir,
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr[-4000:])
            return 1
    state = derive_state(workdir)
    labels = sum(count_frames(p) for p in [workdir / "initial" / "labels.extxyz",
                                           *sorted(workdir.glob("iter_*/labels.extxyz"))])
    potential = PotentialFiles.in_dir(workdir / Path(state.current_potential).parent)

    from mlip_autopipec.components.registry import make_trainer

    run_cfg = load_config(workdir / "config.yaml").cfg  # the run's own copy, read once
    trainer = make_trainer(run_cfg.trainer)
    calc = trainer.calculator(potential)
    print(f"run directory      : {workdir}")
    print(f"final status       : {state.status.value} after {len(state.history)} iteration(s)")
    print(f"wall time          : {wall:.1f} s on {args.cores} cores (incl. Snakemake start-up)")
    print(f"labelled structures: {labels}")
    print(f"final potential    : {state.current_potential}")
    print()
    print(f"{'held-out set (EMT MD 300-1200 K)':36s} {'n':>4s} {'E RMSE meV/atom':>16s} {'F RMSE meV/Å':>13s}")
    all_frames = []
    sets = held_out_frames(run_cfg.structures[0].element)  # an fcc metal EMT knows
    for name, frames in sets.items():
        m = rmse_metrics(calc, frames)
        all_frames += frames
        print(f"{name:36s} {m['n_structures']:4d} {1000 * m['energy_rmse_per_atom']:16.3f} {1000 * m['force_rmse']:13.2f}")
    m = rmse_metrics(calc, all_frames)
    print(f"{'all':36s} {m['n_structures']:4d} {1000 * m['energy_rmse_per_atom']:16.3f} {1000 * m['force_rmse']:13.2f}")
    trainer_cfg = run_cfg.trainer
    if trainer_cfg.kind != "linear_ace" and hasattr(trainer_cfg, "basis"):
        lin = linear_reference(workdir, potential, trainer_cfg.basis, all_frames)
        print(f"{'linear ACE, same basis and labels':36s} {lin['n_structures']:4d} "
              f"{1000 * lin['energy_rmse_per_atom']:16.3f} {1000 * lin['force_rmse']:13.2f}")
    unstrained = [f for name, frames in sets.items() if not name.startswith("strained") for f in frames]
    m = rmse_metrics(calc, unstrained)
    print(f"{'all but strained (the earlier set)':36s} {m['n_structures']:4d} "
          f"{1000 * m['energy_rmse_per_atom']:16.3f} {1000 * m['force_rmse']:13.2f}")
    print(f"pressure RMSE, all held-out frames  : {pressure_rmse_gpa(calc, all_frames):.3f} GPa")
    print()
    print("basis per fit (functions per element, ladder rung) and held-out-share score:")
    final_fit = [workdir / "final_fit" / "train.json"] if (workdir / "final_fit" / "train.json").is_file() else []
    for rec_file in [workdir / "initial" / "train.json", *sorted(workdir.glob("iter_*/train.json")), *final_fit]:
        rec = json.loads(rec_file.read_text())
        lad = (rec.get("fit") or {}).get("ladder")
        prior = rec.get("prior") or {}
        print(f"  {rec_file.parent.name:8s} labels {rec['n_structures']:3d}  functions "
              f"{(rec.get('fit') or {}).get('n_functions')}"
              + (f"  rung {lad['chosen_rung']} score {1e3 * (lad['rungs'][lad['chosen_rung']]['score'] or 0):.2f}"
                 f"{'  (kept earlier)' if (lad.get('keep_best') or {}).get('kept_previous') else ''}" if lad else "")
              + (f"  prior F {1e3 * prior['force_rmse']:.2f} meV/Å, Spearman(gamma, |dF|) {prior.get('spearman_atoms')}"
                 if prior.get("force_rmse") is not None else ""))
    if not args.keep:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

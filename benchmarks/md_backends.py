"""Steps per second of the exploration backends (ASE vs LAMMPS with pyace through fix external)
for fcc Cu cells of 32, 256 and 2048 atoms, with the same ACE potential and active set.

Each run is a full `Dynamics.run` (Langevin NVT at 300 K, gamma checked every 10 steps, thresholds
so high that nothing halts), timed from the call to the return, so set-up is included; the budget
grows with the cell so every run lasts a few seconds. The "ACE only" column is the floor both
backends share: one pyace energy+forces+gamma evaluation per step, nothing else.

    .venv/bin/python benchmarks/md_backends.py [--potential DIR] [--sizes 32 256 2048] [--repeat 2]

Without --potential a linear ACE potential (150 functions, cutoff 5 Å) is fitted on EMT-labelled
rattled and strained 32-atom cells first (~10 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.dynamics.ase_md import AseMD  # noqa: E402
from mlip_autopipec.components.dynamics.lammps import LammpsMD  # noqa: E402
from mlip_autopipec.components.oracles.emt import EMTOracle  # noqa: E402
from mlip_autopipec.components.ace.common import ace_calculator  # noqa: E402
from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer  # noqa: E402
from mlip_autopipec.domain_models.config import (  # noqa: E402
    AseMDConfig,
    ExplorationCondition,
    ExplorationConfig,
    LinearAceTrainerConfig,
)
from mlip_autopipec.domain_models.dynamics_config import LammpsDynamicsConfig  # noqa: E402

A_CU = 3.6
REPEATS = {32: (2, 2, 2), 256: (4, 4, 4), 2048: (8, 8, 8)}
STEPS = {32: 400, 256: 100, 2048: 20}


def fit_potential(out: Path) -> PotentialFiles:
    oracle = EMTOracle()
    rng = np.random.default_rng(0)
    frames = []
    for strain in np.linspace(-0.03, 0.03, 7):
        for rattle in (0.03, 0.06, 0.1):
            atoms = bulk("Cu", "fcc", a=A_CU * (1 + strain), cubic=True).repeat((2, 2, 2))
            atoms.positions += rng.normal(0, rattle, atoms.positions.shape)
            frames.append(oracle.label(atoms))
    LinearAceTrainer(LinearAceTrainerConfig()).fit(frames, out, {"Cu": oracle.isolated_atom_energy("Cu")},
                                                   previous=None, seed=0)
    return PotentialFiles.in_dir(out)


def time_backend(md, potential: PotentialFiles, n_atoms: int, n_steps: int) -> tuple[float, bool]:
    atoms = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(REPEATS[n_atoms])
    calc = ace_calculator(potential, with_gamma=True)
    cond = ExplorationCondition(name=f"bench{n_atoms}", temperature=300.0)
    t0 = time.perf_counter()
    out = md.run(atoms, calc, potential, cond, n_steps, seed=1)
    wall = time.perf_counter() - t0
    return out.steps_run / wall, out.halted


def time_ace_only(potential: PotentialFiles, n_atoms: int, n_evals: int) -> float:
    atoms = bulk("Cu", "fcc", a=A_CU, cubic=True).repeat(REPEATS[n_atoms])
    atoms.rattle(0.05, seed=0)
    calc = ace_calculator(potential, with_gamma=True)
    calc.calculate(atoms)  # warm-up: first-call allocations
    t0 = time.perf_counter()
    for _ in range(n_evals):
        atoms.positions[0, 0] += 1e-6  # a new configuration each time, like an MD step
        calc.calculate(atoms)
    return n_evals / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--potential", type=Path, help="directory with potential.yaml/.asi (default: fit one)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 256, 2048], choices=sorted(REPEATS))
    ap.add_argument("--repeat", type=int, default=2, help="runs per cell; the best is reported")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        potential = PotentialFiles.in_dir(args.potential) if args.potential else fit_potential(Path(tmp))
        exploration = ExplorationConfig(gamma_check_interval=10, gamma_select=1e6, gamma_halt=1e7)
        backends = {"ASE (ase_md)": AseMD(AseMDConfig(), exploration),
                    "LAMMPS (lammps)": LammpsMD(LammpsDynamicsConfig(), exploration)}
        header = f"{'atoms':>6s} {'steps':>6s} " + " ".join(f"{name:>16s}" for name in backends) + f" {'ACE only':>10s}"
        print("steps per second (best of %d; higher is better)" % args.repeat)
        print(header)
        for n in args.sizes:
            row = []
            for md in backends.values():
                best, halted = 0.0, False
                for _ in range(args.repeat):
                    rate, h = time_backend(md, potential, n, STEPS[n])
                    best, halted = max(best, rate), halted or h
                row.append(f"{best:16.1f}" + ("!" if halted else ""))
            ace = max(time_ace_only(potential, n, max(STEPS[n] // 2, 10)) for _ in range(args.repeat))
            print(f"{n:6d} {STEPS[n]:6d} " + " ".join(row) + f" {ace:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

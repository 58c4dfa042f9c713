"""NPT volumes of the default run's final potential against the oracle's (EMT) own.

NPT exploration is driven by the potential's predicted stress, so a potential with a pressure bias
explores the wrong densities. This runs the exploration's own NPT integrator (ase_md: Melchionna,
the default config's ttime/pfactor/timestep) at 0 GPa and 300, 600 and 1000 K from the same
start (108-atom fcc Cu, a = 3.61 Å, the same seeded velocities) once with the potential and once
with EMT, and compares the mean volume per atom after equilibration (error bar: standard error of
5 block means). Pressure error: on frames of the potential's trajectories, the potential's
virial pressure against EMT's on the same structures (RMSE and mean signed difference).

    .venv/bin/python benchmarks/npt_volumes.py --run-dir RUN [--steps 4000 --equilibrate 1500]

RUN is a finished run of the default config (e.g. `benchmarks/default_run.py --keep`); its
`final/` potential is used (or give --potential-dir).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.dynamics.ase_md import AseMD  # noqa: E402
from mlip_autopipec.components.registry import make_trainer  # noqa: E402
from mlip_autopipec.domain_models.config import ExplorationCondition, load_config  # noqa: E402

TEMPERATURES = (300.0, 600.0, 1000.0)


def npt_run(md: AseMD, start, calc, temperature: float, steps: int, equilibrate: int, every: int, seed: int):
    """(volumes per atom, sampled frames) of one NPT run at 0 GPa with the exploration's integrator."""
    cond = ExplorationCondition(name=f"npt{temperature:.0f}", temperature=temperature, pressure=0.0)
    atoms = md._prepare(start, cond, seed)
    atoms.calc = calc
    dyn = md._integrator(atoms, cond, np.random.default_rng([seed, 1]))
    volumes, frames = [], []
    for _ in dyn.irun(steps):
        if dyn.nsteps > equilibrate and dyn.nsteps % every == 0:
            volumes.append(atoms.get_volume() / len(atoms))
            frame = atoms.copy()
            frame.calc = None
            frames.append(frame)
    return np.array(volumes), frames


def mean_and_error(x: np.ndarray, blocks: int = 5) -> tuple[float, float]:
    """Mean and standard error from `blocks` block means (the samples are correlated)."""
    means = np.array([b.mean() for b in np.array_split(x, blocks)])
    return float(x.mean()), float(means.std(ddof=1) / np.sqrt(blocks))


def virial_pressure_gpa(calc, frame) -> float:
    atoms = frame.copy()
    atoms.calc = calc
    return float(-atoms.get_stress()[:3].mean() / units.GPa)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", help="a finished run of the default config (its final/ potential is used)")
    ap.add_argument("--potential-dir", help="a directory with potential.yaml/.yace/.asi instead")
    ap.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--equilibrate", type=int, default=1500)
    ap.add_argument("--every", type=int, default=10, help="sample every N steps")
    ap.add_argument("--pressure-frames", type=int, default=20, help="frames per temperature for the pressure error")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    if not (args.run_dir or args.potential_dir):
        ap.error("give --run-dir or --potential-dir")
    pot_dir = Path(args.potential_dir) if args.potential_dir else Path(args.run_dir) / "final"
    rcfg = load_config(args.config)
    potential = PotentialFiles.in_dir(pot_dir)
    ace = make_trainer(rcfg.cfg.trainer).calculator(potential)
    md = AseMD(rcfg.cfg.dynamics, rcfg.cfg.exploration)
    start = bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3)
    d = rcfg.cfg.dynamics
    print(f"# NPT volumes at 0 GPa: {pot_dir} vs EMT\n")
    print(f"{len(start)}-atom fcc Cu, a = 3.61 Å start; Melchionna NPT (ase_md), timestep {d.timestep_fs} fs, "
          f"ttime {d.ttime_fs} fs, pfactor {d.pfactor:g} GPa fs²; {args.steps} steps, mean over steps "
          f"{args.equilibrate + 1}-{args.steps} every {args.every}; seed {args.seed}.\n")
    rows, t0 = [], time.perf_counter()
    for temperature in TEMPERATURES:
        v_ace, frames = npt_run(md, start, ace, temperature, args.steps, args.equilibrate, args.every, args.seed)
        v_emt, _ = npt_run(md, start, EMT(), temperature, args.steps, args.equilibrate, args.every, args.seed)
        (m_ace, e_ace), (m_emt, e_emt) = mean_and_error(v_ace), mean_and_error(v_emt)
        picked = frames[:: max(1, len(frames) // args.pressure_frames)][: args.pressure_frames]
        dp = np.array([virial_pressure_gpa(ace, f) - virial_pressure_gpa(EMT(), f) for f in picked])
        rows.append([f"{temperature:.0f}", f"{m_emt:.4f} ± {e_emt:.4f}", f"{m_ace:.4f} ± {e_ace:.4f}",
                     f"{100 * (m_ace / m_emt - 1):+.2f}", f"{np.sqrt(np.mean(dp ** 2)):.3f}",
                     f"{dp.mean():+.3f}", len(picked)])
    print("| T (K) | EMT Å³/atom | potential Å³/atom | difference % | pressure RMSE GPa | mean ΔP GPa | frames |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    print(f"\n(ΔP = potential - EMT virial pressure on frames of the potential's own NPT run; "
          f"{time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

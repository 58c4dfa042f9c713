"""A molecule's potential against EMT on held-out MD frames (examples/ch4_molecule).

Held-out frames (never used by a run or to choose a setting; seed family 2028_5000+): EMT Langevin MD
of the example's molecule (ch4.xyz relaxed with EMT first) at the example's exploration temperatures,
300 and 600 K, time step 0.5 fs (H: EMT's C-H stretch has a 13.5 fs period), 400 steps of warm-up,
then one frame every 40 steps; `--frames` per temperature and seed, `--seeds` seeds. Force RMSE over
all components and energy RMSE per atom (total energies: the potential carries the isolated-atom
energies), per temperature and over all.

    .venv/bin/python benchmarks/molecule_heldout.py RUN_DIR [RUN_DIR ...]   # scores RUN_DIR/final/potential
    .venv/bin/python benchmarks/molecule_heldout.py --potential DIR          # any stage directory
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read
from ase.optimize import BFGS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mlip_autopipec.components.ace.common import ace_calculator  # noqa: E402
from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.core.metrics import rmse_metrics  # noqa: E402
from mlip_autopipec.sampling.md_snapshots import keep_reference_labels, langevin_snapshots  # noqa: E402

SEED_FAMILY = 2028_5000
MOLECULE = REPO / "examples" / "ch4_molecule" / "ch4.xyz"
TEMPERATURES = (300.0, 600.0)


def heldout_frames(n_frames: int, n_seeds: int, molecule: Path = MOLECULE) -> dict[float, list]:
    """Per temperature: EMT-labelled MD frames of the relaxed molecule (module docstring)."""
    start = read(str(molecule))
    start.calc = EMT()
    BFGS(start, logfile=None).run(fmax=1e-4)
    start.calc = None
    out: dict[float, list] = {}
    for k, t in enumerate(TEMPERATURES):
        frames = []
        for s in range(n_seeds):
            rng = np.random.default_rng(SEED_FAMILY + 100 * k + s)
            for snap in langevin_snapshots(start, EMT(), t, n_frames, rng, stride=40, warmup=400, timestep_fs=0.5,
                                           keep=keep_reference_labels):
                forces = snap.arrays.pop("ref_forces")
                snap.calc = SinglePointCalculator(snap, energy=snap.info.pop("energy"), forces=forces)
                frames.append(snap)
        out[t] = frames
    return out


def score(potential_dir: Path, frames: dict[float, list]) -> dict:
    calc = ace_calculator(PotentialFiles.in_dir(potential_dir))
    rows = {f"{t:.0f} K": rmse_metrics(calc, fr) for t, fr in frames.items()}
    rows["all"] = rmse_metrics(calc, [f for fr in frames.values() for f in fr])
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path, help="run directories (their final/ potential is scored)")
    ap.add_argument("--potential", action="append", type=Path, default=[], help="a directory with potential.yaml")
    ap.add_argument("--frames", type=int, default=20, help="frames per temperature and seed")
    ap.add_argument("--seeds", type=int, default=3, help="MD seeds per temperature")
    args = ap.parse_args(argv)
    frames = heldout_frames(args.frames, args.seeds)
    print(f"held-out: {sum(len(f) for f in frames.values())} EMT MD frames of CH4 "
          f"({args.seeds} seeds x {args.frames} frames at {', '.join(f'{t:.0f}' for t in TEMPERATURES)} K)")
    for d in [r / "final" for r in args.runs] + args.potential:
        for name, m in score(d, frames).items():
            e = m["energy_rmse_per_atom"]
            print(f"{d}  {name:>6}: F {1e3 * m['force_rmse']:8.1f} meV/Å  E {1e3 * e:8.2f} meV/atom  "
                  f"({m['n_structures']} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

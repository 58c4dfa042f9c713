"""pacemaker with a fixed basis vs pacemaker's ladder chosen on a held-out share, on the same labels.

Training labels: EMT Langevin MD frames of the 32-atom Cu cell at 300-1200 K (default_run.md_frames),
plus one frame per temperature of ±3 % strained cells.
Scored on default_run.py's held-out frames (32/108-atom MD, vacancy, ±3 % strained cells), which
neither fit sees. Three potentials: the fixed basis; the ladder's chosen step as fitted on the
training share (its held-out-share stand-in, `refit: false`); the chosen size refitted on all labels
(`refit: true`, the default).

    nice -n 10 .venv/bin/python benchmarks/pacemaker_ladder.py [--per-temperature 4] [--functions 40]
        [--step 10] [--iterations 50]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

from default_run import held_out_frames, md_frames  # noqa: E402
from mlip_autopipec.components.ace.common import AceCalculator  # noqa: E402
from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.trainers.pacemaker import PacemakerTrainer  # noqa: E402
from mlip_autopipec.core.metrics import rmse_metrics  # noqa: E402
from mlip_autopipec.domain_models.config import (AceBasisConfig, PacemakerLadderConfig,  # noqa: E402
                                                 PacemakerTrainerConfig)


def score(calc, sets: dict) -> dict:
    frames = [f for fs in sets.values() for f in fs]
    return rmse_metrics(calc, frames)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-temperature", type=int, default=4, help="training frames per MD temperature (4 temperatures)")
    ap.add_argument("--functions", type=int, default=40, help="fixed basis size = the ladder's target")
    ap.add_argument("--step", type=int, default=10, help="ladder_step (functions added per step)")
    ap.add_argument("--iterations", type=int, default=50, help="BFGS iterations per fit / per ladder step")
    ap.add_argument("--fixed", type=int, nargs="*", default=None,
                    help="also fit these fixed sizes (functions per element; default: only --functions)")
    ap.add_argument("--skip-ladder", action="store_true", help="fixed fits only")
    args = ap.parse_args()

    rng = np.random.default_rng(7)
    train = md_frames(bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2), args.per_temperature, rng)
    for strain in (-0.03, 0.03):  # one frame per temperature of ±3 % cells: the held-out set has them too
        train += md_frames(bulk("Cu", "fcc", a=3.61 * (1 + strain), cubic=True) * (2, 2, 2), 1, rng)
    sets = held_out_frames()
    atom = Atoms("Cu", cell=[20.0] * 3, pbc=True)
    atom.calc = EMT()
    refs = {"Cu": float(atom.get_potential_energy())}
    rows = []
    with tempfile.TemporaryDirectory(prefix="pacemaker-ladder-") as tmp:
        runs = [(f"fixed {n}", None, n) for n in (args.fixed or [args.functions])]
        if not args.skip_ladder:
            runs.append(("ladder", PacemakerLadderConfig(step=args.step), args.functions))
        for name, ladder, size in runs:
            basis = AceBasisConfig(cutoff=5.0, number_of_functions_per_element=size, max_order=3)
            cfg = PacemakerTrainerConfig(basis=basis, max_iterations=args.iterations, ladder=ladder)
            out = Path(tmp) / name
            t0 = time.perf_counter()
            m = PacemakerTrainer(cfg).fit(train, out, refs, None, 11)
            seconds = time.perf_counter() - t0
            err = score(AceCalculator(PotentialFiles.in_dir(out).yaml), sets)
            label = f"pacemaker {name}" + (" + refit on all labels" if ladder else "")
            rows.append((label, m["n_functions"], seconds, err))
            if ladder:
                lad = m["ladder"]
                standin = out / "standin.yaml"
                standin.write_text(lad["holdout_fit"]["potential_yaml"])
                rows.append(("pacemaker ladder, chosen step as fitted (refit: false)",
                             lad["functions_per_element"]["Cu"], lad["ladder_time_s"],
                             score(AceCalculator(standin), sets)))
                print("ladder steps (functions per element: held-out-share score meV/Å):",
                      ", ".join(f"{r['functions_per_element']['Cu']}: "
                                + ("-" if r["score"] is None else f"{1e3 * r['score']:.2f}") for r in lad["rungs"]),
                      f"; {lad['n_fit']} fitted, {lad['n_holdout']} held out")
    print(f"{len(train)} training frames (32-atom Cu MD 300-1200 K, 8 of them ±3 % strained), {sum(map(len, sets.values()))} held-out frames, "
          f"{args.iterations} BFGS iterations per fit/step")
    print(f"{'potential':58s} {'functions':>9s} {'time s':>7s} {'E meV/atom':>11s} {'F meV/Å':>8s} {'P GPa':>6s}")
    for label, nfun, seconds, err in rows:
        print(f"{label:58s} {nfun:9d} {seconds:7.0f} {1e3 * err['energy_rmse_per_atom']:11.3f} "
              f"{1e3 * err['force_rmse']:8.2f} {err['pressure_rmse_gpa']:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

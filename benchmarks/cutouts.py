"""Cut-outs vs whole frames on an 821-atom Cu cell with a 5 Å void (EMT, 900 K).

Training data are EMT MD frames of the void cell; the held-out set is another EMT MD trajectory of
the same cell (different seed). Each strategy labels structures with EMT, fits linear ACE (the
package's trainer, honouring the force weights) and is scored on the held-out frames: force RMSE on
the atoms within 8 Å of the void centre (the acceptance metric of examples/cu_void) and on all atoms.

  whole k        k whole 821-atom frames
  <kind> m=<margin>  cut-outs of at most --max-atoms atoms around farthest-point-sampled centres
                 (the package's initial-data centres; no potential, so boxes are not healed),
                 --per-frame per training frame; only core forces trained

Reported per strategy: labels, atoms sent to the oracle (sum over labels), trained force vectors,
oracle time, label error of the core forces (cut-out vs full cell), RMSE near the void / overall.

    .venv/bin/python benchmarks/cutouts.py [--frames 4] [--per-frame 12] [--max-atoms 128]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "examples" / "cu_void"))

from ase.calculators.emt import EMT  # noqa: E402
from ase.calculators.singlepoint import SinglePointCalculator  # noqa: E402
from make_void import emt_md_snapshots  # noqa: E402

from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.ace.common import ace_calculator  # noqa: E402
from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer  # noqa: E402
from mlip_autopipec.sampling.cutouts import (  # noqa: E402
    FORCE_WEIGHT,
    auto_radius,
    centres_farthest_point,
    displacements,
    fitted_cutout,
    number_density,
    resolve_geometry,
)
from mlip_autopipec.domain_models.config import LinearAceTrainerConfig  # noqa: E402
from mlip_autopipec.domain_models.cutout_config import CutoutConfig  # noqa: E402

NEAR_VOID = 8.0  # Å from the void centre: the acceptance region of examples/cu_void


def emt_md_frames(n_frames: int, seed: int, equilibrate: int = 40, every: int = 15, temperature: float = 900.0):
    return emt_md_snapshots(n_frames, seed, temperature, equilibrate, every)


def label(atoms):
    """(labelled copy, EMT seconds)."""
    work = atoms.copy()
    work.calc = EMT()
    t0 = time.perf_counter()
    forces = work.get_forces()
    energy = work.get_potential_energy()
    wall = time.perf_counter() - t0
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=energy, forces=forces)
    return out, wall


def near_void_mask(atoms):
    centre = atoms.cell.sum(axis=0) / 2
    d = atoms.positions - centre
    return np.linalg.norm(d, axis=1) <= NEAR_VOID


def score(potential: PotentialFiles, frames):
    calc = ace_calculator(potential)
    near, every = [], []
    for f in frames:
        work = f.copy()
        work.calc = calc
        err = work.get_forces() - f.get_forces()
        near.append(err[near_void_mask(f)])
        every.append(err)
    rms = lambda e: 1e3 * float(np.sqrt(np.mean(np.concatenate(e) ** 2)))  # noqa: E731
    return rms(near), rms(every)


def cutout_labels(frames, cfg: CutoutConfig, max_atoms: int, per_frame: int, seed: int):
    labels, oracle_s, label_err = [], 0.0, []
    for k, frame in enumerate(frames):
        geom = resolve_geometry(cfg, max_atoms, 5.0, frame, f"frame {k}")
        centres = centres_farthest_point(frame, 5.0, per_frame, geom.cover_radius, np.random.default_rng(seed + k))
        for c in centres:
            cut = fitted_cutout(frame, c, geom, cfg, max_atoms)
            lab, wall = label(cut)
            oracle_s += wall
            core = cut.arrays[FORCE_WEIGHT] > 0
            dist = np.linalg.norm(displacements(frame, c), axis=1)
            parent_core = np.where(dist <= cut.info["cutout_core_radius"] + 1e-9)[0]
            if len(parent_core) == core.sum():
                label_err.append(lab.get_forces()[core] - frame.get_forces()[parent_core])
            labels.append(lab)
    err = 1e3 * float(np.sqrt(np.mean(np.concatenate(label_err) ** 2))) if label_err else float("nan")
    return labels, oracle_s, err


def fit(labels, work: Path, refs, n_functions: int):
    trainer = LinearAceTrainer(LinearAceTrainerConfig(basis={"number_of_functions_per_element": n_functions}))
    trainer.fit(labels, work, refs, None, 0)
    return PotentialFiles.in_dir(work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=4, help="training MD frames")
    ap.add_argument("--held-out", type=int, default=3)
    ap.add_argument("--per-frame", type=int, default=12, help="cut-outs per training frame")
    ap.add_argument("--max-atoms", type=int, default=128)
    ap.add_argument("--functions", type=int, default=150)
    ap.add_argument("--box-energy", action="store_true", help="train the energies of box cut-outs too")
    ap.add_argument("--only", nargs="*", help="run only the strategies whose names contain one of these")
    args = ap.parse_args()

    t0 = time.perf_counter()
    train = emt_md_frames(args.frames, seed=1)
    test = emt_md_frames(args.held_out, seed=2)
    print(f"EMT MD frames: {len(train)} train, {len(test)} held-out ({time.perf_counter() - t0:.0f} s)", flush=True)
    refs = {"Cu": label(__import__("ase").Atoms("Cu", cell=[20, 20, 20]))[0].get_potential_energy()}

    # margin None: the default (2 x cutoff + 1 Å does not fit in 128 atoms: half the radius);
    # "R": the margin equals the radius, only the centre atom is trained
    strategies = [("whole 1", None, None), ("whole 2", None, None), (f"whole {args.frames}", None, None),
                  ("box, default (core = R/2), 1 frame", "box", None, 1),
                  ("box, default (core = R/2), 2 frames", "box", None, 2),
                  ("box, default (core = R/2)", "box", None), ("box, centre atom only", "box", "R"),
                  ("box m=2.5", "box", 2.5),
                  ("cluster, default (core = R/2)", "cluster", None), ("cluster, centre atom only", "cluster", "R"),
                  ("cluster m=4", "cluster", 4.0), ("cluster m=3", "cluster", 3.0)]
    if args.only:
        strategies = [st for st in strategies if any(o in st[0] for o in args.only)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="cutouts-bench-") as tmp:
        for j, (name, kind, margin, *n_frames) in enumerate(strategies):
            t1 = time.perf_counter()
            if kind is None:
                k = int(name.split()[1])
                labels, oracle_s, label_err = [], 0.0, 0.0
                for f in train[:k]:
                    lab, wall = label(f)
                    labels.append(lab)
                    oracle_s += wall
            else:
                if margin == "R":
                    radius = auto_radius(kind, args.max_atoms, number_density(train[0]))
                    cfg = CutoutConfig(kind=kind, radius=radius, core_margin=radius)
                else:
                    cfg = CutoutConfig(kind=kind, core_margin=margin)
                frames = train[: n_frames[0]] if n_frames else train
                labels, oracle_s, label_err = cutout_labels(frames, cfg, args.max_atoms, args.per_frame, seed=10)
                if args.box_energy and kind == "box":  # a periodic box's energy is a physical label
                    for lab in labels:
                        lab.info["energy_weight"] = 1.0
            pot = fit(labels, Path(tmp) / str(j), refs, args.functions)
            near, every = score(pot, test)
            trained = int(sum((lab.arrays[FORCE_WEIGHT] > 0).sum() if FORCE_WEIGHT in lab.arrays else len(lab)
                              for lab in labels))
            cubic = sum(len(x) ** 3 for x in labels) / 821**3  # DFT-like O(N^3), in 821-atom frames
            row = (name, len(labels), int(sum(len(x) for x in labels)), max(len(x) for x in labels), trained,
                   oracle_s, cubic, label_err, near, every)
            rows.append(row)
            print(f"{name}: {row[1:]} ({time.perf_counter() - t1:.0f} s)", flush=True)

    print(f"\n#### Cut-outs vs whole frames: Cu 821-atom void cell, EMT 900 K, linear ACE {args.functions} functions "
          f"(max_atoms {args.max_atoms}, {args.per_frame} cut-outs per frame, {args.frames} training frames)\n")
    print("| strategy | labels | atoms to oracle | largest | trained force vectors | EMT s | N³ cost (821-atom frames) "
          "| core label error vs full cell meV/Å | F RMSE ≤8 Å of void meV/Å | F RMSE all meV/Å |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, n, atoms, largest, trained, osec, cubic, lerr, near, every in rows:
        print(f"| {name} | {n} | {atoms} | {largest} | {trained} | {osec:.2f} | {cubic:.3f} | {lerr:.1f} | {near:.1f} "
              f"| {every:.1f} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

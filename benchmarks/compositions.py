"""A binary alloy's potential across its composition range: energies and forces against EMT.

Held-out frames (never used to choose a setting; seed family 2028_0000+) of the run's alloy at
0, 25, 50, 75 and 100 % of the substituent: random decorations in 108-atom cells (3x3x3 fcc) and
the ordered L1_2 (25, 75 %) and L1_0 (50 %) phases in 32-atom cells, lattice constant by Vegard's
law from ASE's reference values (computed here, not by the pipeline), EMT Langevin MD at 300 and
900 K, 3 snapshots each. Energy errors are per atom after ONE constant per-atom offset for the
whole set (the mean; a constant shift is no error of the potential), per composition: RMSE and
largest |error|; force RMSE per composition.

    .venv/bin/python benchmarks/compositions.py RUN_DIR [RUN_DIR ...]    # scores final/potential
    .venv/bin/python benchmarks/compositions.py --config benchmarks/configs/cuni_minimal.yaml
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.data import atomic_numbers, reference_states

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mlip_autopipec.components.ace.common import ace_calculator  # noqa: E402
from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.domain_models.config import load_config  # noqa: E402
from mlip_autopipec.sampling.md_snapshots import keep_reference_labels, langevin_snapshots  # noqa: E402

SEED_FAMILY = 2028_0000
FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)


def vegard(host: str, sub: str, x: float) -> float:
    a = [reference_states[atomic_numbers[el]]["a"] for el in (host, sub)]
    return (1 - x) * a[0] + x * a[1]


def ordered(host: str, sub: str, x: float) -> "Atoms | None":
    """L1_2 (x = 0.25: the sub on the cube corners; 0.75: the host there) or L1_0 (0.5: alternating
    (001) planes) in a 2x2x2 conventional cell."""
    atoms = bulk(host, "fcc", a=vegard(host, sub, x), cubic=True)
    if x == 0.25:
        atoms.symbols[0] = sub
    elif x == 0.75:
        atoms.symbols[:] = sub
        atoms.symbols[0] = host
    elif x == 0.5:
        z = atoms.get_scaled_positions()[:, 2]
        atoms.symbols[:] = host
        atoms.symbols[np.isclose(z, 0.0)] = sub
    else:
        return None
    return atoms * (2, 2, 2)


def random_cell(host: str, sub: str, x: float, rng) -> "Atoms":
    atoms = bulk(host, "fcc", a=vegard(host, sub, x), cubic=True) * (3, 3, 3)
    n = int(round(x * len(atoms)))
    atoms.symbols[rng.choice(len(atoms), n, replace=False)] = sub
    return atoms


def md_frames(cell, rng, temperatures=(300.0, 900.0), per_temperature: int = 3) -> list:
    frames = []
    for temperature in temperatures:
        frames += langevin_snapshots(cell, EMT(), temperature, per_temperature, rng, stride=25, warmup=150,
                                     fixcm=False, keep=keep_reference_labels)
    return frames


@functools.lru_cache(maxsize=None)
def held_out(host: str, sub: str) -> dict[str, list]:
    sets = {}
    for k, x in enumerate(FRACTIONS):
        rng = np.random.default_rng([SEED_FAMILY, k])
        sets[f"{100 * x:.0f}% random"] = md_frames(random_cell(host, sub, x, rng), rng)
        cell = ordered(host, sub, x)
        if cell is not None:
            sets[f"{100 * x:.0f}% {'L1_0' if x == 0.5 else 'L1_2'}"] = md_frames(cell, rng)
    return sets


def score(potential: PotentialFiles, sets: dict[str, list]) -> dict[str, dict]:
    calc = ace_calculator(potential)
    de, df = {}, {}
    for name, frames in sets.items():
        de[name], df[name] = [], []
        for f in frames:
            work = f.copy()
            work.calc = calc
            de[name].append((work.get_potential_energy() - f.info["energy"]) / len(f))
            df[name].append((work.get_forces() - f.arrays["ref_forces"]).ravel())
    offset = float(np.mean(np.concatenate([np.asarray(v) for v in de.values()])))
    out = {}
    for name in sets:
        e = np.asarray(de[name]) - offset
        out[name] = {"e_rmse": 1e3 * float(np.sqrt(np.mean(e ** 2))), "e_max": 1e3 * float(np.max(np.abs(e))),
                     "f_rmse": 1e3 * float(np.sqrt(np.mean(np.concatenate(df[name]) ** 2)))}
    out["_offset"] = {"e_rmse": 1e3 * offset, "e_max": 0.0, "f_rmse": 0.0}
    return out


def alloy_of(run_dir: Path) -> tuple[str, str]:
    spec = load_config(run_dir / "config.yaml").cfg.structures[0]
    subs = [el for el, f in spec.substitutions.items() if f > 0]
    if spec.kind != "bulk" or spec.crystal != "fcc" or len(subs) != 1:
        raise SystemExit(f"{run_dir}: structures[0] must be an fcc bulk with one substituent")
    return spec.element, subs[0]


def newest_potential(run_dir: Path) -> Path:
    """final/ of a finished run, else final_fit/, else the newest stage with a potential (a run still going)."""
    for done in ("final", "final_fit"):
        if (run_dir / done / "potential.yace").is_file():
            return run_dir / done
    stages = sorted(p.parent for p in run_dir.glob("iter_*/potential.yace"))
    return stages[-1] if stages else run_dir / "initial"


def report(run_dir: Path) -> None:
    host, sub = alloy_of(run_dir)
    stage = newest_potential(run_dir)
    res = score(PotentialFiles.in_dir(stage), held_out(host, sub))
    print(f"\n{stage}: {host}-{sub}, x = fraction of {sub}; offset {res.pop('_offset')['e_rmse']:.1f} meV/atom")
    print(f"{'set':>14} {'E rmse':>8} {'E max':>8} {'F rmse':>8}   (meV/atom, meV/atom, meV/Å)")
    for name, r in res.items():
        print(f"{name:>14} {r['e_rmse']:8.2f} {r['e_max']:8.2f} {r['f_rmse']:8.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*", type=Path, help="finished run directories (final/ is scored)")
    ap.add_argument("--config", type=Path, help="run this config first, in a temporary directory")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    runs = list(args.runs)
    if args.config:
        d = Path(tempfile.mkdtemp(prefix="compositions-"))
        (d / "config.yaml").write_text(args.config.read_text())
        subprocess.run([str(Path(sys.executable).parent / "mlip-runner"), "run", "config.yaml", "--cores",
                        str(args.cores)], cwd=d, check=True)
        runs.append(d)
    for run_dir in runs:
        report(run_dir)


if __name__ == "__main__":
    main()

"""Label noise of DFT settings, measured with the pipeline's own oracle code (issue 30).

Labels one rattled cell (and its pristine parent, for energy differences) with pw.x at several
settings and reports, for each pair asked for, how far the labels move: force RMS / max and the
energy per atom relative to the parent, i.e. what `steps/label_noise.py` measures in a run. Each
calculation is cached in --out as JSON (energy, forces, wall time), so reruns only add what is new.

    nice -n 5 .venv/bin/python benchmarks/dft_label_noise.py --cell t8 --calc 5:0.2:30 --calc 10:0.2:30 \
        --compare 5:0.2:30,10:0.2:30

A setting is density:smearing_eV:cutoff_Ry (density: k-points per Å⁻¹ as `oracle.kpoints.density`;
Marzari-Vanderbilt smearing; the shipped Al pseudopotential). Cells (fcc Al, a = 4.04 Å):
t8 = conventional cube x (2,1,1), 8 atoms; c32 = cube x (2,2,2), 32 atoms (the example's cell);
c16 = cube x (2,2,1). Wall times depend on the machine's load: say so when quoting them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

from mlip_autopipec.components.oracles.espresso import EspressoOracle
from mlip_autopipec.domain_models.oracle_config import RYDBERG_EV, EspressoOracleConfig
from mlip_autopipec.steps.label_noise import setting_noise

CELLS = {"t8": (2, 1, 1), "c16": (2, 2, 1), "c32": (2, 2, 2)}


def structures(cell: str, rattle: float, seed: int):
    parent = bulk("Al", "fcc", a=4.04, cubic=True) * CELLS[cell]
    rep = parent.copy()
    rep.rattle(stdev=rattle, seed=seed)
    return rep, parent


def oracle(setting: str, cores: int, scratch: Path) -> EspressoOracle:
    density, smearing, ecut = (float(x) for x in setting.split(":"))
    cfg = EspressoOracleConfig(cutoff_ev=ecut * RYDBERG_EV, kpoints={"density": density},
                               smearing={"method": "marzari-vanderbilt", "width_ev": smearing},
                               pseudopotentials={"Al": "Al.pbe-tm-mlip.UPF"},
                               input_data={"electrons": {"mixing_beta": 0.4}},
                               launcher=None, scratch_dir=str(scratch))  # the oracle's own mpirun choice
    return EspressoOracle(cfg, cores=cores)


def calculate(out: Path, cell: str, setting: str, which: str, atoms, cores: int):
    path = out / f"{cell}-{which}-{setting.replace(':', '_')}.json"
    if path.is_file():
        return json.loads(path.read_text())
    orc = oracle(setting, cores, out / "runs")
    t0 = time.perf_counter()
    lab = orc.label(atoms)
    rec = {"cell": cell, "which": which, "setting": setting, "grid": list(orc.kpoint_grid(atoms, False)),
           "wall_s": round(time.perf_counter() - t0, 1), "energy": lab.get_potential_energy(),
           "forces": lab.get_forces().tolist(), "n_atoms": len(atoms)}
    path.write_text(json.dumps(rec))
    print(f"{cell} {which} {setting} grid {rec['grid']}: {rec['wall_s']} s (measured under load)", flush=True)
    return rec


def as_atoms(rec, atoms):
    from ase.calculators.singlepoint import SinglePointCalculator

    a = atoms.copy()
    a.calc = SinglePointCalculator(a, energy=rec["energy"], forces=np.array(rec["forces"]))
    return a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", default="t8", choices=sorted(CELLS))
    ap.add_argument("--rattle", type=float, default=0.08, help="rattle stdev in Å (thermal at ~600-900 K)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--calc", action="append", default=[], help="density:smearing:cutoff to compute")
    ap.add_argument("--compare", action="append", default=[], help="base,tighter pairs to report")
    ap.add_argument("--out", default="benchmarks/out/label_noise")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rep, parent = structures(args.cell, args.rattle, args.seed)
    settings = list(dict.fromkeys(args.calc + [s for pair in args.compare for s in pair.split(",")]))
    recs = {}
    for s in settings:
        recs[s] = (calculate(out, args.cell, s, "rattled", rep, args.cores),
                   calculate(out, args.cell, s, "parent", parent, args.cores))
    for pair in args.compare:
        a, b = pair.split(",")
        noise = setting_noise("pair", f"{a} -> {b}", as_atoms(recs[a][0], rep), as_atoms(recs[b][0], rep),
                              as_atoms(recs[a][1], parent), as_atoms(recs[b][1], parent))
        f_rms = float(np.sqrt(np.mean(np.square(recs[b][0]["forces"]))))
        print(f"{args.cell} {a} (grid {recs[a][0]['grid']}, {recs[a][0]['wall_s']} s) vs {b} (grid {recs[b][0]['grid']}, "
              f"{recs[b][0]['wall_s']} s): F {1000 * noise.force_rms:.1f} meV/Å RMS, max {1000 * noise.force_max:.1f}; "
              f"E rel. parent {1000 * noise.energy_per_atom:.2f} meV/atom, shift {1000 * noise.energy_shift_per_atom:.2f}; "
              f"|F| RMS {1000 * f_rms:.0f} meV/Å", flush=True)


if __name__ == "__main__":
    main()

"""pw.x k-point pools against the plane-wave division, on the cells examples/al_espresso labels (issue 30).

Each cell is labelled by the pipeline's own EspressoOracle with the example's settings (density as given,
30 Ry, Marzari-Vanderbilt 0.2 eV, conv_thr 1e-5, mixing 0.4) twice per round: `oracle.pools: 1` (pw.x
divides the plane waves over the ranks, as before) and the derived pools (`kpoint_pools`: one pool per
rank for these grids). The two runs of a round alternate which goes first, so a drift of the machine's
load hits both. Prints wall times, the ratio derived/1 per cell, and the largest force difference
(parallel layout only: it must be at SCF precision).

    .venv/bin/python benchmarks/espresso_pools.py --cores 2 --density 6 --rounds 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.build import bulk

from mlip_autopipec.components.oracles.espresso import EspressoOracle, kpoint_pools
from mlip_autopipec.domain_models.oracle_config import RYDBERG_EV, EspressoOracleConfig


def cells() -> dict:
    t8 = bulk("Al", "fcc", a=4.04, cubic=True) * (2, 1, 1)
    t8.rattle(0.1, seed=1)
    vac = bulk("Al", "fcc", a=4.04, cubic=True) * (2, 2, 1)
    del vac[0]
    vac.rattle(0.1, seed=2)
    return {"8 atoms (cube x 2,1,1)": t8, "15 atoms (cube x 2,2,1, vacancy)": vac}


def oracle(density: float, pools: int | None, cores: int, scratch: Path) -> EspressoOracle:
    cfg = EspressoOracleConfig(cutoff_ev=30 * RYDBERG_EV, kpoints={"density": density, "gamma": False},
                               smearing={"method": "marzari-vanderbilt", "width_ev": 0.2},
                               pseudopotentials={"Al": "Al.pbe-tm-mlip.UPF"}, pools=pools,
                               input_data={"electrons": {"mixing_beta": 0.4, "conv_thr": 1.0e-5}},
                               scratch_dir=str(scratch))
    return EspressoOracle(cfg, cores=cores)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--density", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="espresso-pools-"))
    print(f"pw.x on {args.cores} MPI ranks, k-point density {args.density}")
    print("| cell | k-point grid | pools | wall s, pools 1 | wall s, derived | ratio derived/1 | max dF eV/Å |")
    print("| --- | --- | ---: | --- | --- | ---: | ---: |")
    for name, atoms in cells().items():
        base = oracle(args.density, 1, args.cores, scratch)
        grid = base.kpoint_grid(atoms, isolated=False)
        derived = kpoint_pools(args.cores, grid)
        times: dict[str, list[float]] = {"one": [], "derived": []}
        forces: dict[str, np.ndarray] = {}
        for r in range(args.rounds):
            order = ("one", "derived") if r % 2 == 0 else ("derived", "one")
            for which in order:
                orc = oracle(args.density, 1 if which == "one" else None, args.cores, scratch)
                t0 = time.perf_counter()
                forces[which] = orc.label(atoms).get_forces()
                times[which].append(time.perf_counter() - t0)
        ratio = sum(times["derived"]) / sum(times["one"])
        df = float(np.abs(forces["derived"] - forces["one"]).max())
        fmt = lambda ts: " / ".join(f"{t:.1f}" for t in ts)  # noqa: E731
        print(f"| {name} | {'x'.join(map(str, grid))} | {derived} | {fmt(times['one'])} | {fmt(times['derived'])} "
              f"| {ratio:.2f} | {df:.1e} |")


if __name__ == "__main__":
    main()

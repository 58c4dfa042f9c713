"""Why a Si/GPAW potential misses C11, C12, C44 while its lattice constant and bulk modulus match
(matrix si, issue 30): a development-draw experiment, not a quoted number.

The initial data strains the cell only isotropically (initial_data.strains) and the exploration is NVT at
that cell, so no label shows the energy of a sheared or tetragonal cell: the volume response (B) is
learnt, the shear response (C11 - C12, C44) only indirectly from rattled atoms. This script labels a
few rattled cells under shear and tetragonal strain with the run's own oracle (GPAW, its settings), refits
the run's labels with and without them, with the ladder's rung rule counting fitted rows instead of
environments and with stress weight 1 (the run's trainer config otherwise, the run's seed), and computes each
potential's relaxed-ion C11, C12, C44 with ASE at its own equilibrium (the properties stage's method:
+-1 % Voigt strains xx and yz, ions relaxed at fixed cell, central stress differences).

    PYTHONPATH=src .venv/bin/python benchmarks/si_elastic_diagnosis.py <run dir of a matrix si run>
Seed family 2028_9000 (the strained cells' rattles): never used by a matrix or a loop run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.io import read, write
from ase.optimize import BFGS
from ase.units import GPa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mlip_autopipec.components.base import PotentialFiles  # noqa: E402
from mlip_autopipec.components.registry import make_oracle, make_trainer  # noqa: E402
from mlip_autopipec.domain_models.config import load_config  # noqa: E402
from mlip_autopipec.domain_models.records import read_reference_energies_file  # noqa: E402
from mlip_autopipec.properties.elastic import strained  # noqa: E402

SEED_FAMILY = 2028_9000
STRAINS = [(0, 0.02), (0, -0.02), (3, 0.03), (3, -0.03), (5, 0.03), (1, -0.02)]  # (Voigt component, magnitude)


def sheared_cells(a: float, rattle: float) -> list:
    rng = np.random.default_rng(SEED_FAMILY)
    base = bulk("Si", "diamond", a=a, cubic=True)
    out = []
    for voigt, eps in STRAINS:
        cell = strained(base, voigt, eps)
        cell.positions += rng.normal(0, rattle, cell.positions.shape)
        out.append(cell)
    return out


def elastic(calc, a0: float, strain: float = 0.01) -> dict[str, float]:
    cell = bulk("Si", "diamond", a=a0, cubic=True)
    cell.calc = calc
    BFGS(FrechetCellFilter(cell), logfile=None).run(fmax=0.001, steps=200)
    c = {}
    for voigt in (0, 3):
        stress = []
        for sign in (1, -1):
            s = strained(cell, voigt, sign * strain)
            s.calc = calc
            BFGS(s, logfile=None).run(fmax=0.001, steps=200)
            stress.append(s.get_stress(voigt=True))
        c[voigt] = (stress[0] - stress[1]) / (2 * strain) / GPa
    return {"a": float(cell.cell.lengths()[0]), "C11": float(c[0][0]), "C12": float(np.mean(c[0][1:3])),
            "C44": float(c[3][3])}


def main(run: Path) -> None:
    rcfg = load_config(run / "config.yaml")
    cfg = rcfg.cfg
    work = run / "elastic_diagnosis"
    work.mkdir(exist_ok=True)
    labelled_file = work / "sheared_labels.extxyz"
    if not labelled_file.is_file():
        oracle = make_oracle(cfg.oracle, cores=1, scratch_root=work / "oracle_runs")
        labels = [oracle.label(c) for c in sheared_cells(5.47, cfg.initial_data.rattle_stdev or 0.05)]
        write(labelled_file, labels)
    sheared = read(labelled_file, index=":")
    labels = [a for f in sorted(run.glob("*/labels.extxyz")) if f.parent.name.startswith(("initial", "iter_"))
              for a in read(f, index=":")]
    reference = read_reference_energies_file(run / "initial" / "reference_energies.json")
    print(f"labels: {len(labels)} (+{len(sheared)} sheared)")
    r = elastic(make_trainer(cfg.trainer).calculator(PotentialFiles.in_dir(run / "final")), 5.47)
    print(f"{'the run final/':34s} C11 {r['C11']:6.1f}  C12 {r['C12']:6.1f}  C44 {r['C44']:6.1f} GPa")
    # (name, with the sheared cells, ladder rows per function instead of 2 environments per function, stress weight)
    for name, extra, rows, stress in (("refit", False, None, None), ("+ sheared", True, None, None),
                                      ("rows2", False, 2.0, None), ("stress1", False, None, 1.0),
                                      ("rows2 stress1", False, 2.0, 1.0), ("rows2 stress1 + sheared", True, 2.0, 1.0)):
        t = cfg.trainer
        if rows is not None:
            t = t.model_copy(update={"ladder": t.ladder.model_copy(update={"envs_per_function": 0.0,
                                                                           "rows_per_function": rows})})
        if stress is not None:
            t = t.model_copy(update={"stress_weight": stress})
        out = work / name.replace(" ", "_").replace("+", "plus")
        out.mkdir(exist_ok=True)
        trainer = make_trainer(t)
        fit = trainer.fit(labels + (sheared if extra else []), out, reference, None, cfg.seed)
        held = fit["ladder"]["holdout"]
        r = elastic(trainer.calculator(PotentialFiles.in_dir(out)), 5.47)
        print(f"{name:34s} C11 {r['C11']:6.1f}  C12 {r['C12']:6.1f}  C44 {r['C44']:6.1f} GPa  rung "
              f"{fit['ladder']['functions_per_element']}  ladder held-out F {1e3 * held['force_rmse']:.1f} meV/Å, "
              f"P {held.get('pressure_rmse_gpa') or float('nan'):.2f} GPa", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

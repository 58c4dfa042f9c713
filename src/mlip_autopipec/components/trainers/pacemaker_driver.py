"""Runs inside the pacemaker environment: labelled extxyz -> pacemaker DataFrame -> `pacemaker`.

Why a separate script: the pacemaker trainer runs with its own interpreter (tensorpotential needs
numpy<2.4 and pandas<3; the main environment has newer ones), and a pandas pickle written by one
pandas major version does not load in another. So the main process writes the data as extended
XYZ (neutral, text) and this script, run by the pacemaker interpreter *by path*, builds the
DataFrame with that environment's pandas and then runs pacemaker's CLI in the same process
(one TensorFlow start-up per fit).

Standalone on purpose: it imports only numpy, pandas, ASE and pyace (all in the pacemaker
environment), never mlip_autopipec, which that environment does not have.

    <pacemaker python> pacemaker_driver.py data.extxyz input.yaml

The data file's frames carry energy, forces (and stress) from a SinglePointCalculator, as
`ase.io.write` stores them; the isolated-atom energies come from input.yaml's
`data: reference_energy:`; the DataFrame is written to the `data: filename:` of input.yaml.
"""

from __future__ import annotations

import sys
from pathlib import Path

COLUMNS = ["ase_atoms", "energy", "energy_corrected", "forces", "stress", "NUMBER_OF_ATOMS"]
# per-structure energy weight (info) and per-atom force weights (arrays) of cut-outs: when any frame
# carries them, they become pacemaker's `w_energy` / `w_forces` columns (used as given)
W_ENERGY_KEY = "pacemaker_w_energy"
W_FORCES_KEY = "pacemaker_w_forces"


def build_dataframe(frames, reference_energies: dict):
    """pacemaker's DataFrame (same columns as `ace_common.frames_to_dataframe`)."""
    import numpy as np
    import pandas as pd

    rows = []
    for i, atoms in enumerate(frames):
        if atoms.calc is None:
            raise ValueError(f"frame {i} carries no energy/forces")
        energy = float(atoms.get_potential_energy())
        forces = np.array(atoms.get_forces(), dtype=float)
        try:
            stress = np.array(atoms.get_stress(), dtype=float)
        except Exception:  # noqa: BLE001  (ASE raises PropertyNotImplementedError or RuntimeError)
            stress = None
        symbols = atoms.get_chemical_symbols()
        missing = sorted(set(symbols) - set(reference_energies))
        if missing:
            raise ValueError(f"no isolated-atom reference energy for element(s) {missing}")
        clean = atoms.copy()
        clean.calc = None
        row = {
            "ase_atoms": clean,
            "energy": energy,
            "energy_corrected": energy - sum(float(reference_energies[s]) for s in symbols),
            "forces": forces,
            "stress": stress,
            "NUMBER_OF_ATOMS": len(clean),
        }
        if W_ENERGY_KEY in atoms.info:
            row["w_energy"] = float(atoms.info[W_ENERGY_KEY])
            row["w_forces"] = np.array(atoms.arrays[W_FORCES_KEY], dtype=float)
        rows.append(row)
    weighted = any("w_energy" in r for r in rows)
    if weighted and not all("w_energy" in r for r in rows):
        raise ValueError("either every frame carries pacemaker weights or none does")
    return pd.DataFrame(rows, columns=COLUMNS + (["w_energy", "w_forces"] if weighted else []))


def prepare(data_extxyz: Path, input_yaml: Path) -> Path:
    """Write the DataFrame named in input.yaml from the extxyz frames; returns its path."""
    import yaml
    from ase.io import read

    spec = yaml.safe_load(Path(input_yaml).read_text())
    data = spec["data"]
    out = Path(input_yaml).parent / data["filename"]
    frames = read(str(data_extxyz), index=":", format="extxyz")
    df = build_dataframe(frames, data["reference_energy"])
    df.to_pickle(out, compression="gzip", protocol=4)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: pacemaker_driver.py DATA.extxyz INPUT.yaml", file=sys.stderr)
        return 2
    data_extxyz, input_yaml = Path(argv[0]), Path(argv[1])
    prepare(data_extxyz, input_yaml)
    from pyace.cli.pacemaker import main as pacemaker_main

    pacemaker_main([input_yaml.name, "--no-predict"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

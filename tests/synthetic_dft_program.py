"""The synthetic "DFT program" of tests/synthetic_dft.py (see there; written by this project).
Only the standard library at start-up, so a failing run costs no more than Python's start."""

import json
import sys
from pathlib import Path


def main(mode: str) -> int:
    data = json.loads(Path("input.json").read_text())
    if mode == "exit":
        print("synthetic_dft: FATAL: cannot allocate the wave functions", file=sys.stderr)
        return 3
    if mode == "sigterm":  # stopped from outside (a scheduler's time limit), as `kill` would
        import os
        import signal

        os.kill(os.getpid(), signal.SIGTERM)
    if mode == "exit143":  # what mpirun returns when its rank was stopped by SIGTERM
        print("mpirun noticed that process rank 0 exited on signal 15 (Terminated).", file=sys.stderr)
        return 143
    import numpy as np
    from ase import Atoms
    from ase.calculators.emt import EMT

    atoms = Atoms(numbers=data["numbers"], positions=data["positions"], cell=data["cell"], pbc=data["pbc"])
    atoms.calc = EMT()
    forces = atoms.get_forces()
    if mode == "nan":
        forces[:] = np.nan
    out = {"energy": atoms.get_potential_energy(), "forces": forces.tolist(),
           "stress": atoms.get_stress(voigt=True).tolist()}
    if mode == "renamed":
        out["total_energy"] = out.pop("energy")
    Path("output.json").write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""A synthetic "DFT program" and its ASE calculator, written by this project for the failure tests
(tests/test_oracle_failures.py): a real external program the oracle starts as a subprocess.

The program (`python synthetic_dft_program.py MODE` in a directory holding `input.json`) it computes EMT
energies, forces and stress of the structure and writes `output.json`; MODE changes what it does:

* `ok`: a normal run.
* `exit`: prints an error and exits with code 3 (a crashed code).
* `sigterm`: kills itself with SIGTERM (stopped from outside: a time limit, preemption, Ctrl-C);
  `exit143`: exits 143 as mpirun does when its rank got SIGTERM.
* `nan`: exits 0 but writes NaN forces (a broken SCF).
* `renamed`: exits 0 and writes its energy under another key, which the parser does not know, so
  `read_results` raises KeyError: a bug on the parser's side, not a failed calculation.

As a module it is `SyntheticDFT`, a FileIOCalculator (ASE runs the program, non-zero exit ->
CalculationFailed) whose `mode` parameter is passed to the program.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import numpy as np
from ase.calculators.calculator import FileIOCalculator

PROGRAM = Path(__file__).resolve().with_name("synthetic_dft_program.py")


def write_input(atoms, directory: Path) -> None:
    payload = {"numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
               "cell": atoms.cell.array.tolist(), "pbc": atoms.pbc.tolist()}
    (Path(directory) / "input.json").write_text(json.dumps(payload))


def parse_output(directory: Path) -> dict:
    """The parser: the program's output keys as it writes them in `ok` mode."""
    data = json.loads((Path(directory) / "output.json").read_text())
    return {"energy": float(data["energy"]), "free_energy": float(data["energy"]),
            "forces": np.array(data["forces"], dtype=float), "stress": np.array(data["stress"], dtype=float)}


class SyntheticDFT(FileIOCalculator):
    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    default_parameters = {"mode": "ok"}

    def __init__(self, mode: str = "ok", **kwargs):
        super().__init__(command=f"{shlex.quote(sys.executable)} {shlex.quote(str(PROGRAM))} {mode}", **kwargs)
        self.parameters["mode"] = mode

    def write_input(self, atoms, properties=None, system_changes=None):
        super().write_input(atoms, properties, system_changes)
        write_input(atoms, Path(self.directory))

    def read_results(self):
        self.results = parse_output(Path(self.directory))

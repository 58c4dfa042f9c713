"""GPAW in plane-wave mode (PAW setups from the gpaw-data wheel, found without configuration).

One core: GPAW runs in this process (the LABEL step forks a child for it when `timeout_s` is
set). More cores (or an explicit `launcher`): the launcher starts this Python under MPI on
`gpaw_driver`, which reads the structure and GPAW's parameters from the run directory and writes
the results back as JSON.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.io import write

from ...core.errors import OracleError, UserError
from ...domain_models.oracle_config import GPAWOracleConfig, SmearingConfig
from .common import singlepoint
from .external import DFTOracle, blas_threads, patched_environ, tail
from .gpaw_result import GpawParameters, read_gpaw_result

INSTALL_HINT = "install it with tools/install_oracles.sh (pip gpaw + gpaw-data, Debian libxc/OpenBLAS/FFTW/MPI)"


def gpaw_occupations(smearing: SmearingConfig) -> dict:
    """GPAW's occupation dict (GPAW has no plain Gaussian: it is Methfessel-Paxton of order 0)."""
    if smearing.method == "gaussian":
        return {"name": "methfessel-paxton", "width": smearing.width_ev, "order": 0}
    if smearing.method == "methfessel-paxton":
        return {"name": "methfessel-paxton", "width": smearing.width_ev, "order": 1}
    return {"name": smearing.method, "width": smearing.width_ev}


class GPAWOracle(DFTOracle):
    name = "gpaw"
    cfg: GPAWOracleConfig
    config_class = GPAWOracleConfig
    scf_hint = "or loosen oracle.parameters.convergence"

    # -- setup checks ------------------------------------------------------------------------------
    def check_setup(self) -> None:
        try:
            import gpaw  # noqa: F401
        except ImportError as exc:
            raise UserError(f"oracle.kind=gpaw: GPAW cannot be imported ({exc}); {INSTALL_HINT}") from None
        self.check_launcher()

    def check_elements(self, symbols: Sequence[str]) -> None:
        self.check_setup()
        from gpaw.setup import create_setup

        for symbol in sorted(set(symbols)):
            kind = self.cfg.setups if isinstance(self.cfg.setups, str) else self.cfg.setups.get(symbol, "paw")
            try:
                create_setup(symbol, self.cfg.xc, type=kind)
            except Exception as exc:  # noqa: BLE001 - missing file, unknown functional, ...
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UserError(
                    f"oracle.setups: GPAW has no usable '{kind}' setup for {symbol} with xc={self.cfg.xc} "
                    f"({first}); install gpaw-data (tools/install_oracles.sh), set GPAW_SETUP_PATH, or "
                    f"choose other oracle.setups / oracle.xc"
                ) from None

    def overriding_keys(self, setting: str) -> list[str]:
        """oracle.parameters is applied last: its kpts, mode (cutoff) or occupations would hide a
        tightened common field."""
        keys = {"kpoints": "kpts", "cutoff": "mode", "smearing": "occupations"}
        return [f"oracle.parameters.{keys[setting]}"] if keys.get(setting) in self.cfg.parameters else []

    # -- calculation -------------------------------------------------------------------------------
    def parameters(self, atoms: Atoms, rundir: Path, isolated: bool) -> dict:
        """GPAW keyword arguments (JSON-serialisable, so the MPI driver can read them)."""
        cfg = self.cfg
        params = {
            "mode": {"name": "pw", "ecut": cfg.cutoff_ev},
            "xc": cfg.xc,
            "kpts": {"size": list(self.kpoint_grid(atoms, isolated)), "gamma": cfg.kpoints.gamma},
            "occupations": gpaw_occupations(cfg.smearing),
            "maxiter": cfg.max_scf_iterations,
            "setups": cfg.setups,
            "txt": str(rundir / "gpaw.txt"),
        }
        params.update(cfg.parameters)
        return params

    def in_process(self) -> bool:
        return self.launcher() == ""

    def compute(self, atoms: Atoms, rundir: Path, isolated: bool) -> Atoms:
        work = self.prepared(atoms, isolated)
        params = self.parameters(atoms, rundir, isolated)  # k-points follow the structure, not its box
        need_stress = self.wants_stress(atoms, isolated)
        settings = self.settings(atoms) if not isolated else None
        if self.in_process():
            return self._compute_in_process(work, atoms, params, need_stress, settings)
        return self._compute_mpi(work, atoms, params, rundir, isolated)

    def _compute_in_process(self, work, atoms, params, need_stress, settings) -> Atoms:
        from gpaw import GPAW

        calc = self.constructed(GPAW, params)
        try:
            with blas_threads(self.cores):
                out = singlepoint(work, calc, self.name, need_stress=need_stress, settings=settings,
                                  force_consistent=True)
        except Exception as exc:
            if type(exc).__name__ == "KohnShamConvergenceError":
                raise OracleError(f"{self.name}: {self.scf_not_converged()}") from exc
            raise  # classified by the failure rule (base.Oracle)
        return self.as_given(out, atoms)

    @staticmethod
    def constructed(gpaw_class, params: dict):
        """GPAW(**params): parameters it rejects are the config's mistake (every structure would fail
        alike), so they stop the job with a UserError naming oracle.parameters."""
        try:
            return gpaw_class(**params)
        except (TypeError, ValueError, KeyError) as exc:
            raise UserError(f"oracle.parameters: GPAW rejects its parameters ({type(exc).__name__}: {exc}); "
                            f"fix oracle.parameters") from exc

    def _compute_mpi(self, work, atoms, params, rundir: Path, isolated: bool) -> Atoms:
        need_stress = self.wants_stress(atoms, isolated)
        write(rundir / "input.traj", work)
        (rundir / "parameters.json").write_text(json.dumps(GpawParameters(gpaw=params, need_stress=need_stress).model_dump()))
        command = self.command(f"{shlex.quote(sys.executable)} -m mlip_autopipec.components.oracles.gpaw_driver "
                               f"{shlex.quote(str(rundir))}")
        wall = self.launch(command, rundir, "driver", env=self.run_env() | {"GPAW_MPI_BACKEND": "cgpaw"})
        result_file = rundir / "result.json"
        if not result_file.is_file():
            raise OracleError(f"{self.failed_to_run()} wrote no result.json: "
                              f"{tail(rundir / 'driver.err') or tail(rundir / 'driver.out')}")
        result = read_gpaw_result(result_file)
        if result.failed:
            if result.error_type == "KohnShamConvergenceError":
                raise OracleError(f"{self.name}: {self.scf_not_converged()}")
            if result.failure == "setup":
                raise UserError(f"oracle.parameters: GPAW rejects its parameters ({result.error_type}: "
                                f"{result.error}); fix oracle.parameters")
            if result.failure == "bug":  # the driver's own code failed: stop with its traceback
                raise RuntimeError(f"gpaw driver in {rundir} failed with {result.error_type}: {result.error}\n"
                                   f"{result.traceback or ''}")
            raise OracleError(f"gpaw calculation failed: {result.error_type}: {result.error}")
        stress = np.array(result.stress, dtype=float) if result.stress is not None else None
        return self.label_from_results(atoms, float(result.free_energy), np.array(result.forces, dtype=float),
                                       stress, isolated, wall, result.energy)

    def failed_to_run(self) -> str:
        return f"gpaw under '{self.launcher()}'"

    def diagnose(self, rundir: Path) -> str | None:
        text = (rundir / "gpaw.txt").read_text(errors="replace") if (rundir / "gpaw.txt").is_file() else ""
        if "Did not converge" in text:
            return self.scf_not_converged()
        return None

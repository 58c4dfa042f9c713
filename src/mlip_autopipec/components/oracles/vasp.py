"""VASP: ASE writes the inputs (INCAR, KPOINTS, POSCAR, POTCAR), the launcher runs VASP in the
structure's directory, and the results are read from OUTCAR (energy, forces, stress), with the
electronic convergence checked there too.

VASP is licensed software and cannot run on CI; `write_inputs` and `read_outcar` are the tested
halves, and `compute` joins them around one subprocess call.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms

from ...core.errors import OracleError, UserError
from ...domain_models.oracle_config import VaspOracleConfig
from .external import DFTOracle, patched_environ, scf_not_converged

VASP_ISMEAR = {"fermi-dirac": -1, "gaussian": 0, "methfessel-paxton": 1}


def outcar_converged(text: str) -> bool:
    """Whether the last electronic loop in an OUTCAR reached EDIFF.

    VASP 6 says so ("aborting loop because EDIFF is reached" / "... EDIFF was not reached
    (unconverged)"); for VASP 5 the last ionic step's electronic steps are compared with NELM.
    """
    aborts = re.findall(r"aborting loop (.*)", text)
    if aborts:
        return "EDIFF is reached" in aborts[-1]
    nelm = re.search(r"NELM\s*=\s*(\d+)", text)
    steps = re.findall(r"Iteration\s+\d+\(\s*(\d+)\)", text)
    if nelm is None or not steps:
        return True  # nothing to judge by; the parser below still needs a complete result
    return int(steps[-1]) < int(nelm.group(1))


def outcar_complete(text: str) -> bool:
    """Whether VASP finished writing the OUTCAR (it ends with the timing summary)."""
    return "General timing and accounting informations" in text


def read_outcar(path: str | Path, resort: Sequence[int] | None = None) -> dict:
    """Energy (free energy, TOTEN), energy(sigma->0), forces (eV/Å) and stress (eV/Å³, ASE's sign
    and Voigt order) of the last ionic step of an OUTCAR.

    `resort`: VASP's atom order → the original order (ASE writes POSCAR sorted by species).
    Raises OracleError if the file is missing, incomplete or unconverged.
    """
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise OracleError(f"vasp wrote no OUTCAR in {path.parent}")
    text = path.read_text(errors="replace")
    if not outcar_converged(text):
        nelm = re.search(r"NELM\s*=\s*(\d+)", text)
        raise OracleError("vasp: " + scf_not_converged(nelm.group(1) if nelm else "NELM", VaspOracle.scf_hint,
                                                       unit="electronic steps"))
    try:
        atoms = read(path, format="vasp-out", index=-1)
        calc = atoms.calc
        free_energy = float(calc.get_property("free_energy", allow_calculation=False))
        energy_sigma0 = float(calc.get_property("energy", allow_calculation=False))
        forces = np.array(calc.get_property("forces", allow_calculation=False), dtype=float)
        try:
            stress = calc.get_property("stress", allow_calculation=False)
        except Exception:  # noqa: BLE001 - ISIF=0 writes no stress
            stress = None
    except Exception as exc:
        if outcar_complete(text):
            raise  # VASP finished: the reader failing is a bug on our side (failure rule, base.py)
        raise OracleError(f"vasp: cannot read {path} ({type(exc).__name__}: {exc}); VASP did not finish "
                          f"(no timing summary at the end of the OUTCAR)") from exc
    if resort is not None:
        forces = forces[np.asarray(resort)]
    return {"free_energy": free_energy, "energy_sigma0": energy_sigma0, "forces": forces,
            "stress": None if stress is None else np.array(stress, dtype=float)}


class VaspOracle(DFTOracle):
    name = "vasp"
    cfg: VaspOracleConfig
    config_class = VaspOracleConfig
    scf_hint = "or oracle.incar: {ALGO: ..., AMIX: ...}"

    def pp_path(self) -> Path | None:
        return self.data_directory("pp_path", "VASP_PP_PATH", None)[0]

    def potcar(self, symbol: str) -> Path:
        root = self.pp_path()
        if root is None:
            raise UserError("oracle.pp_path is not set and $VASP_PP_PATH is empty; set oracle.pp_path to the "
                            "directory holding your POTCAR families (e.g. potpaw_PBE/)")
        path = root / self.cfg.potcar_family / f"{symbol}{self.cfg.setups.get(symbol, '')}" / "POTCAR"
        if not path.is_file():
            raise UserError(f"oracle.setups / oracle.potcar_family: no POTCAR for {symbol} at {path}; fix "
                            f"oracle.pp_path, oracle.potcar_family or oracle.setups.{symbol}")
        return path

    # -- setup checks ------------------------------------------------------------------------------
    def check_setup(self) -> None:
        self.check_program(self.cfg.executable, "executable",
                           "VASP is licensed software: load your cluster's VASP module")
        self.check_launcher()

    def check_elements(self, symbols: Sequence[str]) -> None:
        for symbol in sorted(set(symbols)):
            self.potcar(symbol)

    def overriding_keys(self, setting: str) -> list[str]:
        """oracle.incar is applied last: its KSPACING, ENCUT or ISMEAR/SIGMA would hide a tightened
        common field."""
        keys = {"kpoints": ("KSPACING", "KGAMMA"), "cutoff": ("ENCUT",), "smearing": ("SIGMA", "ISMEAR")}
        tags = {k.upper() for k in self.cfg.incar}
        return [f"oracle.incar.{k}" for k in keys.get(setting, ()) if k in tags]

    # -- inputs, run, outputs --------------------------------------------------------------------------
    def incar(self, atoms: Atoms, isolated: bool) -> dict:
        """ASE `Vasp` keyword arguments (INCAR tags in lower case, plus kpts/gamma/setups/pp)."""
        cfg = self.cfg
        params = {
            "xc": cfg.xc.lower(), "pp": cfg.potcar_family, "setups": dict(cfg.setups),
            "kpts": list(self.kpoint_grid(atoms, isolated)), "gamma": cfg.kpoints.gamma or isolated,
            "ismear": VASP_ISMEAR[cfg.smearing.method], "sigma": cfg.smearing.width_ev,
            "nelm": cfg.max_scf_iterations, "ediff": 1e-6, "prec": "Accurate", "lreal": False,
            "isif": 2 if self.wants_stress(atoms, isolated) else 0, "ibrion": -1, "nsw": 0,
            "lwave": False, "lcharg": False,
            "ispin": 2 if (cfg.spin_polarized or isolated) else 1,
        }
        if cfg.cutoff_ev is not None:
            params["encut"] = cfg.cutoff_ev
        params.update({k.lower(): v for k, v in cfg.incar.items()})
        return params

    def write_inputs(self, atoms: Atoms, rundir: Path, isolated: bool = False):
        """Write INCAR, KPOINTS, POSCAR and POTCAR into `rundir`; returns the ASE calculator (which
        holds the species sort order VASP sees, `calc.resort`)."""
        from ase.calculators.vasp import Vasp

        for symbol in set(atoms.get_chemical_symbols()):
            self.potcar(symbol)  # a clear UserError before ASE's generic one
        work = self.prepared(atoms, isolated)
        calc = Vasp(directory=str(rundir), command=self.command(self.cfg.executable), **self.incar(atoms, isolated))
        with patched_environ({"VASP_PP_PATH": str(self.pp_path())}), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Loaded VASP_PP_PATH from environment")
            calc.write_input(work)
        return calc

    def compute(self, atoms: Atoms, rundir: Path, isolated: bool) -> Atoms:
        calc = self.write_inputs(atoms, rundir, isolated)
        wall = self.launch(self.command(self.cfg.executable), rundir, "vasp")
        result = read_outcar(rundir / "OUTCAR", resort=calc.resort)
        return self.label_from_results(atoms, result["free_energy"], result["forces"], result["stress"], isolated,
                                       wall, result["energy_sigma0"], stress_why=" (ISIF=0?)")

    def diagnose(self, rundir: Path) -> str | None:
        out = rundir / "vasp.out"
        text = out.read_text(errors="replace") if out.is_file() else ""
        for line in text.splitlines():
            if "ERROR" in line.upper() or "VERY BAD NEWS" in line.upper():
                return f"VASP reported: {line.strip(' |')}"
        return None

"""Any ASE calculator as the oracle, by import path and keyword arguments.

File-based calculators (FileIOCalculator, GenericFileIOCalculator) run in the structure's own
directory; in-memory ones (EMT, LennardJones, tblite, MACE, ...) ignore it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Sequence

from ase import Atoms
from ase.calculators.calculator import FileIOCalculator

from ...core.errors import UserError
from ...domain_models.oracle_config import AseCalculatorOracleConfig
from .common import singlepoint
from .external import ExternalOracle


class AseCalculatorOracle(ExternalOracle):
    name = "ase"
    cfg: AseCalculatorOracleConfig

    def __init__(self, cfg: AseCalculatorOracleConfig, cores: int = 1, scratch_root=None):
        super().__init__(cfg, cores=cores, scratch_root=scratch_root)

    def factory(self):
        """The class (or factory function) named by oracle.calculator."""
        path = self.cfg.calculator
        module_name, _, attr = path.replace(":", ".").rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UserError(f"oracle.calculator: cannot import {module_name} ({exc}); install the package that "
                            f"provides it or fix the import path") from None
        try:
            return getattr(module, attr)
        except AttributeError:
            raise UserError(f"oracle.calculator: {module_name} has no {attr}; fix the import path") from None

    def calculator(self, directory: Path | None = None):
        """A live calculator (also used for oracle-driven MD of a generated validation set)."""
        factory = self.factory()
        try:
            calc = factory(**self.cfg.parameters)
        except TypeError as exc:
            raise UserError(f"oracle.parameters: {self.cfg.calculator} does not accept them ({exc})") from None
        if directory is not None and _file_based(calc):
            calc.directory = str(directory)
        return calc

    def implemented(self, calc) -> set[str]:
        return set(getattr(calc, "implemented_properties", ()) or ())

    def check_setup(self) -> None:
        calc = self.calculator()
        props = self.implemented(calc)
        if props and self.cfg.need_stress and "stress" not in props:
            raise UserError(f"oracle.need_stress: {self.cfg.calculator} does not compute stress (it implements "
                            f"{', '.join(sorted(props))}); set oracle.need_stress: false or choose another "
                            f"calculator")

    def check_elements(self, symbols: Sequence[str]) -> None:
        self.check_setup()

    def settings(self, atoms: Atoms | None = None) -> dict:
        return {"kind": "ase", "calculator": self.cfg.calculator, "parameters": self.cfg.parameters,
                "need_stress": self.cfg.need_stress}

    def compute(self, atoms: Atoms, rundir: Path, isolated: bool) -> Atoms:
        calc = self.calculator(rundir)
        work = atoms.copy()
        if isolated:
            work.pbc = False  # molecular calculators need it; periodic ones see a big box anyway
        return singlepoint(work, calc, self.name, need_stress=self.cfg.need_stress and not isolated,
                           settings=None if isolated else self.settings(atoms),
                           force_consistent="free_energy" in self.implemented(calc))


def _file_based(calc) -> bool:
    from ase.calculators.genericfileio import GenericFileIOCalculator

    return isinstance(calc, (FileIOCalculator, GenericFileIOCalculator))

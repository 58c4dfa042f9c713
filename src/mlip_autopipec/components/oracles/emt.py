"""ASE's EMT: an instant, embedded stand-in for DFT on fcc metals."""

from __future__ import annotations

from typing import Sequence

from ase import Atoms
from ase.calculators.emt import EMT, parameters

from ...core.errors import UserError
from ...domain_models.config import EMTOracleConfig
from .base import Oracle
from .common import isolated_atom, singlepoint


class EMTOracle(Oracle):
    name = "emt"

    def __init__(self, cfg: EMTOracleConfig | None = None):
        self.cfg = cfg or EMTOracleConfig()

    def calculator(self) -> EMT:
        """A live calculator, for oracle-driven MD (validation frames); cheap oracles only."""
        return EMT()

    def compute_label(self, atoms: Atoms) -> Atoms:
        return singlepoint(atoms, self.calculator(), self.name, need_stress=self.cfg.need_stress,
                           settings={"kind": "emt"})

    def compute_isolated(self, symbol: str) -> float:
        return float(singlepoint(isolated_atom(symbol), EMT(), self.name, need_stress=False).get_potential_energy())

    def check_elements(self, symbols: Sequence[str]) -> None:
        unsupported = sorted(set(symbols) - set(parameters))
        if unsupported:
            raise UserError(
                f"oracle.kind=emt cannot compute {', '.join(unsupported)}: EMT knows only "
                f"{', '.join(sorted(parameters))}; choose another oracle (e.g. gpaw) or other elements"
            )

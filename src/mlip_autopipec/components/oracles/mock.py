"""A Morse pair potential as a stand-in oracle: deterministic and cheap, but physically shaped
(repulsive at short range, bound near r0) so fits and errors in mock runs mean something."""

from __future__ import annotations

from typing import Sequence

from ase import Atoms
from ase.calculators.morse import MorsePotential

from ...core.errors import OracleError
from ...core.identity import structure_hash
from ...domain_models.config import MockOracleConfig
from .common import singlepoint


class MockOracle:
    name = "mock"

    def __init__(self, cfg: MockOracleConfig):
        self.cfg = cfg

    def calculator(self) -> MorsePotential:
        return MorsePotential(epsilon=self.cfg.epsilon, rho0=self.cfg.rho0, r0=self.cfg.r0)

    def label(self, atoms: Atoms) -> Atoms:
        if self.cfg.fail_fraction > 0:
            u = int(structure_hash(atoms)[:8], 16) / 0xFFFFFFFF
            if u < self.cfg.fail_fraction:
                raise OracleError("mock oracle: injected failure (fail_fraction)")
        return singlepoint(atoms, self.calculator(), self.name)

    def isolated_atom_energy(self, symbol: str) -> float:
        return 0.0  # a pair potential has no one-body term

    def check_elements(self, symbols: Sequence[str]) -> None:
        return None  # the pair potential treats every element alike

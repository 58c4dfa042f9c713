"""A Morse pair potential as a stand-in oracle: deterministic and cheap, but physically shaped
(repulsive at short range, bound near r0) so fits and errors in mock runs mean something."""

from __future__ import annotations

from typing import Sequence

import time

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.morse import MorsePotential

from ...core.errors import OracleError
from ...core.identity import structure_hash
from ...domain_models.config import MockOracleConfig
from .base import Oracle
from .common import singlepoint


class MockOracle(Oracle):
    name = "mock"

    def __init__(self, cfg: MockOracleConfig):
        self.cfg = cfg

    def calculator(self) -> MorsePotential:
        return MorsePotential(epsilon=self.cfg.epsilon, rho0=self.cfg.rho0, r0=self.cfg.r0)

    def _injected_failure(self, atoms: Atoms) -> bool:
        """Deterministic per structure, so a rerun fails on exactly the same ones."""
        return int(structure_hash(atoms)[:8], 16) / 0xFFFFFFFF < self.cfg.fail_fraction

    def compute_label(self, atoms: Atoms) -> Atoms:
        labelled = self._label(atoms)
        if self.cfg.call_log:  # only finished calculations: a killed one is rightly redone
            with open(self.cfg.call_log, "a") as fh:
                fh.write(structure_hash(atoms) + "\n")
        return labelled

    def _label(self, atoms: Atoms) -> Atoms:
        if self.cfg.fail_fraction > 0 and self._injected_failure(atoms):
            mode = self.cfg.fail_mode
            if mode == "raise":
                raise OracleError("mock oracle: injected failure (fail_fraction)")
            if mode == "hang":
                while True:
                    time.sleep(1)
            if mode == "nan":
                return singlepoint(atoms, _NaNForces(self.calculator()), self.name)
            if mode == "wrong_atoms":
                return singlepoint(atoms[:-1], self.calculator(), self.name)
        return singlepoint(atoms, self.calculator(), self.name)

    def compute_isolated(self, symbol: str) -> float:
        return 0.0  # a pair potential has no one-body term

    def tighter(self, setting: str, atoms: Atoms) -> tuple["MockOracle", str]:
        """The label-noise hook (see DFTOracle.tighter): the same pair potential, plus
        `tighter_force_noise` on the forces at 'tighter k-points', so that a test can make the labels
        as noisy as it needs."""
        noise = self.cfg.tighter_force_noise if setting == "kpoints" else 0.0
        return _TighterMock(self.cfg, noise), f"mock {setting} (force change {noise:g} eV/Å RMS)"

    def check_elements(self, symbols: Sequence[str]) -> None:
        return None  # the pair potential treats every element alike


class _TighterMock(MockOracle):
    """The mock at 'tighter settings': its forces plus a fixed zero-sum pattern of the given RMS."""

    def __init__(self, cfg: MockOracleConfig, force_noise: float):
        super().__init__(cfg.model_copy(update={"call_log": None}))
        self.force_noise = force_noise

    def _label(self, atoms: Atoms) -> Atoms:
        out = super()._label(atoms)
        if self.force_noise > 0:
            rng = np.random.default_rng(int(structure_hash(atoms)[:8], 16))
            pattern = rng.normal(size=(len(atoms), 3))
            pattern -= pattern.mean(axis=0)
            pattern *= self.force_noise / np.sqrt(np.mean(pattern**2))
            out.calc.results["forces"] = out.calc.results["forces"] + pattern
        return out


class _NaNForces(Calculator):
    """Wraps a calculator and poisons its forces: what a crashed SCF sometimes returns."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        work = self.atoms.copy()
        work.calc = self.inner
        self.results = {"energy": work.get_potential_energy(), "free_energy": work.get_potential_energy(),
                        "forces": np.full((len(work), 3), np.nan), "stress": work.get_stress()}

"""CHGNet as the oracle (weights shipped in the `chgnet` wheel: nothing is downloaded at run time).

CHGNet's `predict_structure` returns, per structure, `e` in eV/atom, `f` in eV/Å and `s` as a 3x3
tensor in GPa with ASE's sign (1/V dE/dε, positive = tensile; CHGNetCalculator multiplies it by
ase.units.GPa and nothing else). The labels here are total energy (e × atoms), forces as they are,
stress × ase.units.GPa in Voigt order: what CHGNetCalculator reports, checked in
tests/test_oracle_chgnet.py.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms, units
from ase.stress import full_3x3_to_voigt_6_stress

from ...domain_models.oracle_config import ChgnetOracleConfig
from .universal import Prediction, UniversalOracle


class ChgnetOracle(UniversalOracle):
    name = "chgnet"
    max_atomic_number = 94  # CHGNet's atom embedding covers H..Pu
    cfg: ChgnetOracleConfig

    def package(self) -> str:
        return "chgnet"

    def load_model(self):
        from chgnet.model import CHGNet

        model = CHGNet.load(model_name=self.cfg.model, use_device=self.cfg.device, verbose=False)
        # an isolated atom (reference energies) has no bond: answer it instead of warning
        model.graph_converter.set_isolated_atom_response("ignore")
        return model

    def predict(self, frames: Sequence[Atoms], need_stress: Sequence[bool]) -> list[Prediction]:
        from pymatgen.io.ase import AseAtomsAdaptor

        structures = [AseAtomsAdaptor.get_structure(_plain(a)) for a in frames]
        task = "efs" if any(need_stress) else "ef"
        raw = self.model.predict_structure(structures, task=task, batch_size=len(structures))
        if isinstance(raw, dict):  # one structure: CHGNet returns the dict itself
            raw = [raw]
        out: list[Prediction] = []
        for atoms, pred, want in zip(frames, raw, need_stress):
            energy = float(np.asarray(pred["e"]).reshape(-1)[0]) * len(atoms)
            forces = np.asarray(pred["f"], dtype=float).reshape(len(atoms), 3)
            stress = full_3x3_to_voigt_6_stress(np.asarray(pred["s"], dtype=float) * units.GPa) if want else None
            out.append((energy, forces, stress))
        return out

    def ase_calculator(self):
        from chgnet.model.dynamics import CHGNetCalculator

        return CHGNetCalculator(model=self.model, use_device=self.cfg.device)


def _plain(atoms: Atoms) -> Atoms:
    """Positions, numbers, cell and pbc only: pymatgen's adaptor would carry info/arrays (and a
    calculator's results) into the Structure's properties."""
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)

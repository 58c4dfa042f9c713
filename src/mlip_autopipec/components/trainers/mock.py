"""A trainer that fits nothing but records exactly which labels it saw.

Its `potential.yace` is JSON: the generation (number of fits in the lineage) lets the mock
dynamics behave like a potential that improves, and the label list lets tests check that every
iteration trained on all labels so far.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ase import Atoms

from ...core.errors import TrainingError
from ...core.io import write_json, write_text
from ...domain_models.config import MockOracleConfig, MockTrainerConfig
from ..base import PotentialFiles
from ...core.identity import structure_hash


def read_mock_potential(potential: PotentialFiles) -> dict:
    return json.loads(Path(potential.yace).read_text())


class MockTrainer:
    def __init__(self, cfg: MockTrainerConfig):
        self.cfg = cfg

    def fit(self, dataset: Sequence[Atoms], out_dir: Path, reference_energies: dict[str, float],
            previous: PotentialFiles | None, seed: int, prior=None) -> dict:
        """`prior` (two-level labelling, trainers/prior_fit.CheapPrior): its labels are listed as `prior_labels`
        in the potential, so tests see what reached the fit; a one-level potential has no such key."""
        generation = 0 if previous is None else read_mock_potential(previous)["generation"] + 1
        if generation in self.cfg.fail_generations:
            raise TrainingError(f"mock fit of generation {generation} diverged (loss is NaN)")
        content = {
            "kind": "mock",
            "generation": generation,
            "n_labels": len(dataset),
            "labels": [structure_hash(a) for a in dataset],
            "reference_energies": reference_energies,
        }
        if prior is not None:
            content["prior_labels"] = [structure_hash(a) for a in prior.frames]
        files = PotentialFiles.in_dir(out_dir)
        write_json(files.yaml, content)
        write_text(files.asi, "mock active set\n")
        write_json(files.yace, content)  # last: the rule's main output appears when all exist
        return {"n_structures": len(dataset), "generation": generation}

    def calculator(self, potential: PotentialFiles, with_gamma: bool = False):
        """The mock 'potential' is the mock oracle's Morse model (no gamma)."""
        from ase.calculators.morse import MorsePotential

        m = MockOracleConfig()
        return MorsePotential(epsilon=m.epsilon, rho0=m.rho0, r0=m.r0)

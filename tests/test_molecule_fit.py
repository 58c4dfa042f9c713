"""A real linear ACE fit of the CH4 example's initial data (EMT labels): the molecule sizing lets the
ladder choose a rung (the bulk ladder refused all and interpolated with 200 functions per element),
and the fit is sane on EMT MD frames it never saw. A few seconds; the held-out numbers of the whole
loop are benchmarks/molecule_heldout.py's (docs/systems.md "Small molecules")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "ch4_molecule"


def labelled(atoms):
    atoms = atoms.copy()
    atoms.calc = EMT()
    e, f = atoms.get_potential_energy(), atoms.get_forces()
    atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
    return atoms


def test_the_molecule_ladder_chooses_an_allowed_rung_and_fits_ch4(tmp_path):
    from ase import Atoms

    from mlip_autopipec.components.ace.common import ace_calculator
    from mlip_autopipec.components.base import PotentialFiles
    from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer
    from mlip_autopipec.core.metrics import rmse_metrics
    from mlip_autopipec.domain_models.config import load_config
    from mlip_autopipec.sampling.md_snapshots import langevin_snapshots
    from mlip_autopipec.sampling.structures import initial_training_structures

    cfg = load_config(EXAMPLE / "config.yaml").cfg
    ch4 = read(str(EXAMPLE / "ch4.xyz"))
    frames = [labelled(a) for a in initial_training_structures([ch4], cfg.initial_data, np.random.default_rng(7))]
    assert len(frames) == 68  # 1 + 63 rattled + 4 strained
    reference = {}
    for el in ("C", "H"):
        atom = Atoms(el)
        atom.calc = EMT()
        reference[el] = atom.get_potential_energy()
    metrics = LinearAceTrainer(cfg.trainer).fit(frames, tmp_path, reference, None, 0)
    ladder = metrics["ladder"]
    allowed = [r["allowed"] for r in ladder["rungs"]]
    # 68 labels, ~54 fitted x 16 rows = ~860 rows: 2 x (2 x 200) = 800 needed for the largest rung
    assert allowed[:3] == [True, True, True]
    assert ladder["rungs"][ladder["chosen_rung"]]["allowed"]
    # EMT MD frames near the rattled region (300 K, 0.5 fs, 30 steps): close, not the 361 eV/Å fall-back
    md = langevin_snapshots(ch4, EMT(), 300.0, 3, np.random.default_rng(11), stride=10, timestep_fs=0.5)
    rmse = rmse_metrics(ace_calculator(PotentialFiles.in_dir(tmp_path)), [labelled(a) for a in md])
    assert rmse["force_rmse"] < 0.05  # eV/Å: < 7 % of the labels' own force scale (~0.7 eV/Å at 300 K)

"""pacemaker's ladder fitting chosen on a held-out share, keep-the-best, and the stress default.

The fits are real pacemaker runs (tiny: 4-atom Cu/EMT cells, 6 and 12 functions, a few BFGS iterations);
they need the pacemaker environment (tools/install_pacemaker_extra.sh): under CI a missing one fails
them, elsewhere they are skipped.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from mlip_autopipec.components.ace.common import AceCalculator
from mlip_autopipec.components.base import PotentialFiles
from mlip_autopipec.components.trainers import pacemaker as pm
from mlip_autopipec.components.trainers import pacemaker_ladder
from mlip_autopipec.components.trainers.holdout import holdout_mask
from mlip_autopipec.core.metrics import rmse_metrics
from mlip_autopipec.domain_models.config import (AceBasisConfig, OTFConfig, PacemakerLadderConfig,
                                                 PacemakerTrainerConfig)
from pacemaker_support import emt_isolated_energy, emt_labelled_cu_cells, require_pacemaker_python

STEP = 6  # functions added per ladder step
SIZE = 12  # the ladder's target: 2 steps of 6 and 12 functions


def _cells(n: int, seed: int) -> list[Atoms]:
    """Rattled, slightly strained 4-atom fcc Cu cells labelled with EMT (energy, forces, stress)."""
    return emt_labelled_cu_cells(n, seed, repeat=1, base_stdev=0.05)


def _refs() -> dict[str, float]:
    return {"Cu": emt_isolated_energy("Cu")}


def _cfg(**over) -> PacemakerTrainerConfig:
    ladder = PacemakerLadderConfig(step=STEP, holdout_share=0.2, refit=over.pop("refit", False))
    return PacemakerTrainerConfig(basis=AceBasisConfig(cutoff=5.0, number_of_functions_per_element=SIZE, max_order=3),
                                  kappa=0.3, ladder=ladder, **{"max_iterations": 5, **over})


@pytest.fixture(scope="module")
def ladder_fit(tmp_path_factory):
    require_pacemaker_python()
    frames = _cells(10, seed=1)  # 3 held out, 7 fitted: 28 environments >= 2 x 12
    out = tmp_path_factory.mktemp("iter_000")
    metrics = pm.PacemakerTrainer(_cfg(refit=True)).fit(frames, out, _refs(), previous=None, seed=5)
    (out / "train.json").write_text(json.dumps({"stage": out.name, "n_structures": 0, "trainer": "t", "fit": metrics}))  # a TrainRecord, as steps/train writes it
    return frames, out, metrics


@pytest.mark.pacemaker
def test_ladder_scores_every_step_on_the_held_out_share_and_refits_the_best(ladder_fit):
    from pyace import BBasisConfiguration

    frames, out, metrics = ladder_fit
    lad = metrics["ladder"]
    held = holdout_mask(frames, 0.2)
    assert 0 < held.sum() < len(frames)
    assert (lad["n_holdout"], lad["n_fit"]) == (int(held.sum()), int((~held).sum()))
    # pacemaker's ladder saw only the training share, the refit every label
    ladder_log = (out / pacemaker_ladder.LADDER_LOG).read_text()
    assert re.search(rf"Fitting dataset size: {int((~held).sum())} structures", ladder_log)
    assert re.search(rf"Fitting dataset size: {len(frames)} structures", (out / pm.LOG_NAME).read_text())
    # one entry per ladder step, growing by STEP functions up to the target
    assert [r["functions_per_element"]["Cu"] for r in lad["rungs"]] == list(range(STEP, SIZE + 1, STEP))
    scores = [r["score"] for r in lad["rungs"]]
    assert all(s is not None and np.isfinite(s) for s in scores)
    assert lad["chosen_rung"] == int(np.argmin(scores))
    assert metrics["start"] == "ladder+refit" and lad["refit"] is True
    assert metrics["n_functions"] == lad["functions_per_element"]["Cu"]  # the refit keeps the chosen size
    # the chosen step as fitted (the stand-in kept for the next fit), scored here on the held-out
    # frames, has the recorded (lowest) score
    standin = out / "standin.yaml"
    standin.write_text(lad["holdout_fit"]["potential_yaml"])
    held_frames = [f for f, h in zip(frames, held) if h]
    err = rmse_metrics(AceCalculator(standin), held_frames)
    # the fit's weighting (kappa 0.3: energy row weight 0.7 / 0.3 x N per structure, 1 per force
    # component), normalised by the force components
    num = den = 0.0
    for f in held_frames:
        work = f.copy()
        work.calc = AceCalculator(standin)
        de = (work.get_potential_energy() - f.get_potential_energy()) / len(f)
        num += 0.7 / 0.3 * len(f) * de ** 2 + np.sum((work.get_forces() - f.get_forces()) ** 2)
        den += 3 * len(f)
    assert np.sqrt(num / den) == pytest.approx(min(scores), rel=1e-6)
    assert err["pressure_rmse_gpa"] == pytest.approx(lad["holdout"]["pressure_rmse_gpa"], rel=1e-6)
    # both carry the ZBL core repulsion (pacemaker gives it to its final potential only)
    for path in (standin, PotentialFiles.in_dir(out).yaml):
        assert {b.inner_cutoff_type for b in BBasisConfiguration(str(path)).funcspecs_blocks} == {"zbl"}, path


@pytest.mark.pacemaker
def test_a_worse_new_fit_keeps_the_earlier_potential(ladder_fit, tmp_path):
    frames, prev_out, prev_metrics = ladder_fit
    # one BFGS iteration from zero coefficients cannot beat the earlier fit on the held-out share
    cfg = _cfg(start="scratch", max_iterations=1, refit=True)
    cfg.ladder.step = SIZE
    out = tmp_path / "iter_001"
    metrics = pm.PacemakerTrainer(cfg).fit(frames + _cells(2, seed=4), out, _refs(),
                                           previous=PotentialFiles.fitted(prev_out), seed=6)
    keep = metrics["ladder"]["keep_best"]
    assert keep["kept_previous"] is True and keep["previous_score"] < keep["score"]
    assert metrics["start"] == "kept_previous"
    assert metrics["ladder"]["holdout_fit"]["stage"] == prev_out.name
    from pyace import BBasisConfiguration

    shipped = BBasisConfiguration(str(PotentialFiles.in_dir(out).yaml)).get_all_coeffs()
    earlier = BBasisConfiguration(str(PotentialFiles.in_dir(prev_out).yaml)).get_all_coeffs()
    np.testing.assert_array_equal(shipped, earlier)


def test_need_stress_defaults_to_false_with_pacemaker_and_an_explicit_value_wins():
    assert OTFConfig.model_validate({}).oracle.need_stress is True  # linear ACE fits virials
    cfg = OTFConfig.model_validate({"trainer": {"kind": "pacemaker"}})
    assert cfg.oracle.need_stress is False
    assert OTFConfig.model_validate(cfg.model_dump(mode="json")).oracle.need_stress is False  # Snakefile's re-dump
    explicit = OTFConfig.model_validate({"trainer": {"kind": "pacemaker"}, "oracle": {"kind": "emt", "need_stress": True}})
    assert explicit.oracle.need_stress is True


def test_pressure_rmse_over_frames_with_stress():
    frames = _cells(3, seed=9)
    shifted = []
    for k, f in enumerate(frames):  # labels whose pressure is off by 1 GPa (k = 0, 1) or unlabelled (k = 2)
        s = f.get_stress(voigt=True) - (np.array([1, 1, 1, 0, 0, 0]) * 1.0 / 160.21766208 if k < 2 else 0)
        g = f.copy()
        g.calc = SinglePointCalculator(g, energy=f.get_potential_energy(), forces=f.get_forces(),
                                       **({"stress": s} if k < 2 else {}))
        shifted.append(g)
    err = rmse_metrics(EMT(), shifted)
    assert err["pressure_rmse_gpa"] == pytest.approx(1.0, rel=1e-6)
    assert rmse_metrics(EMT(), shifted[2:])["pressure_rmse_gpa"] is None

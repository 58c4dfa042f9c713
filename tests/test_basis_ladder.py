"""The basis ladder, virial rows and keep-the-best of the linear ACE trainer, against EMT.

Small bases (<= 60 functions) and 32-atom Cu cells keep every fit to a few seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.md.langevin import Langevin
from mlip_autopipec.components.dynamics.ase_md import thermalize_momenta

from mlip_autopipec.components.base import PotentialFiles
from mlip_autopipec.components.ace import common as ace_common
from mlip_autopipec.components.trainers import basis_ladder
from mlip_autopipec.components.trainers.linear_ace import LinearAceTrainer
from mlip_autopipec.domain_models.config import BasisLadderConfig, BasisRung, LinearAceTrainerConfig

pytestmark = pytest.mark.slow

SMALL = BasisRung(number_of_functions_per_element=12, max_order=2, nradmax_by_orders=[8, 4, 3],
                  lmax_by_orders=[0, 2, 2])
LARGE = BasisRung(number_of_functions_per_element=60, max_order=3, nradmax_by_orders=[8, 4, 3],
                  lmax_by_orders=[0, 3, 2])


def label(atoms: Atoms) -> Atoms:
    work = atoms.copy()
    work.calc = EMT()
    out = atoms.copy()
    out.calc = SinglePointCalculator(out, energy=work.get_potential_energy(), forces=work.get_forces(),
                                     stress=work.get_stress())
    return out


def cu(strain: float = 0.0) -> Atoms:
    return bulk("Cu", "fcc", a=3.61 * (1 + strain), cubic=True) * (2, 2, 2)


def md_frames(strain: float, temperature: float, n: int, seed: int) -> list[Atoms]:
    atoms = cu(strain)
    atoms.calc = EMT()
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K=temperature, rng=rng)
    dyn = Langevin(atoms, 2 * units.fs, temperature_K=temperature, friction=0.02, fixcm=False, rng=rng)
    dyn.run(60)
    frames = []
    for _ in range(n):
        dyn.run(15)
        frames.append(label(atoms))
    return frames


@pytest.fixture(scope="module")
def ref() -> dict[str, float]:
    atom = Atoms("Cu", cell=[12.0] * 3, pbc=True)
    atom.calc = EMT()
    return {"Cu": float(atom.get_potential_energy())}


@pytest.fixture(scope="module")
def md_data() -> list[Atoms]:
    return md_frames(0.0, 600, 14, 1) + md_frames(0.0, 1200, 14, 2)


def config(**kw) -> LinearAceTrainerConfig:
    ladder = BasisLadderConfig(rungs=[SMALL, LARGE], **kw.pop("ladder", {}))
    return LinearAceTrainerConfig(ladder=ladder, **kw)


def run_ladder(frames, ref, cfg, previous=None):
    df = ace_common.frames_to_dataframe(frames, ref)
    return basis_ladder.fit_ladder(frames, df, ["Cu"], cfg, 1, previous)


def test_ladder_grows_with_data_and_stays_small_on_a_tiny_set(md_data, ref):
    tiny = run_ladder(md_data[:2], ref, config())
    assert tiny.rung_index == 0
    assert tiny.record.rungs[1].allowed is False
    assert "too few atomic environments" in tiny.record.rungs[1].reason
    big = run_ladder(md_data, ref, config())
    assert big.record.n_holdout > 0
    assert big.record.rungs[1].allowed is True
    assert big.rung_index == 1, big.record.rungs
    assert big.record.rungs[1].score < big.record.rungs[0].score


def test_holdout_share_is_fixed_per_structure(md_data):
    first = basis_ladder.holdout_mask(md_data[:10], 0.3)
    later = basis_ladder.holdout_mask(md_data, 0.3)
    assert (later[:10] == first).all()
    assert 0 < later.sum() < len(md_data)


def test_virial_rows_match_the_fitted_potentials_stress(md_data, ref, tmp_path):
    """The finite-difference virial rows times the coefficients are the calculator's stress."""
    cfg = config(stress_weight=1.0, ladder={"keep_best": False})
    trainer = LinearAceTrainer(cfg)
    trainer.fit(md_data, tmp_path, ref, previous=None, seed=0)
    calc = trainer.calculator(PotentialFiles.in_dir(tmp_path))
    frame = label(cu(0.02))
    frame.positions += np.random.default_rng(3).normal(0, 0.05, frame.positions.shape)
    frame = label(frame)
    from pyace import ACEBBasisSet

    basis = ACEBBasisSet(str(PotentialFiles.in_dir(tmp_path).yaml))
    dm, _ = basis_ladder.design_matrix(basis, ace_common.frames_to_dataframe([frame], ref), 1, with_stress=True)
    virial = dm.X[dm.stress_rows[0]] @ np.asarray(basis.basis_coeffs)
    atoms = frame.copy()
    atoms.calc = calc
    expected = -atoms.get_stress() * atoms.get_volume()
    assert virial == pytest.approx(expected, abs=2e-4 * len(atoms))


def test_stress_rows_lower_the_pressure_error_on_strained_cells(ref):
    """Trained on MD frames at three densities, scored on MD frames of ±3 % strained cells."""
    train = md_frames(-0.03, 900, 6, 11) + md_frames(0.0, 900, 6, 12) + md_frames(0.03, 900, 6, 13)
    test = md_frames(-0.02, 600, 4, 21) + md_frames(0.025, 600, 4, 22)
    rung = {"rungs": [LARGE], "holdout_share": 0.0, "keep_best": False}
    errors = {}
    for sw in (0.0, 1.0):
        cfg = LinearAceTrainerConfig(stress_weight=sw, ladder=BasisLadderConfig(**rung))
        fit = run_ladder(train, ref, cfg)
        dm, _ = basis_ladder.design_matrix(fit.basis, ace_common.frames_to_dataframe(test, ref), 1, with_stress=True)
        cols = np.arange(dm.X.shape[1])
        weights = basis_ladder.row_weights(dm, cfg.energy_weight, cfg.stress_weight, test)
        errors[sw] = basis_ladder.errors(dm, weights, np.ones(len(test), bool), cols,
                                         np.asarray(fit.basis.basis_coeffs))
    assert errors[1.0]["pressure_rmse_gpa"] < 0.7 * errors[0.0]["pressure_rmse_gpa"], errors


@pytest.mark.parametrize("within_se", [None, 1.0])
def test_an_earlier_better_fit_is_kept(md_data, ref, tmp_path, within_se):
    """A fit on corrupted new labels scores worse on the held-out share than the earlier fit's
    stand-in: the trainer ships the earlier potential, and its record says so (also when a larger
    fit may win within the share's noise: this one is worse by far more)."""
    cfg = config(ladder={"larger_within_se": within_se})
    trainer = LinearAceTrainer(cfg)
    first_dir, second_dir = tmp_path / "iter_000", tmp_path / "iter_001"
    metrics = trainer.fit(md_data, first_dir, ref, previous=None, seed=0)
    (first_dir / "train.json").write_text(json.dumps({"stage": first_dir.name, "n_structures": 0, "trainer": "t", "fit": metrics}))  # a TrainRecord, as steps/train writes it
    rng = np.random.default_rng(5)
    corrupted = []
    for frame in md_frames(0.0, 900, 30, 7):
        bad = frame.copy()
        forces = frame.get_forces() + rng.normal(0.0, 0.5, (len(frame), 3))
        bad.calc = SinglePointCalculator(bad, energy=frame.get_potential_energy() + rng.normal(0, 0.5),
                                         forces=forces, stress=frame.get_stress())
        corrupted.append(bad)
    second = trainer.fit(md_data + corrupted, second_dir, ref, previous=PotentialFiles.fitted(first_dir), seed=0)
    kb = second["ladder"]["keep_best"]
    assert kb["kept_previous"] is True, kb
    assert kb["previous_score"] < kb["score"]
    assert second["ladder"]["holdout_fit"]["stage"] == "iter_000"
    from pyace import ACEBBasisSet

    shipped = ACEBBasisSet(str(PotentialFiles.in_dir(second_dir).yaml)).basis_coeffs
    earlier = ACEBBasisSet(str(PotentialFiles.in_dir(first_dir).yaml)).basis_coeffs
    assert np.allclose(shipped, earlier)


def test_last_fit_never_worse_than_the_best_on_the_held_out_share(md_data, ref, tmp_path):
    """Growing data, the last batch corrupted: at every step the kept stand-in (the fit that never
    saw the held-out share) scores no worse on the current held-out share than the best one before
    it (test_an_earlier_better_fit_is_kept shows the earlier one being kept)."""
    from pyace import ACEBBasisSet

    cfg = config()
    trainer = LinearAceTrainer(cfg)
    extra = md_frames(0.0, 900, 12, 8)
    noisy = []
    for frame in extra[6:]:
        bad = frame.copy()
        bad.calc = SinglePointCalculator(bad, energy=frame.get_potential_energy() + 0.3,
                                         forces=frame.get_forces() * 1.5, stress=frame.get_stress())
        noisy.append(bad)
    stages = [md_data[:16], md_data, md_data + extra[:6], md_data + extra[:6] + noisy]
    pool = ACEBBasisSet(basis_ladder.rung_basis_config(["Cu"], 5.0, LARGE))

    def held_out_score(stand_in, frames):
        held = basis_ladder.holdout_mask(frames, cfg.ladder.holdout_share)
        dm, _ = basis_ladder.design_matrix(pool, ace_common.frames_to_dataframe(frames, ref), 1, with_stress=False)
        rung = BasisRung.model_validate(stand_in["rung"])
        cols = basis_ladder.rung_columns(pool, ACEBBasisSet(basis_ladder.rung_basis_config(["Cu"], 5.0, rung)))
        weights = basis_ladder.row_weights(dm, cfg.energy_weight, cfg.stress_weight, frames)
        return basis_ladder.errors(dm, weights, held, cols, np.asarray(stand_in["coefficients"]))["score"]

    previous, best_before, kept = None, None, []
    for k, frames in enumerate(stages):
        out = tmp_path / f"iter_{k:03d}"
        metrics = trainer.fit(frames, out, ref, previous=previous, seed=0)
        (out / "train.json").write_text(json.dumps({"stage": out.name, "n_structures": 0, "trainer": "t", "fit": metrics}))  # a TrainRecord, as steps/train writes it
        previous = PotentialFiles.fitted(out)
        lad = metrics["ladder"]
        kept.append(lad["keep_best"] is not None and lad["keep_best"]["kept_previous"])
        if best_before is not None:
            assert held_out_score(lad["holdout_fit"], frames) <= held_out_score(best_before, frames) + 1e-12, k
        best_before = lad["holdout_fit"]
    assert kept[0] is False  # nothing earlier to keep


def test_zbl_repulsion_keeps_two_atoms_apart_in_a_forced_collision(md_data, ref, tmp_path):
    """Two atoms shot at each other with 20 eV: the ZBL wall below the shortest training distance
    turns them around; the training errors are those of the same fit without the wall."""
    from ase.md.verlet import VelocityVerlet

    with_wall = LinearAceTrainer(config(ladder={"keep_best": False}))
    metrics = with_wall.fit(md_data, tmp_path / "zbl", ref, previous=None, seed=0)
    plain = LinearAceTrainer(config(repulsion="none", ladder={"keep_best": False}))
    metrics_plain = plain.fit(md_data, tmp_path / "plain", ref, previous=None, seed=0)
    assert metrics["train_force_rmse"] == pytest.approx(metrics_plain["train_force_rmse"], rel=1e-6)
    assert 1.7 < metrics["zbl_r_in"]["Cu-Cu"] < 2.3
    dimer = Atoms("Cu2", positions=[[5, 5, 5], [8, 5, 5]], cell=[16, 16, 16], pbc=True)
    speed = np.sqrt(2 * 10.0 / dimer.get_masses()[0])  # 10 eV each, towards each other
    dimer.set_velocities([[speed, 0, 0], [-speed, 0, 0]])
    dimer.calc = with_wall.calculator(PotentialFiles.in_dir(tmp_path / "zbl"))
    closest = []
    dyn = VelocityVerlet(dimer, 0.2 * units.fs)
    for _ in range(300):
        dyn.run(1)
        closest.append(dimer.get_distance(0, 1))
    assert min(closest) > 1.0
    assert closest[-1] > min(closest) + 0.5  # bounced back


def test_design_rows_of_the_previous_fit_are_reused_and_change_nothing(md_data, ref, tmp_path, caplog):
    """The next fit computes rows only for the structures labelled since the previous one; its
    coefficients equal a fit that computed every row. Rows stored under another basis are ignored."""
    import logging

    from pyace import ACEBBasisSet

    from mlip_autopipec.components.trainers import design_rows

    trainer = LinearAceTrainer(config(ladder={"keep_best": False}))
    first, grown, scratch = tmp_path / "iter_000", tmp_path / "iter_001", tmp_path / "scratch"
    trainer.fit(md_data[:20], first, ref, previous=None, seed=0)
    with caplog.at_level(logging.INFO, logger="mlip_autopipec"):
        trainer.fit(md_data, grown, ref, previous=PotentialFiles.in_dir(first), seed=0)
    assert "design rows: 8 structures computed, 20 reused" in caplog.text
    trainer.fit(md_data, scratch, ref, previous=None, seed=0)
    reused = np.asarray(ACEBBasisSet(str(PotentialFiles.in_dir(grown).yaml)).basis_coeffs)
    computed = np.asarray(ACEBBasisSet(str(PotentialFiles.in_dir(scratch).yaml)).basis_coeffs)
    assert np.allclose(reused, computed, rtol=1e-9, atol=1e-12)
    stored = design_rows.load(grown / design_rows.FILE_NAME, "a fingerprint of another basis")
    assert stored == {}


def test_larger_within_se_records_its_choice_and_never_picks_a_smaller_rung(md_data, ref):
    lowest = run_ladder(md_data, ref, config(ladder={"larger_within_se": None}))  # the lowest score wins
    tolerant = run_ladder(md_data, ref, config(ladder={"larger_within_se": 1.0}))
    sel = tolerant.record.model_dump()["selection"]
    assert lowest.record.selection is None
    assert sel["lowest_score_rung"] == lowest.rung_index
    assert tolerant.rung_index >= lowest.rung_index
    chosen = sel["rungs"][str(tolerant.rung_index)]
    assert chosen["excess"] <= 1.0 * chosen["standard_error"]
    # the per-structure errors the rule resamples add up to each rung's recorded held-out score
    for i, r in sel["rungs"].items():
        assert np.isclose(r["excess"], tolerant.record.rungs[int(i)].score
                          - tolerant.record.rungs[sel["lowest_score_rung"]].score)


def test_balanced_order_gives_each_worker_as_many_atoms_and_keeps_every_structure():
    n_atoms = [32] * 13 + [31] * 13 + [108] * 13  # the Cu demo's initial set, in its order
    order = basis_ladder.balanced_order(n_atoms, 2)
    assert sorted(order) == list(range(39))
    halves = [sum(np.asarray(n_atoms)[c]) for c in np.array_split(order, 2)]
    assert max(halves) / min(halves) < 1.15  # listed order: 1833 / 390 atoms
    assert list(basis_ladder.balanced_order([5, 7, 9], 1)) == [0, 1, 2]


def test_rows_come_back_in_the_structures_order_whatever_the_workers(md_data, ref):
    big = cu() * (2, 1, 1)  # 64 atoms among 32-atom frames
    big.rattle(0.05, seed=1)
    big = label(big)
    frames = md_data[:3] + [big] + md_data[3:5]
    df = ace_common.frames_to_dataframe(frames, ref)
    pool = basis_ladder.ACEBBasisSet(basis_ladder.rung_basis_config(["Cu"], 5.0, SMALL))
    one, _ = basis_ladder.design_matrix(pool, df, 1, with_stress=True)
    two, _ = basis_ladder.design_matrix(pool, df, 2, with_stress=True)
    assert np.allclose(one.X, two.X, rtol=0, atol=1e-12) and np.array_equal(one.y, two.y)


def test_final_rungs_wait_for_the_final_fit_which_reuses_the_loops_design_rows(md_data, ref, tmp_path, caplog):
    """The loop's fits never choose a final rung but store rows of the largest rung of all; the final
    fit (every rung a candidate) computes no row and picks the larger basis the data supports."""
    import logging

    cfg = LinearAceTrainerConfig(ladder=BasisLadderConfig(rungs=[SMALL], final_rungs=[LARGE]))
    loop = LinearAceTrainer(cfg)
    last = tmp_path / "iter_000"
    fit = loop.fit(md_data, last, ref, previous=None, seed=0)
    assert fit["ladder"]["chosen_rung"] == 0
    assert [r["functions_per_element"] for r in fit["ladder"]["rungs"]] == [{"Cu": 12}]
    final_cfg = cfg.model_copy(update={"ladder": cfg.ladder.for_final_fit()})
    assert final_cfg.ladder.rungs == [SMALL, LARGE] and final_cfg.ladder.final_rungs == []
    with caplog.at_level(logging.INFO, logger="mlip_autopipec"):
        final = LinearAceTrainer(final_cfg).fit(md_data, tmp_path / "final_fit", ref,
                                                previous=PotentialFiles.in_dir(last), seed=0)
    assert f"design rows: 0 structures computed, {len(md_data)} reused" in caplog.text
    # on these 28 thermal frames the 60-function rung scores better (test above), so the final fit takes it
    assert final["ladder"]["chosen_rung"] == 1, final["ladder"]["rungs"]
    assert final["n_functions"] == 60


def test_a_final_rung_outside_the_largest_rung_is_named(md_data, ref):
    """A final rung with radial/angular limits beyond the largest rung's has functions the design rows
    do not hold: the error names the config entry."""
    wide = BasisRung(number_of_functions_per_element=40, max_order=2, nradmax_by_orders=[12, 6],
                     lmax_by_orders=[0, 4])
    cfg = LinearAceTrainerConfig(ladder=BasisLadderConfig(rungs=[LARGE], final_rungs=[wide]))
    with pytest.raises(basis_ladder.TrainingError, match=r"trainer\.ladder\.final_rungs\[0\]: not a subset"):
        run_ladder(md_data[:6], ref, cfg)


def test_keep_best_within_se_judges_the_earlier_best_by_the_ladders_rule(md_data, ref, tmp_path):
    """With larger_within_se the earlier best is one more candidate: the final fit's larger basis is
    kept unless it scores worse than the earlier one by more than the bootstrap standard error."""
    cfg = LinearAceTrainerConfig(ladder=BasisLadderConfig(rungs=[SMALL], final_rungs=[LARGE], larger_within_se=1.0))
    last = tmp_path / "iter_000"
    metrics = LinearAceTrainer(cfg).fit(md_data, last, ref, previous=None, seed=0)
    (last / "train.json").write_text(json.dumps({"stage": last.name, "n_structures": 0, "trainer": "t", "fit": metrics}))  # a TrainRecord, as steps/train writes it
    final_cfg = cfg.model_copy(update={"ladder": cfg.ladder.for_final_fit()})
    final = LinearAceTrainer(final_cfg).fit(md_data, tmp_path / "final_fit", ref,
                                            previous=PotentialFiles.fitted(last), seed=0)
    kb = final["ladder"]["keep_best"]
    assert "within 1 bootstrap standard errors" in kb["rule"]
    assert kb["standard_error"] > 0
    assert kb["kept_previous"] == (kb["score"] - kb["previous_score"] > kb["standard_error"])
    assert final["n_functions"] == (12 if kb["kept_previous"] else 60)

"""Real active learning end to end (pyace fits, MaxVol, ASE MD, EMT labels) through Snakemake.

The default Cu run is the session's `default_cu_run` (conftest.py): done once, killed mid-way and
resumed, and read by these tests and by test_report.py."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import CONFIGS, run, runner_cmd
from mlip_autopipec.core import layout as L
from mlip_autopipec.core.io import count_frames, read_structures
from mlip_autopipec.domain_models.config import load_config
from test_properties_equilibrium import emt_a0, emt_elastic_at
from test_step_final import pace_files

pytestmark = pytest.mark.slow


def total_labels(d: Path) -> int:
    return sum(count_frames(p) for p in [d / "initial" / "labels.extxyz", *d.glob("iter_*/labels.extxyz")])


def test_default_cu_emt_run_converges_accurately(default_cu_run):
    tmp_path, _ = default_cu_run
    assert (tmp_path / "converged.flag").is_file()
    state = json.loads((tmp_path / "workflow_state" / "workflow_state.json").read_text())
    assert state["status"] == "CONVERGED"
    # regression guards (issue 26). Measured 2026-12-06 (seed 42): 51 labels, F 0.90 meV/Å, E 0.020 meV/atom
    # on the run's 24 held-out frames. Margins: labels +27 % (benchmark loop seeds 1 and 2 need up to 63),
    # F +33 %, E x2.5 (energies this small vary ~2x between seeds); a BLAS-dependent path change passes,
    # a real regression does not
    assert total_labels(tmp_path) <= 65
    last_trained = [h for h in state["history"] if h["validation"]][-1]
    assert last_trained["validation"]["force_rmse"] <= 0.0012
    assert last_trained["validation"]["energy_rmse_per_atom"] <= 0.00005
    # every iteration that continued went through the whole chain with real files
    for h in state["history"][:-1]:
        assert h["n_selected"] and h["n_labelled"] == h["n_selected"]
        assert h["n_candidates"] >= h["n_selected"]
    # an iteration whose explorations all ran through continued only to label its spot checks ...
    spot_iterations = [h for h in state["history"][:-1] if not h["halted_conditions"]]
    assert spot_iterations and all("spot-checking" in h["reason"] for h in spot_iterations)
    # ... and the run ended because the last spot checks passed
    checks = [h["spot_check"] for h in state["history"] if h.get("spot_check")]
    assert checks and checks[-1]["passed"] and checks[-1]["force_rmse"] <= checks[-1]["force_tolerance"]
    assert not state["history"][-1]["halted_conditions"]
    # the learning is visible: the first explorations halted, the last ran their whole budget
    first, last = state["history"][0], state["history"][-1]
    assert first["halted_conditions"]
    assert sum(c["steps_run"] for c in first["conditions"]) < sum(c["steps_run"] for c in last["conditions"])
    assert all(c["steps_run"] == c["budget"] for c in last["conditions"])
    # the final potential proven by physical properties against EMT, each at its own equilibrium
    props = {r["name"]: r for r in json.loads((tmp_path / "final" / "properties.json").read_text())}
    assert props["lattice_constant"]["oracle"] == pytest.approx(3.590, abs=0.002)  # ASE's EMT table
    assert props["bulk_modulus"]["oracle"] == pytest.approx(134.4, rel=0.01)
    # the oracle's column is EMT's at EMT's a0 (computed here from ASE directly: an energy scan and
    # central stress differences), not at the config's 3.61 Å (C11 161.0 there)
    expected = emt_elastic_at(emt_a0())
    assert expected["C11"] == pytest.approx(172.6, rel=0.005) and expected["C44"] == pytest.approx(89.9, rel=0.005)
    for name, value in expected.items():
        assert props[name]["oracle"] == pytest.approx(value, rel=0.01), props[name]
    # the table checks itself: (C11 + 2 C12)/3 against the EOS B0 on each side
    check = props["bulk_modulus_consistency"]
    assert check["ok"] and "skipped" not in check
    for side in ("oracle", "potential"):
        b = check[f"{side}_B_GPa"]
        assert b["elastic"] == pytest.approx((props["C11"][side] + 2 * props["C12"][side]) / 3, rel=1e-4)
        assert b["eos"] == pytest.approx(props["bulk_modulus"][side], rel=1e-4)
        assert check[side] <= check[f"{side}_tolerance"]
    limits = {"lattice_constant": 0.005, "bulk_modulus": 0.08, "C11": 0.10, "C12": 0.10, "C44": 0.10,
              "surface_energy_111": 0.10}
    for name, rel in limits.items():
        assert props[name]["rel_error"] <= rel, props[name]
    assert props["vacancy_formation_energy"]["abs_error"] <= 0.1
    assert all(props[name]["ok"] for name in [*limits, "vacancy_formation_energy"])
    check_final_directory(tmp_path, state)


def check_final_directory(d: Path, state: dict):
    """final/: every label as extxyz and as pacemaker DataFrame, the last good potential."""
    import pandas as pd
    from pyace import PyACECalculator

    final = d / "final"
    frames = read_structures(final / "dataset.extxyz")
    assert len(frames) == total_labels(d)
    assert {f.info["stage"] for f in frames} == {"initial", *(f"iter_{h['iteration']:03d}" for h in state["history"][:-1])}
    assert all("oracle_settings" in f.info and "generator" in f.info for f in frames)
    df = pd.read_pickle(final / "dataset.pkl.gz", compression="gzip")
    assert {"ase_atoms", "energy", "forces", "energy_corrected"} <= set(df.columns) and len(df) == len(frames)
    reference = json.loads((d / "initial" / "reference_energies.json").read_text())
    row = df.iloc[0]
    assert row["energy"] - row["energy_corrected"] == pytest.approx(
        sum(reference[s] for s in row["ase_atoms"].get_chemical_symbols()))
    # the potential the converged iteration explored with, or the final fit of the same labels if it
    # passed the end criteria itself (the `ship` checkpoint)
    last_trained = state["history"][-1]["potential_in"]
    if load_config(d / "config.yaml").cfg.has_final_fit():
        shipped = json.loads((d / L.SHIP_DECISION).read_text())["shipped_stage"] + "/potential.yace"
    else:
        shipped = last_trained
    assert state["current_potential"] == shipped
    probe = frames[-1].copy()
    energies = []
    for yace in (final / "potential.yace", d / shipped):
        probe.calc = PyACECalculator(str(yace))
        energies.append(probe.get_potential_energy())
    assert energies[0] == pytest.approx(energies[1], abs=1e-9)
    lammps = (final / "lammps" / "in.pace").read_text()
    assert "pair_style      pace/extrapolation" in lammps and "# pair_style    pace\n" in lammps
    assert "potential.asi" in lammps and "fix             extreme_extrapolation all halt" in lammps
    for start in (final / "lammps", final):  # LAMMPS started in either finds the shipped files
        paths = pace_files(lammps, start)
        assert len(paths) == 3 and all(p.is_file() and p.parent == final.resolve() for p in paths), (start, paths)
    assert (final / "report.html").is_file() and "dataset.pkl.gz" in (final / "README.txt").read_text()


def test_final_fit_refits_the_loops_labels_with_the_final_rungs(default_cu_run):
    """The demo config's final fit: after the loop, the same labels, every rung a candidate, the
    design rows of the last fit reused; final/ ships it and the status table shows it."""
    d, _ = default_cu_run
    cfg = load_config(d / "config.yaml").cfg
    assert cfg.has_final_fit()
    state = json.loads((d / "workflow_state" / "workflow_state.json").read_text())
    last_stage = Path(state["history"][-1]["potential_in"]).parent.name
    record = json.loads((d / L.train_record(L.FINAL_FIT)).read_text())
    last = json.loads((d / L.train_record(last_stage)).read_text())
    assert record["n_structures"] == last["n_structures"] == total_labels(d)
    ladder = record["fit"]["ladder"]
    assert len(ladder["rungs"]) == len(cfg.trainer.ladder.rungs) + len(cfg.trainer.ladder.final_rungs)
    assert len(last["fit"]["ladder"]["rungs"]) == len(cfg.trainer.ladder.rungs)
    assert "prior" not in record  # its labels are the last fit's: nothing new to score
    assert f"design rows: 0 structures computed, {total_labels(d)} reused" in (d / "logs/final_fit/final_fit.log").read_text()
    assert state["final_fit"]["n_functions"] == record["fit"]["n_functions"]
    table = run(runner_cmd("status", str(d)), cwd=d, timeout=120).stdout
    assert "final fit" in table
    assert "final_fit/" in (d / "final" / "README.txt").read_text()


def _force_rmse(yace: Path, frames) -> float:
    """Force RMSE (eV/Å) of a potential on labelled frames, with pyace directly."""
    import numpy as np
    from pyace import PyACECalculator

    calc = PyACECalculator(str(yace))
    diff = []
    for ref in frames:
        atoms = ref.copy()
        atoms.calc = calc
        diff.append((atoms.get_forces() - ref.get_forces()).ravel())
    return float(np.sqrt(np.mean(np.concatenate(diff) ** 2)))


def _max_gammas(stage: Path, frames) -> list[float]:
    import numpy as np
    from pyace import PyACECalculator

    calc = PyACECalculator(str(stage / "potential.yaml"))
    calc.set_active_set(str(stage / "potential.asi"))
    out = []
    for ref in frames:
        atoms = ref.copy()
        atoms.calc = calc
        atoms.get_potential_energy()
        out.append(float(np.max(calc.results["gamma"])))
    return out


def test_the_shipped_potential_is_the_verified_potential(default_cu_run):
    """Issue 26: the spot-check numbers, the MD-stability line and the properties in the status, the
    report and final/README.txt belong to final/potential.yace, and its MD stability passes under the
    bound that applies to it. Expectations are recomputed here with pyace directly: the shipped
    potential's force RMSE on the fresh spot-check frames, and a final fit's gamma bound as
    md_max_gamma x (largest gamma of the final fit / of the loop's potential) on the last
    exploration's frames that the loop's potential accepted."""
    import re

    d, _ = default_cu_run
    cfg = load_config(d / "config.yaml").cfg
    ship = json.loads((d / L.SHIP_DECISION).read_text())
    stage = ship["shipped_stage"]
    state = json.loads((d / L.STATE_FILE).read_text())
    assert state["shipped"]["stage"] == stage and state["current_potential"] == f"{stage}/potential.yace"
    assert (d / "final" / "potential.yace").read_bytes() == (d / stage / "potential.yace").read_bytes()
    # the final fit either ships, or the status says why not
    table = run(runner_cmd("status", str(d)), cwd=d, timeout=120).stdout
    final_row = next(line for line in table.splitlines() if line.startswith("final fit"))
    assert ("shipped" if stage == L.FINAL_FIT else "kept earlier") in final_row
    readme = (d / "final" / "README.txt").read_text()
    html = (d / "report" / "report.html").read_text()

    # spot checks: fresh frames of the last exploration, never trained on, scored with the shipped potential
    fresh = read_structures(d / L.labels(L.FINAL_CHECK))
    assert len(fresh) == cfg.convergence.spot_checks
    trained = {a.info["label_hash"] for p in d.glob("*/labels.extxyz") if p.parent.name != L.FINAL_CHECK
               for a in read_structures(p)}
    assert not {a.info["label_hash"] for a in fresh} & trained
    f_mev = 1000 * _force_rmse(d / "final" / "potential.yace", fresh)
    for text in (table, readme, html):
        m = re.search(rf"spot checks of {stage}/ \({len(fresh)} frames, [^)]*\)\): F ([0-9.]+) meV/Å", text)
        assert m, text[:2000]
        assert float(m.group(1)) == pytest.approx(f_mev, abs=0.006)
    assert f_mev <= 1000 * cfg.convergence.force_rmse

    # MD stability of the shipped potential, under the bound that applies to it
    md = json.loads((d / L.md_stability(stage)).read_text())
    bound = cfg.properties.tolerances.md_max_gamma
    if stage == L.FINAL_FIT:
        loop = d / Path(state["history"][-1]["potential_in"]).parent
        n = state["history"][-1]["iteration"]
        frames = [a for p in sorted((d / L.iter_dir(n) / "explore").glob("*.extxyz")) for a in read_structures(p)]
        ref, this = _max_gammas(loop, frames), _max_gammas(d / L.FINAL_FIT, frames)
        kept = [(r, g) for r, g in zip(ref, this) if r <= cfg.exploration.gamma_halt]
        bound *= max(1.0, max(g for _, g in kept) / max(r for r, _ in kept))
    assert md["gamma_threshold"] == pytest.approx(bound, rel=1e-3)
    assert md["steps_run"] == md["steps"] and md["exploded"] is None
    assert md["max_gamma"] <= md["gamma_threshold"]
    for text in (table, readme, html):
        m = re.search(rf"MD stability of {stage}/: (\d+)/(\d+) steps .*max gamma ([0-9.]+) \(bound ([0-9.]+)",
                      text)
        assert m and float(m.group(3)) == pytest.approx(md["max_gamma"], abs=0.006), text[:2000]
        assert float(m.group(4)) == pytest.approx(bound, rel=1e-2)
    # properties: final/ and the report's table are the shipped potential's, its MD record within bound
    records = json.loads((d / L.stage_properties(stage)).read_text())
    assert json.loads((d / "final" / "properties.json").read_text()) == records
    assert next(r for r in records if r["name"] == "md_max_gamma")["ok"]
    assert f"Physical properties (the shipped potential, {stage}/)" in html
    assert f"properties of {stage}/ (properties.json)" in readme


def test_binary_cuni_converges(tmp_path):
    shutil.copy(CONFIGS / "cuni_emt.yaml", tmp_path / "config.yaml")
    run(runner_cmd("run", "config.yaml", "--cores", "2"), cwd=tmp_path, timeout=900)
    assert (tmp_path / "converged.flag").is_file()
    # the initial data spans compositions (issue 28), not only the configured 50/50 cell
    labelled = read_structures(tmp_path / "initial" / "labels.extxyz")
    fractions = {round(a.get_chemical_symbols().count("Ni") / len(a), 3) for a in labelled if len(a) > 1}
    assert len({x for x in fractions if 0 < x < 1}) >= 3, fractions
    # the last fit (initial/ when the first potential already ran through) on the held-out frames
    fits = [tmp_path / "initial" / "train.json"] + sorted(tmp_path.glob("iter_*/train.json"))
    last = json.loads(fits[-1].read_text())
    assert last["validation"]["force_rmse"] < 0.03


def test_killed_real_run_resumes_without_relabelling_or_refitting(default_cu_run):
    """The session's default run was killed while iteration 0 trained and resumed: nothing that
    had finished before the kill was computed again."""
    tmp_path, done = default_cu_run
    assert (tmp_path / "converged.flag").is_file()
    assert len(done) > 5 and any("label_cache" in str(p) for p in done)
    for p, mtime in done.items():
        assert p.stat().st_mtime_ns == mtime, f"{p} was recomputed after the resume"

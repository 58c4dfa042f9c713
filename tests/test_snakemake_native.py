"""An ordinary Snakemake workflow: jobs use the config Snakemake resolved (`--config`,
`--configfile`, `mlip-runner run --set`), a named config replaces the demo one, the label cache
knows the oracle settings, a finished run is extended by editing its config, and LAMMPS is checked
before any labelling."""

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import CONFIGS, REPO, run, snakemake_cmd
from mlip_autopipec.cli import failed_label_jobs
from mlip_autopipec.components.dynamics.lammps_mlpace import missing_programs
from mlip_autopipec.config_overrides import load_with_overrides, parse_sets, snakemake_config_args
from mlip_autopipec.core.errors import ConfigError, UserError
from mlip_autopipec.core.io import count_frames, read_structures, write_json, write_structures
from mlip_autopipec.core.preflight import preflight
from mlip_autopipec.core.structures import build_structures, initial_training_structures
from mlip_autopipec.domain_models.config import config_from_dict, load_config
from mlip_autopipec.domain_models.state import Action, ConditionResult, Decision
from mlip_autopipec.loop_extension import decision_settings, find_extension
from mlip_autopipec.steps.label import run_label_chunk
from mlip_autopipec.steps.label_cache import RETRY_ENV

MOCK = yaml.safe_load((CONFIGS / "mock.yaml").read_text())


# -- --set and --config ---------------------------------------------------------------------------
def test_set_overrides_nest_and_reach_snakemake_as_config(tmp_path):
    sets = parse_sets(["exploration.gamma_halt=8.0", "max_cycles=3", "selection={kind: mock, n_select: 4}"])
    assert sets == {"exploration": {"gamma_halt": 8.0}, "max_cycles": 3, "selection": {"kind": "mock", "n_select": 4}}
    args = snakemake_config_args(sets)
    assert args[0] == "--config"
    assert "exploration={gamma_halt: 8.0}" in args and "max_cycles=3" in args
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(MOCK))
    rcfg = load_with_overrides(tmp_path / "c.yaml", sets)
    assert rcfg.cfg.exploration.gamma_halt == 8.0
    assert [c.name for c in rcfg.cfg.exploration.conditions] == ["t600"], "a nested override merges"
    assert rcfg.cfg.max_cycles == 3 and rcfg.cfg.selection.n_select == 4
    with pytest.raises(ConfigError, match="expected KEY.SUB=VALUE"):
        parse_sets(["exploration.gamma_halt"])


def test_named_config_replaces_the_demo_config_and_omitted_keys_take_defaults(tmp_path):
    """A project directory with config/config.yaml (the demo) and the user's own file: the user's
    file alone counts (no linear-ACE key leaks into `trainer: pacemaker`), and what it leaves out
    takes the schema default (one bulk structure, no validation set, one structure per label job)."""
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    (tmp_path / "my.yaml").write_text(yaml.safe_dump({"trainer": {"kind": "pacemaker"}}))
    proc = run(snakemake_cmd("--snakefile", REPO / "Snakefile", "--configfile", "my.yaml", "-n"), cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert "energy_weight" not in out
    defaults = config_from_dict({}, tmp_path / "my.yaml").cfg
    n_label = defaults.n_initial_structures() // defaults.labeling.structures_per_job
    assert n_label != load_config(REPO / "config" / "config.yaml").cfg.n_initial_structures() // 10
    jobs = {line.split()[0]: line.split()[1] for line in out.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert jobs.get("label") == str(n_label), out
    assert "validation_set" not in jobs, "the demo's generated validation set leaked in"
    # without --configfile the demo config is the config (and --config merges over it)
    proc = run(snakemake_cmd("--snakefile", REPO / "Snakefile", "-n", "--config", "max_cycles=2"), cwd=tmp_path)
    assert "validation_set" in proc.stdout + proc.stderr


# -- the label cache knows the oracle settings ------------------------------------------------------
def _stage(tmp_path: Path) -> str:
    rcfg = load_config(CONFIGS / "mock.yaml")
    structures = build_structures(rcfg.cfg.structures, rcfg.base_dir, np.random.default_rng(1))
    frames = initial_training_structures(structures, rcfg.cfg.initial_data, np.random.default_rng(2))
    write_structures(tmp_path / "selected.xyz", frames)
    return str(tmp_path / "selected.xyz")


def _label(tmp_path, selected, oracle: dict, name: str):
    raw = {**MOCK, "oracle": {"kind": "mock", "call_log": str(tmp_path / "calls.txt"), **oracle}}
    rcfg = config_from_dict(raw, tmp_path / "c.yaml")
    return run_label_chunk(rcfg, "initial", selected, 0, 100, str(tmp_path / f"{name}.extxyz"),
                           str(tmp_path / f"{name}.json"), str(tmp_path / "cache"))


def _calls(tmp_path) -> list[str]:
    p = tmp_path / "calls.txt"
    return p.read_text().split() if p.exists() else []


def test_changed_oracle_settings_relabel_and_say_why(tmp_path, caplog):
    selected = _stage(tmp_path)
    n = count_frames(selected)
    first = _label(tmp_path, selected, {}, "a")
    assert first["n_computed_now"] == n and len(_calls(tmp_path)) == n
    again = _label(tmp_path, selected, {}, "b")
    assert again["n_computed_now"] == 0 and len(_calls(tmp_path)) == n
    settings = json.loads(read_structures(tmp_path / "a.extxyz")[0].info["oracle_settings"])
    assert settings["epsilon"] == 0.35 and "call_log" not in settings and "timeout_s" not in settings
    caplog.set_level(logging.INFO)
    changed = _label(tmp_path, selected, {"epsilon": 0.5}, "c")
    assert changed["n_computed_now"] == n and changed["computed_why"] == {"oracle settings changed": n}
    assert f"recomputed {n} (oracle settings changed)" in caplog.text
    e_old = [a.get_potential_energy() for a in read_structures(tmp_path / "a.extxyz")]
    e_new = [a.get_potential_energy() for a in read_structures(tmp_path / "c.extxyz")]
    assert all(abs(x - y) > 1e-6 for x, y in zip(e_old, e_new))
    # a setting that never changes a label (the time limit) relabels nothing
    assert _label(tmp_path, selected, {"epsilon": 0.5, "timeout_s": 600}, "d")["n_computed_now"] == 0


def test_cached_failures_retried_when_settings_change_or_on_request(tmp_path, monkeypatch):
    selected = _stage(tmp_path)
    n = count_frames(selected)
    first = _label(tmp_path, selected, {"fail_fraction": 0.5}, "a")
    failed = {f["hash"] for f in first["failures"]}
    assert 0 < len(failed) < n
    # same settings: failures are reused, nothing is computed
    assert _label(tmp_path, selected, {"fail_fraction": 0.5}, "b")["n_computed_now"] == 0
    # --retry-failed: exactly the failures are computed again (and fail again: nothing changed)
    monkeypatch.setenv(RETRY_ENV, "1")
    retried = _label(tmp_path, selected, {"fail_fraction": 0.5}, "c")
    assert retried["computed_why"] == {"retry of a failure (--retry-failed)": len(failed)}
    monkeypatch.delenv(RETRY_ENV)
    # a changed setting of the attempt (here the fault injection) retries exactly the failures
    calls_before = len(_calls(tmp_path))
    fixed = _label(tmp_path, selected, {"fail_fraction": 0.0}, "d")
    assert fixed["computed_why"] == {"retry of a failure under other oracle settings": len(failed)}
    assert fixed["n_labelled"] == n and not fixed["failures"]
    assert sorted(_calls(tmp_path)[calls_before:]) == sorted(failed)


def test_runner_finds_the_label_jobs_to_retry(tmp_path):
    write_json(tmp_path / "initial" / "label_jobs" / "0.json", {"failures": []})
    write_json(tmp_path / "iter_001" / "label_jobs" / "2.json", {"failures": [{"hash": "x"}]})
    assert failed_label_jobs(tmp_path) == ["iter_001/label_jobs/2.extxyz"]


# -- extending a finished run ------------------------------------------------------------------------
def _decide(d: Path, n: int, action: Action, cfg, conditions=("t600",)) -> None:
    decision = Decision(iteration=n, action=action, reason="", progress=0.1,
                        conditions=[ConditionResult(condition=c, halted=True, steps_run=100, budget=1000,
                                                    max_gamma=6.0) for c in conditions],
                        settings=decision_settings(cfg, n))
    write_json(d / f"iter_{n:03d}" / "exploration.json", decision.model_dump(mode="json"))


def test_extension_found_only_when_the_last_decision_no_longer_holds(tmp_path):
    cfg = config_from_dict({**MOCK, "max_cycles": 2}, tmp_path / "c.yaml").cfg
    _decide(tmp_path, 0, Action.CONTINUE, cfg)
    assert find_extension(tmp_path, cfg) is None, "a running loop is not extended"
    _decide(tmp_path, 1, Action.STOP_MAX_CYCLES, cfg)
    assert find_extension(tmp_path, cfg) is None
    more = config_from_dict({**MOCK, "max_cycles": 5}, tmp_path / "c.yaml").cfg
    ext = find_extension(tmp_path, more)
    assert ext.iteration == 1 and ext.changes == ["max_cycles 2 -> 5"] and ext.redo_explore == []
    # a higher patience does not change a decision made by max_cycles
    assert find_extension(tmp_path, config_from_dict({**MOCK, "max_cycles": 2, "patience": 9}, tmp_path / "c.yaml").cfg) is None
    added = {**MOCK, "max_cycles": 2, "exploration": {"conditions": [{"name": "t600", "temperature": 600},
                                                                     {"name": "t900", "temperature": 900}]}}
    ext = find_extension(tmp_path, config_from_dict(added, tmp_path / "c.yaml").cfg)
    assert ext.changes == ["condition(s) t900 added"] and ext.redo_explore == []
    hotter = {**MOCK, "max_cycles": 2, "exploration": {**MOCK["exploration"], "gamma_halt": 8.0}}
    ext = find_extension(tmp_path, config_from_dict(hotter, tmp_path / "c.yaml").cfg)
    assert ext.redo_explore == ["t600"] and "gamma_halt" in ext.changes[0]


def _labels_computed(d: Path) -> list[str]:
    return (d / "calls.txt").read_text().split()


@pytest.mark.slow
def test_plain_snakemake_config_overrides_then_extend_the_run(tmp_path):
    """`--config max_cycles=1` and a nested override reach the jobs; the stopped run then continues
    to convergence with the config's max_cycles; a new condition with younger-halting dynamics
    is explored in a new iteration. No label is ever computed twice."""
    # converges once the potential was fitted once (iter_001); one label job per stage
    cfg = {**MOCK, "oracle": {"kind": "mock", "call_log": "calls.txt"}, "labeling": {"structures_per_job": 10},
           "dynamics": {"kind": "mock", "halt_step": 100, "halt_generations": 1}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    base = ["--snakefile", REPO / "Snakefile", "--configfile", "config.yaml", "--cores", "2"]
    run(snakemake_cmd(*base, "--config", "max_cycles=1", "exploration={gamma_halt: 8.0}"), cwd=tmp_path)
    assert (tmp_path / "stopped.flag").is_file() and not (tmp_path / "iter_001").exists()
    record = json.loads((tmp_path / "iter_000" / "explore" / "t600.json").read_text())
    assert record["halted"] and record["max_gamma"] > 8.0, "gamma_halt=8.0 did not reach the exploration job"

    # the config file says max_cycles: 10: the stopped run continues to convergence
    run(snakemake_cmd(*base), cwd=tmp_path)
    assert (tmp_path / "converged.flag").is_file() and not (tmp_path / "stopped.flag").exists()
    assert "max_cycles 1 -> 10" in (tmp_path / "converged.flag").read_text()
    state = json.loads((tmp_path / "workflow_state" / "workflow_state.json").read_text())
    assert state["status"] == "CONVERGED" and "extended" in state["message"]
    calls = _labels_computed(tmp_path)
    assert len(calls) == len(set(calls))
    last = max(int(p.name[5:]) for p in tmp_path.glob("iter_*"))
    labelled = sum(count_frames(p) for p in tmp_path.glob("*/labels.extxyz"))
    assert count_frames(tmp_path / "final" / "dataset.extxyz") == labelled
    before = (tmp_path / "iter_000" / "exploration.json").stat().st_mtime_ns

    # a new condition (and dynamics that still halt with this potential): explored, then a new iteration
    cfg["exploration"] = {**cfg["exploration"], "conditions": [{"name": "t600", "temperature": 600},
                                                               {"name": "t900", "temperature": 900}]}
    cfg["dynamics"] = {**cfg["dynamics"], "halt_generations": last + 1}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    run(snakemake_cmd(*base), cwd=tmp_path)
    assert (tmp_path / f"iter_{last:03d}" / "explore" / "t900.json").is_file()
    assert (tmp_path / f"iter_{last + 1:03d}" / "explore" / "t900.json").is_file()
    assert (tmp_path / "converged.flag").is_file()
    assert (tmp_path / "iter_000" / "exploration.json").stat().st_mtime_ns == before, "an old decision was redone"
    calls = _labels_computed(tmp_path)
    assert len(calls) == len(set(calls)), "a structure was labelled twice"


# -- preflight of an external LAMMPS -----------------------------------------------------------------
def test_lammps_mlpace_command_checked_in_preflight_with_opt_out(tmp_path):
    assert missing_programs("mpirun -np {cores} -x OMP_NUM_THREADS=1 lmp-nonexistent") == (
        ["mpirun", "lmp-nonexistent"] if shutil.which("mpirun") is None else ["lmp-nonexistent"])
    raw = {**MOCK, "dynamics": {"kind": "lammps_mlpace", "command": "lmp-nonexistent -sf omp"}}
    with pytest.raises(UserError, match=r"dynamics.command: 'lmp-nonexistent' not found on PATH.*check_command: false"):
        preflight(config_from_dict(raw, tmp_path / "c.yaml"))
    raw["dynamics"]["check_command"] = False
    preflight(config_from_dict(raw, tmp_path / "c.yaml"))


# -- final/ -------------------------------------------------------------------------------------------
def test_final_directory_from_labels_of_every_stage(tmp_path):
    """Unit check of the hand-off with mock labels (the Cu/EMT run checks it with real potentials)."""
    import pandas as pd
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    from mlip_autopipec.steps.final import run_final

    labels = []
    for k, stage in enumerate(("initial", "iter_000")):
        frames = []
        for j in range(2 + k):
            atoms = bulk("Cu", cubic=True).repeat((1, 1, 2))
            atoms.rattle(0.01, seed=j)
            atoms.info["generator"] = "rattle"
            atoms.calc = SinglePointCalculator(atoms, energy=-3.0 * len(atoms) + j, forces=np.zeros((len(atoms), 3)))
            frames.append(atoms)
        write_structures(tmp_path / stage / "labels.extxyz", frames)
        labels.append(str(tmp_path / stage / "labels.extxyz"))
    for ext in ("yace", "yaml", "asi"):
        (tmp_path / "iter_000" / f"potential.{ext}").write_text(ext)
    write_json(tmp_path / "ref.json", {"Cu": -0.5})
    (tmp_path / "report.html").write_text("<html/>")
    decision = Decision(iteration=1, action=Action.CONVERGED, reason="ran through", progress=1.0)
    write_json(tmp_path / "decision.json", decision.model_dump(mode="json"))
    names = ("yace", "yaml", "asi", "dataset", "dataframe", "lammps", "report", "readme")
    files = ("potential.yace", "potential.yaml", "potential.asi", "dataset.extxyz", "dataset.pkl.gz",
             "lammps/in.pace", "report.html", "README.txt")
    out = {k: str(tmp_path / "final" / f) for k, f in zip(names, files)}
    pots = [str(tmp_path / "iter_000" / f"potential.{e}") for e in ("yace", "yaml", "asi")]
    assert run_final(str(tmp_path / "decision.json"), pots, labels, str(tmp_path / "ref.json"),
                     str(tmp_path / "report.html"), (2.0, 5.0, 10), out) == 5
    frames = read_structures(out["dataset"])
    assert [f.info["stage"] for f in frames] == ["initial"] * 2 + ["iter_000"] * 3
    assert [f.info["iteration"] for f in frames] == [-1] * 2 + [0] * 3
    df = pd.read_pickle(out["dataframe"], compression="gzip")
    assert len(df) == 5 and (df["energy"] - df["energy_corrected"]).tolist() == [-0.5 * 8] * 5
    assert (tmp_path / "final" / "potential.asi").read_text() == "asi"
    lammps = Path(out["lammps"]).read_text()
    assert "v_max_pace_gamma > 5 error soft" in lammps and '"c_max_pace_gamma <= 2"' in lammps
    assert "pair_coeff      * * ../potential.yaml ../potential.asi Cu" in lammps


def test_a_profiles_config_is_the_config_of_the_run(tmp_path):
    """A profile's `config:` merges like `--config` (7 initial structures in one label job, not 4)."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(MOCK))
    (tmp_path / "prof").mkdir()
    (tmp_path / "prof" / "config.yaml").write_text(yaml.safe_dump(
        {"cores": 1, "config": ["labeling={structures_per_job: 7}"]}))
    proc = run(snakemake_cmd("--snakefile", REPO / "Snakefile", "--configfile", "config.yaml",
                             "--profile", tmp_path / "prof", "-n"), cwd=tmp_path)
    out = proc.stdout + proc.stderr
    jobs = {line.split()[0]: line.split()[1] for line in out.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert jobs.get("label") == "1", out

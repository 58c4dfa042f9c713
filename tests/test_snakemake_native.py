"""An ordinary Snakemake workflow: jobs use the config Snakemake resolved (`--config`,
`--configfile`, `mlip-runner run --set`), a named config replaces the demo one, the label cache
knows the oracle settings, a finished run is extended by editing its config, and LAMMPS is checked
before any labelling."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import CONFIGS, REPO, run, snakemake_cmd
from mlip_autopipec.cli import failed_label_jobs
from mlip_autopipec.components.dynamics.lammps_mlpace import missing_programs
from mlip_autopipec.config_overrides import load_with_overrides, parse_sets, snakemake_config_args
from mlip_autopipec.core.errors import ConfigError, UserError
from mlip_autopipec.core.io import count_frames, write_json
from mlip_autopipec.preflight import preflight
from mlip_autopipec.domain_models.config import config_from_dict, load_config
from mlip_autopipec.domain_models.property_records import PropertyRecord, write_property_records
from mlip_autopipec.domain_models.state import Action, ConditionResult, Decision
from mlip_autopipec.loop.extension import decision_settings, find_extension

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
    takes the schema default (one bulk structure and its default conditions)."""
    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    (tmp_path / "my.yaml").write_text(yaml.safe_dump({"trainer": {"kind": "pacemaker"}}))
    proc = run(snakemake_cmd("--snakefile", REPO / "Snakefile", "--configfile", "my.yaml", "-n"), cwd=tmp_path)
    out = proc.stdout + proc.stderr
    assert "energy_weight" not in out
    defaults = config_from_dict({}, tmp_path / "my.yaml").cfg
    n_label = -(-defaults.n_initial_structures() // defaults.labeling.structures_per_job)  # the last job may be short
    jobs = {line.split()[0]: line.split()[1] for line in out.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert jobs.get("label") == str(n_label), out
    demo = load_config(REPO / "config" / "config.yaml").cfg
    assert len(demo.exploration.conditions) != len(defaults.exploration.conditions)
    assert jobs.get("explore") == str(len(defaults.exploration.conditions)), "the demo's conditions leaked in"
    # without --configfile the demo config is the config (and --config merges over it)
    proc = run(snakemake_cmd("--snakefile", REPO / "Snakefile", "-n", "--config", "max_cycles=2"), cwd=tmp_path)
    jobs = {line.split()[0]: line.split()[1] for line in (proc.stdout + proc.stderr).splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert jobs.get("explore") == str(len(demo.exploration.conditions))


def test_runner_finds_the_label_jobs_to_retry(tmp_path):
    from mlip_autopipec.domain_models.records import LabelChunkRecord, LabelFailure

    write_json(tmp_path / "initial" / "label_jobs" / "0.json",
               LabelChunkRecord(stage="initial", chunk=0, indices=[0, 1], n_labelled=2).model_dump())
    failure = LabelFailure(index=5, hash="x", reason="SCF not converged", wall_time_s=1.0, oracle="espresso")
    write_json(tmp_path / "iter_001" / "label_jobs" / "2.json",
               LabelChunkRecord(stage="iter_001", chunk=2, indices=[4, 5], n_labelled=1, failures=[failure]).model_dump())
    write_json(tmp_path / "iter_001" / "label_jobs" / "3.json", {"chunk": 3})  # a foreign file: not ours to judge
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


def test_a_run_ended_by_failed_spot_checks_is_extended_only_when_the_convergence_settings_change(tmp_path):
    from mlip_autopipec.domain_models.records import SpotCheckErrors
    from mlip_autopipec.loop.decision import decide, spot_check_result

    conv = {"spot_checks": 2, "force_rmse": 0.003, "energy_rmse": 0.001, "spot_check_patience": 2}
    cfg = config_from_dict({**MOCK, "convergence": conv}, tmp_path / "c.yaml").cfg
    ran_through = [ConditionResult(condition="t600", halted=False, steps_run=1000, budget=1000, max_gamma=1.0)]
    decisions = []
    for n, force in enumerate([None, 0.013, 0.014, 0.0135]):  # every check fails, none beats the first
        spot = None if force is None else spot_check_result(
            n - 1, SpotCheckErrors(n_structures=2, force_rmse=force, energy_rmse_per_atom=1e-4), 0.003, 0.001)
        d = decide(n, ran_through, decisions, cfg.max_cycles, cfg.patience, 2, spot, 2)
        d.settings = decision_settings(cfg, n)
        decisions.append(d)
        write_json(tmp_path / f"iter_{n:03d}" / "exploration.json", d.model_dump(mode="json"))
    assert decisions[-1].action is Action.STOP_PATIENCE
    # re-decided with the spot checks it was made with, the decision holds (no extension) ...
    assert find_extension(tmp_path, cfg) is None
    # ... until the tolerance it failed against is loosened, or the spot-check patience raised
    looser = config_from_dict({**MOCK, "convergence": {**conv, "force_rmse": 0.02}}, tmp_path / "c.yaml").cfg
    ext = find_extension(tmp_path, looser)
    assert ext.iteration == 3 and ext.changes == ["convergence.force_rmse 0.003 -> 0.02"]
    patient = config_from_dict({**MOCK, "convergence": {**conv, "spot_check_patience": 5}}, tmp_path / "c.yaml").cfg
    assert find_extension(tmp_path, patient).changes == ["convergence.spot_check_patience 2 -> 5"]


def test_a_run_ended_by_the_property_gate_is_re_decided_with_it(tmp_path):
    cfg = config_from_dict({**MOCK, "max_cycles": 1, "properties": {"enabled": True},
                            "convergence": {"spot_checks": 0, "properties": True}}, tmp_path / "c.yaml").cfg
    ran_through = [ConditionResult(condition="t600", halted=False, steps_run=1000, budget=1000, max_gamma=1.0)]
    records = [PropertyRecord(name="lattice_constant", ok=True), PropertyRecord(name="bulk_modulus", ok=False)]
    write_property_records(tmp_path / "initial" / "properties" / "properties.json", records)
    from mlip_autopipec.loop.decision import decide
    from mlip_autopipec.loop.property_gate import gate_on_properties

    d = gate_on_properties(decide(0, ran_through, [], 1, cfg.patience), records, 1, cfg.patience)
    assert d.action is Action.STOP_MAX_CYCLES
    d.settings = decision_settings(cfg, 0)
    write_json(tmp_path / "iter_000" / "exploration.json", d.model_dump(mode="json"))
    assert find_extension(tmp_path, cfg) is None  # re-decided without the gate it would say "converged"
    ungated = config_from_dict({**MOCK, "max_cycles": 1, "properties": {"enabled": True},
                                "convergence": {"spot_checks": 0, "properties": False}}, tmp_path / "c.yaml").cfg
    assert find_extension(tmp_path, ungated).changes == ["convergence.properties True -> False"]


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

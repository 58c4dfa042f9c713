"""The whole-loop plan: job counts from the config, done jobs from the disk, bounds, and the check
that the jobs it announces for the next iteration are the jobs Snakemake then runs."""

import json
import re
from pathlib import Path

import pytest

from conftest import CONFIGS, REPO, copy_run, run, runner_cmd
from mlip_autopipec.domain_models.config import load_config
from mlip_autopipec.plan import (
    build_plan,
    end_property_stages,
    final_stage,
    property_stages,
    format_plan,
    initial_jobs,
    iteration_jobs,
    n_label_jobs,
    patience_bound,
)


def test_label_jobs_are_chunks_of_structures_per_job():
    mock = load_config(CONFIGS / "mock.yaml").cfg  # 7 initial structures, 5 per iteration, 2 per job
    assert (n_label_jobs(mock, "initial"), n_label_jobs(mock, "iter_000"), n_label_jobs(mock, "iter_007")) == (4, 3, 3)
    # 39 initial + 9 surface slabs (3 facets x 3, initial_data.surface_slabs), 8 per iteration, 10 per job
    default = load_config(REPO / "config" / "config.yaml").cfg
    assert (n_label_jobs(default, "initial"), n_label_jobs(default, "iter_000")) == (5, 1)
    one = default.model_copy(update={"labeling": default.labeling.model_copy(update={"structures_per_job": 1})})
    assert (n_label_jobs(one, "initial"), n_label_jobs(one, "iter_003")) == (48, 8)


def test_job_counts_per_stage():
    cfg = load_config(REPO / "config" / "config.yaml").cfg
    assert initial_jobs(cfg) == {"initial_structures": 1, "label_noise": 1, "reference_energies": 1, "validation_set": 1,
                                 "label": 5, "gather_labels": 1, "train": 1}
    assert iteration_jobs(cfg) == {"explore": 4, "gate": 1, "collect_halts": 1, "candidates": 1, "select": 1,
                                   "label": 1, "gather_labels": 1, "train": 1}
    assert iteration_jobs(cfg, refines=False) == {"explore": 4, "gate": 1}
    mock = load_config(CONFIGS / "mock.yaml").cfg
    assert "validation_set" not in initial_jobs(mock)


def test_the_final_fit_is_an_end_job_and_the_potential_whose_properties_ship(tmp_path):
    """The demo config refits after the loop (trainer.ladder.final_rungs): one more end job, and the
    final potential's properties are the final fit's, also when the checkpoints need the explored ones."""
    cfg = load_config(REPO / "config" / "config.yaml").cfg
    assert cfg.has_final_fit()
    plan = build_plan(load_config(REPO / "config" / "config.yaml"), tmp_path, with_report=True)
    assert plan.stages[-1].jobs["final_fit"] == 1
    assert property_stages(cfg, 3) == ["final_fit"] and end_property_stages(cfg, 3) == ["final_fit"]
    gated = cfg.model_copy(update={"convergence": cfg.convergence.model_copy(update={"properties": True})})
    assert property_stages(gated, 2) == ["initial", "iter_000", "iter_001", "final_fit"]
    assert end_property_stages(gated, 2) == ["final_fit"]  # the explored ones run before their checkpoints
    without = cfg.model_copy(update={"trainer": cfg.trainer.model_copy(
        update={"ladder": cfg.trainer.ladder.model_copy(update={"final_rungs": []})})})
    assert "final_fit" not in build_plan(load_config(CONFIGS / "mock.yaml"), tmp_path).stages[-1].jobs
    assert property_stages(without, 3) == ["iter_002"]


def test_the_final_fits_check_is_counted_and_a_shipped_loop_potential_replaces_its_properties(tmp_path):
    """rules/ship.smk: fresh spot checks (config/config.yaml: 4 frames, 10 per label job -> 1 job),
    the gamma scale and the `ship` checkpoint; the final fit's MD stability run is its properties'
    while it is expected to ship. Once ship.json says the loop's potential ships, that one's
    properties are computed and the final fit's MD run is the check's own job."""
    rcfg = load_config(REPO / "config" / "config.yaml")
    assert rcfg.cfg.convergence.spot_checks == 4 and rcfg.cfg.labeling.structures_per_job == 10
    end = build_plan(rcfg, tmp_path).stages[-1].jobs
    assert {r: end[r] for r in ("final_fit", "gamma_scale", "ship", "final_check_frames", "label",
                                "gather_labels", "md_stability", "property_tasks")} == {
        "final_fit": 1, "gamma_scale": 1, "ship": 1, "final_check_frames": 1, "label": 1, "gather_labels": 1,
        "md_stability": 1, "property_tasks": 1}
    (tmp_path / "final_check").mkdir()
    (tmp_path / "final_check" / "ship.json").write_text(json.dumps(  # a ShipDecision, as steps/ship writes it
        {"shipped_stage": "iter_002", "loop_stage": "iter_002", "final_fit": "rejected", "reason": "test"}))
    assert final_stage(rcfg.cfg, 3, tmp_path) == "iter_002"
    assert property_stages(rcfg.cfg, 3, tmp_path) == ["iter_002"]
    end = build_plan(rcfg, tmp_path).stages[-1].jobs
    assert end["md_stability"] == 2 and end["property_tasks"] == 1


def test_plan_of_a_fresh_directory(tmp_path):
    rcfg = load_config(CONFIGS / "mock.yaml")
    plan = build_plan(rcfg, tmp_path, with_report=True)
    assert [s.stage for s in plan.stages] == ["initial", "iter_000", "end"]
    assert plan.stages[0].state == "resume here" and plan.stages[0].n_jobs == 9 and plan.stages[0].n_done == 0
    assert (plan.future_first, plan.future_last) == (1, 9)
    # fewest: initial 9 (label_noise included) + explore/gate of iteration 0 + finalize/report/final;
    # most: 10 iterations of 10 jobs
    assert plan.remaining_min == 9 + 2 + 3
    assert plan.remaining_max == 9 + 10 * 10 + 3
    assert plan.last_iteration_max_cycles == 9 and plan.last_iteration_patience == 5
    text = format_plan(rcfg, tmp_path, plan)
    assert "max_cycles=10" in text and "patience=5" in text
    assert "iter_001 .. iter_009: <TBD by the checkpoints>" in text
    assert "label x3" in text and "label x4" in text
    assert "resume point: initial: initial_structures x1" in text
    assert not any(tmp_path.iterdir()), "a plan must not write anything"


def _decision(d: Path, n: int, action: str, stale: int) -> None:
    (d / f"iter_{n:03d}").mkdir(parents=True, exist_ok=True)
    (d / f"iter_{n:03d}" / "exploration.json").write_text(json.dumps(
        {"iteration": n, "action": action, "reason": "", "progress": 0.1, "iterations_without_improvement": stale}))


def test_patience_bound_follows_the_last_decision(tmp_path):
    assert patience_bound(tmp_path, 0, patience=3) == 3
    _decision(tmp_path, 0, "continue", 0)
    _decision(tmp_path, 1, "continue", 1)
    assert patience_bound(tmp_path, 1, patience=3) == 1 + 3 - 1
    assert patience_bound(tmp_path, 5, patience=3) == 3  # searches back to the last decision


def rule_jobs_of_iteration(d: Path, n: int) -> dict[str, int]:
    """Jobs Snakemake ran for iteration n, from the benchmark file each job leaves behind."""
    out = {}
    for rule_dir in sorted((d / "logs" / "benchmark").iterdir()):
        k = len(list(rule_dir.glob(f"iter_{n:03d}*.tsv")))
        if k:
            out[rule_dir.name] = k
    return out


def test_plan_matches_the_jobs_snakemake_runs_next(mock_run_through_iter_000, tmp_path):
    d = copy_run(mock_run_through_iter_000, tmp_path / "run")  # ran `-- iter_000/potential.yace`
    plan = json.loads(run(runner_cmd("plan", "config.yaml", "--json"), cwd=d).stdout)
    stages = {s["stage"]: s for s in plan["stages"]}
    assert stages["initial"]["state"] == "done" and stages["iter_000"]["state"] == "done"
    assert rule_jobs_of_iteration(d, 0) == stages["iter_000"]["jobs"]
    nxt = stages["iter_001"]
    assert nxt["state"] == "resume here" and nxt["n_done"] == 0
    assert plan["resume"].startswith("iter_001: explore x1, gate x1, collect_halts x1")
    text = run(runner_cmd("plan", "config.yaml"), cwd=d).stdout
    assert re.search(r"iter_001\s+0/10\s+jobs\s+<- resumes here", text), text

    run(runner_cmd("run", "--cores", "2", "config.yaml", "--", "iter_001/potential.yace"), cwd=d)
    assert rule_jobs_of_iteration(d, 1) == nxt["jobs"]  # the mock halts in iteration 1: all of them ran
    after = json.loads(run(runner_cmd("plan", "config.yaml", "--json"), cwd=d).stdout)
    assert {s["stage"]: s["state"] for s in after["stages"]}["iter_001"] == "done"
    assert after["resume"].startswith("iter_002: explore x1")


@pytest.mark.parametrize("config", ["mock.yaml", "cuni_emt.yaml"])
def test_dry_run_prints_the_whole_loop_plan(tmp_path, config):
    (tmp_path / "config.yaml").write_text((CONFIGS / config).read_text())
    out = run(runner_cmd("run", "config.yaml", "--dry-run"), cwd=tmp_path).stdout
    cfg = load_config(tmp_path / "config.yaml").cfg
    assert f"max_cycles={cfg.max_cycles}" in out and f"patience={cfg.patience}" in out
    assert f"label x{n_label_jobs(cfg, 'iter_000')}" in out
    assert "<- resumes here" in out


def test_property_jobs_and_oracle_calculations_are_counted(tmp_path):
    """Per potential: the task list's oracle calculations in label jobs of structures_per_job; at the
    end for the final potential, or in every iteration whose checkpoint waits for them."""
    import yaml

    from mlip_autopipec.domain_models.config import config_from_dict
    from mlip_autopipec.plan import final_jobs

    raw = yaml.safe_load((CONFIGS / "mock.yaml").read_text())
    raw["properties"] = {"enabled": True, "include": ["eos", "vacancy", "md_stability"], "structures_per_job": 4}
    rcfg = config_from_dict(raw, tmp_path / "config.yaml")
    # 9 tasks / 4 per job; the oracle's equilibrium relaxation (a bulk crystal) is a job of its own
    per_potential = {"property_tasks": 1, "property_label": 3, "md_stability": 1, "properties": 1,
                     "property_equilibrium": 1}
    plan = build_plan(rcfg, tmp_path, with_report=True)
    assert plan.property_jobs_per_potential == per_potential
    assert plan.property_calculations == {"calculations": 7 + 2 + 1, "relaxations": 1 + 1, "hessians": 0}
    assert plan.stages[-1].jobs == final_jobs(True, per_potential) == {
        "finalize": 1, "report": 1, "final": 1, **per_potential, "final_properties": 1}
    assert "property_tasks" not in plan.jobs_if_refining
    text = format_plan(rcfg, tmp_path, plan)
    assert "10 oracle calculations (labelled structures) per potential, 2 of them relaxations" in text

    raw["convergence"] = {**raw["convergence"], "properties": True}
    gated = build_plan(config_from_dict(raw, tmp_path / "config.yaml"), tmp_path, with_report=True)
    assert gated.jobs_if_refining == {**iteration_jobs(rcfg.cfg), **per_potential, "property_offer": 1}
    assert gated.jobs_if_ending == {"explore": 1, "gate": 1, **per_potential}
    assert gated.stages[-1].jobs == {"finalize": 1, "report": 1, "final": 1, "final_properties": 1}
    n_prop = sum(per_potential.values())  # 7
    assert gated.remaining_max - plan.remaining_max == 10 * (n_prop + 1) - n_prop  # every iteration's potential
